#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "mqtt/watchdog_wheel.hpp"
#include "rmqtt/broker/broker_api.hpp"
#include "rmqtt/broker/events.hpp"
#include "rmqtt/broker/message.hpp"
#include "rmqtt/protocol/packets.hpp"
#include "rmqtt/storage/records.hpp"
#include "rmqtt/storage/store.hpp"
#include "routing/delivery_target.hpp"
#include "session/boxed_optional.hpp"
#include "session/client_link.hpp"
#include "session/heap_optional.hpp"
#include "session/interned_string.hpp"
#include "session/io_executor.hpp"
#include "session/outbound_queue.hpp"
#include "session/small_mutex.hpp"
#include "session/subscription_table.hpp"

namespace rmqtt::broker {

class core_context;

// An MQTT session (3.1.1 section 4.1 / 5.0 section 4.1): subscriptions, the outbound QoS state,
// inbound QoS 2 packet ids, the will, expiry. It outlives connections when persistent. It is a
// delivery target: routed copies arrive through deliver().
//
// Every store write of a session's state (its record, subscriptions, queue entry state changes
// and removals, inbound QoS 2 ids) is made here; only the put of a new queue entry comes from
// the publish pipeline, before the copy is handed over.
//
// Threading: a session is an actor with a home, its *owner* executor (one worker's io_context).
// Everything marked "owner only" is touched only by handlers running on the owner, so it needs
// no lock. The owner moves when a connection on another worker attaches; it only ever changes
// inside a handler running on the current owner, so a handler that finds itself on the owner
// keeps that status until it returns. Other threads reach the session through deliver() (the
// inbox: a mutex-guarded vector drained on the owner) and run_on_owner().
class session final : public delivery_target, public std::enable_shared_from_this<session> {
  public:
    session(core_context& core, std::string client_id, asio::any_io_executor owner);
    ~session() override;

    // ---- any thread --------------------------------------------------------------------------
    const std::string& client_id() const noexcept override { return client_id_; }
    bool is_online() const noexcept override { return online_.load(std::memory_order_relaxed); }
    bool stores_messages() const noexcept override;
    // (generation << 32) | counter; a session that used up its 2^32 numbers takes the next
    // generation (core_context::take_generation).
    std::uint64_t take_seq() noexcept override;
    // Queues a copy for this session (the inbox). If the copy is persisted, its put_queue_entry
    // was submitted before.
    void deliver(delivery d) override;
    bool backlogged() const noexcept override;
    bool needs_room() const noexcept override;

    bool persistent() const noexcept { return persistent_.load(std::memory_order_acquire); }
    bool ended() const noexcept { return ended_.load(std::memory_order_acquire); }
    // Copies waiting in the inbox (not yet taken by the owner).
    std::size_t inbox_size() const noexcept { return inbox_size_.load(std::memory_order_relaxed); }

    // Runs `fn` on the owner executor, following ownership moves.
    void run_on_owner(std::function<void()> fn);
    asio::any_io_executor owner() const;

    // Snapshots for the broker API, safe from any thread.
    session_info info() const;
    std::vector<subscription_info> subscription_snapshot() const;

    // ---- owner only --------------------------------------------------------------------------
    core_context& core() noexcept { return core_; }
    const std::shared_ptr<client_link>& link() const noexcept { return link_; }
    // Attaches / detaches the network connection (the owner must already be the connection's
    // executor).
    void attach(std::shared_ptr<client_link> c);
    void detach();
    void set_owner(asio::any_io_executor ex);  // moves the home; call on the current owner

    // Sends what the inflight window allows; called after anything that may free room.
    void pump();
    // Resends inflight messages (DUP) and PUBRELs after a reconnect, then pumps.
    void resume_delivery();
    // message_retry_interval: resends inflight PUBLISHes sent before now - interval. The
    // interval is the attached connection's listener's (not kept here: 8 bytes per session).
    void retry_due(std::chrono::milliseconds interval);

