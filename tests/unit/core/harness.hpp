#pragma once

// Drives the broker's core without sockets: a core_context, connections over in-memory
// transports, and a test client that encodes and decodes MQTT packets. Everything runs on one
// io_context that the test pumps; store completions come back from the committer thread.

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <vector>

#include "mqtt/connection.hpp"
#include "net/transport.hpp"
#include "rmqtt/protocol/codec.hpp"
#include "session/core_context.hpp"

namespace rmqtt::broker::test {

// The two directions of one in-memory connection.
struct pipe {
    explicit pipe(asio::any_io_executor ex) : signal(ex) {}
    std::vector<std::uint8_t> to_server;
    std::vector<std::uint8_t> to_client;
    bool client_closed = false;  // the client hung up
    bool server_closed = false;  // the broker closed its side
    asio::steady_timer signal;   // wakes the broker's reader
    bool reader_waiting = false;
};

class memory_transport final : public transport {
  public:
    // `common_name`: what a verified client certificate would carry (peer_common_name()).
    explicit memory_transport(std::shared_ptr<pipe> p,
                              std::optional<std::string> common_name = std::nullopt)
        : p_(std::move(p)), common_name_(std::move(common_name)) {}

    asio::awaitable<std::size_t> read_some(asio::mutable_buffer buf, std::error_code& ec) override {
        std::error_code wait_ec;
        while (p_->to_server.empty() && !p_->client_closed && !p_->server_closed) {
            p_->reader_waiting = true;
            p_->signal.expires_at(std::chrono::steady_clock::time_point::max());
            co_await p_->signal.async_wait(asio::redirect_error(asio::use_awaitable, wait_ec));
            p_->reader_waiting = false;
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
        if (p_->server_closed || p_->client_closed) {
            ec = asio::error::broken_pipe;
            co_return;
        }
        const auto* b = static_cast<const std::uint8_t*>(buf.data());
        p_->to_client.insert(p_->to_client.end(), b, b + buf.size());
        ec.clear();
        co_return;
    }
    asio::awaitable<void> close(std::error_code& ec) override {
        abort();
        ec.clear();
        co_return;
    }
    void abort() noexcept override {
        p_->server_closed = true;
        p_->signal.cancel();
    }
    std::string remote_address() const override { return "127.0.0.1:1"; }
    std::optional<std::string> peer_common_name() const override { return common_name_; }
    const char* kind() const noexcept override { return "memory"; }

  private:
    std::shared_ptr<pipe> p_;
    std::optional<std::string> common_name_;
};

// The client end: packets in, packets out, pumping the io_context while it waits.
class test_client {
  public:
    test_client(asio::io_context& io, std::shared_ptr<pipe> p, protocol::version v)
        : io_(io), p_(std::move(p)), version_(v) {}

    void send(const protocol::packet& packet) {
        protocol::encode(version_, packet, p_->to_server);
        p_->signal.cancel();
        pump(std::chrono::milliseconds(0));
    }
    // The next packet from the broker, or nullopt when none arrives within `timeout` (or the
    // connection closed).
    std::optional<protocol::packet> receive(
        std::chrono::milliseconds timeout = std::chrono::seconds(2)) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            if (auto p = take()) return p;
            if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
            pump(std::chrono::milliseconds(2));
        }
    }
    template <class T>
    std::optional<T> expect(std::chrono::milliseconds timeout = std::chrono::seconds(2)) {
        auto p = receive(timeout);
        if (!p || !std::holds_alternative<T>(*p)) return std::nullopt;
        return std::get<T>(std::move(*p));
    }
    // True once the broker closed its side, waiting at most `timeout`.
    bool closed(std::chrono::milliseconds timeout = std::chrono::seconds(2)) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!p_->server_closed && std::chrono::steady_clock::now() < deadline)
            pump(std::chrono::milliseconds(2));
        return p_->server_closed;
    }
    // Lets the broker run for `d` (timers, store completions).
    void pump(std::chrono::milliseconds d) {
        if (d.count() == 0) {
            io_.restart();
            io_.poll();
            return;
        }
        io_.restart();
        io_.run_for(d);
    }
    void hang_up() {
        p_->client_closed = true;
        p_->signal.cancel();
        pump(std::chrono::milliseconds(0));
    }
    protocol::version version() const noexcept { return version_; }

  private:
    std::optional<protocol::packet> take() {
        if (p_->to_client.empty()) return std::nullopt;
        protocol::frame f;
        auto r = protocol::parse_frame(p_->to_client, 0, f);
        if (r.status != protocol::frame_status::complete) return std::nullopt;
        protocol::packet out;
        auto d = protocol::decode(version_, f, out);
        p_->to_client.erase(p_->to_client.begin(),
                            p_->to_client.begin() + static_cast<long>(r.consumed));
        if (!d) return std::nullopt;
        return out;
    }

    asio::io_context& io_;
    std::shared_ptr<pipe> p_;
    protocol::version version_;
};

// A broker core on one io_context, with a default listener.
struct harness {
    harness() {
        lc.name = "test";
        lc.allow_anonymous = true;
    }
    ~harness() {
        // Every client hangs up, so each connection ends and lets go of its session (they hold
        // each other while connected); then the timers they leave on `io` finish. Bounded.
        core.set_stopping();
        for (auto& w : pipes_) {
            if (auto p = w.lock()) {
                p->client_closed = true;
                p->signal.cancel();
            }
        }
        io.restart();
        for (int i = 0; i < 200 && core.stats.connections.load() > 0; ++i)
            io.run_for(std::chrono::milliseconds(10));
        io.run_for(std::chrono::milliseconds(20));
    }

    test_client connect_raw(protocol::version v = protocol::version::v3_1_1,
                            std::optional<std::string> common_name = std::nullopt) {
        auto p = std::make_shared<pipe>(io.get_executor());
        pipes_.push_back(p);
        counters->config = &lc;  // as a listener does (lc may have changed since the last one)
        counters->listener_id = interned_string(lc.id());
        auto c = std::make_shared<connection>(
            core, counters, std::make_unique<memory_transport>(p, std::move(common_name)),
            io.get_executor());
        c->start();
        return test_client(io, p, v);
    }
    // CONNECT and the CONNACK it got (nullopt: none).
    std::optional<protocol::connack> connect(test_client& c, const std::string& id,
                                             bool clean = true, std::uint16_t keep_alive = 60,
                                             std::optional<std::uint32_t> expiry = std::nullopt) {
        protocol::connect conn;
        conn.protocol_version = c.version();
        conn.client_id = id;
        conn.clean_start = clean;
        conn.keep_alive = keep_alive;
        if (expiry) conn.props.session_expiry_interval = *expiry;
        c.send(conn);
        return c.expect<protocol::connack>();
    }

    asio::io_context io;
    core_context core;
    listener_config lc;
    std::shared_ptr<listener_counters> counters = std::make_shared<listener_counters>();
    std::vector<std::weak_ptr<pipe>> pipes_;  // every client connect_raw made
};

}  // namespace rmqtt::broker::test
