// The grants of live connections, the timer that ends expired ones, and the kick that does it.
#include "auth_common/connection_grants.hpp"

#include <asio/post.hpp>
#include <asio/strand.hpp>
#include <asio/system_timer.hpp>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

namespace rmqtt::plugins::auth_common {

bool connection_grant::rules_need_message() const noexcept {
    return std::any_of(rules.begin(), rules.end(), [](const acl_rule& r) {
        if (r.action == rule_action::subscribe) return false;
        return r.qos_conditional() || (r.retain && (r.perm == permission::deny || !*r.retain));
    });
}

// ---- connection_grants -------------------------------------------------------------------------

connection_grants::connection_grants(std::chrono::steady_clock::duration unconfirmed_limit)
    : unconfirmed_limit_(unconfirmed_limit) {}

std::string connection_grants::key_of(std::string_view client_id, std::string_view listener,
                                      std::string_view peer) {
    // Client ids are UTF-8 without U+0000 [MQTT-1.5.4-2], so NUL separates unambiguously.
    std::string k;
    k.reserve(client_id.size() + listener.size() + peer.size() + 2);
    k.append(client_id).push_back('\0');
    k.append(listener).push_back('\0');
    k.append(peer);
    return k;
}

std::string connection_grants::key_of(const broker::client_info& c) {
    return key_of(c.client_id, c.listener, c.peer);
}

std::string connection_grants::key_of(const broker::events::client& c) {
    return key_of(c.client_id, c.listener, c.peer);
}

void connection_grants::put(const broker::client_info& c,
                            std::shared_ptr<const connection_grant> g) {
    const auto now = std::chrono::steady_clock::now();
    std::string key = key_of(c);
    std::unique_lock lock(mutex_);
    prune_locked(now);
    const std::uint64_t gen = next_generation_++;
    unconfirmed_.push_back({now, key, gen});
    entries_.insert_or_assign(std::move(key), entry{std::move(g), gen, false});
}

std::shared_ptr<const connection_grant> connection_grants::find(
    const broker::client_info& c) const {
    return find(key_of(c));
}

std::shared_ptr<const connection_grant> connection_grants::find(const std::string& key) const {
    std::shared_lock lock(mutex_);
    const auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : it->second.grant;
}

std::shared_ptr<const connection_grant> connection_grants::confirm(
    const broker::events::client& who) {
    std::unique_lock lock(mutex_);
    const auto it = entries_.find(key_of(who));
    if (it == entries_.end()) return nullptr;
    it->second.confirmed = true;
    return it->second.grant;
}

bool connection_grants::erase(const broker::events::client& who) {
    std::unique_lock lock(mutex_);
    return entries_.erase(key_of(who)) > 0;
}

std::size_t connection_grants::size() const {
    std::shared_lock lock(mutex_);
    return entries_.size();
}

void connection_grants::prune_locked(std::chrono::steady_clock::time_point now) {
    while (!unconfirmed_.empty() && now - unconfirmed_.front().at > unconfirmed_limit_) {
        const auto& u = unconfirmed_.front();
        const auto it = entries_.find(u.key);
        if (it != entries_.end() && it->second.generation == u.generation &&
            !it->second.confirmed) {
            entries_.erase(it);
        }
        unconfirmed_.pop_front();
    }
}

// ---- expiry_watch ------------------------------------------------------------------------------

// Lives on the strand: every member below is touched only there.
struct expiry_watch::state : std::enable_shared_from_this<expiry_watch::state> {
    using clock = std::chrono::system_clock;
    state(asio::any_io_executor ex, handler h)
        : strand(asio::make_strand(std::move(ex))),
          timer(std::in_place, strand),
          on_expired(std::move(h)) {}

    asio::strand<asio::any_io_executor> strand;
    std::optional<asio::system_timer> timer;  // reset by stop(), on the strand
    handler on_expired;
    std::multimap<clock::time_point, std::string> deadlines;
    std::map<std::string, std::multimap<clock::time_point, std::string>::iterator> by_key;
    bool stopped = false;

    void remove(const std::string& key) {
        const auto it = by_key.find(key);
        if (it == by_key.end()) return;
        deadlines.erase(it->second);
        by_key.erase(it);
    }

    void arm() {
        if (stopped) return;
        if (deadlines.empty()) {
            timer->cancel();
            return;
        }
        timer->expires_at(deadlines.begin()->first);
        timer->async_wait([self = shared_from_this()](std::error_code ec) {
            if (ec) return;  // re-armed or stopped; the new wait takes over
            self->fire();
        });
    }

    void fire() {
        if (stopped) return;
        const auto now = clock::now();
        std::vector<std::string> due;
        while (!deadlines.empty() && deadlines.begin()->first <= now) {
            due.push_back(deadlines.begin()->second);
            by_key.erase(deadlines.begin()->second);
            deadlines.erase(deadlines.begin());
        }
        arm();
        for (const auto& key : due)
            on_expired(key);
    }
};

expiry_watch::expiry_watch(asio::any_io_executor executor, handler on_expired)
    : state_(std::make_shared<state>(std::move(executor), std::move(on_expired))) {}

expiry_watch::~expiry_watch() = default;

void expiry_watch::watch(std::string key, std::chrono::system_clock::time_point at) {
    asio::post(state_->strand, [s = state_, key = std::move(key), at]() mutable {
        if (s->stopped) return;
        s->remove(key);
        const auto it = s->deadlines.emplace(at, key);
        s->by_key.emplace(std::move(key), it);
        if (it == s->deadlines.begin()) s->arm();
    });
}

void expiry_watch::forget(std::string key) {
    asio::post(state_->strand, [s = state_, key = std::move(key)] { s->remove(key); });
}

void expiry_watch::stop() {
    asio::post(state_->strand, [s = state_] {
        s->stopped = true;
        s->deadlines.clear();
        s->by_key.clear();
        s->timer.reset();  // cancels the wait; the timer goes while its context still runs
    });
}

// ---- kick --------------------------------------------------------------------------------------

void kick_connection(broker::broker_api& broker, const std::string& client_id,
                     const std::string& listener, const std::string& peer, std::string_view why) {
    const auto s = broker.session(client_id);
    if (!s || !s->online || s->peer != peer || s->listener != listener) return;
    spdlog::info("{} ({}): disconnected: {}", client_id, peer, why);
    (void)broker.kick(client_id, false);
}

}  // namespace rmqtt::plugins::auth_common
