#pragma once

#include <memory>

#include "rmqtt/broker/plugin.hpp"

// rmqtt-web-hook: RMQTT's web hook (RMQTT docs/en_US/web-hook.md). The event hooks POST RMQTT's
// JSON bodies to HTTP servers, or append them to files, by per-event rules.
//
// The broker never waits for a receiver: an event handler only counts the event against
// queue_capacity and posts it to the plugin's dispatch thread (a full queue drops the event and
// counts it). The dispatch thread builds the bodies and hands each delivery to one of
// concurrency_limit sender threads; a failed delivery (no response, or a 5xx) is retried with
// exponential backoff from a timer, not from a sleeping thread. stop() waits a bounded time for
// what is queued, then joins the threads and logs the counters.
namespace rmqtt::plugins::web_hook {

std::unique_ptr<broker::plugin> make_plugin();

}  // namespace rmqtt::plugins::web_hook
