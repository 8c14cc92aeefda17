// RFC 6455 framing on the server side: binary payloads become one byte stream whatever the
// frame boundaries [MQTT-6.0.0-2], control frames are answered (also between fragments), and
// violations end the stream with the matching close code: text frames [MQTT-6.0.0-1], unmasked
// frames, RSV bits, oversize frames, bad sequences.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "net/ws_framer.hpp"
#include "ws_frames.hpp"

namespace rmqtt::broker {
namespace {

namespace ws = rmqtt::test::ws;
using status = ws_framer::status;

std::vector<std::uint8_t> bytes(std::string_view s) {
    return {s.begin(), s.end()};
}

std::vector<std::uint8_t> cat(std::initializer_list<std::vector<std::uint8_t>> parts) {
    std::vector<std::uint8_t> out;
    for (const auto& p : parts)
        out.insert(out.end(), p.begin(), p.end());
    return out;
}

// The frames in the framer's output, which it then clears.
std::vector<ws::frame> sent(ws_framer& f) {
    std::vector<ws::frame> out;
    std::span<const std::uint8_t> rest(f.output());
    for (;;) {
        ws::frame fr;
        const auto n = ws::parse_frame(rest, fr);
        if (n == 0) break;
        out.push_back(fr);
        rest = rest.subspan(n);
    }
    EXPECT_TRUE(rest.empty()) << "a partial frame in the output";
    f.output().clear();
    return out;
}

TEST(WsFramer, BinaryFrameIsDecoded) {
    ws_framer f(1024);
    std::vector<std::uint8_t> data;
    EXPECT_EQ(f.feed(ws::client_frame(ws::binary, "Hello"), data), status::open);
    EXPECT_EQ(data, bytes("Hello"));
    EXPECT_TRUE(f.output().empty());
}

TEST(WsFramer, RfcSampleTextFrameIsRefused) {
    // RFC 6455 section 5.7: a masked text frame "Hello". [MQTT-6.0.0-1]
    const std::vector<std::uint8_t> hello{0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                          0x7f, 0x9f, 0x4d, 0x51, 0x58};
    ws_framer f(1024);
    std::vector<std::uint8_t> data;
    EXPECT_EQ(f.feed(hello, data), status::failed);
    EXPECT_EQ(f.error(), ws_error::text_frame);
    EXPECT_TRUE(data.empty());
    const auto out = sent(f);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].opcode, ws::close);
    EXPECT_EQ(out[0].close_code(), 1003);
    EXPECT_FALSE(out[0].masked);  // server frames are not masked
}

TEST(WsFramer, AnySplitOfTheWireGivesTheSameStream) {
    // Three packets' worth of bytes over a fragmented message with a ping in the middle, then a
    // second message.
    const auto wire =
        cat({ws::client_frame(ws::binary, "abc", {.fin = false}), ws::client_frame(ws::ping, "p1"),
             ws::client_frame(ws::continuation, "defg", {.fin = false}),
             ws::client_frame(ws::continuation, "", {.fin = false}),
             ws::client_frame(ws::continuation, "h"),
             ws::client_frame(ws::binary, std::string(300, 'z'))});
    const auto expected = bytes("abcdefgh" + std::string(300, 'z'));
    for (std::size_t step = 1; step <= wire.size(); step += (step < 20 ? 1 : 37)) {
        ws_framer f(1024);
        std::vector<std::uint8_t> data;
        for (std::size_t off = 0; off < wire.size(); off += step) {
            const auto n = std::min(step, wire.size() - off);
            ASSERT_EQ(f.feed(std::span(wire).subspan(off, n), data), status::open) << step;
        }
        EXPECT_EQ(data, expected) << step;
        const auto out = sent(f);
        ASSERT_EQ(out.size(), 1u);
        EXPECT_EQ(out[0].opcode, ws::pong);
        EXPECT_EQ(out[0].payload, bytes("p1"));
    }
}

TEST(WsFramer, CloseFrameIsAnsweredAndEndsTheStream) {
    ws_framer f(1024);
    std::vector<std::uint8_t> data;
    const auto wire = cat({ws::client_frame(ws::binary, "last"),
                           ws::client_frame(ws::close, ws::close_payload(1000, "bye")),
                           ws::client_frame(ws::binary, "ignored")});
    EXPECT_EQ(f.feed(wire, data), status::closed);
    EXPECT_EQ(data, bytes("last"));
    const auto out = sent(f);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].opcode, ws::close);
    EXPECT_EQ(out[0].close_code(), 1000);
    EXPECT_TRUE(f.close_queued());
    EXPECT_EQ(f.feed(ws::client_frame(ws::binary, "more"), data), status::closed);
    EXPECT_EQ(data, bytes("last"));
}

