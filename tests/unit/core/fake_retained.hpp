#pragma once

// A retained store for core tests: one message per topic, matched by exact topic (enough for
// tests that subscribe to plain topics). Its store writes are a put_meta marker per retained
// message, so a test can see them join the publication's batch.

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "rmqtt/broker/services.hpp"

namespace rmqtt::broker::test {

class fake_retained final : public retained_store {
  public:
    void retain(const message_ptr& msg, storage::write_batch& writes) override {
        std::lock_guard lock(mutex_);
        if (msg->payload.empty())
            by_topic_.erase(msg->topic);
        else
            by_topic_[msg->topic] = msg;
        writes.ops.push_back(storage::put_meta{"retained:" + msg->topic, msg->payload});
    }
    void match(std::string_view filter, std::int64_t,
               std::vector<message_ptr>& out) const override {
        std::lock_guard lock(mutex_);
        if (auto it = by_topic_.find(std::string(filter)); it != by_topic_.end())
            out.push_back(it->second);
    }
    std::size_t size() const override {
        std::lock_guard lock(mutex_);
        return by_topic_.size();
    }
    bool persistent() const noexcept override { return false; }
    void restore(message_ptr msg) override {
        std::lock_guard lock(mutex_);
        by_topic_[msg->topic] = std::move(msg);
    }

  private:
    mutable std::mutex mutex_;
    std::map<std::string, message_ptr> by_topic_;
};

}  // namespace rmqtt::broker::test
