#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>

#include <cstddef>
#include <string>
#include <system_error>

namespace rmqtt::broker {

// A byte stream an MQTT connection runs over: TCP now; TLS and WebSocket wrap the same shape.
// Used by one connection on its executor only.
class transport {
  public:
    virtual ~transport() = default;
    // Completes with at least one byte, or with an error (end of stream is asio::error::eof).
    virtual asio::awaitable<std::size_t> read_some(asio::mutable_buffer buf,
                                                   std::error_code& ec) = 0;
    // Writes all of `buf`.
    virtual asio::awaitable<void> write_all(asio::const_buffer buf, std::error_code& ec) = 0;
    // Completes a transport-level handshake (TLS, WebSocket upgrade); no-op for TCP.
    virtual asio::awaitable<void> handshake(std::error_code& ec) {
        ec.clear();
        co_return;
    }
    // Cancels pending operations and closes; safe to call more than once.
    virtual void close() noexcept = 0;
    virtual std::string remote_address() const = 0;  // "ip:port"
    virtual const char* kind() const noexcept = 0;   // "tcp", "tls", "ws", "wss"
};

}  // namespace rmqtt::broker
