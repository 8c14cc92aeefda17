// MQTT 5.0 will messages against the real rmqttd: Will Delay Interval, its interplay with session
// expiry and reconnection, will properties, DISCONNECT 0x04.
#include <gtest/gtest.h>

#include "v5_util.hpp"

namespace rmqtt::test::v5 {
namespace {

proto::connect with_will(const std::string& id, const std::string& topic, std::uint32_t delay,
                         std::uint32_t session_expiry, bool clean = true) {
    auto c = connect5(id, clean);
    c.will = make_will(topic, cat("will of ", id), 1);
    if (delay) c.will->props.will_delay_interval = delay;
    if (session_expiry) c.props.session_expiry_interval = session_expiry;
    return c;
}

std::unique_ptr<raw_client> will_watcher(const broker_process& b, const std::string& filter) {
    auto s = raw5(b, cat("watch-", filter.substr(0, filter.find('/'))));
    EXPECT_EQ(subscribe5(*s, 1, filter, 1), std::vector<std::uint8_t>{1});
    return s;
}

// The will waits for the Will Delay Interval after an abnormal close, then is published
// [MQTT-3.1.2-8] (5.0 section 3.1.3.2.2), with its properties [MQTT-3.1.3-10] and without the
// Will Delay Interval itself.
TEST(V5Will, PublishedAfterDelay) {
    auto b = start_broker();
    auto s = will_watcher(*b, "wd/#");
    auto conn = with_will("wd", "wd/t", 2, 60);
    conn.will->props.content_type = "text/plain";
    conn.will->props.user_properties = {{"b", "2"}, {"a", "1"}, {"b", "3"}};
    {
        auto c = raw5(*b, conn);
        ASSERT_TRUE(alive(*c));
    }  // socket closed without DISCONNECT
    EXPECT_TRUE(drain_raw(*s, 1000ms).empty()) << "will published before its 2 s delay";
    auto w = receive_publishes(*s, 1, 8s);
    ASSERT_EQ(w.size(), 1u) << "will not published after its delay";
    EXPECT_EQ(w[0].topic, "wd/t");
    EXPECT_EQ(w[0].payload, "will of wd");
    EXPECT_EQ(w[0].props.content_type, std::optional<std::string>("text/plain"));
    EXPECT_EQ(user_props(w[0].props), (string_pairs{{"b", "2"}, {"a", "1"}, {"b", "3"}}))
        << "[MQTT-3.1.3-10] order of User Properties";
    EXPECT_TRUE(drain_raw(*s, 300ms).empty()) << "published once";
}

// A new connection for the session before the delay has passed cancels the will
// [MQTT-3.1.3-9]; so does a normal DISCONNECT afterwards [MQTT-3.14.4-3].
TEST(V5Will, NotPublishedWhenReconnectedWithinDelay) {
    auto b = start_broker();
    auto s = will_watcher(*b, "wr/#");
    { auto c = raw5(*b, with_will("wr", "wr/t", 2, 60)); }
    // Lets rmqttd notice the close, so that the CONNECT below resumes an offline session rather
    // than taking over a live one. A sleep because nothing outside rmqttd shows that moment.
    std::this_thread::sleep_for(300ms);
    proto::connack ack;
    auto back = raw5(*b, with_will("wr", "wr/t", 0, 60, /*clean=*/false), &ack);
    EXPECT_TRUE(ack.session_present);
    EXPECT_TRUE(drain_raw(*s, 3000ms).empty())
        << "will published although the client came back within the delay [MQTT-3.1.3-9]";
    raw_disconnect(*back);
    EXPECT_TRUE(drain_raw(*s, 500ms).empty()) << "normal DISCONNECT [MQTT-3.14.4-3]";
}

// The will is published when the session ends, if that comes before the Will Delay Interval
// (5.0 section 3.1.3.2.2): session expiry 1 s, will delay 30 s.
TEST(V5Will, SessionEndBeforeDelayPublishes) {
    auto b = start_broker();
    auto s = will_watcher(*b, "we/#");
    { auto c = raw5(*b, with_will("we", "we/t", 30, 1)); }
    auto w = receive_publishes(*s, 1, 8s);
    ASSERT_EQ(w.size(), 1u) << "will not published when the 1 s session ended (delay 30 s)";
    EXPECT_EQ(w[0].topic, "we/t");
}

// Session expiry 0: the session ends with the connection, so the will goes out at once even with
// a long delay.
TEST(V5Will, NoSessionExpiryPublishesAtOnce) {
    auto b = start_broker();
    auto s = will_watcher(*b, "w0/#");
    { auto c = raw5(*b, with_will("w0", "w0/t", 30, 0)); }
    auto w = receive_publishes(*s, 1, 5s);
    ASSERT_EQ(w.size(), 1u) << "will not published when the session ended with the connection";
}

// DISCONNECT 0x04 (Disconnect with Will Message) publishes the will (5.0 section 3.14.2.1), at
// once when it has no delay.
TEST(V5Will, DisconnectWithWillMessage) {
    auto b = start_broker();
    auto s = will_watcher(*b, "w4/#");
    {
        auto c = raw5(*b, with_will("w4", "w4/t", 0, 0));
        proto::disconnect d;
        d.code = proto::reason_code::disconnect_with_will_message;
        raw_disconnect(*c, d);
    }
    auto w = receive_publishes(*s, 1, 5s);
    ASSERT_EQ(w.size(), 1u) << "DISCONNECT 0x04 must publish the will";
    EXPECT_EQ(w[0].topic, "w4/t");
}

// Every will property set by Paho arrives unchanged at a Paho subscriber [MQTT-3.1.3-10]
// [MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-20]. The Paho client cannot drop
// its connection abruptly, and Paho C++ 1.2 sends DISCONNECT 0x00 whatever reason code it is
// given, so the will is set off by a takeover with Clean Start 1: the old session ends and its
// will is published (5.0 section 3.1.4, [MQTT-3.1.4-3]).
TEST(V5Will, WillPropertiesArrive) {
    auto b = start_broker();
    auto watcher = paho5(*b, "wp-watch");
    ASSERT_EQ(watcher->subscribe("wp/#", 1), 1);

    const std::string correlation("\x00\x01\xFEid", 5);
    mqtt::properties wp{
        mqtt::property(mqtt::property::PAYLOAD_FORMAT_INDICATOR, 1),
        mqtt::property(mqtt::property::MESSAGE_EXPIRY_INTERVAL, 120),
        mqtt::property(mqtt::property::CONTENT_TYPE, "application/json"),
        mqtt::property(mqtt::property::RESPONSE_TOPIC, "wp/reply"),
        mqtt::property(mqtt::property::CORRELATION_DATA, correlation),
        mqtt::property(mqtt::property::USER_PROPERTY, "z", "first"),
        mqtt::property(mqtt::property::USER_PROPERTY, "a", "second"),
        mqtt::property(mqtt::property::USER_PROPERTY, "z", "third"),
    };
    auto o = paho5_options();
    o.will = mqtt::will_options("wp/status", std::string("{\"online\":false}"), 1, false, wp);
    auto dying = paho5(*b, "wp-dying", o);
    auto usurper = raw5(*b, "wp-dying");
    EXPECT_TRUE(dying->wait_disconnected(5s)) << "taken over [MQTT-3.1.4-3]";

    auto got = watcher->take(1, 5s);
    ASSERT_EQ(got.size(), 1u) << "the will of the taken-over session was not published";
    const auto& m = got[0];
    EXPECT_EQ(m.topic, "wp/status");
    EXPECT_EQ(m.payload, "{\"online\":false}");
    EXPECT_EQ(m.qos, 1);
    EXPECT_EQ(int_prop(m.props, mqtt::property::PAYLOAD_FORMAT_INDICATOR), 1u) << "[MQTT-3.3.2-4]";
    auto e = int_prop(m.props, mqtt::property::MESSAGE_EXPIRY_INTERVAL);
    ASSERT_TRUE(e.has_value());
    EXPECT_LE(*e, 120u);
    EXPECT_GE(*e, 115u);
    EXPECT_EQ(str_prop(m.props, mqtt::property::CONTENT_TYPE), "application/json");
    EXPECT_EQ(str_prop(m.props, mqtt::property::RESPONSE_TOPIC), "wp/reply");
    EXPECT_EQ(str_prop(m.props, mqtt::property::CORRELATION_DATA), correlation);
    EXPECT_EQ(user_props(m.props), (string_pairs{{"z", "first"}, {"a", "second"}, {"z", "third"}}))
        << "[MQTT-3.1.3-10]";
}

// DISCONNECT 0x00 discards the will, even with a delay and a persistent session
// [MQTT-3.1.2-10] [MQTT-3.14.4-3]; a control client that drops its connection shows the watcher
// would have seen one.
TEST(V5Will, NormalDisconnectDiscardsWill) {
    auto b = start_broker();
    auto s = will_watcher(*b, "wn/#");
    {
        auto c = raw5(*b, with_will("wn-polite", "wn/polite", 1, 60));
        raw_disconnect(*c);
    }
    {
        auto c = raw5(*b, with_will("wn-polite0", "wn/polite0", 0, 0));
        raw_disconnect(*c);
    }
    { auto c = raw5(*b, with_will("wn-rude", "wn/rude", 0, 0)); }
    auto w = receive_publishes(*s, 3, 2500ms);
    ASSERT_EQ(w.size(), 1u);
    EXPECT_EQ(w[0].topic, "wn/rude");
}

// The will of a session taken over by a new connection with Clean Start 0 is not published: a
// new connection came within the delay [MQTT-3.1.3-9].
TEST(V5Will, TakeoverWithinDelayCancelsWill) {
    auto b = start_broker();
    auto s = will_watcher(*b, "wt/#");
    auto first = raw5(*b, with_will("wt", "wt/t", 2, 60));
    auto second = raw5(*b, with_will("wt", "wt/t2", 0, 60, /*clean=*/false));
    expect_disconnect(*first, proto::reason_code::session_taken_over, "first connection");
    EXPECT_TRUE(drain_raw(*s, 3000ms).empty()) << "[MQTT-3.1.3-9]";
    raw_disconnect(*second);
}

}  // namespace
}  // namespace rmqtt::test::v5
