#pragma once

#include <atomic>
#include <cstdint>

namespace rmqtt::broker {

// Process-wide counters. Relaxed atomics: they are statistics, not synchronisation.
struct metrics {
    using counter = std::atomic<std::uint64_t>;
    std::atomic<std::int64_t> connections{0};
    std::atomic<std::int64_t> handshaking{0};
    counter connects{0};
    counter connacks_refused{0};
    counter disconnects{0};
    counter takeovers{0};
    counter keepalive_timeouts{0};
    counter protocol_errors{0};
    counter publishes_received{0};
    counter publishes_sent{0};
    counter messages_dropped{0};
    counter messages_expired{0};
    counter messages_queue_full{0};
    counter messages_too_large{0};
    counter messages_no_subscribers{0};
    counter qos0_dropped_slow_consumer{0};
    counter wills_published{0};
    counter sessions_expired{0};
    counter store_errors{0};
    counter bytes_received{0};
    counter bytes_sent{0};

    static void add(counter& c, std::uint64_t n = 1) noexcept {
        c.fetch_add(n, std::memory_order_relaxed);
    }
};

}  // namespace rmqtt::broker
