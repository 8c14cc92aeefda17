// PROXY protocol (proxy_protocol = true): the header a load balancer sends before the client's
// bytes gives the client address the broker uses (logs, hooks, API); a missing, malformed or late
// header closes the connection; on a tls listener the header comes before the ClientHello.
#include <gtest/gtest.h>

#include "log_lines.hpp"
#include "tls_util.hpp"
#include "ws_client.hpp"

namespace rmqtt::test::integ {
namespace {

std::vector<std::uint8_t> text(const std::string& s) {
    return {s.begin(), s.end()};
}

std::vector<std::uint8_t> operator+(std::vector<std::uint8_t> a,
                                    const std::vector<std::uint8_t>& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

// v2, PROXY, TCP over IPv6: 2001:db8::7 port 40002 -> 2001:db8::1 port 1883.
const auto v2_inet6 =
    hex("0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A 21 21 00 24"
        "20 01 0D B8 00 00 00 00 00 00 00 00 00 00 00 07"
        "20 01 0D B8 00 00 00 00 00 00 00 00 00 00 00 01"
        "9C 42 07 5B");

broker_ptr proxy_broker(std::vector<std::string> extra = {}) {
    broker_process::options o;
    o.listener = {"proxy_protocol = true", "proxy_protocol_timeout = \"1s\""};
    o.listener.insert(o.listener.end(), extra.begin(), extra.end());
    o.log_level = "debug";  // the "connected" line
    return start_broker_with(std::move(o));
}

bool log_has(const broker_process& b, const std::string& fragment) {
    return eventually([&] { return b.log().find(fragment) != std::string::npos; });
}

// The header's source address is the client's: v1 TCP4, v2 TCP over IPv6, each followed by
// CONNECT (in the same segment for v1: only the header's bytes are taken).
TEST(ProxyProtocol, HeaderGivesTheClientAddress) {
    auto b = proxy_broker();
    {
        raw_client c(b->port());
        c.send_bytes(text("PROXY TCP4 203.0.113.7 192.0.2.1 40001 1883\r\n") +
                     encode_packet(proto::version::v3_1_1, make_connect("pp-v1")));
        auto p = expect<proto::connack>(c);
        ASSERT_TRUE(p);
        EXPECT_EQ(p->code, 0);
    }
    {
        raw_client c(b->port());
        c.send_bytes(v2_inet6);
        ASSERT_TRUE(expect_connack_ok(c.connect(make_connect("pp-v2")), "pp-v2"));
        // The connection works as any other.
        ASSERT_TRUE(raw_publish(c, "pp/t", "through the proxy", 1, 3));
    }
    EXPECT_TRUE(log_shows_connected(*b, "pp-v1", "203.0.113.7:40001")) << b->log();
    EXPECT_TRUE(log_shows_connected(*b, "pp-v2", "[2001:db8::7]:40002")) << b->log();
}

// v1 UNKNOWN and v2 LOCAL carry no address: the socket's own stands.
TEST(ProxyProtocol, UnknownAndLocalKeepTheSocketAddress) {
    auto b = proxy_broker();
    {
        raw_client c(b->port());
        c.send_bytes(text("PROXY UNKNOWN\r\n"));
        ASSERT_TRUE(expect_connack_ok(c.connect(make_connect("pp-unknown")), "pp-unknown"));
    }
    {
        raw_client c(b->port());
        c.send_bytes(hex("0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A 20 00 00 00"));
        ASSERT_TRUE(expect_connack_ok(c.connect(make_connect("pp-local")), "pp-local"));
    }
    EXPECT_TRUE(log_shows_connected(*b, "pp-unknown", "127.0.0.1:")) << b->log();
    EXPECT_TRUE(log_shows_connected(*b, "pp-local", "127.0.0.1:")) << b->log();
}

// No header (MQTT straight away), a malformed one, or one that comes after
// proxy_protocol_timeout: closed, nothing answered.
TEST(ProxyProtocol, MissingMalformedOrLateHeaderCloses) {
    auto b = proxy_broker({"handshake_timeout = \"60s\""});
    {
        raw_client c(b->port());
        c.send(make_connect("no-header"));
        std::vector<std::uint8_t> before;
        EXPECT_TRUE(c.wait_closed(15s, &before));
        EXPECT_TRUE(before.empty());
    }
    for (const auto* bad : {"PROXY TCP4 999.0.0.1 192.0.2.1 1 2\r\n", "PROXY TCP4 1.2.3.4\r\n",
                            "PROXY TCP6 203.0.113.7 192.0.2.1 40001 1883\r\n"}) {
        SCOPED_TRACE(bad);
        raw_client c(b->port());
        c.send_bytes(text(bad) + encode_packet(proto::version::v3_1_1, make_connect("bad")));
        std::vector<std::uint8_t> before;
        EXPECT_TRUE(c.wait_closed(15s, &before));
        EXPECT_TRUE(before.empty());
    }
    {
        // Half a header, then silence: closed by proxy_protocol_timeout (handshake_timeout is
        // 60 s here), and the rest of the header is too late.
        raw_client c(b->port());
        c.send_bytes(text("PROXY TCP4 203.0.113."));
        EXPECT_TRUE(c.wait_closed(20s));
        c.send_bytes(text("7 192.0.2.1 40001 1883\r\n"));
    }
    {
        raw_client silent(b->port());
        EXPECT_TRUE(silent.wait_closed(20s));
    }
    EXPECT_TRUE(log_has(*b, "bad PROXY protocol header (no PROXY protocol header)")) << b->log();
    EXPECT_TRUE(log_has(*b, "bad PROXY protocol header (v1 header: TCP4 with an address"))
        << b->log();
    EXPECT_TRUE(log_has(*b, "no PROXY protocol header within proxy_protocol_timeout")) << b->log();
    // A client with a header still gets in.
    raw_client ok(b->port());
    ok.send_bytes(text("PROXY TCP4 198.51.100.1 192.0.2.1 1000 1883\r\n"));
    EXPECT_TRUE(expect_connack_ok(ok.connect(make_connect("pp-after")), "pp-after"));
}

// On a tls listener the PROXY header comes first, in the clear, then the TLS handshake.
// On a ws listener the PROXY header comes before the HTTP upgrade request, and the address it
// carries is the client's there too.
TEST(ProxyProtocol, HeaderBeforeWebSocketUpgrade) {
    broker_process::options o;
    o.ws = true;
    o.ws_listener = {"proxy_protocol = true"};
    o.log_level = "debug";
    auto b = start_broker_with(std::move(o));
    {
        ws_client c(b->ws_port());
        c.send_raw(std::string("PROXY TCP4 198.51.100.9 192.0.2.1 5555 8080\r\n"));
        const auto head = c.upgrade();
        ASSERT_TRUE(head.starts_with("HTTP/1.1 101 Switching Protocols\r\n")) << head;
        auto ack = c.connect("pp-ws");
        ASSERT_TRUE(ack);
        EXPECT_EQ(ack->code, 0);
    }
    {
        // Without the header the upgrade request is not a PROXY header: closed, not upgraded.
        ws_client c(b->ws_port());
        EXPECT_EQ(c.upgrade(), "");
    }
    EXPECT_TRUE(log_shows_connected(*b, "pp-ws", "198.51.100.9:5555")) << b->log();
}

TEST(ProxyProtocol, HeaderBeforeTls) {
    tls_broker t;
    t.tls = {"proxy_protocol = true"};
    t.log_level = "debug";
    t.start();
    {
        auto o = t.tls_options();
        o.before_hello = text("PROXY TCP4 198.51.100.9 192.0.2.1 5555 8883\r\n");
        tls_client c(t.tls_port, o);
        std::string error;
        ASSERT_TRUE(c.handshake(&error)) << error;
        auto ack = c.connect("pp-tls");
        ASSERT_TRUE(ack);
        EXPECT_EQ(ack->code, 0);
    }
    {
        auto o = t.tls_options();
        o.before_hello = v2_inet6;
        tls_client c(t.tls_port, o);
        ASSERT_TRUE(c.handshake());
        ASSERT_TRUE(c.connect("pp-tls-v2"));
    }
    {
        // Without the header the ClientHello is not a PROXY header: closed.
        tls_client c(t.tls_port, t.tls_options());
        EXPECT_FALSE(c.handshake());
    }
    EXPECT_TRUE(log_shows_connected(*t.broker, "pp-tls", "198.51.100.9:5555")) << t.broker->log();
    EXPECT_TRUE(log_shows_connected(*t.broker, "pp-tls-v2", "[2001:db8::7]:40002"))
        << t.broker->log();
}

}  // namespace
}  // namespace rmqtt::test::integ
