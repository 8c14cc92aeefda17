// SUBSCRIBE / UNSUBSCRIBE through the real rmqttd: wildcards, overlapping subscriptions, invalid
// filters, unsubscribe, and topics starting with '$'.
#include <gtest/gtest.h>

#include <algorithm>

#include "integration_util.hpp"

namespace rmqtt::test::integ {
namespace {

// '+' matches exactly one level, '#' the parent and any number of levels [MQTT-4.7.1-2]
// [MQTT-4.7.1-3]; topic matching is case sensitive and level by level.
TEST(Subscribe, WildcardsMatchLevels) {
    auto b = start_broker();
    mqtt_client sub(b->uri(), "wc-sub");
    sub.connect();
    ASSERT_EQ(sub.subscribe("a/+/c", 1), 1);
    ASSERT_EQ(sub.subscribe("x/#", 1), 1);
    ASSERT_EQ(sub.subscribe("s/+", 1), 1);
    ASSERT_EQ(sub.subscribe("e/+/+", 1), 1);
    ASSERT_EQ(sub.subscribe("+/lead", 1), 1);
    ASSERT_EQ(sub.subscribe("d/+", 1), 1);
    ASSERT_EQ(sub.subscribe("f/+/#", 1), 1);
    ASSERT_EQ(sub.subscribe("/#", 1), 1);
    auto pub = raw_connect(*b, "wc-pub");
    // clang-format off
    const std::vector<std::pair<std::string, bool>> cases = {
        {"a/b/c", true},     // a/+/c
        {"a//c", true},      // '+' matches an empty level
        {"a/b/c/d", false},  // one level too many for a/+/c
        {"a/c", false},      // one level too few
        {"A/b/c", false},    // case sensitive
        {"x", true},         // x/# matches its parent level
        {"x/", true},        // and an empty child
        {"x/y/z", true},     // and any depth
        {"xy", false},       // not a prefix match
        {"s/top", true},     // s/+
        {"s/", true},        // '+' matches an empty last level
        {"s", false},        // but the level must exist
        {"s/a/b", false},
        {"e/1/2", true},     // e/+/+
        {"e/1", false},
        {"/lead", true},     // '+' matches the empty first level
        {"lead", false},
        {"d/$in", true},     // '$' matters only at the first level [MQTT-4.7.2-1]
        {"f/b", true},       // f/+/#: '#' also matches zero levels
        {"f", false},        // but '+' needs its level
        {"f/b/c/d", true},
        {"/", true},         // "/#": the empty first level, then the parent-level match
        {"/x/y", true},
    };
    // clang-format on
    std::uint16_t id = 1;
    for (const auto& [topic, match] : cases)
        ASSERT_TRUE(raw_publish(*pub, topic, topic, 1, id++));
    ASSERT_TRUE(raw_publish(*pub, "x/end", "end", 1, id));  // marks the end of the run
    std::vector<std::string> expected;
    for (const auto& [topic, match] : cases)
        if (match) expected.push_back(topic);
    expected.push_back("end");
    auto got = sub.take(expected.size());
    EXPECT_EQ(payloads(got), expected);
    EXPECT_TRUE(sub.drain(300ms).empty());
}

// Overlapping subscriptions: one delivery, at the highest QoS of the matching subscriptions
// [MQTT-3.3.5-1] (rmqttd delivers once; the spec allows but does not require extra copies).
TEST(Subscribe, OverlappingSubscriptionsDeliverOnceAtHighestQos) {
    auto b = start_broker();
    auto sub = raw_connect(*b, "ov-sub");
    EXPECT_EQ(raw_subscribe(*sub, 1, {{"ov/#", 0}, {"ov/+", 2}, {"ov/t", 1}}),
              (std::vector<std::uint8_t>{0, 2, 1}));
    auto pub = raw_connect(*b, "ov-pub");
    ASSERT_TRUE(raw_publish(*pub, "ov/t", "hi", 2, 1));
    auto p = expect<proto::publish>(*sub);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->payload, "hi");
    EXPECT_EQ(p->qos_level, proto::qos::exactly_once) << "maximum QoS of the matching filters";
    ASSERT_TRUE(raw_ack(*sub, *p));
    EXPECT_TRUE(drain_raw(*sub).empty()) << "delivered once";

