// The WebSocket upgrade request (RFC 6455 section 4): parsing in any split, the 8 KB limit, bytes
// after the request kept, and the strict answer (101 with Sec-WebSocket-Accept and "mqtt", or the
// refusal naming why).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "net/ws_upgrade.hpp"
#include "ws_frames.hpp"

namespace rmqtt::broker {
namespace {

namespace ws = rmqtt::test::ws;

std::span<const std::uint8_t> bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

// Feeds `text` in pieces of `step` bytes; returns the final status and the bytes left over.
ws_upgrade_parser::status feed_all(ws_upgrade_parser& p, std::string_view text, std::size_t step,
                                   std::string* rest = nullptr) {
    auto st = ws_upgrade_parser::status::need_more;
    for (std::size_t off = 0; off < text.size(); off += step) {
        const auto piece = text.substr(off, step);
        std::size_t consumed = 0;
        st = p.feed(bytes(piece), consumed);
        if (st == ws_upgrade_parser::status::complete) {
            if (rest)
                *rest = std::string(piece.substr(consumed)) +
                        std::string(text.substr(off + piece.size()));
            return st;
        }
        if (st == ws_upgrade_parser::status::failed) return st;
    }
    return st;
}

ws_upgrade_answer answer(std::string_view text, std::string_view path = "/mqtt") {
    ws_upgrade_parser p;
    const auto st = feed_all(p, text, text.size());
    if (st == ws_upgrade_parser::status::failed) return refuse_upgrade(p.error());
    EXPECT_EQ(st, ws_upgrade_parser::status::complete);
    return answer_upgrade(p.request(), path);
}

TEST(WsUpgrade, AcceptKeyOfTheRfcSample) {
    EXPECT_EQ(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ=="), ws::sample_accept);  // RFC 6455 1.3
}

TEST(WsUpgrade, BrowserRequestGets101WithAcceptAndMqtt) {
    const auto a = answer(ws::upgrade_request("/mqtt", "mqtt"));
    ASSERT_TRUE(a.accepted()) << a.error.message();
    EXPECT_EQ(a.subprotocol, "mqtt");
    EXPECT_EQ(a.response,
              "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
              "Sec-WebSocket-Protocol: mqtt\r\n\r\n");
}

TEST(WsUpgrade, ParsesInEverySplit) {
    const std::string text = ws::upgrade_request("/mqtt", "mqtt");
    for (std::size_t step = 1; step <= text.size(); ++step) {
        ws_upgrade_parser p;
        std::string rest = "x";
        ASSERT_EQ(feed_all(p, text, step, &rest), ws_upgrade_parser::status::complete) << step;
        EXPECT_EQ(rest, "");
        EXPECT_TRUE(answer_upgrade(p.request(), "/mqtt").accepted()) << step;
    }
}

TEST(WsUpgrade, BytesAfterTheRequestAreLeftOver) {
    const std::string frames = "\x82\x80\x01\x02\x03\x04more";
    const std::string text = ws::upgrade_request() + frames;
    for (std::size_t step : {std::size_t{7}, text.size()}) {
        ws_upgrade_parser p;
        std::string rest;
        ASSERT_EQ(feed_all(p, text, step, &rest), ws_upgrade_parser::status::complete);
        EXPECT_EQ(rest, frames) << step;
    }
}

TEST(WsUpgrade, SubprotocolChoice) {
    EXPECT_EQ(answer(ws::upgrade_request("/mqtt", "mqttv3.1")).subprotocol, "mqttv3.1");
    EXPECT_EQ(answer(ws::upgrade_request("/mqtt", "mqttv3.1, mqtt")).subprotocol, "mqtt");
    EXPECT_EQ(answer(ws::upgrade_request("/mqtt", "wamp, mqtt")).subprotocol, "mqtt");
    EXPECT_EQ(answer(ws::upgrade_request("/mqtt", "wamp", "Sec-WebSocket-Protocol: mqtt\r\n"))
                  .subprotocol,
              "mqtt");
    const auto none = answer(ws::upgrade_request("/mqtt", ""));
    EXPECT_EQ(none.error, ws_error::no_mqtt_subprotocol);
    EXPECT_TRUE(none.response.starts_with("HTTP/1.1 400 Bad Request\r\n"));
    EXPECT_EQ(answer(ws::upgrade_request("/mqtt", "MQTT")).error, ws_error::no_mqtt_subprotocol);
    EXPECT_EQ(answer(ws::upgrade_request("/mqtt", "wamp")).error, ws_error::no_mqtt_subprotocol);
}

TEST(WsUpgrade, PathMustMatchUnlessAnyPath) {
    EXPECT_TRUE(answer(ws::upgrade_request("/mqtt?token=1")).accepted());
    const auto wrong = answer(ws::upgrade_request("/other"));
    EXPECT_EQ(wrong.error, ws_error::wrong_path);
    EXPECT_TRUE(wrong.response.starts_with("HTTP/1.1 404 Not Found\r\n"));
    EXPECT_EQ(answer(ws::upgrade_request("/mqtt/")).error, ws_error::wrong_path);
    EXPECT_TRUE(answer(ws::upgrade_request("/other"), "").accepted());
    EXPECT_TRUE(answer(ws::upgrade_request("/"), "").accepted());
    EXPECT_TRUE(answer(ws::upgrade_request("http://127.0.0.1/mqtt")).accepted());
}

// Replaces the first occurrence of `from` in the sample request.
std::string edited(std::string_view from, std::string_view to) {
    std::string r = ws::upgrade_request();
    const auto at = r.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) r.replace(at, from.size(), to);
    return r;
}

TEST(WsUpgrade, StrictChecksAndTheirAnswers) {
    struct bad_case {
        std::string request;
        ws_error error;
        const char* status;
    };
    const std::vector<bad_case> cases{
        {edited("GET ", "POST "), ws_error::method_not_allowed, "HTTP/1.1 405 "},
        {edited("HTTP/1.1", "HTTP/1.0"), ws_error::http_version, "HTTP/1.1 400 "},
        {edited("Host: 127.0.0.1\r\n", ""), ws_error::missing_host, "HTTP/1.1 400 "},
        {edited("Host: 127.0.0.1\r\n", "Host: a\r\nHost: b\r\n"), ws_error::missing_host,
         "HTTP/1.1 400 "},
        {edited("Upgrade: websocket\r\n", ""), ws_error::not_websocket, "HTTP/1.1 426 "},
        {edited("Upgrade: websocket", "Upgrade: h2c"), ws_error::not_websocket, "HTTP/1.1 426 "},
        {edited("Connection: Upgrade", "Connection: keep-alive"), ws_error::not_websocket,
         "HTTP/1.1 426 "},
        {edited("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8"),
         ws_error::websocket_version, "HTTP/1.1 426 "},
        {edited("Sec-WebSocket-Version: 13\r\n", ""), ws_error::websocket_version, "HTTP/1.1 426 "},
        {edited("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""), ws_error::bad_key,
         "HTTP/1.1 400 "},
        {edited("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ"), ws_error::bad_key,
         "HTTP/1.1 400 "},
        {edited("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZR=="), ws_error::bad_key,
         "HTTP/1.1 400 "},
        {edited("dGhlIHNhbXBsZSBub25jZQ==",
                "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Key: "
                "dGhlIHNhbXBsZSBub25jZQ=="),
         ws_error::bad_key, "HTTP/1.1 400 "},
        {edited("\r\n\r\n", "\r\nContent-Length: 4\r\n\r\nbody"), ws_error::body_not_allowed,
         "HTTP/1.1 400 "},
        {"GARBAGE\r\n\r\n", ws_error::malformed_request, "HTTP/1.1 400 "},
        {edited("Host:", "Ho st:"), ws_error::malformed_request, "HTTP/1.1 400 "},
    };
    for (const auto& c : cases) {
        const auto a = answer(c.request);
        EXPECT_EQ(a.error, c.error) << c.request;
        EXPECT_TRUE(a.response.starts_with(c.status)) << a.response;
        EXPECT_NE(a.response.find("Connection: close\r\n"), std::string::npos);
    }
    EXPECT_NE(answer(edited("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8"))
                  .response.find("Sec-WebSocket-Version: 13\r\n"),
              std::string::npos);
    EXPECT_NE(answer(edited("Upgrade: websocket\r\n", "")).response.find("Upgrade: websocket\r\n"),
              std::string::npos);
}

TEST(WsUpgrade, HeaderTokensAreCaseInsensitiveAndListed) {
    EXPECT_TRUE(
        answer(edited("Connection: Upgrade", "Connection: keep-alive, Upgrade")).accepted());
    EXPECT_TRUE(answer(edited("Upgrade: websocket", "Upgrade: WebSocket")).accepted());
    EXPECT_TRUE(answer(edited("Sec-WebSocket-Key:", "sec-websocket-key:")).accepted());
}

TEST(WsUpgrade, OversizeHeadersAreRefusedAt8KB) {
    const std::string filler = "X-Filler: " + std::string(9000, 'a') + "\r\n";
    const std::string big = ws::upgrade_request("/mqtt", "mqtt", filler);
    for (std::size_t step : {std::size_t{1000}, big.size()}) {
        ws_upgrade_parser p;
        ASSERT_EQ(feed_all(p, big, step), ws_upgrade_parser::status::failed);
        EXPECT_EQ(p.error(), ws_error::request_too_large);
    }
    EXPECT_TRUE(refuse_upgrade(ws_error::request_too_large)
                    .response.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
    // Just under the limit is fine.
    const std::string base = ws::upgrade_request();
    const std::string fits = ws::upgrade_request(
        "/mqtt", "mqtt", "X-Filler: " + std::string(8192 - base.size() - 12, 'a') + "\r\n");
    ASSERT_EQ(fits.size(), 8192u);
    EXPECT_TRUE(answer(fits).accepted());
}

TEST(WsUpgrade, NothingIsConsumedAfterTheEnd) {
    ws_upgrade_parser p;
    std::string rest;
    ASSERT_EQ(feed_all(p, ws::upgrade_request(), 5, &rest), ws_upgrade_parser::status::complete);
    std::size_t consumed = 1;
    EXPECT_EQ(p.feed(bytes("GET / HTTP/1.1\r\n"), consumed), ws_upgrade_parser::status::complete);
    EXPECT_EQ(consumed, 0u);
}

}  // namespace
}  // namespace rmqtt::broker
