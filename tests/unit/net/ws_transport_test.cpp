// ws_transport over an in-memory lower transport: the handshake (WebSocket bytes that arrive with
// the request are kept; a refused request is answered and closes), the MQTT byte stream through
// reads of any size, pings answered while a read waits, violations, and the close handshake with
// and without a pending read.
#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/ws_transport.hpp"
#include "ws_frames.hpp"

namespace rmqtt::broker {
namespace {

namespace ws = rmqtt::test::ws;

// Both directions of a connection in memory.
struct pipe {
    explicit pipe(asio::io_context& io) : signal(io), write_gate(io) {}
    std::deque<std::uint8_t> to_server;
    std::vector<std::uint8_t> to_client;
    bool client_closed = false;  // the client's FIN
    bool server_closed = false;  // the lower transport was closed or aborted
    bool server_graceful = false;
    bool writes_blocked = false;  // writes wait until the test opens the gate (a slow client)
    int writes = 0;               // lower writes started
    asio::steady_timer signal;
    asio::steady_timer write_gate;
};

class memory_lower final : public transport {
  public:
    explicit memory_lower(std::shared_ptr<pipe> p) : p_(std::move(p)) {}

    asio::awaitable<std::size_t> read_some(asio::mutable_buffer buf, std::error_code& ec) override {
        std::error_code wait_ec;
        while (p_->to_server.empty() && !p_->client_closed && !p_->server_closed) {
            p_->signal.expires_at(asio::steady_timer::time_point::max());
            co_await p_->signal.async_wait(asio::redirect_error(asio::use_awaitable, wait_ec));
        }
        if (p_->server_closed) {
            ec = asio::error::operation_aborted;
            co_return 0;
        }
        if (p_->to_server.empty()) {
            ec = asio::error::eof;
            co_return 0;
        }
        const std::size_t n = std::min(buf.size(), p_->to_server.size());
        std::copy_n(p_->to_server.begin(), n, static_cast<std::uint8_t*>(buf.data()));
        p_->to_server.erase(p_->to_server.begin(), p_->to_server.begin() + static_cast<long>(n));
        ec.clear();
        co_return n;
    }
    asio::awaitable<void> write_all(asio::const_buffer buf, std::error_code& ec) override {
        ++p_->writes;
        std::error_code wait_ec;
        while (p_->writes_blocked && !p_->server_closed) {
            p_->write_gate.expires_at(asio::steady_timer::time_point::max());
            co_await p_->write_gate.async_wait(asio::redirect_error(asio::use_awaitable, wait_ec));
        }
        if (p_->server_closed) {
            ec = asio::error::broken_pipe;
            co_return;
        }
        const auto* b = static_cast<const std::uint8_t*>(buf.data());
        p_->to_client.insert(p_->to_client.end(), b, b + buf.size());
        ec.clear();
        co_return;
    }
    asio::awaitable<void> close(std::error_code& ec) override {
        p_->server_graceful = true;
        abort();
        ec.clear();
        co_return;
    }
    void abort() noexcept override {
        p_->server_closed = true;
        p_->signal.cancel();
        p_->write_gate.cancel();
    }
    std::string remote_address() const override { return "10.0.0.1:5"; }
    const char* kind() const noexcept override { return "tcp"; }

  private:
    std::shared_ptr<pipe> p_;
};

struct fixture {
    asio::io_context io;
    std::shared_ptr<pipe> p = std::make_shared<pipe>(io);
    std::unique_ptr<ws_transport> t;

