// Will messages through the real rmqttd (3.1.1).
#include <gtest/gtest.h>

#include "integration_util.hpp"

namespace rmqtt::test::integ {
namespace {

proto::connect with_will(const std::string& id, proto::will_message w, bool clean = true,
                         std::uint16_t keep_alive = 60) {
    auto c = make_connect(id, clean, keep_alive);
    c.will = std::move(w);
    return c;
}

// [MQTT-3.1.2-8]: the socket closes without DISCONNECT -> the will is published.
TEST(Will, PublishedOnAbnormalClose) {
    auto b = start_broker();
    auto sub = raw_connect(*b, "will-sub");
    ASSERT_EQ(raw_subscribe(*sub, 1, {{"will/#", 2}}), std::vector<std::uint8_t>{2});
    {
        auto dying = raw_connect(*b, with_will("dying", make_will("will/dying", "gone", 1)));
        dying->send(proto::pingreq{});
        ASSERT_TRUE(expect<proto::pingresp>(*dying));
        EXPECT_TRUE(drain_raw(*sub, 200ms).empty()) << "no will while connected";
    }  // closed without DISCONNECT
    auto p = expect<proto::publish>(*sub, 10s);
    ASSERT_TRUE(p) << "will not published after an abnormal close";
    EXPECT_EQ(p->topic, "will/dying");
    EXPECT_EQ(p->payload, "gone");
    EXPECT_EQ(p->qos_level, proto::qos::at_least_once) << "will QoS 1";
    EXPECT_FALSE(p->retain);
    sub->send(proto::puback{p->packet_id, {}, {}});
    EXPECT_TRUE(drain_raw(*sub).empty()) << "published once";
}

// [MQTT-3.1.2-10] [MQTT-3.14.4-3]: DISCONNECT discards the will.
TEST(Will, NotPublishedOnDisconnect) {
    auto b = start_broker();
    auto sub = raw_connect(*b, "nw-sub");
    ASSERT_EQ(raw_subscribe(*sub, 1, {{"nw/#", 1}}), std::vector<std::uint8_t>{1});
    {
        auto polite = raw_connect(*b, with_will("polite", make_will("nw/polite", "gone", 1)));
        raw_disconnect(*polite);
    }
    {
        // Same for a persistent session.
        auto polite = raw_connect(*b, with_will("polite-p", make_will("nw/polite-p", "gone", 1),
                                                /*clean=*/false));
        raw_disconnect(*polite);
    }
    // A control client whose will must arrive shows the test would have seen one.
    { auto rude = raw_connect(*b, with_will("rude", make_will("nw/rude", "gone", 1))); }
    auto p = expect<proto::publish>(*sub, 10s);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->topic, "nw/rude") << "only the client that did not DISCONNECT leaves a will";
    sub->send(proto::puback{p->packet_id, {}, {}});
    EXPECT_TRUE(drain_raw(*sub, 500ms).empty());
}

// Will Retain 1: the will is stored as a retained message (a later subscriber gets it with
// RETAIN 1; an existing one with RETAIN 0) [MQTT-3.1.2-17].
TEST(Will, RetainFlagHonoured) {
    auto b = start_broker();
    auto existing = raw_connect(*b, "wr-existing");
    ASSERT_EQ(raw_subscribe(*existing, 1, {{"wret/#", 1}}), std::vector<std::uint8_t>{1});
    {
        auto c =
            raw_connect(*b, with_will("wr-dying", make_will("wret/status", "offline", 1, true)));
    }
    auto live = expect<proto::publish>(*existing, 10s);
    ASSERT_TRUE(live);
    EXPECT_EQ(live->payload, "offline");
    EXPECT_FALSE(live->retain) << "established subscription: RETAIN 0 [MQTT-3.3.1-9]";

    auto late = raw_connect(*b, "wr-late");
    ASSERT_EQ(raw_subscribe(*late, 1, {{"wret/status", 1}}), std::vector<std::uint8_t>{1});
    auto r = expect<proto::publish>(*late);
    ASSERT_TRUE(r) << "a will with Will Retain 1 must be retained";
    EXPECT_EQ(r->payload, "offline");
    EXPECT_TRUE(r->retain);

    // A will without the retain flag is not retained.
    { auto c = raw_connect(*b, with_will("wr-dying2", make_will("wret/plain", "bye", 1, false))); }
    auto live2 = expect<proto::publish>(*existing, 10s);
    ASSERT_TRUE(live2);
    EXPECT_EQ(live2->topic, "wret/plain");
    auto later = raw_connect(*b, "wr-later");
    ASSERT_EQ(raw_subscribe(*later, 1, {{"wret/plain", 1}}), std::vector<std::uint8_t>{1});
    EXPECT_TRUE(drain_raw(*later, 500ms).empty());
}

// The will is published with its Will QoS, downgraded to each subscription's QoS.
TEST(Will, QosHonoured) {
    auto b = start_broker();
    auto s2 = raw_connect(*b, "wq-s2");
    ASSERT_EQ(raw_subscribe(*s2, 1, {{"wq/t", 2}}), std::vector<std::uint8_t>{2});
    auto s1 = raw_connect(*b, "wq-s1");
    ASSERT_EQ(raw_subscribe(*s1, 1, {{"wq/t", 1}}), std::vector<std::uint8_t>{1});
    { auto c = raw_connect(*b, with_will("wq-dying", make_will("wq/t", "q2", 2))); }
    auto a = expect<proto::publish>(*s2, 10s);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->qos_level, proto::qos::exactly_once);
    EXPECT_EQ(a->payload, "q2");
    EXPECT_TRUE(raw_ack(*s2, *a));
    auto c1 = expect<proto::publish>(*s1, 10s);
    ASSERT_TRUE(c1);
    EXPECT_EQ(c1->qos_level, proto::qos::at_least_once);
    EXPECT_TRUE(raw_ack(*s1, *c1));

