#pragma once

#include <cstddef>
#include <memory>

#include "rmqtt/broker/services.hpp"
#include "shared_subscription/shared_subscription_config.hpp"

namespace rmqtt::plugins {

// The strategies of rmqtt-shared-subscription.toml (RMQTT's names):
//   random                 a random member per message
//   round_robin            each (group, filter) in turn
//   round_robin_per_group  one counter per group name, shared by its filters
//   sticky                 a random member, kept while it stays online; the choices of at most
//                          `sticky_cache_size` shared subscriptions are kept, least recently used
//                          first forgotten
//   hash_clientid          by the publisher's client id (stable per publisher)
//   hash_topic             by the topic (stable per topic)
//   local                  one node: the same as round_robin
std::shared_ptr<broker::share_strategy> make_share_strategy(shared_subscription_config::strategy s,
                                                            std::size_t sticky_cache_size = 100000);

}  // namespace rmqtt::plugins
