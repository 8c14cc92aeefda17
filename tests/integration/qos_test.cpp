// QoS 0 / 1 / 2 flows through the real rmqttd: both directions on the wire, downgrade to the
// subscription's QoS, max_qos_allowed, exactly-once receiving, the outbound inflight window,
// resends (reconnect and message_retry_interval) and the offline queue limit.
#include <gtest/gtest.h>

#include <set>

#include "integration_util.hpp"

namespace rmqtt::test::integ {
namespace {

// Reads up to `max` QoS 1 PUBLISHes, acknowledging each with PUBACK, until none comes for 1 s.
std::vector<proto::publish> take_acking(raw_client& c, int max) {
    std::vector<proto::publish> got;
    for (int guard = 0; guard < max; ++guard) {
        auto p = expect<proto::publish>(c, 1s);
        if (!p) break;
        c.send(proto::puback{p->packet_id, {}, {}});
        got.push_back(std::move(*p));
    }
    return got;
}

// The publication is delivered at min(publish QoS, granted QoS) [MQTT-3.8.4-6] (5.0:
// [MQTT-3.8.4-8]), for each of the nine combinations.
TEST(Qos, DeliveredAtMinimumOfPublishAndSubscriptionQos) {
    auto b = start_broker();
    std::vector<std::unique_ptr<mqtt_client>> subs;
    for (int s = 0; s <= 2; ++s)
        subs.push_back(std::make_unique<mqtt_client>(b->uri(), cat("sub-q", s)));
    mqtt_client pub(b->uri(), "pub");
    connect_all({subs[0].get(), subs[1].get(), subs[2].get(), &pub});
    for (int s = 0; s <= 2; ++s)
        ASSERT_EQ(subs[s]->subscribe("qos/matrix", s), s);
    for (int p = 0; p <= 2; ++p)
        pub.publish("qos/matrix", cat("p", p), p);
    for (int s = 0; s <= 2; ++s) {
        auto got = subs[s]->take(3);
        ASSERT_EQ(got.size(), 3u) << "subscriber at QoS " << s;
        for (int p = 0; p <= 2; ++p) {
            EXPECT_EQ(got[p].payload, cat("p", p)) << "order, subscriber QoS " << s;
            EXPECT_EQ(got[p].qos, std::min(p, s)) << "publish QoS " << p << ", sub QoS " << s;
            EXPECT_FALSE(got[p].retained);
        }
        EXPECT_TRUE(subs[s]->drain(200ms).empty()) << "no duplicates at QoS " << s;
    }
}

// The flows on the wire, client to server and server to client: PUBACK / PUBREC / PUBREL /
// PUBCOMP with the packet identifiers of the PUBLISH they answer.
TEST(Qos, WireFlowsInBothDirections) {
    auto b = start_broker();
    auto sub = raw_connect(*b, "raw-sub");
    ASSERT_EQ(raw_subscribe(*sub, 10, {{"wire/#", 2}}), std::vector<std::uint8_t>{2});
    auto pub = raw_connect(*b, "raw-pub");

    // QoS 1 in: PUBACK with the same id [MQTT-4.3.2-2].
    pub->send(make_publish("wire/1", "one", 1, 0x1234));
    auto ack = expect<proto::puback>(*pub);
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->packet_id, 0x1234);
    // QoS 1 out: PUBLISH QoS 1 with a non-zero id, DUP 0; the subscriber's PUBACK ends it.
    auto p1 = expect<proto::publish>(*sub);
    ASSERT_TRUE(p1);
    EXPECT_EQ(p1->topic, "wire/1");
    EXPECT_EQ(p1->payload, "one");
    EXPECT_EQ(p1->qos_level, proto::qos::at_least_once);
    EXPECT_NE(p1->packet_id, 0);
    EXPECT_FALSE(p1->dup) << "[MQTT-4.3.2-1] first delivery has DUP 0";
    EXPECT_FALSE(p1->retain);
    sub->send(proto::puback{p1->packet_id, {}, {}});

