#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "rmqtt/protocol/packets.hpp"

namespace rmqtt::broker {

struct session_subscription {
    protocol::subscription_options options;
    std::uint32_t subscription_id = 0;
};

// A topic filter as a subscription_table keeps it: 32 bytes like a std::string, but up to 30
// characters are kept inline (a std::string keeps 15, and most filters are longer); a longer one
// is on the heap. Reads as a std::string_view; converts to a std::string.
class filter_string {
  public:
    filter_string() noexcept { buf_[tag] = 0; }
    explicit filter_string(std::string_view s) {
        if (s.size() <= max_inline) {
            if (!s.empty()) std::memcpy(buf_, s.data(), s.size());
            buf_[tag] = static_cast<char>(s.size());
            return;
        }
        char* p = new char[s.size()];
        std::memcpy(p, s.data(), s.size());
        const std::size_t n = s.size();
        std::memcpy(buf_, &p, sizeof p);
        std::memcpy(buf_ + sizeof p, &n, sizeof n);
        buf_[tag] = on_heap;
    }
    filter_string(const filter_string& o) : filter_string(o.view()) {}
    filter_string(filter_string&& o) noexcept {
        std::memcpy(buf_, o.buf_, sizeof buf_);
        o.buf_[tag] = 0;
    }
    filter_string& operator=(const filter_string& o) {
        if (this != &o) *this = filter_string(o);
        return *this;
    }
    filter_string& operator=(filter_string&& o) noexcept {
        if (this != &o) {
            release();
            std::memcpy(buf_, o.buf_, sizeof buf_);
            o.buf_[tag] = 0;
        }
        return *this;
    }
    ~filter_string() { release(); }

    std::string_view view() const noexcept {
        if (buf_[tag] != on_heap) return {buf_, static_cast<std::size_t>(buf_[tag])};
        return {heap_ptr(), heap_size()};
    }
    operator std::string_view() const noexcept { return view(); }
    operator std::string() const { return std::string(view()); }
    std::size_t size() const noexcept { return view().size(); }
    friend bool operator==(const filter_string& a, std::string_view b) noexcept {
        return a.view() == b;
    }

  private:
    static constexpr std::size_t tag = 31;  // buf_[tag]: the inline size, or on_heap
    static constexpr std::size_t max_inline = 30;
    static constexpr char on_heap = 127;

    char* heap_ptr() const noexcept {
        char* p;
        std::memcpy(&p, buf_, sizeof p);
        return p;
    }
    std::size_t heap_size() const noexcept {
        std::size_t n;
        std::memcpy(&n, buf_ + sizeof(char*), sizeof n);
        return n;
    }
    void release() noexcept {
        if (buf_[tag] == on_heap) delete[] heap_ptr();
    }

    alignas(8) char buf_[32];
};
static_assert(sizeof(filter_string) == 32);

// A session's subscriptions by topic filter, sorted by filter, in one heap block made on the
// first subscription and released with the last: the table itself is one pointer. A session has
// few (often one): an entry takes 40 bytes, its filter inline up to 30 characters, where a
// std::map node took 72 and a filter string more. Lookup is a binary search; adding or removing
// one moves the entries behind it. Reads like the std::map it replaced (find, end, contains, at;
// entries are pairs of filter and subscription). Adding or removing invalidates iterators. Not
// thread-safe.
class subscription_table {
  public:
    using value_type = std::pair<filter_string, session_subscription>;
    using const_iterator = const value_type*;

    subscription_table() noexcept = default;
    subscription_table(const subscription_table&) = delete;
    subscription_table& operator=(const subscription_table&) = delete;
    subscription_table(subscription_table&& o) noexcept
        : block_(std::exchange(o.block_, nullptr)) {}
    subscription_table& operator=(subscription_table&& o) noexcept {
        if (this != &o) {
            clear();
            block_ = std::exchange(o.block_, nullptr);
        }
        return *this;
    }
    ~subscription_table() { clear(); }

