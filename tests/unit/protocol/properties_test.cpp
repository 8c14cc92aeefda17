// 5.0 properties: the per-packet table of section 2.2.2.2, encoding, sizes, and a round trip of
// every property in every packet that allows it.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "codec_test_util.hpp"
#include "rmqtt/protocol/properties.hpp"

namespace rmqtt::protocol {
namespace {

using namespace std::string_literals;
using test::bytes;
using test::cat;
using test::str;
using pt = packet_type;

// A valid encoded value for each property identifier.
const std::map<std::uint8_t, bytes>& sample_values() {
    static const std::map<std::uint8_t, bytes> values = {
        {0x01, {0x01}},
        {0x02, {0, 0, 0, 9}},
        {0x03, str("text/plain")},
        {0x08, str("resp/topic")},
        {0x09, str("\x01\x02")},
        {0x0B, {0x07}},
        {0x11, {0, 0, 0x0E, 0x10}},
        {0x12, str("assigned")},
        {0x13, {0, 30}},
        {0x15, str("SCRAM")},
        {0x16, str("\x00\xFF"s)},
        {0x17, {0x01}},
        {0x18, {0, 0, 0, 5}},
        {0x19, {0x01}},
        {0x1A, str("info")},
        {0x1C, str("srv:1883")},
        {0x1F, str("because")},
        {0x21, {0, 10}},
        {0x22, {0, 10}},
        {0x23, {0, 1}},
        {0x24, {0x01}},
        {0x25, {0x00}},
        {0x26, cat(str("k"), str("v"))},
        {0x27, {0, 1, 0, 0}},
        {0x28, {0x01}},
        {0x29, {0x01}},
        {0x2A, {0x00}},
    };
    return values;
}

// 5.0 section 2.2.2.2, written out independently of the decoder's table. 0 stands for the will.
const std::map<std::uint8_t, std::vector<int>>& spec_table() {
    constexpr int will = 0;
    const auto t = [](pt x) { return static_cast<int>(x); };
    static const std::map<std::uint8_t, std::vector<int>> table = {
        {0x01, {t(pt::publish), will}},
        {0x02, {t(pt::publish), will}},
        {0x03, {t(pt::publish), will}},
        {0x08, {t(pt::publish), will}},
        {0x09, {t(pt::publish), will}},
        {0x0B, {t(pt::publish), t(pt::subscribe)}},
        {0x11, {t(pt::connect), t(pt::connack), t(pt::disconnect)}},
        {0x12, {t(pt::connack)}},
        {0x13, {t(pt::connack)}},
        {0x15, {t(pt::connect), t(pt::connack), t(pt::auth)}},
        {0x16, {t(pt::connect), t(pt::connack), t(pt::auth)}},
        {0x17, {t(pt::connect)}},
        {0x18, {will}},
        {0x19, {t(pt::connect)}},
        {0x1A, {t(pt::connack)}},
        {0x1C, {t(pt::connack), t(pt::disconnect)}},
        {0x1F,
         {t(pt::connack), t(pt::puback), t(pt::pubrec), t(pt::pubrel), t(pt::pubcomp),
          t(pt::suback), t(pt::unsuback), t(pt::disconnect), t(pt::auth)}},
        {0x21, {t(pt::connect), t(pt::connack)}},
        {0x22, {t(pt::connect), t(pt::connack)}},
        {0x23, {t(pt::publish)}},
        {0x24, {t(pt::connack)}},
        {0x25, {t(pt::connack)}},
        {0x26,
         {t(pt::connect), t(pt::connack), t(pt::publish), t(pt::puback), t(pt::pubrec),
          t(pt::pubrel), t(pt::pubcomp), t(pt::subscribe), t(pt::suback), t(pt::unsubscribe),
          t(pt::unsuback), t(pt::disconnect), t(pt::auth), will}},
        {0x27, {t(pt::connect), t(pt::connack)}},
        {0x28, {t(pt::connack)}},
        {0x29, {t(pt::connack)}},
        {0x2A, {t(pt::connack)}},
    };
    return table;
}

bytes with_length(const bytes& inner) {
    bytes out;
    encode_varint(static_cast<std::uint32_t>(inner.size()), out);
    return cat(out, inner);
}

TEST(Properties, AllowedTablePerPacket_Section_2_2_2_2) {
    const auto& values = sample_values();
    for (const auto& [id, where] : spec_table()) {
        for (int target = 0; target <= 15; ++target) {
            bytes inner{id};
            const bytes& value = values.at(id);
            inner.insert(inner.end(), value.begin(), value.end());
            if (id == 0x16) inner = cat(bytes{0x15}, values.at(0x15), inner);  // data needs method
            const bytes in = with_length(inner);
            properties out;
            std::size_t consumed = 0;
            const bool for_will = target == 0;
            const auto t = static_cast<pt>(for_will ? 1 : target);
            const decode_result r = decode_properties(in, t, for_will, out, consumed);
            // (Authentication Method, prepended to Authentication Data, has the same table.)
            const bool allowed = std::find(where.begin(), where.end(), target) != where.end();
            if (allowed) {
                EXPECT_TRUE(r) << "property 0x" << std::hex << int(id) << " in " << std::dec
                               << target << ": " << r.detail;
                EXPECT_EQ(consumed, in.size());
                EXPECT_FALSE(out.empty());
            } else {
                // A property the packet does not define: Malformed Packet (5.0 section 2.2.2.2).
                EXPECT_EQ(r.code, reason_code::malformed_packet)
                    << "property 0x" << std::hex << int(id) << " in " << std::dec << target;
            }
        }
    }
}

TEST(Properties, EveryDefinedIdentifierIsKnownAndOthersAreMalformed) {
    const auto& table = spec_table();
    for (int id = 0; id < 256; ++id) {
        if (table.count(static_cast<std::uint8_t>(id))) continue;
        const bytes in = with_length({static_cast<std::uint8_t>(id), 0x00, 0x00, 0x00, 0x00});
        properties out;
        std::size_t consumed = 0;
        EXPECT_EQ(decode_properties(in, pt::publish, false, out, consumed).code,
                  reason_code::malformed_packet)
            << id;
    }
}

// A properties value holding every property `t` (or the will) allows, repeatable ones twice.
properties all_allowed(int target) {
    properties p;
    const auto& where = spec_table();
    const auto has = [&](std::uint8_t id) {
        const auto& w = where.at(id);
        return std::find(w.begin(), w.end(), target) != w.end();
    };
    if (has(0x01)) p.payload_format_indicator = 1;
    if (has(0x02)) p.message_expiry_interval = 0xFFFFFFFF;
    if (has(0x03)) p.content_type = "application/json"s;
    if (has(0x08)) p.response_topic = "reply/\xC3\xA9"s;
    if (has(0x09)) p.correlation_data = "\x00\x01\xFF"s;
    if (has(0x0B)) {
        p.subscription_identifiers = {268435455};
        if (target == static_cast<int>(pt::publish)) p.subscription_identifiers.push_back(1);
    }
    if (has(0x11)) p.session_expiry_interval = 0xFFFFFFFF;
    if (has(0x12)) p.assigned_client_identifier = "auto-1"s;
    if (has(0x13)) p.server_keep_alive = 0xFFFF;
    if (has(0x15)) p.authentication_method = "GS2-KRB5"s;
    if (has(0x16)) p.authentication_data = std::string(300, '\x7F');
    if (has(0x17)) p.request_problem_information = 1;
    if (has(0x18)) p.will_delay_interval = 60;
    if (has(0x19)) p.request_response_information = 0;
    if (has(0x1A)) p.response_information = "front/"s;
    if (has(0x1C)) p.server_reference = "other"s;
    if (has(0x1F)) p.reason_string = "why"s;
    if (has(0x21)) p.receive_maximum = 0xFFFF;
    if (has(0x22)) p.topic_alias_maximum = 0;
    if (has(0x23)) p.topic_alias = 0xFFFF;
    if (has(0x24)) p.maximum_qos = 0;
    if (has(0x25)) p.retain_available = 1;
    if (has(0x26)) p.user_properties = {{"k", "v1"}, {"k", "v2"}, {"", ""}};
    if (has(0x27)) p.maximum_packet_size = 268435460;
    if (has(0x28)) p.wildcard_subscription_available = 0;
    if (has(0x29)) p.subscription_identifier_available = 1;
    if (has(0x2A)) p.shared_subscription_available = 0;
    return p;
}

void expect_roundtrip(const packet& p) {
    const bytes wire = test::encode_bytes(version::v5, p);
    const auto d = test::decode_bytes(version::v5, wire);
    ASSERT_TRUE(d.result) << to_string(type_of(p)) << ": " << d.result.detail;
    EXPECT_TRUE(d.p == p) << to_string(type_of(p));
}

TEST(Properties, RoundTripEveryPropertyInEveryPacket) {
    const auto props_for = [](pt t) { return all_allowed(static_cast<int>(t)); };
    connect c;
    c.protocol_version = version::v5;
    c.client_id = "c"s;
    c.props = props_for(pt::connect);
    will_message w;
    w.topic = "w"s;
    w.payload = "utf8 payload"s;
    w.props = all_allowed(0);
    c.will = w;
    expect_roundtrip(c);

    expect_roundtrip(connack{false, 0, props_for(pt::connack)});
    publish p;
    p.topic = "t"s;
    p.qos_level = qos::at_least_once;
    p.packet_id = 1;
    p.props = props_for(pt::publish);
    p.payload = "{}"s;
    expect_roundtrip(p);
    expect_roundtrip(puback{1, reason_code::quota_exceeded, props_for(pt::puback)});
    expect_roundtrip(pubrec{1, reason_code::payload_format_invalid, props_for(pt::pubrec)});
    expect_roundtrip(pubrel{1, reason_code::success, props_for(pt::pubrel)});
    expect_roundtrip(pubcomp{1, reason_code::packet_identifier_not_found, props_for(pt::pubcomp)});
    subscribe s;
    s.packet_id = 2;
    s.topics = {{"a/+", {qos::exactly_once, true, false, 1}}};
    s.props = props_for(pt::subscribe);
    expect_roundtrip(s);
    expect_roundtrip(suback{2, {0x00, 0x91}, props_for(pt::suback)});
    unsubscribe u;
    u.packet_id = 3;
    u.filters = {"a/+"};
    u.props = props_for(pt::unsubscribe);
    expect_roundtrip(u);
    expect_roundtrip(unsuback{3, {reason_code::success}, props_for(pt::unsuback)});
    expect_roundtrip(disconnect{reason_code::server_moved, props_for(pt::disconnect)});
    expect_roundtrip(auth{reason_code::re_authenticate, props_for(pt::auth)});
}

TEST(Properties, EncodedSizeAndEmpty) {
    properties p;
    EXPECT_TRUE(p.empty());
    EXPECT_EQ(p.encoded_size(), 0u);
    bytes out;
    encode_properties(p, out);
    EXPECT_EQ(out, bytes{0x00});

    p.topic_alias = 3;                        // 1 + 2
    p.user_properties = {{"ab", "c"}};        // 1 + 4 + 3
    p.subscription_identifiers = {1, 16384};  // 1 + 1, 1 + 3
    EXPECT_FALSE(p.empty());
    EXPECT_EQ(p.encoded_size(), 3u + 8u + 2u + 4u);
    out.assign({0xAB});
    encode_properties(p, out);
    EXPECT_EQ(out, (bytes{0xAB, 17,                            // kept prefix, length 17
                          0x0B, 0x01, 0x0B, 0x80, 0x80, 0x01,  // Subscription Identifiers
                          0x23, 0x00, 0x03,                    // Topic Alias
                          0x26, 0x00, 0x02, 'a', 'b', 0x00, 0x01, 'c'}));  // User Property
    properties back;
    std::size_t consumed = 0;
    ASSERT_TRUE(decode_properties(std::span(out).subspan(1), pt::publish, false, back, consumed));
    EXPECT_EQ(consumed, out.size() - 1);
    EXPECT_EQ(back, p);

    // Each single field makes the set non-empty.
    properties q;
    q.shared_subscription_available = 0;
    EXPECT_FALSE(q.empty());
    EXPECT_EQ(q.encoded_size(), 2u);
}

TEST(Properties, ManyUserPropertiesDecodeInOnePass) {
    // hostile-input #23: 50,000 user properties (~300 KB) parse in linear time.
    bytes inner;
    for (int i = 0; i < 50000; ++i)
        test::append(inner, cat(bytes{0x26}, str("k"), str("v")));
    const bytes in = with_length(inner);
    properties out;
    std::size_t consumed = 0;
    ASSERT_TRUE(decode_properties(in, pt::connect, false, out, consumed));
    EXPECT_EQ(out.user_properties.size(), 50000u);
    EXPECT_EQ(consumed, in.size());
}

}  // namespace
}  // namespace rmqtt::protocol
