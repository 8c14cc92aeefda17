// The concurrency rules of router.hpp and retained_index.hpp: match() from many threads under
// the shared lock while others subscribe / unsubscribe (or set / erase). Meant to be run under
// TSan too (-DRMQTT_SANITIZE=thread). Every loop is bounded by a count.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "retainer/retained_index.hpp"
#include "routing/router.hpp"
#include "shared_subscription/share_strategies.hpp"
#include "test_subscriber.hpp"

namespace rmqtt::broker {
namespace {

using plugins::retained_index;
using test::make_sub;
using test::test_subscriber;

protocol::subscription_options qos(protocol::qos q) {
    protocol::subscription_options o;
    o.max_qos = q;
    return o;
}

class router_concurrency
    : public ::testing::TestWithParam<plugins::shared_subscription_config::strategy> {};

INSTANTIATE_TEST_SUITE_P(
    router_strategies, router_concurrency,
    ::testing::Values(plugins::shared_subscription_config::strategy::round_robin,
                      plugins::shared_subscription_config::strategy::sticky,
                      plugins::shared_subscription_config::strategy::random,
                      plugins::shared_subscription_config::strategy::hash_topic,
                      plugins::shared_subscription_config::strategy::round_robin_per_group));

TEST_P(router_concurrency, matchers_and_mutators) {
    constexpr int matchers = 3;
    constexpr int mutators = 2;
    constexpr int match_iterations = 4000;
    constexpr int mutate_iterations = 3000;

    router r(plugins::make_share_strategy(GetParam()));
    // Permanent: always matched, whatever the churn around them.
    auto permanent = make_sub("permanent");
    auto member = make_sub("member");
    ASSERT_TRUE(r.subscribe(permanent, "perm/+/y", qos(protocol::qos::at_least_once), 42));
    ASSERT_TRUE(r.subscribe(member, "$share/g/perm/#", qos(protocol::qos::at_most_once), 0));

    std::vector<std::vector<std::shared_ptr<test_subscriber>>> churners(mutators);
    for (int m = 0; m < mutators; ++m) {
        for (int i = 0; i < 6; ++i) {
            churners[static_cast<std::size_t>(m)].push_back(
                make_sub(test::name("churn-", m * 100 + i)));
        }
    }
    const char* churn_filters[] = {"perm/+/y",          "perm/#", "$share/g/perm/#",
                                   "$share/h/perm/x/+", "+/x/y",  "perm/x/y/z"};

    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < matchers; ++t) {
        threads.emplace_back([&, t] {
            std::vector<route_target> out;
            for (int i = 0; i < match_iterations; ++i) {
                out.clear();
                r.match("perm/x/y", test::name("pub-", t), out);
                int permanent_seen = 0;
                int g_picks = 0;
                for (const auto& target : out) {
                    if (target.share_group == "g") ++g_picks;
                    if (target.sub == permanent && target.share_group.empty()) {
                        ++permanent_seen;
                        if (target.max_qos != protocol::qos::at_least_once ||
                            target.subscription_ids != std::vector<std::uint32_t>{42}) {
                            ++failures;
                        }
                    }
                }
                // The permanent subscriber exactly once; group g always has `member`, so
                // exactly one pick for it.
                if (permanent_seen != 1 || g_picks != 1) ++failures;
                (void)r.subscription_count();
            }
        });
    }
    for (int m = 0; m < mutators; ++m) {
        threads.emplace_back([&, m] {
            test::rng rnd(static_cast<std::uint64_t>(m) + 1);
            auto& mine = churners[static_cast<std::size_t>(m)];
            for (int i = 0; i < mutate_iterations; ++i) {
                auto& s = mine[rnd.below(mine.size())];
                const char* f = churn_filters[rnd.below(std::size(churn_filters))];
                if (rnd.below(2) == 0) {
                    r.subscribe(s, f, qos(protocol::qos::exactly_once), 7);
                } else {
                    r.unsubscribe(*s, f);
                }
                // Flip the online state too: strategies read it concurrently.
                s->set_online(rnd.below(3) != 0);
                if (i % 500 == 0) member->set_online(!member->is_online());
            }
            for (auto& s : mine) {
                for (const char* f : churn_filters)
                    r.unsubscribe(*s, f);
            }
        });
    }
    for (auto& t : threads)
        t.join();

    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(r.subscription_count(), 2u);
    EXPECT_EQ(r.shared_subscription_count(), 1u);
    EXPECT_EQ(r.topic_filter_count(), 2u);
}

TEST(router_retained_concurrency, matchers_and_writers) {
    constexpr int readers = 3;
    constexpr int writers = 2;
    constexpr int iterations = 4000;
    retained_index idx;
    auto permanent = std::make_shared<message>();
    permanent->topic = std::string("r/permanent");
    permanent->payload = std::string(1, 'p');
    ASSERT_EQ(idx.set(permanent), retained_index::set_result::stored);

    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < readers; ++t) {
        threads.emplace_back([&] {
            std::vector<message_ptr> out;
            for (int i = 0; i < iterations; ++i) {
                out.clear();
                idx.match("r/#", 0, out);
                int seen = 0;
                for (const auto& m : out) {
                    if (m->topic == "r/permanent") ++seen;
                    if (m->payload.empty()) ++failures;  // deletes are never stored
                }
                if (seen != 1) ++failures;
            }
        });
    }
    for (int w = 0; w < writers; ++w) {
        threads.emplace_back([&, w] {
            test::rng rnd(static_cast<std::uint64_t>(w) + 100);
            for (int i = 0; i < iterations; ++i) {
                auto m = std::make_shared<message>();
                m->topic = test::name("r/", static_cast<std::size_t>(w) * 100 + rnd.below(20));
                m->payload = std::string(rnd.below(2) == 0 ? 0u : 1u, 'v');  // empty: a delete
                (void)idx.set(std::move(m));
            }
        });
    }
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(failures.load(), 0);
    std::vector<message_ptr> out;
    idx.match("r/permanent", 0, out);
    EXPECT_EQ(out.size(), 1u);
}

}  // namespace
}  // namespace rmqtt::broker