    // Client acknowledgements of server-sent messages. False when the acknowledgement does not
    // fit the flow of its packet identifier (PUBACK for a QoS 2 message, PUBREC for QoS 1,
    // PUBCOMP before PUBREC, PUBACK after PUBREL): a protocol violation the caller answers by
    // closing the connection; the message stays in the session. An unknown identifier is not one.
    [[nodiscard]] bool on_puback(const protocol::puback& p);
    [[nodiscard]] bool on_pubrec(const protocol::pubrec& p);
    [[nodiscard]] bool on_pubcomp(const protocol::pubcomp& p);

    // ---- subscriptions (owner only) ----------------------------------------------------------
    // Adds or replaces a subscription: router, the session's table, and (persistent) its store
    // record appended to `writes`. Returns true when it did not exist before.
    bool subscribe(const std::string& filter, const protocol::subscription_options& options,
                   std::uint32_t subscription_id, storage::write_batch& writes);
    // Removes one; false when it did not exist. A shared subscription's queued messages go to
    // another member of the group.
    bool unsubscribe(const std::string& filter, storage::write_batch& writes);
    const subscription_table& subscriptions() const noexcept { return subscriptions_; }
    // Puts back subscriptions recovered from the store (no store write).
    void restore_subscription(const std::string& filter, const session_subscription& s);

    // ---- inbound QoS 2 (owner only) ----------------------------------------------------------
    // Exactly once, Method B (4.3.3): packet ids whose PUBLISH was routed and whose PUBREL has
    // not arrived. add() appends the store write (persistent sessions).
    bool inbound_qos2_contains(std::uint16_t pid) const {
        const more_state* m = more_if_any();
        return m && std::binary_search(m->inbound_qos2.begin(), m->inbound_qos2.end(), pid);
    }
    std::size_t inbound_qos2_count() const noexcept {
        const more_state* m = more_if_any();
        return m ? m->inbound_qos2.size() : 0;
    }
    void inbound_qos2_add(std::uint16_t pid, storage::write_batch& writes);
    // Forgets the id in memory only (its PUBLISH failed to commit); false when it was unknown.
    bool inbound_qos2_forget(std::uint16_t pid);
    // PUBREL: removes the id. Returns whether it was known; a store write, when needed, is
    // appended to `writes` (PUBCOMP waits for it).
    bool inbound_qos2_release(std::uint16_t pid, storage::write_batch& writes);
    void restore_inbound_qos2(std::uint16_t pid) { inbound_qos2_add_in_memory(pid); }

    // Hands queued messages of shared subscriptions to another member of their group
    // (MQTT 5.0 section 4.8.2): those of `filter` ("$share/g/f") only, or all when empty.
    // `online_only`: only to a connected member (used when this member disconnects).
    void hand_over_shared(std::string_view filter = {}, bool online_only = false);

    // Ends the session: unsubscribes everything, drops queued messages, removes it from the
    // registry (if still registered) and from the store, publishes its will. Idempotent.
    void end(events::session_end_reason why);

    // Settings established at CONNECT (owner only).
    struct settings {
        // (Ordered so that the small fields share words: a session keeps one.) The queue limits
        // (max_inflight, max_mqueue_len) are the queue's: queue().get_limits().
        protocol::version version = protocol::version::v3_1_1;
        bool mqueue_backpressure = true;          // listener mqueue_overflow = "backpressure"
        bool request_problem_information = true;  // client's 5.0 setting
        bool clean_disconnect = false;
        std::uint32_t expiry_interval_s = 0;   // storage::never_expires = never
        boxed_optional<std::string> username;  // one pointer: most sessions have none
        interned_string listener;
        std::string peer;
        std::int64_t created_at_ms = 0;
        std::int64_t connected_at_ms = 0;
        std::int64_t disconnected_at_ms = 0;
    };
    settings& config() noexcept { return settings_; }
    const settings& config() const noexcept { return settings_; }
    void set_persistent(bool p) noexcept { persistent_.store(p, std::memory_order_release); }

