#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "rmqtt/broker/message.hpp"
#include "rmqtt/protocol/types.hpp"

// Event hooks: what happened, after it happened. Part of the plugin API.
//
// Every event owns its data (strings are copies, messages are shared immutable pointers), so a
// handler may move or copy it to another thread. Handlers run on the thread that raised the
// event (usually an io worker), in registration order, and must not block: slow work (an HTTP
// POST, a file write) goes to the plugin's executor. An event costs nothing when no handler is
// registered for its type.
namespace rmqtt::broker::events {

// Who a client is, as known when the event is raised.
struct client {
    std::string client_id;
    std::optional<std::string> username;
    std::string peer;      // "ip:port" after the transport handshake (e.g. from a PROXY header)
    std::string listener;  // "tcp.external"
    protocol::version version = protocol::version::v3_1_1;
};

// CONNACK 0x00 was sent.
struct client_connected {
    client who;
    bool clean_start = false;
    bool session_present = false;
    std::uint16_t keep_alive = 0;        // the value in use (5.0: after Server Keep Alive)
    std::uint32_t session_expiry_s = 0;  // 0: the session ends with the connection
};

// A CONNECT was refused (CONNACK with an error, or closed without one).
struct connect_refused {
    client who;  // client_id may be empty when the CONNECT was unreadable
    protocol::reason_code reason = protocol::reason_code::unspecified_error;
    std::string why;
};

enum class disconnect_reason {
    client_disconnect,   // the client sent DISCONNECT
    connection_lost,     // the peer went away, or the socket failed
    keep_alive_timeout,  // the client was silent for 1.5 x keep alive
    protocol_error,      // the client broke the protocol; `code` says how
    taken_over,          // a new connection with the same client id
    kicked,              // through the broker API
    server_shutdown,
    not_authorized,  // an ACL hook denied a PUBLISH with hook_result::deny_disconnect
};

// A connection that had CONNACK 0x00 ended.
struct client_disconnected {
    client who;
    disconnect_reason reason = disconnect_reason::connection_lost;
    std::optional<protocol::reason_code> code;  // the DISCONNECT reason code sent or received
};

struct session_created {
    std::string client_id;
    bool persistent = false;  // outlives its connection (3.x clean session 0, 5.0 expiry > 0)
    // The connection that made it. A handler that runs later cannot count on finding the session
    // (a client that connects and leaves at once has ended it by then).
    client who;
};

// An existing session was attached to a new connection (Session Present 1).
struct session_resumed {
    std::string client_id;
};

enum class session_end_reason {
    connection_closed,  // a session that lasts only as long as its connection
    clean_start,        // discarded by a CONNECT with Clean Start / CleanSession 1
    expired,            // its Session Expiry Interval passed while disconnected
    discarded,          // through the broker API
};

struct session_terminated {
    std::string client_id;
    session_end_reason reason = session_end_reason::connection_closed;
};

struct subscribed {
    std::string client_id;
    std::string filter;  // as the client sent it, "$share/{group}/{filter}" included
    protocol::subscription_options options;  // as granted
    std::uint32_t subscription_id = 0;
};

struct unsubscribed {
    std::string client_id;
    std::string filter;
};

// A message was accepted for routing (after the publish hooks).
struct message_published {
    std::optional<client> from;  // nullopt for the broker's own messages (wills, API)
    message_ptr msg;
    std::size_t subscribers = 0;  // how many it was routed to
};

// A PUBLISH was written to a subscriber's connection (first send, not resends).
struct message_delivered {
    std::string client_id;
    message_ptr msg;
    protocol::qos qos = protocol::qos::at_most_once;  // as delivered
};

// A subscriber acknowledged a QoS 1 (PUBACK) or QoS 2 (PUBCOMP) message.
struct message_acked {
    std::string client_id;
    message_ptr msg;
    protocol::qos qos = protocol::qos::at_least_once;
};

enum class drop_reason {
    queue_full,      // the subscriber's queue reached max_mqueue_len
    expired,         // the Message Expiry Interval passed before delivery
    no_subscribers,  // nobody subscribed to the topic
    not_authorized,  // an ACL hook denied the PUBLISH
    publish_hook,    // a message.publish hook dropped it
    too_large,       // larger than the subscriber's Maximum Packet Size
    slow_consumer,   // QoS 0 to a client whose socket is far behind
    store_failed,    // the session store failed; the publisher was told
};

struct message_dropped {
    std::optional<std::string> client_id;  // the subscriber, when it concerned one
    message_ptr msg;
    drop_reason reason = drop_reason::queue_full;
};

const char* to_string(disconnect_reason r) noexcept;
const char* to_string(session_end_reason r) noexcept;
const char* to_string(drop_reason r) noexcept;

}  // namespace rmqtt::broker::events
