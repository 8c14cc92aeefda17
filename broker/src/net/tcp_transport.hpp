#pragma once

#include <asio/ip/tcp.hpp>

#include "net/transport.hpp"

namespace rmqtt::broker {

class tcp_transport final : public transport {
  public:
    explicit tcp_transport(asio::ip::tcp::socket socket);
    asio::awaitable<std::size_t> read_some(asio::mutable_buffer buf, std::error_code& ec) override;
    asio::awaitable<void> write_all(asio::const_buffer buf, std::error_code& ec) override;
    asio::awaitable<void> close(std::error_code& ec) override;
    void abort() noexcept override;
    std::string remote_address() const override { return remote_; }
    const char* kind() const noexcept override { return "tcp"; }

  private:
    asio::ip::tcp::socket socket_;
    std::string remote_;
};

class tcp_transport_factory final : public transport_factory {
  public:
    std::unique_ptr<transport> make(asio::ip::tcp::socket socket) override {
        return std::make_unique<tcp_transport>(std::move(socket));
    }
};

}  // namespace rmqtt::broker
