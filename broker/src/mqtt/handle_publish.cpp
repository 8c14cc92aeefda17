// PUBLISH from a client, and the acknowledgements of both directions' QoS flows.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "mqtt/connection.hpp"
#include "session/core_context.hpp"

namespace rmqtt::broker {

using protocol::packet_type;
using protocol::qos;
using protocol::reason_code;

namespace {

// The 5.0 properties a PUBLISH carries on to subscribers (3.3.2.3): everything but the Topic
// Alias and Subscription Identifiers, which belong to one connection.
std::unique_ptr<const protocol::properties> forwarded_properties(protocol::properties& in) {
    in.topic_alias.reset();
    in.subscription_identifiers.clear();
    if (in.empty()) return nullptr;
    return std::make_unique<const protocol::properties>(std::move(in));
}

}  // namespace

asio::awaitable<void> connection::handle_publish(protocol::publish& p) {
    metrics::add(core_.stats.publishes_received);
    const auto& lc = listener_cfg();
    const bool acked = p.qos_level != qos::at_most_once;

    if (static_cast<std::uint8_t>(p.qos_level) > lc.max_qos_allowed) {
        // 5.0 [MQTT-3.2.2-11]: QoS above Maximum QoS -> DISCONNECT 0x9B. 3.x: close.
        protocol_violation(reason_code::qos_not_supported, "QoS above max_qos_allowed");
        co_return;
    }
    if (p.retain && !core_.retained() && is_v5()) {
        // Retain Available 0 was announced: a retained PUBLISH is refused (5.0 3.2.2.3.5).
        protocol_violation(reason_code::retain_not_supported,
                           "retained messages are not supported (rmqtt-retainer is off)");
        co_return;
    }
    if (is_v5()) {
        if (!p.props.subscription_identifiers.empty()) {
            protocol_violation(reason_code::protocol_error,
                               "PUBLISH from a client with a Subscription Identifier "
                               "[MQTT-3.3.4-6]");
            co_return;
        }
        if (auto alias = p.props.topic_alias) {
            // 3.3.2.3.4: 1..Topic Alias Maximum; a new topic sets the mapping, an empty one uses
            // it.
            if (*alias == 0 || *alias > lc.max_topic_aliases) {
                protocol_violation(reason_code::topic_alias_invalid, "Topic Alias out of range");
                co_return;
            }
            auto& aliases_in = rare().topic_aliases_in;
            if (aliases_in.empty())
                aliases_in.assign(std::size_t{lc.max_topic_aliases} + 1, std::string{});
            if (!p.topic.empty()) {
                aliases_in[*alias] = p.topic;
            } else if (aliases_in[*alias].empty()) {
                // An empty topic needs an alias the client has set on this connection.
                protocol_violation(reason_code::protocol_error,
                                   "Topic Alias without a mapping and an empty topic");
                co_return;
            } else {
                p.topic = aliases_in[*alias];
            }
        }
        if (acked) {
            // [MQTT-3.3.4-9]: more unacknowledged QoS>0 PUBLISHes than our Receive Maximum.
            const bool duplicate_qos2 = p.qos_level == qos::exactly_once && session_ &&
                                        session_->inbound_qos2_contains(p.packet_id);
            if (!duplicate_qos2 && inbound_quota_used_ >= receive_maximum_in()) {
                protocol_violation(reason_code::receive_maximum_exceeded,
                                   "Receive Maximum exceeded");
                co_return;
            }
        }
    }
    auto ack_type = p.qos_level == qos::exactly_once ? packet_type::pubrec : packet_type::puback;

    // Exactly once, Method B (4.3.3): a PUBLISH whose packet id awaits PUBREL was already routed.
    if (p.qos_level == qos::exactly_once && session_->inbound_qos2_contains(p.packet_id)) {
        push_ack({packet_type::pubrec, p.packet_id, reason_code::success, true, false, {}, {}});
        co_return;
    }
    // A new QoS 2 message while max_awaiting_rel others await PUBREL: without this bound a 3.1.1
    // client that never sends PUBREL makes the broker keep (and store) up to 65,535 messages'
    // state (CVE-2023-28366). There is no negative PUBREC in 3.1.1, so the connection closes
    // (5.0: DISCONNECT 0x93, as for its Receive Maximum).
    if (p.qos_level == qos::exactly_once && listener_cfg().max_awaiting_rel != 0 &&
        session_->inbound_qos2_count() >= listener_cfg().max_awaiting_rel) {
        protocol_violation(reason_code::receive_maximum_exceeded,
                           "more than max_awaiting_rel QoS 2 messages awaiting PUBREL");
        co_return;
    }

    // A PUBLISH that is accepted on the wire but not routed: 5.0 says why in the ack; 3.x has no
    // negative ack, so the message is acknowledged and dropped.
    const auto refuse = [&](reason_code v5_code) {
        if (!acked) return;
        if (is_v5()) ++inbound_quota_used_;
        push_ack({ack_type,
                  p.packet_id,
                  is_v5() ? v5_code : reason_code::success,
                  true,
                  is_v5(),
                  {},
                  {}});
    };
    if (lc.max_topic_levels != 0 && protocol::topic_levels(p.topic) > lc.max_topic_levels) {
        if (!is_v5())
            protocol_violation(reason_code::topic_name_invalid, "topic exceeds max_topic_levels");
        else
            refuse(reason_code::topic_name_invalid);
        co_return;
    }
    if (p.topic.starts_with("$SYS")) {
        // Topics beginning with '$SYS' are the server's [MQTT-4.7.2-1 note]: not routed.
        spdlog::debug("{}: PUBLISH to '{}' refused", client_id(), p.topic);
        refuse(reason_code::not_authorized);
        co_return;
    }
    if (core_.hooks.has_acl()) {
        const auto verdict = co_await check_acl(acl_action::publish, p.topic);
        if (state_ != state::connected) co_return;
        if (denied(verdict)) {
            spdlog::debug("{}: PUBLISH to '{}' denied by ACL", client_id(), p.topic);
            if (core_.hooks.wants<events::message_dropped>()) {
                auto m = std::make_shared<message>();
                m->topic = p.topic;
                m->payload = p.payload;
                m->qos = p.qos_level;
                m->retain = p.retain;
                m->publisher = client_id();
                m->created_at_ms = wall_now_ms();
                core_.hooks.emit(events::message_dropped{std::nullopt, std::move(m),
                                                         events::drop_reason::not_authorized});
            }
            if (verdict == hook_result::deny_disconnect) {
                // RMQTT's disconnect_if_pub_rejected: no acknowledgement; 5.0 DISCONNECT 0x87
                // then close, 3.x close. The will is published (not a normal DISCONNECT).
                log_with(fields(), spdlog::level::info,
                         "PUBLISH to '{}' denied by ACL (disconnect_if_pub_rejected); closing",
                         p.topic);
                set_end_reason(events::disconnect_reason::not_authorized,
                               reason_code::not_authorized);
                close(reason_code::not_authorized, "PUBLISH not authorized");
                co_return;
            }
            refuse(reason_code::not_authorized);
            co_return;
        }
    }

    // Back-pressure: while the store cannot keep up, stop reading from publishers. (The check
    // first: a coroutine frame for every PUBLISH costs an allocation.)
    const auto* st = core_.store();
    if (st && st->overloaded() && !co_await wait_for_store_room()) {
        if (state_ != state::connected) co_return;
        if (!is_v5()) {
            log_with(fields(), spdlog::level::warn,
                     "session store overloaded; closing 3.x publisher");
            close();
            co_return;
        }
        refuse(reason_code::quota_exceeded);
        co_return;
    }

    auto m = std::make_shared<message>();
    m->topic = std::move(p.topic);
    m->payload = std::move(p.payload);
    m->qos = p.qos_level;
    m->retain = p.retain;
    m->publisher = client_id();
    m->created_at_ms = wall_now_ms();
    if (is_v5()) {
        if (auto e = p.props.message_expiry_interval)
            m->expiry_at_ms = m->created_at_ms + std::int64_t{*e} * 1000;
        m->props = forwarded_properties(p.props);
    } else if (lc.message_expiry_interval.count() > 0) {
        m->expiry_at_ms = m->created_at_ms + lc.message_expiry_interval.count();
    }
    // message.publish hooks may change the message or drop it.
    if (core_.hooks.has_message_publish()) {
        pending<hook_result> wait;
        const auto verdict = co_await decided(core_.hooks.message_publish(*m, info(), &wait), wait);
        if (state_ != state::connected) co_return;
        if (denied(verdict)) {
            spdlog::debug("{}: PUBLISH to '{}' dropped by a message.publish hook", client_id(),
                          m->topic);
            if (core_.hooks.wants<events::message_dropped>())
                core_.hooks.emit(events::message_dropped{std::nullopt, std::move(m),
                                                         events::drop_reason::publish_hook});
            refuse(reason_code::not_authorized);
            co_return;
        }
        // A hook may lower the QoS, not raise it above what the listener allows.
        m->qos = std::min(m->qos, static_cast<qos>(lc.max_qos_allowed));
    }
    message_ptr msg = std::move(m);

    thread_local publish_pipeline::publication pub;
    pub.clear();
    if (p.qos_level == qos::exactly_once) session_->inbound_qos2_add(p.packet_id, pub.writes);
    const auto matched = core_.pipeline.route(msg, pub);
    if (matched == 0) {
        metrics::add(core_.stats.messages_no_subscribers);
        if (core_.hooks.wants<events::message_dropped>())
            core_.hooks.emit(
                events::message_dropped{std::nullopt, msg, events::drop_reason::no_subscribers});
    }
    if (core_.hooks.wants<events::message_published>())
        core_.hooks.emit(events::message_published{who(), msg, matched});

    auto* store = core_.store();
    if (acked && is_v5()) ++inbound_quota_used_;
    const auto ok_code =
        is_v5() && matched == 0 ? reason_code::no_matching_subscribers : reason_code::success;
    // ack = durable: PUBACK / PUBREC only once every store write this message caused is
    // committed (DESIGN.md section 3).
    const bool ack_waits = acked && store && store->durable_acks() && !pub.writes.empty();
    const auto pid = p.packet_id;
    const bool qos2 = p.qos_level == qos::exactly_once;
    // A subscriber whose queue is full (mqueue_overflow = "backpressure") takes this message
    // all the same; the acknowledgement waits until it has room, so the publisher slows down
    // within its window instead of the subscriber dropping what the publisher was told is in.
    std::vector<std::weak_ptr<delivery_target>> full;
    if (acked)
        for (const auto& c : pub.copies)
            if (c.d.qos != qos::at_most_once && c.target->needs_room()) full.push_back(c.target);
    std::uint64_t index = 0;
    if (acked) {
        index = push_ack({ack_type, pid, ok_code, !ack_waits, is_v5(), {}, {}, !full.empty()});
        if (!full.empty()) {
            metrics::add(core_.stats.publishes_held_for_room);
            wait_for_room(index, std::move(full));
        }
    }
    // Exactly once across a crash: a QoS 2 message from a persistent session reaches
    // subscribers only after its inbound packet id is durable. Delivered earlier, a crash before
    // the commit would lose the id, and the publisher's resend after the restart
    // [MQTT-4.4.0-1] would be routed a second time. While this connection has held messages
    // waiting, later ones wait behind them, so its messages keep their order. A failed commit
    // delivers none of the held copies (with hold_all: nothing at all; otherwise the copies for
    // clean sessions already went out and may be duplicated by the resend): the publisher is
    // told (5.0) or disconnected (3.x) and sends again.
    const bool hold_all = (qos2 && session_->persistent()) || held_batches_ > 0;
    const bool may_hold =
        store && store->durable_acks() &&
        (hold_all || std::any_of(pub.copies.begin(), pub.copies.end(),
                                 [](const auto& c) { return c.held_for_commit(); }));
    if (!ack_waits && !may_hold) {
        // Nothing to wait for (the common QoS 0 / QoS 1 path): no completion at all.
        std::vector<std::weak_ptr<delivery_target>> backlogged;
        core_.pipeline.submit(pub, {}, false, false, &backlogged);
        note_backlogged(std::move(backlogged));
        co_return;
    }
    auto held = std::make_shared<bool>(false);
    auto done = on_executor([this, self = shared_from_this(), sess = session_, held, index, ok_code,
                             pid, qos2, ack_waits, msg](const storage::status& s) {
        if (*held) --held_batches_;
        if (!ack_waits) return;
        if (s) {
            complete_ack(index, ok_code);
            return;
        }
        store_failed("storing a message", s);
        if (core_.hooks.wants<events::message_dropped>())
            core_.hooks.emit(
                events::message_dropped{std::nullopt, msg, events::drop_reason::store_failed});
        // Not received after all: the resend (also after a reconnect) is routed anew.
        if (qos2) with_session(sess, [pid](session& x) { x.inbound_qos2_forget(pid); });
        if (!is_v5()) {
            // 3.x has no negative acknowledgement: close so the client resends.
            close();
            return;
        }
        complete_ack(index, reason_code::unspecified_error);
    });
    // The completion above runs on this executor after this handler returns, so `held` is set
    // before it is read.
    std::vector<std::weak_ptr<delivery_target>> backlogged;
    *held = core_.pipeline.submit(pub, std::move(done), hold_all,
                                  /*drop_held_on_failure*/ ack_waits, &backlogged);
    if (*held) ++held_batches_;
    note_backlogged(std::move(backlogged));
}

void connection::handle_puback(const protocol::puback& p) {
    if (session_ && !session_->on_puback(p))
        protocol_violation(reason_code::protocol_error, "PUBACK for a packet that is not QoS 1");
}

void connection::handle_pubrec(const protocol::pubrec& p) {
    if (session_ && !session_->on_pubrec(p))
        protocol_violation(reason_code::protocol_error,
                           "PUBREC for a packet that is not QoS 2 awaiting PUBREC");
}

void connection::handle_pubcomp(const protocol::pubcomp& p) {
    if (session_ && !session_->on_pubcomp(p))
        protocol_violation(reason_code::protocol_error, "PUBCOMP for a packet not released");
}

void connection::handle_pubrel(const protocol::pubrel& p) {
    if (!session_) return;
    storage::write_batch writes;
    const bool known = session_->inbound_qos2_release(p.packet_id, writes);
    // An unknown id still gets PUBCOMP (4.3.3); 5.0 says why.
    const auto code =
        known || !is_v5() ? reason_code::success : reason_code::packet_identifier_not_found;
    auto* store = core_.store();
    if (writes.empty() || !store) {
        push_ack({packet_type::pubcomp, p.packet_id, code, true, known && is_v5(), {}, {}});
        return;
    }
    // PUBCOMP waits until the id's removal is durable: otherwise a restart would bring the id
    // back and a new message reusing it would be dropped as a duplicate. If the removal fails,
    // no PUBCOMP: the id is kept and the connection closes, so the client sends PUBREL again when
    // it reconnects [MQTT-4.4.0-1] (PUBCOMP has no reason code for a server failure).
    const auto index = push_ack({packet_type::pubcomp, p.packet_id, code, false, is_v5(), {}, {}});
    store->submit(std::move(writes),
                  on_executor([this, self = shared_from_this(), sess = session_, index, code,
                               pid = p.packet_id](const storage::status& s) {
                      if (s) {
                          complete_ack(index, code);
                          return;
                      }
                      store_failed("releasing a QoS 2 packet identifier", s);
                      with_session(sess, [pid](session& x) { x.restore_inbound_qos2(pid); });
                      set_end_reason(events::disconnect_reason::protocol_error,
                                     reason_code::unspecified_error);
                      close(reason_code::unspecified_error, "session store unavailable");
                  }));
}

}  // namespace rmqtt::broker
