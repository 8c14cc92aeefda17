#pragma once

#include <memory>

#include "rmqtt/broker/plugin.hpp"

// rmqtt-sys-topic: RMQTT's $SYS topics (RMQTT docs/en_US/sys-topic.md).
//
// Every publish_interval: $SYS/brokers/{node}/version, uptime, datetime, stats and metrics.
// On the event hooks: $SYS/brokers/{node}/clients/{clientid}/connected | disconnected and
// $SYS/brokers/{node}/session/{clientid}/created | terminated | subscribed | unsubscribed, with
// RMQTT's JSON bodies. The event handlers (io threads) only post the event to a strand of the
// plugin executor; the body is built and published there, never on an io thread.
namespace rmqtt::plugins::sys_topic {

std::unique_ptr<broker::plugin> make_plugin();

}  // namespace rmqtt::plugins::sys_topic
