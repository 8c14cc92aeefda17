#pragma once

#include <span>

#include "rmqtt/broker/plugin.hpp"

namespace rmqtt::plugins {

// The plugins built into rmqttd, in one explicit list (builtin.cpp) and in start order: RMQTT's
// names, switched on by plugins.default_startups. Entries without `make` name RMQTT plugins
// rmqttd does not offer, so a start list naming them gets a clear warning.
std::span<const broker::plugin_entry> builtin_plugins();

}  // namespace rmqtt::plugins
