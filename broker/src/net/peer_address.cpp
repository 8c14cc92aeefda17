#include "net/peer_address.hpp"

#include <fmt/format.h>

namespace rmqtt::broker {

std::string peer_address(const tcp_socket& s) {
    std::error_code ec;
    auto ep = s.remote_endpoint(ec);
    if (ec) return "unknown";
    auto addr = ep.address();
    if (addr.is_v6()) return fmt::format("[{}]:{}", addr.to_string(), ep.port());
    return fmt::format("{}:{}", addr.to_string(), ep.port());
}

std::string client_address(const tcp_socket& s, const proxy_header& h) {
    return h.source ? h.source->to_string() : peer_address(s);
}

}  // namespace rmqtt::broker
