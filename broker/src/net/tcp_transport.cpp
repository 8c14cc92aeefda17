#include "net/tcp_transport.hpp"

#include <algorithm>
#include <chrono>

#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include "net/peer_address.hpp"

namespace rmqtt::broker {

tcp_transport::tcp_transport(tcp_socket socket, proxy_settings proxy)
    : socket_(std::move(socket)),
      proxy_timeout_ms_(static_cast<std::uint32_t>(
          std::clamp<std::int64_t>(proxy.timeout.count(), 0, std::int64_t{UINT32_MAX}))),
      proxy_enabled_(proxy.enabled) {}

std::string tcp_transport::remote_address() const {
    return proxied_ ? *proxied_ : peer_address(socket_);
}

asio::awaitable<void> tcp_transport::handshake(std::error_code& ec) {
    ec.clear();
    if (!proxy_enabled_) co_return;
    proxy_header h;
    co_await read_proxy_header(socket_, std::chrono::milliseconds(proxy_timeout_ms_), h, ec);
    if (!ec) proxied_ = std::make_unique<std::string>(client_address(socket_, h));
}

asio::awaitable<std::size_t> tcp_transport::read_some(asio::mutable_buffer buf,
                                                      std::error_code& ec) {
    co_return co_await socket_.async_read_some(buf, asio::redirect_error(asio::use_awaitable, ec));
}

std::size_t tcp_transport::read_available(asio::mutable_buffer buf, std::error_code& ec) {
    // A non-blocking receive: asio's own async operations are unaffected by the flag (they put
    // the descriptor in non-blocking mode anyway).
    if (!socket_.non_blocking()) socket_.non_blocking(true, ec);
    if (ec) return 0;
    return socket_.read_some(buf, ec);
}

template <class T>
class tcp_transport::wait_allocator {
  public:
    using value_type = T;
    explicit wait_allocator(tcp_transport* t) noexcept : t_(t) {}
    template <class U>
    wait_allocator(const wait_allocator<U>& other) noexcept : t_(other.t_) {}
    T* allocate(std::size_t n) {
        return static_cast<T*>(t_->wait_allocate(n * sizeof(T), alignof(T)));
    }
    void deallocate(T* p, std::size_t) noexcept { t_->wait_deallocate(p); }
    friend bool operator==(const wait_allocator& a, const wait_allocator& b) noexcept {
        return a.t_ == b.t_;
    }
    friend bool operator!=(const wait_allocator& a, const wait_allocator& b) noexcept {
        return a.t_ != b.t_;
    }

  private:
    template <class U>
    friend class wait_allocator;
    tcp_transport* t_;
};

// asio frees the operation's memory after moving the handler out of it and before calling it, so
// wait_space_ is free again when `fn` starts the next wait; the handler's `owner` keeps this
// transport alive until then.
class tcp_transport::readable_handler {
  public:
    using allocator_type = wait_allocator<void>;
    readable_handler(tcp_transport* t, readable_fn fn, std::shared_ptr<void> owner) noexcept
        : t_(t), fn_(fn), owner_(std::move(owner)) {}
    allocator_type get_allocator() const noexcept { return allocator_type(t_); }
    void operator()(std::error_code ec) { fn_(owner_.get(), ec); }

  private:
    tcp_transport* t_;
    readable_fn fn_;
    std::shared_ptr<void> owner_;
};

void* tcp_transport::wait_allocate(std::size_t size, std::size_t align) {
    if (!wait_space_used_ && size <= sizeof wait_space_ && align <= alignof(void*)) {
        wait_space_used_ = true;
        return wait_space_;
    }
    return ::operator new(size);
}

void tcp_transport::wait_deallocate(void* p) noexcept {
    if (p == static_cast<void*>(wait_space_))
        wait_space_used_ = false;
    else
        ::operator delete(p);
}

void tcp_transport::on_readable(readable_fn fn, std::shared_ptr<void> owner) {
    // A readiness wait is not speculative: with the reactor's edge-triggered epoll it completes
    // only on data that arrives after it starts, or after the last epoll_wait. That is sound
    // here because the caller just saw would_block (the receive queue was empty) and the
    // connection's io_context runs on one thread, so no other thread's epoll_wait can take the
    // edge of newer data before this wait is queued.
    socket_.async_wait(tcp_socket::wait_read, readable_handler(this, fn, std::move(owner)));
}

asio::awaitable<void> tcp_transport::write_all(asio::const_buffer buf, std::error_code& ec) {
    // Most writes fit in the socket's send buffer: a non-blocking send first, without an
    // asynchronous operation (its allocation, and its completion through the coroutine's
    // executor); only what it leaves is written asynchronously.
    ec.clear();
    if (!socket_.non_blocking()) socket_.non_blocking(true, ec);
    if (!ec) {
        const std::size_t n = socket_.write_some(buf, ec);
        if (!ec) {
            buf += n;
            if (buf.size() == 0) co_return;
        } else if (ec != asio::error::would_block) {
            co_return;
        }
    }
    ec.clear();
    co_await asio::async_write(socket_, buf, asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<void> tcp_transport::close(std::error_code& ec) {
    // Everything written is already in the kernel: send FIN, then release the socket.
    socket_.shutdown(tcp_socket::shutdown_send, ec);
    std::error_code ignored;
    socket_.close(ignored);
    co_return;
}

void tcp_transport::abort() noexcept {
    std::error_code ignored;
    socket_.shutdown(tcp_socket::shutdown_both, ignored);
    socket_.close(ignored);
}

}  // namespace rmqtt::broker
