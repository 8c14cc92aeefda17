// Splitting a byte stream into MQTT control packets (the fixed header, 5.0 section 2.1.1).
#include "rmqtt/protocol/codec.hpp"

namespace rmqtt::protocol {

frame_result parse_frame(std::span<const std::uint8_t> input, std::uint32_t max_packet_size,
                         frame& out) noexcept {
    frame_result r;
    if (input.empty()) return r;  // need_more, size unknown

    std::uint32_t remaining = 0;
    const int n = decode_varint(input.subspan(1), remaining);
    if (n < 0) {
        r.status = frame_status::malformed;  // [MQTT-1.5.5-1]
        return r;
    }
    if (n == 0) return r;  // the Remaining Length is not complete yet

    const std::size_t total = 1 + static_cast<std::size_t>(n) + remaining;
    // Decided from the fixed header alone, so an oversized packet is never buffered.
    if (max_packet_size != 0 && total > max_packet_size) {
        r.status = frame_status::too_large;
        r.needed = total;
        return r;
    }
    if (input.size() < total) {
        r.needed = total;
        return r;
    }
    out.header = input[0];
    out.body = input.subspan(1 + static_cast<std::size_t>(n), remaining);
    out.size = total;
    r.status = frame_status::complete;
    r.consumed = total;
    return r;
}

}  // namespace rmqtt::protocol
