#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "rmqtt/protocol/properties.hpp"
#include "rmqtt/protocol/types.hpp"

// MQTT control packets as plain values, one struct per packet type, shared by 3.1, 3.1.1 and 5.0.
// Fields that exist only in 5.0 (properties, reason codes) are ignored by the 3.x encoder and left
// at their defaults by the 3.x decoder.
namespace rmqtt::protocol {

struct will_message {
    std::string topic;
    std::string payload;  // Binary Data
    qos qos_level = qos::at_most_once;
    bool retain = false;
    properties props;  // Will Properties (5.0)
    friend bool operator==(const will_message&, const will_message&) = default;
};

struct connect {
    version protocol_version = version::v3_1_1;
    bool clean_start = true;  // "Clean Session" in 3.x
    std::uint16_t keep_alive = 0;
    std::string client_id;
    std::optional<will_message> will;
    std::optional<std::string> username;
    std::optional<std::string> password;  // Binary Data
    properties props;
    friend bool operator==(const connect&, const connect&) = default;
};

struct connack {
    bool session_present = false;
    // 5.0: a reason_code value. 3.x: a connect_return_code value.
    std::uint8_t code = 0;
    properties props;
    friend bool operator==(const connack&, const connack&) = default;
};

struct publish {
    bool dup = false;
    qos qos_level = qos::at_most_once;
    bool retain = false;
    std::string topic;
    std::uint16_t packet_id = 0;  // present on the wire only when qos > 0
    properties props;
    std::string payload;
    friend bool operator==(const publish&, const publish&) = default;
};

// A PUBLISH to encode without copying topic, payload or properties (the outbound hot path).
struct publish_view {
    bool dup = false;
    qos qos_level = qos::at_most_once;
    bool retain = false;
    std::string_view topic;
    std::uint16_t packet_id = 0;
    const properties* props = nullptr;  // may be null: no properties
    std::string_view payload;
};

// PUBACK, PUBREC, PUBREL, PUBCOMP share one layout (5.0 sections 3.4 - 3.7). In 5.0 the reason
// code and properties are omitted on the wire when the reason is success and there are no
// properties.
struct puback {
    std::uint16_t packet_id = 0;
    reason_code code = reason_code::success;
    properties props;
    friend bool operator==(const puback&, const puback&) = default;
};
struct pubrec {
    std::uint16_t packet_id = 0;
    reason_code code = reason_code::success;
    properties props;
    friend bool operator==(const pubrec&, const pubrec&) = default;
};
struct pubrel {
    std::uint16_t packet_id = 0;
    reason_code code = reason_code::success;
    properties props;
    friend bool operator==(const pubrel&, const pubrel&) = default;
};
struct pubcomp {
    std::uint16_t packet_id = 0;
    reason_code code = reason_code::success;
    properties props;
    friend bool operator==(const pubcomp&, const pubcomp&) = default;
};

struct subscription_options {
    qos max_qos = qos::at_most_once;
    bool no_local = false;             // 5.0
    bool retain_as_published = false;  // 5.0
    std::uint8_t retain_handling = 0;  // 5.0: 0, 1 or 2
    friend bool operator==(const subscription_options&, const subscription_options&) = default;
};

struct topic_subscription {
    std::string filter;
    subscription_options options;
    friend bool operator==(const topic_subscription&, const topic_subscription&) = default;
};

struct subscribe {
    std::uint16_t packet_id = 0;
    std::vector<topic_subscription> topics;  // at least one [MQTT-3.8.3-3]
    properties props;
    friend bool operator==(const subscribe&, const subscribe&) = default;
};

struct suback {
    std::uint16_t packet_id = 0;
    // 5.0: reason codes. 3.1.1: granted QoS 0..2 or 0x80.
    std::vector<std::uint8_t> codes;
    properties props;
    friend bool operator==(const suback&, const suback&) = default;
};

struct unsubscribe {
    std::uint16_t packet_id = 0;
    std::vector<std::string> filters;  // at least one [MQTT-3.10.3-2]
    properties props;
    friend bool operator==(const unsubscribe&, const unsubscribe&) = default;
};

struct unsuback {
    std::uint16_t packet_id = 0;
    std::vector<reason_code> codes;  // 5.0 only; 3.x UNSUBACK has no payload
    properties props;
    friend bool operator==(const unsuback&, const unsuback&) = default;
};

struct pingreq {
    friend bool operator==(const pingreq&, const pingreq&) = default;
};
struct pingresp {
    friend bool operator==(const pingresp&, const pingresp&) = default;
};

struct disconnect {
    reason_code code = reason_code::normal_disconnection;  // 5.0
    properties props;
    friend bool operator==(const disconnect&, const disconnect&) = default;
};

struct auth {
    reason_code code = reason_code::success;
    properties props;
    friend bool operator==(const auth&, const auth&) = default;
};

// Alternatives are in packet-type order, so index() + 1 is the packet type.
using packet = std::variant<connect, connack, publish, puback, pubrec, pubrel, pubcomp, subscribe,
                            suback, unsubscribe, unsuback, pingreq, pingresp, disconnect, auth>;

inline packet_type type_of(const packet& p) noexcept {
    return static_cast<packet_type>(p.index() + 1);
}

}  // namespace rmqtt::protocol
