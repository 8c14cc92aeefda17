#include "mqtt/watchdog_wheel.hpp"

#include <algorithm>
#include <utility>

namespace rmqtt::broker {

asio::execution_context::id watchdog_wheel::id;

watchdog_wheel::watchdog_wheel(asio::execution_context& ctx)
    : asio::execution_context::service(ctx),
      slots_(slot_count, nullptr),
      last_tick_(tick_of(steady_clock::now()) - 1) {}

watchdog_wheel::~watchdog_wheel() = default;

std::int64_t watchdog_wheel::tick_of(steady_clock::time_point t) noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() /
           tick.count();
}

void watchdog_wheel::arm(entry& e, steady_clock::time_point due, std::shared_ptr<void> owner,
                         const asio::any_io_executor& ex) {
    std::shared_ptr<void> old;
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    if (linked(e)) {
        unlink(e);
        old = std::move(e.hold);  // released after the lock (declared before it)
    }
    // Idle until now: nothing is armed between the last processed tick and now.
    if (count_ == 0 && !timer_running_)
        last_tick_ = std::max(last_tick_, tick_of(steady_clock::now()) - 1);
    // An entry already due goes into the next slot processed.
    // It fires once tick `t` has wholly passed: after `due`, never before.
    e.tick = std::max(tick_of(due), last_tick_ + 1);
    e.hold = std::move(owner);
    e.prev = nullptr;
    e.next = head_of(e);
    if (e.next) e.next->prev = &e;
    head_of(e) = &e;
    ++count_;
    if (!timer_running_) start_timer(ex);
}

void watchdog_wheel::disarm(entry& e) noexcept {
    std::shared_ptr<void> old;
    std::lock_guard lock(mutex_);
    if (!linked(e)) return;
    unlink(e);
    old = std::move(e.hold);
}

std::size_t watchdog_wheel::armed_count() const {
    std::lock_guard lock(mutex_);
    return count_;
}

bool watchdog_wheel::armed(const entry& e) const {
    std::lock_guard lock(mutex_);
    return linked(e);
}

void watchdog_wheel::unlink(entry& e) noexcept {
    if (e.prev)
        e.prev->next = e.next;
    else
        head_of(e) = e.next;
    if (e.next) e.next->prev = e.prev;
    e.prev = e.next = nullptr;
    --count_;
}

void watchdog_wheel::start_timer(const asio::any_io_executor& ex) {
    if (!timer_) timer_ = std::make_unique<asio::steady_timer>(ex);
    timer_running_ = true;
    // Slot last_tick_ + 1 is complete at the start of tick last_tick_ + 2.
    timer_->expires_at(steady_clock::time_point(tick * (last_tick_ + 2)));
    timer_->async_wait([this](std::error_code ec) {
        if (ec == asio::error::operation_aborted) return;
        on_tick();
    });
}

void watchdog_wheel::on_tick() {
    struct due_entry {
        void (*fire)(void*);
        std::shared_ptr<void> owner;
    };
    std::vector<due_entry> due;
    {
        std::lock_guard lock(mutex_);
        timer_running_ = false;
        if (stopped_) return;
        const auto now = steady_clock::now();
        const auto done = tick_of(now) - 1;  // the last tick that has wholly passed
        // Each slot once at most, however late the timer ran.
        const auto first = std::max(last_tick_ + 1, done - std::int64_t{slot_count} + 1);
        for (auto t = first; t <= done; ++t) {
            auto* e = slots_[static_cast<std::uint64_t>(t) % slot_count];
            while (e) {
                auto* next = e->next;
                // Slot t holds the ticks t, t + slot_count, ...: this turn's are due.
                if (e->tick <= done) {
                    unlink(*e);
                    due.push_back({e->fire, std::move(e->hold)});
                }
                e = next;
            }
        }
        last_tick_ = std::max(last_tick_, done);
        if (count_ > 0) start_timer(timer_->get_executor());
    }
    for (auto& d : due)
        d.fire(d.owner.get());
}

void watchdog_wheel::shutdown() {
    std::vector<std::shared_ptr<void>> held;
    {
        std::lock_guard lock(mutex_);
        stopped_ = true;
        for (auto& head : slots_) {
            while (head) {
                auto* e = head;
                unlink(*e);
                held.push_back(std::move(e->hold));
            }
        }
        if (timer_) timer_->cancel();
    }
    held.clear();
    timer_.reset();
}

}  // namespace rmqtt::broker
