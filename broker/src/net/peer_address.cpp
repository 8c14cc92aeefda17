#include "net/peer_address.hpp"

#include <sys/socket.h>

#include <fmt/format.h>

namespace rmqtt::broker {

namespace {

std::string format_endpoint(const asio::ip::tcp::endpoint& ep) {
    auto addr = ep.address();
    if (addr.is_v6()) return fmt::format("[{}]:{}", addr.to_string(), ep.port());
    return fmt::format("{}:{}", addr.to_string(), ep.port());
}

}  // namespace

std::string peer_address(const tcp_socket& s) {
    std::error_code ec;
    auto ep = s.remote_endpoint(ec);
    if (ec) return "unknown";
    return format_endpoint(ep);
}

std::string peer_address(int fd) {
    asio::ip::tcp::endpoint ep;
    socklen_t len = static_cast<socklen_t>(ep.capacity());
    if (fd < 0 || ::getpeername(fd, ep.data(), &len) != 0) return "unknown";
    ep.resize(len);
    return format_endpoint(ep);
}

std::string client_address(const tcp_socket& s, const proxy_header& h) {
    return h.source ? h.source->to_string() : peer_address(s);
}

}  // namespace rmqtt::broker