    // Only ov/# matches ov/t/u: QoS 0.
    ASSERT_TRUE(raw_publish(*pub, "ov/t/u", "deep", 2, 2));
    auto q = expect<proto::publish>(*sub);
    ASSERT_TRUE(q);
    EXPECT_EQ(q->qos_level, proto::qos::at_most_once);
    EXPECT_TRUE(drain_raw(*sub).empty());
}

// Unsubscribing one of two overlapping filters leaves the other in force (its QoS now decides).
TEST(Subscribe, UnsubscribeOneOfOverlappingFilters) {
    auto b = start_broker();
    auto sub = raw_connect(*b, "uo-sub");
    EXPECT_EQ(raw_subscribe(*sub, 1, {{"uo/#", 0}, {"uo/t", 2}}),
              (std::vector<std::uint8_t>{0, 2}));
    sub->send(make_unsubscribe(2, {"uo/t"}));
    ASSERT_TRUE(expect<proto::unsuback>(*sub));
    auto pub = raw_connect(*b, "uo-pub");
    ASSERT_TRUE(raw_publish(*pub, "uo/t", "x", 2, 1));
    auto p = expect<proto::publish>(*sub);
    ASSERT_TRUE(p) << "uo/# still matches";
    EXPECT_EQ(p->qos_level, proto::qos::at_most_once);
    EXPECT_TRUE(drain_raw(*sub).empty());
}

// A second SUBSCRIBE to the same filter replaces the first (its QoS), it does not add a copy
// [MQTT-3.8.4-3].
TEST(Subscribe, ResubscribeReplacesQos) {
    auto b = start_broker();
    auto sub = raw_connect(*b, "rsub");
    EXPECT_EQ(raw_subscribe(*sub, 1, {{"rs/t", 2}}), std::vector<std::uint8_t>{2});
    EXPECT_EQ(raw_subscribe(*sub, 2, {{"rs/t", 0}}), std::vector<std::uint8_t>{0});
    auto pub = raw_connect(*b, "rpub");
    ASSERT_TRUE(raw_publish(*pub, "rs/t", "x", 2, 1));
    auto p = expect<proto::publish>(*sub);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->qos_level, proto::qos::at_most_once);
    EXPECT_TRUE(drain_raw(*sub).empty());
}

// A misplaced wildcard makes the SUBSCRIBE malformed: the connection is closed and none of its
// filters is granted, not even the valid ones [MQTT-4.7.1-2] [MQTT-4.7.1-3] [MQTT-4.8.0-1].
TEST(Subscribe, InvalidFilterClosesConnection) {
    auto b = start_broker();
    auto sub = raw_connect(*b, make_connect("inv-sub", /*clean*/ false));
    proto::subscribe s;
    s.packet_id = 3;
    for (const auto& [f, q] : std::vector<std::pair<std::string, int>>{{"ok/t", 1}, {"a/#/b", 1}}) {
        proto::topic_subscription t;
        t.filter = f;
        t.options.max_qos = static_cast<proto::qos>(q);
        s.topics.push_back(t);
    }
    sub->send(s);
    EXPECT_TRUE(sub->wait_closed(std::chrono::seconds(5))) << "malformed SUBSCRIBE closes";
    auto again = raw_connect(*b, make_connect("inv-sub", /*clean*/ false));
    auto pub = raw_connect(*b, "inv-pub");
    ASSERT_TRUE(raw_publish(*pub, "ok/t", "fine", 1, 1));
    EXPECT_TRUE(drain_raw(*again).empty())
        << "the valid filter of the malformed SUBSCRIBE was not granted";
}

