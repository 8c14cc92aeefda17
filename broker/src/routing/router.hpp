#pragma once

#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "rmqtt/broker/services.hpp"
#include "rmqtt/broker/topic_tree.hpp"
#include "rmqtt/protocol/packets.hpp"
#include "routing/delivery_target.hpp"

namespace rmqtt::broker {

// One delivery decided by routing: which target gets the message and how.
struct route_target {
    std::shared_ptr<delivery_target> sub;
    // Highest QoS of the matched subscriptions.
    protocol::qos max_qos = protocol::qos::at_most_once;
    bool retain_as_published = false;             // any matched subscription had RAP
    std::vector<std::uint32_t> subscription_ids;  // of every matched subscription, ascending
    std::string share_group;                      // non-empty when chosen from a shared group
    std::string share_filter;  // with share_group: the filter after "$share/{group}/"
};

// The subscription table: topic filters (plain and "$share/{group}/{filter}") to subscribers.
//
// Concurrency rule: any number of threads may call match() concurrently (shared lock); subscribe,
// unsubscribe and remove_all take the lock exclusively. Nothing here calls out to subscribers
// except the lock-free delivery_target::is_online() and client_id().
class router {
  public:
    // `strategy` picks the member of a shared subscription (rmqtt-shared-subscription); null:
    // each (group, filter) in turn.
    explicit router(std::shared_ptr<share_strategy> strategy = nullptr);
    ~router();  // out of line: impl is incomplete here
    // Before the broker serves only.
    void set_strategy(std::shared_ptr<share_strategy> strategy);

    // Adds or replaces `sub`'s subscription to `filter`. `filter` is valid (plain or shared).
    // Returns true when it did not exist before (false: replaced).
    bool subscribe(const std::shared_ptr<delivery_target>& sub, std::string_view filter,
                   const protocol::subscription_options& options, std::uint32_t subscription_id);
    // Returns true when the subscription existed.
    bool unsubscribe(const delivery_target& sub, std::string_view filter);

    // Appends the targets for a message published to `topic` by client `publisher_id`:
    // - plain subscriptions: one target per subscriber, merging all its matching subscriptions
    //   (highest QoS, all subscription ids) [MQTT-3.3.5-1]; a subscription with No Local is
    //   skipped when the subscriber is the publisher [MQTT-3.8.3-3];
    // - each matching shared group: exactly one member, chosen by the strategy, preferring
    //   online members; No Local does not apply to shared subscriptions.
    // Filters starting with a wildcard do not match topics starting with '$' [MQTT-4.7.2-1].
    void match(std::string_view topic, std::string_view publisher_id,
               std::vector<route_target>& out) const;

    // Another member of the shared subscription "$share/{group}/{filter}" than `except`,
    // preferring online ones, as a target with that member's options; used to hand a leaving
    // member's queued messages on (MQTT 5.0 section 4.8.2). False when there is none.
    bool pick_other_member(std::string_view group, std::string_view filter,
                           const delivery_target& except, std::string_view topic,
                           route_target& out) const;

    std::size_t subscription_count() const;  // plain + shared memberships
    std::size_t shared_subscription_count() const;
    std::size_t topic_filter_count() const;  // distinct filters (routes)

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
    mutable std::shared_mutex mutex_;
};

}  // namespace rmqtt::broker
