// node.workers = 0 and the recovery readers count the CPUs the process may run on.

#include <gtest/gtest.h>
#include <sched.h>

#include "config/cpus.hpp"

namespace rmqtt::broker {
namespace {

TEST(UsableCpus, FollowsTheAffinityMask) {
    cpu_set_t all;
    CPU_ZERO(&all);
    ASSERT_EQ(sched_getaffinity(0, sizeof all, &all), 0);
    EXPECT_EQ(usable_cpus(), static_cast<std::size_t>(CPU_COUNT(&all)));
    // Pinned to one CPU (as `taskset -c N` or a one-CPU cpuset starts it): one.
    int first = 0;
    while (!CPU_ISSET(first, &all))
        ++first;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
    const auto pinned = usable_cpus();
    ASSERT_EQ(sched_setaffinity(0, sizeof all, &all), 0);
    EXPECT_EQ(pinned, 1u);
}

}  // namespace
}  // namespace rmqtt::broker
