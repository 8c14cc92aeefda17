#include "routing/router.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "test_subscriber.hpp"

namespace rmqtt::broker {
namespace {

using protocol::qos;
using protocol::subscription_options;
using test::make_sub;

subscription_options opts(qos q, bool no_local = false, bool rap = false) {
    subscription_options o;
    o.max_qos = q;
    o.no_local = no_local;
    o.retain_as_published = rap;
    return o;
}

std::vector<route_target> route(const router& r, std::string_view topic,
                                std::string_view publisher = "publisher") {
    std::vector<route_target> out;
    r.match(topic, publisher, out);
    return out;
}

std::vector<std::string> client_ids(const std::vector<route_target>& targets) {
    std::vector<std::string> ids;
    for (const auto& t : targets)
        ids.push_back(t.sub->client_id());
    std::sort(ids.begin(), ids.end());
    return ids;
}

TEST(router, subscribe_match_unsubscribe) {
    router r;
    auto a = make_sub("a");
    auto b = make_sub("b");
    EXPECT_TRUE(r.subscribe(a, "sport/tennis/+", opts(qos::at_least_once), 0));
    EXPECT_TRUE(r.subscribe(b, "sport/#", opts(qos::at_most_once), 0));
    EXPECT_EQ(r.subscription_count(), 2u);
    EXPECT_EQ(r.topic_filter_count(), 2u);

    EXPECT_EQ(client_ids(route(r, "sport/tennis/player1")), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(client_ids(route(r, "sport")), (std::vector<std::string>{"b"}));  // [MQTT-4.7.1-2]
    EXPECT_TRUE(route(r, "news").empty());

    EXPECT_TRUE(r.unsubscribe(*a, "sport/tennis/+"));
    EXPECT_FALSE(r.unsubscribe(*a, "sport/tennis/+"));
    EXPECT_FALSE(r.unsubscribe(*a, "sport/#"));  // b's, not a's
    EXPECT_EQ(client_ids(route(r, "sport/tennis/player1")), (std::vector<std::string>{"b"}));
    EXPECT_TRUE(r.unsubscribe(*b, "sport/#"));
    EXPECT_EQ(r.subscription_count(), 0u);
    EXPECT_EQ(r.topic_filter_count(), 0u);
    EXPECT_TRUE(route(r, "sport/tennis/player1").empty());
}

TEST(router, resubscribe_replaces_options) {
    router r;
    auto a = make_sub("a");
    EXPECT_TRUE(r.subscribe(a, "t", opts(qos::at_most_once), 1));
    EXPECT_FALSE(r.subscribe(a, "t", opts(qos::exactly_once, false, true), 9));
    EXPECT_EQ(r.subscription_count(), 1u);
    const auto out = route(r, "t");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].max_qos, qos::exactly_once);
    EXPECT_TRUE(out[0].retain_as_published);
    EXPECT_EQ(out[0].subscription_ids, (std::vector<std::uint32_t>{9}));
    EXPECT_TRUE(out[0].share_group.empty());
}

TEST(router, dollar_topics_not_matched_by_leading_wildcards) {
    router r;
    auto all = make_sub("all");
    auto plus = make_sub("plus");
    auto sys = make_sub("sys");
    auto shared = make_sub("shared");
    r.subscribe(all, "#", opts(qos::at_most_once), 0);
    r.subscribe(plus, "+/monitor/Clients", opts(qos::at_most_once), 0);
    r.subscribe(sys, "$SYS/#", opts(qos::at_most_once), 0);
    r.subscribe(shared, "$share/g/#", opts(qos::at_most_once), 0);
    // [MQTT-4.7.2-1]
    EXPECT_EQ(client_ids(route(r, "$SYS/monitor/Clients")), (std::vector<std::string>{"sys"}));
    EXPECT_EQ(client_ids(route(r, "x/monitor/Clients")),
              (std::vector<std::string>{"all", "plus", "shared"}));
}

// [MQTT-3.3.5-1] (3.1.1), [MQTT-3.3.4-2] and [MQTT-3.3.4-4] (5.0): one delivery per client for
// overlapping subscriptions, at the highest QoS, with every subscription identifier.
TEST(router, overlapping_subscriptions_merged) {
    router r;
    auto a = make_sub("a");
    auto b = make_sub("b");
    r.subscribe(a, "a/+", opts(qos::at_least_once), 5);
    r.subscribe(a, "a/#", opts(qos::exactly_once), 3);
    r.subscribe(a, "a/b", opts(qos::at_most_once, false, true), 0);  // no id; RAP
    r.subscribe(a, "#", opts(qos::at_most_once), 5);                 // same id twice
    r.subscribe(b, "a/b", opts(qos::at_least_once), 11);
    r.subscribe(b, "+/+", opts(qos::at_most_once), 0);

    auto out = route(r, "a/b");
    ASSERT_EQ(out.size(), 2u);
    std::sort(out.begin(), out.end(), [](const route_target& x, const route_target& y) {
        return x.sub->client_id() < y.sub->client_id();
    });
    EXPECT_EQ(out[0].sub->client_id(), "a");
    EXPECT_EQ(out[0].max_qos, qos::exactly_once);
    EXPECT_TRUE(out[0].retain_as_published);
    EXPECT_EQ(out[0].subscription_ids, (std::vector<std::uint32_t>{3, 5}));  // ascending, unique
    EXPECT_EQ(out[1].sub->client_id(), "b");
    EXPECT_EQ(out[1].max_qos, qos::at_least_once);
    EXPECT_FALSE(out[1].retain_as_published);
    EXPECT_EQ(out[1].subscription_ids, (std::vector<std::uint32_t>{11}));

    out = route(r, "a");  // "a/#" (parent level) and "#"
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].max_qos, qos::exactly_once);
    EXPECT_FALSE(out[0].retain_as_published);
    EXPECT_EQ(out[0].subscription_ids, (std::vector<std::uint32_t>{3, 5}));
}

