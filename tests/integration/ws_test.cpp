// MQTT over WebSocket against the real rmqttd: a raw WebSocket client for every byte of the
// upgrade and the framing (refused upgrades, a slow upgrade, unmasked / text / oversize frames,
// fragments with control frames between them, several packets per frame and one packet over
// many frames [MQTT-6.0.0-1/2], both closing handshakes), Paho MQTT C++ over ws://, and a session
// that moves between tcp and ws.
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "integration_util.hpp"
#include "log_lines.hpp"
#include "ws_client.hpp"

namespace rmqtt::test::integ {
namespace {

using proto::version;

broker_ptr start_ws_broker(std::vector<std::string> ws_lines = {}, std::string log_level = "info") {
    broker_process::options o;
    o.ws = true;
    o.ws_listener = std::move(ws_lines);
    o.log_level = std::move(log_level);
    return start_broker_with(std::move(o));
}

std::vector<std::uint8_t> encoded(const proto::packet& p, version v = version::v3_1_1) {
    return encode_packet(v, p);
}

std::vector<std::uint8_t> concat(std::initializer_list<std::vector<std::uint8_t>> parts) {
    std::vector<std::uint8_t> out;
    for (const auto& p : parts)
        out.insert(out.end(), p.begin(), p.end());
    return out;
}

// A raw WebSocket client through the upgrade (a test failure otherwise).
std::unique_ptr<ws_client> upgraded(const broker_process& b,
                                    const std::string& request = ws::upgrade_request()) {
    auto c = std::make_unique<ws_client>(b.ws_port());
    const auto head = c->upgrade(request);
    EXPECT_TRUE(head.starts_with("HTTP/1.1 101 Switching Protocols\r\n")) << head;
    return c;
}

// The next `n` packets (fewer on timeout).
std::vector<proto::packet> packets(ws_client& c, std::size_t n) {
    std::vector<proto::packet> out;
    while (out.size() < n) {
        auto p = c.receive_packet();
        if (!p) break;
        out.push_back(std::move(*p));
    }
    return out;
}

template <class T>
bool holds(const proto::packet& p) {
    return std::holds_alternative<T>(p);
}

// ---- raw client: upgrade ------------------------------------------------------------------------

TEST(WebSocketRaw, UpgradeConnectSubscribePublishClose) {
    auto b = start_ws_broker({}, "debug");
    auto c = std::make_unique<ws_client>(b->ws_port());
    const auto head = c->upgrade();
    EXPECT_TRUE(head.starts_with("HTTP/1.1 101 Switching Protocols\r\n")) << head;
    EXPECT_NE(head.find("Sec-WebSocket-Accept: " + std::string(ws::sample_accept) + "\r\n"),
              std::string::npos)
        << head;
    EXPECT_NE(head.find("Sec-WebSocket-Protocol: mqtt\r\n"), std::string::npos)
        << "[MQTT-6.0.0-4] " << head;

    ASSERT_TRUE(expect_connack_ok(c->connect("ws-raw"), "ws-raw"));
    c->send_packet(make_subscribe(1, {{"ws/raw", 1}}));
    auto suback = c->expect<proto::suback>();
    ASSERT_TRUE(suback);
    EXPECT_EQ(suback->codes, (std::vector<std::uint8_t>{1}));
    c->send_packet(make_publish("ws/raw", "over websocket", 1, 7));
    const auto got = packets(*c, 2);  // PUBACK and the PUBLISH, in either order
    ASSERT_EQ(got.size(), 2u);
    bool acked = false;
    bool delivered = false;
    for (const auto& p : got) {
        if (const auto* a = std::get_if<proto::puback>(&p)) acked = a->packet_id == 7;
        if (const auto* m = std::get_if<proto::publish>(&p))
            delivered = m->topic == "ws/raw" && m->payload == "over websocket";
    }
    EXPECT_TRUE(acked);
    EXPECT_TRUE(delivered);

    // DISCONNECT: the broker ends the stream with a close frame and waits for the answer.
    c->send_packet(proto::disconnect{});
    EXPECT_TRUE(c->finish_close());
    EXPECT_EQ(c->close_code(), 1000);
    // The peer's address is the socket's (the lower transport's).
    EXPECT_TRUE(log_shows_connected(*b, "ws-raw", "127.0.0.1:")) << b->log();
}

TEST(WebSocketRaw, FramesSentWithTheUpgradeRequestAreKept) {
    auto b = start_ws_broker();
    ws_client c(b->ws_port());
    const auto connect_frame = ws::client_frame(ws::binary, encoded(make_connect("ws-early")));
    const auto request = ws::upgrade_request();
    std::vector<std::uint8_t> both(request.begin(), request.end());
    both.insert(both.end(), connect_frame.begin(), connect_frame.end());
    c.send_raw(both);
    EXPECT_TRUE(c.upgrade("").starts_with("HTTP/1.1 101 "));
    auto ack = c.expect<proto::connack>();
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->code, 0);
}

TEST(WebSocketRaw, RefusedUpgradesAreAnsweredAndClosed) {
    auto b = start_ws_broker();
    const std::string base = ws::upgrade_request();
    auto replace = [&](const std::string& from, const std::string& to) {
        std::string r = base;
        r.replace(r.find(from), from.size(), to);
        return r;
    };
    struct bad_request {
        const char* name;
        std::string request;
        const char* status;
    };
    const std::vector<bad_request> cases{
        {"wrong path", ws::upgrade_request("/other"), "HTTP/1.1 404 "},
        {"missing key", replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
         "HTTP/1.1 400 "},
        {"no mqtt subprotocol", ws::upgrade_request("/mqtt", "chat"), "HTTP/1.1 400 "},
        {"no subprotocol at all", ws::upgrade_request("/mqtt", ""), "HTTP/1.1 400 "},
        {"websocket version 8", replace("Version: 13", "Version: 8"), "HTTP/1.1 426 "},
        {"not an upgrade", replace("Upgrade: websocket\r\n", ""), "HTTP/1.1 426 "},
        {"POST", replace("GET ", "POST "), "HTTP/1.1 405 "},
        {"oversize headers",
         ws::upgrade_request("/mqtt", "mqtt", "X-Big: " + std::string(9000, 'b') + "\r\n"),
         "HTTP/1.1 431 "},
        {"not HTTP", "\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00\r\n\r\n", "HTTP/1.1 400 "},
    };
    for (const auto& bad : cases) {
        ws_client c(b->ws_port());
        c.send_raw(bad.request);
        const auto answer = c.read_until_closed();
        ASSERT_TRUE(answer.has_value()) << bad.name << ": the broker did not close";
        EXPECT_TRUE(answer->starts_with(bad.status)) << bad.name << ": " << *answer;
    }
    // The broker still serves.
    auto ok = upgraded(*b);
    EXPECT_TRUE(expect_connack_ok(ok->connect("after-refusals"), "after-refusals"));
}

TEST(WebSocketRaw, EmptyWsPathAcceptsAnyPath) {
    auto b = start_ws_broker({"ws_path = \"\""});
    for (const char* path : {"/", "/mqtt", "/some/where?x=1"}) {
        auto c = upgraded(*b, ws::upgrade_request(path));
        EXPECT_TRUE(expect_connack_ok(c->connect("any-path"), path));
    }
}

TEST(WebSocketRaw, SlowUpgradeIsClosedAfterTheHandshakeTimeout) {
    auto b = start_ws_broker({"handshake_timeout = \"1s\""});
    ws_client c(b->ws_port());
    c.send_raw(std::string("GET /mqtt HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "));
    std::optional<std::string> answer;
    // One more byte of a header value every 200 ms: a valid request that never completes (and
    // stays far below 8 KB). Bounded at 20 s.
    for (int i = 0; i < 100 && !answer; ++i) {
        c.send_raw(std::string("a"));
        answer = c.read_until_closed(std::chrono::milliseconds(200));
    }
    ASSERT_TRUE(answer.has_value()) << "a slow upgrade request must not hold the connection open";
    EXPECT_EQ(*answer, "") << "closed by the timeout, not refused";
    EXPECT_TRUE(eventually(
        [&] { return b->log().find("no CONNECT within handshake_timeout") != std::string::npos; }));
}

TEST(WebSocketRaw, NoConnectAfterTheUpgradeIsClosedAfterTheHandshakeTimeout) {
    auto b = start_ws_broker({"handshake_timeout = \"1s\""});
    auto c = upgraded(*b);
    // The broker ends the stream in order: its close frame, then TCP once answered.
    EXPECT_TRUE(c->finish_close(std::chrono::seconds(20)));
    EXPECT_EQ(c->close_code(), 1000);
}

// ---- raw client: frames -------------------------------------------------------------------------

TEST(WebSocketRaw, UnmaskedClientFrameIsAProtocolError) {
    auto b = start_ws_broker();
    auto c = upgraded(*b);
    ASSERT_TRUE(expect_connack_ok(c->connect("unmasked"), "unmasked"));
    c->send_frame(ws::binary, hex("C0 00"), {.masked = false});
    EXPECT_TRUE(c->wait_closed());
    EXPECT_EQ(c->close_code(), 1002);
}

TEST(WebSocketRaw, TextFrameClosesTheConnection) {
    // [MQTT-6.0.0-1]
    auto b = start_ws_broker();
    auto c = upgraded(*b);
    ASSERT_TRUE(expect_connack_ok(c->connect("text"), "text"));
    c->send_frame(ws::text, hex("C0 00"));
    EXPECT_TRUE(c->wait_closed());
    EXPECT_EQ(c->close_code(), 1003);
}

TEST(WebSocketRaw, TextFrameBeforeConnectClosesTheConnection) {
    auto b = start_ws_broker();
    auto c = upgraded(*b);
    c->send_frame(ws::text, encoded(make_connect("text-first")));
    EXPECT_TRUE(c->wait_closed());
    EXPECT_EQ(c->close_code(), 1003);
}

TEST(WebSocketRaw, OversizeFrameIsRefused) {
    // max_packet_size 1KB: the frame limit is still 1 MB, so packed packets fit; a 2 MB frame
    // does not.
    auto b = start_ws_broker({"max_packet_size = \"1KB\""});
    auto c = upgraded(*b);
    ASSERT_TRUE(expect_connack_ok(c->connect("oversize"), "oversize"));
    auto header = ws::frame_header(ws::binary, 2 * 1024 * 1024);
    header.insert(header.end(), 16, 0x00);
    c->send_raw(header);
    EXPECT_TRUE(c->wait_closed());
    EXPECT_EQ(c->close_code(), 1009);
}

TEST(WebSocketRaw, PacketLargerThanMaxPacketSizeInOneFrameIsAnMqttError) {
    auto b = start_ws_broker({"max_packet_size = \"1KB\""});
    auto c = upgraded(*b);
    ASSERT_TRUE(expect_connack_ok(c->connect("big-packet"), "big-packet"));
    c->send_packet(make_publish("big", std::string(4000, 'x'), 0));
    EXPECT_TRUE(c->finish_close());  // the MQTT layer closes; the stream ends with a close frame
}

TEST(WebSocketRaw, PacketSplitOverFragmentsWithControlFramesBetween) {
    // [MQTT-6.0.0-2]: packets are not aligned on frames; pings may come between fragments.
    auto b = start_ws_broker();
    auto c = upgraded(*b);
    const auto connect = encoded(make_connect("fragments"));
    const std::vector<std::uint8_t> a(connect.begin(), connect.begin() + 3);
    const std::vector<std::uint8_t> m(connect.begin() + 3, connect.begin() + 9);
    const std::vector<std::uint8_t> z(connect.begin() + 9, connect.end());
    c->send_frame(ws::binary, a, {.fin = false});
    c->send_frame(ws::ping, {'p', '1'});
    c->send_frame(ws::continuation, m, {.fin = false});
    c->send_frame(ws::pong, {});  // unsolicited pongs are allowed and ignored
    c->send_frame(ws::continuation, {}, {.fin = false});
    c->send_frame(ws::ping, {'p', '2'});
    c->send_frame(ws::continuation, z);
    auto ack = c->expect<proto::connack>();
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->code, 0);
    ASSERT_EQ(c->control().size(), 2u);
    EXPECT_EQ(c->control()[0].opcode, ws::pong);
    EXPECT_EQ(c->control()[0].payload, (std::vector<std::uint8_t>{'p', '1'}));
    EXPECT_EQ(c->control()[1].payload, (std::vector<std::uint8_t>{'p', '2'}));
}

