#pragma once

#include <span>
#include <string_view>

#include "rmqtt/broker/config_section.hpp"
#include "rmqtt/broker/services.hpp"

// rmqtt-session-storage's settings (the struct is part of the plugin API: the core opens the
// store with it).
namespace rmqtt::plugins {

// Reads rmqtt-session-storage.toml; {node} in paths and prefixes becomes the section's node id.
// Throws broker::config_error.
broker::session_storage_config parse_session_storage_config(const broker::config_section& s);

// The keys parse_session_storage_config knows, in full ("storage.rocksdb.path"), those kept only
// for RMQTT compatibility included. docs/configuration.md documents each of them (tests/unit/config
// checks both ways).
std::span<const std::string_view> session_storage_config_keys();

}  // namespace rmqtt::plugins