    // QoS 2 in: PUBREC, then PUBREL -> PUBCOMP [MQTT-4.3.3-2].
    pub->send(make_publish("wire/2", "two", 2, 0x4321));
    auto rec = expect<proto::pubrec>(*pub);
    ASSERT_TRUE(rec);
    EXPECT_EQ(rec->packet_id, 0x4321);
    pub->send(proto::pubrel{0x4321, {}, {}});
    auto comp = expect<proto::pubcomp>(*pub);
    ASSERT_TRUE(comp);
    EXPECT_EQ(comp->packet_id, 0x4321);

    // QoS 2 out: PUBLISH QoS 2 -> PUBREC -> PUBREL (same id) -> PUBCOMP.
    auto p2 = expect<proto::publish>(*sub);
    ASSERT_TRUE(p2);
    EXPECT_EQ(p2->payload, "two");
    EXPECT_EQ(p2->qos_level, proto::qos::exactly_once);
    EXPECT_NE(p2->packet_id, 0);
    EXPECT_NE(p2->packet_id, p1->packet_id) << "new message, new id while the old one is in use";
    sub->send(proto::pubrec{p2->packet_id, {}, {}});
    auto rel = expect<proto::pubrel>(*sub);
    ASSERT_TRUE(rel);
    EXPECT_EQ(rel->packet_id, p2->packet_id);
    sub->send(proto::pubcomp{p2->packet_id, {}, {}});

    // QoS 0 in and out: no acknowledgement, no packet id.
    pub->send(make_publish("wire/0", "zero", 0));
    auto p0 = expect<proto::publish>(*sub);
    ASSERT_TRUE(p0);
    EXPECT_EQ(p0->payload, "zero");
    EXPECT_EQ(p0->qos_level, proto::qos::at_most_once);
    EXPECT_TRUE(drain_raw(*pub).empty()) << "QoS 0 is not acknowledged";
    EXPECT_TRUE(drain_raw(*sub).empty()) << "nothing resent after the flows completed";
}

// max_qos_allowed = 1: a QoS 2 SUBSCRIBE is granted QoS 1, and delivery follows the grant.
TEST(Qos, MaxQosAllowedGrantsLowerQos) {
    auto b = start_broker({"max_qos_allowed = 1"});
    auto sub = raw_connect(*b, "mqa-sub");
    EXPECT_EQ(raw_subscribe(*sub, 1, {{"mqa/a", 2}, {"mqa/b", 1}, {"mqa/c", 0}}),
              (std::vector<std::uint8_t>{1, 1, 0}));
    auto pub = raw_connect(*b, "mqa-pub");
    ASSERT_TRUE(raw_publish(*pub, "mqa/a", "x", 1, 5));
    auto p = expect<proto::publish>(*sub);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->qos_level, proto::qos::at_least_once);
    EXPECT_EQ(p->payload, "x");
}

// Exactly once, receiver side (4.3.3 Method B): the publisher re-sends the same QoS 2 PUBLISH
// (DUP 1, same id) before PUBREL; the subscriber gets it once. After PUBCOMP the id is free:
// a new PUBLISH with it is a new message.
TEST(Qos, Qos2ResendBeforePubrelDeliveredOnce) {
    auto b = start_broker();
    mqtt_client sub(b->uri(), "eo-sub");
    sub.connect();
    ASSERT_EQ(sub.subscribe("eo/t", 2), 2);

    auto pub = raw_connect(*b, "eo-pub");
    pub->send(make_publish("eo/t", "first", 2, 7));
    auto rec1 = expect<proto::pubrec>(*pub);
    ASSERT_TRUE(rec1);
    EXPECT_EQ(rec1->packet_id, 7);
    for (int i = 0; i < 2; ++i) {
        pub->send(make_publish("eo/t", "first", 2, 7, false, /*dup=*/true));
        auto rec = expect<proto::pubrec>(*pub);
        ASSERT_TRUE(rec) << "a re-sent QoS 2 PUBLISH is answered with PUBREC again";
        EXPECT_EQ(rec->packet_id, 7);
    }
    pub->send(proto::pubrel{7, {}, {}});
    auto comp = expect<proto::pubcomp>(*pub);
    ASSERT_TRUE(comp);
    EXPECT_EQ(comp->packet_id, 7);

    auto got = sub.take(1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].payload, "first");
    EXPECT_TRUE(sub.drain(500ms).empty()) << "the re-sent PUBLISH must not be delivered again";

    // Id 7 is released: the same id now carries a new message.
    ASSERT_TRUE(raw_publish(*pub, "eo/t", "second", 2, 7));
    auto again = sub.take(1);
    ASSERT_EQ(again.size(), 1u);
    EXPECT_EQ(again[0].payload, "second");
    EXPECT_TRUE(sub.drain(300ms).empty());
}

