#pragma once

#include <asio/basic_stream_socket.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <system_error>

namespace rmqtt::broker {

// An asio socket on an accepted descriptor (TLS, and the PROXY header of plain TCP), bound to
// its worker's io_context executor (8 bytes) rather than an any_io_executor (56).
using tcp_socket = asio::basic_stream_socket<asio::ip::tcp, asio::io_context::executor_type>;

// A connection just accepted (non-blocking, close-on-exec) and the worker it will live on; no
// transport owns it yet. Closes the descriptor unless it was released. Plain TCP reads it through
// the worker's fd_reactor; TLS makes an asio socket of it (to_socket()).
class accepted_socket {
  public:
    accepted_socket(int fd, asio::io_context::executor_type ex, asio::ip::tcp protocol) noexcept
        : fd_(fd), executor_(ex), protocol_(protocol) {}
    accepted_socket(accepted_socket&& other) noexcept
        : fd_(other.release()), executor_(other.executor_), protocol_(other.protocol_) {}
    accepted_socket& operator=(accepted_socket&&) = delete;
    ~accepted_socket();

    int native_handle() const noexcept { return fd_; }
    const asio::io_context::executor_type& executor() const noexcept { return executor_; }
    asio::ip::tcp protocol() const noexcept { return protocol_; }
    // The descriptor, now the caller's to close.
    int release() noexcept {
        const int fd = fd_;
        fd_ = -1;
        return fd;
    }
    // An asio socket owning the descriptor; throws std::system_error when asio's reactor cannot
    // register it (the descriptor is closed then).
    tcp_socket to_socket() &&;

  private:
    int fd_;
    asio::io_context::executor_type executor_;
    asio::ip::tcp protocol_;
};

}  // namespace rmqtt::broker
