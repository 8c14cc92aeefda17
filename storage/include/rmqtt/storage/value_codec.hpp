#pragma once

#include <string>
#include <string_view>

#include "rmqtt/storage/records.hpp"
#include "rmqtt/storage/status.hpp"

// The byte encoding of stored values, shared by the engines. Every value starts with a one-byte
// schema version followed by fixed-width little-endian integers and length-prefixed strings.
// Values are written in value_schema_version; every version from min_value_schema_version on is
// read (fields a version lacks get their defaults). Decoding never trusts a length: truncated,
// oversized or unknown-version input gives status::code::corruption with a description, never a
// crash (fuzzed in tests/fuzz/value_codec_fuzz.cpp).
namespace rmqtt::storage {

// 1: the first layout. 2: session_record gains first_generation and generation.
// 3: a queue entry that references a shared message record (queue_entry::message_id != 0) holds
// the message id instead of the message. Only such entries are written in version 3 (everything
// else is written in version 2), so a store without shared messages stays readable by builds
// that read up to version 2, and one with them is refused by those builds as a newer version.
inline constexpr std::uint8_t value_schema_version = 2;
inline constexpr std::uint8_t shared_message_schema_version = 3;
inline constexpr std::uint8_t min_value_schema_version = 1;
inline constexpr std::uint8_t max_value_schema_version = 3;

std::string encode_value(const session_record& r);
std::string encode_value(const subscription_record& r);
std::string encode_value(const queue_entry& e);
std::string encode_value(const message_record& m);

status decode_value(std::string_view bytes, session_record& out);
status decode_value(std::string_view bytes, subscription_record& out);
status decode_value(std::string_view bytes, queue_entry& out);
status decode_value(std::string_view bytes, message_record& out);

}  // namespace rmqtt::storage
