#include "shared_subscription/share_strategies.hpp"

#include <list>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>

namespace rmqtt::plugins {

namespace {

using strategy = shared_subscription_config::strategy;
using request = broker::share_strategy::request;

// FNV-1a: stable across runs and standard libraries, so hash strategies pick the same member
// for the same key and membership.
std::uint64_t fnv1a(std::string_view s) noexcept {
    std::uint64_t h = 14695981039346656037ull;
    for (const char c : s) {
        h ^= static_cast<unsigned char>(c);
        h *= 1099511628211ull;
    }
    return h;
}

// Per-thread generator for the random and sticky strategies: no shared state to contend on.
std::uint64_t random_u64() noexcept {
    thread_local std::uint64_t state = [] {
        std::random_device rd;
        return (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^
               std::hash<std::thread::id>{}(std::this_thread::get_id());
    }();
    // splitmix64
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

class simple_strategy final : public broker::share_strategy {
  public:
    explicit simple_strategy(strategy s) : s_(s) {}
    std::uint64_t start(const request& r) override {
        switch (s_) {
            case strategy::random:
            case strategy::sticky:
                return random_u64();
            case strategy::round_robin:
            case strategy::local:  // one node: the local members are all members
                return r.counter.fetch_add(1, std::memory_order_relaxed);
            case strategy::round_robin_per_group:
                return r.group_counter.fetch_add(1, std::memory_order_relaxed);
            case strategy::hash_clientid:
                return fnv1a(r.publisher);
            case strategy::hash_topic:
                return fnv1a(r.topic);
        }
        return 0;
    }

  private:
    const strategy s_;
};

// sticky: the choice per shared subscription, in a bounded LRU map.
class sticky_strategy final : public broker::share_strategy {
  public:
    explicit sticky_strategy(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

    std::uint64_t start(const request&) override { return random_u64(); }
    bool sticky() const noexcept override { return true; }

    std::string remembered(std::string_view group, std::string_view filter) override {
        std::lock_guard lock(mutex_);
        auto it = map_.find(key(group, filter));
        if (it == map_.end()) return {};
        order_.splice(order_.begin(), order_, it->second);  // most recently used first
        return it->second->second;
    }

    void remember(std::string_view group, std::string_view filter,
                  std::string_view client_id) override {
        std::lock_guard lock(mutex_);
        std::string k = key(group, filter);
        if (auto it = map_.find(k); it != map_.end()) {
            it->second->second = std::string(client_id);
            order_.splice(order_.begin(), order_, it->second);
            return;
        }
        order_.emplace_front(k, std::string(client_id));
        map_.emplace(std::move(k), order_.begin());
        if (map_.size() > capacity_) {
            map_.erase(order_.back().first);
            order_.pop_back();
        }
    }

    std::size_t size() const {
        std::lock_guard lock(mutex_);
        return map_.size();
    }

  private:
    static std::string key(std::string_view group, std::string_view filter) {
        std::string k;
        k.reserve(group.size() + 1 + filter.size());
        k.append(group).push_back('/');  // a share name has no '/'
        k.append(filter);
        return k;
    }

    const std::size_t capacity_;
    mutable std::mutex mutex_;
    std::list<std::pair<std::string, std::string>> order_;  // (group/filter, client id), MRU first
    std::unordered_map<std::string, std::list<std::pair<std::string, std::string>>::iterator> map_;
};

}  // namespace

std::shared_ptr<broker::share_strategy> make_share_strategy(strategy s,
                                                            std::size_t sticky_cache_size) {
    if (s == strategy::sticky) return std::make_shared<sticky_strategy>(sticky_cache_size);
    return std::make_shared<simple_strategy>(s);
}

}  // namespace rmqtt::plugins
