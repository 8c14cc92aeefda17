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

// rmqtt-shared-subscription's settings, read from its own file by the plugin.
namespace rmqtt::plugins {

// etc/plugins/rmqtt-shared-subscription.toml
struct shared_subscription_config {
    enum class strategy {
        random,
        round_robin,
        round_robin_per_group,
        sticky,
        hash_clientid,
        hash_topic,
        local
    };
    strategy strat = strategy::round_robin;
    std::size_t sticky_cache_size = 100000;  // LRU bindings kept by the sticky strategy
};

// Reads rmqtt-shared-subscription.toml. Throws broker::config_error.
shared_subscription_config parse_shared_subscription_config(const broker::config_section& s);

// The keys parse_shared_subscription_config knows, in full ("strategy"), those kept only for RMQTT
// compatibility included. docs/configuration.md documents each of them (tests/unit/config checks
// both ways).
std::span<const std::string_view> shared_subscription_config_keys();

}  // namespace rmqtt::plugins
