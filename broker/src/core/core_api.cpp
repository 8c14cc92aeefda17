#include "core/core_api.hpp"

#include "core/plugin_host.hpp"
#include "rmqtt/broker/clock.hpp"
#include "rmqtt/protocol/topic.hpp"
#include "session/session.hpp"

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

std::int64_t core_api::started_at_ms() const noexcept {
    return core_.stats.started_at_ms.load(std::memory_order_relaxed);
}

std::vector<message_ptr> core_api::retained(std::string_view filter) {
    std::vector<message_ptr> out;
    if (auto* r = core_.retained()) r->match(filter, wall_now_ms(), out);
    return out;
}

bool core_api::remove_retained(std::string_view topic) {
    auto* r = core_.retained();
    if (!r || !protocol::is_valid_topic_name(topic)) return false;
    std::vector<message_ptr> found;
    r->match(topic, wall_now_ms(), found);
    if (found.empty()) return false;
    auto empty = std::make_shared<message>();
    empty->topic = std::string(topic);
    empty->retain = true;
    empty->created_at_ms = wall_now_ms();
    storage::write_batch writes;
    r->retain(empty, writes);  // an empty payload removes the topic's message
    if (auto* st = core_.store(); st && !writes.empty()) st->submit(std::move(writes));
    return true;
}

namespace {

api_result failed(api_result::code c, std::string why) {
    return {c, std::move(why)};
}

// Checks a filter as SUBSCRIBE does; sets `shared` for "$share/...". Empty when valid.
std::string filter_problem(const core_context& core, const std::string& filter, bool& shared) {
    bool shared_valid = true;
    const auto parsed = protocol::parse_shared_subscription(filter, shared_valid);
    shared = parsed.has_value();
    if (parsed && !shared_valid) return "invalid shared subscription filter";
    if (!parsed && !protocol::is_valid_topic_filter(filter)) return "invalid topic filter";
    if (parsed && !core.shared_subscriptions())
        return "shared subscriptions are off (rmqtt-shared-subscription is not running)";
    return {};
}

}  // namespace

void core_api::subscribe(std::string_view client_id, std::string filter,
                         protocol::subscription_options options,
                         std::function<void(api_result)> done) {
    bool shared = false;
    if (auto why = filter_problem(core_, filter, shared); !why.empty())
        return done(failed(api_result::code::invalid, std::move(why)));
    if (static_cast<int>(options.max_qos) > 2 || options.retain_handling > 2)
        return done(failed(api_result::code::invalid, "invalid subscription options"));
    if (core_.stopping()) return done(failed(api_result::code::stopping, "the broker is stopping"));
    auto s = core_.sessions.find(std::string(client_id));
    if (!s) return done(failed(api_result::code::not_found, "no session with this client id"));
    auto& core = core_;
    s->run_on_owner(
        [&core, s, filter = std::move(filter), options, shared, done = std::move(done)]() mutable {
            if (s->ended())
                return done(failed(api_result::code::not_found, "no session with this client id"));
            if (s->config().version != protocol::version::v5) {
                options.no_local = false;
                options.retain_as_published = false;
                options.retain_handling = 0;
            }
            const auto existing = s->subscriptions().find(filter);
            std::optional<session_subscription> previous;
            if (existing != s->subscriptions().end()) previous = existing->second;
            storage::write_batch batch;
            const bool is_new = s->subscribe(filter, options, 0, batch);
            // After the commit, on the owner: announce, and send the retained messages as a SUBACK
            // would be followed by them [MQTT-3.3.1-9..11]; not for shared subscriptions (4.8.2).
            auto finish = [&core, s, filter, options, is_new, shared, done]() mutable {
                if (core.hooks.wants<events::subscribed>())
                    core.hooks.emit(events::subscribed{s->client_id(), filter, options, 0});
                if (!shared && core.retained() &&
                    (options.retain_handling == 0 || (options.retain_handling == 1 && is_new))) {
                    std::vector<message_ptr> found;
                    core.retained()->match(filter, wall_now_ms(), found);
                    publish_pipeline::publication copies;
                    for (auto& m : found) {
                        delivery d;
                        d.msg = m;
                        d.qos = std::min(m->qos, options.max_qos);
                        d.retain = true;
                        core.pipeline.add_copy(copies, s, std::move(d));
                    }
                    core.pipeline.submit(copies);
                }
                done(api_result{});
            };
            auto* store = core.store();
            if (batch.empty() || !store) return finish();
            store->submit(std::move(batch), [s, filter, previous, finish = std::move(finish),
                                             done](const storage::status& st) mutable {
                s->run_on_owner([s, filter, previous, ok = st.is_ok(), message = st.message(),
                                 finish = std::move(finish), done]() mutable {
                    if (ok) return finish();
                    storage::write_batch unused;
                    if (!s->ended()) {
                        if (previous)
                            (void)s->subscribe(filter, previous->options, previous->subscription_id,
                                               unused);
                        else
                            (void)s->unsubscribe(filter, unused);
                    }
                    done(failed(api_result::code::store_failed,
                                "storing the subscription: " + message));
                });
            });
        });
}