// A raw subscriber that never acknowledges gets exactly max_inflight QoS 1 messages; each PUBACK
// lets the next one out, in order.
TEST(Qos, OutboundWindowIsMaxInflight) {
    auto b = start_broker({"max_inflight = 4", "message_retry_interval = \"0s\""});
    auto sub = raw_connect(*b, "win-sub");
    ASSERT_EQ(raw_subscribe(*sub, 1, {{"win/t", 1}}), std::vector<std::uint8_t>{1});
    mqtt_client pub(b->uri(), "win-pub");
    pub.connect();
    for (int i = 0; i < 10; ++i)
        pub.publish("win/t", cat("m", i), 1);

    std::vector<proto::publish> first;
    for (auto& p : drain_raw(*sub, 500ms)) {
        ASSERT_TRUE(std::holds_alternative<proto::publish>(p));
        first.push_back(std::get<proto::publish>(p));
    }
    ASSERT_EQ(first.size(), 4u) << "exactly max_inflight unacknowledged messages";
    std::set<std::uint16_t> ids;
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(first[i].payload, cat("m", i));
        EXPECT_FALSE(first[i].dup);
        ids.insert(first[i].packet_id);
    }
    EXPECT_EQ(ids.size(), 4u) << "distinct packet ids in flight";

    // One PUBACK frees one slot: exactly one more message.
    sub->send(proto::puback{first[0].packet_id, {}, {}});
    auto next = drain_raw(*sub, 500ms);
    ASSERT_EQ(next.size(), 1u);
    ASSERT_TRUE(std::holds_alternative<proto::publish>(next[0]));
    EXPECT_EQ(std::get<proto::publish>(next[0]).payload, "m4");

    // Acknowledge everything as it comes: the rest arrives in order.
    std::vector<proto::publish> inflight(first.begin() + 1, first.end());
    inflight.push_back(std::get<proto::publish>(next[0]));
    std::vector<std::string> rest;
    for (auto& p : inflight)
        sub->send(proto::puback{p.packet_id, {}, {}});
    for (int guard = 0; guard < 20 && rest.size() < 5; ++guard) {
        auto p = expect<proto::publish>(*sub, 2s);
        if (!p) break;
        rest.push_back(p->payload);
        sub->send(proto::puback{p->packet_id, {}, {}});
    }
    EXPECT_EQ(rest, (std::vector<std::string>{"m5", "m6", "m7", "m8", "m9"}));
    EXPECT_TRUE(drain_raw(*sub).empty());
}

