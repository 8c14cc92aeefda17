#pragma once

#include <chrono>
#include <cstdint>

namespace rmqtt::broker {

// Wall-clock milliseconds since the Unix epoch: what is stored (deadlines survive restarts).
inline std::int64_t wall_now_ms() noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Monotonic time for in-process timers (immune to clock jumps).
using steady_clock = std::chrono::steady_clock;

}  // namespace rmqtt::broker
