// Shared subscriptions (MQTT 5.0 section 4.8.2): one member per message and group, chosen by the
// configured strategy, online members first.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "routing/router.hpp"
#include "shared_subscription/share_strategies.hpp"
#include "test_subscriber.hpp"

namespace rmqtt::broker {
namespace {

using strategy = plugins::shared_subscription_config::strategy;
using test::make_sub;
using test::test_subscriber;

protocol::subscription_options qos1() {
    protocol::subscription_options o;
    o.max_qos = protocol::qos::at_least_once;
    return o;
}

// The one shared target for `group` in a routing of `topic`; fails the test when there is not
// exactly one.
std::string pick_one(const router& r, std::string_view topic, std::string_view group = "g",
                     std::string_view publisher = "pub") {
    std::vector<route_target> out;
    r.match(topic, publisher, out);
    std::string chosen;
    int n = 0;
    for (const auto& t : out) {
        if (t.share_group != group) continue;
        ++n;
        chosen = t.sub->client_id();
    }
    EXPECT_EQ(n, 1) << "topic " << topic;
    return chosen;
}

struct group_fixture {
    explicit group_fixture(strategy s, std::size_t n, std::string_view filter = "$share/g/t/#")
        : r(plugins::make_share_strategy(s)) {
        for (std::size_t i = 0; i < n; ++i) {
            members.push_back(make_sub(test::name("m", i)));
            EXPECT_TRUE(r.subscribe(members.back(), filter, qos1(), 0));
        }
    }
    router r;
    std::vector<std::shared_ptr<test_subscriber>> members;
};

const strategy all_strategies[] = {
    strategy::random, strategy::round_robin,   strategy::round_robin_per_group,
    strategy::sticky, strategy::hash_clientid, strategy::hash_topic,
    strategy::local};

std::string name_of(strategy s) {
    switch (s) {
        case strategy::random:
            return "random";
        case strategy::round_robin:
            return "round_robin";
        case strategy::round_robin_per_group:
            return "round_robin_per_group";
        case strategy::sticky:
            return "sticky";
        case strategy::hash_clientid:
            return "hash_clientid";
        case strategy::hash_topic:
            return "hash_topic";
        case strategy::local:
            return "local";
    }
    return "?";
}

class every_strategy : public ::testing::TestWithParam<strategy> {};

INSTANTIATE_TEST_SUITE_P(router_shared, every_strategy, ::testing::ValuesIn(all_strategies),
                         [](const auto& param_info) { return name_of(param_info.param); });

TEST_P(every_strategy, exactly_one_member_per_message) {
    group_fixture f(GetParam(), 4);
    for (int i = 0; i < 100; ++i) {
        const std::string topic = test::name("t/", i);
        const std::string chosen = pick_one(f.r, topic, "g", test::name("p", i % 7));
        EXPECT_EQ(chosen.substr(0, 1), "m");
    }
}

TEST_P(every_strategy, prefers_online_members) {
    group_fixture f(GetParam(), 5);
    for (std::size_t i = 0; i < 5; ++i)
        f.members[i]->set_online(i == 3);
    for (int i = 0; i < 100; ++i) {
        EXPECT_EQ(pick_one(f.r, test::name("t/", i), "g", test::name("p", i)), "m3");
    }
}

TEST_P(every_strategy, falls_back_to_an_offline_member) {
    group_fixture f(GetParam(), 3);
    for (auto& m : f.members)
        m->set_online(false);
    for (int i = 0; i < 30; ++i) {
        const std::string chosen = pick_one(f.r, test::name("t/", i), "g", "p");
        EXPECT_FALSE(chosen.empty());
    }
    // Coming back online makes a member preferred again.
    f.members[1]->set_online(true);
    for (int i = 0; i < 30; ++i)
        EXPECT_EQ(pick_one(f.r, test::name("t/", i)), "m1");
}

TEST_P(every_strategy, groups_are_independent) {
    router r(plugins::make_share_strategy(GetParam()));
    auto a = make_sub("a");
    auto b = make_sub("b");
    r.subscribe(a, "$share/g1/t", qos1(), 0);
    r.subscribe(b, "$share/g2/t", qos1(), 0);
    std::vector<route_target> out;
    r.match("t", "p", out);
    ASSERT_EQ(out.size(), 2u);
    std::map<std::string, std::string> by_group;
    for (const auto& t : out)
        by_group[t.share_group] = t.sub->client_id();
    EXPECT_EQ(by_group, (std::map<std::string, std::string>{{"g1", "a"}, {"g2", "b"}}));
}

TEST_P(every_strategy, pick_other_member) {
    group_fixture f(GetParam(), 3, "$share/g/t/+");
    const test_subscriber& leaving = *f.members[0];
    // The chosen member, or null when pick_other_member finds none.
    auto pick = [&](std::string_view group, std::string_view filter, std::string_view topic) {
        route_target t;
        if (!f.r.pick_other_member(group, filter, leaving, topic, t))
            return std::shared_ptr<delivery_target>{};
        EXPECT_EQ(t.share_group, group);
        EXPECT_EQ(t.share_filter, filter);
        return t.sub;
    };
    for (int i = 0; i < 30; ++i) {
        auto other = pick("g", "t/+", test::name("t/", i));
        ASSERT_NE(other, nullptr);
        EXPECT_NE(other.get(), &leaving);
    }
    f.members[1]->set_online(false);  // online preferred
    for (int i = 0; i < 30; ++i) {
        EXPECT_EQ(pick("g", "t/+", "t/x"), f.members[2]);
    }
    f.members[2]->set_online(false);  // an offline one when no other is online
    auto other = pick("g", "t/+", "t/x");
    ASSERT_NE(other, nullptr);
    EXPECT_NE(other.get(), &leaving);

    EXPECT_EQ(pick("h", "t/+", "t/x"), nullptr);  // no such group
    EXPECT_EQ(pick("g", "t/#", "t/x"), nullptr);  // no such filter
    ASSERT_TRUE(f.r.unsubscribe(*f.members[1], "$share/g/t/+"));
    ASSERT_TRUE(f.r.unsubscribe(*f.members[2], "$share/g/t/+"));
    EXPECT_EQ(pick("g", "t/+", "t/x"), nullptr);  // only `leaving`
}

TEST_P(every_strategy, leaving_member_no_longer_chosen) {
    group_fixture f(GetParam(), 2);
    ASSERT_TRUE(f.r.unsubscribe(*f.members[0], "$share/g/t/#"));
    EXPECT_EQ(f.r.shared_subscription_count(), 1u);
    for (int i = 0; i < 20; ++i)
        EXPECT_EQ(pick_one(f.r, test::name("t/", i)), "m1");
    ASSERT_TRUE(f.r.unsubscribe(*f.members[1], "$share/g/t/#"));
    std::vector<route_target> out;
    f.r.match("t/x", "p", out);
    EXPECT_TRUE(out.empty());
    EXPECT_EQ(f.r.topic_filter_count(), 0u);
}

std::map<std::string, int> tally(const router& r, int messages, std::string_view topic = "t/x") {
    std::map<std::string, int> counts;
    for (int i = 0; i < messages; ++i)
        ++counts[pick_one(r, topic)];
    return counts;
}

TEST(router_shared_strategy, round_robin_is_fair) {
    for (strategy s : {strategy::round_robin, strategy::local, strategy::round_robin_per_group}) {
        group_fixture f(s, 3);
        EXPECT_EQ(tally(f.r, 300),
                  (std::map<std::string, int>{{"m0", 100}, {"m1", 100}, {"m2", 100}}))
            << name_of(s);
        // Consecutive messages go to different members.
        std::string last = pick_one(f.r, "t/x");
        for (int i = 0; i < 10; ++i) {
            const std::string next = pick_one(f.r, "t/x");
            EXPECT_NE(next, last);
            last = next;
        }
    }
}

TEST(router_shared_strategy, round_robin_skips_offline_members) {
    group_fixture f(strategy::round_robin, 4);
    f.members[2]->set_online(false);
    const auto counts = tally(f.r, 400);
    EXPECT_EQ(counts.count("m2"), 0u);
    int total = 0;
    for (const auto& [id, n] : counts) {
        EXPECT_GE(n, 100) << id;  // every online member gets its turn
        total += n;
    }
    EXPECT_EQ(total, 400);
}

// round_robin keeps one counter per (group, filter); round_robin_per_group one per group, shared
// by the group's filters. With members [m0, m1] on "x" and "y", alternating x, y, x, y ...:
// per filter, each filter alternates m0, m1; per group, x always lands on even counts (m0) and y
// on odd ones (m1).
TEST(router_shared_strategy, round_robin_per_group_shares_one_counter_across_filters) {
    auto run = [](strategy s) {
        router r(plugins::make_share_strategy(s));
        auto m0 = make_sub("m0");
        auto m1 = make_sub("m1");
        for (const char* filter : {"$share/g/x", "$share/g/y"}) {
            r.subscribe(m0, filter, qos1(), 0);
            r.subscribe(m1, filter, qos1(), 0);
        }
        std::map<std::string, std::map<std::string, int>> by_topic;
        for (int i = 0; i < 20; ++i) {
            ++by_topic["x"][pick_one(r, "x")];
            ++by_topic["y"][pick_one(r, "y")];
        }
        return by_topic;
    };
    const auto per_group = run(strategy::round_robin_per_group);
    EXPECT_EQ(per_group.at("x"), (std::map<std::string, int>{{"m0", 20}}));
    EXPECT_EQ(per_group.at("y"), (std::map<std::string, int>{{"m1", 20}}));
    const auto per_filter = run(strategy::round_robin);
    EXPECT_EQ(per_filter.at("x"), (std::map<std::string, int>{{"m0", 10}, {"m1", 10}}));
    EXPECT_EQ(per_filter.at("y"), (std::map<std::string, int>{{"m0", 10}, {"m1", 10}}));
}

TEST(router_shared_strategy, random_spreads) {
    group_fixture f(strategy::random, 3);
    const auto counts = tally(f.r, 3000);
    ASSERT_EQ(counts.size(), 3u);
    // Expected 1000 each, standard deviation about 26: these bounds do not fail by chance.
    for (const auto& [id, n] : counts) {
        EXPECT_GT(n, 700) << id;
        EXPECT_LT(n, 1300) << id;
    }
}

TEST(router_shared_strategy, sticky_keeps_its_choice_while_online) {
    group_fixture f(strategy::sticky, 4);
    const std::string first = pick_one(f.r, "t/x");
    for (int i = 0; i < 100; ++i)
        EXPECT_EQ(pick_one(f.r, test::name("t/", i)), first);

    // The chosen member goes offline: another is chosen, and kept after the first returns.
    test_subscriber& chosen = *f.members[static_cast<std::size_t>(first[1] - '0')];
    chosen.set_online(false);
    const std::string second = pick_one(f.r, "t/x");
    EXPECT_NE(second, first);
    chosen.set_online(true);
    for (int i = 0; i < 100; ++i)
        EXPECT_EQ(pick_one(f.r, test::name("t/", i)), second);

    // The chosen member leaves: another is chosen and kept.
    ASSERT_TRUE(
        f.r.unsubscribe(*f.members[static_cast<std::size_t>(second[1] - '0')], "$share/g/t/#"));
    const std::string third = pick_one(f.r, "t/x");
    EXPECT_NE(third, second);
    for (int i = 0; i < 100; ++i)
        EXPECT_EQ(pick_one(f.r, test::name("t/", i)), third);
}

TEST(router_shared_strategy, sticky_keeps_an_offline_choice_when_nobody_is_online) {
    group_fixture f(strategy::sticky, 3);
    const std::string first = pick_one(f.r, "t/x");
    for (auto& m : f.members)
        m->set_online(false);
    for (int i = 0; i < 20; ++i)
        EXPECT_EQ(pick_one(f.r, "t/x"), first);
}

TEST(router_shared_strategy, hash_clientid_is_stable_per_publisher) {
    group_fixture f(strategy::hash_clientid, 4);
    std::map<std::string, int> members_used;
    for (int p = 0; p < 100; ++p) {
        const std::string publisher = test::name("client-", p);
        const std::string chosen = pick_one(f.r, "t/a", "g", publisher);
        ++members_used[chosen];
        for (int i = 0; i < 5; ++i) {  // same publisher, any topic: same member
            EXPECT_EQ(pick_one(f.r, test::name("t/", i), "g", publisher), chosen);
        }
    }
    EXPECT_GE(members_used.size(), 3u);  // 100 publishers spread over the 4 members
}

TEST(router_shared_strategy, hash_topic_is_stable_per_topic) {
    group_fixture f(strategy::hash_topic, 4);
    std::map<std::string, int> members_used;
    for (int t = 0; t < 100; ++t) {
        const std::string topic = test::name("t/", t);
        const std::string chosen = pick_one(f.r, topic, "g", "p0");
        ++members_used[chosen];
        for (int i = 0; i < 5; ++i) {  // same topic, any publisher: same member
            EXPECT_EQ(pick_one(f.r, topic, "g", test::name("p", i)), chosen);
        }
    }
    EXPECT_GE(members_used.size(), 3u);
}

TEST(router_shared_strategy, hash_moves_only_away_from_an_offline_member) {
    group_fixture f(strategy::hash_clientid, 4);
    const std::string chosen = pick_one(f.r, "t/a", "g", "client-x");
    test_subscriber& m = *f.members[static_cast<std::size_t>(chosen[1] - '0')];
    m.set_online(false);
    const std::string moved = pick_one(f.r, "t/a", "g", "client-x");
    EXPECT_NE(moved, chosen);
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(pick_one(f.r, "t/a", "g", "client-x"), moved);
    m.set_online(true);
    EXPECT_EQ(pick_one(f.r, "t/a", "g", "client-x"), chosen);
}

}  // namespace
}  // namespace rmqtt::broker

namespace rmqtt::broker {
namespace {

// sticky_cache_size bounds the remembered choices: the least recently used one is forgotten.
TEST(router_shared_strategy, sticky_cache_size_forgets_the_least_recently_used_choice) {
    auto s = plugins::make_share_strategy(strategy::sticky, 2);
    s->remember("g1", "t/#", "m1");
    s->remember("g2", "t/#", "m2");
    EXPECT_EQ(s->remembered("g1", "t/#"), "m1");  // g1 is now the most recently used
    s->remember("g3", "t/#", "m3");               // evicts g2
    EXPECT_EQ(s->remembered("g1", "t/#"), "m1");
    EXPECT_EQ(s->remembered("g2", "t/#"), "");
    EXPECT_EQ(s->remembered("g3", "t/#"), "m3");
    s->remember("g3", "t/#", "m4");  // a new choice replaces the old one
    EXPECT_EQ(s->remembered("g3", "t/#"), "m4");
}

}  // namespace
}  // namespace rmqtt::broker
