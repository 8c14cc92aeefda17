#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rmqtt/broker/config_section.hpp"

// rmqtt-retainer's settings, read from its own file by the plugin.
namespace rmqtt::plugins {

using broker::duration;

// etc/plugins/rmqtt-retainer.toml
struct retainer_config {
    // ram: retained messages are kept in memory only. rocksdb, redis (and "sled", RMQTT's
    // embedded engine): they are kept in the session store, whatever its engine, when
    // rmqtt-session-storage runs (in memory otherwise); the store's location is set in
    // rmqtt-session-storage.toml, so this file has no path, URL or prefix of its own.
    enum class engine { ram, rocksdb, redis };
    engine type = engine::ram;
    bool type_was_sled = false;                    // "sled" in an RMQTT file
    std::size_t max_retained_messages = 0;         // 0 = unlimited
    std::size_t max_payload_size = 1024 * 1024;    // bigger: not retained
    std::optional<duration> retained_message_ttl;  // unset: message expiry applies; 0 = never
};

// Reads rmqtt-retainer.toml. RMQTT's storage.sled.* and storage.redis.* keys are refused unless
// storage.type is "ram" (then they are reported as not used). Throws broker::config_error.
retainer_config parse_retainer_config(const broker::config_section& s);

// The keys parse_retainer_config knows, in full ("storage.type"), those kept only for RMQTT
// compatibility included. docs/configuration.md documents each of them (tests/unit/config checks
// both ways).
std::span<const std::string_view> retainer_config_keys();

}  // namespace rmqtt::plugins
