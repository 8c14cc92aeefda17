#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

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
    counter publishes_held_for_room{0};  // QoS 1/2 acks that waited for a subscriber's full queue
    counter wills_published{0};
    counter sessions_expired{0};
    counter store_errors{0};
    counter bytes_received{0};
    counter bytes_sent{0};
    // Set once at start-up: when the process started (wall clock, ms), how long recovering the
    // sessions from the store took and how many it restored (0 without a session store).
    std::atomic<std::int64_t> started_at_ms{0};
    std::atomic<std::int64_t> recovery_duration_ms{0};
    std::atomic<std::int64_t> sessions_recovered{0};

    static void add(counter& c, std::uint64_t n = 1) noexcept {
        c.fetch_add(n, std::memory_order_relaxed);
    }

    // Every value by name, for the broker API.
    std::vector<std::pair<std::string, std::int64_t>> snapshot() const {
        const auto v = [](const counter& c) {
            return static_cast<std::int64_t>(c.load(std::memory_order_relaxed));
        };
        return {
            {"connections", connections.load(std::memory_order_relaxed)},
            {"handshaking", handshaking.load(std::memory_order_relaxed)},
            {"client.connect", v(connects)},
            {"client.connack.refused", v(connacks_refused)},
            {"client.disconnected", v(disconnects)},
            {"client.takeover", v(takeovers)},
            {"client.keepalive_timeout", v(keepalive_timeouts)},
            {"client.protocol_error", v(protocol_errors)},
            {"messages.received", v(publishes_received)},
            {"messages.sent", v(publishes_sent)},
            {"messages.dropped", v(messages_dropped)},
            {"messages.dropped.expired", v(messages_expired)},
            {"messages.dropped.queue_full", v(messages_queue_full)},
            {"messages.dropped.too_large", v(messages_too_large)},
            {"messages.dropped.no_subscribers", v(messages_no_subscribers)},
            {"messages.dropped.slow_consumer", v(qos0_dropped_slow_consumer)},
            {"messages.backpressure", v(publishes_held_for_room)},
            {"messages.will", v(wills_published)},
            {"session.expired", v(sessions_expired)},
            {"store.errors", v(store_errors)},
            {"bytes.received", v(bytes_received)},
            {"bytes.sent", v(bytes_sent)},
            {"recovery.duration_ms", recovery_duration_ms.load(std::memory_order_relaxed)},
            {"recovery.sessions", sessions_recovered.load(std::memory_order_relaxed)},
        };
    }
};

}  // namespace rmqtt::broker
