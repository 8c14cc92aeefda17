// The listener's socket options reach the accepted sockets: `nodelay` (TCP_NODELAY) and
// `tcp_keepalive` (SO_KEEPALIVE) are set once on the listening socket on Linux, where accepted
// sockets inherit them; this checks the option on the broker's side of a real connection.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <chrono>
#include <memory>

#include "net/listener.hpp"

namespace rmqtt::broker {
namespace {

struct accepted_options {
    bool nodelay = false;
    bool keepalive = false;
};

// The descriptor of this process whose peer is `peer` (the accepted side of a loopback
// connection), or -1.
int accepted_fd(const asio::ip::tcp::endpoint& peer) {
    for (int fd = 0; fd < 4096; ++fd) {
        sockaddr_in a{};
        socklen_t len = sizeof a;
        if (::getpeername(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) continue;
        if (a.sin_family == AF_INET && ntohs(a.sin_port) == peer.port()) return fd;
    }
    return -1;
}

int int_option(int fd, int level, int name) {
    int v = 0;
    socklen_t len = sizeof v;
    EXPECT_EQ(::getsockopt(fd, level, name, &v, &len), 0);
    return v;
}

// Opens a listener with `nodelay` and `tcp_keepalive` as given on a free loopback port, connects
// to it and reads the options of the socket the listener accepted.
accepted_options options_of_accepted(bool nodelay, bool tcp_keepalive) {
    listener_config cfg;
    cfg.nodelay = nodelay;
    cfg.tcp_keepalive = tcp_keepalive;
    cfg.host = "127.0.0.1";
    cfg.port = 0;
    asio::io_context ctx;
    std::unique_ptr<transport> accepted;
    listener l(
        cfg, ctx, [&] { return asio::any_io_executor(ctx.get_executor()); },
        [&](std::unique_ptr<transport> t, asio::any_io_executor,
            std::shared_ptr<listener_counters>) { accepted = std::move(t); });
    l.open();
    l.start();
    asio::ip::tcp::socket client(ctx);
    client.connect({asio::ip::make_address("127.0.0.1"), l.bound_port()});
    for (int i = 0; i < 100 && !accepted; ++i)
        ctx.run_for(std::chrono::milliseconds(20));
    accepted_options out;
    EXPECT_TRUE(accepted) << "the listener accepted the connection";
    const int fd = accepted_fd(client.local_endpoint());
    EXPECT_GE(fd, 0) << "the accepted socket was found";
    if (fd >= 0) {
        out.nodelay = int_option(fd, IPPROTO_TCP, TCP_NODELAY) != 0;
        out.keepalive = int_option(fd, SOL_SOCKET, SO_KEEPALIVE) != 0;
    }
    l.stop();
    ctx.run_for(std::chrono::milliseconds(20));
    return out;
}

TEST(Listener, AcceptedSocketsGetNodelayAndKeepaliveWhenConfigured) {
    const auto got = options_of_accepted(true, true);
    EXPECT_TRUE(got.nodelay);
    EXPECT_TRUE(got.keepalive);
}

TEST(Listener, AcceptedSocketsKeepTheDefaultsWhenNotConfigured) {
    const auto got = options_of_accepted(false, false);
    EXPECT_FALSE(got.nodelay);
    EXPECT_FALSE(got.keepalive);
}

}  // namespace
}  // namespace rmqtt::broker