// UNSUBACK carries the UNSUBSCRIBE's id [MQTT-3.10.4-4]; afterwards nothing more is delivered
// [MQTT-3.10.4-2], while other subscribers still get the messages.
TEST(Subscribe, UnsubscribeStopsDelivery) {
    auto b = start_broker();
    auto sub = raw_connect(*b, "un-sub");
    ASSERT_EQ(raw_subscribe(*sub, 1, {{"un/t", 1}, {"un/other", 1}}),
              (std::vector<std::uint8_t>{1, 1}));
    mqtt_client witness(b->uri(), "un-witness");
    witness.connect();
    ASSERT_EQ(witness.subscribe("un/t", 1), 1);
    auto pub = raw_connect(*b, "un-pub");

    ASSERT_TRUE(raw_publish(*pub, "un/t", "before", 1, 1));
    auto p = expect<proto::publish>(*sub);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->payload, "before");
    sub->send(proto::puback{p->packet_id, {}, {}});

    sub->send(make_unsubscribe(77, {"un/t", "never/subscribed"}));
    auto ack = expect<proto::unsuback>(*sub);
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->packet_id, 77);

    ASSERT_TRUE(raw_publish(*pub, "un/t", "after", 1, 2));
    ASSERT_TRUE(raw_publish(*pub, "un/other", "still", 1, 3));
    auto q = expect<proto::publish>(*sub);
    ASSERT_TRUE(q);
    EXPECT_EQ(q->payload, "still") << "the unsubscribed filter must not deliver";
    sub->send(proto::puback{q->packet_id, {}, {}});
    EXPECT_TRUE(drain_raw(*sub).empty());
    EXPECT_EQ(payloads(witness.take(2)), (std::vector<std::string>{"before", "after"}));

    // Paho: unsubscribe stops delivery too.
    witness.unsubscribe("un/t");
    ASSERT_TRUE(raw_publish(*pub, "un/t", "gone", 1, 4));
    EXPECT_TRUE(witness.drain(500ms).empty());
}

// [MQTT-4.7.2-1]: filters starting with a wildcard do not match topics starting with '$'. A
// client may publish to "$test/x" (delivered to "$test/#"); "$SYS/..." from clients is not routed.
TEST(Subscribe, DollarTopicsNotMatchedByLeadingWildcards) {
    auto b = start_broker();
    mqtt_client hash(b->uri(), "d-hash");
    mqtt_client plus(b->uri(), "d-plus");
    mqtt_client dollar(b->uri(), "d-dollar");
    connect_all({&hash, &plus, &dollar});
    ASSERT_EQ(hash.subscribe("#", 1), 1);
    ASSERT_EQ(plus.subscribe("+/x", 1), 1);
    ASSERT_EQ(plus.subscribe("+/+", 1), 1);
    ASSERT_EQ(dollar.subscribe("$test/#", 1), 1);
    ASSERT_EQ(dollar.subscribe("$SYS/test/#", 1), 1);
    ASSERT_EQ(dollar.subscribe("$exact", 1), 1);

    auto pub = raw_connect(*b, "d-pub");
    EXPECT_TRUE(raw_publish(*pub, "$test/x", "dollar", 1, 1)) << "PUBACK for a '$' topic";
    EXPECT_TRUE(raw_publish(*pub, "$SYS/test/x", "sys", 1, 2))
        << "3.1.1 has no negative PUBACK: the client gets PUBACK, the message is dropped";
    EXPECT_TRUE(raw_publish(*pub, "$test", "dollar-parent", 1, 4));
    EXPECT_TRUE(raw_publish(*pub, "$exact", "dollar-exact", 1, 5));
    EXPECT_TRUE(raw_publish(*pub, "plain/x", "plain", 1, 3));

    auto d = dollar.take(3);
    ASSERT_EQ(d.size(), 3u);
    EXPECT_EQ(d[0].topic, "$test/x");
    EXPECT_EQ(d[0].payload, "dollar");
    EXPECT_EQ(d[1].topic, "$test") << "'$test/#' matches its parent level";
    EXPECT_EQ(d[2].topic, "$exact");
    EXPECT_TRUE(dollar.drain(300ms).empty()) << "a client's $SYS publish must not be routed";

    // '#' and '+/x' see only the plain topic (once each: '+/x' and '+/+' overlap).
    auto h = hash.take(1);
    ASSERT_EQ(h.size(), 1u);
    EXPECT_EQ(h[0].topic, "plain/x");
    EXPECT_TRUE(hash.drain(300ms).empty());
    auto p = plus.take(1);
    ASSERT_EQ(p.size(), 1u);
    EXPECT_EQ(p[0].topic, "plain/x");
    EXPECT_TRUE(plus.drain(300ms).empty());
    pub->send(proto::pingreq{});
    EXPECT_TRUE(expect<proto::pingresp>(*pub)) << "the publisher stays connected";
}

