// Persistent sessions (CleanSession 0) and session takeover through the real rmqttd (3.1.1).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

#include "integration_util.hpp"

namespace rmqtt::test::integ {
namespace {

// [MQTT-3.1.2-4] [MQTT-3.1.2-5]: with CleanSession 0 the subscriptions and the QoS 1 / 2 messages
// that arrive while the client is away are kept and delivered when it returns (session present
// 1). [MQTT-3.1.2-6]: a later CleanSession 1 connection discards all of it.
TEST(Session, PersistentSessionKeepsSubscriptionsAndQueuedMessages) {
    auto b = start_broker();
    {
        auto sub = raw_connect(*b, "ps-sub", /*clean=*/false);
        ASSERT_EQ(raw_subscribe(*sub, 1, {{"ps/q1", 1}, {"ps/q2", 2}, {"ps/wild/#", 2}}),
                  (std::vector<std::uint8_t>{1, 2, 2}));
        raw_disconnect(*sub);
    }
    auto pub = raw_connect(*b, "ps-pub");
    std::uint16_t id = 1;
    ASSERT_TRUE(raw_publish(*pub, "ps/q1", "a", 1, id++));
    ASSERT_TRUE(raw_publish(*pub, "ps/q2", "b", 2, id++));
    ASSERT_TRUE(raw_publish(*pub, "ps/wild/x", "c", 1, id++));
    ASSERT_TRUE(raw_publish(*pub, "ps/q2", "d", 1, id++));
    ASSERT_TRUE(raw_publish(*pub, "ps/other", "not-subscribed", 1, id++));

    {
        bool sp = false;
        auto sub = raw_connect(*b, "ps-sub", /*clean=*/false, &sp);
        EXPECT_TRUE(sp) << "[MQTT-3.2.2-2]";
        std::vector<proto::publish> queued;
        std::vector<std::string> got;
        std::vector<int> qos;
        for (int i = 0; i < 4; ++i) {
            auto p = expect<proto::publish>(*sub);
            if (!p) break;
            got.push_back(p->payload);
            qos.push_back(static_cast<int>(p->qos_level));
            EXPECT_FALSE(p->retain);
            queued.push_back(*p);
        }
        // Acknowledged once all arrived: the PUBRELs then do not interleave with PUBLISHes.
        for (auto& p : queued)
            ASSERT_TRUE(raw_ack(*sub, p));
        EXPECT_EQ(got, (std::vector<std::string>{"a", "b", "c", "d"})) << "queued, in order";
        EXPECT_EQ(qos, (std::vector<int>{1, 2, 1, 1}));
        EXPECT_TRUE(drain_raw(*sub).empty());

        // The subscriptions are still active for live traffic.
        ASSERT_TRUE(raw_publish(*pub, "ps/q1", "live", 1, id++));
        auto live = expect<proto::publish>(*sub);
        ASSERT_TRUE(live);
        EXPECT_EQ(live->payload, "live");
        ASSERT_TRUE(raw_ack(*sub, *live));
        raw_disconnect(*sub);
    }

    // Away again; two more messages are queued.
    ASSERT_TRUE(raw_publish(*pub, "ps/q1", "e", 1, id++));
    ASSERT_TRUE(raw_publish(*pub, "ps/q2", "f", 2, id++));
    {
        bool sp = true;
        auto sub = raw_connect(*b, "ps-sub", /*clean=*/true, &sp);
        EXPECT_FALSE(sp) << "[MQTT-3.2.2-1]";
        EXPECT_TRUE(drain_raw(*sub, 500ms).empty()) << "queued messages discarded [MQTT-3.1.2-6]";
        ASSERT_TRUE(raw_publish(*pub, "ps/q1", "g", 1, id++));
        EXPECT_TRUE(drain_raw(*sub, 500ms).empty()) << "subscriptions discarded [MQTT-3.1.2-6]";
        raw_disconnect(*sub);
    }
    {
        bool sp = true;
        auto sub = raw_connect(*b, "ps-sub", /*clean=*/false, &sp);
        EXPECT_FALSE(sp) << "the clean session ended at its disconnect";
        EXPECT_TRUE(drain_raw(*sub, 500ms).empty());
    }
}

// The same with Paho as the persistent subscriber (its own packet id and ack handling).
TEST(Session, PahoPersistentSubscriberGetsQueuedMessages) {
    auto b = start_broker();
    auto pub = raw_connect(*b, "pp-pub");
    mqtt_client sub(b->uri(), "pp-sub");
    auto r = sub.connect(paho_options(/*clean=*/false));
    EXPECT_FALSE(r.session_present);
    ASSERT_EQ(sub.subscribe("pp/#", 2), 2);
    sub.disconnect();

    for (int i = 0; i < 6; ++i)
        ASSERT_TRUE(
            raw_publish(*pub, "pp/t", cat("m", i), 1 + i % 2, static_cast<std::uint16_t>(i + 1)));

    r = sub.connect(paho_options(/*clean=*/false));
    EXPECT_TRUE(r.session_present);
    auto got = sub.take(6);
    // Paho hands a QoS 2 message to the application only at PUBREL, so QoS 1 and QoS 2 messages
    // may interleave differently; within each QoS the order is the publish order.
    std::vector<std::string> q1, q2;
    for (const auto& m : got)
        (m.qos == 1 ? q1 : q2).push_back(m.payload);
    EXPECT_EQ(q1, (std::vector<std::string>{"m0", "m2", "m4"}));
    EXPECT_EQ(q2, (std::vector<std::string>{"m1", "m3", "m5"}));
    EXPECT_TRUE(sub.drain(300ms).empty());
}

// [MQTT-3.1.4-2]: a second connection with the same client id closes the first; the new one
// gets the session (CleanSession 0: subscriptions kept, session present 1).
TEST(Session, TakeoverKeepsSessionForCleanSession0) {
    auto b = start_broker();
    auto first = raw_connect(*b, "twin", /*clean=*/false);
    ASSERT_EQ(raw_subscribe(*first, 1, {{"twin/t", 1}}), std::vector<std::uint8_t>{1});

    bool sp = false;
    auto second = raw_connect(*b, "twin", /*clean=*/false, &sp);
    EXPECT_TRUE(sp) << "the taken-over session is present";
    std::vector<std::uint8_t> before;
    EXPECT_TRUE(first->wait_closed(5s, &before)) << "the first connection is closed";

    auto pub = raw_connect(*b, "twin-pub");
    ASSERT_TRUE(raw_publish(*pub, "twin/t", "to-second", 1, 1));
    auto p = expect<proto::publish>(*second);
    ASSERT_TRUE(p) << "the subscription moved with the session";
    EXPECT_EQ(p->payload, "to-second");
    ASSERT_TRUE(raw_ack(*second, *p));
    second->send(proto::pingreq{});
    EXPECT_TRUE(expect<proto::pingresp>(*second)) << "the new connection stays open";
}

// Takeover with CleanSession 1: the old connection is closed and its session discarded.
TEST(Session, TakeoverWithCleanSession1DiscardsSession) {
    auto b = start_broker();
    auto first = raw_connect(*b, "twin2", /*clean=*/false);
    ASSERT_EQ(raw_subscribe(*first, 1, {{"twin2/t", 1}}), std::vector<std::uint8_t>{1});

    bool sp = true;
    auto second = raw_connect(*b, "twin2", /*clean=*/true, &sp);
    EXPECT_FALSE(sp);
    EXPECT_TRUE(first->wait_closed(5s));
    auto pub = raw_connect(*b, "twin2-pub");
    ASSERT_TRUE(raw_publish(*pub, "twin2/t", "nobody", 1, 1));
    EXPECT_TRUE(drain_raw(*second, 500ms).empty()) << "the old subscriptions are gone";
}

// Takeover while QoS 1 messages are in flight to the first connection: the second connection
// receives them again (DUP 1, same ids) [MQTT-4.4.0-1], so nothing is lost in the handover.
TEST(Session, TakeoverResendsInflightToNewConnection) {
    auto b = start_broker({"message_retry_interval = \"0s\""});
    auto first = raw_connect(*b, "twin3", /*clean=*/false);
    ASSERT_EQ(raw_subscribe(*first, 1, {{"twin3/t", 1}}), std::vector<std::uint8_t>{1});
    auto pub = raw_connect(*b, "twin3-pub");
    ASSERT_TRUE(raw_publish(*pub, "twin3/t", "x", 1, 1));
    ASSERT_TRUE(raw_publish(*pub, "twin3/t", "y", 1, 2));
    auto a = expect<proto::publish>(*first);
    auto c = expect<proto::publish>(*first);
    ASSERT_TRUE(a && c);

    bool sp = false;
    auto second = raw_connect(*b, "twin3", /*clean=*/false, &sp);
    EXPECT_TRUE(sp);
    EXPECT_TRUE(first->wait_closed(5s));
    auto ra = expect<proto::publish>(*second);
    auto rc = expect<proto::publish>(*second);
    ASSERT_TRUE(ra && rc);
    EXPECT_EQ(ra->payload, "x");
    EXPECT_EQ(rc->payload, "y");
    EXPECT_TRUE(ra->dup);
    EXPECT_TRUE(rc->dup);
    EXPECT_EQ(ra->packet_id, a->packet_id);
    EXPECT_EQ(rc->packet_id, c->packet_id);
}

// Paho: the first client sees the connection lost when a second one takes over.
TEST(Session, PahoClientIsDisconnectedByTakeover) {
    auto b = start_broker();
    mqtt_client first(b->uri(), "paho-twin");
    first.connect(paho_options(/*clean=*/false));
    ASSERT_EQ(first.subscribe("pt/t", 1), 1);
    bool sp = false;
    auto second = raw_connect(*b, "paho-twin", /*clean=*/false, &sp);
    EXPECT_TRUE(sp);
    EXPECT_TRUE(first.wait_disconnected(10s));
}

// A 3.x persistent session lasts the listener's session_expiry_interval after its client
// leaves; then it is gone (session present 0, no queued messages, no subscriptions).
TEST(Session, ExpiresAfterListenerSessionExpiryInterval) {
    auto b = start_broker({"session_expiry_interval = \"1s\""});
    {
        auto sub = raw_connect(*b, "exp-sub", /*clean=*/false);
        ASSERT_EQ(raw_subscribe(*sub, 1, {{"exp/t", 1}}), std::vector<std::uint8_t>{1});
        raw_disconnect(*sub);
    }
    auto pub = raw_connect(*b, "exp-pub");
    ASSERT_TRUE(raw_publish(*pub, "exp/t", "queued", 1, 1));
    // rmqttd logs the expiry (1 s after the disconnect); waited for up to 10 s.
    EXPECT_TRUE(log_shows(*b, "session exp-sub expired"));
    bool sp = true;
    auto sub = raw_connect(*b, "exp-sub", /*clean=*/false, &sp);
    EXPECT_FALSE(sp) << "the session expired 1 s after the disconnect";
    EXPECT_TRUE(drain_raw(*sub, 500ms).empty()) << "its queued message went with it";
    ASSERT_TRUE(raw_publish(*pub, "exp/t", "after", 1, 2));
    EXPECT_TRUE(drain_raw(*sub, 500ms).empty()) << "and its subscription";
}

// UNSUBSCRIBE on a persistent session is remembered across reconnects.
TEST(Session, UnsubscribePersistsAcrossReconnect) {
    auto b = start_broker();
    {
        auto sub = raw_connect(*b, "unp-sub", /*clean=*/false);
        ASSERT_EQ(raw_subscribe(*sub, 1, {{"unp/a", 1}, {"unp/b", 1}}),
                  (std::vector<std::uint8_t>{1, 1}));
        sub->send(make_unsubscribe(2, {"unp/a"}));
        ASSERT_TRUE(expect<proto::unsuback>(*sub));
        raw_disconnect(*sub);
    }
    auto pub = raw_connect(*b, "unp-pub");
    ASSERT_TRUE(raw_publish(*pub, "unp/a", "a", 1, 1));
    ASSERT_TRUE(raw_publish(*pub, "unp/b", "b", 1, 2));
    bool sp = false;
    auto sub = raw_connect(*b, "unp-sub", /*clean=*/false, &sp);
    EXPECT_TRUE(sp);
    std::vector<std::string> got;
    for (auto& p : drain_raw(*sub, 500ms))
        if (auto* m = std::get_if<proto::publish>(&p)) got.push_back(m->payload);
    EXPECT_EQ(got, std::vector<std::string>{"b"});
}

// A will of a persistent-session client reaches an offline persistent subscriber (queued).
TEST(Session, WillQueuedForOfflinePersistentSubscriber) {
    auto b = start_broker();
    {
        auto sub = raw_connect(*b, "wq-sub", /*clean=*/false);
        ASSERT_EQ(raw_subscribe(*sub, 1, {{"wq/#", 2}}), std::vector<std::uint8_t>{2});
        raw_disconnect(*sub);
    }
    // A connected subscriber shows when the will has been published.
    auto watcher = raw_connect(*b, "wq-watcher");
    subscribe_ok(*watcher, {{"wq/#", 0}});
    {
        auto c = make_connect("wq-dying", /*clean=*/false);
        c.will = make_will("wq/status", "dead", 2);
        auto dying = raw_connect(*b, c);
    }
    // The will is published when the broker notices the close; then the subscriber returns.
    (void)expect<proto::publish>(*watcher);
    bool delivered = false;
    {
        bool sp = false;
        auto sub = raw_connect(*b, "wq-sub", /*clean=*/false, &sp);
        EXPECT_TRUE(sp);
        if (auto p = expect<proto::publish>(*sub)) {
            EXPECT_EQ(p->payload, "dead");
            EXPECT_EQ(p->qos_level, proto::qos::exactly_once);
            EXPECT_TRUE(raw_ack(*sub, *p));
            delivered = true;
        }
        raw_disconnect(*sub);
    }
    EXPECT_TRUE(delivered);
}

// At-least-once through repeated takeovers: while a publisher streams QoS 1 messages, the
// persistent subscriber's connection is taken over again and again by new connections with the
// same client id. Every message must reach one of them (unacknowledged ones are resent to the
// next connection) [MQTT-4.3.2] [MQTT-4.4.0-1].
TEST(Session, NoMessageLostAcrossRepeatedTakeovers) {
    auto b = start_broker({"message_retry_interval = \"0s\""});
    constexpr int total = 400;
    {
        auto setup = raw_connect(*b, "churn", /*clean=*/false);
        ASSERT_EQ(raw_subscribe(*setup, 1, {{"churn/t", 1}}), std::vector<std::uint8_t>{1});
        raw_disconnect(*setup);
    }
    std::set<std::string> received;
    std::atomic<bool> publishing_done{false};
    std::thread publisher([&] {
        raw_client pub(b->port());
        if (!pub.connect(make_connect("churn-pub"))) return;
        for (int i = 0; i < total; ++i) {
            pub.send(make_publish("churn/t", cat("m", i), 1, static_cast<std::uint16_t>(i + 1)));
            // Pacing, not a synchronisation: the stream spans many takeovers.
            if (i % 20 == 19) std::this_thread::sleep_for(10ms);
        }
        for (int acks = 0; acks < total;) {
            auto p = pub.receive(5s);
            if (!p) break;
            if (std::holds_alternative<proto::puback>(*p)) ++acks;
        }
        publishing_done = true;
    });
    // Each connection takes over the previous one, reads for a while, acknowledges half of what
    // it gets (the rest stays in flight for the next one).
    std::unique_ptr<raw_client> previous;  // still open when the next one connects: a takeover
    for (int round = 0; round < 40 && !(publishing_done && received.size() == total); ++round) {
        auto next = std::make_unique<raw_client>(b->port());
        auto& c = *next;
        auto ack = c.connect(make_connect("churn", /*clean=*/false));
        ASSERT_TRUE(ack) << "round " << round;
        ASSERT_EQ(ack->code, 0);
        if (previous) {
            EXPECT_TRUE(previous->wait_closed(5s)) << "taken over in round " << round;
        }
        previous = std::move(next);
        const auto until = std::chrono::steady_clock::now() + 100ms;
        int n = 0;
        while (std::chrono::steady_clock::now() < until) {
            auto p = c.receive(50ms);
            if (!p) continue;
            if (auto* m = std::get_if<proto::publish>(&*p)) {
                received.insert(m->payload);
                if (n++ % 2 == 0) c.send(proto::puback{m->packet_id, {}, {}});
            }
        }
        if (publishing_done && round % 4 == 3) {
            // Drain everything that is left on a connection that acknowledges all.
            for (int k = 0; k < total; ++k) {
                auto p = c.receive(300ms);
                if (!p) break;
                if (auto* m = std::get_if<proto::publish>(&*p)) {
                    received.insert(m->payload);
                    c.send(proto::puback{m->packet_id, {}, {}});
                }
            }
        }
    }
    publisher.join();
    EXPECT_TRUE(publishing_done.load()) << "the publisher did not get all PUBACKs";
    std::vector<std::string> missing;
    for (int i = 0; i < total; ++i)
        if (!received.contains(cat("m", i))) missing.push_back(cat("m", i));
    EXPECT_TRUE(missing.empty()) << missing.size() << " messages lost, first: "
                                 << (missing.empty() ? "" : missing.front());
}

// Takeover while a QoS 2 message waits for PUBCOMP: the new connection gets the PUBREL.
TEST(Session, TakeoverResendsPubrel) {
    auto b = start_broker({"message_retry_interval = \"0s\""});
    auto first = raw_connect(*b, "twin4", /*clean=*/false);
    ASSERT_EQ(raw_subscribe(*first, 1, {{"twin4/t", 2}}), std::vector<std::uint8_t>{2});
    auto pub = raw_connect(*b, "twin4-pub");
    ASSERT_TRUE(raw_publish(*pub, "twin4/t", "q2", 2, 1));
    auto p = expect<proto::publish>(*first);
    ASSERT_TRUE(p);
    first->send(proto::pubrec{p->packet_id, {}, {}});
    ASSERT_TRUE(expect<proto::pubrel>(*first));

    auto second = raw_connect(*b, "twin4", /*clean=*/false);
    EXPECT_TRUE(first->wait_closed(5s));
    auto rel = second->receive();
    ASSERT_TRUE(rel);
    ASSERT_TRUE(std::holds_alternative<proto::pubrel>(*rel))
        << "got packet type " << static_cast<int>(proto::type_of(*rel));
    EXPECT_EQ(std::get<proto::pubrel>(*rel).packet_id, p->packet_id);
    second->send(proto::pubcomp{p->packet_id, {}, {}});
    EXPECT_TRUE(drain_raw(*second).empty());
}

// A message matching several subscriptions of an offline persistent session is queued once,
// at the highest matching QoS [MQTT-3.3.5-1]; resuming the session does not re-send retained
// messages (they are sent for a new subscription only [MQTT-3.3.1-6]).
TEST(Session, OfflineOverlapQueuedOnceAndRetainedNotResent) {
    auto b = start_broker();
    auto pub = raw_connect(*b, "oo-pub");
    ASSERT_TRUE(raw_publish(*pub, "oo/r", "retained", 1, 1, /*retain=*/true));
    {
        auto sub = raw_connect(*b, "oo-sub", /*clean=*/false);
        ASSERT_EQ(raw_subscribe(*sub, 1, {{"oo/#", 1}, {"oo/t", 2}, {"+/t", 0}}),
                  (std::vector<std::uint8_t>{1, 2, 0}));
        auto r = expect<proto::publish>(*sub);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->payload, "retained");
        EXPECT_TRUE(r->retain);
        ASSERT_TRUE(raw_ack(*sub, *r));
        raw_disconnect(*sub);
    }
    ASSERT_TRUE(raw_publish(*pub, "oo/t", "overlap", 2, 2));
    bool sp = false;
    auto sub = raw_connect(*b, "oo-sub", /*clean=*/false, &sp);
    EXPECT_TRUE(sp);
    std::vector<proto::publish> got;
    for (auto& p : drain_raw(*sub, 500ms)) {
        ASSERT_TRUE(std::holds_alternative<proto::publish>(p));
        got.push_back(std::get<proto::publish>(p));
    }
    ASSERT_EQ(got.size(), 1u) << "queued once; the retained message is not sent again";
    EXPECT_EQ(got[0].payload, "overlap");
    EXPECT_EQ(got[0].qos_level, proto::qos::exactly_once);
    EXPECT_FALSE(got[0].retain);
}

// 3.x messages get the listener's message_expiry_interval (RMQTT): a message queued for an
// offline session longer than that is not delivered; a fresh one is.
TEST(Session, QueuedMessagesExpireByListenerMessageExpiryInterval) {
    auto b = start_broker({"message_expiry_interval = \"1s\""});
    {
        auto sub = raw_connect(*b, "mx-sub", /*clean=*/false);
        ASSERT_EQ(raw_subscribe(*sub, 1, {{"mx/t", 1}}), std::vector<std::uint8_t>{1});
        raw_disconnect(*sub);
    }
    auto pub = raw_connect(*b, "mx-pub");
    ASSERT_TRUE(raw_publish(*pub, "mx/t", "stale", 1, 1));
    // Not a synchronisation: the 1 s expiry interval has to pass ("stale" was created before its
    // PUBACK).
    std::this_thread::sleep_for(1200ms);
    ASSERT_TRUE(raw_publish(*pub, "mx/t", "fresh", 1, 2));
    bool sp = false;
    auto sub = raw_connect(*b, "mx-sub", /*clean=*/false, &sp);
    EXPECT_TRUE(sp);
    std::vector<std::string> got;
    for (auto& p : drain_raw(*sub, 500ms))
        if (auto* m = std::get_if<proto::publish>(&p)) got.push_back(m->payload);
    EXPECT_EQ(got, std::vector<std::string>{"fresh"});
}

// A session created by a 3.1.1 client is resumed by the same client id speaking 3.1 (and back):
// subscriptions and queued messages carry over, encoded for the new connection.
TEST(Session, ResumedAcrossProtocolVersions) {
    auto b = start_broker();
    {
        auto sub = raw_connect(*b, "xv-sub", /*clean=*/false);
        ASSERT_EQ(raw_subscribe(*sub, 1, {{"xv/t", 2}}), std::vector<std::uint8_t>{2});
        raw_disconnect(*sub);
    }
    auto pub = raw_connect(*b, "xv-pub");
    ASSERT_TRUE(raw_publish(*pub, "xv/t", "for-31", 2, 1));
    {
        auto sub31 =
            raw_connect(*b, make_connect("xv-sub", /*clean=*/false, 60, proto::version::v3_1));
        auto p = expect<proto::publish>(*sub31);
        ASSERT_TRUE(p);
        EXPECT_EQ(p->payload, "for-31");
        EXPECT_EQ(p->qos_level, proto::qos::exactly_once);
        ASSERT_TRUE(raw_ack(*sub31, *p));
        raw_disconnect(*sub31);
    }
    ASSERT_TRUE(raw_publish(*pub, "xv/t", "for-311", 1, 2));
    bool sp = false;
    auto sub = raw_connect(*b, "xv-sub", /*clean=*/false, &sp);
    EXPECT_TRUE(sp);
    auto p = expect<proto::publish>(*sub);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->payload, "for-311");
}

