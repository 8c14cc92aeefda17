// Redis killed under a running rmqttd (ack = "durable", DESIGN.md section 3): what could not be
// stored is never answered with success. SUBSCRIBE gets 0x80 and the subscription is not made;
// UNSUBSCRIBE gets 0x80 (5.0) or a close (3.1.1) and the subscription stays; PUBREL gets no
// PUBCOMP, the connection closes and the packet id is kept for the client's resend; a session
// recovered after a restart is refused while its stored messages cannot be read, and resumes with
// them once Redis is back. Real rmqttd, real redis-server, raw clients; every wait is bounded.
#include <functional>

#include "persistence_util.hpp"

namespace rmqtt::test::persist {
namespace {

// A broker on `redis` that gives up on an unreachable Redis after 1 s (the default is 15 s), so
// failures are answered quickly.
broker_ptr start_outage_broker(const redis_server& redis) {
    auto o = redis_options(redis);
    o.storage_config = {"backend_timeout = \"1s\""};
    return start_broker_with(std::move(o));
}

// What a client got: the packets read until `done` accepted one, the connection closed, or
// `timeout` passed.
struct answer {
    std::vector<proto::packet> packets;
    bool closed = false;
    template <class T>
    const T* find() const {
        for (const auto& p : packets)
            if (const auto* t = std::get_if<T>(&p)) return t;
        return nullptr;
    }
};

answer read_answer(raw_client& c, const std::function<bool(const proto::packet&)>& done,
                   std::chrono::milliseconds timeout = 30s) {
    answer a;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        auto p = c.receive(500ms);
        if (!p) {
            if (c.wait_closed(0ms)) {
                a.closed = true;
                return a;
            }
            continue;
        }
        a.packets.push_back(std::move(*p));
        if (done(a.packets.back())) return a;
    }
    return a;
}

template <class T>
bool is(const proto::packet& p) {
    return std::holds_alternative<T>(p);
}

// Once Redis is back: a persistent CONNECT is accepted only while the store is not failing, so
// this waits until writes go through again (bounded).
std::unique_ptr<raw_client> wait_until_store_works(const broker_process& b, const std::string& id) {
    auto c = connect_when_ready(b, make_connect(id, proto::version::v3_1_1, false));
    EXPECT_TRUE(c) << "the store works again after Redis returned";
    return c;
}

// Subscribes `filter` at QoS 1, retrying (new packet ids) while the broker answers failure, as a
// client would; true once granted (bounded).
bool subscribe_until_granted(raw_client& c, const std::string& filter, std::uint16_t first_pid) {
    for (std::uint16_t pid = first_pid; pid < first_pid + 20; ++pid) {
        const auto codes = raw_subscribe(c, pid, {{filter, 1}});
        if (codes == std::vector<std::uint8_t>{1}) return true;
        if (codes.empty()) return false;
        std::this_thread::sleep_for(200ms);
    }
    return false;
}

// Reads PUBLISHes (acknowledging them) until one on `topic` arrives; returns the topics of all of
// them in order (empty when none on `topic` came within the bound).
std::vector<std::string> topics_until(raw_client& c, const std::string& topic) {
    std::vector<std::string> topics;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
        auto p = c.receive(1s);
        if (!p) {
            if (c.wait_closed(0ms)) break;
            continue;
        }
        auto* pub = std::get_if<proto::publish>(&*p);
        if (!pub) continue;
        raw_ack(c, *pub);
        topics.push_back(pub->topic);
        if (pub->topic == topic) return topics;
    }
    return {};
}

// SUBSCRIBE while Redis is down: SUBACK 0x80 (3.1.1 Failure, 5.0 Unspecified error), never a
// grant; and no subscription was made, so nothing published to its filter arrives afterwards.
TEST(StoreOutage, SubscribeIsRefusedAndNotMade) {
    redis_server redis;
    auto b = start_outage_broker(redis);
    const std::vector<proto::connect> subs = {
        persistent_connect("so-sub-311", proto::version::v3_1_1),
        persistent_connect("so-sub-5", proto::version::v5)};
    std::vector<std::unique_ptr<raw_client>> clients;
    for (const auto& c : subs) {
        clients.push_back(raw_connect_or_null(*b, c));
        ASSERT_TRUE(clients.back());
    }

    redis.kill_hard();

    for (std::size_t i = 0; i < clients.size(); ++i) {
        SCOPED_TRACE(subs[i].client_id);
        auto& c = *clients[i];
        proto::subscribe s;
        s.packet_id = 5;
        s.topics.push_back({"so/lost", {}});
        s.topics[0].options.max_qos = proto::qos::at_least_once;
        c.send(s);
        const auto a = read_answer(c, is<proto::suback>);
        const auto* ack = a.find<proto::suback>();
        ASSERT_TRUE(ack) << "SUBACK while the store is down (closed " << a.closed << ")";
        EXPECT_EQ(ack->packet_id, 5);
        EXPECT_EQ(ack->codes, std::vector<std::uint8_t>{0x80}) << "not granted";
    }
    EXPECT_TRUE(b->running());

    redis.restart();
    auto ready = wait_until_store_works(*b, "so-ready");
    ASSERT_TRUE(ready);
    for (auto& c : clients)
        ASSERT_TRUE(subscribe_until_granted(*c, "so/witness", 10));

    // The publisher's message on the refused filter comes before the witness: a subscription
    // left behind would deliver it first.
    auto pub = raw_connect_or_null(*b, make_connect("so-pub", proto::version::v3_1_1, true));
    ASSERT_TRUE(pub);
    ASSERT_EQ(publish_all(*pub, {{"so/lost", "lost", 1, false}, {"so/witness", "w", 1, false}}),
              2u);
    for (std::size_t i = 0; i < clients.size(); ++i) {
        EXPECT_EQ(topics_until(*clients[i], "so/witness"), std::vector<std::string>{"so/witness"})
            << subs[i].client_id;
    }
    EXPECT_EQ(b->stop(), 0);
}