    // Will QoS 0 reaches a QoS 2 subscriber at QoS 0.
    { auto c = raw_connect(*b, with_will("wq-dying0", make_will("wq/t", "q0", 0))); }
    auto z = expect<proto::publish>(*s2, 10s);
    ASSERT_TRUE(z);
    EXPECT_EQ(z->payload, "q0");
    EXPECT_EQ(z->qos_level, proto::qos::at_most_once);
}

// A connection the broker closes for a protocol violation also publishes its will
// [MQTT-3.1.2-8] (here: a second CONNECT [MQTT-3.1.0-2]).
TEST(Will, PublishedWhenServerClosesForProtocolError) {
    auto b = start_broker();
    auto sub = raw_connect(*b, "wpe-sub");
    ASSERT_EQ(raw_subscribe(*sub, 1, {{"wpe/#", 1}}), std::vector<std::uint8_t>{1});
    auto bad = raw_connect(*b, with_will("wpe-bad", make_will("wpe/bad", "violated", 1)));
    bad->send(make_connect("wpe-bad"));
    EXPECT_TRUE(bad->wait_closed(5s));
    auto p = expect<proto::publish>(*sub, 10s);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->payload, "violated");
}

// Paho's will: kept on a clean DISCONNECT, published when the broker closes the connection
// (here because a PUBLISH exceeds max_packet_size).
TEST(Will, PahoWillPublishedWhenBrokerCloses) {
    auto b = start_broker({"max_packet_size = \"1KB\""});
    auto sub = raw_connect(*b, "pw-sub");
    ASSERT_EQ(raw_subscribe(*sub, 1, {{"pw/#", 1}}), std::vector<std::uint8_t>{1});

    mqtt_client polite(b->uri(), "pw-polite");
    auto o = paho_options();
    o.will = mqtt::will_options("pw/polite", std::string("polite-gone"), 1, false);
    polite.connect(o);
    polite.disconnect();
    EXPECT_TRUE(drain_raw(*sub, 300ms).empty()) << "no will after DISCONNECT";

    mqtt_client paho(b->uri(), "pw-paho");
    o.will = mqtt::will_options("pw/paho", std::string("paho-gone"), 1, false);
    paho.connect(o);
    try {
        paho.publish("pw/big", std::string(4000, 'x'), 1);
    } catch (const std::exception&) {
        // The broker closes before PUBACK: Paho may report the failed publish.
    }
    auto p = expect<proto::publish>(*sub, 10s);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->topic, "pw/paho");
    EXPECT_EQ(p->payload, "paho-gone");
    EXPECT_EQ(p->qos_level, proto::qos::at_least_once);
    sub->send(proto::puback{p->packet_id, {}, {}});
    EXPECT_TRUE(drain_raw(*sub, 300ms).empty()) << "the oversized PUBLISH is not routed";
}

}  // namespace
}  // namespace rmqtt::test::integ
