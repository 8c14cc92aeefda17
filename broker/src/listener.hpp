#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include <atomic>
#include <memory>
#include <string>

#include "rmqtt/broker/config.hpp"

namespace rmqtt::broker {

class server;

// Accepts connections for one configured listener and hands each one to a worker, round-robin.
// The acceptor runs on the server's main context; sockets are opened on the chosen worker.
class listener {
  public:
    listener(server& srv, const listener_config& cfg, asio::io_context& accept_context);
    ~listener();

    // Binds and listens; throws std::system_error with the address on failure.
    void open();
    void start();
    void stop();  // stops accepting; open connections are unaffected

    const listener_config& cfg() const noexcept { return cfg_; }
    std::uint16_t bound_port() const;
    std::atomic<std::int64_t>& connection_count() noexcept { return connections_; }
    std::atomic<std::int64_t>& handshaking_count() noexcept { return handshaking_; }

  private:
    asio::awaitable<void> accept_loop();

    server& server_;
    const listener_config& cfg_;
    asio::ip::tcp::acceptor acceptor_;
    std::atomic<std::int64_t> connections_{0};
    std::atomic<std::int64_t> handshaking_{0};  // accepted, CONNACK not yet sent
};

}  // namespace rmqtt::broker
