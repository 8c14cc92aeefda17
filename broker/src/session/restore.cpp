#include "session/restore.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <memory>

#include "session/core_context.hpp"

namespace rmqtt::broker {

using protocol::qos;

namespace {

// The ACL's answer for a restored session; a deferred one is waited for (start-up: nothing is
// served yet, and the deciding plugin resolves on its own threads).
hook_result restored_acl(const hook_bus& hooks, const storage::session_record& r, acl_action a,
                         std::string_view topic) {
    client_info c;
    c.client_id = r.client_id;
    c.username = &r.username;
    c.peer = r.peer_address;
    c.listener = r.listener;
    c.version = static_cast<protocol::version>(r.protocol_version);
    c.restored = true;
    pending<hook_result> wait;
    const hook_result first = hooks.check_acl(c, a, topic, &wait);
    if (first != hook_result::pending) return first;
    auto answer = std::make_shared<std::promise<hook_result>>();
    auto result = answer->get_future();
    wait.then([answer](hook_result v) { answer->set_value(v); });
    return result.get();
}

}  // namespace

restore_counts restore_sessions(
    core_context& core, recovered_state& state,
    const std::function<asio::any_io_executor()>& next_worker,
    const std::function<const listener_config*(std::string_view id)>& find_listener) {
    restore_counts counts;
    const auto now = state.now_ms;
    // Generations continue above every one that may have been used: the stored reservation, and
    // (for stores written before generations were reserved) above every stored seq.
    std::uint64_t floor = state.generation_reserved;
    for (const auto& r : state.sessions) {
        floor = std::max<std::uint64_t>(floor, std::uint64_t{r.record.generation} + 1);
        if (r.bounds) floor = std::max<std::uint64_t>(floor, (r.bounds->last_seq >> 32) + 1);
    }
    core.set_generation_floor(
        static_cast<std::uint32_t>(std::min<std::uint64_t>(floor, 0xFFFFFFFE)));
    struct restored {
        session_ptr s;
        storage::session_record rec;
        bool rewrite;
    };
    std::vector<restored> created;
    created.reserve(state.sessions.size());
    storage::write_batch cleanup;
    const bool check_acl = core.hooks.has_acl();
    for (auto& r : state.sessions) {
        auto s = std::make_shared<session>(core, r.record.client_id, next_worker());
        auto& cfg = s->config();
        cfg.version = static_cast<protocol::version>(r.record.protocol_version);
        cfg.expiry_interval_s = r.record.expiry_interval_s;
        cfg.username = r.record.username;
        cfg.listener = r.record.listener;
        cfg.peer = r.record.peer_address;
        cfg.created_at_ms = r.record.created_at_ms;
        cfg.connected_at_ms = r.record.connected_at_ms;
        cfg.disconnected_at_ms = r.record.disconnected_at_ms;
        cfg.clean_disconnect = r.record.clean_disconnect;
        cfg.client_receive_maximum = r.record.receive_maximum;
        cfg.client_max_packet_size = r.record.maximum_packet_size;
        cfg.client_topic_alias_maximum = r.record.topic_alias_maximum;
        cfg.request_problem_information = r.record.request_problem_information;
        s->set_persistent(true);
        s->mark_persisted();
        s->will() = r.record.will;
        if (check_acl && s->will() &&
            denied(restored_acl(core.hooks, r.record, acl_action::publish,
                                s->will()->message.topic))) {
            spdlog::info("restored session {}: will topic '{}' is no longer allowed; dropped",
                         r.record.client_id, s->will()->message.topic);
            s->will().reset();  // persist_record() below stores the record without it
            r.rewrite = true;
            ++counts.revoked_wills;
        }
        for (auto& sub : r.subscriptions) {
            if (check_acl &&
                denied(restored_acl(core.hooks, r.record, acl_action::subscribe, sub.filter))) {
                spdlog::info("restored session {}: subscription '{}' is no longer allowed; removed",
                             r.record.client_id, sub.filter);
                cleanup.ops.push_back(storage::delete_subscription{r.record.client_id, sub.filter});
                ++counts.revoked_subscriptions;
                continue;
            }
            session_subscription ss;
            ss.options.max_qos = static_cast<qos>(std::min<std::uint8_t>(sub.qos, 2));
            ss.options.no_local = sub.no_local;
            ss.options.retain_as_published = sub.retain_as_published;
            ss.options.retain_handling = sub.retain_handling;
            ss.subscription_id = sub.subscription_id;
            s->restore_subscription(sub.filter, ss);
            ++counts.subscriptions;
        }
        // A new generation: every stored entry has a lower seq (loaded when the client returns),
        // everything routed from now on a higher one.
        const std::uint32_t g = core.take_generation();
        s->set_generation(r.record.first_generation, g);
        if (r.bounds) {
            ++counts.with_queue;
            s->set_unloaded_store_entries(true, std::uint64_t{g} << 32);
        }
        // The queue limits of the listener the client used, before it comes back.
        if (const listener_config* lc = find_listener(r.record.listener)) {
            cfg.max_mqueue_len = lc->max_mqueue_len;
            cfg.mqueue_backpressure = lc->mqueue_backpressure;
            cfg.max_inflight = std::min<std::size_t>(lc->max_inflight, cfg.client_receive_maximum);
            cfg.retry_interval = lc->message_retry_interval;
            cfg.rate_burst = lc->mqueue_rate_limit_burst;
            cfg.rate_period = lc->mqueue_rate_limit_period;
        }
        s->queue().set_limits(
            {cfg.max_inflight, cfg.max_mqueue_len, outbound_queue::overflow_policy::drop_oldest});
        for (auto pid : r.inbound_qos2)
            s->restore_inbound_qos2(pid);
        s->publish_info();
        core.sessions.insert_restored(s);
        created.push_back({std::move(s), std::move(r.record), r.rewrite});
    }
    counts.sessions = created.size();

    // Expired sessions go, with their wills (the session ended) [MQTT-3.1.2-8].
    for (auto& rec : state.expired) {
        cleanup.ops.push_back(storage::delete_session{rec.client_id});
        if (rec.will) core.pipeline.publish(from_record(rec.will->message));
    }
    counts.expired = state.expired.size();
    if (auto* st = core.store()) st->submit(std::move(cleanup));

    // Timers run on each session's owner: expiry and (delayed) wills.
    for (auto& [s, rec, rewrite] : created) {
        // The disconnect time of a session connected at a crash, a revoked will. The others are
        // stored as they are: a write per session would make a large recovery write the whole
        // session table again.
        if (rewrite) s->persist_record();
        const auto disconnected = rec.disconnected_at_ms;
        const auto expiry = rec.expiry_interval_s;
        s->run_on_owner([s, disconnected, expiry, now] {
            if (expiry != storage::never_expires) {
                auto left = disconnected + std::int64_t{expiry} * 1000 - now;
                s->schedule_expiry(std::chrono::milliseconds(std::max<std::int64_t>(left, 0)));
            }
            if (auto& w = s->will()) {
                auto left = disconnected + std::int64_t{w->delay_interval_s} * 1000 - now;
                if (left <= 0)
                    s->publish_will_now();
                else
                    s->schedule_will(std::chrono::seconds((left + 999) / 1000));
            }
        });
    }
    return counts;
}

}  // namespace rmqtt::broker
