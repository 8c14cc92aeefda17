// Variable Byte Integer (5.0 section 1.5.5, 3.1.1 section 2.2.3).
#include "rmqtt/protocol/codec.hpp"
#include "wire.hpp"

namespace rmqtt::protocol {

std::size_t varint_size(std::uint32_t value) noexcept {
    return detail::varint_len(value);
}

std::size_t encode_varint(std::uint32_t value, std::vector<std::uint8_t>& out) {
    const std::size_t n = detail::varint_len(value);
    const std::size_t at = out.size();
    out.resize(at + n);
    detail::writer w(out.data() + at);
    w.varint(value);
    return n;
}

int decode_varint(std::span<const std::uint8_t> in, std::uint32_t& value) noexcept {
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 4; ++i) {
        if (i >= in.size()) return 0;
        const std::uint8_t b = in[i];
        v |= static_cast<std::uint32_t>(b & 0x7F) << (7 * i);
        if ((b & 0x80) == 0) {
            // A multi-byte encoding whose last byte is 0 has a shorter form [MQTT-1.5.5-1].
            if (i > 0 && b == 0) return -1;
            value = v;
            return static_cast<int>(i + 1);
        }
    }
    return -1;  // the fourth byte has its continuation bit set: at most 4 bytes [MQTT-1.5.5-1]
}

}  // namespace rmqtt::protocol
