#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "rmqtt/broker/message.hpp"
#include "rmqtt/protocol/types.hpp"

namespace rmqtt::broker {

// What a session needs of the network connection attached to it (mqtt::connection implements
// it). Called on the session's owner executor, which is the connection's.
class client_link {
  public:
    virtual ~client_link() = default;

    // CONNACK was sent and the connection is not closing.
    virtual bool open() const noexcept = 0;
    // Bytes encoded and not yet written to the socket.
    virtual std::size_t pending_output() const noexcept = 0;
    // Encodes a PUBLISH for the client. False when it exceeds the client's Maximum Packet Size
    // (5.0): the caller discards the message as if it were sent [MQTT-3.1.2-25].
    virtual bool send_publish(const message& m, protocol::qos q, bool retain, bool dup,
                              std::uint16_t packet_id,
                              const std::vector<std::uint32_t>& subscription_ids) = 0;
    virtual void send_pubrel(std::uint16_t packet_id, protocol::reason_code code) = 0;

    // The session was taken over by a new connection, which already detached this one: 5.0
    // clients get DISCONNECT 0x8E [MQTT-3.1.4-3]; the connection closes.
    virtual void taken_over() = 0;
    // Closed by the broker: server shutdown (0x8B, no will) or an administrative kick (0x98).
    virtual void shutdown() = 0;
    virtual void kick() = 0;
};

}  // namespace rmqtt::broker
