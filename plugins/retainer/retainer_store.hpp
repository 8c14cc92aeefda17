#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "retainer/retained_index.hpp"
#include "retainer/retainer_config.hpp"
#include "rmqtt/broker/services.hpp"

namespace rmqtt::plugins {

// rmqtt-retainer's retained messages: an index in memory, and with storage.type other than
// "ram" a copy in the session store (written with the message that set it, read back at start).
//
// Concurrency rule: the index has its own lock; the other members are fixed at construction.
class retainer_store final : public broker::retained_store {
  public:
    // `persistent`: keep the messages in the session store.
    retainer_store(const retainer_config& cfg, bool persistent);

    void retain(const broker::message_ptr& msg, storage::write_batch& writes) override;
    void match(std::string_view filter, std::int64_t now_ms,
               std::vector<broker::message_ptr>& out) const override;
    std::size_t size() const override { return index_.size(); }
    bool persistent() const noexcept override { return persistent_; }
    void restore(broker::message_ptr msg) override;

  private:
    // The message as retained: retained_message_ttl, when set, replaces its expiry.
    broker::message_ptr as_retained(const broker::message_ptr& msg) const;

    retained_index index_;
    const std::size_t max_payload_size_;
    const std::optional<broker::duration> ttl_;
    const bool persistent_;
};

}  // namespace rmqtt::plugins
