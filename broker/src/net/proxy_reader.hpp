#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include <chrono>
#include <system_error>

#include "net/proxy_protocol.hpp"
#include "net/tcp_socket.hpp"

namespace rmqtt::broker {

// A listener's PROXY protocol settings (proxy_protocol, proxy_protocol_timeout).
struct proxy_settings {
    bool enabled = false;
    std::chrono::milliseconds timeout{5000};
};

// Reads the PROXY protocol header that opens the socket, and not one byte more: bytes are peeked
// and only the header's are consumed, so the TLS handshake or the MQTT bytes after it start where
// the header ends. It is the first thing read from a socket, below TLS and WebSocket.
// Completes with `ec` cleared and `out` filled, or with std::errc::timed_out (no whole header
// within `timeout`), std::errc::protocol_error (the bytes are not a PROXY header), or the
// socket's error (asio::error::eof, operation_aborted when the connection closed it). A failure
// is logged at info with the reason.
asio::awaitable<void> read_proxy_header(tcp_socket& socket, std::chrono::milliseconds timeout,
                                        proxy_header& out, std::error_code& ec);

}  // namespace rmqtt::broker
