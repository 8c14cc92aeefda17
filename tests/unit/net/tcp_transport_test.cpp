// The plain TCP transport on its worker's fd_reactor (net/tcp_transport, net/fd_reactor): reads by
// readiness, writes that wait for room, the end of stream, abort() and a context that shuts down
// with waits pending. Real loopback sockets; the broker's side is accepted with accept4() as the
// listener does.

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "net/tcp_transport.hpp"

namespace rmqtt::broker {
namespace {

using asio::ip::tcp;

// A loopback connection: `client` is an asio socket on `ctx`, `server` the broker's transport.
struct connected_pair {
    tcp::socket client;
    std::unique_ptr<transport> server;
};

connected_pair connect_pair(asio::io_context& ctx, int client_rcvbuf = 0) {
    tcp::acceptor acceptor(ctx, {asio::ip::make_address("127.0.0.1"), 0});
    tcp::socket client(ctx);
    client.open(tcp::v4());
    if (client_rcvbuf > 0) client.set_option(asio::socket_base::receive_buffer_size(client_rcvbuf));
    client.connect(acceptor.local_endpoint());
    const int fd = ::accept4(acceptor.native_handle(), nullptr, nullptr, SOCK_CLOEXEC);
    EXPECT_GE(fd, 0);
    if (client_rcvbuf > 0) {
        ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &client_rcvbuf, sizeof client_rcvbuf);
    }
    tcp_transport_factory factory;
    auto t = factory.make(accepted_socket(fd, ctx.get_executor(), tcp::v4()));
    return {std::move(client), std::move(t)};
}

// Runs `ctx` until `done()` or about 5 s.
template <class Pred>
void run_until(asio::io_context& ctx, Pred done) {
    for (int i = 0; i < 500 && !done(); ++i) {
        ctx.restart();
        ctx.run_for(std::chrono::milliseconds(10));
    }
}

struct readable_calls {
    int count = 0;
    std::error_code last;
};

// A read that finds nothing, as the reader's last one before it parks: registers the socket.
void expect_nothing_to_read(transport& t) {
    char buf[8];
    std::error_code ec;
    t.read_available(asio::buffer(buf), ec);
    EXPECT_EQ(ec, asio::error::would_block);
}

void count_readable(void* owner, std::error_code ec) {
    auto* calls = static_cast<readable_calls*>(owner);
    ++calls->count;
    calls->last = ec;
}

TEST(TcpTransport, AnIdleReaderIsToldWhenBytesArriveAndKeepsItsOwnerUntilThen) {
    asio::io_context ctx(1);
    auto p = connect_pair(ctx);
    char buf[64];
    std::error_code ec;
    EXPECT_EQ(p.server->read_available(asio::buffer(buf), ec), 0u);
    EXPECT_EQ(ec, asio::error::would_block);

    auto calls = std::make_shared<readable_calls>();
    std::weak_ptr<readable_calls> watch = calls;
    p.server->on_readable(count_readable, calls);
    calls.reset();
    ctx.run_for(std::chrono::milliseconds(50));
    ASSERT_FALSE(watch.expired()) << "the wait keeps its owner";
    EXPECT_EQ(watch.lock()->count, 0) << "nothing arrived";

    asio::write(p.client, asio::buffer(std::string("abc")));
    run_until(ctx, [&] { return watch.expired(); });
    EXPECT_TRUE(watch.expired()) << "told once, and the owner released after it";

    const std::size_t n = p.server->read_available(asio::buffer(buf), ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_EQ(std::string(buf, n), "abc");
    p.server->read_available(asio::buffer(buf), ec);
    EXPECT_EQ(ec, asio::error::would_block);
}

TEST(TcpTransport, BytesThatArrivedBeforeTheWaitStartsAreReportedAtOnce) {
    asio::io_context ctx(1);
    auto p = connect_pair(ctx);
    expect_nothing_to_read(*p.server);  // registers; nothing yet
    asio::write(p.client, asio::buffer(std::string("x")));
    ctx.run_for(std::chrono::milliseconds(50));  // the event is taken before anyone waits
    auto calls = std::make_shared<readable_calls>();
    p.server->on_readable(count_readable, calls);
    run_until(ctx, [&] { return calls->count > 0; });
    EXPECT_EQ(calls->count, 1);
    EXPECT_FALSE(calls->last);
}

// A read that returns fewer bytes than asked for found the socket empty: the transport waits for
// the next event instead of reading again. Bytes that come later, and the end of stream after
// them, must still be reported.
TEST(TcpTransport, AfterAShortReadLaterBytesAndTheEndOfStreamAreStillReported) {
    asio::io_context ctx(1);
    auto p = connect_pair(ctx);
    char buf[64];
    std::error_code ec;
    asio::write(p.client, asio::buffer(std::string("ab")));
    std::string got;
    // Reads until the end of stream, waiting for readiness whenever nothing is there.
    auto read_more = [&](std::size_t until_size) {
        for (int waits = 0; waits < 100;) {
            const std::size_t n = p.server->read_available(asio::buffer(buf), ec);
            if (n > 0) got.append(buf, n);
            if (ec && ec != asio::error::would_block) return;
            if (got.size() >= until_size) return;
            if (ec == asio::error::would_block) {
                auto calls = std::make_shared<readable_calls>();
                p.server->on_readable(count_readable, calls);
                run_until(ctx, [&] { return calls->count > 0; });
                ASSERT_EQ(calls->count, 1);
                ASSERT_FALSE(calls->last) << calls->last.message();
                ++waits;
            }
        }
    };
    read_more(2);
    ASSERT_EQ(got, "ab");
    EXPECT_FALSE(ec) << "a short read reports its bytes";
    p.server->read_available(asio::buffer(buf), ec);
    EXPECT_EQ(ec, asio::error::would_block) << "after a short read: nothing until an event";

    asio::write(p.client, asio::buffer(std::string("cd")));
    read_more(4);
    EXPECT_EQ(got, "abcd");

    asio::write(p.client, asio::buffer(std::string("e")));
    p.client.shutdown(tcp::socket::shutdown_send);
    read_more(std::string::npos);
    EXPECT_EQ(got, "abcde");
    EXPECT_EQ(ec, asio::error::eof);
}

TEST(TcpTransport, AWriteLargerThanTheSocketBuffersWaitsForRoomAndDeliversEveryByte) {
    asio::io_context ctx(1);
    auto p = connect_pair(ctx, 4096);
    std::vector<std::uint8_t> data(2 * 1024 * 1024);
    for (std::size_t i = 0; i < data.size(); ++i)
        data[i] = static_cast<std::uint8_t>(i * 131 + (i >> 9));
    bool written = false;
    std::error_code write_ec;
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
            co_await p.server->write_all(asio::buffer(data), write_ec);
            written = true;
        },
        asio::detached);
    ctx.run_for(std::chrono::milliseconds(50));
    EXPECT_FALSE(written) << "the client reads nothing yet: the write waits for room";

