#include "net/listener.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <cerrno>
#include <stdexcept>
#include <system_error>

#include "net/tcp_transport.hpp"
#include "net/tls_transport.hpp"
#include "net/ws_transport.hpp"

namespace rmqtt::broker {

std::unique_ptr<transport_factory> make_transport_factory(const listener_config& cfg) {
    const proxy_settings proxy{cfg.proxy_protocol, cfg.proxy_protocol_timeout};
    switch (cfg.kind) {
        case listener_kind::tcp:
            return std::make_unique<tcp_transport_factory>(proxy);
        case listener_kind::tls:
            return std::make_unique<tls_transport_factory>(cfg);
        case listener_kind::ws:
            return make_ws_transport_factory(cfg, std::make_unique<tcp_transport_factory>(proxy));
        case listener_kind::wss:
            // ws over tls over tcp: the TLS handshake (after any PROXY header), then the upgrade.
            return make_ws_transport_factory(cfg, std::make_unique<tls_transport_factory>(cfg));
    }
    throw std::runtime_error("listener." + cfg.id() + ": unknown listener kind");
}

namespace {

// Linux gives an accepted socket the listening socket's TCP_NODELAY and SO_KEEPALIVE: set once on
// the listening socket, they cost no system calls per connection.
#ifdef __linux__
constexpr bool accepted_sockets_inherit_options = true;
#else
constexpr bool accepted_sockets_inherit_options = false;
#endif

template <typename Socket>
void set_socket_options(Socket& s, const listener_config& cfg, std::error_code& ec) {
    if (!ec && cfg.nodelay) s.set_option(asio::ip::tcp::no_delay(true), ec);
    if (!ec && cfg.tcp_keepalive) s.set_option(asio::socket_base::keep_alive(true), ec);
}

// Workers are io_contexts: an accepted socket keeps that io_context's executor (tcp_socket).
asio::io_context::executor_type worker_executor(const asio::any_io_executor& ex) {
    if (const auto* t = ex.target<asio::io_context::executor_type>()) return *t;
    throw std::logic_error("rmqttd: a listener's worker is not an io_context");
}

}  // namespace

listener::listener(const listener_config& cfg, asio::io_context& accept_context,
                   worker_picker workers, accept_handler on_accept)
    : cfg_(cfg),
      acceptor_(accept_context),
      factory_(make_transport_factory(cfg)),
      workers_(std::move(workers)),
      on_accept_(std::move(on_accept)) {}

listener::~listener() {
    std::error_code ignored;
    acceptor_.close(ignored);
}

void listener::open() {
    std::error_code ec;
    auto address = asio::ip::make_address(cfg_.host, ec);
    if (ec) throw std::runtime_error("listener." + cfg_.id() + ": bad address '" + cfg_.host + "'");
    asio::ip::tcp::endpoint ep(address, cfg_.port);
    const std::string where =
        "listener." + cfg_.id() + " (" + cfg_.host + ":" + std::to_string(cfg_.port) + ")";
    acceptor_.open(ep.protocol(), ec);
    if (!ec && cfg_.reuseaddr) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && cfg_.reuseport) {  // before bind: other SO_REUSEPORT sockets may share the port
        const int on = 1;
        if (::setsockopt(acceptor_.native_handle(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) !=
            0) {
            ec = std::error_code(errno, std::system_category());
        }
    }
    if (accepted_sockets_inherit_options) set_socket_options(acceptor_, cfg_, ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(cfg_.backlog, ec);
    if (!ec) port_ = acceptor_.local_endpoint(ec).port();
    if (ec) {
        std::error_code ignored;
        acceptor_.close(ignored);
        throw std::runtime_error("cannot listen on " + where + ": " + ec.message());
    }
}

void listener::start() {
    asio::post(acceptor_.get_executor(), [this] { accept_next(); });
}

void listener::stop() {
    stopped_.store(true, std::memory_order_release);
    // The acceptor is used on its context's thread only. The closing cancels the accept.
    asio::post(acceptor_.get_executor(), [this] {
        std::error_code ignored;
        acceptor_.close(ignored);
    });
}

// The accept loop is a chain of callbacks, not a coroutine: a coroutine's co_await on
// async_accept allocates a frame of about 240 bytes per accepted connection, and those blocks,
// freed between the connections' long-lived objects, stayed behind as holes in the worker's heap
// (about 75 bytes of free but resident memory per idle connection). The accepted socket is opened
// on the worker that will serve it.
void listener::accept_next() {
    if (!acceptor_.is_open()) return;
    acceptor_.async_accept(
        worker_executor(workers_()),
        [this](std::error_code ec, tcp_socket socket) { on_accepted(ec, std::move(socket)); });
}

void listener::on_accepted(std::error_code ec, tcp_socket socket) {
    if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
        // Out of file descriptors and similar: back off instead of spinning.
        spdlog::warn("listener.{}: accept failed: {}", cfg_.id(), ec.message());
        if (!pause_) pause_ = std::make_unique<asio::steady_timer>(acceptor_.get_executor());
        pause_->expires_after(std::chrono::milliseconds(100));
        pause_->async_wait([this](std::error_code e) {
            if (e != asio::error::operation_aborted) accept_next();
        });
        return;
    }
    if (stopped_.load(std::memory_order_acquire)) {  // stop()'s closing is on its way
        socket.close(ec);
        return;
    }
    if (cfg_.max_connections != 0 && counters_->connections.load(std::memory_order_relaxed) >=
                                         static_cast<std::int64_t>(cfg_.max_connections)) {
        spdlog::warn("listener.{}: max_connections ({}) reached; refusing a connection", cfg_.id(),
                     cfg_.max_connections);
        socket.close(ec);
    } else if (cfg_.max_handshaking_limit != 0 &&
               counters_->handshaking.load(std::memory_order_relaxed) >=
                   static_cast<std::int64_t>(cfg_.max_handshaking_limit)) {
        spdlog::warn("listener.{}: max_handshaking_limit ({}) reached; refusing a connection",
                     cfg_.id(), cfg_.max_handshaking_limit);
        socket.close(ec);
    } else {
        if (!accepted_sockets_inherit_options) set_socket_options(socket, cfg_, ec);
        // A socket option that cannot be set does not refuse the connection.
        asio::any_io_executor ex = socket.get_executor();
        on_accept_(factory_->make(std::move(socket)), std::move(ex), counters_);
    }
    accept_next();
}

}  // namespace rmqtt::broker