// QoS 2 window: a message whose PUBREC was sent but whose PUBCOMP was not still holds its slot;
// PUBCOMP releases it.
TEST(Qos, Qos2OutboundWindowHeldUntilPubcomp) {
    auto b = start_broker({"max_inflight = 2", "message_retry_interval = \"0s\""});
    auto sub = raw_connect(*b, "win2-sub");
    ASSERT_EQ(raw_subscribe(*sub, 1, {{"win2/t", 2}}), std::vector<std::uint8_t>{2});
    mqtt_client pub(b->uri(), "win2-pub");
    pub.connect();
    for (int i = 0; i < 4; ++i)
        pub.publish("win2/t", cat("m", i), 2);

    auto a = expect<proto::publish>(*sub);
    auto c = expect<proto::publish>(*sub);
    ASSERT_TRUE(a && c);
    EXPECT_EQ(a->payload, "m0");
    EXPECT_EQ(c->payload, "m1");
    EXPECT_TRUE(drain_raw(*sub, 400ms).empty()) << "window of 2 is full";

    sub->send(proto::pubrec{a->packet_id, {}, {}});
    auto rel = expect<proto::pubrel>(*sub);
    ASSERT_TRUE(rel);
    EXPECT_EQ(rel->packet_id, a->packet_id);
    EXPECT_TRUE(drain_raw(*sub, 400ms).empty()) << "PUBREC alone does not free the slot";

    sub->send(proto::pubcomp{a->packet_id, {}, {}});
    auto d = expect<proto::publish>(*sub);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->payload, "m2");
    EXPECT_TRUE(drain_raw(*sub, 400ms).empty());
}

// [MQTT-4.4.0-1]: on reconnect with CleanSession 0, unacknowledged QoS 1 and QoS 2 PUBLISHes are
// resent with DUP 1 and their original packet ids, in the original order [MQTT-4.6.0-1].
TEST(Qos, ResendOnReconnectWithDupAndSameIds) {
    auto b = start_broker({"message_retry_interval = \"0s\""});
    std::vector<proto::publish> original;
    {
        auto sub = raw_connect(*b, "rs-sub", /*clean=*/false);
        ASSERT_EQ(raw_subscribe(*sub, 1, {{"rs/1", 1}, {"rs/2", 2}}),
                  (std::vector<std::uint8_t>{1, 2}));
        mqtt_client pub(b->uri(), "rs-pub");
        pub.connect();
        pub.publish("rs/1", "a", 1);
        pub.publish("rs/2", "b", 2);
        pub.publish("rs/1", "c", 1);
        for (int i = 0; i < 3; ++i) {
            auto p = expect<proto::publish>(*sub);
            ASSERT_TRUE(p);
            EXPECT_FALSE(p->dup);
            original.push_back(*p);
        }
        // The socket closes without DISCONNECT and without any acknowledgement.
    }
    ASSERT_EQ(original.size(), 3u);
    bool sp = false;
    auto sub = raw_connect(*b, "rs-sub", /*clean=*/false, &sp);
    EXPECT_TRUE(sp);
    std::vector<proto::publish> resent;
    for (int i = 0; i < 3; ++i) {
        auto p = expect<proto::publish>(*sub);
        ASSERT_TRUE(p) << "resend " << i;
        resent.push_back(*p);
    }
    for (int i = 0; i < 3; ++i) {
        EXPECT_TRUE(resent[i].dup) << "resend must set DUP [MQTT-3.3.1-1]";
        EXPECT_EQ(resent[i].packet_id, original[i].packet_id) << "same packet id";
        EXPECT_EQ(resent[i].payload, original[i].payload) << "same order";
        EXPECT_EQ(resent[i].topic, original[i].topic);
        EXPECT_EQ(resent[i].qos_level, original[i].qos_level);
    }
    for (auto& p : resent)
        ASSERT_TRUE(raw_ack(*sub, p));
    EXPECT_TRUE(drain_raw(*sub).empty());
    raw_disconnect(*sub);

    // Everything was acknowledged: nothing is resent on the next connection.
    auto again = raw_connect(*b, "rs-sub", /*clean=*/false, &sp);
    EXPECT_TRUE(sp);
    EXPECT_TRUE(drain_raw(*again, 500ms).empty());
}

