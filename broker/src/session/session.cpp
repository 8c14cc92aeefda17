#include "session/session.hpp"

#include <spdlog/spdlog.h>
#include <asio/post.hpp>

#include <cassert>

#include "mqtt/watchdog_wheel.hpp"
#include "session/core_context.hpp"

namespace rmqtt::broker {

using protocol::qos;

namespace {
// QoS 0 messages are dropped for a client whose socket is this far behind (slow consumer).
constexpr std::size_t qos0_output_limit = 8 * 1024 * 1024;
// The inbox (copies handed over from other threads, not yet taken by the owner): publishers
// feeding a session hold back past the high-water mark; past the hard limit QoS 0 copies are
// dropped. QoS 1/2 copies are never dropped here (their publishers wait).
constexpr std::size_t inbox_high_water = 4096;
constexpr std::size_t inbox_hard_limit = 4 * inbox_high_water;
// The back-pressure mark of a connected session whose max_mqueue_len is 0 (unlimited): memory
// stays bounded all the same.
constexpr std::size_t default_room_mark = 4096;

// While set (on a worker thread, for the span of one acknowledgement or one inbox drain), the
// fire-and-forget store operations of sessions are collected into one batch: an entry's delete
// and the state changes of the messages it let through reach the committer in one submission
// (one lock, one queue item) instead of one each. Only store_op's operations are collected,
// updates and deletes, whose order relative to other submissions of the span does not matter:
// an update of a missing entry does nothing, a delete of a missing entry too.
thread_local storage::write_batch* collected_ops = nullptr;

class collect_store_ops {
  public:
    explicit collect_store_ops(persistence* st) : st_(st) {
        if (st_ && !collected_ops) collected_ops = &batch_;
    }
    ~collect_store_ops() {
        if (collected_ops != &batch_) return;  // an outer span collects
        collected_ops = nullptr;
        st_->submit(std::move(batch_));  // an empty batch is not submitted
    }
    collect_store_ops(const collect_store_ops&) = delete;
    collect_store_ops& operator=(const collect_store_ops&) = delete;

