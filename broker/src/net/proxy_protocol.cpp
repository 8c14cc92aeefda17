#include "net/proxy_protocol.hpp"

#include <arpa/inet.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <string_view>

namespace rmqtt::broker {

namespace {

constexpr std::string_view v1_prefix = "PROXY ";
constexpr std::array<std::uint8_t, 12> v2_signature{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                                    0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
constexpr std::size_t v2_fixed_size = 16;  // signature, version/command, family, length

proxy_parse_result invalid(const char* why) {
    return {proxy_parse_status::invalid, 0, why};
}

proxy_parse_result incomplete() {
    return {proxy_parse_status::incomplete, 0, ""};
}

// A textual IPv4 or IPv6 address of the v1 header (inet_pton's strict forms only).
bool parse_address(std::string_view text, bool v6, proxy_endpoint& out) {
    char buf[64];
    if (text.empty() || text.size() >= sizeof buf) return false;
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    out.v6 = v6;
    out.address.fill(0);
    return ::inet_pton(v6 ? AF_INET6 : AF_INET, buf, out.address.data()) == 1;
}

// A decimal port 0..65535 of the v1 header.
bool parse_port(std::string_view text, std::uint16_t& out) {
    if (text.empty() || text.size() > 5) return false;
    std::uint32_t v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<std::uint32_t>(c - '0');
    }
    if (v > 0xFFFF) return false;
    out = static_cast<std::uint16_t>(v);
    return true;
}

// "TCP4 192.0.2.1 198.51.100.1 56324 1883", "TCP6 ...", "UNKNOWN[ anything]": the line between
// "PROXY " and CRLF (section 2.1).
bool parse_v1_line(std::string_view line, proxy_header& out, const char*& error) {
    std::array<std::string_view, 5> fields;
    std::size_t count = 0;
    std::size_t start = 0;
    for (;;) {
        const auto space = line.find(' ', start);
        const auto field = line.substr(start, space - start);
        if (count == 0 && field == "UNKNOWN") {
            // The rest of the line is to be ignored; the socket's address stands.
            out = proxy_header{};
            out.version = 1;
            return true;
        }
        if (field.empty()) {
            error = "v1 header: empty field (fields are separated by exactly one space)";
            return false;
        }
        if (count == fields.size()) {
            error = "v1 header: more than 5 fields";
            return false;
        }
        fields[count++] = field;
        if (space == std::string_view::npos) break;
        start = space + 1;
    }
    const bool v6 = fields[0] == "TCP6";
    if (!v6 && fields[0] != "TCP4") {
        error = "v1 header: unknown protocol (expected TCP4, TCP6 or UNKNOWN)";
        return false;
    }
    if (count != 5) {
        error = "v1 header: expected source address, destination address and both ports";
        return false;
    }
    proxy_endpoint src, dst;
    if (!parse_address(fields[1], v6, src) || !parse_address(fields[2], v6, dst)) {
        error = v6 ? "v1 header: TCP6 with an address that is not IPv6"
                   : "v1 header: TCP4 with an address that is not IPv4";
        return false;
    }
    if (!parse_port(fields[3], src.port) || !parse_port(fields[4], dst.port)) {
        error = "v1 header: port is not a number 0..65535";
        return false;
    }
    out = proxy_header{};
    out.version = 1;
    out.source = src;
    out.destination = dst;
    return true;
}

proxy_parse_result parse_v1(std::span<const std::uint8_t> bytes, proxy_header& out) {
    const std::size_t prefix = std::min(bytes.size(), v1_prefix.size());
    if (!std::equal(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(prefix),
                    v1_prefix.begin())) {
        return invalid("no PROXY protocol header");
    }
    const std::size_t scan = std::min(bytes.size(), proxy_v1_max_size);
    for (std::size_t i = v1_prefix.size(); i < scan; ++i) {
        const std::uint8_t c = bytes[i];
        if (c == '\r') {
            if (i + 2 > proxy_v1_max_size) break;  // CRLF would end past the limit
            if (i + 1 == bytes.size()) return incomplete();
            if (bytes[i + 1] != '\n') return invalid("v1 header: CR not followed by LF");
            const std::string_view line(
                reinterpret_cast<const char*>(bytes.data()) + v1_prefix.size(),
                i - v1_prefix.size());
            const char* error = "";
            if (!parse_v1_line(line, out, error)) return invalid(error);
            return {proxy_parse_status::complete, i + 2, ""};
        }
        if (c < 0x20 || c > 0x7E) return invalid("v1 header: a byte that is not printable ASCII");
    }
    if (bytes.size() >= proxy_v1_max_size) return invalid("v1 header longer than 107 bytes");
    return incomplete();
}

std::uint16_t be16(const std::uint8_t* p) {
    return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}

proxy_parse_result parse_v2(std::span<const std::uint8_t> bytes, proxy_header& out,
                            std::size_t max_size) {
    const std::size_t prefix = std::min(bytes.size(), v2_signature.size());
    if (!std::equal(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(prefix),
                    v2_signature.begin())) {
        return invalid("no PROXY protocol header");
    }
    // Section 2.2: version 2 in the high nibble; command LOCAL (0) or PROXY (1).
    if (bytes.size() > 12) {
        if ((bytes[12] >> 4) != 2) return invalid("v2 header: version is not 2");
        if ((bytes[12] & 0x0F) > 1) return invalid("v2 header: unknown command");
    }
    // Family UNSPEC, INET, INET6, UNIX (high nibble); transport UNSPEC, STREAM, DGRAM (low).
    if (bytes.size() > 13) {
        if ((bytes[13] >> 4) > 3) return invalid("v2 header: unknown address family");
        if ((bytes[13] & 0x0F) > 2) return invalid("v2 header: unknown transport protocol");
    }
    if (bytes.size() < v2_fixed_size) return incomplete();
    const std::size_t length = be16(bytes.data() + 14);
    const std::size_t total = v2_fixed_size + length;
    if (total > std::max(max_size, v2_fixed_size)) {
        return invalid("v2 header longer than rmqttd accepts");
    }
    if (bytes.size() < total) return incomplete();

    proxy_header h;  // `out` is written only for a complete header
    h.version = 2;
    const bool local = (bytes[12] & 0x0F) == 0;
    const int family = bytes[13] >> 4;
    // LOCAL (health checks from the proxy itself): the block is discarded, the socket's
    // address stands. AF_UNSPEC: the receiver ignores the block. Either way nothing to read.
    if (local || family == 0) {
        out = h;
        return {proxy_parse_status::complete, total, ""};
    }

    const std::uint8_t* block = bytes.data() + v2_fixed_size;
    std::size_t address_size = 0;
    if (family == 1) {
        address_size = 12;  // src 4, dst 4, src port 2, dst port 2
    } else if (family == 2) {
        address_size = 36;  // src 16, dst 16, src port 2, dst port 2
    } else {
        address_size = 216;  // AF_UNIX: src 108, dst 108
    }
    if (length < address_size) return invalid("v2 header: address block too short for its family");
    if (family == 1 || family == 2) {
        const std::size_t a = family == 1 ? 4 : 16;
        proxy_endpoint src, dst;
        src.v6 = dst.v6 = family == 2;
        std::copy_n(block, a, src.address.begin());
        std::copy_n(block + a, a, dst.address.begin());
        src.port = be16(block + 2 * a);
        dst.port = be16(block + 2 * a + 2);
        h.source = src;
        h.destination = dst;
    }
    // TLVs (section 2.2.7): type 1 byte, length 2 bytes, value; skipped, but they must fill the
    // rest of the block exactly.
    std::size_t pos = address_size;
    while (pos < length) {
        if (length - pos < 3) return invalid("v2 header: truncated TLV");
        const std::size_t tlv = be16(block + pos + 1);
        if (length - pos - 3 < tlv) return invalid("v2 header: TLV longer than the header");
        pos += 3 + tlv;
    }
    out = h;
    return {proxy_parse_status::complete, total, ""};
}

}  // namespace

std::string proxy_endpoint::to_string() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (!::inet_ntop(v6 ? AF_INET6 : AF_INET, address.data(), buf, sizeof buf)) return "unknown";
    std::string out;
    if (v6) out += '[';
    out += buf;
    if (v6) out += ']';
    out += ':';
    out += std::to_string(port);
    return out;
}

proxy_parse_result parse_proxy_header(std::span<const std::uint8_t> bytes, proxy_header& out,
                                      std::size_t v2_max_size) {
    if (bytes.empty()) return incomplete();
    if (bytes[0] == static_cast<std::uint8_t>(v1_prefix[0])) return parse_v1(bytes, out);
    if (bytes[0] == v2_signature[0]) return parse_v2(bytes, out, v2_max_size);
    return invalid("no PROXY protocol header");
}

}  // namespace rmqtt::broker
