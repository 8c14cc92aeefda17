// The PROXY protocol header parser: golden v1 and v2 headers from the specification
// (haproxy.org/download/2.9/doc/proxy-protocol.txt), every truncation, trailing bytes left
// alone, oversize and garbage.
#include "net/proxy_protocol.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace rmqtt::broker {
namespace {

using bytes = std::vector<std::uint8_t>;

bytes of(std::string_view text) {
    return bytes(text.begin(), text.end());
}

bytes hex(std::string_view text) {
    bytes out;
    int hi = -1;
    for (char ch : text) {
        int v = -1;
        if (ch >= '0' && ch <= '9') v = ch - '0';
        if (ch >= 'A' && ch <= 'F') v = ch - 'A' + 10;
        if (v < 0) continue;
        if (hi < 0) {
            hi = v;
        } else {
            out.push_back(static_cast<std::uint8_t>(hi * 16 + v));
            hi = -1;
        }
    }
    return out;
}

bytes operator+(bytes a, const bytes& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

proxy_parse_result parse(const bytes& b, proxy_header& h) {
    return parse_proxy_header(b, h);
}

// Every proper prefix of a valid header is incomplete; the header followed by MQTT bytes is
// complete with exactly its own length.
void expect_whole(const bytes& header) {
    for (std::size_t n = 0; n < header.size(); ++n) {
        proxy_header h;
        const auto r = parse(bytes(header.begin(), header.begin() + static_cast<long>(n)), h);
        EXPECT_EQ(r.status, proxy_parse_status::incomplete) << "prefix of " << n << " bytes";
    }
    const bytes connect = hex("10 10 00 04 4D 51 54 54 04 02 00 3C 00 04 61 62 63 64");
    proxy_header h;
    const auto r = parse(header + connect, h);
    ASSERT_EQ(r.status, proxy_parse_status::complete) << r.error;
    EXPECT_EQ(r.size, header.size());
}

const bytes v2_signature = hex("0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A");

// ---- version 1
// -----------------------------------------------------------------------------------

TEST(ProxyProtocolV1, Tcp4) {
    const auto header = of("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n");
    expect_whole(header);
    proxy_header h;
    ASSERT_EQ(parse(header, h).status, proxy_parse_status::complete);
    EXPECT_EQ(h.version, 1);
    ASSERT_TRUE(h.source);
    ASSERT_TRUE(h.destination);
    EXPECT_EQ(h.source->to_string(), "192.168.0.1:56324");
    EXPECT_EQ(h.destination->to_string(), "192.168.0.11:443");
    EXPECT_FALSE(h.source->v6);
}

TEST(ProxyProtocolV1, Tcp6) {
    const auto header = of("PROXY TCP6 2001:db8::7 2001:db8::1 40000 1883\r\n");
    expect_whole(header);
    proxy_header h;
    ASSERT_EQ(parse(header, h).status, proxy_parse_status::complete);
    ASSERT_TRUE(h.source);
    EXPECT_TRUE(h.source->v6);
    EXPECT_EQ(h.source->to_string(), "[2001:db8::7]:40000");
    EXPECT_EQ(h.destination->to_string(), "[2001:db8::1]:1883");
}

TEST(ProxyProtocolV1, LongestForms) {
    // The specification's worst cases: TCP6 with full addresses (104 bytes) and UNKNOWN with
    // the same (107 bytes, the limit).
    const std::string ff = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    const auto tcp6 = of("PROXY TCP6 " + ff + " " + ff + " 65535 65535\r\n");
    EXPECT_EQ(tcp6.size(), 104u);
    expect_whole(tcp6);
    const auto unknown = of("PROXY UNKNOWN " + ff + " " + ff + " 65535 65535\r\n");
    EXPECT_EQ(unknown.size(), proxy_v1_max_size);
    expect_whole(unknown);
    const auto tcp4 = of("PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n");
    expect_whole(tcp4);
    proxy_header h;
    ASSERT_EQ(parse(tcp4, h).status, proxy_parse_status::complete);
    EXPECT_EQ(h.source->to_string(), "255.255.255.255:65535");
}

TEST(ProxyProtocolV1, UnknownKeepsTheSocketsAddress) {
    for (const auto* line : {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN 1.2.3.4 5.6.7.8 1 2\r\n"}) {
        SCOPED_TRACE(line);
        const auto header = of(line);
        expect_whole(header);
        proxy_header h;
        ASSERT_EQ(parse(header, h).status, proxy_parse_status::complete);
        EXPECT_EQ(h.version, 1);
        EXPECT_FALSE(h.source);
        EXPECT_FALSE(h.destination);
    }
}

TEST(ProxyProtocolV1, Malformed) {
    const std::string ff = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    for (const std::string& line : std::vector<std::string>{
             "PROXY TCP4 192.168.0.1 192.168.0.11 56324\r\n",         // a port missing
             "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 7\r\n",   // a field too many
             "PROXY TCP4  192.168.0.1 192.168.0.11 56324 443\r\n",    // two spaces
             "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 \r\n",    // trailing space
             "PROXY TCP4 192.168.0.256 192.168.0.11 56324 443\r\n",   // octet > 255
             "PROXY TCP4 2001:db8::1 192.168.0.11 56324 443\r\n",     // IPv6 in TCP4
             "PROXY TCP6 192.168.0.1 2001:db8::1 56324 443\r\n",      // IPv4 in TCP6
             "PROXY TCP4 192.168.0.1 192.168.0.11 65536 443\r\n",     // port > 65535
             "PROXY TCP4 192.168.0.1 192.168.0.11 -1 443\r\n",        // not a number
             "PROXY TCP4 192.168.0.1 192.168.0.11 123456 443\r\n",    // six digits
             "PROXY UDP4 192.168.0.1 192.168.0.11 56324 443\r\n",     // unknown protocol
             "PROXY tcp4 192.168.0.1 192.168.0.11 56324 443\r\n",     // case matters
             "PROXY \r\n",                                            // nothing
             "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\n",       // LF without CR
             "PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\rX",      // CR without LF
             "PROXY TCP4 192.168.0.1\t192.168.0.11 56324 443\r\n",    // a control character
             "PROXY UNKNOWN " + ff + " " + ff + " 65535 655351\r\n",  // 108 bytes
             "PROXY UNKNOWN " + ff + " " + ff + " 65535 65535xx",     // 107 bytes, no CRLF
         }) {
        SCOPED_TRACE(line);
        proxy_header h;
        const auto r = parse(of(line), h);
        EXPECT_EQ(r.status, proxy_parse_status::invalid);
        EXPECT_STRNE(r.error, "");
    }
}

// ---- version 2
// -----------------------------------------------------------------------------------

TEST(ProxyProtocolV2, Inet) {
    const auto header =
        hex("0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A"  // signature
            "21"                                   // version 2, command PROXY
            "11"                                   // AF_INET, STREAM
            "00 0C"                                // 12 bytes of addresses follow
            "C0 00 02 01"                          // source 192.0.2.1
            "C6 33 64 02"                          // destination 198.51.100.2
            "DC 04"                                // source port 56324
            "07 5B");                              // destination port 1883
    expect_whole(header);
    proxy_header h;
    ASSERT_EQ(parse(header, h).status, proxy_parse_status::complete);
    EXPECT_EQ(h.version, 2);
    ASSERT_TRUE(h.source);
    EXPECT_EQ(h.source->to_string(), "192.0.2.1:56324");
    EXPECT_EQ(h.destination->to_string(), "198.51.100.2:1883");
}

TEST(ProxyProtocolV2, Inet6) {
    const auto header =
        hex("0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A"              // signature
            "21"                                               // version 2, PROXY
            "21"                                               // AF_INET6, STREAM
            "00 24"                                            // 36 bytes
            "20 01 0D B8 00 00 00 00 00 00 00 00 00 00 00 07"  // source 2001:db8::7
            "20 01 0D B8 00 00 00 00 00 00 00 00 00 00 00 01"  // destination 2001:db8::1
            "9C 40"                                            // source port 40000
            "22 B3");                                          // destination port 8883
    expect_whole(header);
    proxy_header h;
    ASSERT_EQ(parse(header, h).status, proxy_parse_status::complete);
    EXPECT_EQ(h.source->to_string(), "[2001:db8::7]:40000");
    EXPECT_EQ(h.destination->to_string(), "[2001:db8::1]:8883");
}

TEST(ProxyProtocolV2, TlvsAreSkipped) {
    const auto header =
        hex("0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A 21 11"
            "00 1B"  // 12 address bytes + 15 TLV bytes
            "C0 00 02 01 C6 33 64 02 DC 04 07 5B"
            "01 00 02 68 32"          // PP2_TYPE_ALPN "h2"
            "04 00 00"                // PP2_TYPE_NOOP, empty
            "05 00 04 01 02 03 04");  // PP2_TYPE_UNIQUE_ID
    expect_whole(header);
    proxy_header h;
    ASSERT_EQ(parse(header, h).status, proxy_parse_status::complete);
    EXPECT_EQ(h.source->to_string(), "192.0.2.1:56324");
}

TEST(ProxyProtocolV2, LocalAndUnspecKeepTheSocketsAddress) {
    for (const auto* text : {
             "0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A 20 00 00 00",  // LOCAL, no block
             // LOCAL with an address block: discarded.
             "0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A 20 11 00 0C C0 00 02 01 C6 33 64 02 DC 04 07 5B",
             "0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A 21 00 00 03 AA BB CC",  // PROXY, AF_UNSPEC
         }) {
        SCOPED_TRACE(text);
        const auto header = hex(text);
        expect_whole(header);
        proxy_header h;
        ASSERT_EQ(parse(header, h).status, proxy_parse_status::complete);
        EXPECT_EQ(h.version, 2);
        EXPECT_FALSE(h.source);
    }
}

TEST(ProxyProtocolV2, UnixHasNoNetworkAddress) {
    auto header = v2_signature + hex("21 31 00 D8");  // PROXY, AF_UNIX, STREAM, 216 bytes
    header.resize(header.size() + 216, 0);
    expect_whole(header);
    proxy_header h;
    ASSERT_EQ(parse(header, h).status, proxy_parse_status::complete);
    EXPECT_FALSE(h.source);
}

TEST(ProxyProtocolV2, Malformed) {
    for (const auto* text : {
             "0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A 11 11 00 0C",  // version 1 in a v2 header
             "0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A 31 11 00 0C",  // version 3
             "0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A 22 11 00 0C",  // command 2
             "0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A 21 41 00 0C",  // family 4
             "0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A 21 13 00 0C",  // transport 3
             // AF_INET with 11 bytes of addresses.
             "0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A 21 11 00 0B C0 00 02 01 C6 33 64 02 DC 04 07",
             // AF_INET6 with only 12 bytes.
             "0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A 21 21 00 0C C0 00 02 01 C6 33 64 02 DC 04 07 5B",
             // A TLV whose length runs past the header.
             "0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A 21 11 00 10 C0 00 02 01 C6 33 64 02 DC 04 07 5B"
             "01 00 09 68",
             // Two stray bytes after the addresses (a truncated TLV header).
             "0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A 21 11 00 0E C0 00 02 01 C6 33 64 02 DC 04 07 5B"
             "01 00",
             "0D 0A 0D 0A 00 0D 0A 51 55 49 54 0B",  // signature's last byte wrong
         }) {
        SCOPED_TRACE(text);
        proxy_header h;
        const auto r = parse(hex(text), h);
        EXPECT_EQ(r.status, proxy_parse_status::invalid);
        EXPECT_STRNE(r.error, "");
    }
}

// Only a complete header is written to the output: a rejected one leaves it as it was.
TEST(ProxyProtocol, OutputUntouchedUnlessComplete) {
    proxy_header h;
    h.version = 7;
    // AF_INET addresses, then a truncated TLV: invalid after the addresses were read.
    EXPECT_EQ(parse(hex("0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A 21 11 00 0E"
                        "C0 00 02 01 C6 33 64 02 DC 04 07 5B 01 00"),
                    h)
                  .status,
              proxy_parse_status::invalid);
    EXPECT_EQ(parse(of("PROXY TCP4 192.168.0.1 192.168.0.11 56324 443 7\r\n"), h).status,
              proxy_parse_status::invalid);
    EXPECT_EQ(parse(of("PROXY TCP4 192.168.0.1 192.168"), h).status,
              proxy_parse_status::incomplete);
    EXPECT_EQ(h.version, 7);
    EXPECT_FALSE(h.source);
}

TEST(ProxyProtocolV2, OversizeIsRefusedFromTheLengthAlone) {
    // 16 bytes announcing 65535 more: refused before any of them arrives.
    proxy_header h;
    const auto r = parse(v2_signature + hex("21 11 FF FF"), h);
    EXPECT_EQ(r.status, proxy_parse_status::invalid);
    // Within a larger limit the same header is merely incomplete.
    EXPECT_EQ(parse_proxy_header(v2_signature + hex("21 11 FF FF"), h, 16 + 65535).status,
              proxy_parse_status::incomplete);
    // Exactly at the default limit: accepted.
    auto at_limit = v2_signature + hex("21 11");
    const std::size_t block = proxy_v2_default_max_size - 16;
    at_limit.push_back(static_cast<std::uint8_t>(block >> 8));
    at_limit.push_back(static_cast<std::uint8_t>(block & 0xFF));
    at_limit = at_limit + hex("C0 00 02 01 C6 33 64 02 DC 04 07 5B");
    // One NOOP TLV fills the rest.
    const std::size_t tlv = block - 12 - 3;
    at_limit = at_limit + bytes{0x04, static_cast<std::uint8_t>(tlv >> 8),
                                static_cast<std::uint8_t>(tlv & 0xFF)};
    at_limit.resize(proxy_v2_default_max_size, 0);
    EXPECT_EQ(parse(at_limit, h).status, proxy_parse_status::complete);
}

// ---- not a PROXY header at all
// ---------------------------------------------------------------------

TEST(ProxyProtocol, GarbageIsRefusedAtTheFirstWrongByte) {
    for (const auto& b : {
             hex("10 10 00 04 4D 51 54 54 04 02 00 3C"),  // MQTT CONNECT
             hex("16 03 01 00 F4 01 00 00 F0 03 03"),     // TLS ClientHello
             of("GET /mqtt HTTP/1.1\r\n"),                // HTTP
             of("PROXZ TCP4"),                            // almost
             of("proxy TCP4"),                            // lower case
             hex("0D 0A 0D 0A 00 0D 0A 51 00"),           // v2 signature gone wrong
             hex("00"),
             hex("FF FF FF FF"),
         }) {
        proxy_header h;
        EXPECT_EQ(parse(b, h).status, proxy_parse_status::invalid);
    }
    // The right first bytes of either version are only incomplete.
    proxy_header h;
    EXPECT_EQ(parse(of("PRO"), h).status, proxy_parse_status::incomplete);
    EXPECT_EQ(parse(hex("0D 0A 0D"), h).status, proxy_parse_status::incomplete);
    EXPECT_EQ(parse({}, h).status, proxy_parse_status::incomplete);
}

}  // namespace
}  // namespace rmqtt::broker
