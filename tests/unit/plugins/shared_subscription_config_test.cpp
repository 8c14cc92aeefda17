// rmqtt-shared-subscription.toml as parse_shared_subscription_config reads it.
#include "shared_subscription/shared_subscription_config.hpp"

#include <gtest/gtest.h>

#include <string>

#include "plugin_config_test_util.hpp"

namespace {

using rmqtt::broker::config_section;
using rmqtt::plugins::parse_shared_subscription_config;
using rmqtt::plugins::shared_subscription_config;
using rmqtt::test::bad_plugin_case;
using rmqtt::test::plugin_file;

TEST(shared_subscription_config, DefaultsWithoutAFile) {
    const auto c = parse_shared_subscription_config(config_section{});
    EXPECT_EQ(c.strat, shared_subscription_config::strategy::round_robin);
    EXPECT_EQ(c.sticky_cache_size, 100000u);
}

TEST(shared_subscription_config, UnknownKeysNameFileAndKey) {
    const plugin_file f("rmqtt-shared-subscription", "strategy = \"random\"\nfoo = 1\n");
    const auto c = f.parse(parse_shared_subscription_config);
    EXPECT_TRUE(f.has_warning(f.path() + ": foo: unknown")) << f.all_warnings();
    EXPECT_EQ(c.strat, shared_subscription_config::strategy::random);
}

TEST(shared_subscription_config, ErrorsNameFileKeyAndAcceptedForm) {
    const bad_plugin_case cases[] = {
        {"strategy = \"fastest\"\n", "strategy", "\"round_robin\"", "\"fastest\""},
        {"sticky_cache_size = 0\n", "sticky_cache_size", "an integer >= 1", "got 0"},
    };
    rmqtt::test::expect_bad_cases("rmqtt-shared-subscription", cases,
                                  parse_shared_subscription_config);
}

}  // namespace
