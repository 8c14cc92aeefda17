#include "net/tcp_transport.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <optional>

#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include "net/peer_address.hpp"

namespace rmqtt::broker {

namespace {

std::error_code errno_code(int e) {
    if (e == EAGAIN || e == EWOULDBLOCK) return asio::error::would_block;
    return {e, std::system_category()};
}

}  // namespace

class tcp_transport::io_wait {
  public:
    virtual ~io_wait() = default;
    // Resumes the waiting coroutine through its executor (never inline).
    virtual void complete(std::error_code ec) = 0;
};

template <class Handler>
class tcp_transport::io_wait_of final : public io_wait {
  public:
    io_wait_of(Handler h, asio::io_context::executor_type fallback)
        : handler_(std::move(h)), fallback_(fallback) {}
    void complete(std::error_code ec) override {
        auto ex = asio::get_associated_executor(handler_, fallback_);
        asio::post(ex, [h = std::move(handler_), ec]() mutable { h(ec); });
    }

  private:
    Handler handler_;
    asio::io_context::executor_type fallback_;
};

// Every idle TCP connection holds one: 56 bytes, a 64-byte block from malloc.
static_assert(sizeof(tcp_transport) <= 56);

struct tcp_transport::extra {
    std::optional<proxy_settings> proxy;
    std::unique_ptr<std::string> proxied;  // the client's address from the PROXY header
    std::unique_ptr<io_wait> read_wait;
    std::unique_ptr<io_wait> write_wait;
};

tcp_transport::tcp_transport(accepted_socket socket, proxy_settings proxy)
    : reactor_(asio::use_service<fd_reactor>(socket.executor().context())),
      fd_(socket.release()),
      v6_(socket.protocol() == asio::ip::tcp::v6()) {
    if (proxy.enabled) more().proxy = proxy;
}

tcp_transport::extra& tcp_transport::more() {
    if (!extra_) extra_ = std::make_unique<extra>();
    return *extra_;
}

tcp_transport::~tcp_transport() {
    if (registered_) reactor_.remove(slot_);
    if (fd_ >= 0) ::close(fd_);
}

std::string tcp_transport::remote_address() const {
    return extra_ && extra_->proxied ? *extra_->proxied : peer_address(fd_);
}

bool tcp_transport::registered(std::error_code& ec) {
    if (fd_ < 0) {
        ec = aborted_ ? asio::error::operation_aborted : asio::error::bad_descriptor;
        return false;
    }
    if (registered_) return true;
    // Here, on the worker's thread, not in the constructor (which runs on the acceptor's): the
    // reactor's events and this transport's fields then stay on one thread. Registering a socket
    // that already has bytes reports them at once.
    slot_ = reactor_.add(fd_, *this, ec) & (fd_reactor::max_slots - 1);  // add() keeps below it
    if (ec) return false;
    registered_ = true;
    return true;
}

bool tcp_transport::has_handshake() const noexcept {
    return extra_ && extra_->proxy;
}

asio::awaitable<void> tcp_transport::handshake(std::error_code& ec) {
    ec.clear();
    if (!extra_ || !extra_->proxy) co_return;
    const auto timeout = extra_->proxy->timeout;
    // The PROXY header is read through an asio socket on the same descriptor (a connection's
    // first bytes only; its per-socket state goes back when the socket releases it).
    tcp_socket s(reactor_.context().get_executor());
    s.assign(v6_ ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), fd_, ec);
    if (ec) co_return;
    in_handshake_ = true;
    proxy_header h;
    co_await read_proxy_header(s, timeout, h, ec);
    if (!ec) more().proxied = std::make_unique<std::string>(client_address(s, h));
    std::error_code ignored;
    s.release(ignored);
    in_handshake_ = false;
    if (aborted_) {  // abort() came meanwhile: it left the closing to us
        close_descriptor();
        if (!ec) ec = asio::error::operation_aborted;
    }
}

std::size_t tcp_transport::read_available(asio::mutable_buffer buf, std::error_code& ec) {
    ec.clear();
    if (!registered(ec)) return 0;
    if (!readable_) {
        ec = asio::error::would_block;  // an event comes when bytes arrive
        return 0;
    }
    for (;;) {
        const ssize_t n = ::recv(fd_, buf.data(), buf.size(), MSG_DONTWAIT);
        if (n > 0) {
            // Fewer bytes than asked for: the receive queue is empty now, and bytes that arrive
            // later raise an edge-triggered event; the read that would find nothing is saved (a
            // system call per packet a client sends). Not after the peer's end of stream or an
            // error, which raise no further event: the next read reports them.
            if (static_cast<std::size_t>(n) < buf.size() && !hung_up_) readable_ = false;
            return static_cast<std::size_t>(n);
        }
        if (n == 0) {
            ec = buf.size() == 0 ? std::error_code{} : asio::error::eof;
            return 0;
        }
        if (errno == EINTR) continue;
        ec = errno_code(errno);
        if (ec == asio::error::would_block) readable_ = false;
        return 0;
    }
}