    std::vector<std::uint8_t> got(data.size());
    bool read_done = false;
    asio::async_read(p.client, asio::buffer(got), [&](std::error_code ec, std::size_t n) {
        EXPECT_FALSE(ec) << ec.message();
        EXPECT_EQ(n, data.size());
        read_done = true;
    });
    run_until(ctx, [&] { return written && read_done; });
    EXPECT_TRUE(written);
    EXPECT_FALSE(write_ec) << write_ec.message();
    ASSERT_TRUE(read_done);
    EXPECT_TRUE(got == data);
}

TEST(TcpTransport, ReadSomeWaitsForBytesAndReportsTheEndOfStream) {
    asio::io_context ctx(1);
    auto p = connect_pair(ctx);
    std::string got;
    std::error_code end;
    bool done = false;
    asio::co_spawn(
        ctx,
        [&]() -> asio::awaitable<void> {
            char buf[16];
            for (;;) {
                std::error_code ec;
                const std::size_t n = co_await p.server->read_some(asio::buffer(buf), ec);
                if (ec) {
                    end = ec;
                    break;
                }
                got.append(buf, n);
            }
            done = true;
        },
        asio::detached);
    ctx.run_for(std::chrono::milliseconds(20));
    asio::write(p.client, asio::buffer(std::string("hello")));
    run_until(ctx, [&] { return got.size() == 5; });
    p.client.shutdown(tcp::socket::shutdown_send);
    run_until(ctx, [&] { return done; });
    EXPECT_EQ(got, "hello");
    EXPECT_EQ(end, asio::error::eof);
}

