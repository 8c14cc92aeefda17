#pragma once

#include <cstddef>
#include <memory>
#include <shared_mutex>
#include <string_view>
#include <vector>

#include "rmqtt/broker/message.hpp"

namespace rmqtt::plugins {

using broker::message_ptr;

// Retained messages by topic name, matched by topic filter.
//
// Concurrency rule: match() and size() take a shared lock; set() and erase() take it exclusively.
class retained_index {
  public:
    // max_messages: 0 = unlimited; when full, only topics already present can be replaced.
    explicit retained_index(std::size_t max_messages = 0);
    ~retained_index();

    enum class set_result { stored, replaced, deleted, not_found, full };
    // Stores `msg` under msg->topic, or deletes the topic when the payload is empty
    // [MQTT-3.3.1-10, 3.3.1-11].
    set_result set(message_ptr msg);
    bool erase(std::string_view topic);

    // Appends every retained message whose topic matches `filter` (plain filter, not $share).
    // '#' / '+' at the first level do not match '$' topics [MQTT-4.7.2-1]. Expired messages
    // (now_ms) are skipped.
    void match(std::string_view filter, std::int64_t now_ms, std::vector<message_ptr>& out) const;

    std::size_t size() const;

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
    mutable std::shared_mutex mutex_;
};

}  // namespace rmqtt::plugins
