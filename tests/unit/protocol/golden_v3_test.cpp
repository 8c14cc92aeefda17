// Golden bytes for every packet type in MQTT 3.1.1, and CONNECT / CONNACK in MQTT 3.1. Each test
// encodes the packet, compares with the wire bytes written out field by field, and decodes them
// back to the same packet.
#include <gtest/gtest.h>

#include "codec_test_util.hpp"

namespace rmqtt::protocol {
namespace {

using test::bytes;
using test::expect_golden;

using namespace std::string_literals;

constexpr version v311 = version::v3_1_1;

TEST(GoldenV311, Connect) {
    connect c;
    c.protocol_version = v311;
    c.clean_start = true;
    c.keep_alive = 60;
    c.client_id = "cid"s;
    c.will = will_message{"w/t", "bye", qos::at_least_once, true, {}};
    c.username = "u"s;
    c.password = "pw"s;
    expect_golden(v311, c,
                  {
                      0x10,                            // CONNECT, flags 0
                      0x20,                            // Remaining Length 32
                      0x00, 0x04, 'M', 'Q', 'T', 'T',  // Protocol Name
                      0x04,                            // Protocol Level 4
                      0xEE,  // user name, password, will retain, will QoS 1, will, clean session
                      0x00, 0x3C,                 // Keep Alive 60
                      0x00, 0x03, 'c', 'i', 'd',  // Client Identifier
                      0x00, 0x03, 'w', '/', 't',  // Will Topic
                      0x00, 0x03, 'b', 'y', 'e',  // Will Message
                      0x00, 0x01, 'u',            // User Name
                      0x00, 0x02, 'p', 'w',       // Password
                  });
}

TEST(GoldenV311, ConnectMinimal) {
    connect c;
    c.protocol_version = v311;
    c.clean_start = false;
    c.keep_alive = 0;
    c.client_id = "x"s;
    expect_golden(v311, c,
                  {
                      0x10, 0x0D,                      // CONNECT, Remaining Length 13
                      0x00, 0x04, 'M', 'Q', 'T', 'T',  // Protocol Name
                      0x04,                            // Protocol Level 4
                      0x00,                            // no flags, Clean Session 0
                      0x00, 0x00,                      // Keep Alive 0
                      0x00, 0x01, 'x',                 // Client Identifier
                  });
}

TEST(GoldenV31, Connect) {
    connect c;
    c.protocol_version = version::v3_1;
    c.clean_start = true;
    c.keep_alive = 30;
    c.client_id = "c31"s;
    c.username = "user"s;
    expect_golden(version::v3_1, c,
                  {
                      0x10, 0x17,                                // CONNECT, Remaining Length 23
                      0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p',  // Protocol Name "MQIsdp"
                      0x03,                                      // Protocol Level 3
                      0x82,                                      // user name, clean session
                      0x00, 0x1E,                                // Keep Alive 30
                      0x00, 0x03, 'c', '3', '1',                 // Client Identifier
                      0x00, 0x04, 'u', 's', 'e', 'r',            // User Name
                  });
    // decode() reads the version from the packet, whatever the connection's version says.
    const auto d = test::decode_bytes(version::v5, test::encode_bytes(version::v3_1, c));
    ASSERT_TRUE(d.result);
    EXPECT_EQ(std::get<connect>(d.p).protocol_version, version::v3_1);
}

TEST(GoldenV31, Connack) {
    // 3.1 has no Session Present flag: the first byte is reserved.
    expect_golden(version::v3_1, connack{false, 5, {}},
                  {
                      0x20, 0x02,  // CONNACK, Remaining Length 2
                      0x00,        // reserved
                      0x05,        // return code 5: not authorized
                  });
}

TEST(GoldenV311, Connack) {
    expect_golden(v311, connack{true, 0, {}},
                  {
                      0x20, 0x02,  // CONNACK, Remaining Length 2
                      0x01,        // Session Present
                      0x00,        // return code 0: accepted
                  });
    expect_golden(v311, connack{false, 2, {}}, {0x20, 0x02, 0x00, 0x02});  // identifier rejected
}

TEST(GoldenV311, PublishQos0) {
    publish p;
    p.topic = "a/b"s;
    p.payload = "x"s;
    expect_golden(v311, p,
                  {
                      0x30, 0x06,                 // PUBLISH QoS 0, Remaining Length 6
                      0x00, 0x03, 'a', '/', 'b',  // Topic Name
                      'x',                        // payload (no Packet Identifier at QoS 0)
                  });
}

TEST(GoldenV311, PublishQos1DupRetain) {
    publish p;
    p.dup = true;
    p.qos_level = qos::at_least_once;
    p.retain = true;
    p.topic = "a/b"s;
    p.packet_id = 0x1234;
    p.payload = "hi"s;
    expect_golden(v311, p,
                  {
                      0x3B,                       // PUBLISH, DUP 1, QoS 1, RETAIN 1
                      0x09,                       // Remaining Length 9
                      0x00, 0x03, 'a', '/', 'b',  // Topic Name
                      0x12, 0x34,                 // Packet Identifier
                      'h', 'i',                   // payload
                  });
}

TEST(GoldenV311, PublishQos2EmptyPayload) {
    publish p;
    p.qos_level = qos::exactly_once;
    p.topic = "t"s;
    p.packet_id = 7;
    expect_golden(v311, p,
                  {
                      0x34, 0x05,       // PUBLISH QoS 2, Remaining Length 5
                      0x00, 0x01, 't',  // Topic Name
                      0x00, 0x07,       // Packet Identifier
                  });
}

TEST(GoldenV311, PublishAcks) {
    expect_golden(v311, puback{0x1234, {}, {}}, {0x40, 0x02, 0x12, 0x34});   // PUBACK, id
    expect_golden(v311, pubrec{0x1234, {}, {}}, {0x50, 0x02, 0x12, 0x34});   // PUBREC, id
    expect_golden(v311, pubrel{0x1234, {}, {}}, {0x62, 0x02, 0x12, 0x34});   // PUBREL flags 0010
    expect_golden(v311, pubcomp{0x1234, {}, {}}, {0x70, 0x02, 0x12, 0x34});  // PUBCOMP, id
}

TEST(GoldenV311, Subscribe) {
    subscribe s;
    s.packet_id = 10;
    s.topics = {{"a/b", {qos::at_least_once, false, false, 0}},
                {"#", {qos::exactly_once, false, false, 0}}};
    expect_golden(v311, s,
                  {
                      0x82, 0x0C,                 // SUBSCRIBE flags 0010, Remaining Length 12
                      0x00, 0x0A,                 // Packet Identifier 10
                      0x00, 0x03, 'a', '/', 'b',  // Topic Filter
                      0x01,                       // Requested QoS 1
                      0x00, 0x01, '#',            // Topic Filter
                      0x02,                       // Requested QoS 2
                  });
}

TEST(GoldenV311, Suback) {
    expect_golden(v311, suback{10, {0x01, 0x02, 0x80}, {}},
                  {
                      0x90, 0x05,        // SUBACK, Remaining Length 5
                      0x00, 0x0A,        // Packet Identifier 10
                      0x01, 0x02, 0x80,  // granted QoS 1, QoS 2, failure
                  });
}

TEST(GoldenV311, Unsubscribe) {
    unsubscribe u;
    u.packet_id = 11;
    u.filters = {"a/b", "#"};
    expect_golden(v311, u,
                  {
                      0xA2, 0x0A,                 // UNSUBSCRIBE flags 0010, Remaining Length 10
                      0x00, 0x0B,                 // Packet Identifier 11
                      0x00, 0x03, 'a', '/', 'b',  // Topic Filter
                      0x00, 0x01, '#',            // Topic Filter
                  });
}

TEST(GoldenV311, Unsuback) {
    expect_golden(v311, unsuback{11, {}, {}},
                  {
                      0xB0, 0x02,  // UNSUBACK, Remaining Length 2
                      0x00, 0x0B,  // Packet Identifier 11
                  });
}

TEST(GoldenV311, PingAndDisconnect) {
    expect_golden(v311, pingreq{}, {0xC0, 0x00});     // PINGREQ, Remaining Length 0
    expect_golden(v311, pingresp{}, {0xD0, 0x00});    // PINGRESP, Remaining Length 0
    expect_golden(v311, disconnect{}, {0xE0, 0x00});  // DISCONNECT, Remaining Length 0
}

TEST(GoldenV311, V5FieldsAreNotEncodedIn3x) {
    publish p;
    p.topic = "t"s;
    p.props.message_expiry_interval = 5;  // 5.0 only: dropped
    p.payload = "x"s;
    EXPECT_EQ(test::encode_bytes(v311, p), (bytes{0x30, 0x04, 0x00, 0x01, 't', 'x'}));
    disconnect d{reason_code::server_shutting_down, {}};
    EXPECT_EQ(test::encode_bytes(v311, d), (bytes{0xE0, 0x00}));
}

TEST(GoldenV311, LongPayloadUsesMultiByteRemainingLength) {
    publish p;
    p.topic = "t"s;
    p.payload = std::string(200, 'z');
    const bytes wire = test::encode_bytes(v311, p);
    ASSERT_EQ(wire.size(), 1u + 2u + 203u);
    EXPECT_EQ(wire[0], 0x30);
    EXPECT_EQ(wire[1], 0xCB);  // 203 = 0x4B | continuation
    EXPECT_EQ(wire[2], 0x01);
    const auto d = test::decode_bytes(v311, wire);
    ASSERT_TRUE(d.result);
    EXPECT_TRUE(d.p == packet{p});
}

}  // namespace
}  // namespace rmqtt::protocol
