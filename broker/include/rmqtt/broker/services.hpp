#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rmqtt/broker/config_section.hpp"
#include "rmqtt/broker/message.hpp"
#include "rmqtt/storage/store.hpp"

// Services a plugin provides to the core, one provider each (plugin_context::provide_*). Part of
// the plugin API. Without a provider the core goes without: no retained messages, no shared
// subscriptions, no session store.
namespace rmqtt::broker {

// Retained messages (rmqtt-retainer).
//
// Concurrency rule: every method may be called from any thread at once; the provider guards its
// own state.
class retained_store {
  public:
    virtual ~retained_store() = default;
    // A message published with RETAIN 1 (by a client or the broker), before it is delivered. An
    // empty payload removes the topic's message [MQTT-3.3.1-10] [MQTT-3.3.1-11]. Store writes
    // appended to `writes` are committed together with the message's other writes (its
    // acknowledgement waits for them); only when persistent() is true.
    virtual void retain(const message_ptr& msg, storage::write_batch& writes) = 0;
    // Appends the retained messages whose topic matches `filter` (a plain filter, not $share) and
    // that have not expired at `now_ms`. '#' and '+' at the first level do not match '$' topics
    // [MQTT-4.7.2-1].
    virtual void match(std::string_view filter, std::int64_t now_ms,
                       std::vector<message_ptr>& out) const = 0;
    virtual std::size_t size() const = 0;
    // True when retained messages are kept in the session store: the core reads them back at
    // start-up and hands each to restore() before the listeners open.
    virtual bool persistent() const noexcept = 0;
    virtual void restore(message_ptr msg) = 0;
};

// How a message to a shared subscription "$share/{group}/{filter}" picks one member
// (rmqtt-shared-subscription). The core keeps the members and prefers online ones: starting at
// the index the strategy names, it takes the first online member, or the chosen one when none
// is online.
//
// Concurrency rule: called from many threads at once, under the router's shared lock; must not
// block and must not call back into the broker.
class share_strategy {
  public:
    virtual ~share_strategy() = default;
    struct request {
        std::string_view group;      // the share name
        std::string_view filter;     // the filter after "$share/{group}/"
        std::string_view topic;      // the message's topic
        std::string_view publisher;  // the publisher's client id ("" for the broker)
        std::size_t members = 0;     // > 0
        // Counters the core keeps for the strategy: one per (group, filter), one per group name.
        std::atomic<std::uint64_t>& counter;
        std::atomic<std::uint64_t>& group_counter;
    };
    // Where the search for an online member starts (taken modulo `members`).
    virtual std::uint64_t start(const request& r) = 0;
    // Sticky strategies keep sending to the member chosen before while it stays online:
    // remembered() names it ("" for none), remember() records a new choice.
    virtual std::string remembered(std::string_view group, std::string_view filter) {
        (void)group;
        (void)filter;
        return {};
    }
    virtual void remember(std::string_view group, std::string_view filter,
                          std::string_view client_id) {
        (void)group;
        (void)filter;
        (void)client_id;
    }
    virtual bool sticky() const noexcept { return false; }
};

// Where and how sessions are stored (rmqtt-session-storage.toml). The core opens the engine with
// these settings, recovers the sessions before the listeners open, and flushes on shutdown.
struct session_storage_config {
    enum class engine { rocksdb, redis };
    enum class ack_mode { durable, async };
    enum class sync_mode { none, always };
    engine type = engine::rocksdb;
    bool type_was_sled = false;  // "sled" in an RMQTT file: served by RocksDB (logged)
    std::string rocksdb_path = "./data/session/{node}";  // {node} already replaced after load
    std::size_t rocksdb_cache_capacity = 64 * 1024 * 1024;
    std::string redis_url = "redis://127.0.0.1:6379/";
    std::string redis_prefix = "session-{node}";  // {node} already replaced after load
    ack_mode ack = ack_mode::durable;
    sync_mode sync = sync_mode::none;
    std::chrono::microseconds commit_window{500};  // group-commit window
    std::size_t commit_max_ops = 4096;
    duration backend_timeout = std::chrono::seconds(15);
    std::size_t max_pending_bytes = 64 * 1024 * 1024;  // back-pressure threshold
    // How often the store records that the broker is alive; after a crash, sessions that were
    // online count their expiry from the last record.
    duration heartbeat_interval = std::chrono::seconds(2);
};

}  // namespace rmqtt::broker
