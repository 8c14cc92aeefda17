#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "rmqtt/broker/base64.hpp"
#include "rmqtt/broker/events.hpp"
#include "rmqtt/broker/message.hpp"

// RMQTT's JSON bodies of the event hooks (RMQTT docs/en_US/web-hook.md and sys-topic.md), shared
// by rmqtt-web-hook (POST bodies, file lines) and rmqtt-sys-topic ($SYS payloads). Pure: the
// caller supplies the node id, the clock and what it knows about each client.

namespace rmqtt::plugins::web_hook {

using nlohmann::json;

// What is known about a client when an event names only its client id (session and
// subscription events, the subscriber of a message event): collected from client_connected.
struct client_facts {
    std::string client_id;
    std::optional<std::string> username;
    std::string peer;  // "ip:port"; empty when unknown
    protocol::version version = protocol::version::v3_1_1;
    std::int64_t created_at_ms = 0;
};

// RMQTT's "time": local time as "%Y-%m-%d %H:%M:%S%.3f".
std::string format_time(std::int64_t wall_ms);

// The common part of every client-related body: node, ipaddress, clientid, username
// ("undefined" when the client has none, as RMQTT).
json client_body(std::uint64_t node, std::string_view client_id,
                 const std::optional<std::string>& username, std::string_view peer);
json client_body(std::uint64_t node, const client_facts& c);

// client_connect / client_connack / client_connected: the CONNECT's facts (keepalive,
// proto_ver, clean_session for 3.x or clean_start for 5.0).
json connect_body(std::uint64_t node, const broker::events::client& who, std::uint16_t keep_alive,
                  bool clean_start);
json connected_body(std::uint64_t node, const broker::events::client_connected& e,
                    std::int64_t connected_at_ms);
json connack_body(std::uint64_t node, const broker::events::client_connected& e);
json connack_body(std::uint64_t node, const broker::events::connect_refused& e);
json disconnected_body(std::uint64_t node, const broker::events::client_disconnected& e,
                       std::int64_t disconnected_at_ms);
json session_created_body(std::uint64_t node, const client_facts& c);
// The facts a session_created body shows, kept in `directory` (a plugin's, by client id) for the
// session's later events: those already there, else the event's connection's; created at `at`
// unless known. Not looked up in the broker: when the event is handled, a client that connected
// and left at once has no session any more.
client_facts created_facts(std::unordered_map<std::string, client_facts>& directory,
                           const broker::events::session_created& e, std::int64_t at);
json session_terminated_body(std::uint64_t node, const client_facts& c,
                             broker::events::session_end_reason r);
json subscribed_body(std::uint64_t node, const client_facts& c,
                     const broker::events::subscribed& e);
json unsubscribed_body(std::uint64_t node, const client_facts& c,
                       const broker::events::unsubscribed& e);

// Message events. `from` is the publisher (nullopt: the broker itself, "system" as RMQTT);
// `to` the subscriber where there is one.
json message_body(std::uint64_t node, const broker::message& m,
                  const std::optional<client_facts>& from, const client_facts* to,
                  std::optional<protocol::qos> qos, std::int64_t now_ms);
json published_body(std::uint64_t node, const broker::events::message_published& e,
                    std::int64_t now_ms);

// Adds "time" (format_time(now_ms)) to a body.
void stamp(json& body, std::int64_t now_ms);

}  // namespace rmqtt::plugins::web_hook
