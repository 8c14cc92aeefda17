#pragma once

#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include <atomic>
#include <memory>
#include <string>

#include "rmqtt/broker/config.hpp"

namespace rmqtt::broker {

class server;
struct listener_counters;  // connection.hpp

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

  private:
    asio::awaitable<void> accept_loop();

    server& server_;
    const listener_config& cfg_;
    asio::ip::tcp::acceptor acceptor_;
    std::shared_ptr<listener_counters> counters_ = std::make_shared<listener_counters>();
};

}  // namespace rmqtt::broker
