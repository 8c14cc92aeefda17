#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "routing/delivery_target.hpp"

namespace rmqtt::broker::test {

// A subscriber whose online state the test flips; it records what is delivered to it.
class test_subscriber final : public delivery_target {
  public:
    explicit test_subscriber(std::string id, bool online = true, bool stores = false)
        : id_(std::move(id)), online_(online), stores_(stores) {}
    const std::string& client_id() const noexcept override { return id_; }
    bool is_online() const noexcept override { return online_.load(std::memory_order_relaxed); }
    bool stores_messages() const noexcept override { return stores_; }
    std::uint64_t take_seq() noexcept override {
        return next_seq_.fetch_add(1, std::memory_order_relaxed);
    }
    void deliver(delivery d) override {
        std::lock_guard lock(mutex_);
        delivered_.push_back(std::move(d));
    }
    void set_online(bool on) noexcept { online_.store(on, std::memory_order_relaxed); }
    std::vector<delivery> delivered() const {
        std::lock_guard lock(mutex_);
        return delivered_;
    }

  private:
    std::string id_;
    std::atomic<bool> online_;
    bool stores_;
    std::atomic<std::uint64_t> next_seq_{1};
    mutable std::mutex mutex_;
    std::vector<delivery> delivered_;
};

inline std::shared_ptr<test_subscriber> make_sub(std::string id, bool online = true) {
    return std::make_shared<test_subscriber>(std::move(id), online);
}

// prefix + decimal n. (GCC 12 at -O3 warns falsely, -Wrestrict, on `"literal" + std::string`.)
template <class Int>
std::string name(std::string_view prefix, Int n) {
    std::string s(prefix);
    s += std::to_string(n);
    return s;
}

inline std::vector<std::string_view> split_levels(std::string_view s) {
    std::vector<std::string_view> out;
    std::size_t pos = 0;
    for (;;) {
        const std::size_t slash = s.find('/', pos);
        if (slash == std::string_view::npos) {
            out.push_back(s.substr(pos));
            return out;
        }
        out.push_back(s.substr(pos, slash - pos));
        pos = slash + 1;
    }
}

// The obvious level-by-level matcher, the oracle for the tries.
inline bool reference_matches(std::string_view filter, std::string_view name) {
    const auto f = split_levels(filter);
    const auto n = split_levels(name);
    // [MQTT-4.7.2-1]
    if (!name.empty() && name[0] == '$' && (f[0] == "+" || f[0] == "#")) return false;
    for (std::size_t i = 0; i < f.size(); ++i) {
        if (f[i] == "#") return true;  // the rest, including no level at all [MQTT-4.7.1-2]
        if (i >= n.size()) return false;
        if (f[i] != "+" && f[i] != n[i]) return false;
    }
    return f.size() == n.size();
}

// A small deterministic generator (tests must be reproducible).
class rng {
  public:
    explicit rng(std::uint64_t seed) : state_(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }

  private:
    std::uint64_t state_;
};

}  // namespace rmqtt::broker::test
