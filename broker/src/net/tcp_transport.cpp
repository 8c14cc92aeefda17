#include "net/tcp_transport.hpp"

#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "net/peer_address.hpp"

namespace rmqtt::broker {

tcp_transport::tcp_transport(tcp_socket socket, proxy_settings proxy)
    : socket_(std::move(socket)), proxy_(proxy) {}

std::string tcp_transport::remote_address() const {
    return proxied_ ? *proxied_ : peer_address(socket_);
}

asio::awaitable<void> tcp_transport::handshake(std::error_code& ec) {
    ec.clear();
    if (!proxy_.enabled) co_return;
    proxy_header h;
    co_await read_proxy_header(socket_, proxy_.timeout, h, ec);
    if (!ec) proxied_ = std::make_unique<std::string>(client_address(socket_, h));
}

asio::awaitable<std::size_t> tcp_transport::read_some(asio::mutable_buffer buf,
                                                      std::error_code& ec) {
    co_return co_await socket_.async_read_some(buf, asio::redirect_error(asio::use_awaitable, ec));
}

std::size_t tcp_transport::read_available(asio::mutable_buffer buf, std::error_code& ec) {
    // A non-blocking receive: asio's own async operations are unaffected by the flag (they put
    // the descriptor in non-blocking mode anyway).
    if (!socket_.non_blocking()) socket_.non_blocking(true, ec);
    if (ec) return 0;
    return socket_.read_some(buf, ec);
}

void tcp_transport::on_readable(readable_fn fn, std::shared_ptr<void> owner) {
    // A readiness wait is not speculative: with the reactor's edge-triggered epoll it completes
    // only on data that arrives after it starts, or after the last epoll_wait. That is sound
    // here because the caller just saw would_block (the receive queue was empty) and the
    // connection's io_context runs on one thread, so no other thread's epoll_wait can take the
    // edge of newer data before this wait is queued.
    socket_.async_wait(tcp_socket::wait_read,
                       [fn, owner = std::move(owner)](std::error_code ec) { fn(owner.get(), ec); });
}

asio::awaitable<void> tcp_transport::write_all(asio::const_buffer buf, std::error_code& ec) {
    co_await asio::async_write(socket_, buf, asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<void> tcp_transport::close(std::error_code& ec) {
    // Everything written is already in the kernel: send FIN, then release the socket.
    socket_.shutdown(tcp_socket::shutdown_send, ec);
    std::error_code ignored;
    socket_.close(ignored);
    co_return;
}

void tcp_transport::abort() noexcept {
    std::error_code ignored;
    socket_.shutdown(tcp_socket::shutdown_both, ignored);
    socket_.close(ignored);
}

}  // namespace rmqtt::broker
