// SUBSCRIBE and UNSUBSCRIBE.
#include <spdlog/spdlog.h>

#include "core/server.hpp"
#include "mqtt/connection.hpp"
#include "rmqtt/protocol/topic.hpp"

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

storage::subscription_record to_subscription_record(const std::string& filter,
                                                    const session_subscription& s) {
    storage::subscription_record r;
    r.filter = filter;
    r.qos = static_cast<std::uint8_t>(s.options.max_qos);
    r.no_local = s.options.no_local;
    r.retain_as_published = s.options.retain_as_published;
    r.retain_handling = s.options.retain_handling;
    r.subscription_id = s.subscription_id;
    return r;
}

}  // namespace

asio::awaitable<void> connection::handle_subscribe(protocol::subscribe& sub) {
    const auto& lc = listener_;
    auto& s = *session_;
    auto* store = server_.store();
    const bool persist = store && s.persistent();
    const bool shared_enabled =
        server_.cfg().plugin_enabled("rmqtt-shared-subscription") && lc.shared_subscription;
    std::uint32_t subscription_id = 0;
    if (!sub.props.subscription_identifiers.empty())
        subscription_id = sub.props.subscription_identifiers.front();

    std::vector<std::uint8_t> codes;
    codes.reserve(sub.topics.size());
    storage::write_batch batch;
    std::vector<retained_request> retained;
    const auto failure = [&](reason_code v5) {
        codes.push_back(is_v5() ? static_cast<std::uint8_t>(v5) : protocol::suback_failure_v3);
    };

    for (auto& t : sub.topics) {
        bool shared_valid = true;
        auto shared = protocol::parse_shared_subscription(t.filter, shared_valid);
        const std::string_view plain = shared ? shared->filter : std::string_view(t.filter);
        if ((shared && !shared_valid) || (!shared && !protocol::is_valid_topic_filter(t.filter))) {
            failure(reason_code::topic_filter_invalid);  // [MQTT-4.7.1-2] [MQTT-4.7.1-3]
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
        if (server_.hooks().has_acl() && server_.hooks().check_acl(info(), acl_action::subscribe,
                                                                   t.filter) == hook_result::deny) {
            failure(reason_code::not_authorized);
            continue;
        }
        const bool exists = s.subscriptions().contains(t.filter);
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
        const bool is_new =
            server_.routes().subscribe(session_, t.filter, options, subscription_id);
        auto& entry = s.subscriptions()[t.filter];
        entry.options = options;
        entry.subscription_id = subscription_id;
        if (persist)
            batch.ops.push_back(
                storage::put_subscription{client_id_, to_subscription_record(t.filter, entry)});
        codes.push_back(static_cast<std::uint8_t>(options.max_qos));
        // Retained messages: not for shared subscriptions (4.8.2); Retain Handling 0 always,
        // 1 only for a new subscription, 2 never [MQTT-3.3.1-9..11].
        if (!shared && (options.retain_handling == 0 || (options.retain_handling == 1 && is_new)))
            retained.push_back({t.filter, options, subscription_id});
    }

    pending_ack ack{packet_type::suback,
                    sub.packet_id,
                    reason_code::success,
                    false,
                    false,
                    std::move(codes),
                    {}};
    if (!retained.empty()) {
        ack.after_send = [this, self = shared_from_this(), retained = std::move(retained)] {
            if (!session_) return;
            const auto now = wall_now_ms();
            std::vector<message_ptr> found;
            storage::write_batch puts;
            std::vector<server::routed_delivery> deliveries;
            auto* st = server_.store();
            for (const auto& r : retained) {
                found.clear();
                server_.retained().match(r.filter, now, found);
                for (auto& m : found) {
                    delivery d;
                    d.msg = m;
                    d.qos = std::min(m->qos, r.options.max_qos);
                    d.retain = true;  // sent because of a new subscription [MQTT-3.3.1-8]
                    if (r.subscription_id != 0) d.subscription_ids.push_back(r.subscription_id);
                    if (d.qos != qos::at_most_once) {
                        d.seq = session_->take_seq();
                        if (st && session_->persistent()) {
                            d.persisted = true;
                            puts.ops.push_back(
                                storage::put_queue_entry{client_id_, server::to_queue_entry(d)});
                        }
                    }
                    deliveries.push_back({session_, std::move(d)});
                }
            }
            server_.submit_and_deliver(std::move(puts), deliveries);
        };
    }
    const auto index = push_ack(std::move(ack));
    if (!persist || batch.empty()) {
        complete_ack(index, reason_code::success);
        co_return;
    }
    // SUBACK after the subscription records are committed (ack = durable).
    store->submit(std::move(batch),
                  on_executor([this, self = shared_from_this(), index](const storage::status& st) {
                      if (!st) {
                          metrics::add(server_.stats().store_errors);
                          spdlog::error("{}: storing subscriptions failed: {}", client_id_,
                                        st.to_string());
                      }
                      complete_ack(index, reason_code::success);
                  }));
}

asio::awaitable<void> connection::handle_unsubscribe(protocol::unsubscribe& u) {
    auto& s = *session_;
    auto* store = server_.store();
    const bool persist = store && s.persistent();
    std::vector<std::uint8_t> codes;
    storage::write_batch batch;
    for (const auto& filter : u.filters) {
        const bool existed = s.subscriptions().erase(filter) > 0;
        if (existed) {
            server_.routes().unsubscribe(s, filter);
            if (filter.starts_with("$share/")) s.hand_over_shared(filter);
        }
        if (existed && persist)
            batch.ops.push_back(storage::delete_subscription{client_id_, filter});
        codes.push_back(static_cast<std::uint8_t>(existed ? reason_code::success
                                                          : reason_code::no_subscription_existed));
    }
    if (!is_v5()) codes.clear();  // 3.1.1 UNSUBACK has no payload
    const auto index = push_ack({packet_type::unsuback,
                                 u.packet_id,
                                 reason_code::success,
                                 false,
                                 false,
                                 std::move(codes),
                                 {}});
    if (!persist || batch.empty()) {
        complete_ack(index, reason_code::success);
        co_return;
    }
    store->submit(std::move(batch),
                  on_executor([this, self = shared_from_this(), index](const storage::status&) {
                      complete_ack(index, reason_code::success);
                  }));
}

}  // namespace rmqtt::broker