// UNSUBSCRIBE while Redis is down: 5.0 UNSUBACK 0x80; 3.1.1 has no failure code, so no UNSUBACK
// and the connection closes. Either way the subscription stays and delivers after Redis returns.
TEST(StoreOutage, UnsubscribeIsRefusedAndTheSubscriptionStays) {
    redis_server redis;
    auto b = start_outage_broker(redis);
    const auto c5 = persistent_connect("uo-sub-5", proto::version::v5);
    const auto c3 = persistent_connect("uo-sub-311", proto::version::v3_1_1);
    auto s5 = raw_connect_or_null(*b, c5);
    auto s3 = raw_connect_or_null(*b, c3);
    ASSERT_TRUE(s5 && s3);
    ASSERT_NO_FATAL_FAILURE(subscribe_ok(*s5, {{"uo/t", 1}}));
    ASSERT_NO_FATAL_FAILURE(subscribe_ok(*s3, {{"uo/t", 1}}));

    redis.kill_hard();

    s5->send(make_unsubscribe(7, {"uo/t"}));
    const auto a5 = read_answer(*s5, is<proto::unsuback>);
    const auto* ua = a5.find<proto::unsuback>();
    ASSERT_TRUE(ua) << "5.0: UNSUBACK while the store is down (closed " << a5.closed << ")";
    EXPECT_EQ(ua->packet_id, 7);
    EXPECT_EQ(ua->codes, std::vector<proto::reason_code>{proto::reason_code::unspecified_error});

    s3->send(make_unsubscribe(7, {"uo/t"}));
    const auto a3 = read_answer(*s3, is<proto::unsuback>);
    EXPECT_TRUE(a3.find<proto::unsuback>() == nullptr) << "3.1.1: no UNSUBACK for a failed removal";
    EXPECT_TRUE(a3.closed) << "3.1.1: the connection closes";
    EXPECT_TRUE(b->running());

    redis.restart();
    bool present = false;
    s3 = connect_when_ready(*b, c3, 40s, &present);
    ASSERT_TRUE(s3);
    EXPECT_TRUE(present);
    auto pub = raw_connect_or_null(*b, make_connect("uo-pub", proto::version::v3_1_1, true));
    ASSERT_TRUE(pub);
    ASSERT_EQ(publish_all(*pub, {{"uo/t", "still subscribed", 1, false}}), 1u);
    EXPECT_EQ(topics_until(*s5, "uo/t"), std::vector<std::string>{"uo/t"}) << "5.0 subscriber";
    EXPECT_EQ(topics_until(*s3, "uo/t"), std::vector<std::string>{"uo/t"}) << "3.1.1 subscriber";
    EXPECT_EQ(b->stop(), 0);
}