// [MQTT-4.4.0-1]: a QoS 2 message whose PUBREC the client sent (and whose PUBREL it saw) is
// completed on reconnect with a PUBREL, not a new PUBLISH.
TEST(Qos, PubrelResentAfterReconnect) {
    auto b = start_broker({"message_retry_interval = \"0s\""});
    std::uint16_t id = 0;
    {
        auto sub = raw_connect(*b, "pr-sub", /*clean=*/false);
        ASSERT_EQ(raw_subscribe(*sub, 1, {{"pr/t", 2}}), std::vector<std::uint8_t>{2});
        mqtt_client pub(b->uri(), "pr-pub");
        pub.connect();
        pub.publish("pr/t", "once", 2);
        auto p = expect<proto::publish>(*sub);
        ASSERT_TRUE(p);
        id = p->packet_id;
        sub->send(proto::pubrec{id, {}, {}});
        auto rel = expect<proto::pubrel>(*sub);
        ASSERT_TRUE(rel);
        EXPECT_EQ(rel->packet_id, id);
        // Gone before PUBCOMP.
    }
    bool sp = false;
    auto sub = raw_connect(*b, "pr-sub", /*clean=*/false, &sp);
    EXPECT_TRUE(sp);
    auto p = sub->receive();
    ASSERT_TRUE(p);
    ASSERT_TRUE(std::holds_alternative<proto::pubrel>(*p))
        << "expected PUBREL, got packet type " << static_cast<int>(proto::type_of(*p));
    EXPECT_EQ(std::get<proto::pubrel>(*p).packet_id, id);
    sub->send(proto::pubcomp{id, {}, {}});
    EXPECT_TRUE(drain_raw(*sub).empty()) << "no PUBLISH of the released message";
    raw_disconnect(*sub);

    auto again = raw_connect(*b, "pr-sub", /*clean=*/false, &sp);
    EXPECT_TRUE(drain_raw(*again, 500ms).empty()) << "PUBCOMP ended the flow";
}

// 3.1.1 message_retry_interval: an unacknowledged QoS 1 PUBLISH is resent with DUP 1 and the
// same id while the client stays connected; after PUBACK it is not resent any more.
TEST(Qos, MessageRetryIntervalResendsWithDup) {
    auto b = start_broker({"message_retry_interval = \"1s\""});
    auto sub = raw_connect(*b, "retry-sub");
    ASSERT_EQ(raw_subscribe(*sub, 1, {{"retry/#", 2}}), std::vector<std::uint8_t>{2});
    auto pub = raw_connect(*b, "retry-pub");
    ASSERT_TRUE(raw_publish(*pub, "retry/1", "r1", 1, 1));

    auto first = expect<proto::publish>(*sub);
    ASSERT_TRUE(first);
    EXPECT_FALSE(first->dup);
    auto resent = expect<proto::publish>(*sub, 10s);
    ASSERT_TRUE(resent) << "no resend within 10 s with message_retry_interval = 1s";
    EXPECT_TRUE(resent->dup);
    EXPECT_EQ(resent->packet_id, first->packet_id);
    EXPECT_EQ(resent->payload, "r1");
    sub->send(proto::puback{first->packet_id, {}, {}});
    // Two retry intervals without a resend.
    for (auto& p : drain_raw(*sub, 2500ms)) {
        ADD_FAILURE() << "resent after PUBACK: packet type " << static_cast<int>(proto::type_of(p));
    }

    // QoS 2: the PUBLISH is resent until PUBREC.
    ASSERT_TRUE(raw_publish(*pub, "retry/2", "r2", 2, 2));
    auto q2 = expect<proto::publish>(*sub);
    ASSERT_TRUE(q2);
    EXPECT_FALSE(q2->dup);
    auto q2again = expect<proto::publish>(*sub, 10s);
    ASSERT_TRUE(q2again);
    EXPECT_TRUE(q2again->dup);
    EXPECT_EQ(q2again->packet_id, q2->packet_id);
    EXPECT_TRUE(raw_ack(*sub, *q2));
}

