#include "session/session_registry.hpp"

#include <asio/post.hpp>

#include "session/core_context.hpp"

namespace rmqtt::broker {

void session_registry::attach(const std::string& client_id, bool clean_start,
                              asio::any_io_executor ex, std::function<void(attach_result)> done) {
    session_ptr existing;
    std::uint64_t generation = 0;
    {
        std::lock_guard lock(mutex_);
        auto it = map_.find(std::string_view(client_id));
        if (it == map_.end()) {
            asio::post(ex, [r = create_locked(client_id, ex), done = std::move(done)]() mutable {
                done(std::move(r));
            });
            return;
        }
        existing = *it;
        generation = ++existing->attach_generation_;
    }
    // The existing session lives on its owner: kick its connection there, then move it here.
    existing->run_on_owner(
        [this, existing, generation, clean_start, client_id, ex, done = std::move(done)]() mutable {
            if (existing->ended()) {
                // It ended meanwhile (expired, or a clean start elsewhere): start over.
                attach(client_id, clean_start, ex, std::move(done));
                return;
            }
            if (!still_current(*existing, generation)) {
                asio::post(ex, [done = std::move(done)] { done(attach_result{}); });
                return;
            }
            if (auto prev = existing->link()) {
                metrics::add(core_.stats.takeovers);
                prev->taken_over();  // DISCONNECT 0x8E to a 5.0 client [MQTT-3.1.4-3]
                existing->detach();
                // The old connection ended abnormally: its will goes out unless delayed (the new
                // connection then cancels a delayed one) [MQTT-3.1.2-8].
                if (auto& w = existing->will();
                    w && (w->delay_interval_s == 0 || clean_start || !existing->persistent()))
                    existing->publish_will_now();
            }
            // A session that lasts only as long as its connection (3.x CleanSession 1, 5.0
            // Session Expiry 0) ended with it: the new connection starts a new one
            // [MQTT-3.1.2-6] [MQTT-3.2.2-2] [MQTT-3.2.2-3].
            if (clean_start || !existing->persistent()) {
                // Removes it from the map and the store; then create anew.
                existing->end(clean_start ? events::session_end_reason::clean_start
                                          : events::session_end_reason::connection_closed);
                attach(client_id, clean_start, ex, std::move(done));
                return;
            }
            existing->set_owner(ex);
            asio::post(ex, [existing, generation, done = std::move(done)] {
                done(attach_result{existing, true, generation});
            });
        });
}

std::optional<session_registry::attach_result> session_registry::attach_new(
    const std::string& client_id, asio::any_io_executor ex) {
    // Made first and inserted with one search of the set: a find, then an insert, walked the
    // bucket twice, each step reading a session's id (cache misses, with many sessions). A client
    // id that has a session (a reconnect) discards it and takes attach()'s path.
    auto s = std::make_shared<session>(core_, client_id, std::move(ex));
    std::lock_guard lock(mutex_);
    if (!map_.insert(s).second) return std::nullopt;
    const std::uint64_t generation = ++s->attach_generation_;
    return attach_result{std::move(s), false, generation};
}

session_registry::attach_result session_registry::create_locked(const std::string& client_id,
                                                                asio::any_io_executor ex) {
    auto s = std::make_shared<session>(core_, client_id, std::move(ex));
    const std::uint64_t generation = ++s->attach_generation_;
    map_.insert(s);
    return attach_result{std::move(s), false, generation};
}

bool session_registry::still_current(const session& s, std::uint64_t generation) {
    std::lock_guard lock(mutex_);
    return s.attach_generation_ == generation && !s.ended();
}

void session_registry::remove(const session& s) {
    std::lock_guard lock(mutex_);
    auto it = map_.find(std::string_view(s.client_id()));
    if (it != map_.end() && it->get() == &s) map_.erase(it);
}

void session_registry::insert_restored(const session_ptr& s) {
    std::lock_guard lock(mutex_);
    if (auto it = map_.find(std::string_view(s->client_id())); it != map_.end()) map_.erase(it);
    map_.insert(s);
}

void session_registry::reserve_more(std::size_t n) {
    std::lock_guard lock(mutex_);
    map_.reserve(map_.size() + n);
}

session_ptr session_registry::find(const std::string& client_id) {
    std::lock_guard lock(mutex_);
    auto it = map_.find(std::string_view(client_id));
    return it == map_.end() ? nullptr : *it;
}

std::size_t session_registry::size() {
    std::lock_guard lock(mutex_);
    return map_.size();
}

std::vector<session_ptr> session_registry::snapshot() {
    std::lock_guard lock(mutex_);
    std::vector<session_ptr> out;
    out.reserve(map_.size());
    for (const auto& s : map_)
        out.push_back(s);
    return out;
}

}  // namespace rmqtt::broker
