// Parses arbitrary bytes as a PROXY protocol header (v1 and v2). Parsing must never crash or read
// out of bounds, and the answer must be consistent: a complete header is complete again on its
// own bytes and with anything after it, with the same size and addresses, and every shorter
// prefix of it is incomplete; an incomplete answer never covers more bytes than a header may
// have; only a complete answer writes the output.
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "net/proxy_protocol.hpp"

using rmqtt::broker::parse_proxy_header;
using rmqtt::broker::proxy_header;
using rmqtt::broker::proxy_parse_status;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> bytes(data, size);
    proxy_header h;
    h.version = -1;
    const auto r = parse_proxy_header(bytes, h);
    if (r.status != proxy_parse_status::complete && (h.version != -1 || h.source)) std::abort();
    if (r.status == proxy_parse_status::incomplete) {
        if (size >= rmqtt::broker::proxy_v2_default_max_size) std::abort();
        return 0;
    }
    if (r.status == proxy_parse_status::invalid) {
        if (r.error == nullptr || *r.error == '\0') std::abort();
        return 0;
    }
    if (r.size == 0 || r.size > size) std::abort();
    if (h.version != 1 && h.version != 2) std::abort();
    if (h.source.has_value() != h.destination.has_value()) std::abort();
    if (h.source) (void)h.source->to_string();

    proxy_header again;
    const auto alone = parse_proxy_header(bytes.first(r.size), again);
    if (alone.status != proxy_parse_status::complete || alone.size != r.size) std::abort();
    if (again.version != h.version || again.source != h.source ||
        again.destination != h.destination)
        std::abort();
    proxy_header shorter;
    if (parse_proxy_header(bytes.first(r.size - 1), shorter).status !=
        proxy_parse_status::incomplete)
        std::abort();
    return 0;
}