// [MQTT-4.6.0-1]: re-sent PUBLISHes (here by message_retry_interval) go out in the order of
// the original sends, each with DUP 1 and its original id.
TEST(Qos, RetryResendsInOriginalOrder) {
    auto b = start_broker({"message_retry_interval = \"1s\""});
    auto sub = raw_connect(*b, "ro-sub");
    ASSERT_EQ(raw_subscribe(*sub, 1, {{"ro/t", 1}}), std::vector<std::uint8_t>{1});
    auto pub = raw_connect(*b, "ro-pub");
    for (int i = 0; i < 10; ++i)
        ASSERT_TRUE(raw_publish(*pub, "ro/t", cat("m", i), 1, static_cast<std::uint16_t>(i + 1)));
    std::vector<proto::publish> first;
    for (int i = 0; i < 10; ++i) {
        auto p = expect<proto::publish>(*sub);
        ASSERT_TRUE(p);
        ASSERT_FALSE(p->dup);
        first.push_back(*p);
    }
    for (int i = 0; i < 10; ++i) {
        auto p = expect<proto::publish>(*sub, 10s);
        ASSERT_TRUE(p) << "resend " << i;
        EXPECT_TRUE(p->dup);
        EXPECT_EQ(p->payload, first[i].payload) << "resend order";
        EXPECT_EQ(p->packet_id, first[i].packet_id);
    }
    for (auto& p : first)
        sub->send(proto::puback{p.packet_id, {}, {}});
}

// max_mqueue_len: an offline persistent session keeps only the newest N queued messages. The
// policy is drop-oldest (RMQTT's stored-queue policy; the broker sets
// outbound_queue::overflow_policy::drop_oldest), so the client gets the last N, in order.
TEST(Qos, MaxMqueueLenKeepsNewestWhileOffline) {
    auto b = start_broker({"max_mqueue_len = 5"});
    {
        auto sub = raw_connect(*b, "mq-sub", /*clean=*/false);
        ASSERT_EQ(raw_subscribe(*sub, 1, {{"mq/t", 1}}), std::vector<std::uint8_t>{1});
        raw_disconnect(*sub);
    }
    mqtt_client pub(b->uri(), "mq-pub");
    pub.connect();
    for (int i = 0; i < 12; ++i)
        pub.publish("mq/t", cat("m", i), 1);

    bool sp = false;
    auto sub = raw_connect(*b, "mq-sub", /*clean=*/false, &sp);
    EXPECT_TRUE(sp);
    EXPECT_EQ(raw_payloads(take_acking(*sub, 20)),
              (std::vector<std::string>{"m7", "m8", "m9", "m10", "m11"}));
}

// [MQTT-3.3.1-3]: the DUP flag of an incoming PUBLISH is not propagated to subscribers.
TEST(Qos, DupFlagNotPropagated) {
    auto b = start_broker();
    auto sub = raw_connect(*b, "dup-sub");
    ASSERT_EQ(raw_subscribe(*sub, 1, {{"dup/t", 2}}), std::vector<std::uint8_t>{2});
    auto pub = raw_connect(*b, "dup-pub");
    pub->send(make_publish("dup/t", "d1", 1, 3, false, /*dup=*/true));
    ASSERT_TRUE(expect<proto::puback>(*pub));
    auto p = expect<proto::publish>(*sub);
    ASSERT_TRUE(p);
    EXPECT_FALSE(p->dup) << "[MQTT-3.3.1-3]";
    ASSERT_TRUE(raw_ack(*sub, *p));
    pub->send(make_publish("dup/t", "d2", 2, 4, false, /*dup=*/true));
    ASSERT_TRUE(expect<proto::pubrec>(*pub));
    pub->send(proto::pubrel{4, {}, {}});
    ASSERT_TRUE(expect<proto::pubcomp>(*pub));
    auto q = expect<proto::publish>(*sub);
    ASSERT_TRUE(q);
    EXPECT_FALSE(q->dup);
}

