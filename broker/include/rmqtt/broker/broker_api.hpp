#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rmqtt/broker/message.hpp"
#include "rmqtt/protocol/types.hpp"

// What a plugin may ask of the broker. Part of the plugin API.
//
// Every method may be called from any thread. Listing methods return snapshots: they are
// consistent per session, not across sessions.
namespace rmqtt::broker {

struct session_info {
    std::string client_id;
    bool online = false;
    bool persistent = false;  // outlives its connection
    std::optional<std::string> username;
    std::string peer;      // "ip:port" of the last connection
    std::string listener;  // "tcp.external"
    protocol::version version = protocol::version::v3_1_1;
    std::uint32_t expiry_interval_s = 0;
    std::int64_t created_at_ms = 0;
    std::int64_t connected_at_ms = 0;
    std::int64_t disconnected_at_ms = 0;  // 0 while online
    std::size_t subscriptions = 0;
    std::size_t inflight = 0;  // QoS 1/2 messages sent and not yet acknowledged
    std::size_t queued = 0;    // messages waiting to be sent
};

struct subscription_info {
    std::string client_id;
    std::string filter;  // "$share/{group}/{filter}" for a shared subscription
    protocol::subscription_options options;
    std::uint32_t subscription_id = 0;
};

class broker_api {
  public:
    virtual ~broker_api() = default;

    virtual std::uint64_t node_id() const noexcept = 0;
    virtual std::string_view version() const noexcept = 0;

    // Publishes a message as the broker ($SYS, an HTTP API): retained when msg.retain, routed,
    // stored for persistent subscribers, delivered. `publisher` is left empty. Returns the number
    // of subscribers it was routed to.
    virtual std::size_t publish(message msg) = 0;

    // Disconnects the client (5.0: DISCONNECT 0x98 Administrative action); with
    // `discard_session` its session ends too, also when it is offline. False when no session has
    // this client id. The disconnect completes asynchronously.
    virtual bool kick(std::string_view client_id, bool discard_session) = 0;

    // Sessions, up to `limit` (0 = all), in no particular order.
    virtual std::vector<session_info> sessions(std::size_t limit = 0) = 0;
    virtual std::optional<session_info> session(std::string_view client_id) = 0;
    // Subscriptions of one client, or of everyone when `client_id` is empty.
    virtual std::vector<subscription_info> subscriptions(std::string_view client_id = {}) = 0;

    // Counters and gauges by name ("connections", "messages.received", ...).
    virtual std::vector<std::pair<std::string, std::int64_t>> metrics() const = 0;
};

}  // namespace rmqtt::broker
