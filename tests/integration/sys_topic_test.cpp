// rmqtt-sys-topic against a real rmqttd: a Paho subscriber on $SYS/brokers/+/... sees a real
// client's connected / subscribed / unsubscribed / disconnected events and its session's
// created / terminated with RMQTT's JSON bodies, and the periodic version / uptime / datetime /
// stats / metrics messages. A subscriber on "#" gets none of them [MQTT-4.7.2-1].
#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <string>

#include "integration_util.hpp"

namespace rmqtt::test::integ {
namespace {

using nlohmann::json;

broker_ptr start_with_sys(const std::string& file) {
    broker_process::options o;
    o.extra_plugins = {"rmqtt-sys-topic"};
    o.plugin_files = {{"rmqtt-sys-topic", file}};
    return start_broker_with(std::move(o));
}

// Receives until a message on `topic` arrives (bounded); the others are kept in `seen`.
std::optional<mqtt_client::received> wait_topic(mqtt_client& c, const std::string& topic,
                                                std::map<std::string, std::string>& seen) {
    if (auto it = seen.find(topic); it != seen.end()) {
        mqtt_client::received r;
        r.topic = topic;
        r.payload = it->second;
        return r;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
        auto m = c.next(std::chrono::seconds(1));
        if (!m) continue;
        seen[m->topic] = m->payload;
        if (m->topic == topic) return m;
    }
    return std::nullopt;
}

json parse(const std::optional<mqtt_client::received>& m) {
    if (!m) return json();
    return json::parse(m->payload, nullptr, false);
}

TEST(sys_topic, ClientAndSessionEventsWithRmqttBodies) {
    auto b = start_with_sys("publish_qos = 1\npublish_interval = \"1h\"\n");
    mqtt_client sys(b->uri(), "sys-watcher");
    sys.connect();
    // [MQTT-4.7.2-1]: a filter starting with a wildcard does not match "$SYS/...", so the
    // watcher names the $SYS levels explicitly.
    sys.subscribe("$SYS/brokers/+/clients/#", 1);
    sys.subscribe("$SYS/brokers/+/session/#", 1);
    mqtt_client all(b->uri(), "hash-watcher");
    all.connect();
    all.subscribe("#", 1);

    std::map<std::string, std::string> seen;
    {
        mqtt_client::connect_options o = paho_options(true, 42);
        o.username = "alice";
        mqtt_client c(b->uri(), "dev-1");
        c.connect(o);
        c.subscribe("foo/#", 1);
        c.unsubscribe("foo/#");
        c.disconnect();
    }
    const std::string base = "$SYS/brokers/1/";

    const json connected = parse(wait_topic(sys, base + "clients/dev-1/connected", seen));
    ASSERT_TRUE(connected.is_object()) << connected;
    EXPECT_EQ(connected["node"], 1);
    EXPECT_EQ(connected["clientid"], "dev-1");
    EXPECT_EQ(connected["username"], "alice");
    EXPECT_EQ(connected["keepalive"], 42);
    EXPECT_EQ(connected["proto_ver"], 4);
    EXPECT_EQ(connected["clean_session"], true);
    EXPECT_EQ(connected["session_present"], false);
    EXPECT_TRUE(connected["connected_at"].is_number_integer());
    EXPECT_TRUE(connected["ipaddress"].get<std::string>().starts_with("127.0.0.1:")) << connected;
    EXPECT_EQ(connected["time"].get<std::string>().size(), 23u) << connected;  // ...HH:MM:SS.mmm

    const json created = parse(wait_topic(sys, base + "session/dev-1/created", seen));
    EXPECT_EQ(created["clientid"], "dev-1");
    EXPECT_EQ(created["username"], "alice");
    EXPECT_TRUE(created["created_at"].is_number_integer()) << created;

    const json subscribed = parse(wait_topic(sys, base + "session/dev-1/subscribed", seen));
    EXPECT_EQ(subscribed["topic"], "foo/#");
    EXPECT_EQ(subscribed["opts"], (json{{"qos", 1}}));
    EXPECT_EQ(subscribed["username"], "alice");

    const json unsubscribed = parse(wait_topic(sys, base + "session/dev-1/unsubscribed", seen));
    EXPECT_EQ(unsubscribed["topic"], "foo/#");
    EXPECT_FALSE(unsubscribed.contains("opts"));

    const json disconnected = parse(wait_topic(sys, base + "clients/dev-1/disconnected", seen));
    EXPECT_EQ(disconnected["clientid"], "dev-1");
    EXPECT_EQ(disconnected["reason"], "client_disconnect");
    EXPECT_TRUE(disconnected["disconnected_at"].is_number_integer());

    const json terminated = parse(wait_topic(sys, base + "session/dev-1/terminated", seen));
    EXPECT_EQ(terminated["clientid"], "dev-1");
    EXPECT_EQ(terminated["username"], "alice");
    EXPECT_EQ(terminated["reason"], "connection_closed");

    // The "#" subscriber got no $SYS message [MQTT-4.7.2-1]; a normal message shows it works.
    mqtt_client p(b->uri(), "pub");
    p.connect();
    p.publish("plain/topic", "x", 1);
    auto got = all.next(std::chrono::seconds(10));
    ASSERT_TRUE(got);
    EXPECT_EQ(got->topic, "plain/topic");
    for (const auto& m : all.drain())
        EXPECT_FALSE(m.topic.starts_with("$SYS")) << m.topic;
}

TEST(sys_topic, PeriodicBrokerStateAtPublishInterval) {
    auto b = start_with_sys("publish_qos = 0\npublish_interval = \"1s\"\n");
    mqtt_client sys(b->uri(), "sys-periodic");
    sys.connect();
    sys.subscribe("$SYS/brokers/1/+", 0);
    std::map<std::string, std::string> seen;
    const std::string base = "$SYS/brokers/1/";

    const json stats = parse(wait_topic(sys, base + "stats", seen));
    ASSERT_TRUE(stats.is_object()) << stats;
    EXPECT_GE(stats["connections.count"].get<int>(), 1) << stats;  // the watcher itself
    EXPECT_GE(stats["connections.max"].get<int>(), stats["connections.count"].get<int>());
    EXPECT_GE(stats["sessions.count"].get<int>(), 1);
    EXPECT_GE(stats["subscriptions.count"].get<int>(), 1);
    EXPECT_TRUE(stats.contains("topics.count")) << stats;

    const json metrics = parse(wait_topic(sys, base + "metrics", seen));
    ASSERT_TRUE(metrics.is_object()) << metrics;
    EXPECT_GE(metrics["client.connect"].get<int>(), 1) << metrics;
    EXPECT_FALSE(metrics.contains("connections")) << "gauges are in stats";

    const auto version = wait_topic(sys, base + "version", seen);
    ASSERT_TRUE(version);
    EXPECT_FALSE(version->payload.empty());
    const auto uptime = wait_topic(sys, base + "uptime", seen);
    ASSERT_TRUE(uptime);
    EXPECT_NE(uptime->payload.find(" days "), std::string::npos) << uptime->payload;
    EXPECT_NE(uptime->payload.find(" seconds"), std::string::npos) << uptime->payload;
    const auto datetime = wait_topic(sys, base + "datetime", seen);
    ASSERT_TRUE(datetime);
    EXPECT_EQ(datetime->payload.size(), 19u) << datetime->payload;  // YYYY-MM-DD HH:MM:SS
}

// A graceful stop after events were published: the plugin's hook handlers, which hold its
// publisher (a timer and a strand on the plugins' thread pool), are dropped before that pool goes
// (a heap-use-after-free at exit before; the sanitizer builds fail the test on any report in the
// broker's log).
TEST(sys_topic, AGracefulStopEndsCleanly) {
    auto b = start_with_sys("publish_qos = 1\npublish_interval = \"1h\"\n");
    {
        mqtt_client c(b->uri(), "dev-stop");
        c.connect();
        c.disconnect();
    }
    EXPECT_EQ(b->stop(), 0);
}

TEST(sys_topic, BadConfigIsRefusedAtStartUp) {
    broker_process::options o;
    o.extra_plugins = {"rmqtt-sys-topic"};
    o.plugin_files = {{"rmqtt-sys-topic", "publish_qos = 3\n"}};
    broker_process b(std::move(o));
    try {
        b.start();
        ADD_FAILURE() << "rmqttd started with publish_qos = 3";
    } catch (const std::exception& e) {
        EXPECT_NE(std::string(e.what()).find("rmqtt-sys-topic.toml: publish_qos"),
                  std::string::npos)
            << e.what();
    }
}

}  // namespace
}  // namespace rmqtt::test::integ