// PUBREL while Redis is down: no PUBCOMP (the id's removal was not stored), the connection closes
// (5.0 with DISCONNECT 0x80). After Redis returns the client reconnects and resends: the PUBLISH
// (DUP) is recognised and not routed again, and the PUBREL gets PUBCOMP success: exactly once.
TEST(StoreOutage, PubrelGetsNoPubcompAndTheIdIsKept) {
    redis_server redis;
    auto b = start_outage_broker(redis);
    // A subscriber that stores nothing, so its deliveries do not depend on Redis.
    auto watcher = raw_connect_or_null(*b, make_connect("pr-watch", proto::version::v3_1_1, true));
    ASSERT_TRUE(watcher);
    ASSERT_NO_FATAL_FAILURE(subscribe_ok(*watcher, {{"pr/#", 2}}));
    const std::vector<proto::connect> pubs = {
        persistent_connect("pr-pub-311", proto::version::v3_1_1),
        persistent_connect("pr-pub-5", proto::version::v5)};
    std::vector<std::unique_ptr<raw_client>> clients;
    for (std::size_t i = 0; i < pubs.size(); ++i) {
        clients.push_back(raw_connect_or_null(*b, pubs[i]));
        ASSERT_TRUE(clients.back());
        clients.back()->send(make_publish("pr/t", cat("once-", i), 2, 7));
        auto rec = expect<proto::pubrec>(*clients.back());
        ASSERT_TRUE(rec);
        ASSERT_EQ(rec->packet_id, 7);
    }
    acking_receiver rx;
    auto got = rx.receive(*watcher, pubs.size(), 20s, 300ms);
    ASSERT_EQ(got.size(), pubs.size());

    redis.kill_hard();

    for (std::size_t i = 0; i < pubs.size(); ++i) {
        SCOPED_TRACE(pubs[i].client_id);
        auto& c = *clients[i];
        c.send(proto::pubrel{7, {}, {}});
        const auto a = read_answer(c, is<proto::pubcomp>);
        EXPECT_TRUE(a.find<proto::pubcomp>() == nullptr) << "no PUBCOMP for an unstored release";
        EXPECT_TRUE(a.closed);
        if (pubs[i].protocol_version == proto::version::v5) {
            const auto* d = a.find<proto::disconnect>();
            ASSERT_TRUE(d) << "5.0: DISCONNECT before the close";
            EXPECT_EQ(d->code, proto::reason_code::unspecified_error);
        }
    }
    EXPECT_TRUE(b->running());

    redis.restart();
    for (std::size_t i = 0; i < pubs.size(); ++i) {
        SCOPED_TRACE(pubs[i].client_id);
        bool present = false;
        auto c = connect_when_ready(*b, pubs[i], 40s, &present);
        ASSERT_TRUE(c);
        EXPECT_TRUE(present);
        c->send(make_publish("pr/t", cat("once-", i), 2, 7, false, /*dup*/ true));
        auto rec = expect<proto::pubrec>(*c);
        ASSERT_TRUE(rec);
        EXPECT_EQ(rec->packet_id, 7);
        c->send(proto::pubrel{7, {}, {}});
        auto comp = expect<proto::pubcomp>(*c);
        ASSERT_TRUE(comp);
        EXPECT_EQ(comp->packet_id, 7);
        EXPECT_EQ(comp->code, proto::reason_code::success) << "the id was kept (not 0x92)";
        ASSERT_TRUE(raw_publish(*c, "pr/t", cat("after-", i), 2, 8));
    }
    // The watcher gets the two later messages and nothing twice.
    auto later = rx.receive(*watcher, pubs.size(), 20s, 500ms);
    std::vector<std::string> payloads;
    for (const auto& d : later)
        payloads.push_back(d.payload);
    EXPECT_EQ(payloads, (std::vector<std::string>{"after-0", "after-1"}));
    EXPECT_EQ(b->stop(), 0);
}

// A persistent session with stored messages, after a restart of rmqttd: Redis is down when its
// client comes back, so the session cannot be resumed with its messages and CONNACK refuses
// (5.0 0x88 Server unavailable, 3.1.1 return code 3). After Redis returns the client reconnects,
// its session is present and every stored message arrives.
TEST(StoreOutage, RecoveredSessionIsRefusedWhileRedisIsDownThenResumes) {
    redis_server redis;
    auto o = redis_options(redis);
    o.storage_config = {"backend_timeout = \"1s\""};
    broker_ptr b(new broker_process(o));
    b->start();
    const std::vector<proto::connect> subs = {
        persistent_connect("rc-sub-311", proto::version::v3_1_1),
        persistent_connect("rc-sub-5", proto::version::v5)};
    for (const auto& c : subs)
        ASSERT_NO_FATAL_FAILURE(make_offline_subscriber(*b, c, "rc/#", 2));
    const auto stored = numbered(1, "rc", 20);
    {
        auto p = raw_connect_or_null(*b, make_connect("rc-pub", proto::version::v3_1_1, true));
        ASSERT_TRUE(p);
        ASSERT_EQ(publish_all(*p, stored), stored.size());
    }
    ASSERT_EQ(b->stop(), 0);
    b->start();  // recovers both sessions; their messages are read when the clients return

    redis.kill_hard();

    for (const auto& c : subs) {
        SCOPED_TRACE(c.client_id);
        raw_client r(b->port(), c.protocol_version);
        r.send(c);
        const auto a = read_answer(r, is<proto::connack>);
        const auto* ack = a.find<proto::connack>();
        ASSERT_TRUE(ack) << "a refusal is a CONNACK (closed " << a.closed << ")";
        if (c.protocol_version == proto::version::v5)
            EXPECT_EQ(ack->code, code_of(proto::reason_code::server_unavailable));
        else
            EXPECT_EQ(ack->code,
                      static_cast<std::uint8_t>(proto::connect_return_code::server_unavailable));
        EXPECT_FALSE(ack->session_present);
        EXPECT_TRUE(r.wait_closed(10s)) << "closed after the refusal";
    }
    EXPECT_TRUE(b->running());

    redis.restart();
    for (const auto& c : subs) {
        SCOPED_TRACE(c.client_id);
        bool present = false;
        auto s = connect_when_ready(*b, c, 40s, &present);
        ASSERT_TRUE(s);
        EXPECT_TRUE(present) << "the session survived the refusals";
        acking_receiver rx;
        auto got = rx.receive(*s, stored.size(), 20s, 500ms);
        EXPECT_DELIVERED_OK(check_deliveries(got, ids_of(stored)), c.client_id);
    }
    EXPECT_EQ(b->stop(), 0);
}

}  // namespace
}  // namespace rmqtt::test::persist