TEST(WebSocketRaw, OnePacketAcrossManyFrames) {
    auto b = start_ws_broker();
    auto c = upgraded(*b);
    ASSERT_TRUE(expect_connack_ok(c->connect("many-frames"), "many-frames"));
    c->send_packet(make_subscribe(1, {{"many/frames", 0}}));
    ASSERT_TRUE(c->expect<proto::suback>());
    const std::string payload(5000, 'm');
    const auto publish = encoded(make_publish("many/frames", payload, 0));
    // Each piece its own binary message, 7 bytes at a time.
    for (std::size_t off = 0; off < publish.size(); off += 7) {
        const auto end = std::min(publish.size(), off + 7);
        c->send_frame(ws::binary,
                      std::vector<std::uint8_t>(publish.begin() + static_cast<long>(off),
                                                publish.begin() + static_cast<long>(end)));
    }
    auto got = c->expect<proto::publish>();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->payload, payload);
}

TEST(WebSocketRaw, SeveralPacketsInOneFrame) {
    auto b = start_ws_broker();
    auto c = upgraded(*b);
    c->send_frame(
        ws::binary,
        concat({encoded(make_connect("one-frame")), encoded(make_subscribe(1, {{"one/frame", 1}})),
                encoded(make_publish("one/frame", "packed", 1, 2)), encoded(proto::pingreq{})}));
    const auto got = packets(*c, 5);
    ASSERT_EQ(got.size(), 5u);
    EXPECT_TRUE(holds<proto::connack>(got[0]));
    EXPECT_TRUE(holds<proto::suback>(got[1]));
    int acks = 0, publishes = 0, pingresps = 0;
    for (std::size_t i = 2; i < got.size(); ++i) {
        acks += holds<proto::puback>(got[i]);
        publishes += holds<proto::publish>(got[i]);
        pingresps += holds<proto::pingresp>(got[i]);
    }
    EXPECT_EQ(acks, 1);
    EXPECT_EQ(publishes, 1);
    EXPECT_EQ(pingresps, 1);
}

