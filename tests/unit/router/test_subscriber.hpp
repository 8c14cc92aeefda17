#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "routing/subscriber.hpp"

namespace rmqtt::broker::test {

// A subscriber whose online state the test flips.
class test_subscriber final : public subscriber {
  public:
    explicit test_subscriber(std::string id, bool online = true)
        : id_(std::move(id)), online_(online) {}
    const std::string& client_id() const noexcept override { return id_; }
    bool is_online() const noexcept override { return online_.load(std::memory_order_relaxed); }
    void set_online(bool on) noexcept { online_.store(on, std::memory_order_relaxed); }

  private:
    std::string id_;
    std::atomic<bool> online_;
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
