// Message ordering through the real rmqttd [MQTT-4.6.0-*]: 1,000 messages per QoS from one
// publisher, pipelined on a raw connection, arrive at a Paho subscriber in the order sent; the
// broker's acknowledgements to the publisher come in PUBLISH / PUBREL order.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "integration_util.hpp"

namespace rmqtt::test::integ {
namespace {

constexpr int message_count = 1000;

std::string payload_of(int i) {
    return cat("msg-", i);
}

// Sends every PUBLISH in one burst, then completes the flows, checking that PUBACK / PUBREC /
// PUBCOMP come back in the order of the packets they answer [MQTT-4.6.0-2] [MQTT-4.6.0-3]
// [MQTT-4.6.0-4].
void publish_burst(raw_client& pub, const std::string& topic, int qos) {
    std::vector<std::uint8_t> bytes;
    for (int i = 0; i < message_count; ++i) {
        auto p = make_publish(topic, payload_of(i), qos, static_cast<std::uint16_t>(i + 1));
        proto::encode(proto::version::v3_1_1, proto::packet{p}, bytes);
    }
    pub.send_bytes(bytes);
    if (qos == 0) return;

    int next_ack = 1;   // PUBACK or PUBREC expected next
    int next_comp = 1;  // PUBCOMP expected next
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while ((qos == 1 ? next_ack : next_comp) <= message_count &&
           std::chrono::steady_clock::now() < deadline) {
        auto p = pub.receive(5s);
        ASSERT_TRUE(p) << "publisher flow stalled at ack " << next_ack << ", comp " << next_comp;
        if (auto* a = std::get_if<proto::puback>(&*p)) {
            ASSERT_EQ(qos, 1);
            ASSERT_EQ(a->packet_id, next_ack) << "PUBACK out of order [MQTT-4.6.0-2]";
            ++next_ack;
        } else if (auto* r = std::get_if<proto::pubrec>(&*p)) {
            ASSERT_EQ(qos, 2);
            ASSERT_EQ(r->packet_id, next_ack) << "PUBREC out of order [MQTT-4.6.0-3]";
            ++next_ack;
            pub.send(proto::pubrel{r->packet_id, {}, {}});
        } else if (auto* c = std::get_if<proto::pubcomp>(&*p)) {
            ASSERT_EQ(qos, 2);
            ASSERT_EQ(c->packet_id, next_comp) << "PUBCOMP out of order [MQTT-4.6.0-4]";
            ++next_comp;
        } else {
            FAIL() << "unexpected packet type " << static_cast<int>(proto::type_of(*p));
        }
    }
    EXPECT_EQ(next_ack, message_count + 1);
    if (qos == 2) {
        EXPECT_EQ(next_comp, message_count + 1);
    }
}

void check_order(int qos) {
    auto b = start_broker();
    mqtt_client sub(b->uri(), "ord-sub");
    sub.connect();
    ASSERT_EQ(sub.subscribe("ord/t", qos), qos);
    auto pub = raw_connect(*b, "ord-pub");
    publish_burst(*pub, "ord/t", qos);

    auto got = sub.take(message_count, 60s);
    // QoS 0 on loopback to a connected subscriber: nothing is expected to be lost either.
    ASSERT_EQ(got.size(), static_cast<std::size_t>(message_count));
    int wrong = 0;
    for (int i = 0; i < message_count; ++i) {
        if (got[i].payload != payload_of(i) && ++wrong <= 5)
            ADD_FAILURE() << "position " << i << ": got " << got[i].payload;
        EXPECT_EQ(got[i].qos, qos);
    }
    EXPECT_EQ(wrong, 0) << "messages out of order [MQTT-4.6.0-5] [MQTT-4.6.0-6]";
    EXPECT_TRUE(sub.drain(300ms).empty()) << "duplicates after the last message";
}

TEST(Ordering, Qos0ThousandMessagesInOrder) {
    check_order(0);
}
TEST(Ordering, Qos1ThousandMessagesInOrder) {
    check_order(1);
}
TEST(Ordering, Qos2ThousandMessagesInOrder) {
    check_order(2);
}

// Persistent subscriber offline: 1,000 QoS 1 messages queue up and come back in order after
// reconnect (a small inflight window forces many refills).
TEST(Ordering, QueuedWhileOfflineDeliveredInOrder) {
    auto b = start_broker({"max_inflight = 8"});
    {
        auto sub = raw_connect(*b, "ordq-sub", /*clean=*/false);
        ASSERT_EQ(raw_subscribe(*sub, 1, {{"ordq/t", 1}}), std::vector<std::uint8_t>{1});
        raw_disconnect(*sub);
    }
    auto pub = raw_connect(*b, "ordq-pub");
    publish_burst(*pub, "ordq/t", 1);

    bool sp = false;
    auto sub = raw_connect(*b, "ordq-sub", /*clean=*/false, &sp);
    EXPECT_TRUE(sp);
    int next = 0;
    for (int guard = 0; guard < message_count + 10 && next < message_count; ++guard) {
        auto p = expect<proto::publish>(*sub, 5s);
        if (!p) break;
        ASSERT_EQ(p->payload, payload_of(next)) << "out of order";
        ++next;
        sub->send(proto::puback{p->packet_id, {}, {}});
    }
    EXPECT_EQ(next, message_count);
}

// Two publishers on different connections (and so possibly different broker workers), one
// subscriber: each publisher's messages keep their order [MQTT-4.6.0-6].
TEST(Ordering, PerPublisherOrderWithTwoPublishers) {
    auto b = start_broker();
    mqtt_client sub(b->uri(), "two-sub");
    sub.connect();
    ASSERT_EQ(sub.subscribe("two/#", 1), 1);
    auto a = raw_connect(*b, "two-a");
    auto c = raw_connect(*b, "two-c");
    std::vector<std::uint8_t> ba, bc;
    for (int i = 0; i < 300; ++i) {
        proto::encode(
            proto::version::v3_1_1,
            proto::packet{make_publish("two/a", cat("a", i), 1, static_cast<std::uint16_t>(i + 1))},
            ba);
        proto::encode(
            proto::version::v3_1_1,
            proto::packet{make_publish("two/c", cat("c", i), 1, static_cast<std::uint16_t>(i + 1))},
            bc);
    }
    std::thread ta([&] { a->send_bytes(ba); });
    c->send_bytes(bc);
    ta.join();
    auto got = sub.take(600, 30s);
    ASSERT_EQ(got.size(), 600u);
    int next_a = 0, next_c = 0;
    for (const auto& m : got) {
        if (m.topic == "two/a") {
            ASSERT_EQ(m.payload, cat("a", next_a)) << "publisher a out of order";
            ++next_a;
        } else {
            ASSERT_EQ(m.payload, cat("c", next_c)) << "publisher c out of order";
            ++next_c;
        }
    }
    EXPECT_EQ(next_a, 300);
    EXPECT_EQ(next_c, 300);
}

// Fan-out: 20 subscribers (spread over the broker's workers) each get every one of 200 QoS 1
// messages, once and in order.
TEST(Ordering, FanOutToManySubscribersInOrder) {
    auto b = start_broker();
    constexpr int subscribers = 20;
    constexpr int messages = 200;
    std::vector<std::unique_ptr<raw_client>> subs;
    for (int i = 0; i < subscribers; ++i) {
        subs.push_back(raw_connect(*b, cat("fan-", i)));
        ASSERT_EQ(raw_subscribe(*subs.back(), 1, {{"fan/t", 1}}), std::vector<std::uint8_t>{1});
    }
    auto pub = raw_connect(*b, "fan-pub");
    std::vector<std::uint8_t> bytes;
    for (int i = 0; i < messages; ++i)
        proto::encode(proto::version::v3_1_1,
                      proto::packet{make_publish("fan/t", payload_of(i), 1,
                                                 static_cast<std::uint16_t>(i + 1))},
                      bytes);
    pub->send_bytes(bytes);
    for (int s = 0; s < subscribers; ++s) {
        int next = 0;
        while (next < messages) {
            auto p = expect<proto::publish>(*subs[s], 10s);
            ASSERT_TRUE(p) << "subscriber " << s << " stalled at " << next;
            ASSERT_EQ(p->payload, payload_of(next)) << "subscriber " << s;
            subs[s]->send(proto::puback{p->packet_id, {}, {}});
            ++next;
        }
        EXPECT_TRUE(drain_raw(*subs[s], 50ms).empty()) << "subscriber " << s << " got extra";
    }
}

// A subscriber that stops reading its socket does not hold up the others: while it is stuck,
// a flood of about 20 MB (2,000 QoS 1 PUBLISHes of 10 kB) reaches a healthy QoS 1 subscriber
// completely and in order, a QoS 0 subscriber gets an ordered, duplicate-free part of it (rmqttd
// drops QoS 0 for a client whose output falls far behind), the publisher gets every PUBACK and
// the broker keeps answering other clients.
TEST(Ordering, StuckSubscriberDoesNotBlockOthers) {
    auto b = start_broker({"max_mqueue_len = 100000"});
    auto stuck = raw_connect(*b, "stuck");
    ASSERT_EQ(raw_subscribe(*stuck, 1, {{"flood/#", 1}}), std::vector<std::uint8_t>{1});
    auto stuck0 = raw_connect(*b, "stuck0");
    ASSERT_EQ(raw_subscribe(*stuck0, 1, {{"flood/#", 0}}), std::vector<std::uint8_t>{0});
    auto healthy = raw_connect(*b, "healthy");
    ASSERT_EQ(raw_subscribe(*healthy, 1, {{"flood/#", 1}}), std::vector<std::uint8_t>{1});
    auto qos0 = raw_connect(*b, "qos0");
    ASSERT_EQ(raw_subscribe(*qos0, 1, {{"flood/#", 0}}), std::vector<std::uint8_t>{0});

    constexpr int messages = 2000;
    const std::string body(10000, 'f');
    std::atomic<int> pubacks{0};
    std::thread publisher([&] {
        raw_client pub(b->port());
        if (!pub.connect(make_connect("flooder"))) return;
        std::vector<std::uint8_t> bytes;
        for (int i = 0; i < messages; ++i) {
            bytes.clear();
            proto::encode(proto::version::v3_1_1,
                          proto::packet{make_publish("flood/t", cat(i, ":", body), 1,
                                                     static_cast<std::uint16_t>(i + 1))},
                          bytes);
            pub.send_bytes(bytes);
        }
        while (pubacks < messages) {
            auto p = pub.receive(10s);
            if (!p) break;
            if (std::holds_alternative<proto::puback>(*p)) ++pubacks;
        }
    });
    const auto index_of = [](const std::string& payload) {
        return std::stoi(payload.substr(0, payload.find(':')));
    };
    int next = 0;
    std::string problem;
    while (next < messages) {
        auto p = healthy->receive(10s);
        if (!p) {
            problem = cat("healthy subscriber stalled at ", next);
            break;
        }
        auto* m = std::get_if<proto::publish>(&*p);
        if (!m || index_of(m->payload) != next) {
            problem = cat("healthy subscriber: expected ", next, ", got ",
                          m ? m->payload.substr(0, 8) : std::string("another packet"));
            break;
        }
        healthy->send(proto::puback{m->packet_id, {}, {}});
        ++next;
    }
    publisher.join();
    EXPECT_TRUE(problem.empty()) << problem;
    EXPECT_EQ(next, messages);
    EXPECT_EQ(pubacks.load(), messages) << "the publisher was held up";

    int last = -1, count = 0;
    for (auto& p : drain_raw(*qos0, 500ms)) {
        auto* m = std::get_if<proto::publish>(&p);
        ASSERT_TRUE(m);
        const int i = index_of(m->payload);
        ASSERT_GT(i, last) << "QoS 0 reordered or duplicated";
        last = i;
        ++count;
    }
    EXPECT_GT(count, 0);
    RecordProperty("qos0_received", count);

    auto other = raw_connect(*b, "bystander");
    other->send(proto::pingreq{});
    EXPECT_TRUE(expect<proto::pingresp>(*other));
}

}  // namespace
}  // namespace rmqtt::test::integ