TEST(WebSocketRaw, ClientCloseFrameIsAnsweredAndTheConnectionEnds) {
    auto b = start_ws_broker();
    auto c = upgraded(*b);
    ASSERT_TRUE(expect_connack_ok(c->connect("client-close"), "client-close"));
    c->send_frame(ws::close, ws::close_payload(1000, "bye"));
    EXPECT_TRUE(c->wait_closed());
    EXPECT_EQ(c->close_code(), 1000);
}

TEST(WebSocketRaw, V5DisconnectWithReasonThenCloseFrame) {
    auto b = start_ws_broker();
    auto c = upgraded(*b);
    c->version = version::v5;
    ASSERT_TRUE(expect_connack_ok(c->connect("v5-ws"), "v5-ws"));
    // A second CONNECT is a protocol error: DISCONNECT 0x82, then the close handshake.
    c->send_packet(make_connect("v5-ws", version::v5, true));
    auto d = c->expect<proto::disconnect>();
    ASSERT_TRUE(d);
    EXPECT_EQ(d->code, proto::reason_code::protocol_error);
    EXPECT_TRUE(c->finish_close());
    EXPECT_EQ(c->close_code(), 1000);
}

TEST(WebSocketRaw, TcpFinWithoutCloseFrameEndsTheConnection) {
    auto b = start_ws_broker();
    auto c = upgraded(*b);
    ASSERT_TRUE(expect_connack_ok(c->connect("fin"), "fin"));
    c->shutdown_write();
    EXPECT_TRUE(c->wait_closed());
}