// Exactly once across a reconnect (4.3.3 Method B, [MQTT-4.4.0-1]): a publisher with
// CleanSession 0 got PUBREC, lost the connection, reconnects and re-sends the PUBLISH (DUP 1,
// same id), then PUBREL. The message is delivered once.
TEST(Qos, Qos2InboundStateSurvivesReconnect) {
    auto b = start_broker();
    auto sub = raw_connect(*b, "eor-sub");
    ASSERT_EQ(raw_subscribe(*sub, 1, {{"eor/t", 2}}), std::vector<std::uint8_t>{2});
    {
        auto pub = raw_connect(*b, "eor-pub", /*clean=*/false);
        pub->send(make_publish("eor/t", "once", 2, 42));
        auto rec = expect<proto::pubrec>(*pub);
        ASSERT_TRUE(rec);
        EXPECT_EQ(rec->packet_id, 42);
    }  // dropped before PUBREL
    auto first = expect<proto::publish>(*sub);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->payload, "once");
    ASSERT_TRUE(raw_ack(*sub, *first));

    bool sp = false;
    auto pub = raw_connect(*b, "eor-pub", /*clean=*/false, &sp);
    EXPECT_TRUE(sp);
    pub->send(make_publish("eor/t", "once", 2, 42, false, /*dup=*/true));
    auto rec = expect<proto::pubrec>(*pub);
    ASSERT_TRUE(rec);
    EXPECT_EQ(rec->packet_id, 42);
    pub->send(proto::pubrel{42, {}, {}});
    auto comp = expect<proto::pubcomp>(*pub);
    ASSERT_TRUE(comp);
    EXPECT_EQ(comp->packet_id, 42);
    EXPECT_TRUE(drain_raw(*sub, 500ms).empty()) << "the re-sent PUBLISH was delivered twice";

    // And a PUBREL alone after another reconnect (the flow already ended) still gets PUBCOMP.
    pub.reset();
    auto again = raw_connect(*b, "eor-pub", /*clean=*/false);
    again->send(proto::pubrel{42, {}, {}});
    auto comp2 = expect<proto::pubcomp>(*again);
    ASSERT_TRUE(comp2);
    EXPECT_EQ(comp2->packet_id, 42);
}

// A CleanSession 1 publisher starts without state: a packet id left awaiting PUBREL by its
// previous connection is a new message on the new connection [MQTT-3.1.2-6].
TEST(Qos, CleanSessionPublisherDoesNotKeepInboundQos2State) {
    auto b = start_broker();
    auto sub = raw_connect(*b, "cs2-sub");
    ASSERT_EQ(raw_subscribe(*sub, 1, {{"cs2/t", 2}}), std::vector<std::uint8_t>{2});
    {
        auto pub = raw_connect(*b, "cs2-pub", /*clean=*/true);
        pub->send(make_publish("cs2/t", "old", 2, 9));
        ASSERT_TRUE(expect<proto::pubrec>(*pub));
        raw_disconnect(*pub);
    }
    auto m1 = expect<proto::publish>(*sub);
    ASSERT_TRUE(m1);
    EXPECT_EQ(m1->payload, "old");
    ASSERT_TRUE(raw_ack(*sub, *m1));
    auto pub = raw_connect(*b, "cs2-pub", /*clean=*/true);
    ASSERT_TRUE(raw_publish(*pub, "cs2/t", "new", 2, 9));
    auto m2 = expect<proto::publish>(*sub);
    ASSERT_TRUE(m2) << "id 9 on a new clean session is a new message";
    EXPECT_EQ(m2->payload, "new");
}

