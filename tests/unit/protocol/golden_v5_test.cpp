// Golden bytes for every packet type in MQTT 5.0, with properties. Each test encodes the packet,
// compares with the wire bytes written out field by field, and decodes them back.
#include <gtest/gtest.h>

#include "codec_test_util.hpp"

namespace rmqtt::protocol {
namespace {

using namespace std::string_literals;
using test::bytes;
using test::expect_golden;

constexpr version v5 = version::v5;

TEST(GoldenV5, ConnectWithPropertiesAndWill) {
    connect c;
    c.protocol_version = v5;
    c.clean_start = false;
    c.keep_alive = 10;
    c.client_id = "c5"s;
    c.props.session_expiry_interval = 3600;
    c.props.authentication_method = "m"s;
    c.props.authentication_data = "d"s;
    c.props.request_problem_information = 0;
    c.props.request_response_information = 1;
    c.props.receive_maximum = 20;
    c.props.topic_alias_maximum = 10;
    c.props.user_properties = {{"k", "v"}};
    c.props.maximum_packet_size = 1024;
    will_message w;
    w.topic = "w"s;
    w.payload = "bye"s;
    w.qos_level = qos::exactly_once;
    w.props.payload_format_indicator = 1;
    w.props.message_expiry_interval = 100;
    w.props.content_type = "t"s;
    w.props.response_topic = "r"s;
    w.props.correlation_data = "c"s;
    w.props.will_delay_interval = 5;
    w.props.user_properties = {{"a", "b"}};
    c.will = w;
    c.username = "u"s;
    c.password = "p"s;
    expect_golden(v5, c,
                  {
                      0x10, 0x60,                         // CONNECT, Remaining Length 96
                      0x00, 0x04, 'M',  'Q',  'T',  'T',  // Protocol Name
                      0x05,                               // Protocol Version 5
                      0xD4,        // user name, password, will QoS 2, will, clean 0
                      0x00, 0x0A,  // Keep Alive 10
                      0x23,        // Property Length 35
                      0x11, 0x00, 0x00, 0x0E, 0x10,             // Session Expiry Interval 3600
                      0x15, 0x00, 0x01, 'm',                    // Authentication Method
                      0x16, 0x00, 0x01, 'd',                    // Authentication Data
                      0x17, 0x00,                               // Request Problem Information 0
                      0x19, 0x01,                               // Request Response Information 1
                      0x21, 0x00, 0x14,                         // Receive Maximum 20
                      0x22, 0x00, 0x0A,                         // Topic Alias Maximum 10
                      0x26, 0x00, 0x01, 'k',  0x00, 0x01, 'v',  // User Property
                      0x27, 0x00, 0x00, 0x04, 0x00,             // Maximum Packet Size 1024
                      0x00, 0x02, 'c',  '5',                    // Client Identifier
                      0x1F,                                     // Will Property Length 31
                      0x01, 0x01,                               // Payload Format Indicator 1
                      0x02, 0x00, 0x00, 0x00, 0x64,             // Message Expiry Interval 100
                      0x03, 0x00, 0x01, 't',                    // Content Type
                      0x08, 0x00, 0x01, 'r',                    // Response Topic
                      0x09, 0x00, 0x01, 'c',                    // Correlation Data
                      0x18, 0x00, 0x00, 0x00, 0x05,             // Will Delay Interval 5
                      0x26, 0x00, 0x01, 'a',  0x00, 0x01, 'b',  // User Property
                      0x00, 0x01, 'w',                          // Will Topic
                      0x00, 0x03, 'b',  'y',  'e',              // Will Payload
                      0x00, 0x01, 'u',                          // User Name
                      0x00, 0x01, 'p',                          // Password
                  });
}

TEST(GoldenV5, ConnectMinimal) {
    connect c;
    c.protocol_version = v5;
    c.client_id = ""s;  // 5.0 lets the server assign one
    expect_golden(v5, c,
                  {
                      0x10, 0x0D,                      // CONNECT, Remaining Length 13
                      0x00, 0x04, 'M', 'Q', 'T', 'T',  // Protocol Name
                      0x05,                            // Protocol Version 5
                      0x02,                            // Clean Start
                      0x00, 0x00,                      // Keep Alive 0
                      0x00,                            // Property Length 0
                      0x00, 0x00,                      // empty Client Identifier
                  });
}

TEST(GoldenV5, ConnackWithProperties) {
    connack a;
    a.session_present = true;
    a.code = 0x00;
    a.props.session_expiry_interval = 120;
    a.props.assigned_client_identifier = "id"s;
    a.props.server_keep_alive = 30;
    a.props.response_information = "ri"s;
    a.props.server_reference = "s"s;
    a.props.reason_string = "ok"s;
    a.props.receive_maximum = 100;
    a.props.topic_alias_maximum = 5;
    a.props.maximum_qos = 1;
    a.props.retain_available = 0;
    a.props.user_properties = {{"x", "y"}};
    a.props.maximum_packet_size = 65536;
    a.props.wildcard_subscription_available = 1;
    a.props.subscription_identifier_available = 0;
    a.props.shared_subscription_available = 1;
    expect_golden(v5, a,
                  {
                      0x20, 0x3A,                               // CONNACK, Remaining Length 58
                      0x01,                                     // Session Present
                      0x00,                                     // Reason Code: Success
                      0x37,                                     // Property Length 55
                      0x11, 0x00, 0x00, 0x00, 0x78,             // Session Expiry Interval 120
                      0x12, 0x00, 0x02, 'i',  'd',              // Assigned Client Identifier
                      0x13, 0x00, 0x1E,                         // Server Keep Alive 30
                      0x1A, 0x00, 0x02, 'r',  'i',              // Response Information
                      0x1C, 0x00, 0x01, 's',                    // Server Reference
                      0x1F, 0x00, 0x02, 'o',  'k',              // Reason String
                      0x21, 0x00, 0x64,                         // Receive Maximum 100
                      0x22, 0x00, 0x05,                         // Topic Alias Maximum 5
                      0x24, 0x01,                               // Maximum QoS 1
                      0x25, 0x00,                               // Retain Available 0
                      0x26, 0x00, 0x01, 'x',  0x00, 0x01, 'y',  // User Property
                      0x27, 0x00, 0x01, 0x00, 0x00,             // Maximum Packet Size 65536
                      0x28, 0x01,                               // Wildcard Subscription Available 1
                      0x29, 0x00,  // Subscription Identifier Available 0
                      0x2A, 0x01,  // Shared Subscription Available 1
                  });
}

TEST(GoldenV5, ConnackRefusal) {
    expect_golden(v5, connack{false, 0x87, {}},
                  {
                      0x20, 0x03,  // CONNACK, Remaining Length 3
                      0x00,        // no Session Present
                      0x87,        // Reason Code: Not authorized
                      0x00,        // Property Length 0
                  });
}

TEST(GoldenV5, PublishWithProperties) {
    publish p;
    p.qos_level = qos::at_least_once;
    p.topic = "a/b"s;
    p.packet_id = 1;
    p.props.payload_format_indicator = 1;
    p.props.message_expiry_interval = 60;
    p.props.content_type = "j"s;
    p.props.response_topic = "r/t"s;
    p.props.correlation_data = "\x01\x02"s;
    p.props.subscription_identifiers = {1, 300};
    p.props.topic_alias = 3;
    p.props.user_properties = {{"k", "v"}};
    p.payload = "{}"s;
    expect_golden(v5, p,
                  {
                      0x32,                               // PUBLISH QoS 1
                      0x2F,                               // Remaining Length 47
                      0x00, 0x03, 'a',  '/',  'b',        // Topic Name
                      0x00, 0x01,                         // Packet Identifier 1
                      0x25,                               // Property Length 37
                      0x01, 0x01,                         // Payload Format Indicator 1 (UTF-8)
                      0x02, 0x00, 0x00, 0x00, 0x3C,       // Message Expiry Interval 60
                      0x03, 0x00, 0x01, 'j',              // Content Type
                      0x08, 0x00, 0x03, 'r',  '/',  't',  // Response Topic
                      0x09, 0x00, 0x02, 0x01, 0x02,       // Correlation Data
                      0x0B, 0x01,                         // Subscription Identifier 1
                      0x0B, 0xAC, 0x02,                   // Subscription Identifier 300
                      0x23, 0x00, 0x03,                   // Topic Alias 3
                      0x26, 0x00, 0x01, 'k',  0x00, 0x01, 'v',  // User Property
                      '{',  '}',                                // payload
                  });
}

TEST(GoldenV5, PublishTopicAliasOnly) {
    // 5.0 section 3.3.2.3.4: an empty Topic Name with a Topic Alias.
    publish p;
    p.topic = ""s;
    p.props.topic_alias = 7;
    p.payload = "x"s;
    expect_golden(v5, p,
                  {
                      0x30, 0x07,        // PUBLISH QoS 0, Remaining Length 7
                      0x00, 0x00,        // empty Topic Name
                      0x03,              // Property Length 3
                      0x23, 0x00, 0x07,  // Topic Alias 7
                      'x',               // payload
                  });
}

TEST(GoldenV5, PublishViewEncodesTheSameBytes) {
    properties props;
    props.message_expiry_interval = 9;
    const publish_view view{false, qos::exactly_once, true, "t", 5, &props, "pl"};
    const bytes expected{
        0x35, 0x0D,                    // PUBLISH QoS 2, RETAIN, Remaining Length 13
        0x00, 0x01, 't',               // Topic Name
        0x00, 0x05,                    // Packet Identifier 5
        0x05,                          // Property Length 5
        0x02, 0x00, 0x00, 0x00, 0x09,  // Message Expiry Interval 9
        'p',  'l',                     // payload
    };
    bytes out{0xEE};  // encode appends
    encode(v5, view, out);
    EXPECT_EQ(out, test::cat(bytes{0xEE}, expected));
    EXPECT_EQ(encoded_size(v5, view), expected.size());

    const publish_view no_props{false, qos::at_most_once, false, "t", 0, nullptr, "x"};
    out.clear();
    encode(v5, no_props, out);
    EXPECT_EQ(out, (bytes{0x30, 0x05, 0x00, 0x01, 't', 0x00, 'x'}));  // Property Length 0
    EXPECT_EQ(encoded_size(v5, no_props), 7u);
    out.clear();
    encode(version::v3_1_1, no_props, out);
    EXPECT_EQ(out, (bytes{0x30, 0x04, 0x00, 0x01, 't', 'x'}));
    EXPECT_EQ(encoded_size(version::v3_1_1, no_props), 6u);
}

TEST(GoldenV5, PubackForms) {
    // Success without properties: reason and properties omitted (5.0 section 3.4.2.1).
    expect_golden(v5, puback{1, reason_code::success, {}}, {0x40, 0x02, 0x00, 0x01});
    // A reason without properties: the Property Length is omitted.
    expect_golden(v5, puback{1, reason_code::no_matching_subscribers, {}},
                  {
                      0x40, 0x03,  // PUBACK, Remaining Length 3
                      0x00, 0x01,  // Packet Identifier 1
                      0x10,        // Reason Code: No matching subscribers
                  });
    puback a{1, reason_code::no_matching_subscribers, {}};
    a.props.reason_string = "no"s;
    a.props.user_properties = {{"a", "b"}};
    expect_golden(v5, a,
                  {
                      0x40, 0x10,                              // PUBACK, Remaining Length 16
                      0x00, 0x01,                              // Packet Identifier 1
                      0x10,                                    // Reason Code
                      0x0C,                                    // Property Length 12
                      0x1F, 0x00, 0x02, 'n', 'o',              // Reason String
                      0x26, 0x00, 0x01, 'a', 0x00, 0x01, 'b',  // User Property
                  });
}

TEST(GoldenV5, PubrecPubrelPubcomp) {
    expect_golden(v5, pubrec{2, reason_code::unspecified_error, {}},
                  {0x50, 0x03, 0x00, 0x02, 0x80});  // PUBREC, id 2, Unspecified error
    pubrel rel{3, reason_code::packet_identifier_not_found, {}};
    rel.props.reason_string = "?"s;
    expect_golden(v5, rel,
                  {
                      0x62, 0x08,             // PUBREL flags 0010, Remaining Length 8
                      0x00, 0x03,             // Packet Identifier 3
                      0x92,                   // Reason Code: Packet Identifier not found
                      0x04,                   // Property Length 4
                      0x1F, 0x00, 0x01, '?',  // Reason String
                  });
    expect_golden(v5, pubcomp{4, reason_code::success, {}}, {0x70, 0x02, 0x00, 0x04});
}

TEST(GoldenV5, AcksDecodeEveryAllowedLength) {
    // Remaining Length 2, 3 and 4 forms of the same Success PUBACK decode alike.
    for (const bytes& wire : {bytes{0x40, 0x02, 0x00, 0x01}, bytes{0x40, 0x03, 0x00, 0x01, 0x00},
                              bytes{0x40, 0x04, 0x00, 0x01, 0x00, 0x00}}) {
        const auto d = test::decode_bytes(v5, wire);
        ASSERT_TRUE(d.result) << d.result.detail;
        EXPECT_TRUE((d.p == packet{puback{1, reason_code::success, {}}}));
    }
}

TEST(GoldenV5, Subscribe) {
    subscribe s;
    s.packet_id = 10;
    s.props.subscription_identifiers = {42};
    s.props.user_properties = {{"u", "v"}};
    s.topics = {{"a/#", {qos::exactly_once, true, true, 2}},
                {"$share/g/x", {qos::at_least_once, false, true, 1}}};
    expect_golden(v5, s,
                  {
                      0x82, 0x1F,                              // SUBSCRIBE, Remaining Length 31
                      0x00, 0x0A,                              // Packet Identifier 10
                      0x09,                                    // Property Length 9
                      0x0B, 0x2A,                              // Subscription Identifier 42
                      0x26, 0x00, 0x01, 'u', 0x00, 0x01, 'v',  // User Property
                      0x00, 0x03, 'a',  '/', '#',              // Topic Filter
                      0x2E,  // Retain Handling 2, Retain As Published, No Local, QoS 2
                      0x00, 0x0A, '$',  's', 'h',  'a',  'r', 'e', '/', 'g', '/', 'x',  // Filter
                      0x19,  // Retain Handling 1, Retain As Published, QoS 1
                  });
}

TEST(GoldenV5, Suback) {
    suback s;
    s.packet_id = 10;
    s.props.reason_string = "r"s;
    s.codes = {0x00, 0x01, 0x02, 0x80, 0x8F, 0xA2};
    expect_golden(v5, s,
                  {
                      0x90, 0x0D,             // SUBACK, Remaining Length 13
                      0x00, 0x0A,             // Packet Identifier 10
                      0x04,                   // Property Length 4
                      0x1F, 0x00, 0x01, 'r',  // Reason String
                      0x00, 0x01, 0x02,       // Granted QoS 0, 1, 2
                      0x80, 0x8F, 0xA2,  // Unspecified, Filter invalid, Wildcards not supported
                  });
}

TEST(GoldenV5, Unsubscribe) {
    unsubscribe u;
    u.packet_id = 11;
    u.props.user_properties = {{"k", "v"}};
    u.filters = {"a/b"};
    expect_golden(v5, u,
                  {
                      0xA2, 0x0F,                              // UNSUBSCRIBE, Remaining Length 15
                      0x00, 0x0B,                              // Packet Identifier 11
                      0x07,                                    // Property Length 7
                      0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v',  // User Property
                      0x00, 0x03, 'a', '/', 'b',               // Topic Filter
                  });
}

TEST(GoldenV5, Unsuback) {
    unsuback u;
    u.packet_id = 11;
    u.props.reason_string = "x"s;
    u.codes = {reason_code::success, reason_code::no_subscription_existed,
               reason_code::not_authorized};
    expect_golden(v5, u,
                  {
                      0xB0, 0x0A,             // UNSUBACK, Remaining Length 10
                      0x00, 0x0B,             // Packet Identifier 11
                      0x04,                   // Property Length 4
                      0x1F, 0x00, 0x01, 'x',  // Reason String
                      0x00, 0x11, 0x87,       // Success, No subscription existed, Not authorized
                  });
}

TEST(GoldenV5, PingreqPingresp) {
    expect_golden(v5, pingreq{}, {0xC0, 0x00});
    expect_golden(v5, pingresp{}, {0xD0, 0x00});
}

TEST(GoldenV5, DisconnectForms) {
    // Normal disconnection without properties: Remaining Length 0 (5.0 section 3.14.2.1).
    expect_golden(v5, disconnect{}, {0xE0, 0x00});
    // A reason without properties: the Property Length is omitted.
    expect_golden(v5, disconnect{reason_code::disconnect_with_will_message, {}},
                  {0xE0, 0x01, 0x04});
    disconnect d{reason_code::disconnect_with_will_message, {}};
    d.props.session_expiry_interval = 0;
    d.props.server_reference = "s"s;
    d.props.reason_string = "bye"s;
    d.props.user_properties = {{"k", "v"}};
    expect_golden(v5, d,
                  {
                      0xE0, 0x18,                               // DISCONNECT, Remaining Length 24
                      0x04,                                     // Disconnect with Will Message
                      0x16,                                     // Property Length 22
                      0x11, 0x00, 0x00, 0x00, 0x00,             // Session Expiry Interval 0
                      0x1C, 0x00, 0x01, 's',                    // Server Reference
                      0x1F, 0x00, 0x03, 'b',  'y',  'e',        // Reason String
                      0x26, 0x00, 0x01, 'k',  0x00, 0x01, 'v',  // User Property
                  });
    // Remaining Length 2 with an empty property list decodes as the short form.
    const auto dd = test::decode_bytes(v5, bytes{0xE0, 0x02, 0x00, 0x00});
    ASSERT_TRUE(dd.result);
    EXPECT_TRUE(dd.p == packet{disconnect{}});
}

TEST(GoldenV5, Auth) {
    expect_golden(v5, auth{}, {0xF0, 0x00});  // Success, everything omitted
    auth a{reason_code::continue_authentication, {}};
    a.props.authentication_method = "SCRAM"s;
    a.props.authentication_data = "\x00\x01"s;
    a.props.reason_string = "go"s;
    a.props.user_properties = {{"a", "b"}};
    expect_golden(v5, a,
                  {
                      0xF0, 0x1B,                                    // AUTH, Remaining Length 27
                      0x18,                                          // Continue authentication
                      0x19,                                          // Property Length 25
                      0x15, 0x00, 0x05, 'S',  'C',  'R',  'A', 'M',  // Authentication Method
                      0x16, 0x00, 0x02, 0x00, 0x01,                  // Authentication Data
                      0x1F, 0x00, 0x02, 'g',  'o',                   // Reason String
                      0x26, 0x00, 0x01, 'a',  0x00, 0x01, 'b',       // User Property
                  });
}

}  // namespace
}  // namespace rmqtt::protocol
