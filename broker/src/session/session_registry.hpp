#pragma once

#include <asio/any_io_executor.hpp>

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "session/session.hpp"

namespace rmqtt::broker {

class core_context;

// Client id -> session.
//
// Concurrency rule: one mutex guards the map and every session's attach_generation; it is held
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
    core_context& core_;
    std::mutex mutex_;
    // Keyed by a view of the session's own client id (const for the session's life): no second
    // copy of the id per session. An entry is replaced by erase + emplace, never by assigning
    // a new session to it (the key would still view the old session's id).
    std::unordered_map<std::string_view, session_ptr> map_;
};

}  // namespace rmqtt::broker
