#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include "rmqtt/broker/hooks.hpp"
#include "rmqtt/broker/message.hpp"
#include "rmqtt/broker/metrics.hpp"
#include "rmqtt/broker/services.hpp"
#include "rmqtt/storage/store.hpp"
#include "routing/delivery_target.hpp"
#include "routing/router.hpp"

namespace rmqtt::broker {

class persistence;

// The one path a message takes to its subscribers: retain, route, store, hold, deliver. Every
// copy of a message (published, retained on a new subscription, handed over by a leaving
// shared-subscription member) is prepared and handed over here, so the store sees each
// put_queue_entry before any later change of the same entry, and QoS 2 copies for persistent
// sessions wait for their commit when acks are durable.
//
// Thread safety: every method may be called from any thread; set_store / set_retained only
// before the broker serves.
class publish_pipeline {
  public:
    using completion = std::function<void(const storage::status&)>;

    publish_pipeline(router& routes, metrics& stats, const hook_bus& hooks);

    void set_store(persistence* store) noexcept { store_.store(store, std::memory_order_release); }
    void set_retained(retained_store* retained) noexcept { retained_ = retained; }
    persistence* store() const noexcept { return store_.load(std::memory_order_acquire); }
    retained_store* retained() const noexcept { return retained_; }

    struct copy {
        std::shared_ptr<delivery_target> target;
        delivery d;
        // With durable acks, a QoS 2 copy for a stored session waits for its commit: a client
        // that answers PUBREC keeps the packet id until PUBREL, so after a crash the broker must
        // still have the message (4.3.3).
        bool held_for_commit() const noexcept {
            return d.persisted && d.qos == protocol::qos::exactly_once;
        }
    };

    // A publication being prepared: the store writes it causes and its copies.
    struct publication {
        storage::write_batch writes;
        std::vector<copy> copies;
        std::size_t matched = 0;
        void clear() {
            writes.ops.clear();
            copies.clear();
            matched = 0;
        }
    };

    // Adds a copy for `target`; `d` has msg, qos (already downgraded), retain, subscription ids
    // and share fields set. Takes a seq for QoS 1/2 and adds the put_queue_entry when the target
    // stores messages.
    void add_copy(publication& p, std::shared_ptr<delivery_target> target, delivery d) const;

    // Retains (RETAIN 1: the retained store's writes go into p.writes) and routes `msg`: one copy
    // per matched subscriber. Sets and returns p.matched.
    std::size_t route(const message_ptr& msg, publication& p) const;

    // Submits p.writes and hands p.copies to their targets; `p` is left empty.
    //
    // Held copies (QoS 2 to stored sessions; every copy with `hold_all`) wait for the commit of
    // the writes. `done` (may be empty) runs on the committer thread once the writes are
    // committed or have failed, after the held copies were handed over (they are dropped on
    // failure when `drop_held_on_failure`). Without durable acks nothing is held and `done` runs
    // at once. Returns true when some copies were held. Writes complete in submission order, so
    // holding a publisher's later messages behind held ones keeps its order.
    // Targets left backlogged by the copies handed over now are added to `backlogged`.
    bool submit(publication& p, completion done = {}, bool hold_all = false,
                bool drop_held_on_failure = false,
                std::vector<std::weak_ptr<delivery_target>>* backlogged = nullptr) const;

    // A message of the broker's own (a will, $SYS, the broker API): route, write behind,
    // deliver. Returns the number of subscribers.
    std::size_t publish(message_ptr msg) const;

  private:
    // When the puts of queue entries from p.writes.ops[first] on are two or more, stores the
    // message once: a put_message in front of them, and the entries reference it.
    void share_message(publication& p, std::size_t first) const;
    static void hand_over(std::vector<copy>& copies,
                          std::vector<std::weak_ptr<delivery_target>>* backlogged = nullptr);

    router& routes_;
    metrics& stats_;
    const hook_bus& hooks_;
    // Atomic: the store is set at start-up while plugins' threads may already publish.
    std::atomic<persistence*> store_{nullptr};
    retained_store* retained_ = nullptr;
};

}  // namespace rmqtt::broker
