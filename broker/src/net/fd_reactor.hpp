#pragma once

#include <asio/execution_context.hpp>
#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>

#include <cstdint>
#include <memory>
#include <system_error>
#include <vector>

namespace rmqtt::broker {

class tcp_transport;

// Readiness of the plain TCP connections of one worker, in an epoll set of our own, itself waited
// for as one descriptor of the worker's io_context.
//
// Why not asio's sockets: asio's reactor keeps a 168-byte descriptor_state per registered socket
// (with a mutex and three operation queues) and, for a wait, an operation of about 100 bytes,
// and it never gives a descriptor_state back to the heap (its object pool keeps freed ones for
// the next socket). An idle MQTT connection waits for readability for hours; here it costs one
// slot (8 bytes) and the few fields of its tcp_transport (the only kind of watcher: a pointer to
// it, not to an interface, keeps a second vtable pointer out of every transport). Connections on
// TLS and WebSocket keep asio's sockets (asio::ssl::stream needs one).
//
// Registrations are edge-triggered (EPOLLIN | EPOLLRDHUP | EPOLLET, and EPOLLOUT once
// watch_writable() asked for it): a watcher is told each time its socket becomes readable (or
// writable), and remembers it until its non-blocking I/O finds nothing (would_block). A new
// socket is writable: with EPOLLOUT from the start, each one accepted cost a round of the
// reactor (its wait, epoll_wait, the re-arm) for an event nobody waited for. One service per
// io_context (asio::use_service<fd_reactor>(ctx)); add(), remove() and the events run on that
// context's thread, which must be one thread.
class fd_reactor final : public asio::execution_context::service {
  public:
    using key_type = fd_reactor;
    static asio::execution_context::id id;
    static constexpr std::uint32_t max_slots = 1u << 24;  // a transport keeps its slot in 24 bits

    explicit fd_reactor(asio::execution_context& ctx);
    ~fd_reactor() override;

    // Registers `fd` for `t` (told through t.on_events(); on_shutdown() when the context shuts
    // down, to drop what keeps owners alive); returns its slot (for remove(), below
    // max_slots), or sets `ec`. on_events runs on the context's thread, from the reactor's
    // handler, and may remove (and destroy) any transport, itself included.
    std::uint32_t add(int fd, tcp_transport& t, std::error_code& ec);
    // Forgets the slot. Call before closing the descriptor, or instead of EPOLL_CTL_DEL when the
    // descriptor is closed right after (closing it leaves the epoll set). Events already read
    // for the slot are not delivered.
    void remove(std::uint32_t slot) noexcept;
    // Adds EPOLLOUT to the registration of `fd` (its `slot`): after a write found the socket
    // full. Readiness that came meanwhile is reported (EPOLL_CTL_MOD checks it).
    void watch_writable(int fd, std::uint32_t slot, std::error_code& ec);
    // Descriptors registered now (slots in use).
    std::size_t size() const noexcept { return slots_.size() - free_.size() - retired_.size(); }

    asio::io_context& context() noexcept { return context_; }

  private:
    void shutdown() override;
    void arm();
    void on_ready(std::error_code ec);

    static constexpr int batch_size = 128;

    asio::io_context& context_;
    int epoll_fd_ = -1;
    std::unique_ptr<asio::posix::stream_descriptor> descriptor_;  // epoll_fd_, in asio's reactor
    std::vector<tcp_transport*> slots_;                           // null: free
    std::vector<std::uint32_t> free_;
    // Slots removed while a batch is delivered: its remaining events may name them, so they are
    // reused only after it.
    std::vector<std::uint32_t> retired_;
    bool delivering_ = false;
    bool armed_ = false;
    bool shut_down_ = false;
};

}  // namespace rmqtt::broker
