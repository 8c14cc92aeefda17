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

// The retainer's own store location (RMQTT's storage.sled.*, storage.redis.*): retained messages
// are kept in the session store, so the keys are refused where they would be expected to work,
// and reported as unused with "ram".
TEST(retainer_config, OwnStoreLocationIsRefusedUnlessRam) {
    const char* keys[] = {
        "storage.sled.path = \"/r/{node}\"\n", "storage.sled.cache_capacity = \"3G\"\n",
        "storage.redis.url = \"redis://127.0.0.1:6379/\"\n", "storage.redis.prefix = \"retain\"\n"};
    for (const char* key : keys) {
        const std::string name = std::string(key).substr(0, std::string(key).find(' '));
        for (const char* type : {"sled", "rocksdb", "redis"}) {
            SCOPED_TRACE(std::string(type) + ": " + name);
            const plugin_file f("rmqtt-retainer",
                                std::string("storage.type = \"") + type + "\"\n" + key);
            const std::string msg = f.error(parse_retainer_config);
            EXPECT_NE(msg.find(f.path() + ": " + name + ": "), std::string::npos) << msg;
            EXPECT_NE(msg.find("retained messages are stored in the session store; its location "
                               "is set in rmqtt-session-storage.toml"),
                      std::string::npos)
                << msg;
        }
        SCOPED_TRACE(name);
        const plugin_file ram("rmqtt-retainer", std::string("storage.type = \"ram\"\n") + key);
        const auto c = ram.parse(parse_retainer_config);
        EXPECT_EQ(c.type, retainer_config::engine::ram);
        ASSERT_EQ(ram.warnings().size(), 1u) << ram.all_warnings();
        EXPECT_NE(ram.warnings()[0].find(name + ": not used"), std::string::npos)
            << ram.all_warnings();
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
