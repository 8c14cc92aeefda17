// UTF-8 validation as MQTT requires it (5.0 section 1.5.4, 3.1.1 section 1.5.3).
#include "rmqtt/protocol/utf8.hpp"

#include <cstdint>
#include <cstring>

namespace rmqtt::protocol {

namespace {

constexpr std::uint64_t high_bits = 0x8080808080808080ULL;
constexpr std::uint64_t low_bits = 0x0101010101010101ULL;

bool is_continuation(unsigned char b) noexcept {
    return (b & 0xC0) == 0x80;
}

}  // namespace

bool is_valid_utf8(std::string_view s) noexcept {
    auto p = reinterpret_cast<const unsigned char*>(s.data());
    const auto end = p + s.size();
    while (p < end) {
        // Topics, client ids and most payloads are ASCII: check eight bytes at a time for a high
        // bit (not ASCII) or a zero byte (U+0000 [MQTT-1.5.4-2]).
        while (end - p >= 8) {
            std::uint64_t w;
            std::memcpy(&w, p, sizeof w);
            if ((w & high_bits) != 0) break;
            if (((w - low_bits) & ~w & high_bits) != 0) return false;  // a zero byte
            p += 8;
        }
        if (p == end) break;
        const unsigned char c = *p;
        if (c < 0x80) {
            if (c == 0) return false;  // U+0000 [MQTT-1.5.4-2] [MQTT-1.5.3-2]
            ++p;
            continue;
        }
        const auto left = end - p;
        if (c < 0xC2) return false;  // stray continuation byte, or overlong 2-byte form
        if (c < 0xE0) {
            if (left < 2 || !is_continuation(p[1])) return false;
            p += 2;
        } else if (c < 0xF0) {
            if (left < 3 || !is_continuation(p[1]) || !is_continuation(p[2])) return false;
            if (c == 0xE0 && p[1] < 0xA0) return false;   // overlong 3-byte form
            if (c == 0xED && p[1] >= 0xA0) return false;  // U+D800..U+DFFF [MQTT-1.5.4-1]
            p += 3;
        } else if (c < 0xF5) {
            if (left < 4 || !is_continuation(p[1]) || !is_continuation(p[2]) ||
                !is_continuation(p[3]))
                return false;
            if (c == 0xF0 && p[1] < 0x90) return false;   // overlong 4-byte form
            if (c == 0xF4 && p[1] >= 0x90) return false;  // above U+10FFFF
            p += 4;
        } else {
            return false;  // 0xF5..0xFF never appear in UTF-8
        }
    }
    return true;
}

}  // namespace rmqtt::protocol