// Several filters in one SUBSCRIBE get one return code each, in order [MQTT-3.8.4-4]
// [MQTT-3.9.3-1], and the SUBACK carries the SUBSCRIBE's id [MQTT-3.8.4-2].
TEST(Subscribe, SubackHasOneCodePerFilterInOrder) {
    auto b = start_broker();
    auto sub = raw_connect(*b, "multi-sub");
    EXPECT_EQ(raw_subscribe(*sub, 0xBEEF, {{"m/2", 2}, {"m/0", 0}, {"m/1", 1}, {"m/+/#", 2}}),
              (std::vector<std::uint8_t>{2, 0, 1, 2}));
}

// Topic names and filters are UTF-8 and compared without normalisation [MQTT-4.7.3-4]: the
// composed "é" (U+00E9) and the decomposed "e" + U+0301 are different topics.
TEST(Subscribe, Utf8TopicsMatchWithoutNormalisation) {
    auto b = start_broker();
    const std::string composed = "caf\xC3\xA9";     // café, U+00E9
    const std::string decomposed = "cafe\xCC\x81";  // cafe + U+0301
    auto sub = raw_connect(*b, "utf8-sub");
    ASSERT_EQ(raw_subscribe(*sub, 1, {{"u/" + composed, 1}, {"\xE6\xB8\xA9/+", 1}}),
              (std::vector<std::uint8_t>{1, 1}));
    auto pub = raw_connect(*b, "utf8-pub");
    ASSERT_TRUE(raw_publish(*pub, "u/" + decomposed, "decomposed", 1, 1));
    ASSERT_TRUE(raw_publish(*pub, "u/" + composed, "composed", 1, 2));
    ASSERT_TRUE(raw_publish(*pub, "\xE6\xB8\xA9/\xF0\x9F\x98\x80", "four-byte", 1, 3));
    std::vector<std::string> got;
    for (auto& p : drain_raw(*sub, 500ms)) {
        ASSERT_TRUE(std::holds_alternative<proto::publish>(p));
        auto& m = std::get<proto::publish>(p);
        got.push_back(m.payload);
        sub->send(proto::puback{m.packet_id, {}, {}});
    }
    EXPECT_EQ(got, (std::vector<std::string>{"composed", "four-byte"}));
}

// A topic name with a wildcard character is a protocol violation for a PUBLISH
// [MQTT-3.3.2-2]: the broker closes the connection and routes nothing.
TEST(Subscribe, PublishToWildcardTopicCloses) {
    auto b = start_broker();
    auto sub = raw_connect(*b, "wt-sub");
    ASSERT_EQ(raw_subscribe(*sub, 1, {{"#", 1}}), std::vector<std::uint8_t>{1});
    for (const std::string topic : {"wt/+", "wt/#", "+"}) {
        auto pub = raw_connect(*b, "wt-pub");
        pub->send(make_publish(topic, "x", 1, 1));
        std::vector<std::uint8_t> before;
        EXPECT_TRUE(pub->wait_closed(5s, &before)) << topic;
        EXPECT_TRUE(before.empty()) << "no PUBACK for " << topic;
    }
    EXPECT_TRUE(drain_raw(*sub, 300ms).empty());
}

}  // namespace
}  // namespace rmqtt::test::integ