  private:
    persistence* st_;
    storage::write_batch batch_;
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

// Every connected client's session is one (with make_shared's control block: a 288-byte block
// from malloc); a field more crosses into the next 16-byte size class. The idle-memory budget.
static_assert(sizeof(session) <= 264);

session::session(core_context& core, std::string client_id, asio::any_io_executor owner)
    : core_(core), client_id_(std::move(client_id)), owner_(to_io_executor(owner)) {}

void session::record_client_limits(const client_limits& l) {
    if (rare_ || (persistent() && l != client_limits{})) rare().limits = l;
}

void session::set_generation(std::uint32_t first, std::uint32_t generation) noexcept {
    first_generation_ = first;
    next_seq_.store(generation == 0 ? 1 : std::uint64_t{generation} << 32,
                    std::memory_order_relaxed);
}

std::uint64_t session::take_seq() noexcept {
    std::uint64_t cur = next_seq_.load(std::memory_order_relaxed);
    for (;;) {
        if ((cur & 0xFFFFFFFFull) == 0xFFFFFFFFull) {
            // The counter is used up: continue in a new generation, above every seq used before
            // (the stored record keeps first_generation, so the old entries stay this session's).
            static std::mutex generation_mutex;  // rare: after 2^32 messages of one session
            std::lock_guard lock(generation_mutex);
            cur = next_seq_.load(std::memory_order_relaxed);
            if ((cur & 0xFFFFFFFFull) == 0xFFFFFFFFull) {
                const auto g = core_.take_generation();
                next_seq_.store(std::uint64_t{g} << 32, std::memory_order_relaxed);
                cur = std::uint64_t{g} << 32;
            }
            continue;
        }
        if (next_seq_.compare_exchange_weak(cur, cur + 1, std::memory_order_relaxed)) return cur;
    }
}

session::rare_state::rare_state() = default;
session::rare_state::~rare_state() = default;

session::rare_state& session::rare() {
    if (!rare_) rare_ = std::make_unique<rare_state>();
    return *rare_;
}

session::more_state& session::more() {
    auto& r = rare();
    if (!r.more) r.more = std::make_unique<more_state>();
    return *r.more;
}

session::~session() = default;

// ---- any thread
// ----------------------------------------------------------------------------------

bool session::stores_messages() const noexcept {
    return persistent() && core_.store() != nullptr;
}

bool session::backlogged() const noexcept {
    return inbox_size_.load(std::memory_order_relaxed) > inbox_high_water;
}

bool session::needs_room() const noexcept {
    const auto mark = room_mark_.load(std::memory_order_relaxed);
    return mark != 0 && std::size_t{queued_count_.load(std::memory_order_relaxed)} +
                                inbox_size_.load(std::memory_order_relaxed) >=
                            mark;
}

void session::deliver(delivery d) {
    std::optional<io_executor> ex;
    {
        std::lock_guard lock(inbox_mutex_);
        if (!inbox_) inbox_ = std::make_unique<std::vector<delivery>>();
        if (d.qos == qos::at_most_once && inbox_->size() >= inbox_hard_limit) {
            metrics::add(core_.stats.qos0_dropped_slow_consumer);
            return;
        }
        inbox_->push_back(std::move(d));
        inbox_size_.store(static_cast<std::uint32_t>(inbox_->size()), std::memory_order_relaxed);
        if (drain_scheduled_) return;
        drain_scheduled_ = true;
        ex = owner_;
    }
    asio::post(*ex, [self = shared_from_this(), to = *ex] { self->drain(to); });
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

std::vector<subscription_info> session::subscription_snapshot() const {
    std::vector<subscription_info> out;
    std::lock_guard lock(snapshot_mutex_);
    const auto& subs = subscriptions();
    out.reserve(subs.size());
    for (const auto& [filter, sub] : subs)
        out.push_back({client_id_, filter, sub.options, sub.subscription_id});
    return out;
}

session_info session::info() const {
    session_info out;
    out.client_id = client_id_;
    {
        std::lock_guard lock(snapshot_mutex_);
        out.username = settings_.username.get();
        out.peer = settings_.peer;
        out.listener = settings_.listener;
        out.version = settings_.version;
        out.expiry_interval_s = settings_.expiry_interval_s;
        out.created_at_ms = settings_.created_at_ms;
        out.connected_at_ms = settings_.connected_at_ms;
        out.disconnected_at_ms = settings_.disconnected_at_ms;  // 0 while connected
        out.subscriptions = subscriptions().size();
    }
    out.online = is_online();
    out.persistent = persistent();
    out.inflight = inflight_count_.load(std::memory_order_relaxed);
    out.queued = queued_count_.load(std::memory_order_relaxed) + inbox_size();
    return out;
}

// ---- owner only
// ----------------------------------------------------------------------------------

void session::set_owner(asio::any_io_executor ex) {
    // Timers belong to the old home; they are re-armed on the new one when needed.
    if (rare_ && rare_->more) {
        for (auto* t : {&rare_->more->will_timer, &rare_->more->rate_timer}) {
            if (*t) (*t)->cancel();
            t->reset();
        }
    }
    cancel_expiry();
    std::lock_guard lock(inbox_mutex_);
    owner_ = to_io_executor(ex);
    if (inbox_ && !inbox_->empty() && !drain_scheduled_) {
        drain_scheduled_ = true;
        asio::post(owner_, [self = shared_from_this(), ex = owner_] { self->drain(ex); });
    }
}

void session::drain(io_executor ex) {
    std::vector<delivery> batch;
    {
        std::lock_guard lock(inbox_mutex_);
        if (owner_ != ex) {
            asio::post(owner_, [self = shared_from_this(), to = owner_] { self->drain(to); });
            return;
        }
        if (inbox_) batch.swap(*inbox_);
        inbox_size_.store(0, std::memory_order_relaxed);
        drain_scheduled_ = false;
    }
    collect_store_ops collect(core_.store());
    for (auto& d : batch)
        accept(std::move(d));
    pump();
}

void session::accept(delivery&& d) {
    if (ended()) {
        // Routed before the session ended; its store entry (if any) goes too.
        pass_on_late(std::move(d));
        return;
    }
    if (d.qos == qos::at_most_once) {
        // QoS 0 is delivered to a connected client only; it is not queued for an offline one.
        if (!link_ || !link_->open()) return;
        if (link_->pending_output() > qos0_output_limit) {
            metrics::add(core_.stats.qos0_dropped_slow_consumer);
            if (core_.hooks.wants<events::message_dropped>())
                core_.hooks.emit(
                    events::message_dropped{client_id_, d.msg, events::drop_reason::slow_consumer});
            return;
        }
        if (!link_->send_publish(*d.msg, d.qos, d.retain, false, 0, d.subscription_ids)) {
            metrics::add(core_.stats.messages_too_large);
            if (core_.hooks.wants<events::message_dropped>())
                core_.hooks.emit(
                    events::message_dropped{client_id_, d.msg, events::drop_reason::too_large});
        } else if (core_.hooks.wants<events::message_delivered>()) {
            core_.hooks.emit(events::message_delivered{client_id_, d.msg, d.qos});
        }
        return;
    }
    if (!link_ && !persistent()) {
        // A non-persistent session without connection is about to end.
        pass_on_late(std::move(d));
        return;
    }
    outbound_entry e = to_entry(std::move(d));
    // In a burst the queue can fill before the window is: send what the window takes first, so
    // the drop policy applies to the messages that are really waiting, as if they came one by one.
    if (const auto& l = queue_.get_limits(); l.max_queued != 0 &&
                                             queue_.queued_count() >= l.max_queued &&
                                             queue_.inflight_count() < l.max_inflight)
        pump();
    // mqueue_overflow = "backpressure": a connected session keeps every QoS 1/2 message; the
    // publishers' acknowledgements wait instead (needs_room), which bounds how far past
    // max_mqueue_len the queue grows. Offline, max_mqueue_len drops as always.
    const bool keep_all = link_ && settings_.mqueue_backpressure;
    if (auto dropped = queue_.push(std::move(e), /*enforce_limit*/ !keep_all)) {
        metrics::add(core_.stats.messages_queue_full);
        drop_entry(std::move(*dropped), events::drop_reason::queue_full);
    }
    store_counts();
}

outbound_entry session::to_entry(delivery&& d) {
    outbound_entry e;
    e.seq = d.seq;
    e.msg = std::move(d.msg);
    e.qos = d.qos;
    e.retain = d.retain;
    e.subscription_ids = std::move(d.subscription_ids);
    e.share_group = std::move(d.share_group);
    e.share_filter = std::move(d.share_filter);
    e.persisted = d.persisted;
    return e;
}

void session::pass_on_late(delivery&& d) {
    // A copy of a shared subscription goes to another member of the group, as the queue does
    // when the session ends (MQTT 5.0 section 4.8.2): it was routed here while this member was
    // leaving. Anything else (or with no other member) is not delivered; its store entry goes.
    std::vector<outbound_entry> one;
    one.push_back(to_entry(std::move(d)));
    if (!one.front().share_group.empty()) one = pass_on(std::move(one), {}, false);
    for (auto& e : one)
        if (e.persisted) store_op(storage::delete_queue_entry{client_id_, e.seq});
}

void session::drop_entry(outbound_entry&& e, events::drop_reason why) {
    metrics::add(core_.stats.messages_dropped);
    spdlog::debug("{}: dropped message seq {} on '{}': {}", client_id_, e.seq, e.msg->topic,
                  events::to_string(why));
    if (e.persisted) store_op(storage::delete_queue_entry{client_id_, e.seq});
    if (core_.hooks.wants<events::message_dropped>())
        core_.hooks.emit(events::message_dropped{client_id_, e.msg, why});
}

void session::entry_done(outbound_entry&& e) {
    if (e.persisted) store_op(storage::delete_queue_entry{client_id_, e.seq});
    if (core_.hooks.wants<events::message_acked>())
        core_.hooks.emit(events::message_acked{client_id_, e.msg, e.qos});
}

void session::store_op(storage::operation op) {
    if (collected_ops) {
        collected_ops->ops.push_back(std::move(op));
        return;
    }
    if (auto* st = core_.store()) st->submit(std::move(op));
}

void session::set_rate_limit(std::uint32_t burst, std::chrono::milliseconds period) {
    if (burst == unlimited_rate || period.count() <= 0) {
        if (rare_ && rare_->more) rare_->more->rate_burst = unlimited_rate;
        return;
    }
    auto& m = more();
    m.rate_burst = burst;
    m.rate_period = period;
}

std::size_t session::rate_budget() {
    constexpr std::size_t unlimited = static_cast<std::size_t>(-1);
    if (!rare_ || !rare_->more || rare_->more->rate_burst == unlimited_rate) return unlimited;
    auto& r = *rare_->more;
    const auto burst = r.rate_burst;
    const auto now = steady_clock::now();
    if (r.rate_tokens < 0) {
        r.rate_tokens = burst;
    } else {
        const double elapsed = std::chrono::duration<double>(now - r.rate_refilled).count();
        const double per_second = burst / std::chrono::duration<double>(r.rate_period).count();
        r.rate_tokens = std::min<double>(burst, r.rate_tokens + elapsed * per_second);
    }
    r.rate_refilled = now;
    if (r.rate_tokens >= 1) return static_cast<std::size_t>(r.rate_tokens);
    if (!r.rate_timer) {
        // The next token: pump again then (on the owner; a move of the owner re-pumps anyway).
        const double per_token_s =
            std::chrono::duration<double>(r.rate_period).count() / static_cast<double>(burst);
        const auto wait = std::chrono::duration_cast<steady_clock::duration>(
            std::chrono::duration<double>((1 - r.rate_tokens) * per_token_s));
        r.rate_timer = std::make_unique<asio::steady_timer>(owner(), wait);
        r.rate_timer->async_wait([self = shared_from_this()](std::error_code ec) {
            if (ec) return;
            self->run_on_owner([self] {
                self->rare_->more->rate_timer.reset();
                self->pump();
            });
        });
    }
    return 0;
}

void session::pump() {
    if (!link_ || !link_->open()) return;
    const std::size_t budget = queue_.queued_count() == 0 ? 0 : rate_budget();
    std::vector<std::uint16_t> unsendable;
    const std::size_t sent = queue_.fill(
        wall_now_ms(), steady_clock::now(),
        [&](outbound_entry& e) {
            if (!link_->send_publish(*e.msg, e.qos, e.retain, e.ever_sent, packet_id_for(e.seq),
                                     e.subscription_ids)) {
                unsendable.push_back(packet_id_for(e.seq));
                return;
            }
            if (!e.ever_sent && core_.hooks.wants<events::message_delivered>())
                core_.hooks.emit(events::message_delivered{client_id_, e.msg, e.qos});
            if (e.persisted && !e.ever_sent)
                store_op(storage::update_queue_entry{client_id_, e.seq, storage::queue_state::sent,
                                                     packet_id_for(e.seq)});
        },
        [&](outbound_entry&& e) {
            metrics::add(core_.stats.messages_expired);
            drop_entry(std::move(e), events::drop_reason::expired);
        },
        budget);
    if (rare_ && rare_->more && rare_->more->rate_tokens >= 0) {
        rare_->more->rate_tokens -= static_cast<double>(sent);
        if (sent == budget && queue_.queued_count() > 0) (void)rate_budget();
    }
    for (auto pid : unsendable) {
        outbound_entry gone;
        if (queue_.remove_inflight(pid, gone)) {
            metrics::add(core_.stats.messages_too_large);
            drop_entry(std::move(gone), events::drop_reason::too_large);
        }
    }
    store_counts();
    if (!unsendable.empty()) pump();
}

void session::send_pubrel(std::uint16_t packet_id) {
    if (link_) link_->send_pubrel(packet_id, protocol::reason_code::success);
}

void session::resume_delivery() {
    if (!link_) return;
    queue_.for_each_inflight([&](outbound_entry& e) {
        const auto pid = packet_id_for(e.seq);
        if (e.state == delivery_state::pubrec_received) {
            send_pubrel(pid);  // [MQTT-4.4.0-1]
        } else if (link_->send_publish(*e.msg, e.qos, e.retain, e.ever_sent, pid,
                                       e.subscription_ids)) {
            e.ever_sent = true;
            e.sent_at = steady_clock::now();
        }
    });
    pump();
}

void session::retry_due(std::chrono::milliseconds interval) {
    if (!link_ || !link_->open()) return;
    auto now = steady_clock::now();
    queue_.for_each_due(now - interval, [&](outbound_entry& e) {
        link_->send_publish(*e.msg, e.qos, e.retain, true, packet_id_for(e.seq),
                            e.subscription_ids);
        e.sent_at = now;
    });
}

bool session::on_puback(const protocol::puback& p) {
    collect_store_ops collect(core_.store());
    outbound_entry removed;
    const auto r = queue_.on_puback(p.packet_id, removed);
    if (r == outbound_queue::ack_result::wrong_state) return false;
    if (r == outbound_queue::ack_result::unknown_packet_id) {
        spdlog::debug("{}: PUBACK for unknown packet id {}", client_id_, p.packet_id);
        return true;
    }
    entry_done(std::move(removed));
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
            entry_done(std::move(removed));
            pump();
        }
        return true;
    }
    // Only the PUBREC that moves the entry to pubrec_received undoes that when its write fails: a
    // repeated one (answering a DUP resend) finds the state stored, or on its way, already.
    const auto* before = queue_.find_inflight(p.packet_id);
    const bool first = before && before->state != delivery_state::pubrec_received;
    outbound_entry* e = nullptr;
    const auto r = queue_.on_pubrec(p.packet_id, e);
    if (r == outbound_queue::ack_result::wrong_state) return false;
    if (r == outbound_queue::ack_result::unknown_packet_id) {
        // Unknown identifier: answer PUBREL so the client can release its state (5.0: 0x92).
        if (link_)
            link_->send_pubrel(p.packet_id, protocol::reason_code::packet_identifier_not_found);
        return true;
    }
    auto* st = core_.store();
    if (!e->persisted || !st) {
        send_pubrel(p.packet_id);
        return true;
    }
    // The pubrec_received state must be durable before PUBREL goes out: otherwise a restart
    // would resend the PUBLISH to a client that already released the identifier, which it would
    // then deliver twice. If the write fails, PUBREL is not sent: the entry stays in flight and
    // the PUBREC is answered again when the client resends it (retry or reconnect).
    storage::write_batch b;
    b.ops.push_back(storage::update_queue_entry{
        client_id_, e->seq, storage::queue_state::pubrec_received, p.packet_id});
    const auto seq = e->seq;
    auto self = shared_from_this();
    st->submit(std::move(b), [self, seq, first, pid = p.packet_id](const storage::status& s) {
        self->run_on_owner([self, seq, first, pid, ok = s.is_ok(), why = s.to_string()] {
            bool still = false;
            self->queue_.for_each_inflight([&](outbound_entry& x) {
                if (x.seq == seq && x.state == delivery_state::pubrec_received) still = true;
            });
            if (!ok) {
                metrics::add(self->core_.stats.store_errors);
                spdlog::error("{}: storing PUBREC state of packet {} failed: {}; PUBREL not sent",
                              self->client_id_, pid, why);
                if (still && first) self->queue_.revert_pubrec(pid);
                return;
            }
            // Still waiting for PUBCOMP on the same entry and connected: release it.
            if (still) self->send_pubrel(pid);
        });
    });
    return true;
}

bool session::on_pubcomp(const protocol::pubcomp& p) {
    collect_store_ops collect(core_.store());
    outbound_entry removed;
    const auto r = queue_.on_pubcomp(p.packet_id, removed);
    if (r == outbound_queue::ack_result::wrong_state) return false;
    if (r == outbound_queue::ack_result::unknown_packet_id) {
        spdlog::debug("{}: PUBCOMP for unknown packet id {}", client_id_, p.packet_id);
        return true;
    }
    entry_done(std::move(removed));
    pump();
    return true;
}

void session::attach(std::shared_ptr<client_link> c) {
    link_ = std::move(c);
    online_.store(true, std::memory_order_relaxed);
    const auto max_queued = queue_.get_limits().max_queued;
    room_mark_.store(!settings_.mqueue_backpressure ? 0
                     : max_queued != 0              ? max_queued
                                                    : default_room_mark,
                     std::memory_order_relaxed);
    cancel_will();  // [MQTT-3.1.3-9]: a new connection before the Will Delay passes: no will
    cancel_expiry();
}

void session::detach() {
    link_.reset();
    online_.store(false, std::memory_order_relaxed);
    room_mark_.store(0, std::memory_order_relaxed);
    const auto now = wall_now_ms();
    std::lock_guard lock(snapshot_mutex_);
    settings_.disconnected_at_ms = now;
}

// ---- subscriptions
// -------------------------------------------------------------------------------

bool session::subscribe(const std::string& filter, const protocol::subscription_options& options,
                        std::uint32_t subscription_id, storage::write_batch& writes) {
    const bool is_new =
        core_.routes.subscribe(shared_from_this(), filter, options, subscription_id);
    session_subscription entry{options, subscription_id};
    {
        std::lock_guard lock(snapshot_mutex_);
        subscriptions_.insert_or_assign(filter, entry);
    }
    if (core_.store() && persistent())
        writes.ops.push_back(
            storage::put_subscription{client_id_, to_subscription_record(filter, entry)});
    return is_new;
}

bool session::unsubscribe(const std::string& filter, storage::write_batch& writes) {
    {
        std::lock_guard lock(snapshot_mutex_);
        if (!subscriptions_.erase(filter)) return false;  // the last one releases the block
    }
    core_.routes.unsubscribe(*this, filter);
    if (filter.starts_with("$share/")) hand_over_shared(filter);
    if (core_.store() && persistent())
        writes.ops.push_back(storage::delete_subscription{client_id_, filter});
    return true;
}

void session::restore_subscription(const std::string& filter, const session_subscription& s) {
    core_.routes.subscribe(shared_from_this(), filter, s.options, s.subscription_id);
    std::lock_guard lock(snapshot_mutex_);
    subscriptions_.insert_or_assign(filter, s);
}

// ---- inbound QoS 2
// -------------------------------------------------------------------------------

void session::inbound_qos2_add_in_memory(std::uint16_t pid) {
    auto& ids = more().inbound_qos2;
    const auto it = std::lower_bound(ids.begin(), ids.end(), pid);
    if (it == ids.end() || *it != pid) ids.insert(it, pid);
}

bool session::inbound_qos2_forget(std::uint16_t pid) {
    if (!rare_ || !rare_->more) return false;
    auto& ids = rare_->more->inbound_qos2;
    const auto it = std::lower_bound(ids.begin(), ids.end(), pid);
    if (it == ids.end() || *it != pid) return false;
    ids.erase(it);
    return true;
}

void session::inbound_qos2_add(std::uint16_t pid, storage::write_batch& writes) {
    inbound_qos2_add_in_memory(pid);
    if (core_.store() && persistent())
        writes.ops.push_back(storage::put_inbound_qos2{client_id_, pid});
}

bool session::inbound_qos2_release(std::uint16_t pid, storage::write_batch& writes) {
    if (!inbound_qos2_forget(pid)) return false;
    if (core_.store() && persistent())
        writes.ops.push_back(storage::delete_inbound_qos2{client_id_, pid});
    return true;
}

// ---- end, shared hand-over, will, expiry
// ---------------------------------------------------------

void session::end(events::session_end_reason why) {
    if (ended_.exchange(true)) return;
    cancel_expiry();
    core_.sessions.remove(*this);
    for (const auto& [filter, sub] : subscriptions())
        core_.routes.unsubscribe(*this, filter);
    {
        std::lock_guard lock(snapshot_mutex_);
        subscriptions_.clear();
    }
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
    inflight_count_.store(0, std::memory_order_relaxed);
    queued_count_.store(0, std::memory_order_relaxed);
    if (will_) publish_will_now();  // 5.0: the will is sent at the latest when the session ends
    if (auto* st = core_.store(); st && ever_persisted_) {
        st->submit(storage::delete_session{client_id_});
    }
    if (rare_ && rare_->more) rare_->more->inbound_qos2 = {};
    if (core_.hooks.wants<events::session_terminated>())
        core_.hooks.emit(events::session_terminated{client_id_, why});
}

void session::hand_over_shared(std::string_view filter, bool online_only) {
    auto queued = queue_.take_queued();
    if (queued.empty()) return;
    queue_.restore(pass_on(std::move(queued), filter, online_only));
    store_counts();
}

std::vector<outbound_entry> session::pass_on(std::vector<outbound_entry> entries,
                                             std::string_view filter, bool online_only) {
    std::vector<outbound_entry> stay;
    publish_pipeline::publication moved;
    for (auto& e : entries) {
        route_target t;
        const bool mine =
            !e.share_group.empty() &&
            (filter.empty() || filter == "$share/" + e.share_group + "/" + e.share_filter);
        if (!mine ||
            !core_.routes.pick_other_member(e.share_group, e.share_filter, *this, e.msg->topic,
                                            t) ||
            (online_only && !t.sub->is_online())) {
            stay.push_back(std::move(e));
            continue;
        }
        delivery d;
        d.msg = e.msg;
        d.qos = std::min(e.msg->qos, t.max_qos);
        d.retain = t.retain_as_published && e.msg->retain;
        d.subscription_ids = std::move(t.subscription_ids);
        d.share_group = std::move(t.share_group);
        d.share_filter = std::move(t.share_filter);
        core_.pipeline.add_copy(moved, std::move(t.sub), std::move(d));
        if (e.persisted) moved.writes.ops.push_back(storage::delete_queue_entry{client_id_, e.seq});
    }
    core_.pipeline.submit(moved);
    return stay;
}

void session::cancel_will() {
    if (!rare_ || !rare_->more || !rare_->more->will_timer) return;
    rare_->more->will_timer->cancel();
    rare_->more->will_timer.reset();
}

void session::publish_will_now() {
    cancel_will();
    if (!will_) return;
    auto w = std::move(*will_);
    will_.reset();
    auto msg = from_record(w.message);
    metrics::add(core_.stats.wills_published);
    spdlog::debug("{}: publishing will on '{}'", client_id_, msg->topic);
    core_.pipeline.publish(std::move(msg));
}

void session::schedule_will(std::chrono::seconds delay) {
    cancel_will();
    auto& t = more().will_timer;
    t = std::make_unique<asio::steady_timer>(owner(), delay);
    t->async_wait([self = shared_from_this()](std::error_code ec) {
        if (ec) return;
        self->run_on_owner([self] {
            if (!self->link_ && !self->ended()) {
                self->publish_will_now();
                self->persist_record();
            }
        });
    });
}

void session::schedule_expiry(std::chrono::milliseconds after) {
    cancel_expiry();
    auto& r = rare();
    const io_executor home = to_io_executor(owner());
    r.expiry.fire = [](void* owner) {
        // On the wheel's thread, the owner's when armed; the owner may have moved since.
        auto self = static_cast<session*>(owner)->shared_from_this();
        self->run_on_owner([self] {
            if (self->link_ || self->ended()) return;
            metrics::add(self->core_.stats.sessions_expired);
            spdlog::info("session {} expired", self->client_id_);
            self->end(events::session_end_reason::expired);
        });
    };
    asio::use_service<watchdog_wheel>(home.context())
        .arm(r.expiry, steady_clock::now() + after, shared_from_this(), home);
}

void session::cancel_expiry() {
    // Owner only, like schedule_expiry: the wheel is this thread's, the one it was armed on
    // (set_owner cancels before the owner moves). Not armed since the last cancel: nothing to do.
    if (!rare_ || rare_->expiry.fire == nullptr) return;
    const io_executor home = to_io_executor(owner());
    asio::use_service<watchdog_wheel>(home.context()).disarm(rare_->expiry);
    rare_->expiry.fire = nullptr;
}

void session::set_unloaded_store_entries(bool v, std::uint64_t boundary) {
    if (!v && !rare_) return;
    assert(!v || boundary != 0);
    rare().unloaded_boundary = v ? std::max<std::uint64_t>(boundary, 1) : 0;
}

void session::store_counts() noexcept {
    inflight_count_.store(static_cast<std::uint32_t>(queue_.inflight_count()),
                          std::memory_order_relaxed);
    queued_count_.store(static_cast<std::uint32_t>(queue_.queued_count()),
                        std::memory_order_relaxed);
}

storage::session_record session::to_record() const {
    storage::session_record r;
    r.client_id = client_id_;
    r.protocol_version = static_cast<std::uint8_t>(settings_.version);
    r.username = settings_.username.get();
    r.listener = settings_.listener;
    r.peer_address = settings_.peer;
    r.expiry_interval_s = settings_.expiry_interval_s;
    r.created_at_ms = settings_.created_at_ms;
    r.connected_at_ms = settings_.connected_at_ms;
    r.disconnected_at_ms = link_ ? 0 : settings_.disconnected_at_ms;
    r.clean_disconnect = settings_.clean_disconnect;
    r.will = will_.to_optional();
    const auto limits = recorded_client_limits();
    r.receive_maximum = limits.receive_maximum;
    r.maximum_packet_size = limits.max_packet_size;
    r.topic_alias_maximum = limits.topic_alias_maximum;
    r.request_problem_information = settings_.request_problem_information;
    r.first_generation = first_generation_;
    r.generation = generation();
    return r;
}

storage::operation session::record_op() {
    ever_persisted_ = true;
    return storage::put_session{to_record()};
}

void session::persist_record() {
    auto* st = core_.store();
    // An ended session's records are gone: writing one now would bring it back.
    if (!st || !persistent() || ended()) return;
    st->submit(record_op());
}

}  // namespace rmqtt::broker
