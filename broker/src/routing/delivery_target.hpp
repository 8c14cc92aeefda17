#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "rmqtt/broker/message.hpp"
#include "rmqtt/protocol/types.hpp"

namespace rmqtt::broker {

// One copy of a message on its way to one target.
struct delivery {
    message_ptr msg;
    std::uint64_t seq = 0;  // 0 for QoS 0
    protocol::qos qos = protocol::qos::at_most_once;
    bool retain = false;
    bool persisted = false;  // a put_queue_entry for (client id, seq) was submitted before this
    std::vector<std::uint32_t> subscription_ids;
    std::string share_group;   // set when chosen from a shared subscription group
    std::string share_filter;  // with share_group: the filter after "$share/{group}/"
};

// The packet identifier of a copy. Derived from seq, so an identifier needs no store write of its
// own: after a restart the stored seq gives back the identifier the client saw.
inline std::uint16_t packet_id_for(std::uint64_t seq) noexcept {
    return static_cast<std::uint16_t>(seq % 65535 + 1);
}

// Where routed messages go: what the router keeps per subscription and the publish pipeline
// hands copies to. A local session today; a session on another node can be one later.
//
// Every method may be called from any thread.
class delivery_target {
  public:
    virtual ~delivery_target() = default;
    virtual const std::string& client_id() const noexcept = 0;
    // True while a network connection is attached (shared-subscription strategies prefer online
    // members). Must be cheap (an atomic read).
    virtual bool is_online() const noexcept = 0;
    // QoS 1/2 copies for this target are stored before they are handed over (its session
    // outlives its connection and there is a session store).
    virtual bool stores_messages() const noexcept = 0;
    // The sequence number of the next QoS 1/2 copy: its store key and packet identifier source.
    virtual std::uint64_t take_seq() noexcept = 0;
    // Hands a copy over. When d.persisted, its put_queue_entry was submitted before, so any
    // later state change or delete of the entry is ordered after it in the store.
    virtual void deliver(delivery d) = 0;
    // True while copies wait to be taken in faster than the target takes them (its inbox is past
    // its high-water mark): publishers feeding it hold back (back-pressure, not loss).
    virtual bool backlogged() const noexcept { return false; }
    // True while the target is connected, applies back-pressure (mqueue_overflow =
    // "backpressure") and its queue holds at least its high-water mark: the acknowledgement of a
    // QoS 1/2 message routed to it waits until this is false, so publishers slow down within their
    // windows instead of the target dropping what they were told is received.
    virtual bool needs_room() const noexcept { return false; }
};

}  // namespace rmqtt::broker
