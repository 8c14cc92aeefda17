#include "rmqtt/broker/message.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <span>

#include "rmqtt/broker/clock.hpp"
#include "rmqtt/protocol/codec.hpp"

namespace rmqtt::broker {

storage::message_record to_record(const message& m) {
    storage::message_record r;
    r.topic = m.topic;
    r.payload = m.payload;
    r.qos = static_cast<std::uint8_t>(m.qos);
    r.retain = m.retain;
    if (m.props) {
        std::vector<std::uint8_t> bytes;
        protocol::encode_properties(*m.props, bytes);
        r.properties.assign(bytes.begin(), bytes.end());
    }
    r.publisher = m.publisher;
    r.created_at_ms = m.created_at_ms;
    r.expiry_at_ms = m.expiry_at_ms;
    return r;
}

message_ptr from_record(const storage::message_record& r) {
    auto m = std::make_shared<message>();
    m->topic = r.topic;
    m->payload = r.payload;
    m->qos = static_cast<protocol::qos>(std::min<std::uint8_t>(r.qos, 2));
    m->retain = r.retain;
    m->publisher = r.publisher;
    m->created_at_ms = r.created_at_ms;
    m->expiry_at_ms = r.expiry_at_ms;
    if (!r.properties.empty()) {
        protocol::properties props;
        std::size_t used = 0;
        auto bytes = std::span<const std::uint8_t>(
            reinterpret_cast<const std::uint8_t*>(r.properties.data()), r.properties.size());
        if (protocol::decode_properties(bytes, protocol::packet_type::publish, false, props,
                                        used)) {
            // A will's expiry counts from when it is published (3.1.3.2.3).
            if (m->expiry_at_ms == 0 && props.message_expiry_interval)
                m->expiry_at_ms =
                    wall_now_ms() + std::int64_t{*props.message_expiry_interval} * 1000;
            props.will_delay_interval.reset();
            if (!props.empty())
                m->props = std::make_unique<const protocol::properties>(std::move(props));
        } else {
            spdlog::warn("stored properties of a message on '{}' are unreadable; dropped them",
                         r.topic);
        }
    }
    return m;
}

}  // namespace rmqtt::broker
