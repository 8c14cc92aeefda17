#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <asio/any_io_executor.hpp>

#include "auth_common/perm_list.hpp"
#include "rmqtt/broker/broker_api.hpp"
#include "rmqtt/broker/events.hpp"
#include "rmqtt/broker/hooks.hpp"

// What an authentication plugin granted a connection when it let it in (RMQTT's AuthInfo:
// superuser, the permission list, when the authentication expires), kept until the connection
// ends, for the plugin's ACL hooks and its disconnect_if_expiry timer. Shared by rmqtt-auth-jwt
// and rmqtt-auth-http.
namespace rmqtt::plugins::auth_common {

struct connection_grant {
    // Every PUBLISH / SUBSCRIBE of the connection is allowed by this plugin's ACL hook.
    bool superuser = false;
    std::vector<acl_rule> rules;
    // Unix time (seconds) at which the authentication ends ("exp" of a JWT, "expire_at" of an
    // HTTP answer).
    std::optional<std::int64_t> expire_at_s;

    // Whether some publish rule depends on the message's QoS or retain flag (the publish check
    // then runs again on the message, in the message.publish hook).
    bool rules_need_message() const noexcept;
    bool empty() const noexcept { return !superuser && rules.empty() && !expire_at_s; }
};

// The grants of live connections. A connection is named by (client id, listener, peer "ip:port"),
// which the hooks (client_info) and the events (events::client) both carry and which no two live
// connections share. Thread-safe.
//
// A grant is put when the authenticate hook allows; it lives until the connection's
// client_disconnected or connect_refused event. A grant whose connection never got CONNACK
// (the socket dropped during the CONNECT) is dropped after `unconfirmed_limit`.
class connection_grants {
  public:
    explicit connection_grants(
        std::chrono::steady_clock::duration unconfirmed_limit = std::chrono::minutes(5));

    static std::string key_of(std::string_view client_id, std::string_view listener,
                              std::string_view peer);
    static std::string key_of(const broker::client_info& c);
    static std::string key_of(const broker::events::client& c);

    void put(const broker::client_info& c, std::shared_ptr<const connection_grant> g);
    std::shared_ptr<const connection_grant> find(const broker::client_info& c) const;
    std::shared_ptr<const connection_grant> find(const std::string& key) const;
    // CONNACK 0 was sent: the grant stays until gone(). Returns it (null when there is none).
    std::shared_ptr<const connection_grant> confirm(const broker::events::client& who);
    // The connection ended or was refused. True when it had a grant.
    bool erase(const broker::events::client& who);
    std::size_t size() const;

  private:
    struct entry {
        std::shared_ptr<const connection_grant> grant;
        std::uint64_t generation = 0;
        bool confirmed = false;
    };
    struct unconfirmed {
        std::chrono::steady_clock::time_point at;
        std::string key;
        std::uint64_t generation;
    };
    void prune_locked(std::chrono::steady_clock::time_point now);

    const std::chrono::steady_clock::duration unconfirmed_limit_;
    mutable std::shared_mutex mutex_;
    std::unordered_map<std::string, entry> entries_;
    std::deque<unconfirmed> unconfirmed_;  // in insertion order
    std::uint64_t next_generation_ = 1;
};

// Calls `on_expired(key)` once the wall clock reaches the deadline given for `key`. One timer for
// the earliest deadline, on a strand of `executor`; `on_expired` runs there. Thread-safe.
//
// Lifetime: the timer and the strand belong to the executor's context, so they must be gone
// before it is. Call stop() (the plugin's stop(), while the plugin pool still runs) and drop the
// object: the pool then finishes what was posted, and the last handler frees the timer. Hooks
// that outlive the plugin hold it by weak_ptr.
class expiry_watch {
  public:
    using handler = std::function<void(const std::string& key)>;
    expiry_watch(asio::any_io_executor executor, handler on_expired);
    ~expiry_watch();
    expiry_watch(const expiry_watch&) = delete;
    expiry_watch& operator=(const expiry_watch&) = delete;

    void watch(std::string key, std::chrono::system_clock::time_point at);
    void forget(std::string key);
    // Cancels the timer; nothing fires afterwards.
    void stop();

  private:
    struct state;
    std::shared_ptr<state> state_;
};

// Disconnects `client_id` (broker_api::kick, the session kept) if its session is still online
// through the connection (listener, peer): a newer connection that took the client id over is
// left alone. Blocking calls into the broker: run it on the plugin executor.
void kick_connection(broker::broker_api& broker, const std::string& client_id,
                     const std::string& listener, const std::string& peer, std::string_view why);

}  // namespace rmqtt::plugins::auth_common
