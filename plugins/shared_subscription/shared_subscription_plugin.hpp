#pragma once

#include <memory>

#include "rmqtt/broker/plugin.hpp"

namespace rmqtt::plugins {

// rmqtt-shared-subscription: $share/{group}/{filter} subscriptions (MQTT 5.0 section 4.8.2) and
// the strategy that picks a member. Without it, shared subscriptions are refused.
std::unique_ptr<broker::plugin> make_shared_subscription_plugin();

}  // namespace rmqtt::plugins