    explicit fixture(ws_transport::settings s = {}) {
        t = std::make_unique<ws_transport>(std::make_unique<memory_lower>(p), io.get_executor(),
                                           std::move(s));
    }
    void send(const std::vector<std::uint8_t>& b) {
        p->to_server.insert(p->to_server.end(), b.begin(), b.end());
        p->signal.cancel();
    }
    void send(std::string_view s) { send(std::vector<std::uint8_t>(s.begin(), s.end())); }
    void run() {
        for (int i = 0; i < 100 && io.poll() > 0; ++i) {
        }
        io.restart();
    }
    std::string take_text() {
        std::string s(p->to_client.begin(), p->to_client.end());
        p->to_client.clear();
        return s;
    }
    std::vector<ws::frame> take_frames() {
        std::vector<ws::frame> out;
        std::size_t off = 0;
        for (;;) {
            ws::frame f;
            const auto n = ws::parse_frame(std::span(p->to_client).subspan(off), f);
            if (n == 0) break;
            out.push_back(f);
            off += n;
        }
        EXPECT_EQ(off, p->to_client.size());
        p->to_client.clear();
        return out;
    }

    // Starts the handshake; its result lands in `result`.
    void start_handshake(std::optional<std::error_code>& result) {
        asio::co_spawn(
            io,
            [this, &result]() -> asio::awaitable<void> {
                std::error_code ec;
                co_await t->handshake(ec);
                result = ec;
            },
            asio::detached);
        run();
    }
    void upgrade(std::string_view first_bytes_after = {}) {
        std::optional<std::error_code> r;
        start_handshake(r);
        send(ws::upgrade_request() + std::string(first_bytes_after));
        run();
        ASSERT_TRUE(r.has_value());
        ASSERT_FALSE(*r) << r->message();
        const auto response = take_text();
        ASSERT_TRUE(response.starts_with("HTTP/1.1 101 Switching Protocols\r\n")) << response;
    }

    struct read_result {
        bool done = false;
        std::error_code ec;
        std::string data;
    };
    // Starts one read_some with a buffer of `size` bytes.
    std::shared_ptr<read_result> start_read(std::size_t size = 4096) {
        auto r = std::make_shared<read_result>();
        asio::co_spawn(
            io,
            [this, r, size]() -> asio::awaitable<void> {
                std::vector<char> buf(size);
                const auto n = co_await t->read_some(asio::buffer(buf), r->ec);
                r->data.assign(buf.data(), n);
                r->done = true;
            },
            asio::detached);
        run();
        return r;
    }
    std::shared_ptr<read_result> start_close() {
        auto r = std::make_shared<read_result>();
        asio::co_spawn(
            io,
            [this, r]() -> asio::awaitable<void> {
                co_await t->close(r->ec);
                r->done = true;
            },
            asio::detached);
        run();
        return r;
    }
    std::error_code write(std::string_view s) {
        auto r = start_write(s);
        return r->done ? r->ec : asio::error::would_block;
    }
    // Starts one write_all of `s` (which must outlive it).
    std::shared_ptr<read_result> start_write(std::string_view s) {
        auto r = std::make_shared<read_result>();
        asio::co_spawn(
            io,
            [this, s, r]() -> asio::awaitable<void> {
                co_await t->write_all(asio::buffer(s.data(), s.size()), r->ec);
                r->done = true;
            },
            asio::detached);
        run();
        return r;
    }
    void open_write_gate() {
        p->writes_blocked = false;
        p->write_gate.cancel();
        run();
    }
};

TEST(WsTransport, FramesSentWithTheRequestAreNotLost) {
    fixture f;
    const auto frames = ws::client_frame(ws::binary, "\x10\x0c");
    f.upgrade(std::string(frames.begin(), frames.end()));
    EXPECT_EQ(f.t->subprotocol(), "mqtt");
    EXPECT_EQ(f.t->remote_address(), "10.0.0.1:5");
    EXPECT_STREQ(f.t->kind(), "ws");
    auto r = f.start_read();
    ASSERT_TRUE(r->done);
    EXPECT_FALSE(r->ec);
    EXPECT_EQ(r->data, "\x10\x0c");
}

TEST(WsTransport, SmallReadsGetTheWholeStream) {
    fixture f;
    f.upgrade();
    f.send(ws::client_frame(ws::binary, "hello "));
    f.send(ws::client_frame(ws::binary, "world"));
    std::string got;
    for (int i = 0; i < 11; ++i) {
        auto r = f.start_read(1);
        ASSERT_TRUE(r->done);
        ASSERT_FALSE(r->ec);
        got += r->data;
    }
    EXPECT_EQ(got, "hello world");
}

TEST(WsTransport, RefusedUpgradeIsAnsweredAndClosed) {
    fixture f({.path = "/mqtt"});
    std::optional<std::error_code> r;
    f.start_handshake(r);
    f.send(ws::upgrade_request("/elsewhere"));
    f.run();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, ws_error::wrong_path);
    EXPECT_TRUE(f.take_text().starts_with("HTTP/1.1 404 Not Found\r\n"));
    EXPECT_TRUE(f.p->server_graceful);
}

TEST(WsTransport, OversizeRequestIsRefusedWith431) {
    fixture f({.max_request_size = 1024});
    std::optional<std::error_code> r;
    f.start_handshake(r);
    f.send("GET /mqtt HTTP/1.1\r\nX-Long: " + std::string(2000, 'a'));
    f.run();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(*r, ws_error::request_too_large);
    EXPECT_TRUE(f.take_text().starts_with("HTTP/1.1 431 "));
}

TEST(WsTransport, PingIsAnsweredWhileAReadWaits) {
    fixture f;
    f.upgrade();
    auto r = f.start_read();
    EXPECT_FALSE(r->done);
    f.send(ws::client_frame(ws::ping, "are you there"));
    f.run();
    EXPECT_FALSE(r->done);  // a ping is not MQTT data
    auto out = f.take_frames();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].opcode, ws::pong);
    f.send(ws::client_frame(ws::binary, "x"));
    f.run();
    ASSERT_TRUE(r->done);
    EXPECT_EQ(r->data, "x");
}