void core_api::unsubscribe(std::string_view client_id, std::string filter,
                           std::function<void(api_result)> done) {
    bool shared = false;
    if (auto why = filter_problem(core_, filter, shared); !why.empty())
        return done(failed(api_result::code::invalid, std::move(why)));
    if (core_.stopping()) return done(failed(api_result::code::stopping, "the broker is stopping"));
    auto s = core_.sessions.find(std::string(client_id));
    if (!s) return done(failed(api_result::code::not_found, "no session with this client id"));
    auto& core = core_;
    s->run_on_owner([&core, s, filter = std::move(filter), done = std::move(done)]() mutable {
        if (s->ended())
            return done(failed(api_result::code::not_found, "no session with this client id"));
        const auto it = s->subscriptions().find(filter);
        if (it == s->subscriptions().end())
            return done(failed(api_result::code::not_found, "no such subscription"));
        const auto removed = it->second;
        storage::write_batch batch;
        (void)s->unsubscribe(filter, batch);
        auto finish = [&core, s, filter, done]() mutable {
            if (core.hooks.wants<events::unsubscribed>())
                core.hooks.emit(events::unsubscribed{s->client_id(), filter});
            done(api_result{});
        };
        auto* store = core.store();
        if (batch.empty() || !store) return finish();
        store->submit(std::move(batch), [s, filter, removed, finish = std::move(finish),
                                         done](const storage::status& st) mutable {
            s->run_on_owner([s, filter, removed, ok = st.is_ok(), message = st.message(),
                             finish = std::move(finish), done]() mutable {
                if (ok) return finish();
                storage::write_batch unused;
                if (!s->ended())
                    (void)s->subscribe(filter, removed.options, removed.subscription_id, unused);
                done(failed(api_result::code::store_failed,
                            "removing the subscription: " + message));
            });
        });
    });
}

std::vector<plugin_state> core_api::plugins() const {
    return host_ ? host_->states() : std::vector<plugin_state>{};
}

api_result core_api::reload_plugin(std::string_view name) {
    if (!host_) return failed(api_result::code::not_found, "no plugins");
    return host_->reload(name);
}

latency_histogram core_api::store_commit_latency() const {
    latency_histogram h;
    auto* st = core_.store();
    if (!st) return h;
    const auto& c = st->committer();
    const auto bounds = storage::committer::latency_bounds_us();
    h.bounds_us.assign(bounds.begin(), bounds.end());
    h.counts.resize(bounds.size() + 1);
    for (std::size_t i = 0; i < h.counts.size(); ++i) {
        h.counts[i] = c.latency_bucket(i);
        h.count += h.counts[i];
    }
    h.sum_us = c.latency_sum_us();
    return h;
}

}  // namespace rmqtt::broker
