// Retained messages through the real rmqttd (rmqtt-retainer plugin, ram engine).
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "integration_util.hpp"

namespace rmqtt::test::integ {
namespace {

// [MQTT-3.3.1-5] stored; [MQTT-3.3.1-6] sent to a new subscription; [MQTT-3.3.1-8] with RETAIN 1;
// [MQTT-3.3.1-9] an existing subscriber gets it with RETAIN 0.
TEST(Retained, StoredAndDeliveredWithRetainFlag) {
    auto b = start_broker();
    auto existing = raw_connect(*b, "ret-existing");
    ASSERT_EQ(raw_subscribe(*existing, 1, {{"ret/t", 1}}), std::vector<std::uint8_t>{1});
    auto pub = raw_connect(*b, "ret-pub");
    ASSERT_TRUE(raw_publish(*pub, "ret/t", "kept", 1, 1, /*retain=*/true));

    auto live = expect<proto::publish>(*existing);
    ASSERT_TRUE(live);
    EXPECT_EQ(live->payload, "kept");
    EXPECT_FALSE(live->retain) << "established subscription: RETAIN 0 [MQTT-3.3.1-9]";

    auto late = raw_connect(*b, "ret-late");
    ASSERT_EQ(raw_subscribe(*late, 1, {{"ret/t", 2}}), std::vector<std::uint8_t>{2});
    auto r = expect<proto::publish>(*late);
    ASSERT_TRUE(r) << "retained message on subscribe [MQTT-3.3.1-6]";
    EXPECT_EQ(r->topic, "ret/t");
    EXPECT_EQ(r->payload, "kept");
    EXPECT_TRUE(r->retain) << "[MQTT-3.3.1-8]";
    EXPECT_EQ(r->qos_level, proto::qos::at_least_once) << "min(message QoS 1, granted QoS 2)";
    ASSERT_TRUE(raw_ack(*late, *r));
    EXPECT_TRUE(drain_raw(*late).empty());

    // Re-subscribing sends it again (3.1.1: every SUBSCRIBE) [MQTT-3.8.4-3].
    ASSERT_EQ(raw_subscribe(*late, 2, {{"ret/t", 0}}), std::vector<std::uint8_t>{0});
    auto again = expect<proto::publish>(*late);
    ASSERT_TRUE(again);
    EXPECT_EQ(again->payload, "kept");
    EXPECT_TRUE(again->retain);
    EXPECT_EQ(again->qos_level, proto::qos::at_most_once);

    // Paho sees the flag too.
    mqtt_client paho(b->uri(), "ret-paho");
    paho.connect();
    ASSERT_EQ(paho.subscribe("ret/t", 1), 1);
    auto m = paho.next();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->payload, "kept");
    EXPECT_TRUE(m->retained);
}

// A new retained message replaces the old one [MQTT-3.3.1-5]; a non-retained publish neither
// stores nor replaces [MQTT-3.3.1-12]; QoS 0 retained replaces too [MQTT-3.3.1-7].
TEST(Retained, ReplacedByNewerRetainedOnly) {
    auto b = start_broker();
    auto pub = raw_connect(*b, "rep-pub");
    ASSERT_TRUE(raw_publish(*pub, "rep/t", "v1", 1, 1, true));
    ASSERT_TRUE(raw_publish(*pub, "rep/t", "v2", 1, 2, true));
    ASSERT_TRUE(raw_publish(*pub, "rep/t", "not-retained", 1, 3, false));
    ASSERT_TRUE(raw_publish(*pub, "rep/plain", "not-retained", 1, 4, false));

    auto sub = raw_connect(*b, "rep-sub");
    ASSERT_EQ(raw_subscribe(*sub, 1, {{"rep/#", 1}}), std::vector<std::uint8_t>{1});
    auto p = expect<proto::publish>(*sub);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->payload, "v2");
    EXPECT_TRUE(p->retain);
    ASSERT_TRUE(raw_ack(*sub, *p));
    EXPECT_TRUE(drain_raw(*sub).empty()) << "only the newest retained message, nothing else";

