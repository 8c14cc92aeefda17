#include "session/session.hpp"

#include <spdlog/spdlog.h>
#include <asio/post.hpp>

#include "core/server.hpp"
#include "mqtt/connection.hpp"
#include "routing/router.hpp"

namespace rmqtt::broker {

using protocol::qos;

namespace {
// QoS 0 messages are dropped for a client whose socket is this far behind (slow consumer).
constexpr std::size_t qos0_output_limit = 8 * 1024 * 1024;
}  // namespace

session::session(server& srv, std::string client_id, asio::any_io_executor owner)
    : server_(srv),
      client_id_(std::move(client_id)),
      born_ms_(wall_now_ms()),
      owner_(std::move(owner)) {
    // Sequence numbers start at the wall clock in microseconds, so a new session for a client id
    // never reuses a seq of an earlier one whose late store writes may still be in flight, and a
    // stored entry below its creation time * 1000 belongs to an earlier session (handle_connect).
    next_seq_.store(static_cast<std::uint64_t>(born_ms_) * 1000);
}

session::~session() = default;

// ---- any thread
// ----------------------------------------------------------------------------------

void session::enqueue(delivery d) {
    asio::any_io_executor ex;
    {
        std::lock_guard lock(inbox_mutex_);
        inbox_.push_back(std::move(d));
        if (drain_scheduled_) return;
        drain_scheduled_ = true;
        ex = owner_;
    }
    asio::post(ex, [self = shared_from_this(), ex] { self->drain(ex); });
}

void session::run_on_owner(std::function<void()> fn) {
    asio::any_io_executor ex = owner();
    asio::post(ex, [self = shared_from_this(), ex, fn = std::move(fn)]() mutable {
        if (self->owner() != ex) {
            self->run_on_owner(std::move(fn));  // the home moved meanwhile: follow it
            return;
        }
        fn();
    });
}

asio::any_io_executor session::owner() const {
    std::lock_guard lock(inbox_mutex_);
    return owner_;
}

// ---- owner only
// ----------------------------------------------------------------------------------

void session::set_owner(asio::any_io_executor ex) {
    // Timers belong to the old home; they are re-armed on the new one when needed.
    if (will_timer_) will_timer_->cancel();
    if (expiry_timer_) expiry_timer_->cancel();
    will_timer_.reset();
    expiry_timer_.reset();
    std::lock_guard lock(inbox_mutex_);
    owner_ = std::move(ex);
    if (!inbox_.empty() && !drain_scheduled_) {
        drain_scheduled_ = true;
        asio::post(owner_, [self = shared_from_this(), ex = owner_] { self->drain(ex); });
    }
}

void session::drain(asio::any_io_executor ex) {
    std::vector<delivery> batch;
    {
        std::lock_guard lock(inbox_mutex_);
        if (owner_ != ex) {
            asio::post(owner_, [self = shared_from_this(), to = owner_] { self->drain(to); });
            return;
        }
        batch.swap(inbox_);
        drain_scheduled_ = false;
    }
    for (auto& d : batch)
        accept(std::move(d));
    pump();
}

void session::accept(delivery&& d) {
    if (ended()) {
        // Routed before the session ended; its store entry (if any) goes too.
        if (d.persisted) store_op(storage::delete_queue_entry{client_id_, d.seq});
        return;
    }
    if (d.qos == qos::at_most_once) {
        // QoS 0 is delivered to a connected client only; it is not queued for an offline one.
        if (!connection_ || !connection_->open()) return;
        if (connection_->pending_output() > qos0_output_limit) {
            metrics::add(server_.stats().qos0_dropped_slow_consumer);
            return;
        }
        if (!connection_->send_publish(*d.msg, d.qos, d.retain, false, 0, d.subscription_ids))
            metrics::add(server_.stats().messages_too_large);
        return;
    }
    if (!connection_ && !persistent()) {
        // A non-persistent session without connection is about to end.
        if (d.persisted) store_op(storage::delete_queue_entry{client_id_, d.seq});
        return;
    }
    outbound_entry e;
    e.seq = d.seq;
    e.msg = std::move(d.msg);
    e.qos = d.qos;
    e.retain = d.retain;
    e.subscription_ids = std::move(d.subscription_ids);
    e.share_group = std::move(d.share_group);
    e.share_filter = std::move(d.share_filter);
    e.persisted = d.persisted;
    // In a burst the queue can fill before the window is: send what the window takes first, so
    // the drop policy applies to the messages that are really waiting, as if they came one by one.
    if (const auto& l = queue_.get_limits(); l.max_queued != 0 &&
                                             queue_.queued_count() >= l.max_queued &&
                                             queue_.inflight_count() < l.max_inflight)
        pump();
    if (auto dropped = queue_.push(std::move(e))) {
        metrics::add(server_.stats().messages_queue_full);
        drop_entry(std::move(*dropped), "queue full (max_mqueue_len)");
    }
}

void session::drop_entry(outbound_entry&& e, const char* why) {
    metrics::add(server_.stats().messages_dropped);
    spdlog::debug("{}: dropped message seq {} on '{}': {}", client_id_, e.seq, e.msg->topic, why);
    if (e.persisted) store_op(storage::delete_queue_entry{client_id_, e.seq});
}

void session::store_op(storage::operation op) {
    if (auto* st = server_.store()) st->submit(std::move(op));
}

void session::pump() {
    if (!connection_ || !connection_->open()) return;
    std::vector<std::uint16_t> unsendable;
    queue_.fill(
        wall_now_ms(), steady_clock::now(),
        [&](outbound_entry& e) {
            if (!connection_->send_publish(*e.msg, e.qos, e.retain, e.ever_sent,
                                           packet_id_for(e.seq), e.subscription_ids)) {
                unsendable.push_back(packet_id_for(e.seq));
                return;
            }
            if (e.persisted && !e.ever_sent)
                store_op(storage::update_queue_entry{client_id_, e.seq, storage::queue_state::sent,
                                                     packet_id_for(e.seq)});
        },
        [&](outbound_entry&& e) {
            metrics::add(server_.stats().messages_expired);
            if (e.persisted) store_op(storage::delete_queue_entry{client_id_, e.seq});
        });
    for (auto pid : unsendable) {
        outbound_entry gone;
        if (queue_.remove_inflight(pid, gone)) {
            metrics::add(server_.stats().messages_too_large);
            if (gone.persisted) store_op(storage::delete_queue_entry{client_id_, gone.seq});
        }
    }
    if (!unsendable.empty()) pump();
}

void session::send_pubrel(std::uint16_t packet_id) {
    if (connection_) connection_->send(protocol::pubrel{packet_id, {}, {}});
}

void session::resume_delivery() {
    if (!connection_) return;
    queue_.for_each_inflight([&](outbound_entry& e) {
        const auto pid = packet_id_for(e.seq);
        if (e.state == delivery_state::pubrec_received) {
            send_pubrel(pid);  // [MQTT-4.4.0-1]
        } else if (connection_->send_publish(*e.msg, e.qos, e.retain, e.ever_sent, pid,
                                             e.subscription_ids)) {
            e.ever_sent = true;
            e.sent_at = steady_clock::now();
        }
    });
    pump();
}

void session::retry_due() {
    if (!connection_ || !connection_->open()) return;
    auto now = steady_clock::now();
    queue_.for_each_due(now - settings_.retry_interval, [&](outbound_entry& e) {
        connection_->send_publish(*e.msg, e.qos, e.retain, true, packet_id_for(e.seq),
                                  e.subscription_ids);
        e.sent_at = now;
    });
}

bool session::on_puback(const protocol::puback& p) {
    outbound_entry removed;
    const auto r = queue_.on_puback(p.packet_id, removed);
    if (r == outbound_queue::ack_result::wrong_state) return false;
    if (r == outbound_queue::ack_result::unknown_packet_id) {
        spdlog::debug("{}: PUBACK for unknown packet id {}", client_id_, p.packet_id);
        return true;
    }
    if (removed.persisted) store_op(storage::delete_queue_entry{client_id_, removed.seq});
    pump();
    return true;
}

bool session::on_pubrec(const protocol::pubrec& p) {
    if (protocol::is_error(p.code)) {
        // 5.0: the client refused the message; the flow ends here (4.3.3).
        outbound_entry removed;
        const auto r = queue_.on_pubrec_error(p.packet_id, removed);
        if (r == outbound_queue::ack_result::wrong_state) return false;
        if (r == outbound_queue::ack_result::ok) {
            if (removed.persisted) store_op(storage::delete_queue_entry{client_id_, removed.seq});
            pump();
        }
        return true;
    }
    outbound_entry* e = nullptr;
    const auto r = queue_.on_pubrec(p.packet_id, e);
    if (r == outbound_queue::ack_result::wrong_state) return false;
    if (r == outbound_queue::ack_result::unknown_packet_id) {
        // Unknown identifier: answer PUBREL so the client can release its state (5.0: 0x92).
        if (connection_)
            connection_->send(protocol::pubrel{
                p.packet_id, protocol::reason_code::packet_identifier_not_found, {}});
        return true;
    }
    auto* st = server_.store();
    if (!e->persisted || !st) {
        send_pubrel(p.packet_id);
        return true;
    }
    // The pubrec_received state must be durable before PUBREL goes out: otherwise a restart
    // would resend the PUBLISH to a client that already released the identifier, which it would
    // then deliver twice.
    storage::write_batch b;
    b.ops.push_back(storage::update_queue_entry{
        client_id_, e->seq, storage::queue_state::pubrec_received, p.packet_id});
    const auto seq = e->seq;
    auto self = shared_from_this();
    st->submit(std::move(b), [self, seq, pid = p.packet_id](const storage::status& s) {
        self->run_on_owner([self, seq, pid, ok = s.is_ok()] {
            if (!ok) metrics::add(self->server_.stats().store_errors);
            // Still waiting for PUBCOMP on the same entry and connected: release it.
            bool still = false;
            self->queue_.for_each_inflight([&](outbound_entry& x) {
                if (x.seq == seq && x.state == delivery_state::pubrec_received) still = true;
            });
            if (still) self->send_pubrel(pid);
        });
    });
    return true;
}

bool session::on_pubcomp(const protocol::pubcomp& p) {
    outbound_entry removed;
    const auto r = queue_.on_pubcomp(p.packet_id, removed);
    if (r == outbound_queue::ack_result::wrong_state) return false;
    if (r == outbound_queue::ack_result::unknown_packet_id) {
        spdlog::debug("{}: PUBCOMP for unknown packet id {}", client_id_, p.packet_id);
        return true;
    }
    if (removed.persisted) store_op(storage::delete_queue_entry{client_id_, removed.seq});
    pump();
    return true;
}

void session::attach(std::shared_ptr<connection> c) {
    connection_ = std::move(c);
    online_.store(true, std::memory_order_relaxed);
    cancel_will();  // [MQTT-3.1.3-9]: a new connection before the Will Delay passes: no will
    cancel_expiry();
}

void session::detach() {
    connection_.reset();
    online_.store(false, std::memory_order_relaxed);
    settings_.disconnected_at_ms = wall_now_ms();
}

void session::end() {
    if (ended_.exchange(true)) return;
    cancel_expiry();
    server_.sessions().remove(*this);
    for (const auto& [filter, sub] : subscriptions_)
        server_.routes().unsubscribe(*this, filter);
    subscriptions_.clear();
    // Messages of shared subscriptions go to another member of the group (MQTT 5.0 section
    // 4.8.2), except a QoS 2 one already sent to this member: it must not reach another
    // [MQTT-4.8.2-5].
    // The session's own stored entries go with the delete_session below.
    std::vector<outbound_entry> movable;
    for (auto& e : queue_.clear()) {
        const bool qos2_in_flight =
            e.qos == protocol::qos::exactly_once && e.state != delivery_state::queued;
        if (!qos2_in_flight) movable.push_back(std::move(e));
    }
    pass_on(std::move(movable), {}, false);
    if (will_) publish_will_now();  // 5.0: the will is sent at the latest when the session ends
    if (auto* st = server_.store(); st && ever_persisted_) {
        st->submit(storage::delete_session{client_id_});
    }
    inbound_qos2_.clear();
}

void session::hand_over_shared(std::string_view filter, bool online_only) {
    auto queued = queue_.take_queued();
    if (queued.empty()) return;
    queue_.restore(pass_on(std::move(queued), filter, online_only));
}

std::vector<outbound_entry> session::pass_on(std::vector<outbound_entry> entries,
                                             std::string_view filter, bool online_only) {
    std::vector<outbound_entry> stay;
    storage::write_batch batch;
    std::vector<server::routed_delivery> moved;
    auto* st = server_.store();
    for (auto& e : entries) {
        route_target t;
        const bool mine =
            !e.share_group.empty() &&
            (filter.empty() || filter == "$share/" + e.share_group + "/" + e.share_filter);
        if (!mine ||
            !server_.routes().pick_other_member(e.share_group, e.share_filter, *this, e.msg->topic,
                                                t) ||
            (online_only && !t.sub->is_online())) {
            stay.push_back(std::move(e));
            continue;
        }
        auto target = std::static_pointer_cast<session>(t.sub);
        delivery d;
        d.msg = e.msg;
        d.qos = std::min(e.msg->qos, t.max_qos);
        d.retain = t.retain_as_published && e.msg->retain;
        d.subscription_ids = std::move(t.subscription_ids);
        d.share_group = std::move(t.share_group);
        d.share_filter = std::move(t.share_filter);
        if (d.qos != protocol::qos::at_most_once) {
            d.seq = target->take_seq();
            if (st && target->persistent()) {
                d.persisted = true;
                batch.ops.push_back(
                    storage::put_queue_entry{target->client_id(), server::to_queue_entry(d)});
            }
        }
        if (e.persisted) batch.ops.push_back(storage::delete_queue_entry{client_id_, e.seq});
        moved.push_back({std::move(target), std::move(d)});
    }
    server_.submit_and_deliver(std::move(batch), moved);
    return stay;
}

void session::cancel_will() {
    if (will_timer_) will_timer_->cancel();
    will_timer_.reset();
}

void session::publish_will_now() {
    cancel_will();
    if (!will_) return;
    auto w = std::move(*will_);
    will_.reset();
    auto msg = server::from_record(w.message);
    metrics::add(server_.stats().wills_published);
    spdlog::debug("{}: publishing will on '{}'", client_id_, msg->topic);
    server_.publish_internal(std::move(msg));
}

void session::schedule_will(std::chrono::seconds delay) {
    cancel_will();
    will_timer_ = std::make_unique<asio::steady_timer>(owner(), delay);
    will_timer_->async_wait([self = shared_from_this()](std::error_code ec) {
        if (ec) return;
        self->run_on_owner([self] {
            if (!self->connection_ && !self->ended()) {
                self->publish_will_now();
                self->persist_record();
            }
        });
    });
}

void session::schedule_expiry(std::chrono::milliseconds after) {
    cancel_expiry();
    expiry_timer_ = std::make_unique<asio::steady_timer>(owner(), after);
    expiry_timer_->async_wait([self = shared_from_this()](std::error_code ec) {
        if (ec) return;
        self->run_on_owner([self] {
            if (self->connection_ || self->ended()) return;
            metrics::add(self->server_.stats().sessions_expired);
            spdlog::info("session {} expired", self->client_id_);
            self->end();
        });
    });
}

void session::cancel_expiry() {
    if (expiry_timer_) expiry_timer_->cancel();
    expiry_timer_.reset();
}

storage::session_record session::to_record() const {
    storage::session_record r;
    r.client_id = client_id_;
    r.protocol_version = static_cast<std::uint8_t>(settings_.version);
    r.username = settings_.username;
    r.listener = settings_.listener;
    r.peer_address = settings_.peer;
    r.expiry_interval_s = settings_.expiry_interval_s;
    r.created_at_ms = settings_.created_at_ms;
    r.connected_at_ms = settings_.connected_at_ms;
    r.disconnected_at_ms = connection_ ? 0 : settings_.disconnected_at_ms;
    r.clean_disconnect = settings_.clean_disconnect;
    r.will = will_;
    r.receive_maximum = settings_.client_receive_maximum;
    r.maximum_packet_size = settings_.client_max_packet_size;
    r.topic_alias_maximum = settings_.client_topic_alias_maximum;
    r.request_problem_information = settings_.request_problem_information;
    return r;
}

void session::persist_record() {
    auto* st = server_.store();
    if (!st || !persistent()) return;
    ever_persisted_ = true;
    st->submit(storage::put_session{to_record()});
}

}  // namespace rmqtt::broker
