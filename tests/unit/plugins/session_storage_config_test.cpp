// rmqtt-session-storage.toml as parse_session_storage_config reads it.
#include "session_storage/session_storage_config.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "plugin_config_test_util.hpp"

namespace {

using namespace std::chrono_literals;
using rmqtt::broker::config_section;
using rmqtt::broker::session_storage_config;
using rmqtt::plugins::parse_session_storage_config;
using rmqtt::test::bad_plugin_case;
using rmqtt::test::plugin_file;

TEST(session_storage_config, DefaultsWithoutAFile) {
    config_section none;
    none.set_node_id(5);
    const auto c = parse_session_storage_config(none);
    EXPECT_EQ(c.type, session_storage_config::engine::rocksdb);
    EXPECT_EQ(c.rocksdb_path, "./data/session/5");  // {node}: the section's node id
    EXPECT_EQ(c.redis_prefix, "session-5");
    EXPECT_EQ(c.ack, session_storage_config::ack_mode::durable);
    EXPECT_EQ(c.commit_window, 500us);
}

TEST(session_storage_config, OwnKeysWithNodeReplaced) {
    const plugin_file f("rmqtt-session-storage",
                        "storage.type = \"redis\"\n"
                        "storage.redis.url = \"redis://h:1/\"\n"
                        "storage.redis.prefix = \"p-{node}\"\n"
                        "ack = \"async\"\n"
                        "sync = \"always\"\n"
                        "commit_window = \"2ms\"\n"
                        "commit_max_ops = 100\n"
                        "backend_timeout = \"0s\"\n"
                        "max_pending_bytes = \"8MB\"\n");
    const auto c = f.parse(parse_session_storage_config);
    EXPECT_TRUE(f.warnings().empty()) << f.all_warnings();
    EXPECT_EQ(c.type, session_storage_config::engine::redis);
    EXPECT_EQ(c.redis_url, "redis://h:1/");
    EXPECT_EQ(c.redis_prefix, "p-1");  // node 1 unless node.id or --id says otherwise
    EXPECT_EQ(c.ack, session_storage_config::ack_mode::async);
    EXPECT_EQ(c.sync, session_storage_config::sync_mode::always);
    EXPECT_EQ(c.commit_window, 2ms);
    EXPECT_EQ(c.commit_max_ops, 100u);
    EXPECT_EQ(c.backend_timeout, 0ms);
    EXPECT_EQ(c.max_pending_bytes, 8u << 20);
}

TEST(session_storage_config, HeartbeatInterval) {
    EXPECT_EQ(parse_session_storage_config(config_section{}).heartbeat_interval, 2s);
    const plugin_file f("rmqtt-session-storage", "heartbeat_interval = \"500ms\"\n");
    EXPECT_EQ(f.parse(parse_session_storage_config).heartbeat_interval, 500ms);
    EXPECT_TRUE(f.warnings().empty()) << f.all_warnings();
}

TEST(session_storage_config, UnknownKeysNameFileAndKey) {
    const plugin_file f("rmqtt-session-storage", "storage.rocksdb.pth = \"x\"\n");
    (void)f.parse(parse_session_storage_config);
    EXPECT_TRUE(f.has_warning(f.path() + ": storage.rocksdb.pth: unknown key")) << f.all_warnings();
}

TEST(session_storage_config, ErrorsNameFileKeyAndAcceptedForm) {
    const bad_plugin_case cases[] = {
        {"storage.type = \"redis-cluster\"\n", "storage.type", "\"rocksdb\"",
         "\"redis-cluster\" is not supported yet"},
        {"storage.type = \"mongodb\"\n", "storage.type", "one of \"rocksdb\" \"sled\" \"redis\"",
         "\"mongodb\""},
        {"ack = \"sometimes\"\n", "ack", "one of \"durable\" \"async\"", "\"sometimes\""},
        {"sync = \"fsync\"\n", "sync", "one of \"none\" \"always\"", "\"fsync\""},
        {"commit_window = \"2s\"\n", "commit_window", "at most 1s", "\"2s\""},
        {"commit_max_ops = 0\n", "commit_max_ops", "an integer from 1 to 1000000", "got 0"},
        {"max_pending_bytes = 0\n", "max_pending_bytes", "a size such as", "got 0"},
        {"storage.redis.url = \"http://x\"\n", "storage.redis.url", "\"redis://127.0.0.1:6379/\"",
         "\"http://x\""},
        {"storage.sled.cache_capacity = \"lots\"\n", "storage.sled.cache_capacity",
         "a size such as", "\"lots\""},
        {"heartbeat_interval = \"0s\"\n", "heartbeat_interval", "greater than 0", "\"0s\""},
        {"heartbeat_interval = \"500us\"\n", "heartbeat_interval", "in whole milliseconds",
         "\"500us\""},
    };
    rmqtt::test::expect_bad_cases("rmqtt-session-storage", cases, parse_session_storage_config);
}

}  // namespace
