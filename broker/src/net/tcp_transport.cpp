#include "net/tcp_transport.hpp"

#include <fmt/format.h>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

namespace rmqtt::broker {

namespace {
std::string endpoint_string(const asio::ip::tcp::socket& s) {
    std::error_code ec;
    auto ep = s.remote_endpoint(ec);
    if (ec) return "unknown";
    auto addr = ep.address();
    if (addr.is_v6()) return fmt::format("[{}]:{}", addr.to_string(), ep.port());
    return fmt::format("{}:{}", addr.to_string(), ep.port());
}
}  // namespace

tcp_transport::tcp_transport(asio::ip::tcp::socket socket)
    : socket_(std::move(socket)), remote_(endpoint_string(socket_)) {}

asio::awaitable<std::size_t> tcp_transport::read_some(asio::mutable_buffer buf,
                                                      std::error_code& ec) {
    co_return co_await socket_.async_read_some(buf, asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<void> tcp_transport::write_all(asio::const_buffer buf, std::error_code& ec) {
    co_await asio::async_write(socket_, buf, asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<void> tcp_transport::close(std::error_code& ec) {
    // Everything written is already in the kernel: send FIN, then release the socket.
    socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);
    std::error_code ignored;
    socket_.close(ignored);
    co_return;
}

void tcp_transport::abort() noexcept {
    std::error_code ignored;
    socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
}

}  // namespace rmqtt::broker
