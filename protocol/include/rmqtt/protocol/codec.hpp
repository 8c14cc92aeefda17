#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "rmqtt/protocol/packets.hpp"
#include "rmqtt/protocol/types.hpp"

// Framing, decoding and encoding of MQTT control packets. Pure functions: no I/O, no clocks,
// no exceptions. Decoding validates every rule the specification states for the packet alone
// (flags, lengths, UTF-8, property sets, topic syntax); rules that need connection state (packet
// identifier in use, topic alias range, maximum QoS) are the broker's.
namespace rmqtt::protocol {

// ---- framing ---------------------------------------------------------------------------------

struct frame {
    std::uint8_t header = 0;             // first byte: packet type << 4 | flags
    std::span<const std::uint8_t> body;  // the Remaining Length bytes after the fixed header
    std::size_t size = 0;                // whole packet size: fixed header + body

    packet_type type() const noexcept { return static_cast<packet_type>(header >> 4); }
    std::uint8_t flags() const noexcept { return header & 0x0F; }
};

enum class frame_status {
    complete,   // `out` holds a frame; `consumed` bytes of the input belong to it
    need_more,  // not enough bytes yet; `consumed` is 0; `needed`, if known, is the whole size
    malformed,  // Remaining Length is not a valid Variable Byte Integer [MQTT-1.5.5-1]
    too_large,  // the packet is larger than max_packet_size (known from the fixed header alone)
};

struct frame_result {
    frame_status status = frame_status::need_more;
    std::size_t consumed = 0;
    std::size_t needed = 0;  // with need_more: total bytes the frame needs, 0 if not yet known
};

// Parses one frame from the front of `input` without copying. `max_packet_size` counts the whole
// packet (fixed header included) as 5.0 section 3.1.2.11.4 does; 0 means no limit other than the
// protocol's 268,435,455-byte Remaining Length. The limit is checked from the fixed header, before
// the caller buffers the body.
frame_result parse_frame(std::span<const std::uint8_t> input, std::uint32_t max_packet_size,
                         frame& out) noexcept;

// ---- decoding ----------------------------------------------------------------------------------

struct decode_result {
    // success, or why the packet was refused: malformed_packet, protocol_error,
    // unsupported_protocol_version (CONNECT only), topic_name_invalid, topic_filter_invalid,
    // payload_format_invalid, client_identifier_not_valid.
    reason_code code = reason_code::success;
    const char* detail = "";  // static text for the log, e.g. "PUBLISH: QoS 3"

    explicit operator bool() const noexcept { return code == reason_code::success; }
};

// Decodes a frame into `out`. `v` is the connection's negotiated version; for CONNECT the version
// is read from the packet itself (`v` is ignored) and an unknown protocol level gives
// unsupported_protocol_version, which the caller answers with CONNACK before closing.
//
// What `out` holds when the result is not success:
//  - topic_name_invalid, payload_format_invalid, client_identifier_not_valid: the packet's
//    structure is sound and `out` is the complete packet (so a PUBACK / PUBREC can carry its
//    Packet Identifier, a CONNACK its version).
//  - CONNECT, any code: `out` is a connect whose protocol_version is the version to answer in
//    (for an unsupported level: v5 above 5, else v3_1_1); other fields may be partly filled.
//  - otherwise: the alternative of the frame's packet type, partly filled; do not use it.
decode_result decode(version v, const frame& f, packet& out);

// ---- encoding ----------------------------------------------------------------------------------

// Appends the encoded packet to `out`. The caller guarantees the packet is valid for `v`
// (encoding is not validation); 3.x encodings ignore 5.0-only fields. A CONNECT, as in decode(),
// is encoded in its own protocol_version and `v` is ignored. In 5.0, PUBACK / PUBREC / PUBREL /
// PUBCOMP / DISCONNECT leave out the reason code and properties when they are Success (Normal
// disconnection) with no properties, and the property length when there are no properties.
void encode(version v, const packet& p, std::vector<std::uint8_t>& out);
void encode(version v, const publish_view& p, std::vector<std::uint8_t>& out);

// Size encode() would append, to honour a peer's Maximum Packet Size before building the bytes.
std::size_t encoded_size(version v, const publish_view& p) noexcept;
std::size_t encoded_size(version v, const packet& p);

// ---- primitives (exposed for tests and for the storage value encoding) -------------------------

// Variable Byte Integer (1.5.5). Returns bytes written (1..4); value must be < 268,435,456.
std::size_t encode_varint(std::uint32_t value, std::vector<std::uint8_t>& out);
// Returns bytes read (1..4), 0 if more input is needed, -1 if malformed (5th byte or non-minimal).
int decode_varint(std::span<const std::uint8_t> in, std::uint32_t& value) noexcept;
std::size_t varint_size(std::uint32_t value) noexcept;

// Encodes / decodes a property list with its length prefix, for packet type `t` (or a will when
// `for_will` is set). Used by the codec and by the store to keep message properties.
void encode_properties(const properties& props, std::vector<std::uint8_t>& out);
decode_result decode_properties(std::span<const std::uint8_t> in, packet_type t, bool for_will,
                                properties& out, std::size_t& consumed);

}  // namespace rmqtt::protocol
