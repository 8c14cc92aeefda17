// reserve_descriptor_table (net/descriptor_table.hpp): the process's descriptor table is grown
// once (the kernel's FDSize in /proc/self/status), bounded by the soft RLIMIT_NOFILE, and the
// descriptors used to grow it are closed again.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "net/descriptor_table.hpp"

namespace {

using rmqtt::broker::reserve_descriptor_table;

// The number of descriptors the kernel's table for this process holds (FDSize).
std::size_t fd_table_size() {
    std::ifstream f("/proc/self/status");
    std::string key;
    while (f >> key) {
        if (key == "FDSize:") {
            std::size_t n = 0;
            f >> n;
            return n;
        }
        f.ignore(1 << 16, '\n');
    }
    return 0;
}

std::size_t open_descriptors() {
    const std::filesystem::directory_iterator it("/proc/self/fd");
    return static_cast<std::size_t>(std::distance(begin(it), end(it)));
}

std::size_t soft_limit() {
    rlimit l{};
    EXPECT_EQ(::getrlimit(RLIMIT_NOFILE, &l), 0);
    return l.rlim_cur == RLIM_INFINITY ? std::size_t{1} << 20
                                       : static_cast<std::size_t>(l.rlim_cur);
}

TEST(DescriptorTable, GrowsToWhatIsAskedAndClosesWhatItOpened) {
    const std::size_t want = std::min<std::size_t>(soft_limit(), 3000);
    ASSERT_GT(want, 1000u) << "the test needs RLIMIT_NOFILE above 1000";
    const std::size_t open_before = open_descriptors();
    EXPECT_EQ(reserve_descriptor_table(want), want);
    EXPECT_GE(fd_table_size(), want);
    EXPECT_EQ(open_descriptors(), open_before);
}

TEST(DescriptorTable, IsBoundedByTheSoftLimit) {
    const std::size_t limit = soft_limit();
    EXPECT_EQ(reserve_descriptor_table(limit * 4), limit);
    EXPECT_GE(fd_table_size(), limit);
}

}  // namespace
