#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "net/transport.hpp"
#include "rmqtt/broker/config.hpp"
#include "session/interned_string.hpp"

namespace rmqtt::broker {

// A listener's connection counts. Shared with each of its connections: at shutdown a connection
// can be destroyed with the worker contexts, after the listener is gone.
struct listener_counters {
    std::atomic<std::int64_t> connections{0};
    std::atomic<std::int64_t> handshaking{0};  // accepted, CONNACK not yet sent
    // mqtt.max_sessions, set before the listener starts: the connections read it here rather
    // than keep a copy each. So they read the listener's settings and its interned id (set by
    // the listener).
    std::size_t max_sessions = 0;
    const listener_config* config = nullptr;
    interned_string listener_id;
};

// Accepts connections for one configured listener: enforces max_connections and
// max_handshaking_limit, applies the socket options, makes the transport with the listener's
// factory on the worker chosen for the connection, and hands it to `on_accept`. The acceptor runs
// on a worker's context (the server's first worker): the connections that worker serves need no
// hand-off to another thread, and no thread of its own wakes for each connection.
class listener {
  public:
    // The worker a new connection lives on (round-robin).
    using worker_picker = std::function<asio::any_io_executor()>;
    using accept_handler = std::function<void(std::unique_ptr<transport>, asio::any_io_executor,
                                              std::shared_ptr<listener_counters>)>;

    // Throws std::runtime_error for a listener kind this build cannot serve, or whose TLS files
    // cannot be used.
    listener(const listener_config& cfg, asio::io_context& accept_context, worker_picker workers,
             accept_handler on_accept);
    // Closes the listening socket: only once accept_context stopped running, or before start().
    ~listener();

    // Binds and listens; throws std::runtime_error naming the address on failure.
    void open();
    void start();
    // Stops accepting (the socket is closed on accept_context's thread); open connections are
    // unaffected. From any thread.
    void stop();

    const listener_config& cfg() const noexcept { return cfg_; }
    std::uint16_t bound_port() const noexcept { return port_; }  // after open()
    const std::shared_ptr<listener_counters>& counters() const noexcept { return counters_; }

  private:
    void accept_next();
    void on_accepted(accepted_socket socket);

    const listener_config& cfg_;
    asio::ip::tcp::acceptor acceptor_;
    std::unique_ptr<transport_factory> factory_;
    worker_picker workers_;
    accept_handler on_accept_;
    asio::ip::tcp protocol_ = asio::ip::tcp::v4();  // of the listening socket
    std::uint16_t port_ = 0;
    std::atomic<bool> stopped_{false};
    std::unique_ptr<asio::steady_timer> pause_;  // the back-off after a failed accept
    std::shared_ptr<listener_counters> counters_ = std::make_shared<listener_counters>();
};

// The transport factory for a listener kind: tcp, tls, ws (WebSocket over tcp) and wss
// (WebSocket over tls), each with the PROXY protocol when the listener asks for it. Throws
// std::runtime_error for a tls or wss listener whose certificate, key or CA file cannot be used
// (naming the file).
std::unique_ptr<transport_factory> make_transport_factory(const listener_config& cfg);

}  // namespace rmqtt::broker
