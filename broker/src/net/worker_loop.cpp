#include "net/worker_loop.hpp"

namespace rmqtt::broker {

void run_worker(asio::io_context& ctx, std::chrono::microseconds busy_poll) {
    if (busy_poll <= std::chrono::microseconds::zero()) {
        ctx.run();
        return;
    }
    using clock = std::chrono::steady_clock;
    const clock::duration full = busy_poll;
    clock::duration budget = full;
    for (;;) {
        const auto sleep_start = clock::now();
        if (ctx.run_one() == 0) return;  // stopped, or out of work
        auto last_event = clock::now();
        if (last_event - sleep_start < full) budget = full;
        // Polls for what came while the handler ran, and then for up to `budget` more.
        bool drained = false;
        for (;;) {
            if (ctx.poll() > 0) {
                if (drained) budget = full;  // the poll found what a sleep would have waited for
                drained = false;
                last_event = clock::now();
                continue;
            }
            if (ctx.stopped()) return;
            drained = true;
            if (clock::now() - last_event >= budget) {
                budget /= 2;
                break;
            }
        }
    }
}

}  // namespace rmqtt::broker
