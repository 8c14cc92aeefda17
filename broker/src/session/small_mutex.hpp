#pragma once

#include <atomic>
#include <cstdint>

namespace rmqtt::broker {

// A mutex in 4 bytes (std::mutex is 40), for objects there are many of (a session has two):
// Drepper's three-state futex mutex on std::atomic's wait / notify. 0: free, 1: locked,
// 2: locked with (possible) waiters. Not recursive; Lockable, so std::lock_guard and
// std::unique_lock work with it.
class small_mutex {
  public:
    small_mutex() = default;
    small_mutex(const small_mutex&) = delete;
    small_mutex& operator=(const small_mutex&) = delete;

    void lock() noexcept {
        std::uint32_t c = 0;
        if (state_.compare_exchange_strong(c, 1, std::memory_order_acquire,
                                           std::memory_order_relaxed))
            return;
        if (c != 2) c = state_.exchange(2, std::memory_order_acquire);
        while (c != 0) {
            state_.wait(2, std::memory_order_relaxed);
            c = state_.exchange(2, std::memory_order_acquire);
        }
    }
    bool try_lock() noexcept {
        std::uint32_t c = 0;
        return state_.compare_exchange_strong(c, 1, std::memory_order_acquire,
                                              std::memory_order_relaxed);
    }
    void unlock() noexcept {
        if (state_.exchange(0, std::memory_order_release) == 2) state_.notify_one();
    }

  private:
    std::atomic<std::uint32_t> state_{0};
};

}  // namespace rmqtt::broker
