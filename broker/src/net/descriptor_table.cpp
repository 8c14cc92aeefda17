#include "net/descriptor_table.hpp"

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <limits>

namespace rmqtt::broker {

std::size_t reserve_descriptor_table(std::size_t want) {
#ifdef __linux__
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
    std::size_t n = limit.rlim_cur == RLIM_INFINITY
                        ? want
                        : std::min(want, static_cast<std::size_t>(limit.rlim_cur));
    n = std::min<std::size_t>(n, std::numeric_limits<int>::max());  // a descriptor is an int
    if (n == 0) return 0;
    const int base = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (base < 0) return 0;
    // The lowest free descriptor >= n - 1: the table grows to hold it, and stays so after the
    // close (Linux never shrinks it).
    const int high = ::fcntl(base, F_DUPFD_CLOEXEC, static_cast<int>(n - 1));
    ::close(base);
    if (high < 0) return 0;
    ::close(high);
    return n;
#else
    (void)want;
    return 0;
#endif
}

}  // namespace rmqtt::broker
