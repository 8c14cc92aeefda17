// Every packet-alone rule the decoder enforces, with its spec id, in 3.1.1 and 5.0 (and 3.1 where
// it differs). Byte strings marked (m) come from hostile-input.md section B.4.
#include <gtest/gtest.h>

#include "codec_test_util.hpp"

namespace rmqtt::protocol {
namespace {

using test::bytes;
using test::cat;
using test::decode_code;
using test::packet_bytes;
using test::str;

constexpr version v31 = version::v3_1;
constexpr version v311 = version::v3_1_1;
constexpr version v5 = version::v5;
constexpr reason_code ok = reason_code::success;
constexpr reason_code malformed = reason_code::malformed_packet;
constexpr reason_code protocol_error = reason_code::protocol_error;

// A property list with its Variable Byte Integer length.
bytes props(const bytes& inner) {
    bytes out;
    encode_varint(static_cast<std::uint32_t>(inner.size()), out);
    return cat(out, inner);
}
const bytes no_props{0x00};

bytes connect_packet(std::string_view name, std::uint8_t level, std::uint8_t flags,
                     const bytes& rest) {
    return packet_bytes(0x10, cat(str(name), bytes{level, flags, 0x00, 0x3C}, rest));
}
// 3.1.1 CONNECT with the given flags and payload.
bytes connect311(std::uint8_t flags, const bytes& payload) {
    return connect_packet("MQTT", 4, flags, payload);
}
// 5.0 CONNECT with the given flags, CONNECT properties and payload.
bytes connect5(std::uint8_t flags, const bytes& connect_props, const bytes& payload) {
    return connect_packet("MQTT", 5, flags, cat(connect_props, payload));
}
// 5.0 PUBLISH QoS 1 to "t" with the given properties and payload.
bytes publish5(const bytes& publish_props, std::string_view payload = "x") {
    return packet_bytes(0x32, cat(str("t"), bytes{0x00, 0x01}, publish_props, payload));
}

// ---- fixed header ------------------------------------------------------------------------------

TEST(Malformed, FixedHeaderReservedFlags_MQTT_2_2_2_1_and_2_2_2_2) {
    // (m) hostile-input #9 and the rest of the table in 5.0 section 2.1.3.
    for (version v : {v311, v5}) {
        EXPECT_EQ(decode_code(v, {0x80, 0x05, 0x00, 0x01, 0x00, 0x01, 't'}),
                  malformed);  // SUBSCRIBE 0000 [MQTT-3.8.1-1]
        EXPECT_EQ(decode_code(v, {0x63, 0x02, 0x00, 0x01}),
                  malformed);  // PUBREL 0011 [MQTT-3.6.1-1]
        EXPECT_EQ(decode_code(v, {0x60, 0x02, 0x00, 0x01}), malformed);  // PUBREL 0000
        EXPECT_EQ(decode_code(v, {0xA0, 0x05, 0x00, 0x01, 0x00, 0x01, 't'}),
                  malformed);                                // UNSUBSCRIBE [MQTT-3.10.1-1]
        EXPECT_EQ(decode_code(v, {0xE1, 0x00}), malformed);  // DISCONNECT [MQTT-3.14.1-1]
        EXPECT_EQ(decode_code(v, {0xC1, 0x00}), malformed);  // PINGREQ
        EXPECT_EQ(decode_code(v, {0xD8, 0x00}), malformed);  // PINGRESP
        EXPECT_EQ(decode_code(v, {0x42, 0x02, 0x00, 0x01}), malformed);        // PUBACK
        EXPECT_EQ(decode_code(v, {0x51, 0x02, 0x00, 0x01}), malformed);        // PUBREC
        EXPECT_EQ(decode_code(v, {0x72, 0x02, 0x00, 0x01}), malformed);        // PUBCOMP
        EXPECT_EQ(decode_code(v, {0x21, 0x02, 0x00, 0x00}), malformed);        // CONNACK
        EXPECT_EQ(decode_code(v, {0x92, 0x03, 0x00, 0x01, 0x00}), malformed);  // SUBACK
        EXPECT_EQ(decode_code(v, {0xB4, 0x02, 0x00, 0x01}), malformed);        // UNSUBACK
    }
    EXPECT_EQ(decode_code(v5, {0xF1, 0x00}), malformed);  // AUTH [MQTT-3.15.1-1]
    bytes c = connect311(0x02, str("c"));
    c[0] = 0x12;  // CONNECT 0010
    EXPECT_EQ(decode_code(v311, c), malformed);
}

TEST(Malformed, V31ToleratesDupOnRetransmittablePackets) {
    // MQTT 3.1 set QoS 1 and DUP on PUBREL, SUBSCRIBE and UNSUBSCRIBE retries.
    EXPECT_EQ(decode_code(v31, {0x6A, 0x02, 0x00, 0x01}), ok);
    EXPECT_EQ(decode_code(v31, {0x8A, 0x06, 0x00, 0x01, 0x00, 0x01, 't', 0x00}), ok);
    EXPECT_EQ(decode_code(v31, {0xAA, 0x05, 0x00, 0x01, 0x00, 0x01, 't'}), ok);
    EXPECT_EQ(decode_code(v311, {0x6A, 0x02, 0x00, 0x01}), malformed);
    EXPECT_EQ(decode_code(v31, {0xE1, 0x00}), malformed);
}

TEST(Malformed, ReservedPacketType0) {
    // (m) hostile-input #7: 00 00. 5.0 section 2.1.2: Reserved, forbidden.
    for (version v : {v31, v311, v5})
        EXPECT_EQ(decode_code(v, {0x00, 0x00}), malformed);
}

// ---- CONNECT -----------------------------------------------------------------------------------

TEST(MalformedConnect, ProtocolName_MQTT_3_1_2_1) {
    // (m) hostile-input #12
    EXPECT_EQ(decode_code(v311, connect_packet("MQTU", 4, 0x02, str("c"))), malformed);
    EXPECT_EQ(decode_code(v311, connect_packet("MQT", 4, 0x02, str("c"))), malformed);
    EXPECT_EQ(decode_code(v311, connect_packet("", 4, 0x02, str("c"))), malformed);
    EXPECT_EQ(decode_code(v311, connect_packet("mqtt", 5, 0x02, cat(no_props, str("c")))),
              malformed);
}

TEST(MalformedConnect, UnsupportedProtocolLevel_MQTT_3_1_2_2) {
    // (m) hostile-input #13: levels 2 and 6; names paired with the wrong level.
    auto d = test::decode_bytes(v311, connect_packet("MQTT", 2, 0x02, str("c")));
    EXPECT_EQ(d.result.code, reason_code::unsupported_protocol_version);
    EXPECT_EQ(std::get<connect>(d.p).protocol_version, v311);  // answer with CONNACK 0x01
    d = test::decode_bytes(v311, connect_packet("MQTT", 6, 0x02, str("c")));
    EXPECT_EQ(d.result.code, reason_code::unsupported_protocol_version);
    // Answered in the 3.1.1 form (20 02 00 01), the one every client can read.
    EXPECT_EQ(std::get<connect>(d.p).protocol_version, v311);
    EXPECT_EQ(decode_code(v311, connect_packet("MQTT", 3, 0x02, str("c"))),
              reason_code::unsupported_protocol_version);
    EXPECT_EQ(decode_code(v311, connect_packet("MQIsdp", 4, 0x02, str("c"))),
              reason_code::unsupported_protocol_version);
}

TEST(MalformedConnect, ReservedFlag_MQTT_3_1_2_3) {
    // (m) hostile-input #14
    EXPECT_EQ(decode_code(v311, connect311(0x03, str("c"))), malformed);
    EXPECT_EQ(decode_code(v5, connect5(0x03, no_props, str("c"))), malformed);
}

TEST(MalformedConnect, WillQosWithoutWillFlag_MQTT_3_1_2_11_and_311_3_1_2_13) {
    // (m) hostile-input #17: flags 0A (will QoS 1, no will flag)
    EXPECT_EQ(decode_code(v311, connect311(0x0A, str("c"))), malformed);
    EXPECT_EQ(decode_code(v5, connect5(0x0A, no_props, str("c"))), malformed);
}

TEST(MalformedConnect, WillRetainWithoutWillFlag_MQTT_3_1_2_13_and_311_3_1_2_15) {
    EXPECT_EQ(decode_code(v311, connect311(0x22, str("c"))), malformed);
    EXPECT_EQ(decode_code(v5, connect5(0x22, no_props, str("c"))), malformed);
}

TEST(MalformedConnect, WillQos3_MQTT_3_1_2_12_and_311_3_1_2_14) {
    // (m) flags 1E: will QoS 3, will flag, clean
    const bytes will = cat(str("c"), str("w"), str("m"));
    EXPECT_EQ(decode_code(v311, connect311(0x1E, will)), malformed);
    EXPECT_EQ(
        decode_code(v5, connect5(0x1E, no_props, cat(str("c"), no_props, str("w"), str("m")))),
        malformed);
    EXPECT_EQ(decode_code(v311, connect311(0x16, will)), ok);  // will QoS 2 is fine
}

TEST(MalformedConnect, PasswordWithoutUserName_MQTT_3_1_2_22) {
    // (m) hostile-input #18: flags 42. 3.1.1 forbids it; 5.0 allows it (section 3.1.2.9).
    EXPECT_EQ(decode_code(v311, connect311(0x42, cat(str("c"), str("pw")))), malformed);
    EXPECT_EQ(decode_code(v31, connect_packet("MQIsdp", 3, 0x42, cat(str("c"), str("pw")))),
              malformed);
    const auto d = test::decode_bytes(v5, connect5(0x42, no_props, cat(str("c"), str("pw"))));
    ASSERT_TRUE(d.result);
    const auto& c = std::get<connect>(d.p);
    EXPECT_FALSE(c.username);
    EXPECT_EQ(c.password, "pw");
}

TEST(MalformedConnect, UserNameFlagWithoutField_MQTT_3_1_2_17_and_311_3_1_2_19) {
    EXPECT_EQ(decode_code(v311, connect311(0x82, str("c"))), malformed);
    EXPECT_EQ(decode_code(v5, connect5(0x82, no_props, str("c"))), malformed);
    EXPECT_EQ(decode_code(v5, connect5(0x42, no_props, str("c"))), malformed);  // password
}

TEST(MalformedConnect, InvalidUtf8InClientIdUserNameWillTopic_MQTT_1_5_4_1_and_1_5_4_2) {
    // (m) hostile-input #16: U+D800, U+0000, and a bad continuation byte.
    for (std::string_view bad : {std::string_view("\xED\xA0\x80"), std::string_view("a\0b", 3),
                                 std::string_view("\xC3\x28")}) {
        // Client Identifier [MQTT-3.1.3-4]
        EXPECT_EQ(decode_code(v311, connect311(0x02, str(bad))), malformed);
        EXPECT_EQ(decode_code(v5, connect5(0x02, no_props, str(bad))), malformed);
        // User Name [MQTT-3.1.3-11]
        EXPECT_EQ(decode_code(v311, connect311(0x82, cat(str("c"), str(bad)))), malformed);
        EXPECT_EQ(decode_code(v5, connect5(0x82, no_props, cat(str("c"), str(bad)))), malformed);
        // Will Topic [MQTT-3.1.3-10]
        EXPECT_EQ(decode_code(v311, connect311(0x06, cat(str("c"), str(bad), str("m")))),
                  malformed);
        EXPECT_EQ(
            decode_code(v5, connect5(0x06, no_props, cat(str("c"), no_props, str(bad), str("m")))),
            malformed);
    }
    // Control characters and U+FFFF are allowed (the spec lets a receiver refuse them).
    EXPECT_EQ(decode_code(v311, connect311(0x02, str("\x01\x7F\xEF\xBF\xBF"))), ok);
    // Password and Will Payload are Binary Data: any bytes.
    EXPECT_EQ(decode_code(v311, connect311(0xC6, cat(str("c"), str("w"), str("\xFF\x00"), str("u"),
                                                     str("\xED\xA0\x80")))),
              ok);
}

TEST(MalformedConnect, WillTopicWithWildcardIsTopicNameInvalid) {
    const auto d = test::decode_bytes(v311, connect311(0x0E, cat(str("c"), str("w/#"), str("m"))));
    EXPECT_EQ(d.result.code, reason_code::topic_name_invalid);
    // A soft error: the packet is complete so the broker can answer CONNACK.
    const auto& c = std::get<connect>(d.p);
    ASSERT_TRUE(c.will);
    EXPECT_EQ(c.will->topic, "w/#");
    EXPECT_EQ(c.will->qos_level, qos::at_least_once);
    EXPECT_EQ(decode_code(v5, connect5(0x06, no_props, cat(str("c"), no_props, str(""), str("m")))),
              reason_code::topic_name_invalid);
}

TEST(MalformedConnect, EmptyClientIdWithCleanSession0_MQTT_3_1_3_8) {
    // (m) hostile-input #15: 10 0C 0004 4D515454 04 00 000A 0000
    const bytes wire{0x10, 0x0C, 0x00, 0x04, 'M',  'Q',  'T',
                     'T',  0x04, 0x00, 0x00, 0x0A, 0x00, 0x00};
    const auto d = test::decode_bytes(v311, wire);
    EXPECT_EQ(d.result.code, reason_code::client_identifier_not_valid);
    EXPECT_EQ(std::get<connect>(d.p).keep_alive, 10);             // complete: answer CONNACK 0x02
    EXPECT_EQ(decode_code(v311, connect311(0x02, str(""))), ok);  // clean session 1 is fine
    // 3.1 requires 1..23 characters.
    EXPECT_EQ(decode_code(v31, connect_packet("MQIsdp", 3, 0x02, str(""))),
              reason_code::client_identifier_not_valid);
    // 5.0 leaves the choice (assign an id or 0x85) to the server.
    EXPECT_EQ(decode_code(v5, connect5(0x00, no_props, str(""))), ok);
}

TEST(MalformedConnect, TruncatedAnywhereOrTrailingBytes) {
    const bytes full =
        connect5(0xC6, props({0x11, 0, 0, 0, 10}),
                 cat(str("c"), props({0x18, 0, 0, 0, 1}), str("w"), str("m"), str("u"), str("p")));
    ASSERT_EQ(decode_code(v5, full), ok);
    const bytes body(full.begin() + 2, full.end());
    for (std::size_t n = 0; n < body.size(); ++n) {
        const bytes cut = packet_bytes(0x10, bytes(body.begin(), body.begin() + n));
        EXPECT_EQ(decode_code(v5, cut), malformed) << n;
    }
    EXPECT_EQ(decode_code(v5, packet_bytes(0x10, cat(body, bytes{0x00}))), malformed);
    EXPECT_EQ(decode_code(v311, connect311(0x02, cat(str("c"), bytes{0x00}))), malformed);
}

// ---- 5.0 properties ----------------------------------------------------------------------------

TEST(MalformedProperties, IdentifierWithoutValueUnknownIdAndLengthBeyondPacket) {
    // (m) hostile-input #19: 01 21 (Receive Maximum without its value), unknown 0x04
    EXPECT_EQ(decode_code(v5, connect5(0x02, props({0x21}), str("c"))), malformed);
    EXPECT_EQ(decode_code(v5, connect5(0x02, props({0x21, 0x00}), str("c"))), malformed);
    EXPECT_EQ(decode_code(v5, connect5(0x02, props({0x04, 0x00}), str("c"))), malformed);
    EXPECT_EQ(decode_code(v5, connect5(0x02, props({0x80, 0x01}), str("c"))), malformed);
    // Property Length larger than what is left of the packet.
    EXPECT_EQ(decode_code(v5, packet_bytes(0x10, cat(str("MQTT"), bytes{5, 0x02, 0, 0, 0x7F}))),
              malformed);
    // hostile-input #2: Property Length as a 5-byte Variable Byte Integer [MQTT-1.5.5-1].
    EXPECT_EQ(decode_code(v5, connect5(0x02, bytes{0xFF, 0xFF, 0xFF, 0xFF, 0x7F}, str("c"))),
              malformed);
    // Non-minimal Property Length.
    EXPECT_EQ(decode_code(v5, connect5(0x02, bytes{0x80, 0x00}, str("c"))), malformed);
}

TEST(MalformedProperties, DuplicatePropertyIsProtocolError) {
    // (m) hostile-input #20: two Session Expiry Intervals. 5.0 section 2.2.2.2.
    EXPECT_EQ(
        decode_code(v5, connect5(0x02, props({0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2}), str("c"))),
        protocol_error);
    // (m) hostile-input #31: duplicate Message Expiry in PUBLISH
    EXPECT_EQ(decode_code(v5, publish5(props({0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 1}))),
              protocol_error);
    // hostile-input #50: duplicate in DISCONNECT
    EXPECT_EQ(decode_code(v5, packet_bytes(0xE0, cat(bytes{0x00},
                                                     props({0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 1})))),
              protocol_error);
    // User Property may repeat, in order.
    const auto d = test::decode_bytes(
        v5,
        connect5(0x02, props(cat(bytes{0x26}, str("k"), str("1"), bytes{0x26}, str("k"), str("2"))),
                 str("c")));
    ASSERT_TRUE(d.result);
    const auto& ups = std::get<connect>(d.p).props.user_properties;
    ASSERT_EQ(ups.size(), 2u);
    EXPECT_EQ(ups[0].value, "1");
    EXPECT_EQ(ups[1].value, "2");
}

TEST(MalformedProperties, ValueRulesAreProtocolErrors) {
    // (m) hostile-input #20: Receive Maximum 0, Maximum Packet Size 0, Request Response Info 2
    EXPECT_EQ(decode_code(v5, connect5(0x02, props({0x21, 0x00, 0x00}), str("c"))), protocol_error);
    EXPECT_EQ(decode_code(v5, connect5(0x02, props({0x27, 0, 0, 0, 0}), str("c"))), protocol_error);
    EXPECT_EQ(decode_code(v5, connect5(0x02, props({0x19, 0x02}), str("c"))), protocol_error);
    EXPECT_EQ(decode_code(v5, connect5(0x02, props({0x17, 0x02}), str("c"))), protocol_error);
    EXPECT_EQ(decode_code(v5, connect5(0x02, props({0x19, 0x01, 0x17, 0x00}), str("c"))), ok);
    // CONNACK: Maximum QoS, Retain Available and the *Available flags are 0 or 1.
    for (std::uint8_t pid : bytes{0x24, 0x25, 0x28, 0x29, 0x2A}) {
        EXPECT_EQ(decode_code(v5, packet_bytes(0x20, cat(bytes{0x00, 0x00}, props({pid, 0x02})))),
                  protocol_error)
            << int(pid);
        EXPECT_EQ(decode_code(v5, packet_bytes(0x20, cat(bytes{0x00, 0x00}, props({pid, 0x01})))),
                  ok)
            << int(pid);
    }
    // (m) hostile-input #31: Payload Format Indicator 2
    EXPECT_EQ(decode_code(v5, publish5(props({0x01, 0x02}))), protocol_error);
}

TEST(MalformedProperties, PropertyNotAllowedInPacketIsMalformed) {
    // (m) hostile-input #20: Payload Format Indicator in CONNECT properties. A property the packet
    // does not define makes it a Malformed Packet (5.0 section 2.2.2.2).
    EXPECT_EQ(decode_code(v5, connect5(0x02, props({0x01, 0x01}), str("c"))), malformed);
    // Will Delay Interval belongs to the Will Properties, not the CONNECT properties
    EXPECT_EQ(decode_code(v5, connect5(0x02, props({0x18, 0, 0, 0, 1}), str("c"))), malformed);
    // and Session Expiry Interval is not a Will Property (CVE-2023-3592 class)
    EXPECT_EQ(
        decode_code(v5, connect5(0x06, no_props,
                                 cat(str("c"), props({0x11, 0, 0, 0, 1}), str("w"), str("m")))),
        malformed);
    // Session Expiry Interval in PUBLISH, Topic Alias in PUBACK
    EXPECT_EQ(decode_code(v5, publish5(props({0x11, 0, 0, 0, 1}))), malformed);
    EXPECT_EQ(
        decode_code(v5, packet_bytes(0x40, cat(bytes{0x00, 0x01, 0x00}, props({0x23, 0, 1})))),
        malformed);
}

TEST(MalformedProperties, AuthenticationDataWithoutMethod) {
    // (m) hostile-input #22. 5.0 section 3.1.2.11.10
    EXPECT_EQ(decode_code(v5, connect5(0x02, props(cat(bytes{0x16}, str("d"))), str("c"))),
              protocol_error);
    EXPECT_EQ(
        decode_code(
            v5, connect5(0x02, props(cat(bytes{0x15}, str("m"), bytes{0x16}, str("d"))), str("c"))),
        ok);
}

TEST(MalformedProperties, InvalidUtf8InStringProperties_MQTT_1_5_4_1) {
    // Reason String and a User Property key carrying U+D800 / U+0000.
    EXPECT_EQ(
        decode_code(v5, packet_bytes(0x40, cat(bytes{0x00, 0x01, 0x10},
                                               props(cat(bytes{0x1F}, str("\xED\xA0\x80")))))),
        malformed);
    EXPECT_EQ(decode_code(
                  v5, publish5(props(cat(bytes{0x26}, str(std::string_view("\0", 1)), str("v"))))),
              malformed);
    EXPECT_EQ(decode_code(v5, publish5(props(cat(bytes{0x03}, str("\xC3\x28"))))), malformed);
    // Correlation Data is binary.
    EXPECT_EQ(decode_code(v5, publish5(props(cat(bytes{0x09}, str("\xED\xA0\x80"))))), ok);
}

// ---- PUBLISH -----------------------------------------------------------------------------------

TEST(MalformedPublish, Qos3_MQTT_3_3_1_4) {
    // (m) hostile-input #24: 36 0E 0005 746F706963 ...
    const bytes wire = packet_bytes(0x36, cat(str("topic"), bytes{0x00, 0x01}, "payload"));
    for (version v : {v31, v311, v5})
        EXPECT_EQ(decode_code(v, wire), malformed);
}

TEST(MalformedPublish, DupWithQos0_MQTT_3_3_1_2) {
    // (m) hostile-input #25: 38 ...
    EXPECT_EQ(decode_code(v311, packet_bytes(0x38, cat(str("topic"), "payload"))), malformed);
    EXPECT_EQ(decode_code(v5, packet_bytes(0x38, cat(str("topic"), no_props, "payload"))),
              malformed);
}

TEST(MalformedPublish, PacketIdentifier0WithQos1And2_MQTT_2_2_1_3) {
    // (m) hostile-input #25: 32 10 0005 746F706963 0000 ...
    EXPECT_EQ(decode_code(v311, packet_bytes(0x32, cat(str("topic"), bytes{0, 0}, "payload"))),
              protocol_error);
    EXPECT_EQ(decode_code(v5, packet_bytes(0x34, cat(str("topic"), bytes{0, 0}, no_props, "p"))),
              protocol_error);
}

TEST(MalformedPublish, WildcardInTopicName_MQTT_3_3_2_2) {
    // (m) hostile-input #28. A soft error: the packet id is there for PUBACK 0x90.
    for (std::string_view topic : {"a/+", "#", "a/#", "sport+"}) {
        const auto d =
            test::decode_bytes(v311, packet_bytes(0x32, cat(str(topic), bytes{0, 9}, "p")));
        EXPECT_EQ(d.result.code, reason_code::topic_name_invalid) << topic;
        EXPECT_EQ(std::get<publish>(d.p).packet_id, 9);
        EXPECT_EQ(decode_code(v5, packet_bytes(0x32, cat(str(topic), bytes{0, 9}, no_props, "p"))),
                  reason_code::topic_name_invalid);
    }
}

TEST(MalformedPublish, EmptyTopicName_MQTT_4_7_3_1) {
    // (m) hostile-input #26: 30 09 0000 7061796C6F6164
    const bytes v3wire{0x30, 0x09, 0x00, 0x00, 'p', 'a', 'y', 'l', 'o', 'a', 'd'};
    EXPECT_EQ(decode_code(v311, v3wire), reason_code::topic_name_invalid);
    // 5.0 section 3.3.2.3.4: allowed only with a Topic Alias.
    EXPECT_EQ(decode_code(v5, packet_bytes(0x30, cat(str(""), no_props, "payload"))),
              protocol_error);
    EXPECT_EQ(decode_code(v5, packet_bytes(0x30, cat(str(""), props({0x23, 0x00, 0x01}), "p"))),
              ok);
}

TEST(MalformedPublish, InvalidUtf8TopicName_MQTT_3_3_2_1) {
    // (m) hostile-input #27: U+0000, U+D800, C3 28
    for (std::string_view topic : {std::string_view("a\0b", 3), std::string_view("\xED\xA0\x80"),
                                   std::string_view("\xC3\x28")}) {
        EXPECT_EQ(decode_code(v311, packet_bytes(0x30, cat(str(topic), "p"))), malformed);
        EXPECT_EQ(decode_code(v5, packet_bytes(0x30, cat(str(topic), no_props, "p"))), malformed);
    }
}

TEST(MalformedPublish, TruncatedAfterTopic) {
    // hostile-input #33: QoS 1 with no Packet Identifier; also a cut Topic Name.
    EXPECT_EQ(decode_code(v311, packet_bytes(0x32, str("topic"))), malformed);
    EXPECT_EQ(decode_code(v311, packet_bytes(0x32, cat(str("topic"), bytes{0x00}))), malformed);
    EXPECT_EQ(decode_code(v311, packet_bytes(0x30, bytes{0x00, 0x05, 't'})), malformed);
    EXPECT_EQ(decode_code(v5, packet_bytes(0x32, cat(str("topic"), bytes{0x00, 0x01}))), malformed);
}

TEST(MalformedPublish, TopicAlias0_MQTT_3_3_2_8_IsLeftToTheBroker) {
    // (m) hostile-input #29: the broker refuses alias 0 like any alias outside 1..Topic Alias
    // Maximum, with DISCONNECT 0x94 (tests/integration/v5_topic_alias_test.cpp).
    EXPECT_EQ(decode_code(v5, publish5(props({0x23, 0x00, 0x00}))), ok);
}

TEST(MalformedPublish, ResponseTopicWithWildcard_MQTT_3_3_2_14) {
    // (m) hostile-input #31
    EXPECT_EQ(decode_code(v5, publish5(props(cat(bytes{0x08}, str("reply/#"))))), protocol_error);
    EXPECT_EQ(decode_code(v5, publish5(props(cat(bytes{0x08}, str("a/+/b"))))), protocol_error);
    EXPECT_EQ(decode_code(v5, publish5(props(cat(bytes{0x08}, str(""))))), protocol_error);
    EXPECT_EQ(decode_code(v5, publish5(props(cat(bytes{0x08}, str("reply/1"))))), ok);
}

TEST(MalformedPublish, PayloadFormatIndicatorWithNonUtf8Payload) {
    // hostile-input #32: FF FE with Payload Format Indicator 1 (5.0 section 3.3.2.3.2).
    const auto d = test::decode_bytes(v5, publish5(props({0x01, 0x01}), "\xFF\xFE"));
    EXPECT_EQ(d.result.code, reason_code::payload_format_invalid);
    EXPECT_EQ(std::get<publish>(d.p).packet_id, 1);  // complete, for PUBACK 0x99
    EXPECT_EQ(decode_code(v5, publish5(props({0x01, 0x00}), "\xFF\xFE")), ok);
    EXPECT_EQ(decode_code(v5, publish5(props({0x01, 0x01}), "caf\xC3\xA9")), ok);
    // The will's payload follows the same rule.
    EXPECT_EQ(decode_code(v5, connect5(0x06, no_props,
                                       cat(str("c"), props({0x01, 0x01}), str("w"), str("\xFF")))),
              reason_code::payload_format_invalid);
}

TEST(MalformedPublish, SubscriptionIdentifierIsKeptForTheBroker) {
    // Legal server -> client, refused client -> server by the broker [MQTT-3.3.4-6].
    const auto d = test::decode_bytes(v5, publish5(props({0x0B, 0x05, 0x0B, 0x80, 0x01})));
    ASSERT_TRUE(d.result);
    EXPECT_EQ(std::get<publish>(d.p).props.subscription_identifiers,
              (std::vector<std::uint32_t>{5, 128}));
    // 0 is a Protocol Error (5.0 section 3.3.2.3.8); a non-minimal or cut VBI is malformed.
    EXPECT_EQ(decode_code(v5, publish5(props({0x0B, 0x00}))), protocol_error);
    EXPECT_EQ(decode_code(v5, publish5(props({0x0B, 0x80, 0x00}))), malformed);
    EXPECT_EQ(decode_code(v5, publish5(props({0x0B, 0x80}))), malformed);
}

// ---- PUBACK / PUBREC / PUBREL / PUBCOMP --------------------------------------------------------

TEST(MalformedAck, V3RemainingLengthMustBe2) {
    for (std::uint8_t hb : bytes{0x40, 0x50, 0x62, 0x70}) {
        EXPECT_EQ(decode_code(v311, {hb, 0x03, 0x00, 0x01, 0x00}), malformed);
        EXPECT_EQ(decode_code(v311, {hb, 0x01, 0x00}), malformed);
        EXPECT_EQ(decode_code(v311, {hb, 0x00}), malformed);
        EXPECT_EQ(decode_code(v5, {hb, 0x01, 0x00}), malformed);
        EXPECT_EQ(decode_code(v311, {hb, 0x02, 0x00, 0x00}), protocol_error);  // id 0
    }
}

TEST(MalformedAck, V5ReasonCodeNotAllowedForPacket) {
    // 5.0 sections 3.4.2.1 - 3.7.2.1 list the allowed codes.
    EXPECT_EQ(decode_code(v5, {0x40, 0x03, 0x00, 0x01, 0x92}), malformed);  // PUBACK 0x92
    EXPECT_EQ(decode_code(v5, {0x50, 0x03, 0x00, 0x01, 0x04}), malformed);  // PUBREC 0x04
    EXPECT_EQ(decode_code(v5, {0x62, 0x03, 0x00, 0x01, 0x10}), malformed);  // PUBREL 0x10
    EXPECT_EQ(decode_code(v5, {0x70, 0x03, 0x00, 0x01, 0x80}), malformed);  // PUBCOMP 0x80
    EXPECT_EQ(decode_code(v5, {0x40, 0x03, 0x00, 0x01, 0x99}), ok);
    EXPECT_EQ(decode_code(v5, {0x70, 0x03, 0x00, 0x01, 0x92}), ok);
}

TEST(MalformedAck, V5BytesAfterProperties) {
    EXPECT_EQ(decode_code(v5, {0x40, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00}), malformed);
    EXPECT_EQ(decode_code(v5, {0x40, 0x05, 0x00, 0x01, 0x00, 0x02, 0x1F}), malformed);
}

// ---- SUBSCRIBE ---------------------------------------------------------------------------------

bytes subscribe311(const bytes& payload, std::uint16_t id = 1) {
    return packet_bytes(
        0x82,
        cat(bytes{static_cast<std::uint8_t>(id >> 8), static_cast<std::uint8_t>(id)}, payload));
}
bytes subscribe5(const bytes& payload, const bytes& p = no_props) {
    return packet_bytes(0x82, cat(bytes{0x00, 0x01}, p, payload));
}

TEST(MalformedSubscribe, NoTopicFilter_MQTT_3_8_3_3) {
    // (m) hostile-input #39: 82 02 1234 / 82 03 1234 00
    EXPECT_EQ(decode_code(v311, {0x82, 0x02, 0x12, 0x34}), malformed);
    EXPECT_EQ(decode_code(v5, {0x82, 0x03, 0x12, 0x34, 0x00}), protocol_error);  // [MQTT-3.8.3-2]
}

TEST(MalformedSubscribe, ZeroLengthFilter_MQTT_4_7_3_1) {
    // (m) hostile-input #41
    EXPECT_EQ(decode_code(v311, subscribe311(cat(str(""), bytes{0x00}))), malformed);
    EXPECT_EQ(decode_code(v5, subscribe5(cat(str(""), bytes{0x00}))), malformed);
}

TEST(MalformedSubscribe, PacketIdentifier0_MQTT_2_2_1_3) {
    EXPECT_EQ(decode_code(v311, subscribe311(cat(str("t"), bytes{0x00}), 0)), malformed);
    EXPECT_EQ(decode_code(v5, packet_bytes(0x82, cat(bytes{0, 0}, no_props, str("t"), bytes{0}))),
              malformed);
}

TEST(MalformedSubscribe, ShortPacketAndMissingOptions) {
    // (m) hostile-input #41: 82 01 12; #42: no options byte after the filter
    EXPECT_EQ(decode_code(v311, {0x82, 0x01, 0x12}), malformed);
    EXPECT_EQ(decode_code(v311, subscribe311(str("t"))), malformed);
    EXPECT_EQ(decode_code(v5, subscribe5(str("t"))), malformed);
    EXPECT_EQ(decode_code(v311, subscribe311(cat(str("t"), bytes{0x00}, str("u")))), malformed);
}

TEST(MalformedSubscribe, RequestedQos3_MQTT_3_8_3_5_and_311_3_8_3_4) {
    // (m) hostile-input #40: ... 70 03
    EXPECT_EQ(decode_code(v311, subscribe311(cat(str("p"), bytes{0x03}))), malformed);
    EXPECT_EQ(decode_code(v5, subscribe5(cat(str("p"), bytes{0x03}))), malformed);
}

TEST(MalformedSubscribe, ReservedOptionBits_MQTT_3_8_3_5) {
    // (m) hostile-input #40: 0x40, 0x80. In 3.1.1 every bit above QoS is reserved.
    for (std::uint8_t b : bytes{0x40, 0x80}) {
        EXPECT_EQ(decode_code(v5, subscribe5(cat(str("p"), bytes{b}))), malformed);
    }
    for (std::uint8_t b : bytes{0x04, 0x08, 0x10, 0x20, 0x40, 0x80}) {
        EXPECT_EQ(decode_code(v311, subscribe311(cat(str("p"), bytes{b}))), malformed);
    }
}

TEST(MalformedSubscribe, RetainHandling3_MQTT_3_8_3_5) {
    // (m) hostile-input #40: 0x30
    EXPECT_EQ(decode_code(v5, subscribe5(cat(str("p"), bytes{0x30}))), malformed);
    EXPECT_EQ(decode_code(v5, subscribe5(cat(str("p"), bytes{0x20}))), ok);
}

TEST(MalformedSubscribe, NoLocalOnSharedSubscription_MQTT_3_8_3_4) {
    // (m) hostile-input #44
    EXPECT_EQ(decode_code(v5, subscribe5(cat(str("$share/g/t"), bytes{0x04}))), protocol_error);
    EXPECT_EQ(decode_code(v5, subscribe5(cat(str("$share/g/t"), bytes{0x00}))), ok);
    EXPECT_EQ(decode_code(v5, subscribe5(cat(str("g/t"), bytes{0x04}))), ok);
}

TEST(MalformedSubscribe, InvalidUtf8Filter_MQTT_3_8_3_1) {
    EXPECT_EQ(decode_code(v311, subscribe311(cat(str("\xED\xA0\x80"), bytes{0}))), malformed);
    EXPECT_EQ(decode_code(v5, subscribe5(cat(str(std::string_view("a\0", 2)), bytes{0}))),
              malformed);
}

TEST(MalformedSubscribe, MisplacedWildcard_MQTT_4_7_1_2_and_4_7_1_3) {
    // hostile-input #43: a wildcard that is not a whole level, or '#' not last, makes the packet
    // malformed (3.1.1 [MQTT-4.7.1-2] [MQTT-4.7.1-3], 5.0 [MQTT-4.7.1-1] [MQTT-4.7.1-2]).
    for (const char* f :
         {"a/#/b", "sport+", "#x", "+a", "a/b#", "#/test/topic", "$share/g/a/#/b"}) {
        const bytes payload = cat(str("ok/+"), bytes{0}, str(f), bytes{0});
        EXPECT_EQ(decode_code(v311, subscribe311(payload)), malformed) << f;
        EXPECT_EQ(decode_code(v5, subscribe5(payload)), malformed) << f;
        EXPECT_EQ(decode_code(v311, packet_bytes(0xA2, cat(bytes{0, 1}, str(f)))), malformed) << f;
        EXPECT_EQ(decode_code(v5, packet_bytes(0xA2, cat(bytes{0, 1}, no_props, str(f)))),
                  malformed)
            << f;
    }
    // A share name that is missing or holds a wildcard is well formed; the broker refuses it
    // with a reason code (hostile-input #44).
    const bytes shared = cat(str("$share//t"), bytes{0}, str("$share/g+/t"), bytes{0},
                             str("$share/g"), bytes{0}, str("$share/g/"), bytes{0});
    auto d = test::decode_bytes(v311, subscribe311(shared));
    ASSERT_TRUE(d.result) << d.result.detail;
    EXPECT_EQ(std::get<subscribe>(d.p).topics.size(), 4u);
    EXPECT_TRUE(test::decode_bytes(v5, subscribe5(shared)).result);
}

TEST(MalformedSubscribe, SubscriptionIdentifierRules) {
    // Only one in SUBSCRIBE (5.0 section 3.8.2.1.2), and not 0.
    EXPECT_EQ(decode_code(v5, subscribe5(cat(str("t"), bytes{0}), props({0x0B, 1, 0x0B, 2}))),
              protocol_error);
    EXPECT_EQ(decode_code(v5, subscribe5(cat(str("t"), bytes{0}), props({0x0B, 0}))),
              protocol_error);
    EXPECT_EQ(
        decode_code(v5, subscribe5(cat(str("t"), bytes{0}), props({0x0B, 0xFF, 0xFF, 0xFF, 0x7F}))),
        ok);
}

// ---- UNSUBSCRIBE -------------------------------------------------------------------------------

TEST(MalformedUnsubscribe, NoTopicFilter_MQTT_3_10_3_2) {
    // (m) hostile-input #45: A2 02 1234
    EXPECT_EQ(decode_code(v311, {0xA2, 0x02, 0x12, 0x34}), malformed);
    EXPECT_EQ(decode_code(v5, {0xA2, 0x03, 0x12, 0x34, 0x00}), protocol_error);
}

TEST(MalformedUnsubscribe, ZeroLengthFilterAndPacketIdentifier0) {
    // (m) hostile-input #45 [MQTT-4.7.3-1] [MQTT-2.2.1-3]
    EXPECT_EQ(decode_code(v311, packet_bytes(0xA2, cat(bytes{0, 1}, str("")))), malformed);
    EXPECT_EQ(decode_code(v5, packet_bytes(0xA2, cat(bytes{0, 1}, no_props, str("")))), malformed);
    EXPECT_EQ(decode_code(v311, packet_bytes(0xA2, cat(bytes{0, 0}, str("t")))), malformed);
    EXPECT_EQ(decode_code(v311, packet_bytes(0xA2, cat(bytes{0, 1}, str("t"), bytes{0}))),
              malformed);
    EXPECT_EQ(decode_code(v311, packet_bytes(0xA2, cat(bytes{0, 1}, str("\xC3\x28")))), malformed);
}

// ---- DISCONNECT / AUTH / PING ------------------------------------------------------------------

TEST(MalformedDisconnect, V3RemainingLengthMustBe0) {
    EXPECT_EQ(decode_code(v311, {0xE0, 0x01, 0x00}), malformed);
    EXPECT_EQ(decode_code(v31, {0xE0, 0x01, 0x00}), malformed);
}

TEST(MalformedDisconnect, V5TruncatedPropertiesAndBadReason) {
    // (m) hostile-input #50: E0 03 00 01 11
    EXPECT_EQ(decode_code(v5, {0xE0, 0x03, 0x00, 0x01, 0x11}), malformed);
    EXPECT_EQ(decode_code(v5, {0xE0, 0x01, 0x10}), malformed);  // 0x10 is not a DISCONNECT code
    EXPECT_EQ(decode_code(v5, {0xE0, 0x01, 0x8E}), ok);
    EXPECT_EQ(decode_code(v5, {0xE0, 0x03, 0x00, 0x00, 0x00}), malformed);  // trailing byte
}

TEST(MalformedAuth, AuthBefore5IsMalformed) {
    // hostile-input #51: F0 00 on 3.1.1
    EXPECT_EQ(decode_code(v311, {0xF0, 0x00}), malformed);
    EXPECT_EQ(decode_code(v31, {0xF0, 0x00}), malformed);
    EXPECT_EQ(decode_code(v5, {0xF0, 0x00}), ok);
}

TEST(MalformedAuth, ReasonCodeAndMethod_MQTT_3_15_2_1) {
    EXPECT_EQ(
        decode_code(v5, packet_bytes(0xF0, cat(bytes{0x01}, props(cat(bytes{0x15}, str("m")))))),
        malformed);
    EXPECT_EQ(decode_code(v5, packet_bytes(0xF0, cat(bytes{0x18}, no_props))), protocol_error);
    EXPECT_EQ(
        decode_code(v5, packet_bytes(0xF0, cat(bytes{0x18}, props(cat(bytes{0x16}, str("d")))))),
        protocol_error);
    EXPECT_EQ(
        decode_code(v5, packet_bytes(0xF0, cat(bytes{0x19}, props(cat(bytes{0x15}, str("m")))))),
        ok);
}

TEST(MalformedPing, RemainingLengthMustBe0) {
    for (version v : {v311, v5}) {
        EXPECT_EQ(decode_code(v, {0xC0, 0x01, 0x00}), malformed);
        EXPECT_EQ(decode_code(v, {0xD0, 0x01, 0x00}), malformed);
    }
}

// ---- server -> client packets ------------------------------------------------------------------

TEST(MalformedConnack, RulesPerVersion) {
    EXPECT_EQ(decode_code(v311, {0x20, 0x02, 0x02, 0x00}), malformed);  // reserved flag bit
    EXPECT_EQ(decode_code(v311, {0x20, 0x02, 0x00, 0x06}), malformed);  // return code 6
    EXPECT_EQ(decode_code(v311, {0x20, 0x02, 0x01, 0x02}), malformed);  // [MQTT-3.2.2-4]
    EXPECT_EQ(decode_code(v311, {0x20, 0x03, 0x00, 0x00, 0x00}), malformed);
    EXPECT_EQ(decode_code(v31, {0x20, 0x02, 0x01, 0x00}), malformed);       // 3.1: reserved byte
    EXPECT_EQ(decode_code(v5, {0x20, 0x03, 0x01, 0x80, 0x00}), malformed);  // [MQTT-3.2.2-6]
    EXPECT_EQ(decode_code(v5, {0x20, 0x03, 0x00, 0x10, 0x00}), malformed);  // not a CONNACK code
    EXPECT_EQ(decode_code(v5, {0x20, 0x02, 0x00, 0x00}), malformed);  // Property Length missing
    EXPECT_EQ(decode_code(v5, {0x20, 0x03, 0x00, 0x9F, 0x00}), ok);
}

TEST(MalformedSuback, ReturnCodes) {
    EXPECT_EQ(decode_code(v311, {0x90, 0x03, 0x00, 0x01, 0x03}), malformed);  // [MQTT-3.9.3-2]
    EXPECT_EQ(decode_code(v311, {0x90, 0x02, 0x00, 0x01}), malformed);        // no codes
    EXPECT_EQ(decode_code(v5, {0x90, 0x04, 0x00, 0x01, 0x00, 0x03}), malformed);
    EXPECT_EQ(decode_code(v5, {0x90, 0x04, 0x00, 0x01, 0x00, 0x9E}), ok);
    EXPECT_EQ(decode_code(v311, {0x90, 0x03, 0x00, 0x00, 0x00}), protocol_error);  // id 0
}

TEST(MalformedUnsuback, RulesPerVersion) {
    EXPECT_EQ(decode_code(v311, {0xB0, 0x03, 0x00, 0x01, 0x00}), malformed);
    EXPECT_EQ(decode_code(v5, {0xB0, 0x03, 0x00, 0x01, 0x00}), malformed);        // no reason codes
    EXPECT_EQ(decode_code(v5, {0xB0, 0x04, 0x00, 0x01, 0x00, 0x01}), malformed);  // not allowed
    EXPECT_EQ(decode_code(v5, {0xB0, 0x04, 0x00, 0x01, 0x00, 0x11}), ok);
}

}  // namespace
}  // namespace rmqtt::protocol
