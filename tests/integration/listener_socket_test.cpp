// The listening socket's options, seen from another socket: reuseport = true sets SO_REUSEPORT
// before bind, so a second SO_REUSEPORT socket of the same user can bind and listen on the port.
// And the descriptor table rmqttd reserves at start for the sockets it will accept.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <fstream>
#include <string>

#include "integration_util.hpp"

namespace rmqtt::test::integ {
namespace {

// Binds and listens a fresh SO_REUSEPORT socket on 127.0.0.1:port; 0 or the errno.
int listen_with_reuseport(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return errno;
    const int on = 1;
    int err = 0;
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) err = errno;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (err == 0 && ::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0) err = errno;
    if (err == 0 && ::listen(fd, 1) != 0) err = errno;
    ::close(fd);
    return err;
}

TEST(ListenerSocket, ReuseportLetsAnotherReuseportSocketBindThePort) {
    auto b = start_broker({"reuseport = true"});
    EXPECT_EQ(listen_with_reuseport(b->port()), 0);
    // The broker still serves.
    auto c = raw_connect(*b, "reuseport-client");
    raw_disconnect(*c);
}

TEST(ListenerSocket, WithoutReuseportThePortIsTaken) {
    auto b = start_broker({"reuseport = false"});
    EXPECT_EQ(listen_with_reuseport(b->port()), EADDRINUSE);
}

// The kernel's descriptor table of the broker (FDSize in /proc/PID/status): grown at start to
// 65,536 or the soft RLIMIT_NOFILE it inherited from this process, so that accepting connections
// does not wait for the table's doublings (net/descriptor_table.hpp).
TEST(ListenerSocket, TheDescriptorTableIsReservedAtStart) {
    auto b = start_broker({});
    std::ifstream f("/proc/" + std::to_string(b->pid()) + "/status");
    std::string key;
    std::uint64_t size = 0;
    while (f >> key) {
        if (key == "FDSize:") {
            f >> size;
            break;
        }
        f.ignore(1 << 16, '\n');
    }
    rlimit l{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &l), 0);
    const std::uint64_t expected = std::min<std::uint64_t>(65536, l.rlim_cur);
    EXPECT_GE(size, expected);
}

}  // namespace
}  // namespace rmqtt::test::integ