    // The client's 5.0 limits from its last CONNECT (3.x: these defaults). The connection
    // applies them; here they are kept only for the session record, so a session that is not
    // persistent (no record) or has the defaults keeps none: they are in the rare block, not in
    // every session (with the retry interval, 16 bytes: an idle session's block from malloc is
    // 288 bytes instead of 304).
    struct client_limits {
        std::uint32_t max_packet_size = 0;  // 0 = none
        std::uint16_t receive_maximum = 65535;
        std::uint16_t topic_alias_maximum = 0;
        bool operator==(const client_limits&) const = default;
    };
    client_limits recorded_client_limits() const noexcept {
        return rare_ ? rare_->limits : client_limits{};
    }
    // Call after set_persistent(): a session that is not persistent only keeps them when its
    // rare block exists anyway.
    void record_client_limits(const client_limits& l);
    // mqueue_rate_limit: at most `burst` queued messages at once, refilled at burst per
    // `period` (a token bucket); the maximum burst (or a period of 0) means no limit.
    void set_rate_limit(std::uint32_t burst, std::chrono::milliseconds period);

    outbound_queue& queue() noexcept { return queue_; }

    // On the heap while set: most sessions have none.
    heap_optional<storage::will_record>& will() noexcept { return will_; }
    // Will Delay (5.0): publish the will after `delay` unless a connection attaches first.
    void schedule_will(std::chrono::seconds delay);
    void cancel_will();
    void publish_will_now();

    // Expiry of a disconnected persistent session.
    void schedule_expiry(std::chrono::milliseconds after);
    void cancel_expiry();

    // Stored entries not yet loaded (a session recovered at startup): loaded on attach.
    // Every stored entry of a recovered session has a seq below this boundary; entries routed
    // after recovery (seq >= boundary) are in memory already and must not be loaded twice.
    bool has_unloaded_store_entries() const noexcept {
        return rare_ && rare_->unloaded_boundary != 0;
    }
    std::uint64_t unloaded_boundary() const noexcept {
        return rare_ ? rare_->unloaded_boundary : 0;
    }
    // `boundary` is not 0 when v is true (generations start at 1).
    void set_unloaded_store_entries(bool v, std::uint64_t boundary = 0);
    // Starts the session's sequence numbers at `generation` (0: a session that stores nothing,
    // numbered from 1). `first` is the generation the session began with: stored entries below
    // first << 32 belong to an earlier session of the client id.
    void set_generation(std::uint32_t first, std::uint32_t generation) noexcept;
    std::uint64_t first_seq() const noexcept { return std::uint64_t{first_generation_} << 32; }
    // The generation of the next seq (a used-up counter moves on at the next take_seq).
    std::uint32_t generation() const noexcept {
        return static_cast<std::uint32_t>(next_seq_.load(std::memory_order_relaxed) >> 32);
    }
    // Continues numbering at `seq` (tests: the end of a generation).
    void set_next_seq(std::uint64_t seq) noexcept {
        next_seq_.store(seq, std::memory_order_relaxed);
    }
    void mark_persisted() noexcept { ever_persisted_ = true; }

    storage::session_record to_record() const;
    // The put_session of the current settings, for a batch the caller submits.
    storage::operation record_op();
    // Submits a put_session with the current settings (no completion wanted).
    void persist_record();
    // info() reads the settings under a lock: settings it shows (user name, peer, listener,
    // version, expiry, times) change through update_info_settings() once other threads can see
    // the session. publish_info() is kept for callers written before (it does nothing).
    template <typename F>
    void update_info_settings(F&& f) {
        std::lock_guard lock(snapshot_mutex_);
        f(settings_);
    }
    void publish_info() noexcept {}

  private:
    void drain(io_executor ex);
    void accept(delivery&& d);
    void send_entry(outbound_entry& e, bool dup);
    void send_pubrel(std::uint16_t packet_id);
    void drop_entry(outbound_entry&& e, events::drop_reason why);
    void store_op(storage::operation op);
    void entry_done(outbound_entry&& e);  // acknowledged by the client
    // Passes each shared-subscription entry to another member; returns the ones that stay.
    std::vector<outbound_entry> pass_on(std::vector<outbound_entry> entries,
                                        std::string_view filter, bool online_only);
    static outbound_entry to_entry(delivery&& d);
    // A delivery that arrives after the session ended, or while a non-persistent session is
    // between its connection and its end: passed on (shared subscriptions) or not delivered.
    void pass_on_late(delivery&& d);