TEST(router, match_appends_to_existing_output) {
    router r;
    auto a = make_sub("a");
    r.subscribe(a, "x", opts(qos::at_most_once), 1);
    r.subscribe(a, "+", opts(qos::at_least_once), 2);
    std::vector<route_target> out;
    r.match("x", "p", out);
    r.match("x", "p", out);  // a second message: its targets are not merged with the first's
    ASSERT_EQ(out.size(), 2u);
    for (const auto& t : out) {
        EXPECT_EQ(t.max_qos, qos::at_least_once);
        EXPECT_EQ(t.subscription_ids, (std::vector<std::uint32_t>{1, 2}));
    }
}

// [MQTT-3.8.3-3] No Local: not sent back to the publisher's own client id.
TEST(router, no_local) {
    router r;
    auto a = make_sub("a");
    auto b = make_sub("b");
    r.subscribe(a, "chat", opts(qos::exactly_once, true), 1);
    r.subscribe(b, "chat", opts(qos::at_most_once, true), 2);

    EXPECT_EQ(client_ids(route(r, "chat", "a")), (std::vector<std::string>{"b"}));
    EXPECT_EQ(client_ids(route(r, "chat", "b")), (std::vector<std::string>{"a"}));
    EXPECT_EQ(client_ids(route(r, "chat", "c")), (std::vector<std::string>{"a", "b"}));

    // Only the No Local subscription is skipped; a's other matching subscription still counts.
    r.subscribe(a, "+", opts(qos::at_least_once), 7);
    const auto out = route(r, "chat", "a");
    ASSERT_EQ(out.size(), 2u);
    for (const auto& t : out) {
        if (t.sub->client_id() != "a") continue;
        EXPECT_EQ(t.max_qos, qos::at_least_once);
        EXPECT_EQ(t.subscription_ids, (std::vector<std::uint32_t>{7}));
    }
}

