#include "session/restore.hpp"

#include <spdlog/spdlog.h>
#include <asio/post.hpp>

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

session_restorer::session_restorer(
    core_context& core, std::function<asio::any_io_executor()> next_worker,
    std::function<const listener_config*(std::string_view id)> find_listener)
    : core_(core),
      next_worker_(std::move(next_worker)),
      find_listener_(std::move(find_listener)),
      check_acl_(core.hooks.has_acl()) {}

void session_restorer::expect(std::size_t n) {
    // Bounded: an estimate far off must not reserve memory that is never used.
    n = std::min<std::size_t>(n, std::size_t{1} << 24);
    core_.sessions.reserve_more(n);
    created_.reserve(created_.size() + n);
}

void session_restorer::add(recovered_state::session&& r) {
    // Generations continue above every one that may have been used: the stored reservation, and
    // (for stores written before generations were reserved) above every stored seq.
    floor_ = std::max<std::uint64_t>(floor_, std::uint64_t{r.record.generation} + 1);
    if (r.bounds) floor_ = std::max<std::uint64_t>(floor_, (r.bounds->last_seq >> 32) + 1);
    if (created_.capacity() == created_.size())
        created_.reserve(std::max<std::size_t>(4096, created_.size() * 2));
    auto s = std::make_shared<session>(core_, std::move(r.record.client_id), next_worker_());
    const std::string& client_id = s->client_id();
    auto& cfg = s->config();
    cfg.version = static_cast<protocol::version>(r.record.protocol_version);
    cfg.expiry_interval_s = r.record.expiry_interval_s;
    cfg.created_at_ms = r.record.created_at_ms;
    cfg.connected_at_ms = r.record.connected_at_ms;
    cfg.disconnected_at_ms = r.record.disconnected_at_ms;
    cfg.clean_disconnect = r.record.clean_disconnect;
    cfg.request_problem_information = r.record.request_problem_information;
    s->set_persistent(true);
    s->record_client_limits(
        {r.record.maximum_packet_size, r.record.receive_maximum, r.record.topic_alias_maximum});
    s->mark_persisted();
    if (check_acl_ && r.record.will) {
        // The ACL sees the record as stored (client id, username, peer, listener).
        r.record.client_id = client_id;
        if (denied(restored_acl(core_.hooks, r.record, acl_action::publish,
                                r.record.will->message.topic))) {
            spdlog::info("restored session {}: will topic '{}' is no longer allowed; dropped",
                         client_id, r.record.will->message.topic);
            r.record.will.reset();  // persist_record() in finish() stores the record without it
            r.rewrite = true;
            ++counts_.revoked_wills;
        }
    }
    s->will() = std::move(r.record.will);
    for (auto& sub : r.subscriptions) {
        if (check_acl_) {
            r.record.client_id = client_id;
            if (denied(restored_acl(core_.hooks, r.record, acl_action::subscribe, sub.filter))) {
                spdlog::info("restored session {}: subscription '{}' is no longer allowed; removed",
                             client_id, sub.filter);
                cleanup_.ops.push_back(storage::delete_subscription{client_id, sub.filter});
                ++counts_.revoked_subscriptions;
                continue;
            }
        }
        session_subscription ss;
        ss.options.max_qos = static_cast<qos>(std::min<std::uint8_t>(sub.qos, 2));
        ss.options.no_local = sub.no_local;
        ss.options.retain_as_published = sub.retain_as_published;
        ss.options.retain_handling = sub.retain_handling;
        ss.subscription_id = sub.subscription_id;
        s->restore_subscription(sub.filter, ss);
        ++counts_.subscriptions;
    }
    // The queue limits of the listener the client used, before it comes back.
    outbound_queue::limits limits{65535, 1000, outbound_queue::overflow_policy::drop_oldest};
    if (const listener_config* lc = find_listener_(r.record.listener)) {
        limits = {std::min(lc->max_inflight, r.record.receive_maximum), lc->max_mqueue_len,
                  outbound_queue::overflow_policy::drop_oldest};
        cfg.mqueue_backpressure = lc->mqueue_backpressure;
        s->set_rate_limit(lc->mqueue_rate_limit_burst, lc->mqueue_rate_limit_period);
    }
    cfg.username = std::move(r.record.username);
    cfg.listener = std::move(r.record.listener);
    cfg.peer = std::move(r.record.peer_address);
    s->queue().set_limits(limits);
    for (auto pid : r.inbound_qos2)
        s->restore_inbound_qos2(pid);
    s->publish_info();
    core_.sessions.insert_restored(s);
    if (r.bounds) ++counts_.with_queue;
    created_.push_back({std::move(s), r.record.first_generation, r.bounds.has_value(), r.rewrite});
}

