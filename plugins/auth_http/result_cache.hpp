#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "auth_http/http_exchange.hpp"

// Answers of the HTTP server kept for as long as it said (X-Cache), keyed by the request
// (cache_key: the substituted parameters). Thread-safe.
namespace rmqtt::plugins::auth_http {

class result_cache {
  public:
    using clock = std::chrono::steady_clock;
    explicit result_cache(std::size_t max_entries = 100'000);

    std::optional<http_answer> find(const std::string& key, clock::time_point now) const;
    // Keeps `a` for a.cache_ms milliseconds, or (-1) until forget_connection(connection). A
    // full cache first drops expired entries; still full, the answer is not kept.
    void put(const std::string& key, const http_answer& a, const std::string& connection,
             clock::time_point now);
    // The client of `connection` is gone: its answers kept "while connected" go.
    void forget_connection(const std::string& connection);
    std::size_t size() const;

  private:
    struct entry {
        http_answer answer;
        std::optional<clock::time_point> expires;  // none: until its connection ends
        std::string connection;
    };
    void drop_expired_locked(clock::time_point now);

    const std::size_t max_entries_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, entry> entries_;
    std::unordered_map<std::string, std::vector<std::string>> by_connection_;
};

}  // namespace rmqtt::plugins::auth_http
