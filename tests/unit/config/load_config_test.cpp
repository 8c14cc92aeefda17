// load_config: the shipped files, RMQTT's own files, the defaults and every rule of the loader.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "config_test_util.hpp"
#include "rmqtt/broker/config.hpp"

namespace {

using namespace std::chrono_literals;
using rmqtt::broker::command_line;
using rmqtt::broker::config;
using rmqtt::broker::config_error;
using rmqtt::broker::listener_kind;
using rmqtt::broker::load_config;
using rmqtt::broker::log_target;
using rmqtt::broker::parse_config_text;
using rmqtt::broker::session_storage_config;
using rmqtt::plugins::retainer_config;
using rmqtt::plugins::shared_subscription_config;
using rmqtt::test::config_data_dir;
using rmqtt::test::config_error_of;
using rmqtt::test::config_tree;
using rmqtt::test::count_warnings;
using rmqtt::test::find_listener;
using rmqtt::test::has_warning;
using rmqtt::test::scoped_chdir;
using rmqtt::test::scoped_env;
using rmqtt::test::source_dir;

// ---------------------------------------------------------------------------------------------
// The files rmqttd ships

TEST(config_shipped, LoadsWithNoWarnings) {
    scoped_chdir cwd(source_dir());  // plugins.dir = "etc/plugins/" is relative, as `make run` uses
    scoped_env env("RMQTT_PLUGINS_DEFAULT_STARTUPS", std::nullopt);
    command_line cl;
    cl.config_file = "etc/rmqtt.toml";
    const auto cfg = rmqtt::test::load_all(cl);

    EXPECT_TRUE(cfg.warnings.empty()) << rmqtt::test::all_warnings(cfg);
    const std::vector<std::string> files{"etc/rmqtt.toml",
                                         "etc/plugins/rmqtt-session-storage.toml",
                                         "etc/plugins/rmqtt-retainer.toml",
                                         "etc/plugins/rmqtt-shared-subscription.toml",
                                         "etc/plugins/rmqtt-auth-scram.toml",
                                         "etc/plugins/rmqtt-acl.toml"};
    EXPECT_EQ(cfg.source_files, files);

    EXPECT_EQ(cfg.node_id, 1u);
    EXPECT_EQ(cfg.log.to, log_target::console);
    EXPECT_EQ(cfg.log.level, "info");
    EXPECT_EQ(cfg.plugins_dir, "etc/plugins/");
    EXPECT_EQ(cfg.plugins_default_startups,
              (std::vector<std::string>{"rmqtt-retainer", "rmqtt-shared-subscription",
                                        "rmqtt-session-storage", "rmqtt-acl", "rmqtt-http-api"}));

    ASSERT_EQ(cfg.listeners.size(), 3u);
    const auto* ext = find_listener(cfg, "tcp.external");
    ASSERT_NE(ext, nullptr);
    EXPECT_EQ(ext->host, "0.0.0.0");
    EXPECT_EQ(ext->port, 1883);
    EXPECT_TRUE(ext->allow_anonymous);
    EXPECT_EQ(ext->max_packet_size, 1024u * 1024u);
    EXPECT_EQ(ext->handshake_timeout, 30s);
    EXPECT_EQ(ext->message_retry_interval, 20s);
    EXPECT_EQ(ext->max_topic_aliases, 32);
    EXPECT_EQ(ext->mqueue_rate_limit_burst, 1000u);
    EXPECT_EQ(ext->max_inflight, 65535);
    EXPECT_TRUE(ext->mqueue_backpressure);
    const auto* internal = find_listener(cfg, "tcp.internal");
    ASSERT_NE(internal, nullptr);
    EXPECT_EQ(internal->port, 11883);
    EXPECT_EQ(internal->max_inflight, 65535);
    EXPECT_EQ(internal->backlog, 512);
    // ws.external as RMQTT ships it: the address, everything else at the defaults.
    const auto* ws = find_listener(cfg, "ws.external");
    ASSERT_NE(ws, nullptr);
    EXPECT_EQ(ws->kind, listener_kind::ws);
    EXPECT_EQ(ws->port, 8080);
    EXPECT_FALSE(ws->allow_anonymous);
    EXPECT_EQ(ws->ws_path, "/mqtt");

    EXPECT_EQ(cfg.session_storage.type, session_storage_config::engine::rocksdb);
    EXPECT_FALSE(cfg.session_storage.type_was_sled);
    EXPECT_EQ(cfg.session_storage.rocksdb_path, "./data/session/1");
    EXPECT_EQ(cfg.session_storage.ack, session_storage_config::ack_mode::durable);
    EXPECT_EQ(cfg.session_storage.sync, session_storage_config::sync_mode::none);
    EXPECT_EQ(cfg.session_storage.commit_window, 500us);
    EXPECT_EQ(cfg.retainer.type, retainer_config::engine::ram);
    EXPECT_EQ(cfg.retainer.retained_message_ttl, 0ms);
    EXPECT_EQ(cfg.shared_subscription.strat, shared_subscription_config::strategy::round_robin);
    // rmqtt-acl.toml: RMQTT's default rules, watched every 5 s.
    EXPECT_TRUE(cfg.acl.disconnect_if_pub_rejected);
    EXPECT_EQ(cfg.acl.rules.size(), 4u);
    EXPECT_EQ(cfg.acl.reload_interval, 5s);
}

TEST(config_shipped, FoundOnTheDefaultSearchPath) {
    scoped_chdir cwd(source_dir());  // ./etc/rmqtt.toml is the first place looked at
    const auto cfg = rmqtt::test::load_all(command_line{});
    ASSERT_FALSE(cfg.source_files.empty());
    EXPECT_EQ(cfg.source_files.front(), "./etc/rmqtt.toml");
    EXPECT_EQ(cfg.listeners.size(), 3u);
}

// ---------------------------------------------------------------------------------------------
// RMQTT's own files (tests/unit/config/data, copied unchanged from rmqtt/rmqtt)

TEST(config_rmqtt_files, ShippedRmqttTomlAndPluginsLoad) {
    scoped_chdir cwd(config_data_dir() + "/rmqtt");  // its plugins.dir is "rmqtt-plugins/"
    scoped_env env("RMQTT_PLUGINS_DEFAULT_STARTUPS", std::nullopt);
    command_line cl;
    cl.config_file = "rmqtt.toml";
    const auto cfg = rmqtt::test::load_all(cl);

    EXPECT_EQ(cfg.source_files.size(), 5u);
    EXPECT_EQ(cfg.node_id, 1u);
    EXPECT_EQ(cfg.log.to, log_target::both);
    EXPECT_EQ(cfg.plugins_default_startups,
              (std::vector<std::string>{"rmqtt-web-hook", "rmqtt-http-api"}));

    ASSERT_EQ(cfg.listeners.size(), 5u);
    const auto* ext = find_listener(cfg, "tcp.external");
    ASSERT_NE(ext, nullptr);
    EXPECT_EQ(ext->port, 1883);
    EXPECT_FALSE(ext->allow_anonymous);
    EXPECT_EQ(ext->max_packet_size, 1024u * 1024u);  // "1m"
    EXPECT_EQ(ext->handshake_timeout, 30s);
    EXPECT_EQ(ext->message_retry_interval, 20s);
    EXPECT_EQ(ext->message_expiry_interval, 5min);
    EXPECT_EQ(ext->session_expiry_interval, 2h);
    EXPECT_EQ(ext->max_topic_aliases, 32);
    EXPECT_EQ(ext->mqueue_rate_limit_burst, 1000u);
    EXPECT_EQ(ext->mqueue_rate_limit_period, 1s);
    const auto* tls = find_listener(cfg, "tls.external");
    ASSERT_NE(tls, nullptr);
    EXPECT_EQ(tls->port, 8883);
    EXPECT_EQ(tls->cert, "./rmqtt-bin/rmqtt.pem");
    EXPECT_EQ(tls->key, "./rmqtt-bin/rmqtt.key");
    ASSERT_NE(find_listener(cfg, "ws.external"), nullptr);
    EXPECT_EQ(find_listener(cfg, "ws.external")->port, 8080);
    ASSERT_NE(find_listener(cfg, "wss.external"), nullptr);
    EXPECT_EQ(find_listener(cfg, "wss.external")->port, 8443);
    EXPECT_EQ(find_listener(cfg, "tcp.internal")->port, 11883);

    // rmqtt-session-storage.toml: redis, with sled keys (gc_at_* unused by rmqttd).
    EXPECT_EQ(cfg.session_storage.type, session_storage_config::engine::redis);
    EXPECT_EQ(cfg.session_storage.redis_url, "redis://127.0.0.1:6379/");
    EXPECT_EQ(cfg.session_storage.redis_prefix, "session-1");
    EXPECT_TRUE(has_warning(cfg, "storage.sled.gc_at_hour: not used by rmqttd"));
    // rmqtt-retainer.toml: sled, so retained messages are kept in the session store; RMQTT's own
    // store location for them is accepted and reported as not used.
    EXPECT_EQ(cfg.retainer.type, retainer_config::engine::rocksdb);
    EXPECT_TRUE(has_warning(cfg,
                            "rmqtt-retainer.toml: storage.sled.path: accepted for RMQTT "
                            "compatibility, not used"));
    EXPECT_TRUE(cfg.retainer.type_was_sled);
    EXPECT_EQ(cfg.retainer.max_payload_size, 1024u * 1024u);
    EXPECT_FALSE(cfg.retainer.retained_message_ttl.has_value());
    // rmqtt-shared-subscription.toml
    EXPECT_EQ(cfg.shared_subscription.strat, shared_subscription_config::strategy::sticky);
    EXPECT_EQ(cfg.shared_subscription.sticky_cache_size, 100000u);
    // rmqtt-acl.toml: RMQTT's shipped rules.
    EXPECT_TRUE(cfg.acl.disconnect_if_pub_rejected);
    ASSERT_EQ(cfg.acl.rules.size(), 4u);
    EXPECT_EQ(cfg.acl.rules[1].who.ipaddr->prefix, 32);
    EXPECT_TRUE(cfg.acl.rules[2].topics[1].eq);

    // What rmqttd does not use is reported, once per section.
    EXPECT_EQ(count_warnings(cfg, "rmqtt.toml: task: accepted for RMQTT compatibility"), 1u);
    EXPECT_EQ(count_warnings(cfg, "rmqtt.toml: rpc: accepted for RMQTT compatibility"), 1u);
    EXPECT_EQ(count_warnings(cfg, "rmqtt.toml: node.busy: accepted for RMQTT compatibility"), 1u);
    EXPECT_TRUE(has_warning(cfg, "mqtt.delayed_publish_max: accepted for RMQTT compatibility"));
    EXPECT_TRUE(has_warning(cfg, "listener.tcp.external.workers: not used by rmqttd"));
    EXPECT_TRUE(has_warning(cfg, "listener.tcp.internal.retain_available: not used by rmqttd"));
    EXPECT_FALSE(has_warning(cfg, "unknown key")) << rmqtt::test::all_warnings(cfg);
}

TEST(config_rmqtt_files, EarlyReleaseRmqttTomlLoads) {
    scoped_chdir cwd(config_data_dir() + "/rmqtt-old");  // no plugin directory: defaults
    command_line cl;
    cl.config_file = "rmqtt.toml";
    const auto cfg = rmqtt::test::load_all(cl);
    EXPECT_EQ(cfg.source_files.size(), 1u);
    ASSERT_EQ(cfg.listeners.size(), 3u);
    const auto* ext = find_listener(cfg, "tcp.external");
    ASSERT_NE(ext, nullptr);
    EXPECT_EQ(ext->min_keepalive, 30);
    EXPECT_TRUE(ext->allow_anonymous);
    EXPECT_EQ(find_listener(cfg, "tcp.internal")->handshake_timeout, 15s);
    EXPECT_TRUE(has_warning(cfg, "listener.tcp.external.idle_timeout: not used by rmqttd"));
    // Removed from RMQTT since; rmqttd bounds inbound QoS 2 state with it.
    EXPECT_EQ(ext->max_awaiting_rel, 100);
    EXPECT_EQ(find_listener(cfg, "tcp.internal")->max_awaiting_rel, 1000);
    EXPECT_TRUE(has_warning(cfg, "listener.tcp.internal.max_handshake_rate: not used by rmqttd"));
    EXPECT_TRUE(cfg.plugins_default_startups.empty());
    EXPECT_EQ(cfg.session_storage.rocksdb_path, "./data/session/1");  // defaults
}

TEST(config_rmqtt_files, DocumentedPluginFilesLoad) {
    const config_tree tree("plugins.dir = \"" + config_data_dir() +
                           "/rmqtt-docs/rmqtt-plugins\"\n"
                           "plugins.default_startups = [\"rmqtt-session-storage\"]\n");
    const auto cfg = tree.load(4);
    EXPECT_EQ(cfg.source_files.size(), 3u);  // main, session storage, retainer
    EXPECT_EQ(cfg.session_storage.type, session_storage_config::engine::rocksdb);
    EXPECT_TRUE(cfg.session_storage.type_was_sled);
    EXPECT_EQ(cfg.session_storage.rocksdb_path, "/var/log/rmqtt/.cache/session/4");
    EXPECT_EQ(cfg.session_storage.rocksdb_cache_capacity, 3ULL << 30);
    EXPECT_EQ(cfg.session_storage.redis_prefix, "session-4");
    EXPECT_TRUE(has_warning(cfg, "storage.redis-cluster: not used by rmqttd"));
    EXPECT_EQ(cfg.retainer.type, retainer_config::engine::ram);
    EXPECT_EQ(cfg.retainer.retained_message_ttl, 0ms);
    EXPECT_TRUE(has_warning(cfg, "rmqtt-retainer.toml: batch_messages_limit: not used by rmqttd"));
    EXPECT_FALSE(has_warning(cfg, "unknown key")) << rmqtt::test::all_warnings(cfg);
}

// Every key of RMQTT's current rmqtt.toml (shared/reference/rmqtt-surface.md 1.4) in one file.
TEST(config_rmqtt_files, EveryCurrentRmqttKeyIsAccepted) {
    const config_tree tree(R"(
task.exec_workers = 2000
task.exec_queue_max = 300_000
node.id = 2
node.cookie = "rmqttsecretcookie"
node.busy.check_enable = false
node.busy.update_interval = "2s"
node.busy.loadavg = 80.0
node.busy.cpuloadavg = 90.0
node.busy.handshaking = 0
rpc.server_addr = "0.0.0.0:5363"
rpc.reuseaddr = true
rpc.reuseport = false
log.to = "file"
log.level = "warn"
log.dir = "/var/log/rmqtt"
log.file = "rmqtt.log"
plugins.default_startups = ["rmqtt-retainer", "rmqtt-shared-subscription", "rmqtt-http-api"]
plugins.disabled_default_startups = ["rmqtt-http-api"]
mqtt.delayed_publish_max = 100_000
mqtt.delayed_publish_immediate = true
mqtt.max_sessions = 5000
circuit_breaker.failure_rate_threshold = 0.35
circuit_breaker.sliding_window_type = "TimeBased"
circuit_breaker.sliding_window_size = 20
circuit_breaker.sliding_window_duration = "45s"
circuit_breaker.minimum_number_of_calls = 10
circuit_breaker.wait_duration_in_open = "30s"
circuit_breaker.slow_call_duration_threshold = "2s"
circuit_breaker.slow_call_rate_threshold = 1.0
listener.tcp.external.enable = true
listener.tcp.external.addr = "0.0.0.0:1883"
listener.tcp.external.workers = 8
listener.tcp.external.max_connections = 1024000
listener.tcp.external.max_handshaking_limit = 500
listener.tcp.external.handshake_timeout = "30s"
listener.tcp.external.max_packet_size = "1MB"
listener.tcp.external.backlog = 1024
listener.tcp.external.nodelay = true
listener.tcp.external.reuseaddr = true
listener.tcp.external.reuseport = true
listener.tcp.external.tcp_keepalive = false
listener.tcp.external.allow_anonymous = true
listener.tcp.external.allow_zero_keepalive = false
listener.tcp.external.min_keepalive = 10
listener.tcp.external.max_keepalive = 600
listener.tcp.external.keepalive_backoff = 0.75
listener.tcp.external.max_inflight = 16
listener.tcp.external.max_mqueue_len = 1000
listener.tcp.external.mqueue_rate_limit = "1000,1s"
listener.tcp.external.max_clientid_len = 65535
listener.tcp.external.max_qos_allowed = 1
listener.tcp.external.max_topic_levels = 8
listener.tcp.external.session_expiry_interval = "2h"
listener.tcp.external.max_session_expiry_interval = "1d"
listener.tcp.external.message_retry_interval = "20s"
listener.tcp.external.message_expiry_interval = "5m"
listener.tcp.external.max_subscriptions = 100
listener.tcp.external.shared_subscription = false
listener.tcp.external.max_topic_aliases = 32
listener.tcp.external.limit_subscription = false
listener.tcp.external.delayed_publish = false
listener.tcp.external.proxy_protocol = false
listener.tcp.external.proxy_protocol_timeout = "3s"
listener.tls.external.addr = "[::]:8883"
listener.tls.external.cross_certificate = true
listener.tls.external.cert = "./rmqtt-bin/rmqtt.fullchain.pem"
listener.tls.external.key = "./rmqtt-bin/rmqtt.key"
listener.tls.external.cert_cn_as_username = true
listener.tls.external.cert_subject_dn_as_username = false
listener.tls.external.collect_cert_info = false
listener.quic.external.addr = "0.0.0.0:9443"
listener.quic.external.idle_timeout = "120s"
)");
    const auto cfg = tree.load();
    EXPECT_EQ(cfg.node_id, 2u);
    EXPECT_EQ(cfg.log.to, log_target::file);
    EXPECT_EQ(cfg.log.level, "warn");
    EXPECT_EQ(cfg.max_sessions, 5000u);
    EXPECT_EQ(cfg.plugins_default_startups,
              (std::vector<std::string>{"rmqtt-retainer", "rmqtt-shared-subscription"}));
    ASSERT_EQ(cfg.listeners.size(), 2u);
    const auto& tcp = *find_listener(cfg, "tcp.external");
    EXPECT_TRUE(tcp.nodelay);
    EXPECT_TRUE(tcp.reuseport);
    EXPECT_FALSE(tcp.tcp_keepalive);
    EXPECT_FALSE(tcp.allow_zero_keepalive);
    EXPECT_EQ(tcp.min_keepalive, 10);
    EXPECT_EQ(tcp.max_keepalive, 600);
    EXPECT_EQ(tcp.max_qos_allowed, 1);
    EXPECT_EQ(tcp.max_topic_levels, 8u);
    EXPECT_EQ(tcp.max_session_expiry_interval, 24h);
    EXPECT_EQ(tcp.max_subscriptions, 100u);
    EXPECT_FALSE(tcp.shared_subscription);
    EXPECT_FALSE(tcp.limit_subscription);  // true is refused: config_errors.UnsupportedSwitches
    EXPECT_FALSE(tcp.delayed_publish);
    EXPECT_FALSE(tcp.proxy_protocol);
    EXPECT_EQ(tcp.proxy_protocol_timeout, 3s);
    const auto& tls = *find_listener(cfg, "tls.external");
    EXPECT_EQ(tls.host, "::");
    EXPECT_EQ(tls.port, 8883);
    EXPECT_TRUE(tls.cross_certificate);
    EXPECT_TRUE(tls.cert_cn_as_username);

    EXPECT_EQ(count_warnings(cfg, "circuit_breaker: accepted for RMQTT compatibility"), 1u);
    EXPECT_TRUE(has_warning(cfg, "node.cookie: not used by rmqttd"));
    EXPECT_TRUE(has_warning(cfg, "listener.quic.external: QUIC listeners are not used by rmqttd"));
    EXPECT_TRUE(has_warning(cfg, "listener.tls.external.collect_cert_info: not used by rmqttd"));
    EXPECT_FALSE(has_warning(cfg, "unknown key")) << rmqtt::test::all_warnings(cfg);
}

// ---------------------------------------------------------------------------------------------
// Defaults, overrides, substitutions

TEST(config_load, NoFileMeansDefaultsAndOneDefaultListener) {
    const rmqtt::test::temp_dir empty("rmqtt-config-empty");
    scoped_chdir cwd(empty.path());  // no ./etc/rmqtt.toml, no ./rmqtt.toml here
    if (std::filesystem::exists("/etc/rmqtt/rmqtt.toml")) GTEST_SKIP() << "/etc/rmqtt exists";
    const auto cfg = rmqtt::test::load_all(command_line{});
    EXPECT_TRUE(cfg.source_files.empty());
    EXPECT_TRUE(has_warning(cfg, "using the defaults"));
    ASSERT_EQ(cfg.listeners.size(), 1u);
    EXPECT_EQ(cfg.listeners[0].id(), "tcp.external");
    EXPECT_EQ(cfg.listeners[0].host, "0.0.0.0");
    EXPECT_EQ(cfg.listeners[0].port, 1883);
    EXPECT_FALSE(cfg.listeners[0].allow_anonymous);  // RMQTT's code default
    EXPECT_EQ(cfg.session_storage.rocksdb_path, "./data/session/1");
}

TEST(config_load, DefaultListenerAddedWhenNoTcpOrTlsIsEnabled) {
    {
        const config_tree tree(
            "listener.ws.w.addr = \"0.0.0.0:8080\"\n"
            "listener.tcp.off.addr = \"0.0.0.0:1999\"\n"
            "listener.tcp.off.enable = false\n");
        const auto cfg = tree.load();
        ASSERT_EQ(cfg.listeners.size(), 2u);
        EXPECT_EQ(cfg.listeners[0].id(), "tcp.external");
        EXPECT_EQ(cfg.listeners[0].port, 1883);
        EXPECT_EQ(cfg.listeners[1].id(), "ws.w");
    }
    {
        const config_tree tree(
            "listener.tls.t.addr = \"127.0.0.1:8883\"\n"
            "listener.tls.t.cert = \"c.pem\"\n"
            "listener.tls.t.key = \"k.pem\"\n");
        const auto cfg = tree.load();
        ASSERT_EQ(cfg.listeners.size(), 1u);  // a TLS listener is enough
        EXPECT_EQ(cfg.listeners[0].id(), "tls.t");
        EXPECT_EQ(cfg.listeners[0].host, "127.0.0.1");
    }
}

TEST(config_load, DisabledListenersAreDroppedAndNotChecked) {
    const config_tree tree(
        "listener.tcp.a.addr = \"0.0.0.0:1883\"\n"
        "listener.tcp.b.addr = \"0.0.0.0:1883\"\n"  // same port, but disabled
        "listener.tcp.b.enable = false\n"
        "listener.tls.c.enable = false\n");  // no addr, no cert: fine when off
    const auto cfg = tree.load();
    ASSERT_EQ(cfg.listeners.size(), 1u);
    EXPECT_EQ(cfg.listeners[0].id(), "tcp.a");
}

TEST(config_load, IdReplacesNodeInPathsAndPrefixes) {
    const config_tree defaults("node.id = 3\n");
    {
        const auto cfg = defaults.load();  // node.id from the file
        EXPECT_EQ(cfg.node_id, 3u);
        EXPECT_EQ(cfg.session_storage.rocksdb_path, "./data/session/3");
    }
    {
        const auto cfg = defaults.load(7);  // --id 7 wins
        EXPECT_EQ(cfg.node_id, 7u);
        EXPECT_EQ(cfg.session_storage.rocksdb_path, "./data/session/7");
        EXPECT_EQ(cfg.session_storage.redis_prefix, "session-7");
    }
    // Every occurrence (the retainer has no location of its own: it uses the session store).
    const config_tree tree("node.id = 3\n", {{"rmqtt-session-storage",
                                              "storage.rocksdb.path = \"/r/{node}/x{node}\"\n"
                                              "storage.redis.prefix = \"p{node}-{node}\"\n"}});
    EXPECT_EQ(tree.load().session_storage.rocksdb_path, "/r/3/x3");
    EXPECT_EQ(tree.load(7).session_storage.rocksdb_path, "/r/7/x7");
    EXPECT_EQ(tree.load(7).session_storage.redis_prefix, "p7-7");
}

TEST(config_load, SledIsServedByRocksdbWithTheSledKeys) {
    const config_tree tree("", {{"rmqtt-session-storage",
                                 "storage.type = \"sled\"\n"
                                 "storage.sled.path = \"/var/lib/s/{node}\"\n"
                                 "storage.sled.cache_capacity = \"3G\"\n"
                                 "storage.rocksdb.path = \"/not/this\"\n"}});
    const auto cfg = tree.load(2);
    EXPECT_EQ(cfg.session_storage.type, session_storage_config::engine::rocksdb);
    EXPECT_TRUE(cfg.session_storage.type_was_sled);
    EXPECT_EQ(cfg.session_storage.rocksdb_path, "/var/lib/s/2");
    EXPECT_EQ(cfg.session_storage.rocksdb_cache_capacity, 3ULL << 30);
}

TEST(config_load, SessionStorageOwnKeys) {
    const config_tree tree("", {{"rmqtt-session-storage",
                                 "storage.type = \"redis\"\n"
                                 "storage.redis.url = \"redis://h:1/\"\n"
                                 "storage.redis.prefix = \"p-{node}\"\n"
                                 "ack = \"async\"\n"
                                 "sync = \"always\"\n"
                                 "commit_window = \"2ms\"\n"
                                 "commit_max_ops = 100\n"
                                 "backend_timeout = \"0s\"\n"
                                 "max_pending_bytes = \"8MB\"\n"}});
    const auto cfg = tree.load();
    EXPECT_TRUE(cfg.warnings.empty()) << rmqtt::test::all_warnings(cfg);
    const auto& s = cfg.session_storage;
    EXPECT_EQ(s.type, session_storage_config::engine::redis);
    EXPECT_EQ(s.redis_url, "redis://h:1/");
    EXPECT_EQ(s.redis_prefix, "p-1");
    EXPECT_EQ(s.ack, session_storage_config::ack_mode::async);
    EXPECT_EQ(s.sync, session_storage_config::sync_mode::always);
    EXPECT_EQ(s.commit_window, 2ms);
    EXPECT_EQ(s.commit_max_ops, 100u);
    EXPECT_EQ(s.backend_timeout, 0ms);
    EXPECT_EQ(s.max_pending_bytes, 8u << 20);
}

TEST(config_load, LogKeys) {
    const config_tree tree(
        "log.to = \"both\"\n"
        "log.level = \"debug\"\n"
        "log.dir = \"/tmp/x\"\n"
        "log.file = \"b.log\"\n"
        "log.format = \"JSON\"\n"
        "log.max_file_size = \"100MB\"\n"
        "log.max_files = 7\n");
    const auto cfg = tree.load();
    EXPECT_EQ(cfg.log.to, log_target::both);
    EXPECT_EQ(cfg.log.level, "debug");
    EXPECT_EQ(cfg.log.dir, "/tmp/x");
    EXPECT_EQ(cfg.log.file, "b.log");
    EXPECT_EQ(cfg.log.format, rmqtt::broker::log_format::json);
    EXPECT_EQ(cfg.log.max_file_size, 100u << 20);
    EXPECT_EQ(cfg.log.max_files, 7u);
    EXPECT_FALSE(has_warning(cfg, "log.")) << all_warnings(cfg);

    const auto defaults = config_tree("log.max_file_size = 0\n").load();
    EXPECT_EQ(defaults.log.format, rmqtt::broker::log_format::text);
    EXPECT_EQ(defaults.log.max_file_size, 0u);  // no rotation, as RMQTT
    EXPECT_EQ(defaults.log.max_files, 5u);
}

TEST(config_load, NodeWorkersAndAddressForms) {
    const config_tree tree(
        "node.workers = 3\n"
        "listener.tcp.a.addr = \":1884\"\n"
        "listener.tcp.b.addr = \"[::1]:1885\"\n"
        "listener.tcp.c.addr = \"localhost:1886\"\n"
        "listener.ws.d.addr = \"127.0.0.1:8080\"\n"
        "listener.ws.d.ws_path = \"\"\n");
    const auto cfg = tree.load();
    EXPECT_EQ(cfg.worker_threads, 3u);
    EXPECT_EQ(cfg.worker_busy_poll, std::chrono::microseconds(50));  // the default
    EXPECT_EQ(find_listener(cfg, "tcp.a")->host, "0.0.0.0");
    EXPECT_EQ(find_listener(cfg, "tcp.a")->port, 1884);
    EXPECT_EQ(find_listener(cfg, "tcp.b")->host, "::1");
    EXPECT_EQ(find_listener(cfg, "tcp.c")->host, "localhost");
    EXPECT_EQ(find_listener(cfg, "ws.d")->ws_path, "");
}

TEST(config_load, NodeBusyPoll) {
    EXPECT_EQ(config_tree("node.busy_poll = \"20us\"\n").load().worker_busy_poll,
              std::chrono::microseconds(20));
    EXPECT_EQ(config_tree("node.busy_poll = \"1ms\"\n").load().worker_busy_poll,
              std::chrono::milliseconds(1));
    EXPECT_EQ(config_tree("node.busy_poll = 0\n").load().worker_busy_poll,
              std::chrono::microseconds::zero());
}

TEST(config_load, PluginListFromEnvironmentAndCommandLine) {
    const config_tree tree("plugins.default_startups = [\"rmqtt-retainer\"]\n");
    {
        scoped_env env("RMQTT_PLUGINS_DEFAULT_STARTUPS", "rmqtt-session-storage  rmqtt-acl");
        const auto cfg = tree.load();
        EXPECT_EQ(cfg.plugins_default_startups,
                  (std::vector<std::string>{"rmqtt-session-storage", "rmqtt-acl"}));
        EXPECT_TRUE(cfg.plugin_enabled("rmqtt-acl"));
        EXPECT_FALSE(cfg.plugin_enabled("rmqtt-retainer"));

        command_line cl;
        cl.config_file = tree.main_file();
        cl.plugins_default_startups = std::vector<std::string>{"a b", "c", "a"};
        const auto from_cli = rmqtt::test::load_all(cl);  // the command line replaces the list
        EXPECT_EQ(from_cli.plugins_default_startups, (std::vector<std::string>{"a", "b", "c"}));
    }
    {
        scoped_env env("RMQTT_PLUGINS_DEFAULT_STARTUPS", std::nullopt);
        EXPECT_EQ(tree.load().plugins_default_startups,
                  (std::vector<std::string>{"rmqtt-retainer"}));
    }
}

TEST(config_load, CommandLineWarningsAreKept) {
    const config_tree tree("");
    command_line cl;
    cl.config_file = tree.main_file();
    cl.warnings.push_back("command line: --raft-leader-id: ignored");
    const auto cfg = rmqtt::test::load_all(cl);
    EXPECT_TRUE(has_warning(cfg, "--raft-leader-id"));
}

// Each plugin file's section, for the plugins to read: empty when the file does not exist.
TEST(config_load, PluginSectionsForEveryPluginFile) {
    const config_tree tree("", {{"rmqtt-retainer", "max_payload_size = \"2MB\"\n"}});
    const auto cfg = tree.load();
    ASSERT_EQ(cfg.plugin_sections.size(), 5u);
    for (const char* name :
         {"rmqtt-session-storage", "rmqtt-shared-subscription", "rmqtt-auth-scram", "rmqtt-acl"}) {
        ASSERT_TRUE(cfg.plugin_sections.contains(name)) << name;
        EXPECT_FALSE(cfg.plugin_sections.at(name).exists()) << name;
        // It still names the file, for a plugin that watches for it.
        EXPECT_EQ(cfg.plugin_sections.at(name).file(), tree.plugin_file(name));
    }
    const auto& retainer = cfg.plugin_sections.at("rmqtt-retainer");
    EXPECT_TRUE(retainer.exists());
    EXPECT_EQ(retainer.file(), tree.plugin_file("rmqtt-retainer"));
    EXPECT_EQ(retainer.get_size("max_payload_size"), 2u << 20);
    EXPECT_EQ(cfg.retainer.max_payload_size, 2u << 20);  // transitional: also parsed for the core
}

// TOML text held in memory reads like a file, `name` standing for it in messages.
TEST(config_load, ParseConfigTextReadsLikeAFile) {
    auto warnings = std::make_shared<std::vector<std::string>>();
    const auto s = parse_config_text("a = 1\n[t]\nb = \"x\"\n", "mem.toml", warnings);
    EXPECT_EQ(s.file(), "mem.toml");
    EXPECT_EQ(s.get_int("a"), 1);
    s.report_unknown();
    ASSERT_EQ(warnings->size(), 1u);
    EXPECT_EQ(warnings->front(), "mem.toml: t: unknown key, ignored");
    try {
        (void)parse_config_text("a = \n", "mem.toml", warnings);
        ADD_FAILURE() << "not TOML, no error";
    } catch (const config_error& e) {
        EXPECT_NE(std::string(e.what()).find("mem.toml: not valid TOML"), std::string::npos)
            << e.what();
    }
}

// Before toml11 sees it: text that is not UTF-8 (toml11 3.7 reads out of bounds on some of it,
// issue #199) and nesting that would overflow its recursive parser are clear errors; brackets
// in strings and comments do not count as nesting.
TEST(config_load, TextThatWouldHurtTheTomlParserIsRefused) {
    const auto error = [](const std::string& text) {
        return config_error_of([&] { (void)parse_config_text(text, "t.toml", nullptr); });
    };
    EXPECT_NE(error("a = 'x\xff'\n").find("t.toml: not valid TOML: not UTF-8"), std::string::npos);
    EXPECT_NE(error(std::string("a = 1\n\0", 7)).find("not UTF-8"), std::string::npos);
    const std::string deep = "a = " + std::string(65, '[') + std::string(65, ']') + "\n";
    EXPECT_NE(error(deep).find("t.toml: arrays and inline tables nested deeper than 64 levels"),
              std::string::npos);
    const std::string ok = "a = " + std::string(64, '[') + std::string(64, ']') + "\n" + "b = \"" +
                           std::string(100, '[') + "\" # " + std::string(100, '{') + "\nc = '''\n" +
                           std::string(100, '[') + "\n'''\n" + "d = \"\\\"[[[[[[\"\n";
    EXPECT_NO_THROW((void)parse_config_text(ok, "t.toml", nullptr));
}

TEST(config_load, MissingPluginFileOfAStartedPluginIsReported) {
    const config_tree tree("plugins.default_startups = [\"rmqtt-retainer\"]\n");
    const auto cfg = tree.load();
    EXPECT_TRUE(has_warning(cfg, "rmqtt-retainer.toml: not found"));
    EXPECT_FALSE(has_warning(cfg, "rmqtt-session-storage.toml"));  // not started: silent
}

// ---------------------------------------------------------------------------------------------
// Warnings: unknown keys and keys rmqttd does not use

TEST(config_warnings, UnknownKeysAnywhereNameFileAndKey) {
    const config_tree tree(
        "colour = \"blue\"\n"
        "log.colour = true\n"
        "listener.tcp.a.addr = \"0.0.0.0:1883\"\n"
        "listener.tcp.a.max_conections = 10\n"  // misspelt
        "listener.udp.a.addr = \"0.0.0.0:1\"\n",
        {{"rmqtt-retainer", "max_retained = 5\n"}});
    const auto cfg = tree.load();
    const std::string main = tree.main_file();
    EXPECT_TRUE(has_warning(cfg, main + ": colour: unknown key"));
    EXPECT_TRUE(has_warning(cfg, main + ": log.colour: unknown key"));
    EXPECT_TRUE(has_warning(cfg, main + ": listener.tcp.a.max_conections: unknown key"));
    EXPECT_TRUE(has_warning(cfg, main + ": listener.udp: unknown listener type"));
    // Plugin files: load_config reports their unknown keys too (each plugin's own keys:
    // tests/unit/plugins).
    EXPECT_TRUE(has_warning(cfg, tree.plugin_file("rmqtt-retainer") + ": max_retained: unknown"));
}

TEST(config_warnings, CompatSectionsWarnOnceEach) {
    const config_tree tree(
        "task.exec_workers = 1\ntask.exec_queue_max = 2\n"
        "rpc.server_addr = \"0.0.0.0:5363\"\nrpc.batch_size = 1\n"
        "node.busy.loadavg = 80\nnode.busy.handshaking = 1\n"
        "mqtt.delayed_publish_max = 1\nmqtt.delayed_publish_immediate = false\n"
        "circuit_breaker.slow_call_rate_threshold = 1.0\n");
    const auto cfg = tree.load();
    for (const char* section :
         {": task: ", ": rpc: ", ": node.busy: ", ": circuit_breaker: ",
          ": mqtt.delayed_publish_max: ", ": mqtt.delayed_publish_immediate: "}) {
        EXPECT_EQ(count_warnings(cfg, std::string(section) + "accepted for RMQTT compatibility"),
                  1u)
            << section;
    }
    EXPECT_EQ(cfg.warnings.size(), 6u) << rmqtt::test::all_warnings(cfg);
}

TEST(config_warnings, CompatSectionsAreStillTypeChecked) {
    const config_tree tree("node.busy.check_enable = \"yes\"\n");
    const std::string msg = config_error_of([&] { (void)tree.load(); });
    EXPECT_NE(msg.find("node.busy.check_enable"), std::string::npos) << msg;
    EXPECT_NE(msg.find("true or false"), std::string::npos) << msg;
}

TEST(config_warnings, TlsOnlyKeysOnATcpListener) {
    const config_tree tree(
        "listener.tcp.a.addr = \"0.0.0.0:1883\"\n"
        "listener.tcp.a.cert = \"x.pem\"\n");
    const auto cfg = tree.load();
    EXPECT_TRUE(has_warning(cfg, "listener.tcp.a.cert: used only by tls and wss listeners"));
}

// ---------------------------------------------------------------------------------------------
// Fatal errors: each names the file, the key and the accepted form (and the bad value).

struct bad_case {
    const char* text;
    const char* key;
    const char* accepted;
    const char* got;
};

TEST(config_errors, NameFileKeyAndAcceptedForm) {
    const bad_case cases[] = {
        {"listener.tcp.a.addr = \"0.0.0.0:70000\"\n", "listener.tcp.a.addr",
         "\"host:port\" such as \"0.0.0.0:1883\"", "\"0.0.0.0:70000\""},
        {"listener.tcp.a.addr = \"0.0.0.0\"\n", "listener.tcp.a.addr", "\"host:port\"",
         "\"0.0.0.0\""},
        {"listener.tcp.a.addr = \"::1:1883\"\n", "listener.tcp.a.addr", "\"[::]:1883\"",
         "\"::1:1883\""},
        {"listener.tcp.a.addr = 1883\n", "listener.tcp.a.addr", "\"host:port\"", "got 1883"},
        {"listener.tcp.a.addr = \"0.0.0.0:1883\"\nlistener.tcp.a.max_qos_allowed = 3\n",
         "listener.tcp.a.max_qos_allowed", "an integer from 0 to 2", "got 3"},
        {"listener.tcp.a.addr = \"0.0.0.0:1883\"\nlistener.tcp.a.keepalive_backoff = 0\n",
         "listener.tcp.a.keepalive_backoff", "a number greater than 0", "got 0"},
        {"listener.tcp.a.addr = \"0.0.0.0:1883\"\nlistener.tcp.a.keepalive_backoff = -0.5\n",
         "listener.tcp.a.keepalive_backoff", "a number greater than 0", "got -0.5"},
        {"listener.tcp.a.addr = \"0.0.0.0:1883\"\nlistener.tcp.a.max_inflight = 0\n",
         "listener.tcp.a.max_inflight", "an integer from 1 to 65535", "got 0"},
        {"listener.tcp.a.addr = \"0.0.0.0:1883\"\nlistener.tcp.a.min_keepalive = 100\n"
         "listener.tcp.a.max_keepalive = 50\n",
         "listener.tcp.a.min_keepalive", "<= max_keepalive (50)", "got 100"},
        {"listener.tcp.a.addr = \"0.0.0.0:1883\"\nlistener.tcp.a.max_keepalive = 70000\n",
         "listener.tcp.a.max_keepalive", "an integer from 0 to 65535", "got 70000"},
        {"listener.tcp.a.addr = \"0.0.0.0:1883\"\n"
         "listener.tcp.a.max_packet_size = \"1 megabyte\"\n",
         "listener.tcp.a.max_packet_size", "a size such as \"1MB\"", "\"1 megabyte\""},
        {"listener.tcp.a.addr = \"0.0.0.0:1883\"\nlistener.tcp.a.max_packet_size = \"8G\"\n",
         "listener.tcp.a.max_packet_size", "from 0 to 4294967295 bytes", "\"8G\""},
        {"listener.tcp.a.addr = \"0.0.0.0:1883\"\n"
         "listener.tcp.a.handshake_timeout = \"30 seconds\"\n",
         "listener.tcp.a.handshake_timeout", "a duration such as \"30s\"", "\"30 seconds\""},
        {"listener.tcp.a.addr = \"0.0.0.0:1883\"\nlistener.tcp.a.handshake_timeout = true\n",
         "listener.tcp.a.handshake_timeout", "a duration such as", "got true"},
        {"listener.tcp.a.addr = \"0.0.0.0:1883\"\n"
         "listener.tcp.a.message_retry_interval = \"500us\"\n",
         "listener.tcp.a.message_retry_interval", "in whole milliseconds", "\"500us\""},
        {"listener.tcp.a.addr = \"0.0.0.0:1883\"\nlistener.tcp.a.allow_anonymous = \"yes\"\n",
         "listener.tcp.a.allow_anonymous", "true or false", "\"yes\""},
        {"listener.tcp.a.addr = \"0.0.0.0:1883\"\n"
         "listener.tcp.a.mqueue_rate_limit = \"0,1s\"\n",
         "listener.tcp.a.mqueue_rate_limit", "\"burst,period\" such as \"1000,1s\"", "\"0,1s\""},
        {"listener.tcp.a.addr = \"0.0.0.0:1883\"\n"
         "listener.tcp.a.mqueue_overflow = \"block\"\n",
         "listener.tcp.a.mqueue_overflow", "\"backpressure\" \"drop\"", "\"block\""},
        {"listener.ws.a.addr = \"0.0.0.0:8080\"\nlistener.ws.a.ws_path = \"mqtt\"\n",
         "listener.ws.a.ws_path", "a path starting with \"/\"", "\"mqtt\""},
        {"listener.tcp.a.max_connections = 10\n", "listener.tcp.a.addr", "\"host:port\"",
         "missing"},
        {"listener.tls.s.addr = \"0.0.0.0:8883\"\nlistener.tls.s.key = \"k.pem\"\n",
         "listener.tls.s.cert", "PEM file", "missing"},
        {"listener.wss.s.addr = \"0.0.0.0:8443\"\nlistener.wss.s.cert = \"c.pem\"\n",
         "listener.wss.s.key", "PEM file", "missing"},
        {"listener.tcp.a.addr = \"0.0.0.0:1883\"\nlistener.ws.b.addr = \"127.0.0.1:1883\"\n",
         "listener.ws.b.addr", "a port no other listener uses", "already used by listener tcp.a"},
        {"listener.tcp = \"x\"\n", "listener.tcp", "a table", "\"x\""},
        {"log.level = \"verbose\"\n", "log.level",
         "one of \"trace\" \"debug\" \"info\" \"warn\" \"error\" \"off\"", "\"verbose\""},
        {"log.to = \"syslog\"\n", "log.to", "\"console\"", "\"syslog\""},
        {"log.format = \"xml\"\n", "log.format", "one of \"text\" \"json\"", "\"xml\""},
        {"log.max_file_size = \"512\"\n", "log.max_file_size",
         "0 (no rotation) or a size of at least 1KB", "\"512\""},
        {"log.max_file_size = \"lots\"\n", "log.max_file_size", "a size such as", "\"lots\""},
        {"log.max_file_size = -1\n", "log.max_file_size", "size", "got -1"},
        {"log.max_files = 0\n", "log.max_files", "an integer from 1 to 1000", "got 0"},
        {"log.max_files = 1001\n", "log.max_files", "an integer from 1 to 1000", "got 1001"},
        {"log.max_files = \"5\"\n", "log.max_files", "an integer", "\"5\""},
        {"log.file = \"\"\n", "log.file", "a file name such as", "\"\""},
        {"log.dir = 7\n", "log.dir", "a string", "got 7"},
        {"node.id = -1\n", "node.id", "an integer >= 0", "got -1"},
        {"node.workers = 5000\n", "node.workers", "from 0 (number of cores) to 1024", "got 5000"},
        // A bare number is seconds: far past what a poll before sleeping should take.
        {"node.busy_poll = 1\n", "node.busy_poll", "a duration from 0 to 1ms", "got 1"},
        {"node.busy_poll = \"2ms\"\n", "node.busy_poll", "a duration from 0 to 1ms", "\"2ms\""},
        {"node.busy_poll = \"soon\"\n", "node.busy_poll", "a duration", "\"soon\""},
        {"mqtt.max_sessions = -1\n", "mqtt.max_sessions", "an integer >= 0", "got -1"},
        {"plugins.default_startups = \"rmqtt-retainer\"\n", "plugins.default_startups",
         "an array of strings", "\"rmqtt-retainer\""},
        {"plugins.default_startups = [\"a\", 1]\n", "plugins.default_startups",
         "an array of strings", "got 1"},
    };
    for (const auto& c : cases) {
        const config_tree tree(c.text);
        const std::string file = tree.main_file();
        const std::string msg = config_error_of([&] { (void)tree.load(); });
        SCOPED_TRACE(c.text);
        EXPECT_NE(msg.find(file + ": "), std::string::npos) << msg;
        EXPECT_NE(msg.find(std::string(c.key) + ": "), std::string::npos) << msg;
        EXPECT_NE(msg.find(c.accepted), std::string::npos) << msg;
        EXPECT_NE(msg.find(c.got), std::string::npos) << msg;
    }
}

// RMQTT switches rmqttd does not implement: true would silently do nothing, so it stops the
// start; false (what RMQTT's shipped files write) and disabled listeners are accepted.
TEST(config_errors, UnsupportedSwitches) {
    const struct {
        const char* key;
        const char* why;
    } cases[] = {
        {"delayed_publish", "not supported by rmqttd ($delayed/ publishes"},
        {"limit_subscription", "not supported by rmqttd ($limit/ and $exclusive/"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.key);
        const std::string listener = "listener.tcp.a.addr = \"0.0.0.0:1883\"\n";
        const config_tree on(listener + "listener.tcp.a." + c.key + " = true\n");
        const std::string msg = config_error_of([&] { (void)on.load(); });
        EXPECT_NE(msg.find(on.main_file() + ": listener.tcp.a." + c.key + ": "), std::string::npos)
            << msg;
        EXPECT_NE(msg.find(c.why), std::string::npos) << msg;

        const config_tree off(listener + "listener.tcp.a." + c.key + " = false\n");
        EXPECT_TRUE(off.load().warnings.empty());
        const config_tree disabled(listener + "listener.tcp.b.enable = false\nlistener.tcp.b." +
                                   c.key + " = true\n");
        EXPECT_EQ(disabled.load().listeners.size(), 1u);
    }
    // The PROXY protocol is served: true is taken, on every listener kind.
    const config_tree proxy(
        "listener.tcp.a.addr = \"0.0.0.0:1883\"\nlistener.tcp.a.proxy_protocol = true\n"
        "listener.tcp.a.proxy_protocol_timeout = \"2s\"\n");
    const auto loaded = proxy.load();
    EXPECT_TRUE(loaded.warnings.empty()) << rmqtt::test::all_warnings(loaded);
    ASSERT_EQ(loaded.listeners.size(), 1u);
    EXPECT_TRUE(loaded.listeners[0].proxy_protocol);
    EXPECT_EQ(loaded.listeners[0].proxy_protocol_timeout, std::chrono::seconds(2));
    // The timeout of the PROXY header is a checked key.
    const config_tree timeout(
        "listener.tcp.a.addr = \"0.0.0.0:1883\"\nlistener.tcp.a.proxy_protocol_timeout = \"0s\"\n");
    const std::string msg = config_error_of([&] { (void)timeout.load(); });
    EXPECT_NE(msg.find("listener.tcp.a.proxy_protocol_timeout: expected a duration"),
              std::string::npos)
        << msg;
}

// cert_cn_as_username takes the Common Name of a verified client certificate: without
// cross_certificate there is none, which is said at start-up.
TEST(config_warnings, CertCnAsUsernameWithoutCrossCertificate) {
    const std::string tls =
        "listener.tls.a.addr = \"0.0.0.0:8883\"\nlistener.tls.a.cert = \"c.pem\"\n"
        "listener.tls.a.key = \"k.pem\"\nlistener.tls.a.cert_cn_as_username = true\n";
    const auto alone = config_tree(tls).load();
    EXPECT_EQ(count_warnings(alone,
                             "listener.tls.a.cert_cn_as_username: has no effect without "
                             "cross_certificate = true"),
              1u)
        << rmqtt::test::all_warnings(alone);
    const auto with = config_tree(tls + "listener.tls.a.cross_certificate = true\n").load();
    EXPECT_TRUE(with.warnings.empty()) << rmqtt::test::all_warnings(with);
}

TEST(config_errors, ListenerNameWithADot) {
    const config_tree tree("[listener.tcp.\"a.b\"]\naddr = \"0.0.0.0:1883\"\n");
    const std::string msg = config_error_of([&] { (void)tree.load(); });
    EXPECT_NE(msg.find(": listener.tcp.a.b: expected a listener name without \".\""),
              std::string::npos)
        << msg;
}

TEST(config_errors, BadValuesNameTheirLine) {
    // config_tree puts its plugins.dir line first: the bad value is on line 4.
    const config_tree tree("node.id = 1\n\nlog.level = \"loud\"\n");
    const std::string msg = config_error_of([&] { (void)tree.load(); });
    EXPECT_NE(msg.find("(line 4)"), std::string::npos) << msg;
}

TEST(config_errors, MissingOrInvalidFiles) {
    {
        command_line cl;
        cl.config_file = "/nonexistent/rmqtt.toml";
        const std::string msg = config_error_of([&] { (void)rmqtt::test::load_all(cl); });
        EXPECT_NE(msg.find("/nonexistent/rmqtt.toml: cannot read"), std::string::npos) << msg;
    }
    {
        const config_tree tree("node.id = = 1\n");
        const std::string msg = config_error_of([&] { (void)tree.load(); });
        EXPECT_NE(msg.find(tree.main_file() + ": not valid TOML"), std::string::npos) << msg;
    }
    {
        const config_tree tree("", {{"rmqtt-retainer", "storage.type = [\n"}});
        const std::string msg = config_error_of([&] { (void)tree.load(); });
        EXPECT_NE(msg.find(tree.plugin_file("rmqtt-retainer") + ": not valid TOML"),
                  std::string::npos)
            << msg;
    }
}

TEST(config_errors, DefaultListenerClashIsExplained) {
    const config_tree tree("listener.ws.w.addr = \"0.0.0.0:1883\"\n");
    const std::string msg = config_error_of([&] { (void)tree.load(); });
    EXPECT_NE(msg.find("port 1883 is already used"), std::string::npos) << msg;
    EXPECT_NE(msg.find("add a tcp listener"), std::string::npos) << msg;
}

}  // namespace
