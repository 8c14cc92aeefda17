#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "rmqtt/broker/clock.hpp"
#include "rmqtt/broker/message.hpp"
#include "routing/delivery_target.hpp"
#include "session/fifo.hpp"

namespace rmqtt::broker {

enum class delivery_state : std::uint8_t { queued = 0, sent = 1, pubrec_received = 2 };

// One QoS 1/2 message on its way to one session.
struct outbound_entry {
    std::uint64_t seq = 0;  // per-session order; also the store key
    message_ptr msg;
    protocol::qos qos = protocol::qos::at_least_once;  // delivery QoS (after downgrade)
    bool retain = false;                               // RETAIN flag to deliver with
    std::vector<std::uint32_t> subscription_ids;
    std::string share_group;   // from a shared subscription: may be handed to another member
    std::string share_filter;  // with share_group: the filter after "$share/{group}/"
    delivery_state state = delivery_state::queued;
    bool persisted = false;  // the store holds this entry: state changes and removal are written
    bool ever_sent = false;  // sent on this or an earlier connection: resend with DUP
    steady_clock::time_point sent_at{};
    std::uint64_t send_order = 0;
};

// The server-to-client QoS 1/2 state machine of one session (MQTT 4.3.2, 4.3.3, 4.4, 4.6): a FIFO
// of queued messages and the inflight window. No I/O and no clocks of its own: the caller passes
// time and turns the returned entries into packets and store operations.
class outbound_queue {
  public:
    enum class overflow_policy : std::uint8_t { drop_oldest, drop_new };

    // 8 bytes: every session keeps one. Larger values are clamped (packet identifiers bound the
    // window to 65535; a queue of 2^32 entries would not fit in memory).
    struct limits {
        limits() = default;
        limits(std::size_t inflight, std::size_t queued, overflow_policy o) noexcept
            : max_inflight(static_cast<std::uint16_t>(std::min<std::size_t>(inflight, 0xFFFF))),
              overflow(o),
              max_queued(static_cast<std::uint32_t>(std::min<std::size_t>(queued, 0xFFFFFFFF))) {}

        std::uint16_t max_inflight = 16;  // min(listener max_inflight, client Receive Maximum)
        overflow_policy overflow = overflow_policy::drop_oldest;
        std::uint32_t max_queued = 1000;  // queued (not inflight) entries; 0 = unlimited
    };

    outbound_queue() = default;
    explicit outbound_queue(limits l) : limits_(l) {}

    void set_limits(limits l) noexcept { limits_ = l; }
    const limits& get_limits() const noexcept { return limits_; }

    // Adds a message behind the queued ones. When the queue is full, the overflow policy decides
    // which entry is dropped; the dropped entry (the new one or the oldest queued) is returned so
    // the caller can count it and delete it from the store. With `enforce_limit` false nothing
    // is dropped (the caller bounds the queue another way: back-pressure on the publishers).
    std::optional<outbound_entry> push(outbound_entry e, bool enforce_limit = true);

    // Puts entries back at the front in seq order: used when stored entries are loaded after a
    // restart. Entries in state sent / pubrec_received become inflight (resent on send_ready).
    void restore(std::vector<outbound_entry> entries);

    // Moves queued entries into the inflight window while it has room and calls `send` for each,
    // in order. Entries whose message expired (now_ms) are removed and passed to `expired`
    // instead. Stops early when the packet identifier an entry needs is still in use, or after
    // `max_sends` entries (a rate limit). Returns the number sent.
    std::size_t fill(std::int64_t now_ms, steady_clock::time_point now,
                     const std::function<void(outbound_entry&)>& send,
                     const std::function<void(outbound_entry&&)>& expired,
                     std::size_t max_sends = static_cast<std::size_t>(-1));

    // Every inflight entry in the order it was first sent, for a resend on reconnect
    // [MQTT-4.4.0-1] [MQTT-4.6.0-1]: PUBLISH with DUP for `sent`, PUBREL for `pubrec_received`.
    void for_each_inflight(const std::function<void(outbound_entry&)>& fn);

    // Inflight `sent` entries last sent before `older_than`: message_retry_interval resends.
    void for_each_due(steady_clock::time_point older_than,
                      const std::function<void(outbound_entry&)>& fn);