TEST(router, no_local_does_not_apply_to_shared_subscriptions) {
    router r;
    auto a = make_sub("a");
    r.subscribe(a, "$share/g/chat", opts(qos::at_most_once, true), 0);
    const auto out = route(r, "chat", "a");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].share_group, "g");
}

TEST(router, plain_and_shared_subscription_of_one_client_are_two_targets) {
    router r;
    auto a = make_sub("a");
    EXPECT_TRUE(r.subscribe(a, "t/+", opts(qos::at_least_once), 1));
    EXPECT_TRUE(r.subscribe(a, "$share/g1/t/+", opts(qos::exactly_once), 2));
    EXPECT_TRUE(r.subscribe(a, "$share/g2/t/+", opts(qos::at_most_once), 3));
    EXPECT_TRUE(r.subscribe(a, "t/#", opts(qos::at_most_once), 4));
    EXPECT_EQ(r.subscription_count(), 4u);
    EXPECT_EQ(r.shared_subscription_count(), 2u);
    EXPECT_EQ(r.topic_filter_count(), 2u);  // "t/+" and "t/#"

    auto out = route(r, "t/x");
    ASSERT_EQ(out.size(), 3u);
    std::sort(out.begin(), out.end(), [](const route_target& x, const route_target& y) {
        return x.share_group < y.share_group;
    });
    EXPECT_EQ(out[0].share_group, "");
    EXPECT_EQ(out[0].max_qos, qos::at_least_once);
    EXPECT_EQ(out[0].subscription_ids, (std::vector<std::uint32_t>{1, 4}));
    EXPECT_EQ(out[1].share_group, "g1");
    EXPECT_EQ(out[1].max_qos, qos::exactly_once);  // the member's own granted QoS [MQTT-4.8.2-3]
    EXPECT_EQ(out[1].subscription_ids, (std::vector<std::uint32_t>{2}));
    EXPECT_EQ(out[2].share_group, "g2");
    EXPECT_EQ(out[2].subscription_ids, (std::vector<std::uint32_t>{3}));
    for (const auto& t : out)
        EXPECT_EQ(t.sub, a);

    EXPECT_TRUE(r.unsubscribe(*a, "$share/g1/t/+"));
    EXPECT_FALSE(r.unsubscribe(*a, "$share/g1/t/+"));
    EXPECT_FALSE(r.unsubscribe(*a, "$share/g3/t/+"));
    EXPECT_EQ(route(r, "t/x").size(), 2u);
    EXPECT_TRUE(r.unsubscribe(*a, "t/+"));
    EXPECT_TRUE(r.unsubscribe(*a, "$share/g2/t/+"));
    EXPECT_EQ(r.topic_filter_count(), 1u);
    EXPECT_TRUE(r.unsubscribe(*a, "t/#"));
    EXPECT_EQ(r.subscription_count(), 0u);
    EXPECT_EQ(r.shared_subscription_count(), 0u);
    EXPECT_EQ(r.topic_filter_count(), 0u);
}

TEST(router, shared_group_on_two_filters_picks_once_per_filter) {
    router r;
    auto a = make_sub("a");
    r.subscribe(a, "$share/g/t/+", opts(qos::at_most_once), 0);
    r.subscribe(a, "$share/g/t/#", opts(qos::at_most_once), 0);
    const auto out = route(r, "t/x");
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].share_group, "g");
    EXPECT_EQ(out[1].share_group, "g");
}

