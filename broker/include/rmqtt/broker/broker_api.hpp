#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
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

// The outcome of a request that changes a session (subscribe / unsubscribe on behalf of a client).
struct api_result {
    enum class code { ok, not_found, invalid, unsupported, store_failed, stopping };
    code value = code::ok;
    std::string message;  // why, for a failure
    explicit operator bool() const noexcept { return value == code::ok; }
};

// One built-in plugin as the broker runs it.
struct plugin_state {
    std::string name;  // "rmqtt-retainer"
    std::string description;
    bool available = false;   // rmqttd implements it
    bool running = false;     // started (listed in plugins.default_startups)
    bool reloadable = false;  // reload_plugin() re-reads its file
    std::string config_file;  // <plugins.dir>/<name>.toml ("" when unknown)
};

// Store commit latency (submit to completion of each batch the session store wrote), as a
// cumulative-bucket histogram.
struct latency_histogram {
    std::vector<std::uint64_t> bounds_us;  // upper bounds, ascending
    std::vector<std::uint64_t> counts;     // per bound, not cumulative; one more for +Inf
    std::uint64_t count = 0;
    std::uint64_t sum_us = 0;
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

    // When the process started (wall clock, ms) and whether the listeners are open (the broker
    // serves; false before and while it stops).
    virtual std::int64_t started_at_ms() const noexcept = 0;
    virtual bool serving() const noexcept = 0;

    // Retained messages whose topic matches `filter` (a plain filter; '#' leaves out '$' topics),
    // unexpired. Empty when no plugin keeps retained messages.
    virtual std::vector<message_ptr> retained(std::string_view filter) = 0;
    // Removes the retained message of `topic` (a topic name), also from the session store; no
    // message is published. False when there is none.
    virtual bool remove_retained(std::string_view topic) = 0;

    // Subscribes / unsubscribes an existing session as if its client had sent SUBSCRIBE /
    // UNSUBSCRIBE: applied on the session's own thread, stored when the session is persistent,
    // retained messages delivered per the options (not for shared subscriptions), hooks called.
    // `done` runs once, on some broker thread, after the store committed; it must not block.
    // `filter` may be "$share/{group}/{filter}" when shared subscriptions are on.
    virtual void subscribe(std::string_view client_id, std::string filter,
                           protocol::subscription_options options,
                           std::function<void(api_result)> done) = 0;
    virtual void unsubscribe(std::string_view client_id, std::string filter,
                             std::function<void(api_result)> done) = 0;

    // The built-in plugins, in start order.
    virtual std::vector<plugin_state> plugins() const = 0;
    // Asks a running plugin to re-read its file (plugin::reload). not_found: no such plugin;
    // unsupported: it is not running or cannot reload; invalid: its file cannot be used (the
    // settings in use stay).
    virtual api_result reload_plugin(std::string_view name) = 0;

    // The session store's commit latency; empty (no bounds) without a session store.
    virtual latency_histogram store_commit_latency() const = 0;
};

}  // namespace rmqtt::broker
