// The listening socket's options, seen from another socket: reuseport = true sets SO_REUSEPORT
// before bind, so a second SO_REUSEPORT socket of the same user can bind and listen on the port.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

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

}  // namespace
}  // namespace rmqtt::test::integ
