#pragma once

#include <atomic>
#include <memory>
#include <mutex>

#include "persist/persistence.hpp"
#include "persist/recovery.hpp"
#include "rmqtt/broker/hooks.hpp"
#include "rmqtt/broker/metrics.hpp"
#include "rmqtt/broker/services.hpp"
#include "routing/publish_pipeline.hpp"
#include "routing/router.hpp"
#include "session/session_registry.hpp"

namespace rmqtt::broker {

// The broker's shared state without threads and sockets: what sessions and connections work
// with. The server owns one; tests build one around a memory store and fake targets.
//
// Concurrency rule: the members are thread-safe as their own headers say; set_store and the
// providers are set before the broker serves and are read-only afterwards.
class core_context {
  public:
    core_context() : pipeline(routes, stats, hooks), sessions(*this) {}
    core_context(const core_context&) = delete;
    core_context& operator=(const core_context&) = delete;

    metrics stats;
    hook_bus hooks;
    router routes;
    publish_pipeline pipeline;
    session_registry sessions;

    persistence* store() const noexcept { return store_.get(); }
    void set_store(std::unique_ptr<persistence> s) {
        store_ = std::move(s);
        pipeline.set_store(store_.get());
    }
    // Closes the store (graceful stop); it stays readable for nothing afterwards.
    std::unique_ptr<persistence>& store_owner() noexcept { return store_; }

    retained_store* retained() const noexcept { return retained_.get(); }
    void set_retained(std::shared_ptr<retained_store> r) {
        retained_ = std::move(r);
        pipeline.set_retained(retained_.get());
    }
    bool shared_subscriptions() const noexcept { return shared_available_; }
    void set_shared_subscriptions(bool on) noexcept { shared_available_ = on; }

    // Queue sequence numbers are (generation << 32) | counter. Every new persistent session, and
    // every session restored after a restart, takes a generation higher than any taken before on
    // this node, so an entry of an earlier session of the same client id always has a lower
    // seq (the stale-entry check) and no seq is ever used twice for one client id. Generations
    // are reserved in the store ahead of use (meta "generation_reserved"), so a restart never
    // hands one out again. Thread-safe.
    std::uint32_t take_generation();
    // At start-up, before anything takes one: the first generation to hand out.
    void set_generation_floor(std::uint32_t next) noexcept;

    // True while the listeners are open (set after they opened, cleared when stopping).
    bool serving() const noexcept { return serving_.load(std::memory_order_acquire); }
    void set_serving(bool on) noexcept { serving_.store(on, std::memory_order_release); }

    bool stopping() const noexcept { return stopping_.load(std::memory_order_acquire); }
    void set_stopping() noexcept { stopping_.store(true, std::memory_order_release); }

  private:
    std::unique_ptr<persistence> store_;
    std::shared_ptr<retained_store> retained_;
    bool shared_available_ = false;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> serving_{false};
    std::mutex generation_mutex_;
    std::uint32_t next_generation_ = 1;  // guarded by generation_mutex_
    std::uint32_t reserved_until_ = 0;   // guarded by generation_mutex_: stored meta value
};

}  // namespace rmqtt::broker
