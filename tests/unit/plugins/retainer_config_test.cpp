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

// The retainer's own store location (RMQTT's storage.sled.*, storage.redis.*): rmqttd keeps
// retained messages in the session store (or in memory), so RMQTT's files load and the keys are
// reported as not used, whatever the type.
TEST(retainer_config, OwnStoreLocationIsAcceptedAndReportedUnused) {
    const char* keys[] = {
        "storage.sled.path = \"/r/{node}\"\n", "storage.sled.cache_capacity = \"3G\"\n",
        "storage.redis.url = \"redis://127.0.0.1:6379/\"\n", "storage.redis.prefix = \"retain\"\n"};
    for (const char* key : keys) {
        const std::string name = std::string(key).substr(0, std::string(key).find(' '));
        for (const char* type : {"ram", "sled", "rocksdb", "redis"}) {
            SCOPED_TRACE(std::string(type) + ": " + name);
            const plugin_file f("rmqtt-retainer",
                                std::string("storage.type = \"") + type + "\"\n" + key);
            (void)f.parse(parse_retainer_config);
            ASSERT_EQ(f.warnings().size(), 1u) << f.all_warnings();
            EXPECT_NE(f.warnings()[0].find(name + ": accepted for RMQTT compatibility, not used"),
                      std::string::npos)
                << f.all_warnings();
        }
    }
    // Their values are still checked.
    const plugin_file bad("rmqtt-retainer", "storage.redis.url = \"http://x\"\n");
    EXPECT_NE(bad.error(parse_retainer_config).find("storage.redis.url: expected a URL"),
              std::string::npos);
}

TEST(retainer_config, PersistentTypesUseTheSessionStore) {
    const plugin_file sled("rmqtt-retainer",
                           "storage.type = \"sled\"\nmax_payload_size = \"2MB\"\n");
    const auto c = sled.parse(parse_retainer_config);
    EXPECT_EQ(c.type, retainer_config::engine::rocksdb);
    EXPECT_TRUE(c.type_was_sled);
    EXPECT_EQ(c.max_payload_size, 2u << 20);
    EXPECT_TRUE(sled.warnings().empty()) << sled.all_warnings();
    // The rmqttd-only storage.rocksdb.* keys are gone: reported like any unknown key.
    const plugin_file rocksdb("rmqtt-retainer",
                              "storage.type = \"rocksdb\"\nstorage.rocksdb.path = \"x\"\n");
    EXPECT_EQ(rocksdb.parse(parse_retainer_config).type, retainer_config::engine::rocksdb);
    EXPECT_TRUE(rocksdb.has_warning("storage.rocksdb: unknown key")) << rocksdb.all_warnings();
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
