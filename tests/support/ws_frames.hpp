#pragma once

// RFC 6455 frames as a client writes them and as a server's frames are read back: the bytes the
// WebSocket tests, the framer's unit tests and its fuzz target build by hand. Header-only, std
// only (the fuzz targets include it without the test support library).

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace rmqtt::test::ws {

enum opcode : std::uint8_t {
    continuation = 0x0,
    text = 0x1,
    binary = 0x2,
    close = 0x8,
    ping = 0x9,
    pong = 0xA,
};

struct frame_options {
    bool fin = true;
    bool masked = true;  // clients must mask (RFC 6455 section 5.3)
    std::array<std::uint8_t, 4> mask{0x37, 0xfa, 0x21, 0x3d};
    std::uint8_t rsv = 0;  // RSV1..3 as bits 2..0
};

// The header of a frame: FIN/RSV/opcode, the shortest length form, the mask key.
inline std::vector<std::uint8_t> frame_header(std::uint8_t op, std::uint64_t length,
                                              const frame_options& o = {}) {
    std::vector<std::uint8_t> out;
    out.push_back(static_cast<std::uint8_t>((o.fin ? 0x80 : 0) | ((o.rsv & 7) << 4) | (op & 0xF)));
    const std::uint8_t mask_bit = o.masked ? 0x80 : 0;
    if (length < 126) {
        out.push_back(static_cast<std::uint8_t>(mask_bit | length));
    } else if (length <= 0xFFFF) {
        out.push_back(static_cast<std::uint8_t>(mask_bit | 126));
        out.push_back(static_cast<std::uint8_t>(length >> 8));
        out.push_back(static_cast<std::uint8_t>(length));
    } else {
        out.push_back(static_cast<std::uint8_t>(mask_bit | 127));
        for (int shift = 56; shift >= 0; shift -= 8)
            out.push_back(static_cast<std::uint8_t>(length >> shift));
    }
    if (o.masked) out.insert(out.end(), o.mask.begin(), o.mask.end());
    return out;
}

// A whole client frame carrying `payload`.
inline std::vector<std::uint8_t> client_frame(std::uint8_t op,
                                              std::span<const std::uint8_t> payload,
                                              const frame_options& o = {}) {
    auto out = frame_header(op, payload.size(), o);
    for (std::size_t i = 0; i < payload.size(); ++i)
        out.push_back(o.masked ? static_cast<std::uint8_t>(payload[i] ^ o.mask[i % 4])
                               : payload[i]);
    return out;
}

inline std::vector<std::uint8_t> client_frame(std::uint8_t op, std::string_view payload,
                                              const frame_options& o = {}) {
    return client_frame(op,
                        std::span<const std::uint8_t>(
                            reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()),
                        o);
}

// The payload of a close frame: status code and reason.
inline std::vector<std::uint8_t> close_payload(std::uint16_t code, std::string_view reason = {}) {
    std::vector<std::uint8_t> p;
    p.reserve(2 + reason.size());
    p.push_back(static_cast<std::uint8_t>(code >> 8));
    p.push_back(static_cast<std::uint8_t>(code));
    for (const char c : reason)
        p.push_back(static_cast<std::uint8_t>(c));
    return p;
}

struct frame {
    bool fin = false;
    std::uint8_t rsv = 0;
    std::uint8_t opcode = 0;
    bool masked = false;
    std::vector<std::uint8_t> payload;  // unmasked

    // The status code of a close frame (0: none).
    std::uint16_t close_code() const {
        return payload.size() >= 2 ? static_cast<std::uint16_t>(payload[0] << 8 | payload[1]) : 0;
    }
};

// Reads one frame from the front of `buf`: the bytes it took, or 0 when `buf` holds only part of
// it (`max_payload` caps what a test accepts; a longer frame counts as incomplete forever).
inline std::size_t parse_frame(
    std::span<const std::uint8_t> buf, frame& out,
    std::uint64_t max_payload = std::numeric_limits<std::uint32_t>::max()) {
    if (buf.size() < 2) return 0;
    out.fin = (buf[0] & 0x80) != 0;
    out.rsv = static_cast<std::uint8_t>((buf[0] >> 4) & 7);
    out.opcode = buf[0] & 0xF;
    out.masked = (buf[1] & 0x80) != 0;
    std::uint64_t len = buf[1] & 0x7F;
    std::size_t pos = 2;
    if (len == 126) {
        if (buf.size() < 4) return 0;
        len = static_cast<std::uint64_t>(buf[2]) << 8 | buf[3];
        pos = 4;
    } else if (len == 127) {
        if (buf.size() < 10) return 0;
        len = 0;
        for (std::size_t i = 2; i < 10; ++i)
            len = len << 8 | buf[i];
        pos = 10;
    }
    std::array<std::uint8_t, 4> mask{};
    if (out.masked) {
        if (buf.size() < pos + 4) return 0;
        for (std::size_t i = 0; i < 4; ++i)
            mask[i] = buf[pos + i];
        pos += 4;
    }
    if (len > max_payload || buf.size() - pos < len) return 0;
    out.payload.assign(buf.begin() + static_cast<std::ptrdiff_t>(pos),
                       buf.begin() + static_cast<std::ptrdiff_t>(pos + len));
    if (out.masked)
        for (std::size_t i = 0; i < out.payload.size(); ++i)
            out.payload[i] ^= mask[i % 4];
    return pos + static_cast<std::size_t>(len);
}

// An upgrade request as browsers send it, for `path` with the subprotocols `protocols` ("" for
// none) and the RFC 6455 sample key.
inline std::string upgrade_request(std::string_view path = "/mqtt",
                                   std::string_view protocols = "mqtt",
                                   std::string_view extra_headers = {}) {
    std::string r = "GET ";
    r += path;
    r += " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    if (!protocols.empty()) {
        r += "Sec-WebSocket-Protocol: ";
        r += protocols;
        r += "\r\n";
    }
    r += extra_headers;
    r += "\r\n";
    return r;
}

// Sec-WebSocket-Accept for the sample key (RFC 6455 section 1.3).
inline constexpr std::string_view sample_accept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

}  // namespace rmqtt::test::ws
