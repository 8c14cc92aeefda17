#include "net/fd_reactor.hpp"

#include "net/tcp_transport.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <asio/post.hpp>
#include <cerrno>
#include <stdexcept>

namespace rmqtt::broker {

asio::execution_context::id fd_reactor::id;

fd_reactor::fd_reactor(asio::execution_context& ctx)
    : asio::execution_context::service(ctx), context_(static_cast<asio::io_context&>(ctx)) {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    if (epoll_fd_ < 0) {
        throw std::system_error(errno, std::system_category(), "rmqttd: epoll_create1");
    }
    // The descriptor owns epoll_fd_ from here on (it closes it).
    descriptor_ = std::make_unique<asio::posix::stream_descriptor>(context_, epoll_fd_);
}

fd_reactor::~fd_reactor() = default;

std::uint32_t fd_reactor::add(int fd, tcp_transport& w, std::error_code& ec) {
    ec.clear();
    if (shut_down_) {
        ec = asio::error::operation_aborted;
        return 0;
    }
    std::uint32_t slot;
    if (!free_.empty()) {
        slot = free_.back();
        free_.pop_back();
    } else {
        if (slots_.size() >= max_slots) {
            ec = std::make_error_code(std::errc::too_many_files_open);
            return 0;
        }
        slot = static_cast<std::uint32_t>(slots_.size());
        slots_.push_back(nullptr);
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = slot;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
        ec = std::error_code(errno, std::system_category());
        free_.push_back(slot);
        return 0;
    }
    slots_[slot] = &w;
    if (!armed_) arm();
    return slot;
}

void fd_reactor::watch_writable(int fd, std::uint32_t slot, std::error_code& ec) {
    ec.clear();
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.u64 = slot;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev) != 0)
        ec = std::error_code(errno, std::system_category());
}

void fd_reactor::remove(std::uint32_t slot) noexcept {
    if (slot >= slots_.size() || !slots_[slot]) return;
    slots_[slot] = nullptr;
    // push_back can throw only for want of memory; a slot lost then is 8 bytes, not a fault.
    try {
        (delivering_ ? retired_ : free_).push_back(slot);
    } catch (...) {
    }
}

// The epoll set is waited for as a descriptor of asio's reactor, which is edge-triggered and
// whose waits are not speculative: a wait sees only readiness that comes after it starts. So the
// set is drained (epoll_wait returns less than a full batch) in the same handler that starts the
// next wait; the context has one thread, so no readiness can be reported in between. After a full
// batch the handler is posted again instead, to let other handlers run between batches.
void fd_reactor::arm() {
    armed_ = true;
    descriptor_->async_wait(asio::posix::stream_descriptor::wait_read,
                            [this](std::error_code ec) { on_ready(ec); });
}

void fd_reactor::on_ready(std::error_code ec) {
    armed_ = false;
    if (ec || shut_down_) return;
    epoll_event events[batch_size];
    int n;
    do {
        n = ::epoll_wait(epoll_fd_, events, batch_size, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0) n = 0;  // EBADF / EINVAL: cannot happen with our own descriptor
    delivering_ = true;
    for (int i = 0; i < n; ++i) {
        const auto slot = events[i].data.u64;
        if (slot < slots_.size() && slots_[slot]) slots_[slot]->on_events(events[i].events);
    }
    delivering_ = false;
    free_.insert(free_.end(), retired_.begin(), retired_.end());
    retired_.clear();
    if (shut_down_) return;
    if (n == batch_size) {
        armed_ = true;  // the posted handler plays the part of the wait
        asio::post(context_, [this] { on_ready({}); });
    } else {
        arm();
    }
}

void fd_reactor::shutdown() {
    shut_down_ = true;
    // A transport's on_shutdown may destroy its owner, whose destructor removes transports
    // (never adds: add() refuses from now on), so slots are checked one by one.
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        if (auto* w = slots_[i]) w->on_shutdown();
    }
    descriptor_.reset();  // closes epoll_fd_; a pending wait is destroyed by asio's shutdown
}

}  // namespace rmqtt::broker
