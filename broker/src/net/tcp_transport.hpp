#pragma once

#include <asio/ip/tcp.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "net/proxy_reader.hpp"
#include "net/transport.hpp"

namespace rmqtt::broker {

// MQTT over plain TCP; with the PROXY protocol on, the header is read first (handshake()).
class tcp_transport final : public transport {
  public:
    tcp_transport(tcp_socket socket, proxy_settings proxy);
    asio::awaitable<void> handshake(std::error_code& ec) override;
    asio::awaitable<std::size_t> read_some(asio::mutable_buffer buf, std::error_code& ec) override;
    bool reads_by_readiness() const noexcept override { return true; }
    std::size_t read_available(asio::mutable_buffer buf, std::error_code& ec) override;
    void on_readable(readable_fn fn, std::shared_ptr<void> owner) override;
    asio::awaitable<void> write_all(asio::const_buffer buf, std::error_code& ec) override;
    asio::awaitable<void> close(std::error_code& ec) override;
    void abort() noexcept override;
    std::string remote_address() const override;
    const char* kind() const noexcept override { return "tcp"; }

  private:
    // The readiness wait's operation is made in wait_space_ (through the handler's associated
    // allocator), not on the heap: an idle connection holds that wait for its whole life, and
    // asio's per-thread recycling would otherwise hand it a larger block freed by another
    // operation (an accept, a coroutine frame), wasting the rest of that block. One wait at a
    // time; a second one (never, by the contract of on_readable) would go to the heap.
    class readable_handler;
    template <class T>
    class wait_allocator;
    void* wait_allocate(std::size_t size, std::size_t align);
    void wait_deallocate(void* p) noexcept;

    tcp_socket socket_;
    // The client's address from a PROXY header; without one, the socket's peer (asked when
    // remote_address() is called, once per connection: no string kept in every transport).
    std::unique_ptr<std::string> proxied_;
    // The listener's proxy_settings, in one word with the flag below (168 bytes in all, not 184).
    std::uint32_t proxy_timeout_ms_;
    bool proxy_enabled_;
    bool wait_space_used_ = false;
    alignas(void*) unsigned char wait_space_[104];
};

class tcp_transport_factory final : public transport_factory {
  public:
    explicit tcp_transport_factory(proxy_settings proxy = {}) : proxy_(proxy) {}
    std::unique_ptr<transport> make(tcp_socket socket) override {
        return std::make_unique<tcp_transport>(std::move(socket), proxy_);
    }

  private:
    proxy_settings proxy_;
};

}  // namespace rmqtt::broker