// ---- Paho MQTT C++ over ws://
// ---------------------------------------------------------------------

class WebSocketPaho : public ::testing::TestWithParam<int> {};

TEST_P(WebSocketPaho, PublishAndReceiveEveryQos) {
    auto b = start_ws_broker();
    mqtt_client c(b->ws_uri(), "paho-ws-" + std::to_string(GetParam()), GetParam());
    c.connect();
    ASSERT_TRUE(c.connected());
    c.subscribe("paho/ws/#", 2);
    for (int qos = 0; qos <= 2; ++qos)
        c.publish("paho/ws/" + std::to_string(qos), "qos " + std::to_string(qos), qos);
    const auto got = c.take(3);
    ASSERT_EQ(got.size(), 3u);
    EXPECT_EQ(payloads(got), (std::vector<std::string>{"qos 0", "qos 1", "qos 2"}));
    c.disconnect();
}

INSTANTIATE_TEST_SUITE_P(Versions, WebSocketPaho, ::testing::Values(3, 4, 5));

TEST(WebSocketPahoMixed, TcpAndWebSocketClientsTalkWithLargeMessages) {
    auto b = start_ws_broker();
    mqtt_client over_ws(b->ws_uri(), "mixed-ws", 5);
    mqtt_client over_tcp(b->uri(), "mixed-tcp", 4);
    connect_all({&over_ws, &over_tcp});
    over_ws.subscribe("to/ws", 1);
    over_tcp.subscribe("to/tcp", 1);
    const std::string big(300 * 1024, 'B');  // a frame with the 64-bit length form
    over_tcp.publish("to/ws", big, 1);
    over_ws.publish("to/tcp", "small", 1);
    over_ws.publish("to/tcp", big, 1);
    auto at_ws = over_ws.take(1);
    ASSERT_EQ(at_ws.size(), 1u);
    EXPECT_EQ(at_ws[0].payload, big);
    auto at_tcp = over_tcp.take(2);
    ASSERT_EQ(at_tcp.size(), 2u);
    EXPECT_EQ(at_tcp[0].payload, "small");
    EXPECT_EQ(at_tcp[1].payload, big);
}

TEST(WebSocketPahoMixed, SessionResumesOverAnotherTransport) {
    auto b = start_ws_broker();
    {
        mqtt_client first(b->uri(), "roaming", 4);  // tcp
        first.connect(false);
        first.subscribe("roam/t", 1);
        first.disconnect();
    }
    {
        mqtt_client pub(b->uri(), "roam-pub", 4);
        pub.connect();
        pub.publish("roam/t", "queued while away", 1);
        pub.disconnect();
    }
    {
        mqtt_client again(b->ws_uri(), "roaming", 4);  // the same session over ws
        auto r = again.connect(false);
        EXPECT_TRUE(r.session_present);
        auto got = again.take(1);
        ASSERT_EQ(got.size(), 1u);
        EXPECT_EQ(got[0].payload, "queued while away");
        again.disconnect();
    }
    mqtt_client back(b->uri(), "roaming", 4);  // and back to tcp
    EXPECT_TRUE(back.connect(false).session_present);
    mqtt_client pub(b->ws_uri(), "roam-pub-ws", 4);
    pub.connect();
    pub.publish("roam/t", "from a ws publisher", 1);
    auto got = back.take(1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].payload, "from a ws publisher");
}

}  // namespace
}  // namespace rmqtt::test::integ
