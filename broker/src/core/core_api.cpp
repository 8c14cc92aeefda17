#include "core/core_api.hpp"

#include "rmqtt/broker/clock.hpp"

namespace rmqtt::broker {

std::string_view core_api::version() const noexcept {
    return RMQTT_VERSION;
}

std::size_t core_api::publish(message msg) {
    msg.publisher.clear();
    if (msg.created_at_ms == 0) msg.created_at_ms = wall_now_ms();
    return core_.pipeline.publish(std::make_shared<const message>(std::move(msg)));
}

bool core_api::kick(std::string_view client_id, bool discard_session) {
    auto s = core_.sessions.find(std::string(client_id));
    if (!s) return false;
    s->run_on_owner([s, discard_session] {
        if (auto link = s->link()) link->kick();
        if (discard_session) s->end(events::session_end_reason::discarded);
    });
    return true;
}

std::vector<session_info> core_api::sessions(std::size_t limit) {
    std::vector<session_info> out;
    for (const auto& s : core_.sessions.snapshot()) {
        if (limit != 0 && out.size() >= limit) break;
        out.push_back(s->info());
    }
    return out;
}

std::optional<session_info> core_api::session(std::string_view client_id) {
    auto s = core_.sessions.find(std::string(client_id));
    if (!s) return std::nullopt;
    return s->info();
}

std::vector<subscription_info> core_api::subscriptions(std::string_view client_id) {
    if (!client_id.empty()) {
        auto s = core_.sessions.find(std::string(client_id));
        return s ? s->subscription_snapshot() : std::vector<subscription_info>{};
    }
    std::vector<subscription_info> out;
    for (const auto& s : core_.sessions.snapshot()) {
        auto subs = s->subscription_snapshot();
        out.insert(out.end(), std::make_move_iterator(subs.begin()),
                   std::make_move_iterator(subs.end()));
    }
    return out;
}

std::vector<std::pair<std::string, std::int64_t>> core_api::metrics() const {
    auto out = core_.stats.snapshot();
    out.emplace_back("sessions", static_cast<std::int64_t>(core_.sessions.size()));
    out.emplace_back("subscriptions", static_cast<std::int64_t>(core_.routes.subscription_count()));
    out.emplace_back("subscriptions.shared",
                     static_cast<std::int64_t>(core_.routes.shared_subscription_count()));
    out.emplace_back("routes", static_cast<std::int64_t>(core_.routes.topic_filter_count()));
    if (auto* st = core_.store()) {
        // Store writes nobody waited for that failed (logged by the store as they happen).
        out.emplace_back("store.failures_unobserved",
                         static_cast<std::int64_t>(st->unobserved_failures()));
        out.emplace_back("store.pending_bytes",
                         static_cast<std::int64_t>(st->committer().pending_bytes()));
        // What the messages cost the store: operations as the broker submitted them, and what
        // the group committer wrote of them (see committer.hpp for what it leaves out).
        const auto& c = st->committer();
        out.emplace_back("store.ops_submitted", static_cast<std::int64_t>(c.ops_submitted()));
        out.emplace_back("store.ops_written", static_cast<std::int64_t>(c.ops_written()));
        out.emplace_back("store.ops_cancelled", static_cast<std::int64_t>(c.ops_cancelled()));
        out.emplace_back("store.updates_absorbed", static_cast<std::int64_t>(c.updates_absorbed()));
        out.emplace_back("store.groups_written", static_cast<std::int64_t>(c.groups_written()));
        out.emplace_back("store.bytes_written", static_cast<std::int64_t>(c.bytes_written()));
        out.emplace_back("store.commit_window_us",
                         static_cast<std::int64_t>(c.current_window().count()));
    }
    if (auto* r = core_.retained())
        out.emplace_back("retained", static_cast<std::int64_t>(r->size()));
    return out;
}

}  // namespace rmqtt::broker
