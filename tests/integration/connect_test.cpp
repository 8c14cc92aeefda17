// CONNECT / CONNACK against the real rmqttd: session present, client identifiers, anonymous
// access, listener limits (keep alive, connections, packet size, handshake timeout) and the
// first / second CONNECT rules. MQTT 3.1.1 unless a test says otherwise.
#include <gtest/gtest.h>

#include "integration_util.hpp"

namespace rmqtt::test::integ {
namespace {

// [MQTT-3.2.2-1] [MQTT-3.2.2-2] [MQTT-3.2.2-3]
TEST(Connect, SessionPresentFollowsCleanSession) {
    auto b = start_broker();
    bool sp = true;
    {
        auto c = raw_connect(*b, "sp-client", /*clean=*/true, &sp);
        EXPECT_FALSE(sp) << "clean session 1 must give session present 0 [MQTT-3.2.2-1]";
        raw_disconnect(*c);
    }
    {
        sp = true;
        auto c = raw_connect(*b, "sp-client", /*clean=*/false, &sp);
        EXPECT_FALSE(sp) << "no stored session yet: session present 0 [MQTT-3.2.2-3]";
        ASSERT_EQ(raw_subscribe(*c, 1, {{"sp/t", 1}}), std::vector<std::uint8_t>{1});
        raw_disconnect(*c);
    }
    {
        sp = false;
        auto c = raw_connect(*b, "sp-client", /*clean=*/false, &sp);
        EXPECT_TRUE(sp) << "resumed session: session present 1 [MQTT-3.2.2-2]";
        raw_disconnect(*c);
    }
    {
        sp = true;
        auto c = raw_connect(*b, "sp-client", /*clean=*/true, &sp);
        EXPECT_FALSE(sp) << "clean session 1 discards the stored session [MQTT-3.2.2-1]";
        raw_disconnect(*c);
    }
    {
        sp = true;
        auto c = raw_connect(*b, "sp-client", /*clean=*/false, &sp);
        EXPECT_FALSE(sp) << "the session ended with the clean session 1 connection [MQTT-3.1.2-6]";
    }
}

// MQTT 3.1 ("MQIsdp", level 3) through Paho: connect, subscribe and all three QoS levels.
TEST(Connect, Mqtt31ClientWorks) {
    auto b = start_broker();
    mqtt_client sub(b->uri(), "v31-sub", 3);
    mqtt_client pub(b->uri(), "v31-pub", 3);
    connect_all({&sub, &pub});
    ASSERT_EQ(sub.subscribe("v31/#", 2), 2);
    for (int q = 0; q <= 2; ++q)
        pub.publish(cat("v31/q", q), cat("m", q), q);
    auto got = sub.take(3);
    ASSERT_EQ(got.size(), 3u);
    for (int q = 0; q <= 2; ++q) {
        EXPECT_EQ(got[q].topic, cat("v31/q", q));
        EXPECT_EQ(got[q].payload, cat("m", q));
        EXPECT_EQ(got[q].qos, q);
    }

    // The same on the wire: a raw 3.1 CONNECT is answered with CONNACK 0; 3.1 has no session
    // present flag, so it stays 0.
    {
        raw_client r(b->port(), proto::version::v3_1);
        auto ack = r.connect(make_connect("v31-raw", false, 60, proto::version::v3_1));
        ASSERT_TRUE(ack);
        EXPECT_EQ(ack->code, 0);
        EXPECT_FALSE(ack->session_present);
        ASSERT_EQ(raw_subscribe(r, 1, {{"v31/raw", 1}}), std::vector<std::uint8_t>{1});
        raw_disconnect(r);
    }
    // A 3.1 persistent session is resumed (the queued message arrives) but the CONNACK's first
    // byte stays 0: 3.1 has no Session Present flag.
    pub.publish("v31/raw", "queued", 1);
    raw_client r(b->port(), proto::version::v3_1);
    r.send(make_connect("v31-raw", false, 60, proto::version::v3_1));
    auto f = r.receive_frame();
    ASSERT_TRUE(f);
    EXPECT_EQ(*f, hex("20 02 00 00"));
    auto m = expect<proto::publish>(r);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->payload, "queued");
}

// allow_anonymous = false on a second listener (the first one of the test broker allows
// anonymous clients): no user name -> CONNACK 5 (not authorized) and close; with a user name
// (and no authentication plugin) -> accepted.
TEST(Connect, AllowAnonymousFalseRefusesClientWithoutUsername) {
    const auto port = free_port();
    auto b = start_broker({}, {"[listener.tcp.noanon]", cat("addr = \"127.0.0.1:", port, "\""),
                               "allow_anonymous = false"});
    ASSERT_TRUE(wait_for_port(port, 10s));
    {
        raw_client c(port);
        auto ack = c.connect(make_connect("anon"));
        ASSERT_TRUE(ack);
        EXPECT_EQ(ack->code, 5) << "3.1.1 CONNACK 0x05 not authorized";
        EXPECT_FALSE(ack->session_present) << "[MQTT-3.2.2-4]";
        EXPECT_TRUE(c.wait_closed(5s)) << "[MQTT-3.2.2-5]";
    }
    {
        raw_client c(port);
        auto con = make_connect("named");
        con.username = "alice";
        auto ack = c.connect(con);
        ASSERT_TRUE(ack);
        EXPECT_EQ(ack->code, 0);
        c.send(proto::pingreq{});
        EXPECT_TRUE(expect<proto::pingresp>(c)) << "the accepted connection stays usable";
    }
    {
        // Paho sees the refusal as an exception.
        mqtt_client p(cat("tcp://127.0.0.1:", port), "paho-anon");
        EXPECT_THROW(p.connect(), mqtt::exception);
    }
    {
        // The first listener still allows anonymous clients.
        raw_client c(b->port());
        auto ack = c.connect(make_connect("anon-ok"));
        ASSERT_TRUE(ack);
        EXPECT_EQ(ack->code, 0);
    }
}

// [MQTT-3.1.3-6] [MQTT-3.1.3-7] [MQTT-3.1.3-8]
TEST(Connect, EmptyClientId) {
    auto b = start_broker();
    {
        raw_client c(b->port());
        auto ack = c.connect(make_connect("", /*clean=*/true));
        ASSERT_TRUE(ack);
        EXPECT_EQ(ack->code, 0) << "empty id with clean session 1 is accepted [MQTT-3.1.3-6]";
        EXPECT_FALSE(ack->session_present);
        // Usable: subscribe and receive its own message.
        ASSERT_EQ(raw_subscribe(c, 1, {{"empty/id", 0}}), std::vector<std::uint8_t>{0});
        c.send(make_publish("empty/id", "x", 0));
        auto p = expect<proto::publish>(c);
        ASSERT_TRUE(p);
        EXPECT_EQ(p->payload, "x");
    }
    {
        raw_client c(b->port());
        auto ack = c.connect(make_connect("", /*clean=*/false));
        ASSERT_TRUE(ack);
        EXPECT_EQ(ack->code, 2) << "CONNACK 0x02 identifier rejected [MQTT-3.1.3-8]";
        EXPECT_FALSE(ack->session_present);
        EXPECT_TRUE(c.wait_closed(5s)) << "then the connection is closed [MQTT-3.1.3-8]";
    }
    {
        // MQTT 3.1 requires a client identifier: CONNACK 0x02.
        raw_client c(b->port(), proto::version::v3_1);
        auto ack = c.connect(make_connect("", true, 60, proto::version::v3_1));
        ASSERT_TRUE(ack);
        EXPECT_EQ(ack->code, 2);
        EXPECT_TRUE(c.wait_closed(5s));
    }
}

// Two clients with an empty client id each get their own generated identifier: the second does
// not take over the first [MQTT-3.1.3-6].
TEST(Connect, TwoEmptyClientIdsDoNotTakeOverEachOther) {
    auto b = start_broker();
    auto a = raw_connect(*b, make_connect(""));
    auto c = raw_connect(*b, make_connect(""));
    ASSERT_EQ(raw_subscribe(*a, 1, {{"anon/a", 0}}), std::vector<std::uint8_t>{0});
    ASSERT_EQ(raw_subscribe(*c, 1, {{"anon/c", 0}}), std::vector<std::uint8_t>{0});
    a->send(make_publish("anon/c", "to-c", 0));
    c->send(make_publish("anon/a", "to-a", 0));
    auto pa = expect<proto::publish>(*a);
    auto pc = expect<proto::publish>(*c);
    ASSERT_TRUE(pa && pc) << "both connections must stay open";
    EXPECT_EQ(pa->payload, "to-a");
    EXPECT_EQ(pc->payload, "to-c");
}

// Quick alternation of CleanSession 0 / 1 connections for one client id: session present is
// 1 exactly when the previous connection had CleanSession 0 (the end of a clean session and
// the start of the next one must not race).
TEST(Connect, RapidReconnectsKeepSessionPresentConsistent) {
    auto b = start_broker();
    const std::vector<bool> cleans = {false, false, true,  false, true, true,  false, false,
                                      true,  false, false, false, true, false, true,  false,
                                      false, true,  true,  false, true, false, false, true};
    bool previous_persistent = false;
    for (std::size_t i = 0; i < cleans.size(); ++i) {
        raw_client c(b->port());
        auto ack = c.connect(make_connect("flapper", cleans[i]));
        ASSERT_TRUE(ack) << "iteration " << i;
        ASSERT_EQ(ack->code, 0) << "iteration " << i;
        const bool expected = !cleans[i] && previous_persistent;
        EXPECT_EQ(ack->session_present, expected) << "iteration " << i;
        // A clean session ends with its connection: DISCONNECT and wait for the server's close,
        // so the next CONNECT cannot overlap it. A persistent one survives either way, so half
        // of them just drop the socket (the next CONNECT may then be a takeover).
        if (cleans[i] || i % 2 == 0) raw_disconnect(c);
        previous_persistent = !cleans[i];
    }
}

// Several connections with the same client id at once: they take each other over; in the end
// exactly one connection is open and it owns the session.
TEST(Connect, ConcurrentConnectsWithSameIdLeaveOneConnection) {
    auto b = start_broker();
    constexpr int n = 6;
    std::vector<std::unique_ptr<raw_client>> clients;
    for (int i = 0; i < n; ++i)
        clients.push_back(std::make_unique<raw_client>(b->port()));
    // All CONNECTs go out before any CONNACK is read.
    for (auto& c : clients)
        c->send(make_connect("same-id", false));
    std::vector<bool> open(n, false);
    int accepted = 0;
    for (int i = 0; i < n; ++i) {
        auto p = clients[i]->receive(5s);
        if (p && std::holds_alternative<proto::connack>(*p) &&
            std::get<proto::connack>(*p).code == 0)
            ++accepted;
    }
    EXPECT_GE(accepted, 1);
    // Ping each: the ones taken over are closed, exactly one answers.
    int alive = 0;
    for (int i = 0; i < n; ++i) {
        clients[i]->send(proto::pingreq{});
        auto p = clients[i]->receive(2s);
        while (p && !std::holds_alternative<proto::pingresp>(*p))
            p = clients[i]->receive(2s);
        if (p) {
            open[i] = true;
            ++alive;
        }
    }
    EXPECT_EQ(alive, 1) << "exactly one connection must own client id 'same-id'";
    // The survivor works: it can subscribe and receive.
    for (int i = 0; i < n; ++i) {
        if (!open[i]) continue;
        ASSERT_EQ(raw_subscribe(*clients[i], 9, {{"same/t", 1}}), std::vector<std::uint8_t>{1});
        auto pub = raw_connect(*b, "same-pub");
        ASSERT_TRUE(raw_publish(*pub, "same/t", "x", 1, 1));
        auto m = expect<proto::publish>(*clients[i]);
        ASSERT_TRUE(m);
        EXPECT_EQ(m->payload, "x");
    }
}

TEST(Connect, MaxClientIdLen) {
    auto b = start_broker({"max_clientid_len = 8"});
    {
        raw_client c(b->port());
        auto ack = c.connect(make_connect("12345678"));
        ASSERT_TRUE(ack);
        EXPECT_EQ(ack->code, 0) << "exactly max_clientid_len is allowed";
    }
    {
        raw_client c(b->port());
        auto ack = c.connect(make_connect("123456789"));
        ASSERT_TRUE(ack);
        EXPECT_EQ(ack->code, 2) << "longer than max_clientid_len: identifier rejected";
        EXPECT_TRUE(c.wait_closed(5s));
    }
}

// 3.1.1 has no Server Keep Alive: a keep alive outside min_keepalive..max_keepalive is refused
// (RMQTT behaviour; 5.0 would answer with Server Keep Alive instead).
TEST(Connect, KeepaliveLimitsRefuse311) {
    auto b = start_broker({"min_keepalive = 10", "max_keepalive = 100"});
    const auto try_keepalive = [&](std::uint16_t ka) {
        raw_client c(b->port());
        auto ack = c.connect(make_connect(cat("ka-", ka), true, ka));
        if (!ack) {
            ADD_FAILURE() << "no CONNACK for keep alive " << ka;
            return -1;
        }
        if (ack->code != 0) {
            EXPECT_FALSE(ack->session_present);
            EXPECT_TRUE(c.wait_closed(5s)) << "a refused CONNECT is followed by a close";
        }
        return static_cast<int>(ack->code);
    };
    EXPECT_NE(try_keepalive(5), 0) << "below min_keepalive";
    EXPECT_NE(try_keepalive(101), 0) << "above max_keepalive";
    EXPECT_EQ(try_keepalive(10), 0) << "min_keepalive itself is allowed";
    EXPECT_EQ(try_keepalive(100), 0) << "max_keepalive itself is allowed";
    EXPECT_EQ(try_keepalive(50), 0);
    // allow_zero_keepalive = true (the default): 0 is outside the range but means "no keep alive".
    EXPECT_EQ(try_keepalive(0), 0);
}

TEST(Connect, AllowZeroKeepaliveFalseRefusesZero) {
    auto b = start_broker({"allow_zero_keepalive = false"});
    raw_client c(b->port());
    auto ack = c.connect(make_connect("zero-ka", true, 0));
    ASSERT_TRUE(ack);
    EXPECT_NE(ack->code, 0);
    EXPECT_TRUE(c.wait_closed(5s));
}

// One connection above max_connections is closed by the broker; after one leaves, a new one fits.
TEST(Connect, MaxConnections) {
    auto b = start_broker({"max_connections = 2"});
    // The start-up probe of broker_process (a TCP connect and close) holds a slot until the
    // broker has seen its close, so the first two connections retry until they fit.
    const auto connect_retrying = [&](const std::string& id) {
        std::unique_ptr<raw_client> out;
        eventually([&] {
            auto c = std::make_unique<raw_client>(b->port());
            auto ack = c->connect(make_connect(id));
            if (!ack || ack->code != 0) return false;
            out = std::move(c);
            return true;
        });
        return out;
    };
    auto c1 = connect_retrying("mc1");
    auto c2 = connect_retrying("mc2");
    ASSERT_TRUE(c1 && c2) << "two connections fit under max_connections = 2";
    {
        raw_client c3(b->port());
        c3.send(make_connect("mc3"));
        std::vector<std::uint8_t> before;
        EXPECT_TRUE(c3.wait_closed(5s, &before)) << "the third connection must be closed";
        // No CONNACK 0 may have been sent to it.
        EXPECT_TRUE(before.empty() || before[0] != 0x20 || before.size() < 4 || before[3] != 0)
            << "the connection over the limit was accepted";
    }
    // The two first connections are unaffected.
    c1->send(proto::pingreq{});
    EXPECT_TRUE(expect<proto::pingresp>(*c1));
    raw_disconnect(*c2);
    c2.reset();
    // The slot is free again (the count drops when the broker has seen the close).
    bool ok = eventually(
        [&] {
            raw_client c(b->port());
            auto ack = c.connect(make_connect("mc4"));
            return ack && ack->code == 0;
        },
        10s);
    EXPECT_TRUE(ok) << "a connection slot freed by a disconnect is usable again";
}

// A PUBLISH bigger than max_packet_size closes the connection and is not routed; one that fits
// is delivered.
TEST(Connect, MaxPacketSizeClosesOnBiggerPublish) {
    auto b = start_broker({"max_packet_size = \"1KB\""});
    mqtt_client sub(b->uri(), "mps-sub");
    sub.connect();
    ASSERT_EQ(sub.subscribe("mps/#", 1), 1);

    auto pub = raw_connect(*b, "mps-pub");
    ASSERT_TRUE(raw_publish(*pub, "mps/small", std::string(900, 's'), 1, 1));
    auto first = sub.next();
    ASSERT_TRUE(first);
    EXPECT_EQ(first->payload.size(), 900u);

    pub->send(make_publish("mps/big", std::string(2000, 'b'), 1, 2));
    std::vector<std::uint8_t> before;
    EXPECT_TRUE(pub->wait_closed(5s, &before)) << "a packet above max_packet_size must close";
    EXPECT_TRUE(before.empty()) << "no PUBACK for the oversized PUBLISH";
    EXPECT_TRUE(sub.drain(500ms).empty()) << "the oversized PUBLISH must not be routed";
}

// max_packet_size counts the whole packet: exactly the limit is accepted, one byte more closes.
TEST(Connect, MaxPacketSizeBoundary) {
    auto b = start_broker({"max_packet_size = 1024"});
    // QoS 1 PUBLISH, topic "b/t" (2 + 3 bytes), packet id (2): 7 bytes of variable header; the
    // Remaining Length takes 2 bytes, the first byte 1: payload = 1024 - 3 - 7 = 1014.
    const std::string payload(1014, 'p');
    auto exact = make_publish("b/t", payload, 1, 1);
    ASSERT_EQ(encode_packet(proto::version::v3_1_1, exact).size(), 1024u);
    auto c = raw_connect(*b, "boundary");
    c->send(exact);
    auto ack = expect<proto::puback>(*c);
    EXPECT_TRUE(ack) << "a packet of exactly max_packet_size must be accepted";
    auto over = make_publish("b/t", payload + "x", 1, 2);
    ASSERT_EQ(encode_packet(proto::version::v3_1_1, over).size(), 1025u);
    c->send(over);
    std::vector<std::uint8_t> before;
    EXPECT_TRUE(c->wait_closed(5s, &before));
    EXPECT_TRUE(before.empty());
}

// A TCP connection that never sends CONNECT is closed after handshake_timeout.
TEST(Connect, HandshakeTimeoutClosesSilentConnection) {
    auto b = start_broker({"handshake_timeout = \"1s\""});
    raw_client silent(b->port());
    std::vector<std::uint8_t> before;
    EXPECT_TRUE(silent.wait_closed(15s, &before)) << "no CONNECT within handshake_timeout";
    EXPECT_TRUE(before.empty());
    EXPECT_NE(b->log().find("handshake_timeout"), std::string::npos) << b->log();

    // A client that does connect in time is not affected by the handshake timeout afterwards.
    auto c = raw_connect(*b, "hs-ok");
    std::this_thread::sleep_for(1500ms);  // not a synchronisation: past handshake_timeout (1 s)
    c->send(proto::pingreq{});
    EXPECT_TRUE(expect<proto::pingresp>(*c));
}

// A client that sends only part of its CONNECT (and then stalls) is closed by handshake_timeout
// too: partial bytes do not extend the handshake.
TEST(Connect, HandshakeTimeoutClosesPartialConnect) {
    auto b = start_broker({"handshake_timeout = \"1s\""});
    raw_client slow(b->port());
    auto bytes = encode_packet(proto::version::v3_1_1, make_connect("slow"));
    slow.send_bytes(std::vector<std::uint8_t>(bytes.begin(), bytes.begin() + 5));
    std::this_thread::sleep_for(500ms);  // the stall under test, half of handshake_timeout
    slow.send_bytes(std::vector<std::uint8_t>(bytes.begin() + 5, bytes.begin() + 8));
    std::vector<std::uint8_t> before;
    EXPECT_TRUE(slow.wait_closed(15s, &before)) << "a stalled partial CONNECT must be closed";
    EXPECT_TRUE(before.empty());
}

// [MQTT-3.1.0-2]: a second CONNECT is a protocol violation; the broker closes.
TEST(Connect, SecondConnectCloses) {
    auto b = start_broker();
    auto c = raw_connect(*b, "twice");
    c->send(make_connect("twice"));
    std::vector<std::uint8_t> before;
    EXPECT_TRUE(c->wait_closed(5s, &before));
    EXPECT_TRUE(before.empty()) << "no second CONNACK";
}

// [MQTT-3.1.0-1]: the first packet must be CONNECT; anything else closes without a CONNACK.
TEST(Connect, FirstPacketNotConnectCloses) {
    auto b = start_broker();
    {
        raw_client c(b->port());
        c.send(proto::pingreq{});
        std::vector<std::uint8_t> before;
        EXPECT_TRUE(c.wait_closed(5s, &before));
        EXPECT_TRUE(before.empty()) << "no PINGRESP / CONNACK before CONNECT";
    }
    {
        raw_client c(b->port());
        c.send(make_publish("first/packet", "x", 0));
        EXPECT_TRUE(c.wait_closed(5s));
    }
    {
        raw_client c(b->port());
        proto::subscribe s;
        s.packet_id = 1;
        s.topics.push_back({"#", {}});
        c.send(s);
        std::vector<std::uint8_t> before;
        EXPECT_TRUE(c.wait_closed(5s, &before));
        EXPECT_TRUE(before.empty()) << "no SUBACK before CONNECT";
    }
}

// An unsupported protocol level gets CONNACK 0x01 then a close [MQTT-3.1.2-2]. A level above 5
// may be answered in the 5.0 format (0x84), which the client of a newer version understands.
TEST(Connect, UnsupportedProtocolLevelRefused) {
    auto b = start_broker();
    {
        raw_client c(b->port());
        // CONNECT, protocol name "MQTT", level 2, flags clean, keep alive 60, client id "x".
        c.send_bytes(hex("10 0D 00 04 4D 51 54 54 02 02 00 3C 00 01 78"));
        auto f = c.receive_frame();
        ASSERT_TRUE(f);
        EXPECT_EQ(*f, hex("20 02 00 01"));
        EXPECT_TRUE(c.wait_closed(5s));
    }
    {
        raw_client c(b->port());
        c.send_bytes(hex("10 0D 00 04 4D 51 54 54 06 02 00 3C 00 01 78"));  // level 6
        auto f = c.receive_frame();
        ASSERT_TRUE(f);
        ASSERT_GE(f->size(), 4u);
        EXPECT_EQ((*f)[0], 0x20);
        EXPECT_EQ((*f)[2], 0x00) << "no session present on a refusal";
        EXPECT_TRUE((*f)[3] == 0x01 || (*f)[3] == 0x84) << "return code " << int{(*f)[3]};
        EXPECT_TRUE(c.wait_closed(5s));
    }
}

}  // namespace
}  // namespace rmqtt::test::integ
