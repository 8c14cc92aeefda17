#pragma once

#include <memory>

#include "rmqtt/broker/plugin.hpp"

namespace rmqtt::plugins {

// rmqtt-retainer: retained messages (MQTT 3.3.1.3), in memory or in the session store.
std::unique_ptr<broker::plugin> make_retainer_plugin();

}  // namespace rmqtt::plugins
