#pragma once

#include <asio/any_io_executor.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "session/session.hpp"

namespace rmqtt::broker {

class core_context;

// Client id -> session.
//
// Concurrency rule: one mutex guards the set and every session's attach generation; it is held
// only for lookups and updates, never while calling into a session.
class session_registry {
  public:
    explicit session_registry(core_context& core) : core_(core) {}

    struct attach_result {
        session_ptr s;         // null: a newer CONNECT for this client id won; close
        bool present = false;  // an existing session was resumed
        std::uint64_t generation = 0;
    };

    // Finds or creates the session for `client_id` and makes `ex` (the connection's executor)
    // its owner, kicking a connection already attached to it (session taken over). With
    // `clean_start` an existing session is ended first [MQTT-3.1.2-4]. `done` runs on `ex`.
    void attach(const std::string& client_id, bool clean_start, asio::any_io_executor ex,
                std::function<void(attach_result)> done);
    // attach() when no session is registered for `client_id` (the common CONNECT): the new
    // session, owned by `ex`, at once instead of through a posted handler (a round through the
    // scheduler before CONNACK). Nothing when one exists: then call attach().
    std::optional<attach_result> attach_new(const std::string& client_id, asio::any_io_executor ex);

    // True while no newer attach for the same session started since `generation`. Call on the
    // new owner before attaching the connection.
    bool still_current(const session& s, std::uint64_t generation);

    // Removes `s` if it is the registered session for its client id.
    void remove(const session& s);
    // Registers a session restored from the store (startup, before listeners open).
    void insert_restored(const session_ptr& s);
    // Makes room for `n` more sessions (start-up, before a large recovery).
    void reserve_more(std::size_t n);

    session_ptr find(const std::string& client_id);
    std::size_t size();
    std::vector<session_ptr> snapshot();

  private:
    // A new session for `client_id` (not registered), in the set; with mutex_ held.
    attach_result create_locked(const std::string& client_id, asio::any_io_executor ex);

    // Hashes and compares sessions by their client id (const for a session's life), and looks
    // them up by a client id. Noexcept and not a std::hash, so the set does not cache the hash:
    // a node is a pointer and the session_ptr (24 bytes; a map from a view of the id to the
    // session took 48). A rehash hashes each id again.
    struct by_client_id {
        using is_transparent = void;
        std::size_t operator()(std::string_view id) const noexcept {
            return std::hash<std::string_view>{}(id);
        }
        std::size_t operator()(const session_ptr& s) const noexcept {
            return (*this)(std::string_view(s->client_id()));
        }
        bool operator()(const session_ptr& a, const session_ptr& b) const noexcept {
            return a->client_id() == b->client_id();
        }
        bool operator()(std::string_view id, const session_ptr& s) const noexcept {
            return id == s->client_id();
        }
        bool operator()(const session_ptr& s, std::string_view id) const noexcept {
            return s->client_id() == id;
        }
    };

    core_context& core_;
    std::mutex mutex_;
    std::unordered_set<session_ptr, by_client_id, by_client_id> map_;
};

}  // namespace rmqtt::broker
