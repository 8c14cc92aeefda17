#pragma once

#include <sched.h>

#include <cstddef>
#include <thread>

namespace rmqtt::broker {

// The CPUs this process may run on: its affinity mask (taskset, a container's cpuset), not every
// CPU of the machine, which std::thread::hardware_concurrency() counts. At least 1.
inline std::size_t usable_cpus() noexcept {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        const int n = CPU_COUNT(&set);
        if (n > 0) return static_cast<std::size_t>(n);
    }
    const auto n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : n;
}

}  // namespace rmqtt::broker
