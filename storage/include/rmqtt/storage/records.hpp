#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

// What rmqttd persists (DESIGN.md section 3). Plain values; the engines encode them with
// value_codec.hpp, which prefixes every value with a schema version.
// Times are wall-clock milliseconds since the Unix epoch; 0 means "not set".
namespace rmqtt::storage {

inline constexpr std::uint32_t never_expires = 0xFFFFFFFF;

// An application message as stored in a queue entry, a retained record or a will.
struct message_record {
    std::string topic;
    std::string payload;
    std::uint8_t qos = 0;
    bool retain = false;
    std::string properties;  // 5.0 PUBLISH properties in wire form (length-prefixed), or empty
    std::string publisher;   // publisher's client id (No Local, logs)
    std::int64_t created_at_ms = 0;
    std::int64_t expiry_at_ms = 0;  // Message Expiry deadline; 0 = never
    friend bool operator==(const message_record&, const message_record&) = default;
};

struct will_record {
    message_record message;              // message.properties holds the Will Properties
    std::uint32_t delay_interval_s = 0;  // Will Delay Interval (5.0)
    friend bool operator==(const will_record&, const will_record&) = default;
};

struct session_record {
    std::string client_id;
    std::uint8_t protocol_version = 4;  // 3, 4 or 5
    std::optional<std::string> username;
    std::string listener;                 // e.g. "tcp.external"
    std::string peer_address;             // "ip:port" of the last connection
    std::uint32_t expiry_interval_s = 0;  // Session Expiry Interval; never_expires = never
    std::int64_t created_at_ms = 0;
    std::int64_t connected_at_ms = 0;
    std::int64_t disconnected_at_ms = 0;  // 0 while connected
    bool clean_disconnect = false;        // last close was a DISCONNECT without will
    std::optional<will_record> will;
    // The client's 5.0 limits, kept so a restored session honours them before it reconnects.
    std::uint16_t receive_maximum = 65535;
    std::uint32_t maximum_packet_size = 0;  // 0 = no limit
    std::uint16_t topic_alias_maximum = 0;
    bool request_problem_information = true;
    // Queue sequence numbers are (generation << 32) | counter, the generation taken from a
    // node-wide counter by every new persistent session. Entries with
    // seq < (uint64_t(first_generation) << 32) belong to an earlier session of this client id.
    // `generation` is the current high part; it grows when the session has used up 2^32
    // sequence numbers. Both 0 in records stored before schema version 2.
    std::uint32_t first_generation = 0;
    std::uint32_t generation = 0;
    friend bool operator==(const session_record&, const session_record&) = default;
};

struct subscription_record {
    std::string filter;    // as subscribed, including any "$share/{group}/" prefix
    std::uint8_t qos = 0;  // maximum QoS
    bool no_local = false;
    bool retain_as_published = false;
    std::uint8_t retain_handling = 0;
    std::uint32_t subscription_id = 0;  // 0 = none
    friend bool operator==(const subscription_record&, const subscription_record&) = default;
};

enum class queue_state : std::uint8_t {
    queued = 0,           // not sent yet (offline message, or waiting for the inflight window)
    sent = 1,             // PUBLISH sent, waiting for PUBACK / PUBREC
    pubrec_received = 2,  // QoS 2: PUBREC received, PUBREL sent, waiting for PUBCOMP
};

// One entry of a session's outbound queue. Entries are ordered by `seq`, which increases per
// session and is never reused while the entry exists.
struct queue_entry {
    std::uint64_t seq = 0;
    queue_state state = queue_state::queued;
    std::uint16_t packet_id = 0;  // 0 until assigned
    std::uint8_t qos = 1;         // delivery QoS (after downgrade to the subscription's QoS)
    bool retain = false;          // RETAIN flag to deliver with
    std::vector<std::uint32_t> subscription_ids;
    // Non-zero: the message is stored once, as the shared message record `message_id`
    // (put_message), and the entry stores only this reference. load_queue resolves it, so
    // `message` is filled in either case when an entry is read.
    std::uint64_t message_id = 0;
    message_record message;
    friend bool operator==(const queue_entry&, const queue_entry&) = default;
};

}  // namespace rmqtt::storage
