#include "net/listener.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
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

[[maybe_unused]] void set_fd_options(int fd, const listener_config& cfg, std::error_code& ec) {
    const int on = 1;
    if (!ec && cfg.nodelay && ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0)
        ec = std::error_code(errno, std::system_category());
    if (!ec && cfg.tcp_keepalive && ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) != 0)
        ec = std::error_code(errno, std::system_category());
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
      on_accept_(std::move(on_accept)) {
    counters_->config = &cfg_;
    counters_->listener_id = interned_string(cfg_.id());
}

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
    protocol_ = ep.protocol();
    if (!ec) acceptor_.listen(cfg_.backlog, ec);
    if (!ec) acceptor_.non_blocking(true, ec);  // accept_next() calls accept4() itself
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

// The accept loop is a chain of callbacks, not a coroutine: a coroutine's co_await allocates a
// frame of about 240 bytes per accepted connection, and those blocks, freed between the
// connections' long-lived objects, stayed behind as holes in the worker's heap. It accepts with
// accept4() (non-blocking and close-on-exec in the same call) until the queue is empty, then
// waits for the listening socket to be readable; the descriptor goes to the worker that will
// serve it. At most accept_batch at a time, then the other handlers of this context run.
void listener::accept_next() {
    constexpr int accept_batch = 64;
    for (int i = 0; i < accept_batch; ++i) {
        if (!acceptor_.is_open() || stopped_.load(std::memory_order_acquire)) return;
        const int fd =
            ::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            on_accepted(accepted_socket(fd, worker_executor(workers_()), protocol_));
            continue;
        }
        const int e = errno;
        if (e == EINTR || e == ECONNABORTED || e == EPROTO) continue;  // that client is gone
        if (e == EAGAIN || e == EWOULDBLOCK) {
            // The acceptor's wait is not speculative: it sees connections that come after it
            // starts, which is right after the queue was found empty, on this one thread.
            acceptor_.async_wait(asio::ip::tcp::acceptor::wait_read, [this](std::error_code ec) {
                if (!ec) accept_next();
            });
            return;
        }
        // Out of file descriptors and similar: back off instead of spinning.
        spdlog::warn("listener.{}: accept failed: {}", cfg_.id(),
                     std::error_code(e, std::system_category()).message());
        if (!pause_) pause_ = std::make_unique<asio::steady_timer>(acceptor_.get_executor());
        pause_->expires_after(std::chrono::milliseconds(100));
        pause_->async_wait([this](std::error_code ec) {
            if (ec != asio::error::operation_aborted) accept_next();
        });
        return;
    }
    asio::post(acceptor_.get_executor(), [this] { accept_next(); });
}

void listener::on_accepted(accepted_socket socket) {
    if (cfg_.max_connections != 0 && counters_->connections.load(std::memory_order_relaxed) >=
                                         static_cast<std::int64_t>(cfg_.max_connections)) {
        spdlog::warn("listener.{}: max_connections ({}) reached; refusing a connection", cfg_.id(),
                     cfg_.max_connections);
        return;  // the socket closes
    }
    if (cfg_.max_handshaking_limit != 0 &&
        counters_->handshaking.load(std::memory_order_relaxed) >=
            static_cast<std::int64_t>(cfg_.max_handshaking_limit)) {
        spdlog::warn("listener.{}: max_handshaking_limit ({}) reached; refusing a connection",
                     cfg_.id(), cfg_.max_handshaking_limit);
        return;
    }
    if (!accepted_sockets_inherit_options) {
        // A socket option that cannot be set does not refuse the connection.
        std::error_code ignored;
        set_fd_options(socket.native_handle(), cfg_, ignored);
    }
    asio::any_io_executor ex = socket.executor();
    std::unique_ptr<transport> t;
    try {
        t = factory_->make(std::move(socket));
    } catch (const std::exception& e) {  // out of memory, or asio could not register the socket
        spdlog::warn("listener.{}: cannot take a connection: {}", cfg_.id(), e.what());
        return;
    }
    on_accept_(std::move(t), std::move(ex), counters_);
}

}  // namespace rmqtt::broker