// While connected, messages beyond the inflight window wait in the session queue, which keeps
// max_mqueue_len entries and drops the oldest queued (not inflight) ones.
TEST(Qos, MaxMqueueLenWhileOnlineDropsOldestQueued) {
    // mqueue_overflow = "drop": RMQTT's behaviour (the default holds the publisher instead:
    // backpressure_test.cpp).
    auto b = start_broker({"max_inflight = 2", "max_mqueue_len = 3", "mqueue_overflow = \"drop\"",
                           "message_retry_interval = \"0s\""});
    auto sub = raw_connect(*b, "mqo-sub");
    ASSERT_EQ(raw_subscribe(*sub, 1, {{"mqo/t", 1}}), std::vector<std::uint8_t>{1});
    auto pub = raw_connect(*b, "mqo-pub");
    for (int i = 0; i < 10; ++i)
        ASSERT_TRUE(raw_publish(*pub, "mqo/t", cat("m", i), 1, static_cast<std::uint16_t>(i + 1)));
    EXPECT_EQ(raw_payloads(take_acking(*sub, 20)),
              (std::vector<std::string>{"m0", "m1", "m7", "m8", "m9"}))
        << "2 inflight, then the newest 3 of the queue";
}

// On reconnect the inflight messages are resent first (DUP 1, same ids), then the queued ones
// (DUP 0, ids not in use), in publish order [MQTT-4.4.0-1] [MQTT-4.6.0-1].
TEST(Qos, ReconnectResendsInflightThenQueued) {
    auto b = start_broker({"max_inflight = 2", "message_retry_interval = \"0s\""});
    auto pub = raw_connect(*b, "rq-pub");
    std::vector<proto::publish> inflight;
    {
        auto sub = raw_connect(*b, "rq-sub", /*clean=*/false);
        ASSERT_EQ(raw_subscribe(*sub, 1, {{"rq/t", 1}}), std::vector<std::uint8_t>{1});
        for (int i = 0; i < 4; ++i)
            ASSERT_TRUE(
                raw_publish(*pub, "rq/t", cat("m", i), 1, static_cast<std::uint16_t>(i + 1)));
        for (int i = 0; i < 2; ++i) {
            auto p = expect<proto::publish>(*sub);
            ASSERT_TRUE(p);
            inflight.push_back(*p);
        }
        EXPECT_TRUE(drain_raw(*sub, 300ms).empty()) << "window of 2";
    }
    ASSERT_TRUE(raw_publish(*pub, "rq/t", "m4", 1, 5));  // while offline
    bool sp = false;
    auto sub = raw_connect(*b, "rq-sub", /*clean=*/false, &sp);
    EXPECT_TRUE(sp);
    const auto got = take_acking(*sub, 10);
    ASSERT_EQ(got.size(), 5u);
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(got[i].payload, cat("m", i));
    EXPECT_TRUE(got[0].dup && got[1].dup) << "inflight ones are resent with DUP 1";
    EXPECT_EQ(got[0].packet_id, inflight[0].packet_id);
    EXPECT_EQ(got[1].packet_id, inflight[1].packet_id);
    for (int i = 2; i < 5; ++i)
        EXPECT_FALSE(got[i].dup) << "first delivery of m" << i;
}

// Acknowledgements the broker does not expect are ignored: the connection stays usable.
TEST(Qos, UnknownAcknowledgementsAreHarmless) {
    auto b = start_broker();
    auto c = raw_connect(*b, "unk");
    ASSERT_EQ(raw_subscribe(*c, 1, {{"unk/t", 1}}), std::vector<std::uint8_t>{1});
    c->send(proto::puback{1234, {}, {}});
    c->send(proto::pubcomp{1235, {}, {}});
    c->send(proto::pubrec{1236, {}, {}});
    // 3.1.1: a PUBREC for an unknown id is answered with PUBREL so the client can finish.
    auto rel = expect<proto::pubrel>(*c);
    ASSERT_TRUE(rel);
    EXPECT_EQ(rel->packet_id, 1236);
    c->send(proto::pubrel{1237, {}, {}});
    auto comp = expect<proto::pubcomp>(*c);
    ASSERT_TRUE(comp) << "PUBREL for an unknown id still gets PUBCOMP (4.3.3)";
    EXPECT_EQ(comp->packet_id, 1237);
    ASSERT_TRUE(raw_publish(*c, "unk/t", "still-works", 1, 7));
    auto p = expect<proto::publish>(*c);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->payload, "still-works");
}

}  // namespace
}  // namespace rmqtt::test::integ