    // A QoS 0 retained message replaces the QoS 1 one.
    ASSERT_TRUE(raw_publish(*pub, "rep/t", "v3-qos0", 0, 0, true));
    auto live = expect<proto::publish>(*sub);
    ASSERT_TRUE(live);
    EXPECT_EQ(live->payload, "v3-qos0");
    EXPECT_FALSE(live->retain);
    auto sub2 = raw_connect(*b, "rep-sub2");
    ASSERT_EQ(raw_subscribe(*sub2, 1, {{"rep/t", 1}}), std::vector<std::uint8_t>{1});
    auto q = expect<proto::publish>(*sub2);
    ASSERT_TRUE(q);
    EXPECT_EQ(q->payload, "v3-qos0");
    EXPECT_EQ(q->qos_level, proto::qos::at_most_once);
    EXPECT_TRUE(drain_raw(*sub2).empty());
}

// [MQTT-3.3.1-10] [MQTT-3.3.1-11]: an empty retained payload is delivered as normal and removes
// the retained message; it is not stored itself.
TEST(Retained, EmptyPayloadDeletes) {
    auto b = start_broker();
    auto pub = raw_connect(*b, "del-pub");
    ASSERT_TRUE(raw_publish(*pub, "del/t", "old", 1, 1, true));
    auto existing = raw_connect(*b, "del-existing");
    ASSERT_EQ(raw_subscribe(*existing, 1, {{"del/t", 1}}), std::vector<std::uint8_t>{1});
    auto r = expect<proto::publish>(*existing);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->payload, "old");
    ASSERT_TRUE(raw_ack(*existing, *r));

    ASSERT_TRUE(raw_publish(*pub, "del/t", "", 1, 2, true));
    auto empty = expect<proto::publish>(*existing);
    ASSERT_TRUE(empty) << "the empty retained PUBLISH is forwarded as normal [MQTT-3.3.1-10]";
    EXPECT_EQ(empty->payload, "");
    EXPECT_FALSE(empty->retain);
    ASSERT_TRUE(raw_ack(*existing, *empty));

    auto late = raw_connect(*b, "del-late");
    ASSERT_EQ(raw_subscribe(*late, 1, {{"del/#", 1}}), std::vector<std::uint8_t>{1});
    EXPECT_TRUE(drain_raw(*late, 500ms).empty()) << "no retained message after the delete";

    // Deleting a topic that has no retained message is harmless; a new one is stored again.
    ASSERT_TRUE(raw_publish(*pub, "del/none", "", 0, 0, true));
    auto none = expect<proto::publish>(*late);
    ASSERT_TRUE(none) << "forwarded as a normal message";
    EXPECT_EQ(none->topic, "del/none");
    EXPECT_EQ(none->payload, "");
    ASSERT_TRUE(raw_publish(*pub, "del/t", "new", 1, 3, true));
    auto live = expect<proto::publish>(*late);
    ASSERT_TRUE(live);
    EXPECT_EQ(live->payload, "new");
    ASSERT_TRUE(raw_ack(*late, *live));
    auto later = raw_connect(*b, "del-later");
    ASSERT_EQ(raw_subscribe(*later, 1, {{"del/#", 1}}), std::vector<std::uint8_t>{1});
    auto n = expect<proto::publish>(*later);
    ASSERT_TRUE(n);
    EXPECT_EQ(n->payload, "new");
    ASSERT_TRUE(raw_ack(*later, *n));
    EXPECT_TRUE(drain_raw(*later).empty());
}

