#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "rmqtt/protocol/packets.hpp"
#include "rmqtt/storage/records.hpp"

namespace rmqtt::broker {

// An application message inside the broker (part of the plugin API), shared by every subscriber it
// is routed to and immutable once published.
struct message {
    std::string topic;
    std::string payload;
    protocol::qos qos = protocol::qos::at_most_once;  // as published
    bool retain = false;                              // as published
    // 5.0 properties forwarded to subscribers: payload format, expiry (original value), content
    // type, response topic, correlation data, user properties. Never topic alias or subscription
    // identifiers, which are per connection. Null when there are none.
    std::unique_ptr<const protocol::properties> props;
    std::string publisher;           // client id of the publisher ("" for the broker itself)
    std::int64_t created_at_ms = 0;  // wall clock
    std::int64_t expiry_at_ms = 0;   // wall clock deadline; 0 = never

    bool expired(std::int64_t now_ms) const noexcept {
        return expiry_at_ms != 0 && now_ms >= expiry_at_ms;
    }
};

using message_ptr = std::shared_ptr<const message>;

// The stored form of a message (session store, retained messages) and back. Properties are kept
// in their wire encoding; unreadable stored properties are dropped with a warning.
storage::message_record to_record(const message& m);
message_ptr from_record(const storage::message_record& r);

}  // namespace rmqtt::broker
