#pragma once

#include <asio/ip/tcp.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "net/fd_reactor.hpp"
#include "net/proxy_reader.hpp"
#include "net/tcp_socket.hpp"
#include "net/transport.hpp"

namespace rmqtt::broker {

// MQTT over plain TCP; with the PROXY protocol on, the header is read first (handshake()).
//
// The socket is a descriptor in its worker's fd_reactor, not an asio socket: an idle connection
// waiting to read costs this object (56 bytes) and a reactor slot, not asio's per-socket state
// and wait operation (about 270 bytes more). Reads and writes are non-blocking system calls; the
// reactor's edge-triggered events say when to try again. Used on the worker's thread only.
class tcp_transport final : public transport {
  public:
    tcp_transport(accepted_socket socket, proxy_settings proxy);
    ~tcp_transport() override;
    asio::awaitable<void> handshake(std::error_code& ec) override;
    bool has_handshake() const noexcept override;  // with the PROXY protocol only
    asio::awaitable<std::size_t> read_some(asio::mutable_buffer buf, std::error_code& ec) override;
    bool reads_by_readiness() const noexcept override { return true; }
    std::size_t read_available(asio::mutable_buffer buf, std::error_code& ec) override;
    void on_readable(readable_fn fn, std::shared_ptr<void> owner) override;
    asio::awaitable<void> write_all(asio::const_buffer buf, std::error_code& ec) override;
    std::size_t write_available(asio::const_buffer buf, std::error_code& ec) override;
    asio::awaitable<void> close(std::error_code& ec) override;
    void abort() noexcept override;
    std::string remote_address() const override;
    const char* kind() const noexcept override { return "tcp"; }

  private:
    friend class fd_reactor;
    void on_events(std::uint32_t epoll_events);
    void on_shutdown() noexcept;

    // A coroutine waiting in read_some() or write_all(); its completion handler, type-erased.
    class io_wait;
    template <class Handler>
    class io_wait_of;
    // What an idle connection does not need, made on use: the PROXY settings (made with the
    // transport when the listener expects a header) and the client address from it; the
    // coroutine waits (read_some: WebSocket over TCP; write_all: a full socket buffer).
    struct extra;
    extra& more();
    asio::awaitable<void> wait_ready(bool for_write, std::error_code& ec);

    bool registered(std::error_code& ec);  // registers with the reactor on first use
    void close_descriptor() noexcept;      // leaves the reactor, closes; pending waits abort
    void post_readable(readable_fn fn, std::shared_ptr<void> owner, std::error_code ec);

    fd_reactor& reactor_;
    std::unique_ptr<extra> extra_;
    readable_fn read_fn_ = nullptr;  // on_readable()'s, with the owner it keeps alive
    std::shared_ptr<void> read_owner_;
    int fd_;
    // The reactor slot and the flags, in one word.
    std::uint32_t slot_ : 24 = 0;
    std::uint32_t v6_ : 1;
    std::uint32_t registered_ : 1 = 0;
    // Bytes may be waiting: at first, and after an event, until a read found the socket empty
    // (would_block, or fewer bytes than asked for: see read_available).
    std::uint32_t readable_ : 1 = 1;
    std::uint32_t writable_ : 1 = 1;
    std::uint32_t in_handshake_ : 1 = 0;  // an asio socket reads the PROXY header on fd_
    std::uint32_t aborted_ : 1 = 0;
    std::uint32_t hung_up_ : 1 = 0;        // an event reported the peer's end of stream or an error
    std::uint32_t write_watched_ : 1 = 0;  // registered for EPOLLOUT (after a full socket)
};

class tcp_transport_factory final : public transport_factory {
  public:
    explicit tcp_transport_factory(proxy_settings proxy = {}) : proxy_(proxy) {}
    std::unique_ptr<transport> make(accepted_socket socket) override {
        return std::make_unique<tcp_transport>(std::move(socket), proxy_);
    }

  private:
    proxy_settings proxy_;
};

}  // namespace rmqtt::broker
