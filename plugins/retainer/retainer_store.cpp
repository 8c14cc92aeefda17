#include "retainer/retainer_store.hpp"

#include <spdlog/spdlog.h>

#include "rmqtt/broker/clock.hpp"

namespace rmqtt::plugins {

using broker::message;
using broker::message_ptr;

retainer_store::retainer_store(const retainer_config& cfg, bool persistent)
    : index_(cfg.max_retained_messages),
      max_payload_size_(cfg.max_payload_size),
      ttl_(cfg.retained_message_ttl),
      persistent_(persistent) {}

message_ptr retainer_store::as_retained(const message_ptr& msg) const {
    if (!ttl_) return msg;  // the message's own expiry applies
    const std::int64_t expiry =
        ttl_->count() == 0 ? 0 : msg->created_at_ms + static_cast<std::int64_t>(ttl_->count());
    if (expiry == msg->expiry_at_ms) return msg;
    auto copy = std::make_shared<message>();
    copy->topic = msg->topic;
    copy->payload = msg->payload;
    copy->qos = msg->qos;
    copy->retain = msg->retain;
    if (msg->props) copy->props = std::make_unique<const protocol::properties>(*msg->props);
    copy->publisher = msg->publisher;
    copy->created_at_ms = msg->created_at_ms;
    copy->expiry_at_ms = expiry;
    return copy;
}

void retainer_store::retain(const message_ptr& msg, storage::write_batch& writes) {
    // An empty payload removes the topic's message [MQTT-3.3.1-10] [MQTT-3.3.1-11]; a payload
    // above max_payload_size is delivered but not retained (the one retained before stays).
    if (!msg->payload.empty() && max_payload_size_ != 0 &&
        msg->payload.size() > max_payload_size_) {
        spdlog::debug(
            "retained message on '{}' not stored: payload of {} bytes above "
            "max_payload_size",
            msg->topic, msg->payload.size());
        return;
    }
    auto kept = msg->payload.empty() ? msg : as_retained(msg);
    const auto r = index_.set(kept);
    if (r == retained_index::set_result::full) {
        spdlog::warn("retained message on '{}' not stored: max_retained_messages reached",
                     msg->topic);
        return;
    }
    if (!persistent_) return;
    if (r == retained_index::set_result::deleted)
        writes.ops.push_back(storage::delete_retained{msg->topic});
    else if (r == retained_index::set_result::stored || r == retained_index::set_result::replaced)
        writes.ops.push_back(storage::put_retained{broker::to_record(*kept)});
}

void retainer_store::match(std::string_view filter, std::int64_t now_ms,
                           std::vector<message_ptr>& out) const {
    index_.match(filter, now_ms, out);
}

void retainer_store::restore(message_ptr msg) {
    (void)index_.set(std::move(msg));
}

}  // namespace rmqtt::plugins
