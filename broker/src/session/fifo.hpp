#pragma once

#include <cstddef>
#include <iterator>
#include <utility>
#include <vector>

namespace rmqtt::broker {

// A FIFO on a std::vector and a head index, for per-connection and per-session queues that are
// empty or short most of the time: an empty one allocates nothing (libstdc++'s std::deque
// allocates about 600 bytes as soon as it is constructed), a short one one block.
//
// Popped slots are reset to T{} at once (they may hold a message or a callback); the consumed
// front is erased when it is at least half of the storage, so a queue that never drains stays
// bounded and push/pop stay amortised O(1). References are invalidated by push_back and
// pop_front, as for std::vector. Not thread-safe.
template <class T>
class fifo {
  public:
    using iterator = typename std::vector<T>::iterator;

    bool empty() const noexcept { return head_ == items_.size(); }
    std::size_t size() const noexcept { return items_.size() - head_; }

    T& front() { return items_[head_]; }
    // The i-th element from the front.
    T& operator[](std::size_t i) { return items_[head_ + i]; }
    iterator begin() { return items_.begin() + static_cast<std::ptrdiff_t>(head_); }
    iterator end() { return items_.end(); }

    void push_back(T v) { items_.push_back(std::move(v)); }

    // Puts [first, last) before the front, in order.
    template <class It>
    void insert_front(It first, It last) {
        compact();
        items_.insert(items_.begin(), first, last);
    }

    void pop_front() {
        items_[head_] = T{};
        ++head_;
        if (head_ == items_.size()) {
            clear();
        } else if (head_ >= min_compact && head_ * 2 >= items_.size()) {
            compact();
        }
    }

    void clear() {
        items_.clear();
        head_ = 0;
        // Keep a small block for the next burst; give a large one back.
        if (items_.capacity() > keep_capacity) std::vector<T>().swap(items_);
    }

  private:
    static constexpr std::size_t min_compact = 32;
    static constexpr std::size_t keep_capacity = 16;

    void compact() {
        items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
        head_ = 0;
    }

    std::vector<T> items_;
    std::size_t head_ = 0;
};

}  // namespace rmqtt::broker