// Robustness: clients connecting, subscribing, taking each other over and vanishing (with and
// without DISCONNECT, clean and persistent) while a publisher streams QoS 1 messages. A stable
// subscriber still gets every message in order, the publisher every PUBACK, and the broker
// stays up without logging errors.
TEST(Session, ChurnWhilePublishingKeepsBrokerHealthy) {
    // The burst outruns the stable subscriber's inflight window: let its queue hold all of it.
    auto b = start_broker({"max_mqueue_len = 100000"});
    mqtt_client stable(b->uri(), "stable");
    stable.connect();
    ASSERT_EQ(stable.subscribe("churn2/t", 1), 1);
    constexpr int total = 2000;
    std::atomic<int> pubacks{0};
    std::thread publisher([&] {
        raw_client pub(b->port());
        if (!pub.connect(make_connect("churn2-pub"))) return;
        std::vector<std::uint8_t> bytes;
        for (int i = 0; i < total; ++i) {
            proto::encode(proto::version::v3_1_1,
                          proto::packet{make_publish("churn2/t", cat(i), 1,
                                                     static_cast<std::uint16_t>(i + 1))},
                          bytes);
            if (i % 100 == 99) {
                pub.send_bytes(bytes);
                bytes.clear();
                std::this_thread::sleep_for(5ms);  // pacing, so that the churn overlaps the burst
            }
        }
        while (pubacks < total) {
            auto p = pub.receive(10s);
            if (!p) break;
            if (std::holds_alternative<proto::puback>(*p)) ++pubacks;
        }
    });
    std::vector<std::unique_ptr<raw_client>> live;
    for (int i = 0; i < 120; ++i) {
        auto c = std::make_unique<raw_client>(b->port());
        const bool clean = i % 3 != 0;
        if (!c->connect(make_connect(cat("churner-", i % 7), clean))) continue;
        proto::subscribe sub;
        sub.packet_id = 1;
        sub.topics.push_back({"churn2/#", {static_cast<proto::qos>(i % 3), false, false, 0}});
        c->send(sub);
        c->receive(50ms);
        switch (i % 4) {
            case 0:
                c->send(proto::disconnect{});
                break;
            case 1:
                live.push_back(std::move(c));  // stays until taken over or the end
                break;
            default:
                break;  // dropped without DISCONNECT
        }
        if (live.size() > 5) live.erase(live.begin());
    }
    auto got = stable.take(total, 30s);
    publisher.join();
    EXPECT_EQ(pubacks.load(), total);
    ASSERT_EQ(got.size(), static_cast<std::size_t>(total));
    for (int i = 0; i < total; ++i) {
        if (got[i].payload != cat(i)) {
            ADD_FAILURE() << "position " << i << ": " << got[i].payload;
            break;
        }
    }
    EXPECT_TRUE(b->running());
    const auto log = b->log();
    EXPECT_EQ(log.find(" error "), std::string::npos) << log;
    EXPECT_EQ(log.find("critical"), std::string::npos);
}

}  // namespace
}  // namespace rmqtt::test::integ
