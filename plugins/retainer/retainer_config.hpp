#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "rmqtt/broker/config_section.hpp"

// rmqtt-retainer's settings, read from its own file by the plugin.
namespace rmqtt::plugins {

using broker::duration;

// etc/plugins/rmqtt-retainer.toml
struct retainer_config {
    enum class engine { ram, rocksdb, redis };
    engine type = engine::ram;
    bool type_was_sled = false;  // "sled" in an RMQTT file: served by RocksDB
    std::string rocksdb_path = "./data/retain/{node}";  // {node} already replaced after load
    std::size_t rocksdb_cache_capacity = 64 * 1024 * 1024;
    std::string redis_url = "redis://127.0.0.1:6379/";
    std::string redis_prefix = "retain-{node}";    // {node} already replaced after load
    std::size_t max_retained_messages = 0;         // 0 = unlimited
    std::size_t max_payload_size = 1024 * 1024;    // bigger: not retained
    std::optional<duration> retained_message_ttl;  // unset: message expiry applies; 0 = never
};

// Reads rmqtt-retainer.toml. Throws broker::config_error.
retainer_config parse_retainer_config(const broker::config_section& s);

}  // namespace rmqtt::plugins
