#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "rmqtt/protocol/codec.hpp"

// Helpers shared by the protocol unit tests.
namespace rmqtt::protocol::test {

using bytes = std::vector<std::uint8_t>;

// Concatenates byte lists and strings: cat({0x10, 0x02}, "MQTT", ...).
inline void append(bytes& out, std::initializer_list<std::uint8_t> b) {
    out.insert(out.end(), b.begin(), b.end());
}
inline void append(bytes& out, std::string_view s) {
    out.insert(out.end(), s.begin(), s.end());
}
inline void append(bytes& out, const bytes& b) {
    out.insert(out.end(), b.begin(), b.end());
}

template <typename... Parts>
bytes cat(const Parts&... parts) {
    bytes out;
    (append(out, parts), ...);
    return out;
}

// A two-byte length prefix then the bytes.
inline bytes str(std::string_view s) {
    // Sized up front: GCC 12 reports a false -Warray-bounds for insert() into a 2-byte vector.
    bytes out(2 + s.size());
    out[0] = static_cast<std::uint8_t>(s.size() >> 8);
    out[1] = static_cast<std::uint8_t>(s.size());
    std::copy(s.begin(), s.end(), out.begin() + 2);
    return out;
}

// Wraps a body in a fixed header with the right Remaining Length.
inline bytes packet_bytes(std::uint8_t header, const bytes& body) {
    bytes out{header};
    encode_varint(static_cast<std::uint32_t>(body.size()), out);
    append(out, body);
    return out;
}

struct decoded {
    decode_result result;
    packet p;
};

// Frames `wire` (which must hold exactly one complete packet) and decodes it.
inline decoded decode_bytes(version v, const bytes& wire) {
    decoded d;
    frame f;
    const frame_result fr = parse_frame(wire, 0, f);
    EXPECT_EQ(fr.status, frame_status::complete);
    EXPECT_EQ(fr.consumed, wire.size());
    if (fr.status != frame_status::complete) {
        d.result.code = reason_code::unspecified_error;
        return d;
    }
    d.result = decode(v, f, d.p);
    return d;
}

inline reason_code decode_code(version v, const bytes& wire) {
    return decode_bytes(v, wire).result.code;
}

inline bytes encode_bytes(version v, const packet& p) {
    bytes out;
    encode(v, p, out);
    EXPECT_EQ(out.size(), encoded_size(v, p));
    return out;
}

// Encodes, checks the bytes, decodes them back and checks the packet is unchanged.
inline void expect_golden(version v, const packet& p, const bytes& wire) {
    EXPECT_EQ(encode_bytes(v, p), wire);
    const decoded d = decode_bytes(v, wire);
    EXPECT_TRUE(d.result) << d.result.detail;
    EXPECT_TRUE(d.p == p);
}

}  // namespace rmqtt::protocol::test