asio::awaitable<std::size_t> tcp_transport::read_some(asio::mutable_buffer buf,
                                                      std::error_code& ec) {
    for (;;) {
        const std::size_t n = read_available(buf, ec);
        if (ec != asio::error::would_block) co_return n;
        co_await wait_ready(false, ec);
        if (ec) co_return 0;
    }
}

void tcp_transport::post_readable(readable_fn fn, std::shared_ptr<void> owner, std::error_code ec) {
    asio::post(reactor_.context(),
               [fn, owner = std::move(owner), ec]() mutable { fn(owner.get(), ec); });
}

void tcp_transport::on_readable(readable_fn fn, std::shared_ptr<void> owner) {
    std::error_code ec;
    if (!registered(ec) || readable_) {
        post_readable(fn, std::move(owner), ec);
        return;
    }
    read_fn_ = fn;
    read_owner_ = std::move(owner);
}

asio::awaitable<void> tcp_transport::wait_ready(bool for_write, std::error_code& ec) {
    ec.clear();
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    co_await asio::async_initiate<decltype(token), void(std::error_code)>(
        [this, for_write](auto handler) {
            auto w = std::make_unique<io_wait_of<decltype(handler)>>(
                std::move(handler), reactor_.context().get_executor());
            std::error_code e;
            if (!registered(e) || (for_write ? writable_ : readable_)) {
                w->complete(e);
                return;
            }
            (for_write ? more().write_wait : more().read_wait) = std::move(w);
        },
        token);
}

void tcp_transport::on_events(std::uint32_t events) {
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) hung_up_ = true;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable_ = true;
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) writable_ = true;
    if (extra_) {
        if (writable_ && extra_->write_wait)
            std::exchange(extra_->write_wait, nullptr)->complete({});
        if (readable_ && extra_->read_wait) std::exchange(extra_->read_wait, nullptr)->complete({});
    }
    if (readable_ && read_fn_) {
        // Last: `fn` may end the connection, and this transport with it (the owner is released
        // after `fn` returns, when nothing here is touched any more).
        const auto fn = std::exchange(read_fn_, nullptr);
        const auto owner = std::move(read_owner_);
        fn(owner.get(), {});
    }
}

void tcp_transport::on_shutdown() noexcept {
    // Dropping these may destroy the owner and this transport: into locals first.
    auto owner = std::move(read_owner_);
    read_fn_ = nullptr;
    if (!extra_) return;
    auto r = std::move(extra_->read_wait);
    auto w = std::move(extra_->write_wait);
}

std::size_t tcp_transport::write_available(asio::const_buffer buf, std::error_code& ec) {
    ec.clear();
    std::size_t written = 0;
    while (written < buf.size()) {
        if (!registered(ec)) break;
        const ssize_t n = ::send(fd_, static_cast<const char*>(buf.data()) + written,
                                 buf.size() - written, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n >= 0) {
            written += static_cast<std::size_t>(n);
            continue;
        }
        if (errno == EINTR) continue;
        ec = errno_code(errno);
        if (ec == asio::error::would_block) {
            writable_ = false;
            if (!write_watched_) {
                // From now on the reactor reports writability too (a connection whose socket
                // filled once may fill again); a registration that fails is the write's error.
                std::error_code e;
                reactor_.watch_writable(fd_, slot_, e);
                if (e) {
                    ec = e;
                    break;
                }
                write_watched_ = true;
            }
        }
        break;
    }
    return written;
}

asio::awaitable<void> tcp_transport::write_all(asio::const_buffer buf, std::error_code& ec) {
    ec.clear();
    while (buf.size() > 0) {
        buf += write_available(buf, ec);
        if (ec != asio::error::would_block) co_return;  // all written (no error), or failed
        co_await wait_ready(true, ec);
        if (ec) co_return;
    }
}

void tcp_transport::close_descriptor() noexcept {
    if (registered_) {
        reactor_.remove(slot_);  // closing the descriptor takes it out of the epoll set
        registered_ = false;
    }
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
    readable_ = writable_ = true;  // what is tried now fails at once
    if (extra_) {
        for (auto* w : {&extra_->write_wait, &extra_->read_wait}) {
            if (*w) std::exchange(*w, nullptr)->complete(asio::error::operation_aborted);
        }
    }
    if (read_fn_) {
        post_readable(std::exchange(read_fn_, nullptr), std::move(read_owner_),
                      asio::error::operation_aborted);
    }
}

asio::awaitable<void> tcp_transport::close(std::error_code& ec) {
    // Everything written is already in the kernel: send FIN, then release the socket.
    ec.clear();
    if (fd_ < 0) {
        ec = asio::error::bad_descriptor;
        co_return;
    }
    if (::shutdown(fd_, SHUT_WR) != 0) ec = errno_code(errno);
    if (in_handshake_) {
        aborted_ = true;
        co_return;
    }
    close_descriptor();
}

void tcp_transport::abort() noexcept {
    if (fd_ < 0) return;
    ::shutdown(fd_, SHUT_RDWR);
    aborted_ = true;
    // During the PROXY header the asio socket reading it sees the end of stream; the handshake
    // closes the descriptor after that socket released it (closing it here could let a new
    // connection reuse the number while asio still knows it).
    if (in_handshake_) return;
    close_descriptor();
}

}  // namespace rmqtt::broker
