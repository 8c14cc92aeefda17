#pragma once

#include <asio/ip/tcp.hpp>

#include "net/transport.hpp"

namespace rmqtt::broker {

class tcp_transport final : public transport {
  public:
    explicit tcp_transport(asio::ip::tcp::socket socket);
    asio::awaitable<std::size_t> read_some(asio::mutable_buffer buf, std::error_code& ec) override;
    asio::awaitable<void> write_all(asio::const_buffer buf, std::error_code& ec) override;
    void close() noexcept override;
    std::string remote_address() const override { return remote_; }
    const char* kind() const noexcept override { return "tcp"; }

  private:
    asio::ip::tcp::socket socket_;
    std::string remote_;
};

}  // namespace rmqtt::broker
