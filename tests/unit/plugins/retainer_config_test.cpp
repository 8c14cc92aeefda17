// rmqtt-retainer.toml as parse_retainer_config reads it.
#include "retainer/retainer_config.hpp"

#include <gtest/gtest.h>

#include <string>

#include "plugin_config_test_util.hpp"

namespace {

using rmqtt::broker::config_section;
using rmqtt::plugins::parse_retainer_config;
using rmqtt::plugins::retainer_config;
using rmqtt::test::bad_plugin_case;
using rmqtt::test::plugin_file;

TEST(retainer_config, DefaultsWithoutAFile) {
    const auto c = parse_retainer_config(config_section{});
    EXPECT_EQ(c.type, retainer_config::engine::ram);
    EXPECT_EQ(c.max_retained_messages, 0u);
    EXPECT_EQ(c.max_payload_size, 1024u * 1024u);
    EXPECT_FALSE(c.retained_message_ttl.has_value());
}

TEST(retainer_config, UnknownKeysNameFileAndKey) {
    const plugin_file f("rmqtt-retainer", "max_retained = 5\n");
    (void)f.parse(parse_retainer_config);
    EXPECT_TRUE(f.has_warning(f.path() + ": max_retained: unknown")) << f.all_warnings();
}

TEST(retainer_config, ErrorsNameFileKeyAndAcceptedForm) {
    const bad_plugin_case cases[] = {
        {"max_payload_size = \"big\"\n", "max_payload_size", "a size such as", "\"big\""},
        {"storage.type = \"redis-cluster\"\n", "storage.type",
         "one of \"ram\" \"rocksdb\" \"sled\" \"redis\"", "\"redis-cluster\""},
        {"retained_message_ttl = \"forever\"\n", "retained_message_ttl", "a duration such as",
         "\"forever\""},
    };
    rmqtt::test::expect_bad_cases("rmqtt-retainer", cases, parse_retainer_config);
}

}  // namespace
