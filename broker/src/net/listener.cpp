#include "net/listener.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <cerrno>
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

listener::listener(const listener_config& cfg, asio::io_context& accept_context,
                   worker_picker workers, accept_handler on_accept)
    : cfg_(cfg),
      acceptor_(accept_context),
      factory_(make_transport_factory(cfg)),
      workers_(std::move(workers)),
      on_accept_(std::move(on_accept)) {}

listener::~listener() {
    stop();
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
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(cfg_.backlog, ec);
    if (ec) throw std::runtime_error("cannot listen on " + where + ": " + ec.message());
}

std::uint16_t listener::bound_port() const {
    std::error_code ec;
    auto ep = acceptor_.local_endpoint(ec);
    return ec ? cfg_.port : ep.port();
}

void listener::start() {
    asio::co_spawn(acceptor_.get_executor(), accept_loop(), asio::detached);
}

void listener::stop() {
    std::error_code ignored;
    acceptor_.close(ignored);
}

asio::awaitable<void> listener::accept_loop() {
    std::error_code ec;
    while (acceptor_.is_open()) {
        auto ex = workers_();
        asio::ip::tcp::socket socket(ex);  // opened on the worker that will serve it
        co_await acceptor_.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
            // Out of file descriptors and similar: back off instead of spinning.
            spdlog::warn("listener.{}: accept failed: {}", cfg_.id(), ec.message());
            asio::steady_timer pause(acceptor_.get_executor(), std::chrono::milliseconds(100));
            co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            continue;
        }
        if (cfg_.max_connections != 0 && counters_->connections.load(std::memory_order_relaxed) >=
                                             static_cast<std::int64_t>(cfg_.max_connections)) {
            spdlog::warn("listener.{}: max_connections ({}) reached; refusing a connection",
                         cfg_.id(), cfg_.max_connections);
            socket.close(ec);
            continue;
        }
        if (cfg_.max_handshaking_limit != 0 &&
            counters_->handshaking.load(std::memory_order_relaxed) >=
                static_cast<std::int64_t>(cfg_.max_handshaking_limit)) {
            spdlog::warn("listener.{}: max_handshaking_limit ({}) reached; refusing a connection",
                         cfg_.id(), cfg_.max_handshaking_limit);
            socket.close(ec);
            continue;
        }
        if (cfg_.nodelay) socket.set_option(asio::ip::tcp::no_delay(true), ec);
        if (cfg_.tcp_keepalive) socket.set_option(asio::socket_base::keep_alive(true), ec);
        on_accept_(factory_->make(std::move(socket)), ex, counters_);
    }
}

}  // namespace rmqtt::broker