// A wildcard subscription receives every matching retained message, each with RETAIN 1, and
// none that does not match (including '$' topics for a leading wildcard [MQTT-4.7.2-1]).
TEST(Retained, WildcardSubscribeGetsAllMatching) {
    auto b = start_broker();
    auto pub = raw_connect(*b, "wr-pub");
    const std::vector<std::string> matching = {"wr/a", "wr/b", "wr/c/d", "wr"};
    std::uint16_t id = 1;
    for (const auto& t : matching)
        ASSERT_TRUE(raw_publish(*pub, t, "r:" + t, 1, id++, true));
    ASSERT_TRUE(raw_publish(*pub, "other/x", "r:other/x", 1, id++, true));
    ASSERT_TRUE(raw_publish(*pub, "$dollar/wr", "r:$dollar/wr", 1, id++, true));

    auto sub = raw_connect(*b, "wr-sub");
    ASSERT_EQ(raw_subscribe(*sub, 1, {{"wr/#", 1}}), std::vector<std::uint8_t>{1});
    std::vector<std::string> topics;
    for (auto& p : drain_raw(*sub, 500ms)) {
        ASSERT_TRUE(std::holds_alternative<proto::publish>(p));
        auto& m = std::get<proto::publish>(p);
        EXPECT_TRUE(m.retain) << m.topic;
        EXPECT_EQ(m.payload, "r:" + m.topic);
        topics.push_back(m.topic);
        sub->send(proto::puback{m.packet_id, {}, {}});
    }
    std::sort(topics.begin(), topics.end());
    auto expected = matching;
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(topics, expected);

    auto all = raw_connect(*b, "wr-all");
    ASSERT_EQ(raw_subscribe(*all, 1, {{"+/+", 0}}), std::vector<std::uint8_t>{0});
    std::vector<std::string> two_levels;
    for (auto& p : drain_raw(*all, 500ms))
        if (std::holds_alternative<proto::publish>(p))
            two_levels.push_back(std::get<proto::publish>(p).topic);
    std::sort(two_levels.begin(), two_levels.end());
    EXPECT_EQ(two_levels, (std::vector<std::string>{"other/x", "wr/a", "wr/b"}))
        << "'+/+' must not match '$dollar/wr' [MQTT-4.7.2-1]";
}

// Retained messages sent on subscribe go through the inflight window like any QoS 1 / 2
// delivery: with max_inflight = 2 the subscriber gets 2, then one more per acknowledgement, and
// every retained message exactly once.
TEST(Retained, RetainedDeliveryRespectsInflightWindow) {
    auto b = start_broker({"max_inflight = 2", "message_retry_interval = \"0s\""});
    auto pub = raw_connect(*b, "rw-pub");
    for (int i = 0; i < 5; ++i)
        ASSERT_TRUE(raw_publish(*pub, cat("rw/", i), cat("r", i), 1 + i % 2,
                                static_cast<std::uint16_t>(i + 1), true));
    auto sub = raw_connect(*b, "rw-sub");
    ASSERT_EQ(raw_subscribe(*sub, 1, {{"rw/+", 2}}), std::vector<std::uint8_t>{2});
    std::vector<proto::publish> first;
    for (auto& p : drain_raw(*sub, 500ms)) {
        ASSERT_TRUE(std::holds_alternative<proto::publish>(p));
        first.push_back(std::get<proto::publish>(p));
    }
    ASSERT_EQ(first.size(), 2u) << "max_inflight applies to retained deliveries";
    std::set<std::string> seen;
    std::vector<proto::publish> pending = first;
    for (int guard = 0; guard < 20 && !pending.empty(); ++guard) {
        auto p = pending.front();
        pending.erase(pending.begin());
        EXPECT_TRUE(p.retain);
        EXPECT_TRUE(seen.insert(p.payload).second) << "retained message twice: " << p.payload;
        if (p.qos_level == proto::qos::exactly_once) {
            sub->send(proto::pubrec{p.packet_id, {}, {}});
        } else {
            sub->send(proto::puback{p.packet_id, {}, {}});
        }
        // PUBREL for QoS 2 and the next PUBLISH may come in either order.
        for (auto& q : drain_raw(*sub, 300ms)) {
            if (auto* rel = std::get_if<proto::pubrel>(&q)) {
                sub->send(proto::pubcomp{rel->packet_id, {}, {}});
                for (auto& r : drain_raw(*sub, 300ms)) {
                    ASSERT_TRUE(std::holds_alternative<proto::publish>(r));
                    pending.push_back(std::get<proto::publish>(r));
                }
            } else {
                ASSERT_TRUE(std::holds_alternative<proto::publish>(q));
                pending.push_back(std::get<proto::publish>(q));
            }
        }
    }
    EXPECT_EQ(seen, (std::set<std::string>{"r0", "r1", "r2", "r3", "r4"}));
}

}  // namespace
}  // namespace rmqtt::test::integ
