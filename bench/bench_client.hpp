#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>

#include "rmqtt/protocol/codec.hpp"

// A small MQTT client for load generation: one TCP connection, the project's codec, a reader and a
// coalescing writer as coroutines. Not thread-safe: every call and every handler runs on the
// executor given to the constructor (one io_context thread).
namespace rmqtt::bench {

namespace proto = rmqtt::protocol;
using steady_clock = std::chrono::steady_clock;

// Wakes the coroutines waiting for a state change. Waiters re-check their condition after every
// wake-up, so a spurious one costs a loop turn, never a wrong answer.
class event {
  public:
    // Returns at notify(), at `deadline`, or when the executor stops.
    asio::awaitable<void> wait_until(steady_clock::time_point deadline);
    void notify();

  private:
    std::vector<asio::steady_timer*> waiters_;
};

struct client_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 1883;
    proto::version version = proto::version::v3_1_1;
    std::string client_id;
    bool clean_start = true;           // Clean Session (3.x) / Clean Start (5.0)
    std::uint32_t session_expiry = 0;  // 5.0 Session Expiry Interval, sent when > 0
    std::uint16_t keep_alive = 0;      // 0: no keep-alive (runs have no idle periods to cover)
    bool auto_ack = true;              // false: leave received QoS 1/2 messages unacknowledged
};

class client : public std::enable_shared_from_this<client> {
  public:
    using publish_handler = std::function<void(const proto::publish&)>;

    client(asio::any_io_executor ex, client_options o);

    // TCP connect, CONNECT, CONNACK. True when the broker accepted; false on refusal, error or
    // `deadline`. The reader and the writer run from here until close().
    asio::awaitable<bool> connect(steady_clock::time_point deadline);

    // SUBSCRIBE and wait for SUBACK. True when every filter was granted.
    asio::awaitable<bool> subscribe(const std::vector<std::string>& filters, proto::qos q,
                                    steady_clock::time_point deadline);

    // Queues a PUBLISH for the writer; QoS > 0 takes a packet identifier and counts as inflight
    // until PUBACK / PUBCOMP. False when the connection is closed.
    bool publish(std::string_view topic, std::string_view payload, proto::qos q);

    // Waits until fewer than `window` QoS > 0 publishes are unacknowledged and the output buffer is
    // below its limit (back-pressure from the socket). False if closed or at `deadline`.
    asio::awaitable<bool> wait_ready(std::size_t window, steady_clock::time_point deadline);
    // Waits until every publish is acknowledged and every queued byte is written.
    asio::awaitable<bool> wait_flushed(steady_clock::time_point deadline);

    // DISCONNECT, then waits (until `deadline`) for the broker to close first, so the TIME_WAIT
    // state stays on the broker's side and a long run does not exhaust the client's ports.
    asio::awaitable<void> disconnect(steady_clock::time_point deadline);
    void close();

    void on_publish(publish_handler h) { on_publish_ = std::move(h); }
    // Called once per QoS > 0 publish of ours that completed (PUBACK, or PUBCOMP).
    void on_acked(std::function<void()> h) { on_acked_ = std::move(h); }

    bool is_open() const noexcept { return !closed_; }
    bool session_present() const noexcept { return session_present_; }
    std::uint8_t connack_code() const noexcept { return connack_code_; }
    // 5.0: the broker's Receive Maximum (65535 when absent, and for 3.x).
    std::uint16_t server_receive_maximum() const noexcept { return server_receive_maximum_; }
    std::size_t inflight() const noexcept { return inflight_; }
    // True when publish() may be called without exceeding `window` or the output buffer limit.
    bool ready(std::size_t window) const noexcept {
        return inflight_ < window && out_.size() < output_limit;
    }
    // Publishes of ours the broker answered with an error reason code (5.0).
    std::uint64_t rejected() const noexcept { return rejected_; }
    // Wall-clock times of the TCP connection and of CONNACK (for recovery measurements).
    std::chrono::system_clock::time_point tcp_connected_at() const noexcept { return tcp_at_; }
    std::chrono::system_clock::time_point connack_at() const noexcept { return connack_at_; }
    const std::string& close_reason() const noexcept { return close_reason_; }
    const client_options& options() const noexcept { return opts_; }
    asio::any_io_executor get_executor() { return sock_.get_executor(); }

  private:
    enum class out_state : std::uint8_t {
        free,
        wait_puback,
        wait_pubrec,
        wait_pubcomp,
        wait_suback
    };

    asio::awaitable<void> reader();
    asio::awaitable<void> writer();
    void handle(const proto::packet& p);
    void handle_publish(const proto::publish& p);
    void release(std::uint16_t id);
    std::uint16_t take_packet_id();
    void send(const proto::packet& p);
    void send_ack(proto::packet& slot, std::uint16_t id);
    void fail(std::string why);

    static constexpr std::size_t output_limit = 256 * 1024;

    client_options opts_;
    asio::ip::tcp::socket sock_;
    std::vector<std::uint8_t> out_;
    std::vector<std::uint8_t> writing_;
    bool writing_active_ = false;
    event write_event_;
    event state_event_;
    bool closed_ = false;
    bool connacked_ = false;
    bool session_present_ = false;
    std::uint8_t connack_code_ = 0xFF;
    std::uint16_t server_receive_maximum_ = 65535;
    std::string close_reason_;
    std::uint64_t rejected_ = 0;
    std::chrono::system_clock::time_point tcp_at_{};
    std::chrono::system_clock::time_point connack_at_{};

    std::vector<out_state> ids_ = std::vector<out_state>(65536, out_state::free);
    std::uint16_t next_id_ = 0;
    std::size_t inflight_ = 0;
    std::unordered_map<std::uint16_t, std::vector<std::uint8_t>> subacks_;

    // Preallocated acknowledgements, so each ack is encoded without building a packet.
    proto::packet puback_ = proto::puback{};
    proto::packet pubrec_ = proto::pubrec{};
    proto::packet pubrel_ = proto::pubrel{};
    proto::packet pubcomp_ = proto::pubcomp{};

    publish_handler on_publish_;
    std::function<void()> on_acked_;
};

}  // namespace rmqtt::bench