    const_iterator begin() const noexcept { return block_ ? items() : nullptr; }
    const_iterator end() const noexcept { return block_ ? items() + block_->size : nullptr; }
    std::size_t size() const noexcept { return block_ ? block_->size : 0; }
    bool empty() const noexcept { return size() == 0; }

    const_iterator find(std::string_view filter) const {
        const auto it = lower_bound(filter);
        return it != end() && it->first.view() == filter ? it : end();
    }
    bool contains(std::string_view filter) const { return find(filter) != end(); }
    const session_subscription& at(std::string_view filter) const {
        const auto it = find(filter);
        if (it == end()) throw std::out_of_range("subscription_table::at");
        return it->second;
    }

    // Adds or replaces the subscription of `filter`; true when it is new.
    bool insert_or_assign(std::string_view filter, const session_subscription& s) {
        const auto pos = static_cast<std::size_t>(lower_bound(filter) - begin());
        if (pos != size() && items()[pos].first.view() == filter) {
            items()[pos].second = s;
            return false;
        }
        value_type fresh(filter_string(filter), s);  // before anything moves (may throw)
        if (size() == capacity()) grow();
        value_type* v = items();
        const std::size_t n = block_->size;
        if (pos == n) {
            new (v + n) value_type(std::move(fresh));
        } else {
            new (v + n) value_type(std::move(v[n - 1]));
            for (std::size_t i = n - 1; i > pos; --i)
                v[i] = std::move(v[i - 1]);
            v[pos] = std::move(fresh);
        }
        ++block_->size;
        return true;
    }
    // Removes the subscription of `filter`; false when there is none. The last one releases
    // the block.
    bool erase(std::string_view filter) {
        const auto it = find(filter);
        if (it == end()) return false;
        value_type* v = items();
        const std::size_t n = block_->size;
        for (auto i = static_cast<std::size_t>(it - begin()); i + 1 < n; ++i)
            v[i] = std::move(v[i + 1]);
        v[n - 1].~value_type();
        if (--block_->size == 0) clear();
        return true;
    }
    void clear() noexcept {
        if (!block_) return;
        value_type* v = items();
        for (std::size_t i = 0; i < block_->size; ++i)
            v[i].~value_type();
        ::operator delete(block_);
        block_ = nullptr;
    }

  private:
    struct header {
        std::uint32_t size;
        std::uint32_t capacity;
    };
    static_assert(sizeof(header) % alignof(value_type) == 0);

    value_type* items() const noexcept {
        return std::launder(
            reinterpret_cast<value_type*>(reinterpret_cast<char*>(block_) + sizeof(header)));
    }
    std::size_t capacity() const noexcept { return block_ ? block_->capacity : 0; }

    // Room for one more: the first block holds one entry, then the capacity doubles.
    void grow() {
        const std::size_t cap = block_ ? std::size_t{block_->capacity} * 2 : 1;
        if (cap > 0xFFFFFFFFu) throw std::length_error("subscription_table");
        void* raw = ::operator new(sizeof(header) + cap * sizeof(value_type));
        auto* b = new (raw) header{0, static_cast<std::uint32_t>(cap)};
        auto* to =
            std::launder(reinterpret_cast<value_type*>(static_cast<char*>(raw) + sizeof(header)));
        if (block_) {
            value_type* from = items();
            for (std::size_t i = 0; i < block_->size; ++i) {
                new (to + i) value_type(std::move(from[i]));  // noexcept
                from[i].~value_type();
            }
            b->size = block_->size;
            ::operator delete(block_);
        }
        block_ = b;
    }

    const_iterator lower_bound(std::string_view filter) const {
        return std::lower_bound(
            begin(), end(), filter,
            [](const value_type& e, std::string_view f) { return e.first.view() < f; });
    }

    header* block_ = nullptr;
};

}  // namespace rmqtt::broker
