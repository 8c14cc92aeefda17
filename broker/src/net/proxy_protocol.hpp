#pragma once

// The PROXY protocol header (HAProxy, versions 1 and 2) that a load balancer sends before the
// client's bytes: parsed from bytes alone, no sockets and no Asio, so that it can be fuzzed
// (tests/fuzz/proxy_protocol_fuzz.cpp). Specification:
// https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace rmqtt::broker {

// One end of the proxied connection.
struct proxy_endpoint {
    bool v6 = false;
    std::array<std::uint8_t, 16> address{};  // network order; IPv4 uses the first 4 bytes
    std::uint16_t port = 0;

    std::string to_string() const;  // "203.0.113.7:4000", "[2001:db8::1]:4000"
    bool operator==(const proxy_endpoint&) const = default;
};

struct proxy_header {
    int version = 0;  // 1 or 2
    // The client's side and the proxy's side of the client connection. Empty when the header
    // carries no address (v1 UNKNOWN, v2 LOCAL, v2 AF_UNSPEC or AF_UNIX): the receiver then uses
    // the socket's own peer address, as the specification says.
    std::optional<proxy_endpoint> source;
    std::optional<proxy_endpoint> destination;
};

enum class proxy_parse_status {
    complete,    // the header is whole: `size` bytes long; what follows it is not part of it
    incomplete,  // every byte given belongs to the header (it has not ended yet); more needed
    invalid,     // not a PROXY header, malformed, or longer than allowed: `error` says why
};

struct proxy_parse_result {
    proxy_parse_status status = proxy_parse_status::incomplete;
    std::size_t size = 0;
    const char* error = "";
};

// v1: the whole line, "PROXY ... \r\n", is at most 107 bytes (specification section 2.1).
inline constexpr std::size_t proxy_v1_max_size = 107;
// v2: 16 bytes plus a block of up to 65535; TLVs make it longer than the addresses need, but a
// header above this many bytes is refused rather than buffered.
inline constexpr std::size_t proxy_v2_default_max_size = 4096;

// Parses the PROXY header at the start of `bytes`. Bytes that cannot begin a header (MQTT, a TLS
// ClientHello, HTTP) are `invalid` as soon as they are seen, without waiting for more. Only
// `complete` fills `out`. TLVs of a v2 header are checked for shape and skipped.
proxy_parse_result parse_proxy_header(std::span<const std::uint8_t> bytes, proxy_header& out,
                                      std::size_t v2_max_size = proxy_v2_default_max_size);

}  // namespace rmqtt::broker