TEST(WsTransport, WritesAreBinaryFramesOnePerPacket) {
    fixture f;
    f.upgrade();
    EXPECT_FALSE(f.write(std::string_view("\x20\x02\x00\x00", 4)));
    auto out = f.take_frames();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].opcode, ws::binary);
    EXPECT_EQ(out[0].payload, (std::vector<std::uint8_t>{0x20, 0x02, 0x00, 0x00}));
    // Several packets in one write: one frame each (clients that assume alignment exist).
    EXPECT_FALSE(f.write(std::string_view("\xd0\x00\x30\x03\x00\x01t\xd0\x00", 9)));
    out = f.take_frames();
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[1].payload, (std::vector<std::uint8_t>{0x30, 0x03, 0x00, 0x01, 't'}));
    // Bytes that are not a whole packet still go out, in one frame.
    EXPECT_FALSE(f.write(std::string_view("\x30\x05\x00", 3)));
    out = f.take_frames();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].payload.size(), 3u);
}

TEST(WsTransport, AnswersWaitForAWriteInProgressAndKeepTheOrder) {
    fixture f;
    f.upgrade();
    f.p->writes_blocked = true;             // the client reads slowly
    const int writes_before = f.p->writes;  // the 101 answer
    auto w = f.start_write(std::string_view("\xd0\x00", 2));
    EXPECT_FALSE(w->done);
    auto r = f.start_read();
    f.send(ws::client_frame(ws::ping, "1"));
    f.run();
    // (A close that arrives in the same read as a ping makes wslay drop the pong: the stream is
    // ending. Here the pong is queued first.)
    f.send(ws::client_frame(ws::close, ws::close_payload(1000)));
    f.run();
    EXPECT_FALSE(r->done);  // the pong and the close reply go out before the end is reported
    EXPECT_EQ(f.p->writes, writes_before + 1) << "only the data frame's write has started";
    f.open_write_gate();
    ASSERT_TRUE(w->done);
    EXPECT_FALSE(w->ec);
    ASSERT_TRUE(r->done);
    EXPECT_EQ(r->ec, asio::error::eof);
    const auto out = f.take_frames();
    ASSERT_EQ(out.size(), 3u);
    EXPECT_EQ(out[0].opcode, ws::binary);
    EXPECT_EQ(out[1].opcode, ws::pong);
    EXPECT_EQ(out[2].opcode, ws::close);
}

