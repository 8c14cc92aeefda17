#include "net/worker_loop.hpp"

namespace rmqtt::broker {

void run_worker(asio::io_context& ctx, std::chrono::microseconds busy_poll) {
    if (busy_poll <= std::chrono::microseconds::zero()) {
        ctx.run();
        return;
    }
    using clock = std::chrono::steady_clock;
    const clock::duration limit = busy_poll;
    // The mean time from an empty poll to the next event, over the recent polls (a moving
    // average of 1/8 weight; a poll that ran out counts as `limit`). It starts as if polls had
    // run out: an idle worker does not poll until a probe finds events close together.
    clock::duration gap = limit;
    constexpr unsigned probe_every = 32;
    unsigned round = 0;
    const auto drain = [&ctx] {
        while (ctx.poll() > 0) {
        }
    };
    for (;;) {
        if (ctx.stopped()) return;
        // Polls when events have been coming within half the limit on average, and every
        // probe_every rounds to find out whether they do again.
        if (gap < limit / 2 || ++round % probe_every == 0) {
            const auto empty_at = clock::now();
            bool found = false;
            for (;;) {
                const auto before = clock::now();
                if (ctx.poll() > 0) {
                    gap += (before - empty_at - gap) / 8;
                    found = true;
                    break;
                }
                if (ctx.stopped()) return;
                if (before - empty_at >= limit) {
                    gap += (limit - gap) / 8;
                    break;
                }
            }
            if (found) {
                drain();
                continue;
            }
        }
        if (ctx.run_one() == 0) return;  // asleep until an event; stopped or out of work: 0
        drain();
    }
}

}  // namespace rmqtt::broker