restore_counts session_restorer::finish(recovered_state& state) {
    const auto now = state.now_ms;
    const std::uint64_t floor = std::max<std::uint64_t>(floor_, state.generation_reserved);
    core_.set_generation_floor(
        static_cast<std::uint32_t>(std::min<std::uint64_t>(floor, 0xFFFFFFFE)));
    // A new generation each: every stored entry has a lower seq (loaded when the client
    // returns), everything routed from now on a higher one.
    for (auto& c : created_) {
        const std::uint32_t g = core_.take_generation();
        c.s->set_generation(c.first_generation, g);
        if (c.with_queue) c.s->set_unloaded_store_entries(true, std::uint64_t{g} << 32);
    }
    counts_.sessions = created_.size();

    // Expired sessions go, with their wills (the session ended) [MQTT-3.1.2-8].
    for (auto& rec : state.expired) {
        cleanup_.ops.push_back(storage::delete_session{rec.client_id});
        if (rec.will) core_.pipeline.publish(from_record(rec.will->message));
    }
    counts_.expired = state.expired.size();
    if (auto* st = core_.store()) st->submit(std::move(cleanup_));
    cleanup_ = {};

    // Timers run on each session's owner: expiry and (delayed) wills. One handler per owner for
    // many sessions (a million posts would cost a second at start-up); a session whose owner
    // moved meanwhile (its client came back) is followed there.
    auto start_timers = [now](const session_ptr& s) {
        const auto disconnected = s->config().disconnected_at_ms;
        const auto expiry = s->config().expiry_interval_s;
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
    };
    struct owner_batch {
        asio::any_io_executor ex;
        std::vector<session_ptr> sessions;
    };
    std::vector<owner_batch> batches;
    auto flush = [&](owner_batch& b) {
        asio::post(b.ex, [ex = b.ex, sessions = std::move(b.sessions), start_timers] {
            for (const auto& s : sessions) {
                if (s->owner() == ex)
                    start_timers(s);
                else
                    s->run_on_owner([s, start_timers] { start_timers(s); });
            }
        });
        b.sessions = {};
    };
    constexpr std::size_t per_handler = 256;
    for (auto& c : created_) {
        // The disconnect time of a session connected at a crash, a revoked will. The others are
        // stored as they are: a write per session would make a large recovery write the whole
        // session table again.
        if (c.rewrite) c.s->persist_record();
        asio::any_io_executor ex = c.s->owner();
        auto it = std::find_if(batches.begin(), batches.end(),
                               [&](const owner_batch& b) { return b.ex == ex; });
        if (it == batches.end()) it = batches.insert(batches.end(), {std::move(ex), {}});
        it->sessions.push_back(std::move(c.s));
        if (it->sessions.size() >= per_handler) flush(*it);
    }
    for (auto& b : batches)
        if (!b.sessions.empty()) flush(b);
    created_.clear();
    created_.shrink_to_fit();
    return counts_;
}

restore_counts restore_sessions(
    core_context& core, recovered_state& state,
    const std::function<asio::any_io_executor()>& next_worker,
    const std::function<const listener_config*(std::string_view id)>& find_listener) {
    session_restorer restorer(core, next_worker, find_listener);
    for (auto& r : state.sessions)
        restorer.add(std::move(r));
    return restorer.finish(state);
}

}  // namespace rmqtt::broker