    enum class ack_result { ok, unknown_packet_id, wrong_state };
    // PUBACK for a QoS 1 entry: removes it into `removed`.
    ack_result on_puback(std::uint16_t packet_id, outbound_entry& removed);
    // PUBREC for a QoS 2 entry: marks it pubrec_received and returns it (the caller persists the
    // state and then sends PUBREL). A PUBREC for an entry already in pubrec_received is `ok`
    // again (PUBREL resent). A PUBREC with an error reason code ends the flow: call
    // on_pubrec_error instead.
    ack_result on_pubrec(std::uint16_t packet_id, outbound_entry*& entry);
    ack_result on_pubrec_error(std::uint16_t packet_id, outbound_entry& removed);
    // Undoes on_pubrec (the pubrec_received state could not be stored): the entry is `sent`
    // again, so the client's next PUBREC for it is handled anew.
    void revert_pubrec(std::uint16_t packet_id);
    // The inflight entry holding `packet_id`, or null.
    const outbound_entry* find_inflight(std::uint16_t packet_id) const;
    // PUBCOMP: removes the pubrec_received entry.
    ack_result on_pubcomp(std::uint16_t packet_id, outbound_entry& removed);

    // Removes an inflight entry without an acknowledgement (the message could not be sent, e.g.
    // larger than the client accepts, and counts as delivered [MQTT-3.1.2-25]).
    bool remove_inflight(std::uint16_t packet_id, outbound_entry& removed);

    // Removes everything (session discarded); returns the entries for store cleanup.
    std::vector<outbound_entry> clear();
    // Removes every queued (not inflight) entry; used to hand a shared subscription's messages on.
    std::vector<outbound_entry> take_queued();

    std::size_t inflight_count() const noexcept { return s_ ? s_->inflight.size() : 0; }
    std::size_t queued_count() const noexcept { return s_ ? s_->queued.size() : 0; }
    std::size_t size() const noexcept { return inflight_count() + queued_count(); }
    bool empty() const noexcept { return size() == 0; }

  private:
    // The inflight window by packet id: made on the first entry; given back when the window
    // empties after a burst grew its buckets (a steady flow keeps its small map, and a session
    // that never had a message in flight holds none).
    class inflight_map {
        using map = std::unordered_map<std::uint16_t, outbound_entry>;

      public:
        using iterator = map::iterator;
        using const_iterator = map::const_iterator;
        bool contains(std::uint16_t pid) const { return m_ && m_->contains(pid); }
        std::size_t size() const noexcept { return m_ ? m_->size() : 0; }
        template <class... Args>
        std::pair<iterator, bool> emplace(Args&&... args) {
            if (!m_) m_ = std::make_unique<map>();
            return m_->emplace(std::forward<Args>(args)...);
        }
        iterator find(std::uint16_t pid) { return m_ ? m_->find(pid) : none().end(); }
        const_iterator find(std::uint16_t pid) const {
            return m_ ? m_->find(pid) : std::as_const(none()).end();
        }
        iterator begin() { return m_ ? m_->begin() : none().begin(); }
        iterator end() { return m_ ? m_->end() : none().end(); }
        const_iterator end() const { return m_ ? m_->end() : std::as_const(none()).end(); }
        void erase(iterator it) {
            m_->erase(it);
            if (m_->empty() && m_->bucket_count() > keep_buckets) m_.reset();
        }
        void clear() noexcept { m_.reset(); }

      private:
        static constexpr std::size_t keep_buckets = 128;
        static map& none() {  // always empty: what a missing map reads as
            static map empty;
            return empty;
        }
        std::unique_ptr<map> m_;
    };
    // The queue's entries, made with the first one: a session that never had a QoS 1/2 message
    // keeps only the limits and a null pointer.
    struct state {
        fifo<outbound_entry> queued;  // allocates nothing while empty
        inflight_map inflight;
        std::uint64_t send_counter = 0;
    };
    state& body() {
        if (!s_) s_ = std::make_unique<state>();
        return *s_;
    }

    limits limits_;
    std::unique_ptr<state> s_;
};

}  // namespace rmqtt::broker
