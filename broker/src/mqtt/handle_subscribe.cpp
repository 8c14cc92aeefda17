// SUBSCRIBE and UNSUBSCRIBE.
#include <spdlog/spdlog.h>

#include "mqtt/connection.hpp"
#include "rmqtt/protocol/topic.hpp"
#include "session/core_context.hpp"

namespace rmqtt::broker {

using protocol::packet_type;
using protocol::qos;
using protocol::reason_code;

namespace {

struct retained_request {
    std::string filter;
    protocol::subscription_options options;
    std::uint32_t subscription_id = 0;
};

// A subscription this SUBSCRIBE added or replaced, to undo when its store write fails.
struct granted {
    std::string filter;
    std::size_t code_index = 0;
    std::optional<session_subscription> previous;  // the subscription it replaced
    protocol::subscription_options options;
    std::uint32_t subscription_id = 0;
};

}  // namespace

asio::awaitable<void> connection::handle_subscribe(protocol::subscribe& sub) {
    const auto& lc = listener_cfg();
    const bool shared_enabled = core_.shared_subscriptions() && lc.shared_subscription;
    std::uint32_t subscription_id = 0;
    if (!sub.props.subscription_identifiers.empty())
        subscription_id = sub.props.subscription_identifiers.front();

    std::vector<std::uint8_t> codes;
    codes.reserve(sub.topics.size());
    storage::write_batch batch;
    std::vector<retained_request> retained;
    std::vector<granted> changes;
    const auto failure = [&](reason_code v5) {
        codes.push_back(is_v5() ? static_cast<std::uint8_t>(v5) : protocol::suback_failure_v3);
    };

    for (auto& t : sub.topics) {
        bool shared_valid = true;
        auto shared = protocol::parse_shared_subscription(t.filter, shared_valid);
        const std::string_view plain = shared ? shared->filter : std::string_view(t.filter);
        if ((shared && !shared_valid) || (!shared && !protocol::is_valid_topic_filter(t.filter))) {
            failure(reason_code::topic_filter_invalid);  // [MQTT-4.8.2-1] [MQTT-4.8.2-2]
            continue;
        }
        if (shared && !shared_enabled) {
            failure(reason_code::shared_subscriptions_not_supported);
            continue;
        }
        if (lc.max_topic_levels != 0 && protocol::topic_levels(plain) > lc.max_topic_levels) {
            failure(reason_code::topic_filter_invalid);
            continue;
        }
        if (core_.hooks.has_acl()) {
            const auto verdict = co_await check_acl(acl_action::subscribe, t.filter);
            if (state_ != state::connected || !session_) co_return;
            if (denied(verdict)) {
                failure(reason_code::not_authorized);
                continue;
            }
        }
        auto& s = *session_;
        const auto existing = s.subscriptions().find(t.filter);
        const bool exists = existing != s.subscriptions().end();
        if (lc.max_subscriptions != 0 && !exists &&
            s.subscriptions().size() >= lc.max_subscriptions) {
            failure(reason_code::quota_exceeded);
            continue;
        }
        auto options = t.options;
        // The granted QoS may be lower than requested [MQTT-3.9.3-1 note].
        if (static_cast<std::uint8_t>(options.max_qos) > lc.max_qos_allowed)
            options.max_qos = static_cast<qos>(lc.max_qos_allowed);
        if (!is_v5()) {
            options.no_local = false;
            options.retain_as_published = false;
            options.retain_handling = 0;
        }
        granted g{t.filter, codes.size(), std::nullopt, options, subscription_id};
        if (exists) g.previous = existing->second;
        const bool is_new = s.subscribe(t.filter, options, subscription_id, batch);
        changes.push_back(std::move(g));
        codes.push_back(static_cast<std::uint8_t>(options.max_qos));
        // Retained messages: not for shared subscriptions (4.8.2); Retain Handling 0 always,
        // 1 only for a new subscription, 2 never [MQTT-3.3.1-9..11].
        if (!shared && (options.retain_handling == 0 || (options.retain_handling == 1 && is_new)))
            retained.push_back({t.filter, options, subscription_id});
    }

    pending_ack ack{
        packet_type::suback, sub.packet_id, reason_code::success, false, false, codes, {}};
    if (!retained.empty() && core_.retained()) {
        ack.after_send = [this, self = shared_from_this(), retained = std::move(retained)] {
            if (!session_) return;
            const auto now = wall_now_ms();
            std::vector<message_ptr> found;
            publish_pipeline::publication copies;
            for (const auto& r : retained) {
                found.clear();
                core_.retained()->match(r.filter, now, found);
                for (auto& m : found) {
                    delivery d;
                    d.msg = m;
                    d.qos = std::min(m->qos, r.options.max_qos);
                    d.retain = true;  // sent because of a new subscription [MQTT-3.3.1-8]
                    if (r.subscription_id != 0) d.subscription_ids.push_back(r.subscription_id);
                    core_.pipeline.add_copy(copies, session_, std::move(d));
                }
            }
            core_.pipeline.submit(copies);
        };
    }
    const auto index = push_ack(std::move(ack));
    const auto announce = [this](const std::vector<granted>& done) {
        if (!core_.hooks.wants<events::subscribed>()) return;
        for (const auto& g : done)
            core_.hooks.emit(
                events::subscribed{client_id(), g.filter, g.options, g.subscription_id});
    };
    auto* store = core_.store();
    if (batch.empty() || !store) {
        announce(changes);
        complete_ack(index, reason_code::success);
        co_return;
    }
    // SUBACK after the subscription records are committed (ack = durable). A failed write is
    // never answered with a grant: the subscriptions are undone and their codes say failure
    // (3.1.1 0x80, 5.0 0x80 Unspecified error).
    store->submit(
        std::move(batch),
        on_executor([this, self = shared_from_this(), s = session_, index, codes = std::move(codes),
                     changes = std::move(changes), announce](const storage::status& st) mutable {
            if (st) {
                announce(changes);
                complete_ack(index, reason_code::success);
                return;
            }
            store_failed("storing subscriptions", st);
            for (const auto& g : changes)
                codes[g.code_index] =
                    is_v5() ? static_cast<std::uint8_t>(reason_code::unspecified_error)
                            : protocol::suback_failure_v3;
            with_session(s, [changes = std::move(changes)](session& x) {
                storage::write_batch unused;
                for (auto it = changes.rbegin(); it != changes.rend(); ++it) {
                    if (it->previous)
                        (void)x.subscribe(it->filter, it->previous->options,
                                          it->previous->subscription_id, unused);
                    else
                        (void)x.unsubscribe(it->filter, unused);
                }
            });
            complete_ack(index, reason_code::success, std::move(codes),
                         /*run_after_send*/ false);
        }));
}

asio::awaitable<void> connection::handle_unsubscribe(protocol::unsubscribe& u) {
    auto& s = *session_;
    std::vector<std::uint8_t> codes;
    storage::write_batch batch;
    // Removed subscriptions, to put back when the store write fails.
    std::vector<std::pair<std::string, session_subscription>> removed;
    for (const auto& filter : u.filters) {
        const auto it = s.subscriptions().find(filter);
        bool existed = false;
        if (it != s.subscriptions().end()) {
            removed.emplace_back(filter, it->second);
            existed = s.unsubscribe(filter, batch);
        }
        codes.push_back(static_cast<std::uint8_t>(existed ? reason_code::success
                                                          : reason_code::no_subscription_existed));
    }
    if (!is_v5()) codes.clear();  // 3.1.1 UNSUBACK has no payload
    const auto index = push_ack(
        {packet_type::unsuback, u.packet_id, reason_code::success, false, false, codes, {}});
    const auto announce =
        [this](const std::vector<std::pair<std::string, session_subscription>>& done) {
            if (!core_.hooks.wants<events::unsubscribed>()) return;
            for (const auto& r : done)
                core_.hooks.emit(events::unsubscribed{client_id(), r.first});
        };
    auto* store = core_.store();
    if (batch.empty() || !store) {
        announce(removed);
        complete_ack(index, reason_code::success);
        co_return;
    }
    // UNSUBACK after the removal is committed. On failure the subscriptions are put back (the
    // store still has them): 5.0 answers 0x80 Unspecified error for them; 3.1.1 has no failure
    // code for UNSUBACK, so the connection closes and the client sends UNSUBSCRIBE again.
    store->submit(
        std::move(batch),
        on_executor([this, self = shared_from_this(), s = session_, index, codes = std::move(codes),
                     removed = std::move(removed), announce](const storage::status& st) mutable {
            if (st) {
                announce(removed);
                complete_ack(index, reason_code::success);
                return;
            }
            store_failed("removing subscriptions", st);
            with_session(s, [removed = std::move(removed)](session& x) {
                storage::write_batch unused;
                for (const auto& [filter, sub] : removed)
                    (void)x.subscribe(filter, sub.options, sub.subscription_id, unused);
            });
            if (!is_v5()) {
                set_end_reason(events::disconnect_reason::protocol_error,
                               reason_code::unspecified_error);
                close();
                return;
            }
            for (auto& c : codes) {
                if (c == static_cast<std::uint8_t>(reason_code::success))
                    c = static_cast<std::uint8_t>(reason_code::unspecified_error);
            }
            complete_ack(index, reason_code::success, std::move(codes));
        }));
}

}  // namespace rmqtt::broker