TEST(WsFramer, ServerCloseThenClientClose) {
    ws_framer f(1024);
    std::vector<std::uint8_t> data;
    f.send_close(1000);
    auto out = sent(f);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].close_code(), 1000);
    f.send_binary(bytes("after close"));  // no data after a close frame
    f.send_close(1001);
    EXPECT_TRUE(f.output().empty());
    // Data still in flight from the client is read; its close ends the handshake, unanswered.
    EXPECT_EQ(f.feed(ws::client_frame(ws::binary, "x"), data), status::open);
    EXPECT_EQ(f.feed(ws::client_frame(ws::close, ws::close_payload(1000)), data), status::closed);
    EXPECT_TRUE(f.output().empty());
}

TEST(WsFramer, SendBinaryFramesUnmasked) {
    ws_framer f(1024);
    const std::string big(70000, 'q');
    f.send_binary(bytes("ab"));
    f.send_binary(bytes(big));
    const auto out = sent(f);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].opcode, ws::binary);
    EXPECT_TRUE(out[0].fin);
    EXPECT_FALSE(out[0].masked);
    EXPECT_EQ(out[0].payload, bytes("ab"));
    EXPECT_EQ(out[1].payload.size(), big.size());  // 64-bit length form
    EXPECT_EQ(f.output_total(), 4u + 10u + big.size());
}

struct violation {
    const char* name;
    std::vector<std::uint8_t> wire;
    ws_error error;
    std::uint16_t close_code;  // 0: a close frame without a code
};

TEST(WsFramer, ViolationsCloseWithTheMatchingCode) {
    const std::vector<violation> cases{
        {"unmasked", ws::client_frame(ws::binary, "abc", {.masked = false}),
         ws_error::protocol_error, 1002},
        {"rsv1", ws::client_frame(ws::binary, "abc", {.rsv = 4}), ws_error::protocol_error, 1002},
        {"unknown opcode", ws::client_frame(0x3, "abc"), ws_error::protocol_error, 1002},
        {"continuation first", ws::client_frame(ws::continuation, "abc"), ws_error::protocol_error,
         1002},
        {"new message inside a fragmented one",
         cat({ws::client_frame(ws::binary, "a", {.fin = false}),
              ws::client_frame(ws::binary, "b")}),
         ws_error::protocol_error, 1002},
        {"text continuation",
         cat({ws::client_frame(ws::binary, "a"), ws::client_frame(ws::text, "b", {.fin = false})}),
         ws_error::text_frame, 1003},
        // wslay looks at a frame once its first payload byte is there.
        {"oversize frame", cat({ws::frame_header(ws::binary, 1025), {0x00}}),
         ws_error::frame_too_large, 1009},
        {"fragmented ping", ws::client_frame(ws::ping, "p", {.fin = false}),
         ws_error::protocol_error, 0},
        {"long ping", ws::client_frame(ws::ping, std::string(126, 'p')), ws_error::protocol_error,
         0},
        {"close code 1005", ws::client_frame(ws::close, ws::close_payload(1005)),
         ws_error::protocol_error, 1002},
        {"close reason not UTF-8", ws::client_frame(ws::close, ws::close_payload(1000, "\xff")),
         ws_error::invalid_payload, 1007},
    };
    for (const auto& c : cases) {
        ws_framer f(1024);
        std::vector<std::uint8_t> data;
        EXPECT_EQ(f.feed(c.wire, data), status::failed) << c.name;
        EXPECT_EQ(f.error(), c.error) << c.name << ": " << f.error().message();
        const auto out = sent(f);
        ASSERT_EQ(out.size(), 1u) << c.name;
        EXPECT_EQ(out[0].opcode, ws::close) << c.name;
        EXPECT_EQ(out[0].close_code(), c.close_code) << c.name;
        // Nothing more is read or sent.
        EXPECT_EQ(f.feed(ws::client_frame(ws::ping, "x"), data), status::failed);
        EXPECT_TRUE(f.output().empty()) << c.name;
    }
}

TEST(WsFramer, FrameAtTheLimitIsAccepted) {
    ws_framer f(1024);
    std::vector<std::uint8_t> data;
    EXPECT_EQ(f.feed(ws::client_frame(ws::binary, std::string(1024, 'a')), data), status::open);
    EXPECT_EQ(data.size(), 1024u);
}

TEST(WsFramer, PongsAndEmptyFramesAreHarmless) {
    ws_framer f(1024);
    std::vector<std::uint8_t> data;
    const auto wire = cat({ws::client_frame(ws::pong, "unsolicited"),
                           ws::client_frame(ws::binary, ""), ws::client_frame(ws::ping, "")});
    EXPECT_EQ(f.feed(wire, data), status::open);
    EXPECT_TRUE(data.empty());
    const auto out = sent(f);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].opcode, ws::pong);
    EXPECT_TRUE(out[0].payload.empty());
}

}  // namespace
}  // namespace rmqtt::broker
