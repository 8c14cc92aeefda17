#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/execution_context.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "rmqtt/broker/clock.hpp"

namespace rmqtt::broker {

// The connections' keep-alive / handshake / retry deadlines and the sessions' expiry of one
// worker, on one timer: a hashed timing wheel (slots of `tick`), instead of a timer and a pending
// wait per connection or session (about 230 bytes each). An entry fires at the first tick at or
// after its deadline, so never early and at most two ticks late; its owner re-checks what is due
// and arms again. A deadline more than one turn away (slot_count ticks) stays in its slot, passed
// over at each turn until it is due.
//
// One per io_context (an Asio service: asio::use_service<watchdog_wheel>(ctx)); entries are armed
// and disarmed on that context's thread. While armed, an entry holds a reference to its owner
// (as a pending timer wait does); the wheel drops those references when its context shuts down.
class watchdog_wheel final : public asio::execution_context::service {
  public:
    using key_type = watchdog_wheel;
    static asio::execution_context::id id;

    static constexpr auto tick = std::chrono::milliseconds(100);
    static constexpr std::size_t slot_count = 1024;

    // 48 bytes: a connection and a session's expiry embed one. Armed while linked: the head of
    // its slot's list, or with a predecessor.
    struct entry {
        entry* prev = nullptr;
        entry* next = nullptr;
        std::shared_ptr<void> hold;           // the owner, while armed
        void (*fire)(void* owner) = nullptr;  // called on the context's thread
        std::int64_t tick = 0;  // the tick it fires after; its slot: tick % slot_count
    };

    explicit watchdog_wheel(asio::execution_context& ctx);
    ~watchdog_wheel() override;

    // (Re)arms `e` for `due`; `owner` is kept until it fires or is disarmed. `ex`: an executor
    // of this wheel's context (for its timer).
    void arm(entry& e, steady_clock::time_point due, std::shared_ptr<void> owner,
             const asio::any_io_executor& ex);
    void disarm(entry& e) noexcept;
    std::size_t armed_count() const;
    bool armed(const entry& e) const;

  private:
    void shutdown() override;
    void unlink(entry& e) noexcept;
    entry*& head_of(const entry& e) noexcept {
        return slots_[static_cast<std::uint64_t>(e.tick) % slot_count];
    }
    bool linked(const entry& e) const noexcept {
        return e.prev || slots_[static_cast<std::uint64_t>(e.tick) % slot_count] == &e;
    }
    void start_timer(const asio::any_io_executor& ex);  // with mutex_ held
    void on_tick();
    static std::int64_t tick_of(steady_clock::time_point t) noexcept;

    mutable std::mutex mutex_;
    std::vector<entry*> slots_;
    std::size_t count_ = 0;
    // Slots up to this tick are processed: slot T is processed once its whole tick has passed.
    std::int64_t last_tick_ = 0;
    std::unique_ptr<asio::steady_timer> timer_;
    bool timer_running_ = false;
    bool stopped_ = false;
};

}  // namespace rmqtt::broker
