// The per-worker timing wheel that holds keep-alive deadlines and session expiry.

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <chrono>
#include <memory>

#include "mqtt/watchdog_wheel.hpp"

namespace rmqtt::broker {
namespace {

struct owner {
    int fired = 0;
    steady_clock::time_point fired_at{};
    static void fire(void* p) {
        auto* o = static_cast<owner*>(p);
        ++o->fired;
        o->fired_at = steady_clock::now();
    }
};

// Runs `ctx` for `d` (bounded: the wheel's timer keeps it busy while an entry is armed).
void run_for(asio::io_context& ctx, std::chrono::milliseconds d) {
    ctx.restart();
    ctx.run_for(d);
}

// One armed entry and its owner on a fresh context's wheel.
// (The entry outlives the context: the wheel's shutdown unlinks an entry still armed.)
struct armed_entry {
    watchdog_wheel::entry e;
    std::shared_ptr<owner> o = std::make_shared<owner>();
    asio::io_context ctx;
    watchdog_wheel& wheel = asio::use_service<watchdog_wheel>(ctx);
    explicit armed_entry(steady_clock::time_point due) {
        e.fire = &owner::fire;
        wheel.arm(e, due, o, ctx.get_executor());
    }
};

TEST(WatchdogWheel, FiresNotBeforeItsDeadlineAndReleasesItsOwner) {
    const auto due = steady_clock::now() + std::chrono::milliseconds(250);
    armed_entry t(due);
    EXPECT_EQ(t.o.use_count(), 2);  // held while armed
    for (int i = 0; i < 40 && t.o->fired == 0; ++i)
        run_for(t.ctx, std::chrono::milliseconds(100));
    ASSERT_EQ(t.o->fired, 1);
    EXPECT_GE(t.o->fired_at, due);
    EXPECT_FALSE(t.wheel.armed(t.e));
    EXPECT_EQ(t.o.use_count(), 1);
    EXPECT_EQ(t.wheel.armed_count(), 0u);
}

TEST(WatchdogWheel, DisarmedEntryDoesNotFire) {
    armed_entry t(steady_clock::now() + std::chrono::milliseconds(100));
    t.wheel.disarm(t.e);
    EXPECT_EQ(t.o.use_count(), 1);
    run_for(t.ctx, std::chrono::milliseconds(500));
    EXPECT_EQ(t.o->fired, 0);
}

// A deadline more than one turn away (session expiry: hours) shares its slot with deadlines a
// turn earlier; the wheel passes over it until it is due.
TEST(WatchdogWheel, DeadlineBeyondOneTurnIsPassedOverUntilDue) {
    asio::io_context ctx;
    auto& wheel = asio::use_service<watchdog_wheel>(ctx);
    auto near = std::make_shared<owner>();
    auto far = std::make_shared<owner>();
    watchdog_wheel::entry near_entry;
    watchdog_wheel::entry far_entry;
    near_entry.fire = &owner::fire;
    far_entry.fire = &owner::fire;
    const auto now = steady_clock::now();
    const auto turn = watchdog_wheel::tick * watchdog_wheel::slot_count;
    const auto soon = now + std::chrono::milliseconds(200);
    wheel.arm(near_entry, soon, near, ctx.get_executor());
    wheel.arm(far_entry, soon + turn, far, ctx.get_executor());
    for (int i = 0; i < 40 && near->fired == 0; ++i)
        run_for(ctx, std::chrono::milliseconds(100));
    run_for(ctx, std::chrono::milliseconds(300));  // the slot has been processed meanwhile
    EXPECT_EQ(near->fired, 1);
    EXPECT_EQ(far->fired, 0);
    EXPECT_TRUE(wheel.armed(far_entry));
    EXPECT_EQ(wheel.armed_count(), 1u);
    wheel.disarm(far_entry);
    EXPECT_EQ(far.use_count(), 1);
}

// Shutting the context down drops the references armed entries hold (no cycle keeps an owner).
TEST(WatchdogWheel, ContextShutdownReleasesOwners) {
    auto o = std::make_shared<owner>();
    watchdog_wheel::entry e;
    e.fire = &owner::fire;
    {
        asio::io_context ctx;
        auto& wheel = asio::use_service<watchdog_wheel>(ctx);
        wheel.arm(e, steady_clock::now() + std::chrono::hours(2), o, ctx.get_executor());
        EXPECT_EQ(o.use_count(), 2);
    }
    EXPECT_EQ(o.use_count(), 1);
    EXPECT_EQ(o->fired, 0);
}

}  // namespace
}  // namespace rmqtt::broker