TEST(router, many_subscribers_on_one_filter) {
    // Past the size where member lists get a hash index; removal order mixes swaps.
    router r;
    std::vector<std::shared_ptr<test::test_subscriber>> subs;
    for (int i = 0; i < 200; ++i) {
        subs.push_back(make_sub(test::name("c", i)));
        ASSERT_TRUE(r.subscribe(subs.back(), "t", opts(qos::at_most_once), 0));
        ASSERT_TRUE(r.subscribe(subs.back(), "$share/g/t", opts(qos::at_most_once), 0));
    }
    for (int i = 0; i < 200; i += 2) {
        ASSERT_TRUE(r.unsubscribe(*subs[static_cast<std::size_t>(i)], "t"));
        ASSERT_TRUE(r.unsubscribe(*subs[static_cast<std::size_t>(i)], "$share/g/t"));
    }
    for (int i = 0; i < 200; ++i) {
        const bool present = i % 2 == 1;
        EXPECT_EQ(r.subscribe(subs[static_cast<std::size_t>(i)], "t", opts(qos::at_least_once), 0),
                  !present);
    }
    const auto out = route(r, "t");
    std::size_t plain = 0;
    std::size_t shared = 0;
    for (const auto& t : out)
        (t.share_group.empty() ? plain : shared)++;
    EXPECT_EQ(plain, 200u);
    EXPECT_EQ(shared, 1u);
    EXPECT_EQ(r.subscription_count(), 300u);
    for (int i = 0; i < 200; ++i) {
        ASSERT_TRUE(r.unsubscribe(*subs[static_cast<std::size_t>(i)], "t"));
        ASSERT_EQ(r.unsubscribe(*subs[static_cast<std::size_t>(i)], "$share/g/t"), i % 2 == 1);
    }
    EXPECT_EQ(r.subscription_count(), 0u);
    EXPECT_EQ(r.topic_filter_count(), 0u);
}

TEST(router, churn_leaves_nothing_behind) {
    router r;
    test::rng rnd(3);
    std::vector<std::shared_ptr<test::test_subscriber>> subs;
    for (int i = 0; i < 8; ++i)
        subs.push_back(make_sub(test::name("c", i)));
    const char* filters[] = {"a",    "a/+",   "a/#", "+/b", "#", "$share/g/a/#", "$share/h/a/#",
                             "a//b", "$SYS/#"};
    std::set<std::pair<std::size_t, std::size_t>> present;
    for (int i = 0; i < 5000; ++i) {
        const std::size_t s = rnd.below(subs.size());
        const std::size_t f = rnd.below(std::size(filters));
        if (present.count({s, f})) {
            ASSERT_TRUE(r.unsubscribe(*subs[s], filters[f]));
            present.erase({s, f});
        } else {
            ASSERT_TRUE(r.subscribe(subs[s], filters[f], opts(qos::at_most_once), 0));
            present.insert({s, f});
        }
        ASSERT_EQ(r.subscription_count(), present.size());
    }
    for (const auto& [s, f] : present)
        ASSERT_TRUE(r.unsubscribe(*subs[s], filters[f]));
    EXPECT_EQ(r.subscription_count(), 0u);
    EXPECT_EQ(r.shared_subscription_count(), 0u);
    EXPECT_EQ(r.topic_filter_count(), 0u);
    EXPECT_TRUE(route(r, "a/b").empty());
}

TEST(router, sixty_five_thousand_level_filter) {
    router r;
    auto a = make_sub("a");
    const std::string deep(64999, '/');  // 65,000 empty levels
    std::string pluses = "+";
    for (int i = 1; i < 65000; ++i)
        pluses += "/+";
    ASSERT_TRUE(r.subscribe(a, deep, opts(qos::at_least_once), 1));
    ASSERT_TRUE(r.subscribe(a, pluses, opts(qos::at_most_once), 2));
    ASSERT_TRUE(r.subscribe(a, "$share/g/" + deep + "/#", opts(qos::at_most_once), 3));
    const auto out = route(r, deep);
    ASSERT_EQ(out.size(), 2u);  // the merged plain target and the shared one
    EXPECT_TRUE(route(r, deep + "/x").size() == 1u);
    EXPECT_TRUE(r.unsubscribe(*a, deep));
    EXPECT_TRUE(r.unsubscribe(*a, pluses));
    EXPECT_EQ(r.topic_filter_count(), 1u);
    // The router is destroyed with the deep shared filter still in it.
}

}  // namespace
}  // namespace rmqtt::broker
