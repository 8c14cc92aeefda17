// MQTT over secure WebSocket (listener.wss: WebSocket over TLS over TCP) against the real rmqttd:
// Paho MQTT C++ over wss:// verifying the server's certificate and address (MQTT 3.1, 3.1.1 and
// 5.0 at every QoS, and a message too large for one TLS record), a wss listener that requires a
// client certificate and takes its Common Name as the username, a session that moves between wss
// and tcp, and clients that do not speak TLS first refused. MQTT.js over wss:// is in
// ws_js_test.cpp.
#include <chrono>
#include <string>
#include <vector>

#include "integration_util.hpp"
#include "tls_util.hpp"
#include "ws_client.hpp"

namespace rmqtt::test::integ {
namespace {

using namespace std::chrono_literals;

// A tls_broker whose listeners are wss.
struct wss_broker : tls_broker {
    wss_broker() { kind = "wss"; }
};

mqtt_client::connect_options wss_options(const tls_broker& t, bool clean = true,
                                         bool client_cert = false) {
    auto o = paho_options(clean);
    o.ssl = t.paho_ssl(client_cert);
    return o;
}

class WssPaho : public ::testing::TestWithParam<int> {};

TEST_P(WssPaho, EveryQosAndALargeMessageVerifyingTheServer) {
    wss_broker t;
    t.start();
    mqtt_client c(t.ssl_uri(), "paho-wss-" + std::to_string(GetParam()), GetParam());
    c.connect(wss_options(t));
    ASSERT_TRUE(c.connected());
    ASSERT_EQ(c.subscribe("paho/wss/#", 2), 2);
    for (int qos = 0; qos <= 2; ++qos)
        c.publish("paho/wss/" + std::to_string(qos), "qos " + std::to_string(qos), qos);
    const std::string big(300 * 1024, 'W');  // many TLS records, one WebSocket frame
    c.publish("paho/wss/big", big, 1);
    const auto got = c.take(4);
    ASSERT_EQ(got.size(), 4u);
    EXPECT_EQ(got[0].payload, "qos 0");
    EXPECT_EQ(got[1].payload, "qos 1");
    EXPECT_EQ(got[2].payload, "qos 2");
    EXPECT_EQ(got[3].payload, big);
    c.disconnect();
}

INSTANTIATE_TEST_SUITE_P(Versions, WssPaho, ::testing::Values(3, 4, 5));

// cross_certificate on a wss listener: the TLS handshake below the WebSocket upgrade asks for the
// client certificate; with cert_cn_as_username its Common Name is the username, which
// allow_anonymous = false requires. Without a certificate the client does not get in.
TEST(Wss, ClientCertificateRequiredAndItsCommonNameIsTheUsername) {
    wss_broker t;
    t.tls = {"cross_certificate = true", cat("client_ca_certs = \"", t.certs.ca, "\""),
             "cert_cn_as_username = true", "allow_anonymous = false"};
    t.start();
    mqtt_client with_cert(t.ssl_uri(), "wss-cn");
    EXPECT_NO_THROW(with_cert.connect(wss_options(t, true, /*client_cert=*/true)));
    EXPECT_TRUE(with_cert.connected());

    mqtt_client without(t.ssl_uri(), "wss-no-cert");
    EXPECT_ANY_THROW(without.connect(wss_options(t)));
    EXPECT_FALSE(without.connected());
    EXPECT_TRUE(eventually([&] {
        return t.broker->log().find("client sent no certificate") != std::string::npos;
    })) << t.broker->log();
}

// A persistent session started over tcp resumes over wss with what was queued meanwhile, and the
// other way round.
TEST(Wss, SessionResumesOverAnotherTransport) {
    wss_broker t;
    t.start();
    auto publisher = raw_connect(*t.broker, "wss-roam-pub");
    {
        mqtt_client c(t.broker->uri(), "wss-roamer");
        c.connect(paho_options(/*clean=*/false));
        ASSERT_EQ(c.subscribe("roam/wss", 1), 1);
        c.disconnect();
    }
    ASSERT_TRUE(raw_publish(*publisher, "roam/wss", "queued while away", 1, 1));
    {
        mqtt_client c(t.ssl_uri(), "wss-roamer");
        EXPECT_TRUE(c.connect(wss_options(t, /*clean=*/false)).session_present);
        auto got = c.next(10s);
        ASSERT_TRUE(got);
        EXPECT_EQ(got->payload, "queued while away");
        c.disconnect();
    }
    ASSERT_TRUE(raw_publish(*publisher, "roam/wss", "queued again", 1, 2));
    mqtt_client c(t.broker->uri(), "wss-roamer");
    EXPECT_TRUE(c.connect(paho_options(/*clean=*/false)).session_present);
    auto got = c.next(10s);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->payload, "queued again");
}

// A plain WebSocket upgrade and a plain MQTT CONNECT on the wss port are not a ClientHello: the
// connection is closed without an answer, and the listener goes on serving.
TEST(WssHostile, PlainWebSocketAndPlainMqttAreClosed) {
    wss_broker t;
    t.start();
    {
        ws_client c(t.tls_port);
        const auto head = c.upgrade(ws::upgrade_request());
        EXPECT_FALSE(head.starts_with("HTTP/1.1 101")) << head;
        EXPECT_TRUE(c.wait_closed(std::chrono::seconds(15)));
    }
    {
        raw_client raw(t.tls_port);
        raw.send_bytes(encode_packet(proto::version::v3_1_1, make_connect("plain-on-wss")));
        std::vector<std::uint8_t> before;
        EXPECT_TRUE(raw.wait_closed(15s, &before));
        EXPECT_TRUE(before.empty()) << "no CONNACK over a socket that is not TLS";
    }
    mqtt_client c(t.ssl_uri(), "wss-after");
    EXPECT_NO_THROW(c.connect(wss_options(t)));
    EXPECT_TRUE(c.connected());
}

}  // namespace
}  // namespace rmqtt::test::integ
