#pragma once

#include <chrono>
#include <span>
#include <string_view>

#include "rmqtt/broker/config_section.hpp"
#include "rmqtt/protocol/types.hpp"

// rmqtt-sys-topic's settings (etc/plugins/rmqtt-sys-topic.toml), RMQTT's keys and defaults.
namespace rmqtt::plugins::sys_topic {

struct sys_topic_config {
    protocol::qos publish_qos = protocol::qos::at_least_once;
    std::chrono::milliseconds publish_interval{60'000};          // at least 1 s, as RMQTT
    std::chrono::milliseconds message_expiry_interval{300'000};  // 0: never expires
};

// Reads rmqtt-sys-topic.toml. Throws broker::config_error.
sys_topic_config parse_sys_topic_config(const broker::config_section& s);

// The keys parse_sys_topic_config knows, in full. docs/configuration.md documents each of them.
std::span<const std::string_view> sys_topic_config_keys();

}  // namespace rmqtt::plugins::sys_topic
