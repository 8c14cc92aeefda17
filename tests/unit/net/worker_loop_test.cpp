// run_worker (net/worker_loop.hpp): a worker's loop with and without polling before it sleeps.
// What is checked is what the loop must keep doing while it polls: run every handler, see
// readiness from its reactor (a timer, a socket), take handlers posted from other threads, and
// return when its context stops or runs out of work.
#include <gtest/gtest.h>

#include <asio/local/connect_pair.hpp>
#include <asio/local/stream_protocol.hpp>
#include <asio/post.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "net/worker_loop.hpp"

namespace {

using rmqtt::broker::run_worker;
using namespace std::chrono_literals;

class WorkerLoop : public ::testing::TestWithParam<std::chrono::microseconds> {};

// Out of work: the loop returns after the last handler, as io_context::run() does.
TEST_P(WorkerLoop, RunsEveryHandlerAndReturnsWhenOutOfWork) {
    asio::io_context ctx(1);
    int ran = 0;
    std::function<void()> next = [&] {
        if (++ran < 1000) asio::post(ctx, next);
    };
    asio::post(ctx, next);
    run_worker(ctx, GetParam());
    EXPECT_EQ(ran, 1000);
    EXPECT_TRUE(ctx.stopped());
}

// A timer and a socket are reactor events: they must come through the polls, not only through a
// blocking wait.
TEST_P(WorkerLoop, SeesTimersAndSockets) {
    asio::io_context ctx(1);
    asio::local::stream_protocol::socket a(ctx), b(ctx);
    asio::local::connect_pair(a, b);
    std::array<char, 5> got{};
    bool timer_fired = false;
    bool read_done = false;
    asio::steady_timer timer(ctx, 2ms);
    timer.async_wait([&](std::error_code ec) {
        timer_fired = !ec;
        asio::write(a, asio::buffer("hello", 5));
    });
    asio::async_read(b, asio::buffer(got), [&](std::error_code ec, std::size_t n) {
        read_done = !ec && n == got.size();
    });
    run_worker(ctx, GetParam());
    EXPECT_TRUE(timer_fired);
    EXPECT_TRUE(read_done);
    EXPECT_EQ(std::string(got.data(), got.size()), "hello");
}

// Handlers posted from another thread run, whether the worker is asleep or polling; stop() ends
// the loop although the work guard still holds it.
TEST_P(WorkerLoop, TakesHandlersFromOtherThreadsAndStops) {
    asio::io_context ctx(1);
    auto guard = asio::make_work_guard(ctx);
    std::atomic<int> ran{0};
    std::thread worker([&] { run_worker(ctx, GetParam()); });
    constexpr int posts = 2000;
    for (int i = 0; i < posts; ++i) {
        asio::post(ctx, [&] { ran.fetch_add(1, std::memory_order_relaxed); });
        // Some posts find the worker polling, some (after a pause) find it asleep.
        if (i % 100 == 0) std::this_thread::sleep_for(1ms);
    }
    std::atomic<bool> last{false};
    asio::post(ctx, [&] { last.store(true); });
    for (int i = 0; i < 10'000 && !last.load(); ++i)
        std::this_thread::sleep_for(1ms);
    ctx.stop();
    worker.join();
    EXPECT_TRUE(last.load());
    EXPECT_EQ(ran.load(), posts);  // handlers run in the order posted: all ran before `last`
}

INSTANTIATE_TEST_SUITE_P(BusyPoll, WorkerLoop, ::testing::Values(0us, 50us, 1000us),
                         [](const ::testing::TestParamInfo<std::chrono::microseconds>& p) {
                             return std::to_string(p.param.count()) + "us";
                         });

}  // namespace
