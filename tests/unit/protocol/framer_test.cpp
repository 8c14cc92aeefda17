// parse_frame and the Variable Byte Integer primitives (5.0 section 1.5.5, 2.1.4).
#include <gtest/gtest.h>

#include "codec_test_util.hpp"
#include "rmqtt/protocol/codec.hpp"

namespace rmqtt::protocol {
namespace {

using test::bytes;

TEST(Varint, EncodesBoundaryValuesWithMinimalLength) {
    // The table of 5.0 section 1.5.5.
    const struct {
        std::uint32_t value;
        bytes wire;
    } cases[] = {
        {0, {0x00}},
        {127, {0x7F}},
        {128, {0x80, 0x01}},
        {16383, {0xFF, 0x7F}},
        {16384, {0x80, 0x80, 0x01}},
        {2097151, {0xFF, 0xFF, 0x7F}},
        {2097152, {0x80, 0x80, 0x80, 0x01}},
        {268435455, {0xFF, 0xFF, 0xFF, 0x7F}},
    };
    for (const auto& c : cases) {
        bytes out{0xAA};
        EXPECT_EQ(encode_varint(c.value, out), c.wire.size());
        EXPECT_EQ(out, test::cat(bytes{0xAA}, c.wire)) << c.value;
        EXPECT_EQ(varint_size(c.value), c.wire.size());
        std::uint32_t v = 1;
        EXPECT_EQ(decode_varint(c.wire, v), static_cast<int>(c.wire.size()));
        EXPECT_EQ(v, c.value);
    }
}

TEST(Varint, OutOfRangeValueIsNeverOverrun) {
    // Contract violation (value above 268,435,455): the output is invalid but sized as written.
    bytes out;
    EXPECT_EQ(encode_varint(0x10000000, out), 5u);
    EXPECT_EQ(out.size(), 5u);
    EXPECT_EQ(varint_size(0xFFFFFFFF), 5u);
}

TEST(Varint, FifthByteIsMalformed_MQTT_1_5_5_1) {
    std::uint32_t v = 0;
    EXPECT_EQ(decode_varint(bytes{0xFF, 0xFF, 0xFF, 0xFF, 0x7F}, v), -1);
    EXPECT_EQ(decode_varint(bytes{0x80, 0x80, 0x80, 0x80}, v), -1);
}

TEST(Varint, NonMinimalEncodingIsMalformed_MQTT_1_5_5_1) {
    std::uint32_t v = 0;
    EXPECT_EQ(decode_varint(bytes{0x80, 0x00}, v), -1);
    EXPECT_EQ(decode_varint(bytes{0xFF, 0x80, 0x00}, v), -1);
    EXPECT_EQ(decode_varint(bytes{0x80, 0x80, 0x80, 0x00}, v), -1);
    EXPECT_EQ(decode_varint(bytes{0x00}, v), 1);  // a single zero byte is the minimal 0
}

TEST(Varint, TruncatedNeedsMore) {
    std::uint32_t v = 0;
    EXPECT_EQ(decode_varint(bytes{}, v), 0);
    EXPECT_EQ(decode_varint(bytes{0x80}, v), 0);
    EXPECT_EQ(decode_varint(bytes{0xFF, 0xFF, 0xFF}, v), 0);
}

TEST(Framer, CompleteFrameIsSplitIntoHeaderAndBody) {
    const bytes wire{0x30, 0x05, 0x00, 0x01, 'a', 'x', 'y', 0xC0, 0x00};  // PUBLISH + PINGREQ
    frame f;
    const frame_result r = parse_frame(wire, 0, f);
    ASSERT_EQ(r.status, frame_status::complete);
    EXPECT_EQ(r.consumed, 7u);
    EXPECT_EQ(f.size, 7u);
    EXPECT_EQ(f.type(), packet_type::publish);
    EXPECT_EQ(f.flags(), 0);
    ASSERT_EQ(f.body.size(), 5u);
    EXPECT_EQ(f.body.data(), wire.data() + 2);  // no copy
    const frame_result r2 = parse_frame(std::span(wire).subspan(7), 0, f);
    ASSERT_EQ(r2.status, frame_status::complete);
    EXPECT_EQ(f.type(), packet_type::pingreq);
    EXPECT_TRUE(f.body.empty());
}

TEST(Framer, SplitAtEveryBytePositionNeedsMoreUntilComplete) {
    // A PUBLISH with a two-byte Remaining Length (200 bytes of payload).
    bytes body = test::cat(test::str("t/x"), bytes(195, 'p'));
    const bytes wire = test::packet_bytes(0x30, body);
    ASSERT_EQ(wire.size(), 203u);
    for (std::size_t cut = 0; cut < wire.size(); ++cut) {
        frame f;
        const frame_result r = parse_frame(std::span(wire).first(cut), 0, f);
        ASSERT_EQ(r.status, frame_status::need_more) << cut;
        EXPECT_EQ(r.consumed, 0u);
        // Once the fixed header is complete (3 bytes) the whole size is known.
        EXPECT_EQ(r.needed, cut >= 3 ? wire.size() : 0u) << cut;
    }
    frame f;
    const frame_result r = parse_frame(wire, 0, f);
    ASSERT_EQ(r.status, frame_status::complete);
    EXPECT_EQ(r.consumed, wire.size());
    EXPECT_EQ(f.body.size(), body.size());
}

TEST(Framer, FiveByteRemainingLengthIsMalformed_MQTT_1_5_5_1) {
    // hostile-input B.4 #1: 10 FF FF FF FF 7F
    frame f;
    EXPECT_EQ(parse_frame(bytes{0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F}, 0, f).status,
              frame_status::malformed);
    // Decided as soon as the fourth length byte still has its continuation bit.
    EXPECT_EQ(parse_frame(bytes{0x10, 0xFF, 0xFF, 0xFF, 0xFF}, 0, f).status,
              frame_status::malformed);
}

TEST(Framer, NonMinimalRemainingLengthIsMalformed_MQTT_1_5_5_1) {
    // hostile-input B.4 #6: PINGREQ C0 80 00
    frame f;
    EXPECT_EQ(parse_frame(bytes{0xC0, 0x80, 0x00}, 0, f).status, frame_status::malformed);
}

TEST(Framer, TooLargeIsDecidedFromTheFixedHeaderAlone) {
    // Remaining Length 268,435,455 with no body at all (hostile-input B.4 #3).
    frame f;
    frame_result r = parse_frame(bytes{0x30, 0xFF, 0xFF, 0xFF, 0x7F}, 1024 * 1024, f);
    EXPECT_EQ(r.status, frame_status::too_large);
    EXPECT_EQ(r.consumed, 0u);
    // max_packet_size counts the fixed header: 2 + 100 = 102 bytes.
    const bytes header{0x30, 100};
    EXPECT_EQ(parse_frame(header, 101, f).status, frame_status::too_large);
    r = parse_frame(header, 102, f);
    EXPECT_EQ(r.status, frame_status::need_more);
    EXPECT_EQ(r.needed, 102u);
    // 0 means the protocol's own limit only.
    EXPECT_EQ(parse_frame(bytes{0x30, 0xFF, 0xFF, 0xFF, 0x7F}, 0, f).status,
              frame_status::need_more);
}

TEST(Framer, PacketExactlyAtTheLimitIsAccepted) {
    const bytes wire{0xC0, 0x00};
    frame f;
    EXPECT_EQ(parse_frame(wire, 2, f).status, frame_status::complete);
    EXPECT_EQ(parse_frame(wire, 1, f).status, frame_status::too_large);
}

TEST(Framer, EmptyInputNeedsMoreWithUnknownSize) {
    frame f;
    const frame_result r = parse_frame(bytes{}, 0, f);
    EXPECT_EQ(r.status, frame_status::need_more);
    EXPECT_EQ(r.needed, 0u);
}

}  // namespace
}  // namespace rmqtt::protocol
