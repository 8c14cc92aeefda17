// The answers rmqtt-auth-http may reuse (X-Cache).
#include "auth_http/result_cache.hpp"

#include <algorithm>

namespace rmqtt::plugins::auth_http {

result_cache::result_cache(std::size_t max_entries) : max_entries_(max_entries) {}

std::optional<http_answer> result_cache::find(const std::string& key, clock::time_point now) const {
    std::lock_guard lock(mutex_);
    const auto it = entries_.find(key);
    if (it == entries_.end() || (it->second.expires && *it->second.expires <= now))
        return std::nullopt;
    return it->second.answer;
}

void result_cache::put(const std::string& key, const http_answer& a, const std::string& connection,
                       clock::time_point now) {
    if (key.empty() || !a.cache_ms) return;
    std::lock_guard lock(mutex_);
    if (entries_.size() >= max_entries_ && !entries_.contains(key)) {
        drop_expired_locked(now);
        if (entries_.size() >= max_entries_) return;
    }
    entry e{a, std::nullopt, {}};
    if (*a.cache_ms > 0) {
        e.expires = now + std::chrono::milliseconds(*a.cache_ms);
    } else {
        e.connection = connection;
        by_connection_[connection].push_back(key);
    }
    entries_.insert_or_assign(key, std::move(e));
}

void result_cache::forget_connection(const std::string& connection) {
    std::lock_guard lock(mutex_);
    const auto it = by_connection_.find(connection);
    if (it == by_connection_.end()) return;
    for (const auto& key : it->second) {
        const auto e = entries_.find(key);
        // The key may have been taken over by a later answer with a TTL, or by another
        // connection's "while connected" answer.
        if (e != entries_.end() && !e->second.expires && e->second.connection == connection)
            entries_.erase(e);
    }
    by_connection_.erase(it);
}

std::size_t result_cache::size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

void result_cache::drop_expired_locked(clock::time_point now) {
    std::erase_if(entries_,
                  [now](const auto& kv) { return kv.second.expires && *kv.second.expires <= now; });
}

}  // namespace rmqtt::plugins::auth_http
