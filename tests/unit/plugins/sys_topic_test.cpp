// rmqtt-sys-topic's pure parts: its file and the periodic payloads.
#include <gtest/gtest.h>

#include <string>

#include "plugin_config_test_util.hpp"
#include "sys_topic/sys_payloads.hpp"
#include "sys_topic/sys_topic_config.hpp"

namespace {

using namespace rmqtt::plugins::sys_topic;
using rmqtt::test::plugin_file;
using std::chrono::milliseconds;

TEST(sys_topic_config, DefaultsAndTheShippedFileAreRmqtts) {
    const auto d = parse_sys_topic_config(rmqtt::broker::config_section{});
    EXPECT_EQ(d.publish_qos, rmqtt::protocol::qos::at_least_once);
    EXPECT_EQ(d.publish_interval, milliseconds(60'000));
    EXPECT_EQ(d.message_expiry_interval, milliseconds(300'000));
    const plugin_file f(rmqtt::test::source_dir() + "/etc/plugins/rmqtt-sys-topic.toml");
    const auto c = f.parse(parse_sys_topic_config);
    EXPECT_TRUE(f.warnings().empty()) << f.all_warnings();
    EXPECT_EQ(c.publish_interval, d.publish_interval);
    EXPECT_EQ(c.message_expiry_interval, d.message_expiry_interval);
}

TEST(sys_topic_config, RefusedValues) {
    const auto err = [](const std::string& text) {
        return plugin_file("rmqtt-sys-topic", text).error(parse_sys_topic_config);
    };
    EXPECT_NE(err("publish_qos = 3\n").find("publish_qos: expected"), std::string::npos);
    EXPECT_NE(err("publish_interval = \"500ms\"\n")
                  .find("publish_interval: expected a duration "
                        "of at least 1 second"),
              std::string::npos);
    EXPECT_NE(err("message_expiry_interval = \"soon\"\n").find("message_expiry_interval"),
              std::string::npos);
}

TEST(sys_topic_config, OlderRmqttKeysAreAcceptedAndReported) {
    const plugin_file f("rmqtt-sys-topic", "message_retain_available = false\n");
    (void)f.parse(parse_sys_topic_config);
    EXPECT_TRUE(f.has_warning("message_retain_available: accepted for RMQTT compatibility"))
        << f.all_warnings();
}

TEST(sys_topic_payloads, StatsUseRmqttNamesAndKeepMaxima) {
    std::map<std::string, std::int64_t> maxima;
    auto s = stats_json({{"connections", 5}, {"sessions", 7}, {"routes", 3}, {"client.connect", 9}},
                        maxima);
    EXPECT_EQ(s["connections.count"], 5);
    EXPECT_EQ(s["connections.max"], 5);
    EXPECT_EQ(s["sessions.count"], 7);
    EXPECT_EQ(s["routes.count"], 3);
    EXPECT_EQ(s["topics.count"], 3);
    EXPECT_FALSE(s.contains("client.connect.count"));
    s = stats_json({{"connections", 2}}, maxima);
    EXPECT_EQ(s["connections.count"], 2);
    EXPECT_EQ(s["connections.max"], 5);
}

TEST(sys_topic_payloads, MetricsAreTheCountersByName) {
    const auto m = metrics_json({{"connections", 5}, {"client.connect", 9}, {"messages.sent", 1}});
    EXPECT_EQ(m, (nlohmann::json{{"client.connect", 9}, {"messages.sent", 1}}));
}

TEST(sys_topic_payloads, UptimeAndDatetimeText) {
    EXPECT_EQ(uptime_text(0), "0 days 0 hours, 0 minutes, 0 seconds");
    EXPECT_EQ(uptime_text(2 * 86400 + 3 * 3600 + 4 * 60 + 5),
              "2 days 3 hours, 4 minutes, 5 seconds");
    EXPECT_EQ(datetime_text(1700000000000).size(), 19u);
}

}  // namespace