TEST(TcpTransport, AbortEndsPendingWaitsWithOperationAbortedAndTheClientSeesTheClose) {
    asio::io_context ctx(1);
    auto p = connect_pair(ctx);
    expect_nothing_to_read(*p.server);
    auto& reactor = asio::use_service<fd_reactor>(ctx);
    EXPECT_EQ(reactor.size(), 1u) << "registered by the first read";
    auto calls = std::make_shared<readable_calls>();
    p.server->on_readable(count_readable, calls);
    ctx.run_for(std::chrono::milliseconds(20));
    EXPECT_EQ(calls->count, 0);
    p.server->abort();
    p.server->abort();  // more than once is safe
    run_until(ctx, [&] { return calls->count > 0; });
    EXPECT_EQ(calls->count, 1);
    EXPECT_EQ(calls->last, asio::error::operation_aborted);
    EXPECT_EQ(reactor.size(), 0u) << "abort() gave the reactor slot back";
    char buf[8];
    std::error_code ec;
    p.server->read_available(asio::buffer(buf), ec);
    EXPECT_TRUE(ec) << "no reading after abort()";

    char c;
    std::error_code client_ec;
    p.client.read_some(asio::buffer(&c, 1), client_ec);
    EXPECT_TRUE(client_ec == asio::error::eof || client_ec == asio::error::connection_reset)
        << client_ec.message();
}

// The context shuts down while an idle connection waits: the wait's owner (which here owns the
// transport, as a connection does) is released, not kept in a cycle (LeakSanitizer would report
// it in the sanitizer builds), and the transport is destroyed without touching a freed reactor.
TEST(TcpTransport, AContextThatShutsDownReleasesTheOwnersOfPendingWaits) {
    struct owner_t {
        std::unique_ptr<transport> t;
    };
    std::weak_ptr<owner_t> watch;
    {
        asio::io_context ctx(1);
        auto p = connect_pair(ctx);
        auto owner = std::make_shared<owner_t>();
        owner->t = std::move(p.server);
        expect_nothing_to_read(*owner->t);
        owner->t->on_readable([](void*, std::error_code) { ADD_FAILURE() << "not called"; }, owner);
        watch = owner;
        owner.reset();
        ctx.run_for(std::chrono::milliseconds(20));
        EXPECT_FALSE(watch.expired());
    }
    EXPECT_TRUE(watch.expired());
}

// Two idle connections become readable in the same batch of events; whichever is told first
// destroys the other. The other's event, already read by the reactor, must not reach it (a freed
// object under AddressSanitizer).
TEST(TcpTransport, AWatcherDestroyedEarlierInTheSameBatchIsNotTold) {
    asio::io_context ctx(1);
    auto a = connect_pair(ctx);
    auto b = connect_pair(ctx);
    struct both {
        std::unique_ptr<transport> t[2];
        int told = 0;
    };
    auto state = std::make_shared<both>();
    state->t[0] = std::move(a.server);
    state->t[1] = std::move(b.server);
    for (auto& t : state->t)
        expect_nothing_to_read(*t);
    struct token {
        both* s;
        int index;
    };
    auto tell = [](void* owner, std::error_code ec) {
        auto* k = static_cast<token*>(owner);
        EXPECT_FALSE(ec);
        ++k->s->told;
        k->s->t[1 - k->index].reset();
    };
    state->t[0]->on_readable(tell, std::make_shared<token>(token{state.get(), 0}));
    state->t[1]->on_readable(tell, std::make_shared<token>(token{state.get(), 1}));
    asio::write(a.client, asio::buffer(std::string("1")));
    asio::write(b.client, asio::buffer(std::string("2")));
    run_until(ctx, [&] { return state->told > 0; });
    ctx.run_for(std::chrono::milliseconds(50));
    EXPECT_EQ(state->told, 1);
    EXPECT_EQ(!state->t[0] + !state->t[1], 1) << "one transport is left";
}

}  // namespace
}  // namespace rmqtt::broker
