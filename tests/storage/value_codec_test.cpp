// The stored value encoding (value_codec.hpp): round trips, exact bytes, and hostile input.
#include "rmqtt/storage/value_codec.hpp"

#include <gtest/gtest.h>

#include "store_test_util.hpp"

namespace rmqtt::storage::test {
namespace {

template <class Record>
Record round_trip(const Record& in) {
    const std::string bytes = encode_value(in);
    EXPECT_EQ(static_cast<std::uint8_t>(bytes[0]), value_schema_version);
    Record out;
    const status st = decode_value(bytes, out);
    EXPECT_TRUE(st.is_ok()) << st.to_string();
    return out;
}

TEST(storage_value_codec, session_round_trip) {
    EXPECT_EQ(round_trip(sample_session("c")), sample_session("c"));
    session_record bare;
    bare.client_id = "";
    EXPECT_EQ(round_trip(bare), bare);
    session_record odd = sample_session(all_bytes());
    odd.username = "";
    odd.created_at_ms = std::numeric_limits<std::int64_t>::min();
    odd.disconnected_at_ms = -1;
    odd.expiry_interval_s = never_expires;
    odd.will->message.expiry_at_ms = std::numeric_limits<std::int64_t>::max();
    odd.first_generation = 0xFFFFFFFF;
    odd.generation = 0xFFFFFFFF;
    EXPECT_EQ(round_trip(odd), odd);
    session_record gens = bare;
    gens.first_generation = 1;
    gens.generation = 0x80000000;
    EXPECT_EQ(round_trip(gens), gens);
}

// A version 1 session record (before the generation fields): the exact old bytes decode, with
// both generations 0; written again, the same record gains the version 2 fields.
TEST(storage_value_codec, version_1_session_decodes_with_generations_zero) {
    const std::string v1 = {
        '\x01',                                                          // schema version 1
        '\x01', '\x00', '\x00', '\x00', 'c',                             // client_id "c"
        '\x05',                                                          // protocol_version
        '\x00',                                                          // no username
        '\x00', '\x00', '\x00', '\x00',                                  // listener: empty
        '\x00', '\x00', '\x00', '\x00',                                  // peer_address: empty
        '\x10', '\x0e', '\x00', '\x00',                                  // expiry_interval_s 3600
        '\x01', '\x00', '\x00', '\x00', '\x00', '\x00', '\x00', '\x00',  // created_at_ms 1
        '\x02', '\x00', '\x00', '\x00', '\x00', '\x00', '\x00', '\x00',  // connected_at_ms 2
        '\x00', '\x00', '\x00', '\x00', '\x00', '\x00', '\x00', '\x00',  // disconnected_at_ms 0
        '\x01',                                                          // clean_disconnect
        '\x00',                                                          // no will
        '\xff', '\xff',                                                  // receive_maximum
        '\x00', '\x00', '\x00', '\x00',                                  // maximum_packet_size
        '\x00', '\x00',                                                  // topic_alias_maximum
        '\x01',                                                          // request_problem_info
    };
    session_record expected;
    expected.client_id = "c";
    expected.protocol_version = 5;
    expected.expiry_interval_s = 3600;
    expected.created_at_ms = 1;
    expected.connected_at_ms = 2;
    expected.clean_disconnect = true;
    session_record out;
    out.first_generation = 5;  // overwritten, like every other field
    out.generation = 6;
    const status st = decode_value(v1, out);
    ASSERT_TRUE(st.is_ok()) << st.to_string();
    EXPECT_EQ(out, expected);
    EXPECT_EQ(out.first_generation, 0u);
    EXPECT_EQ(out.generation, 0u);

    // Version 2: the same fields, then first_generation and generation (u32 LE each).
    expected.first_generation = 0x01020304;
    expected.generation = 0x0A0B0C0D;
    std::string v2 = v1;
    v2[0] = '\x02';
    v2 += std::string{'\x04', '\x03', '\x02', '\x01', '\x0d', '\x0c', '\x0b', '\x0a'};
    EXPECT_EQ(encode_value(expected), v2);
    // A version 1 value with the new fields appended is not a version 1 value.
    std::string v1_with_tail = v2;
    v1_with_tail[0] = '\x01';
    EXPECT_EQ(decode_value(v1_with_tail, out).error_code(), status::code::corruption);
}

// Version 1 of the other records has the version 2 layout: they decode unchanged.
TEST(storage_value_codec, version_1_values_of_other_records_decode) {
    auto as_v1 = [](std::string bytes) {
        bytes[0] = '\x01';
        return bytes;
    };
    subscription_record sub;
    ASSERT_TRUE(decode_value(as_v1(encode_value(sample_subscription("f"))), sub).is_ok());
    EXPECT_EQ(sub, sample_subscription("f"));
    queue_entry e;
    ASSERT_TRUE(decode_value(as_v1(encode_value(sample_entry(3))), e).is_ok());
    EXPECT_EQ(e, sample_entry(3));
    message_record m;
    ASSERT_TRUE(decode_value(as_v1(encode_value(sample_message("t", "p"))), m).is_ok());
    EXPECT_EQ(m, sample_message("t", "p"));
    // A full version 1 session: the version 2 encoding without its last 8 bytes.
    session_record with_gens = sample_session("c");
    std::string v1 = as_v1(encode_value(with_gens));
    v1.resize(v1.size() - 8);
    session_record s;
    ASSERT_TRUE(decode_value(v1, s).is_ok());
    with_gens.first_generation = 0;
    with_gens.generation = 0;
    EXPECT_EQ(s, with_gens);
}

TEST(storage_value_codec, decode_overwrites_previous_content) {
    session_record target = sample_session("old");
    session_record none;
    none.client_id = "new";
    ASSERT_TRUE(decode_value(encode_value(none), target).is_ok());
    EXPECT_EQ(target, none);
    queue_entry e = sample_entry(1);
    queue_entry no_ids = sample_entry(2);
    no_ids.subscription_ids.clear();
    ASSERT_TRUE(decode_value(encode_value(no_ids), e).is_ok());
    EXPECT_EQ(e, no_ids);
}

TEST(storage_value_codec, subscription_round_trip) {
    EXPECT_EQ(round_trip(sample_subscription("$share/g/a/#", 2)),
              sample_subscription("$share/g/a/#", 2));
    subscription_record zero;
    EXPECT_EQ(round_trip(zero), zero);
}

TEST(storage_value_codec, queue_entry_round_trip) {
    queue_entry e = sample_entry(~0ull, all_bytes());
    e.state = queue_state::pubrec_received;
    e.packet_id = 65535;
    EXPECT_EQ(round_trip(e), e);
    queue_entry empty;
    EXPECT_EQ(round_trip(empty), empty);
}

TEST(storage_value_codec, message_round_trip) {
    message_record m = sample_message(std::string("a\0b", 3), std::string(100'000, '\x80'));
    m.retain = true;
    m.qos = 2;
    EXPECT_EQ(round_trip(m), m);
}

// The exact layout: version, then little-endian fixed-width fields, length-prefixed strings.
TEST(storage_value_codec, subscription_golden_bytes) {
    subscription_record r;
    r.filter = "a/+";
    r.qos = 1;
    r.no_local = true;
    r.retain_as_published = false;
    r.retain_handling = 2;
    r.subscription_id = 0x01020304;
    const std::string expected = {
        '\x02',                                         // schema version
        '\x03', '\x00', '\x00', '\x00', 'a', '/', '+',  // filter: u32 LE length + bytes
        '\x01',                                         // qos
        '\x01',                                         // no_local
        '\x00',                                         // retain_as_published
        '\x02',                                         // retain_handling
        '\x04', '\x03', '\x02', '\x01',                 // subscription_id u32 LE
    };
    EXPECT_EQ(encode_value(r), expected);
}

TEST(storage_value_codec, message_golden_bytes) {
    message_record m;
    m.topic = "t";
    m.payload = "p";
    m.qos = 2;
    m.retain = true;
    m.created_at_ms = 0x0102;
    m.expiry_at_ms = -1;
    const std::string expected = {
        '\x02',                                                          // schema version
        '\x01', '\x00', '\x00', '\x00', 't',                             // topic
        '\x01', '\x00', '\x00', '\x00', 'p',                             // payload
        '\x02', '\x01',                                                  // qos, retain
        '\x00', '\x00', '\x00', '\x00',                                  // properties: empty
        '\x00', '\x00', '\x00', '\x00',                                  // publisher: empty
        '\x02', '\x01', '\x00', '\x00', '\x00', '\x00', '\x00', '\x00',  // created_at_ms i64 LE
        '\xff', '\xff', '\xff', '\xff', '\xff', '\xff', '\xff', '\xff',  // expiry_at_ms = -1
    };
    EXPECT_EQ(encode_value(m), expected);
}

// Every proper prefix of a valid value is refused with a description.
template <class Record>
void expect_every_truncation_refused(const Record& r) {
    const std::string bytes = encode_value(r);
    for (std::size_t n = 0; n < bytes.size(); ++n) {
        Record out;
        const status st = decode_value(std::string_view(bytes).substr(0, n), out);
        ASSERT_EQ(st.error_code(), status::code::corruption) << "prefix of " << n << " bytes";
        EXPECT_FALSE(st.message().empty());
    }
}

TEST(storage_value_codec, truncated_values_are_corruption) {
    expect_every_truncation_refused(sample_session("client"));
    expect_every_truncation_refused(sample_subscription("f"));
    expect_every_truncation_refused(sample_entry(3));
    expect_every_truncation_refused(sample_message("t", "p"));
}

TEST(storage_value_codec, trailing_bytes_are_corruption) {
    std::string bytes = encode_value(sample_subscription("f"));
    bytes.push_back('\0');
    subscription_record out;
    const status st = decode_value(bytes, out);
    EXPECT_EQ(st.error_code(), status::code::corruption);
    EXPECT_NE(st.message().find("trailing"), std::string::npos) << st.message();
}

TEST(storage_value_codec, unknown_schema_version_is_corruption) {
    for (int v : {0, 4, 255}) {
        std::string bytes = encode_value(sample_entry(1));
        bytes[0] = static_cast<char>(v);
        queue_entry out;
        const status st = decode_value(bytes, out);
        EXPECT_EQ(st.error_code(), status::code::corruption);
        EXPECT_NE(st.message().find("schema version " + std::to_string(v)), std::string::npos)
            << st.message();
    }
}

TEST(storage_value_codec, oversized_lengths_are_refused_before_allocating) {
    // A topic claiming 4 GiB - 1 bytes in a 9-byte value.
    const std::string huge_string = {'\x01', '\xff', '\xff', '\xff', '\xff', 'a', 'b', 'c', 'd'};
    message_record m;
    status st = decode_value(huge_string, m);
    EXPECT_EQ(st.error_code(), status::code::corruption);
    EXPECT_NE(st.message().find("topic"), std::string::npos) << st.message();
    // A subscription id list claiming 2^32 - 1 elements.
    queue_entry e = sample_entry(1);
    e.subscription_ids.clear();
    std::string bytes = encode_value(e);
    const std::size_t count_at = 1 + 8 + 1 + 2 + 1 + 1;
    for (std::size_t i = 0; i < 4; ++i)
        bytes[count_at + i] = '\xff';
    queue_entry out;
    st = decode_value(bytes, out);
    EXPECT_EQ(st.error_code(), status::code::corruption);
    EXPECT_NE(st.message().find("subscription_ids"), std::string::npos) << st.message();
}

TEST(storage_value_codec, out_of_range_fields_are_corruption) {
    subscription_record r = sample_subscription("f");
    std::string bytes = encode_value(r);
    const std::size_t qos_at = 1 + 4 + 1;
    bytes[qos_at] = 3;  // QoS 3 does not exist
    subscription_record out;
    EXPECT_EQ(decode_value(bytes, out).error_code(), status::code::corruption);
    bytes = encode_value(r);
    bytes[qos_at + 1] = 2;  // a bool that is neither 0 nor 1
    EXPECT_EQ(decode_value(bytes, out).error_code(), status::code::corruption);
    queue_entry e = sample_entry(1);
    bytes = encode_value(e);
    bytes[1 + 8] = 3;  // queue_state 3 does not exist
    queue_entry eo;
    const status st = decode_value(bytes, eo);
    EXPECT_EQ(st.error_code(), status::code::corruption);
    EXPECT_NE(st.message().find("state"), std::string::npos) << st.message();
}

TEST(storage_value_codec, decoding_one_kind_as_another_fails_cleanly) {
    const std::string session = encode_value(sample_session("c"));
    subscription_record sub;
    queue_entry entry;
    message_record msg;
    // They may or may not decode, but must not crash; a full session is not a subscription.
    EXPECT_FALSE(decode_value(session, sub).is_ok());
    (void)decode_value(session, entry);
    (void)decode_value(session, msg);
}

TEST(storage_status, to_string) {
    EXPECT_EQ(status::ok().to_string(), "ok");
    EXPECT_EQ(status::error(status::code::corruption, "bad bytes").to_string(),
              "corruption: bad bytes");
    EXPECT_EQ(status::error(status::code::unavailable, "").to_string(), "unavailable");
    EXPECT_FALSE(status::error(status::code::not_found, "x"));
    EXPECT_TRUE(status::ok());
}

TEST(storage_write_batch, approximate_size_grows_with_content) {
    write_batch a;
    write_batch b;
    a.ops.push_back(put_queue_entry{"c", sample_entry(1, "x")});
    b.ops.push_back(put_queue_entry{"c", sample_entry(1, std::string(10'000, 'x'))});
    EXPECT_GT(a.approximate_size(), 0u);
    EXPECT_GE(b.approximate_size(), a.approximate_size() + 9'999);
    write_batch empty;
    EXPECT_LT(empty.approximate_size(), a.approximate_size());
}

}  // namespace
}  // namespace rmqtt::storage::test

namespace rmqtt::storage::test {
namespace {

TEST(storage_value_codec, entry_referencing_a_shared_message_holds_only_the_id) {
    queue_entry e = sample_entry(9, std::string(1000, 'x'));
    e.message_id = 0x0102030405060708ull;
    const std::string bytes = encode_value(e);
    EXPECT_EQ(static_cast<unsigned char>(bytes[0]), shared_message_schema_version);
    EXPECT_LT(bytes.size(), 64u);  // no payload
    EXPECT_EQ(bytes.substr(bytes.size() - 8), std::string("\x08\x07\x06\x05\x04\x03\x02\x01", 8));
    queue_entry out = sample_entry(1);
    ASSERT_TRUE(decode_value(bytes, out).is_ok());
    queue_entry expected = e;
    expected.message = {};
    EXPECT_EQ(out, expected);

    // An entry holding its message is still written in version 2 and reads with message_id 0.
    const std::string inline_bytes = encode_value(sample_entry(9));
    EXPECT_EQ(static_cast<unsigned char>(inline_bytes[0]), value_schema_version);
    out.message_id = 5;
    ASSERT_TRUE(decode_value(inline_bytes, out).is_ok());
    EXPECT_EQ(out, sample_entry(9));
}

// Version 3 is the queue entry's alone.
TEST(storage_value_codec, only_queue_entries_have_version_3) {
    std::string bytes = encode_value(sample_session("c"));
    bytes[0] = 3;
    session_record out;
    const status st = decode_value(bytes, out);
    EXPECT_EQ(st.error_code(), status::code::corruption);
    EXPECT_NE(st.message().find("schema version 3"), std::string::npos) << st.message();
}

TEST(storage_value_codec, shared_reference_damage_is_corruption) {
    queue_entry e = sample_entry(9);
    e.message_id = 7;
    std::string bytes = encode_value(e);
    queue_entry out;
    EXPECT_EQ(decode_value(bytes.substr(0, bytes.size() - 1), out).error_code(),
              status::code::corruption);
    EXPECT_EQ(decode_value(bytes + "x", out).error_code(), status::code::corruption);
    e.message_id = 0;
    bytes.replace(bytes.size() - 8, 8, std::string(8, '\0'));
    EXPECT_EQ(decode_value(bytes, out).error_code(), status::code::corruption);
}

}  // namespace
}  // namespace rmqtt::storage::test
