#pragma once

#include <memory>

#include "rmqtt/broker/plugin.hpp"

namespace rmqtt::plugins {

// rmqtt-session-storage: where sessions, subscriptions and queued messages are stored
// (RocksDB or Redis). The storage module itself is the core's; this plugin reads its settings
// and hands them over.
std::unique_ptr<broker::plugin> make_session_storage_plugin();

}  // namespace rmqtt::plugins
