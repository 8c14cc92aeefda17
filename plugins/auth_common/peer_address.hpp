#pragma once

#include <string_view>

// The parts of a peer address as the core writes it ("ip:port", "[v6]:port").
namespace rmqtt::plugins::auth_common {

// "10.0.0.1:5000" -> "10.0.0.1", "[::1]:5000" -> "::1"; a value without a port stays whole.
constexpr std::string_view ip_of_peer(std::string_view peer) noexcept {
    if (peer.starts_with('[')) {
        const auto close = peer.find(']');
        return close == std::string_view::npos ? peer : peer.substr(1, close - 1);
    }
    const auto colon = peer.rfind(':');
    return colon == std::string_view::npos ? peer : peer.substr(0, colon);
}

// "10.0.0.1:5000" -> "5000"; "" when there is no port.
constexpr std::string_view port_of_peer(std::string_view peer) noexcept {
    const auto colon = peer.rfind(':');
    if (colon == std::string_view::npos) return {};
    if (peer.starts_with('[') && peer.find(']') > colon) return {};
    return peer.substr(colon + 1);
}

}  // namespace rmqtt::plugins::auth_common