TEST(WsTransport, ClientCloseIsAnsweredThenEndOfStream) {
    fixture f;
    f.upgrade();
    auto r = f.start_read();
    f.send(ws::client_frame(ws::binary, "tail"));
    f.send(ws::client_frame(ws::close, ws::close_payload(1000)));
    f.run();
    ASSERT_TRUE(r->done);
    EXPECT_EQ(r->data, "tail");
    auto r2 = f.start_read();
    ASSERT_TRUE(r2->done);
    EXPECT_EQ(r2->ec, asio::error::eof);
    auto out = f.take_frames();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].opcode, ws::close);
    EXPECT_EQ(out[0].close_code(), 1000);
    EXPECT_TRUE(f.write("late"));  // no data after the close
}

TEST(WsTransport, TextFrameFailsTheReadAndSends1003) {
    fixture f;
    f.upgrade();
    f.send(ws::client_frame(ws::text, "{}"));
    auto r = f.start_read();
    ASSERT_TRUE(r->done);
    EXPECT_EQ(r->ec, ws_error::text_frame);
    auto out = f.take_frames();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].close_code(), 1003);
}

TEST(WsTransport, GracefulCloseWithAPendingRead) {
    fixture f;
    f.upgrade();
    auto r = f.start_read();
    auto c = f.start_close();
    EXPECT_FALSE(c->done);  // waits for the client's close frame
    auto out = f.take_frames();
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].opcode, ws::close);
    EXPECT_EQ(out[0].close_code(), 1000);
    EXPECT_FALSE(f.p->server_closed);
    f.send(ws::client_frame(ws::close, ws::close_payload(1000)));
    f.run();
    ASSERT_TRUE(r->done);
    EXPECT_EQ(r->ec, asio::error::eof);
    ASSERT_TRUE(c->done);
    EXPECT_FALSE(c->ec);
    EXPECT_TRUE(f.p->server_graceful);
    EXPECT_TRUE(f.take_frames().empty());  // the client's close is not answered again
}

TEST(WsTransport, GracefulCloseReadsTheClientsCloseItself) {
    fixture f;
    f.upgrade();
    auto c = f.start_close();
    EXPECT_FALSE(c->done);
    f.send(ws::client_frame(ws::binary, "dropped"));
    f.run();
    EXPECT_FALSE(c->done);
    f.send(ws::client_frame(ws::close, std::string_view{}));
    f.run();
    ASSERT_TRUE(c->done);
    EXPECT_TRUE(f.p->server_graceful);
}

TEST(WsTransport, CloseEndsWhenTheClientJustGoesAway) {
    fixture f;
    f.upgrade();
    auto c = f.start_close();
    f.p->client_closed = true;  // FIN without a close frame
    f.p->signal.cancel();
    f.run();
    ASSERT_TRUE(c->done);
}

TEST(WsTransport, CloseDuringTheHandshakeAborts) {
    fixture f;
    std::optional<std::error_code> r;
    f.start_handshake(r);
    f.send("GET /mqtt HTTP/1.1\r\n");  // a slow client
    f.run();
    EXPECT_FALSE(r.has_value());
    auto c = f.start_close();
    ASSERT_TRUE(c->done);
    f.run();
    ASSERT_TRUE(r.has_value());
    EXPECT_TRUE(*r);
    EXPECT_TRUE(f.p->server_closed);
    EXPECT_TRUE(f.p->to_client.empty());
}

TEST(WsTransport, AbortEndsPendingOperations) {
    fixture f;
    f.upgrade();
    auto r = f.start_read();
    auto c = f.start_close();
    f.t->abort();
    f.run();
    EXPECT_TRUE(r->done);
    EXPECT_TRUE(r->ec);
    EXPECT_TRUE(c->done);
}

}  // namespace
}  // namespace rmqtt::broker