    // Owner-only state few sessions need, made on first use, in two blocks. rare_state is what a
    // disconnected persistent session needs (a store recovered at start-up makes one per
    // session): its expiry, an entry of the owner's watchdog wheel embedded here (a timer and its
    // pending wait took about 240 bytes, a separate wait block 80 more), the bookkeeping of a
    // recovered session's stored entries, and the client's 5.0 limits for the record; 72 bytes
    // (the same malloc chunk, 80, as the 64 without the limits). more_state, behind it: the will
    // timer, the rate limit's token bucket and timer, inbound QoS 2 ids.
    struct more_state {
        std::unique_ptr<asio::steady_timer> will_timer;
        // mqueue_rate_limit (set_rate_limit), its token bucket, and the timer that pumps again
        // when a token is due.
        std::uint32_t rate_burst = unlimited_rate;
        std::chrono::milliseconds rate_period{1000};
        double rate_tokens = -1;  // < 0: not started (full)
        steady_clock::time_point rate_refilled{};
        std::unique_ptr<asio::steady_timer> rate_timer;
        std::vector<std::uint16_t> inbound_qos2;  // sorted (at most max_awaiting_rel ids)
    };
    struct rare_state {
        rare_state();
        ~rare_state();
        // On the owner's wheel (found through the owner's context: set_owner cancels it before
        // the owner moves); `fire` is set while it was armed and not cancelled since.
        watchdog_wheel::entry expiry;
        // Every stored entry of a recovered session not yet loaded has a seq below this; 0: none
        // to load (a boundary is at least 1 << 32: generations start at 1).
        std::uint64_t unloaded_boundary = 0;
        std::unique_ptr<more_state> more;
        client_limits limits;  // see record_client_limits()
    };
    static constexpr std::uint32_t unlimited_rate = 0xFFFFFFFF;
    rare_state& rare();
    more_state& more();
    const more_state* more_if_any() const noexcept { return rare_ ? rare_->more.get() : nullptr; }
    void inbound_qos2_add_in_memory(std::uint16_t pid);
    // How many queued messages the rate limit lets through now; arms the rate timer when none.
    std::size_t rate_budget();
    // Publishes the queue's counts to other threads (info(), needs_room()).
    void store_counts() noexcept;

    // (Ordered so that the small fields share words.)
    core_context& core_;
    const std::string client_id_;
    std::atomic<bool> online_{false};
    std::atomic<bool> persistent_{false};
    std::atomic<bool> ended_{false};
    bool drain_scheduled_ = false;  // guarded by inbox_mutex_
    // Guards what other threads read through info() and subscription_snapshot(): the settings
    // info() shows and subscriptions_ (written on the owner under it, read by the owner
    // without it).
    mutable small_mutex snapshot_mutex_;
    std::atomic<std::uint64_t> next_seq_{1};  // its high half is the generation
    friend class session_registry;
    std::uint32_t attach_generation_ = 0;  // guarded by the session registry's mutex
    std::uint32_t first_generation_ = 0;

    mutable small_mutex inbox_mutex_;
    std::atomic<std::uint32_t> inbox_size_{0};
    std::unique_ptr<std::vector<delivery>> inbox_;  // guarded by inbox_mutex_; made on first use
    io_executor owner_;                             // guarded by inbox_mutex_

    // Owner only.
    std::shared_ptr<client_link> link_;
    settings settings_;
    // One pointer; changes under snapshot_mutex_.
    subscription_table subscriptions_;
    outbound_queue queue_;
    heap_optional<storage::will_record> will_;
    std::unique_ptr<rare_state> rare_;
    std::atomic<std::uint32_t> inflight_count_{0};
    std::atomic<std::uint32_t> queued_count_{0};
    // While connected with mqueue_overflow = "backpressure": the queue length at which publishers'
    // acknowledgements wait (needs_room); 0 otherwise.
    std::atomic<std::uint32_t> room_mark_{0};
    bool ever_persisted_ = false;  // the store may hold records of this session
};

using session_ptr = std::shared_ptr<session>;

}  // namespace rmqtt::broker
