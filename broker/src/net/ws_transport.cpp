#include "net/ws_transport.hpp"

#include <asio/error.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <cstring>
#include <string_view>

#include "net/ws_upgrade.hpp"
#include "rmqtt/protocol/codec.hpp"

namespace rmqtt::broker {

namespace {
constexpr std::size_t read_chunk = 16 * 1024;
constexpr std::size_t max_idle_write_buffer = 256 * 1024;
constexpr std::uint16_t close_normal = 1000;
// The largest MQTT packet: Remaining Length 268,435,455 plus a 5-byte fixed header.
constexpr std::uint64_t mqtt_max_packet = 268'435'455 + 5;
constexpr std::uint64_t min_frame_limit = 1024 * 1024;
}  // namespace

ws_transport::ws_transport(std::unique_ptr<transport> lower, asio::any_io_executor ex, settings s)
    : lower_(std::move(lower)),
      settings_(std::move(s)),
      secure_(std::string_view(lower_->kind()) == "tls"),
      framer_(settings_.max_frame_size),
      read_buf_(read_chunk),
      write_done_(ex, asio::steady_timer::time_point::max()),
      read_done_(ex, asio::steady_timer::time_point::max()) {}

ws_transport::~ws_transport() = default;

asio::awaitable<void> ws_transport::wait(asio::steady_timer& signal) {
    // The timer never expires; cancel() wakes every waiter, which then checks its condition.
    std::error_code ignored;
    co_await signal.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
}

asio::awaitable<void> ws_transport::handshake(std::error_code& ec) {
    ec.clear();
    co_await lower_->handshake(ec);
    if (ec) co_return;
    ws_upgrade_parser parser(settings_.max_request_size);
    for (;;) {
        reading_ = true;
        const std::size_t n = co_await lower_->read_some(asio::buffer(read_buf_), ec);
        reading_ = false;
        if (ec) co_return;
        if (aborted_ || closing_) {
            ec = asio::error::operation_aborted;
            co_return;
        }
        std::size_t consumed = 0;
        const auto st = parser.feed(std::span<const std::uint8_t>(read_buf_.data(), n), consumed);
        if (st == ws_upgrade_parser::status::need_more) continue;
        const auto answer = st == ws_upgrade_parser::status::complete
                                ? answer_upgrade(parser.request(), settings_.path)
                                : refuse_upgrade(parser.error());
        std::error_code wec;
        co_await lower_->write_all(asio::buffer(answer.response), wec);
        if (!answer.accepted()) {
            if (!wec) co_await lower_->close(wec);
            ec = answer.error;
            co_return;
        }
        if (wec) {
            ec = wec;
            co_return;
        }
        // Frames the client sent right behind its request are the start of the stream.
        early_.assign(read_buf_.begin() + static_cast<std::ptrdiff_t>(consumed),
                      read_buf_.begin() + static_cast<std::ptrdiff_t>(n));
        subprotocol_ = answer.subprotocol;
        upgraded_ = true;
        co_return;
    }
}

asio::awaitable<ws_framer::status> ws_transport::read_frames(std::error_code& ec) {
    ec.clear();
    ws_framer::status st;
    if (!early_.empty()) {
        const auto early = std::move(early_);
        early_.clear();
        st = framer_.feed(early, plain_);
    } else {
        reading_ = true;
        const std::size_t n = co_await lower_->read_some(asio::buffer(read_buf_), ec);
        reading_ = false;
        read_done_.cancel();
        if (ec) co_return framer_.state();
        st = framer_.feed(std::span<const std::uint8_t>(read_buf_.data(), n), plain_);
    }
    // Answers to control frames (pong, the close reply, a close for a violation) go out before
    // the reader hears of the end of the stream (a write in progress may have taken them along).
    if (framer_.output_total() > written_) {
        std::error_code wec;
        co_await flush(wec);
    }
    co_return st;
}

asio::awaitable<std::size_t> ws_transport::read_some(asio::mutable_buffer buf,
                                                     std::error_code& ec) {
    ec.clear();
    for (;;) {
        if (plain_off_ < plain_.size()) {
            const std::size_t n = std::min(buf.size(), plain_.size() - plain_off_);
            std::memcpy(buf.data(), plain_.data() + plain_off_, n);
            plain_off_ += n;
            if (plain_off_ == plain_.size()) {
                plain_.clear();
                plain_off_ = 0;
            }
            co_return n;
        }
        if (read_ec_) {
            ec = read_ec_;
            co_return 0;
        }
        if (aborted_ || !upgraded_) {
            ec = asio::error::operation_aborted;
            co_return 0;
        }
        if (closing_) {
            ec = asio::error::eof;
            co_return 0;
        }
        if (reading_) {
            ec = asio::error::in_progress;  // one reader at a time
            co_return 0;
        }
        const auto st = co_await read_frames(ec);
        if (ec) {
            read_ec_ = ec;
            co_return 0;
        }
        // Bytes decoded before the end are returned first.
        if (st == ws_framer::status::closed) read_ec_ = asio::error::eof;
        if (st == ws_framer::status::failed) read_ec_ = framer_.error();
    }
}

asio::awaitable<void> ws_transport::flush(std::error_code& ec) {
    ec.clear();
    const std::uint64_t target = framer_.output_total();
    while (written_ < target) {
        if (aborted_) {
            ec = asio::error::operation_aborted;
            co_return;
        }
        if (write_ec_) {
            ec = write_ec_;
            co_return;
        }
        if (write_pending_) {  // the other side's write carries our frames too, or goes first
            co_await wait(write_done_);
            continue;
        }
        write_pending_ = true;
        writing_.clear();
        writing_.swap(framer_.output());
        std::error_code e;
        co_await lower_->write_all(asio::buffer(writing_), e);
        written_ += writing_.size();
        write_pending_ = false;
        if (e) write_ec_ = e;
        if (writing_.capacity() > max_idle_write_buffer) writing_ = {};
        write_done_.cancel();
    }
}

asio::awaitable<void> ws_transport::write_all(asio::const_buffer buf, std::error_code& ec) {
    ec.clear();
    if (aborted_ || !upgraded_) {
        ec = asio::error::operation_aborted;
        co_return;
    }
    if (write_ec_) {
        ec = write_ec_;
        co_return;
    }
    if (framer_.close_queued()) {  // the stream is ending; no data frame may follow a close
        ec = asio::error::shut_down;
        co_return;
    }
    // One frame per MQTT packet. The specification lets a frame hold several packets
    // [MQTT-6.0.0-2], but WebSocket clients that assume one packet per frame are common (older
    // Paho C and Paho JavaScript clients among them); the frames still go out in one write.
    std::span<const std::uint8_t> rest(static_cast<const std::uint8_t*>(buf.data()), buf.size());
    while (!rest.empty()) {
        protocol::frame packet;
        const auto r = protocol::parse_frame(rest, 0, packet);
        const std::size_t n =
            r.status == protocol::frame_status::complete ? r.consumed : rest.size();
        framer_.send_binary(rest.first(n));
        rest = rest.subspan(n);
    }
    co_await flush(ec);
}

asio::awaitable<void> ws_transport::close(std::error_code& ec) {
    ec.clear();
    if (closing_ || aborted_) co_return;
    closing_ = true;
    if (!upgraded_) {
        // Still in the handshake: nothing to end in order.
        lower_->abort();
        co_return;
    }
    framer_.send_close(close_normal);
    co_await flush(ec);
    if (ec) co_return;
    // Wait for the client's close frame (RFC 6455 section 5.5.1), then close the lower transport
    // first, as the server should (section 7.1.1). Data frames that still arrive are dropped.
    while (framer_.state() == ws_framer::status::open && !read_ec_ && !aborted_) {
        if (reading_) {  // the connection's reader will see it
            co_await wait(read_done_);
            continue;
        }
        std::error_code rec;
        co_await read_frames(rec);
        plain_.clear();
        plain_off_ = 0;
        if (rec) read_ec_ = rec;
    }
    if (!aborted_) co_await lower_->close(ec);
}

void ws_transport::abort() noexcept {
    aborted_ = true;
    lower_->abort();
    try {
        write_done_.cancel();
        read_done_.cancel();
    } catch (...) {  // cancel() reports failures as exceptions; there is nothing left to do
    }
}

// ---- factory

namespace {

class ws_transport_factory final : public transport_factory {
  public:
    ws_transport_factory(ws_transport::settings s, std::unique_ptr<transport_factory> lower)
        : settings_(std::move(s)), lower_(std::move(lower)) {}

    std::unique_ptr<transport> make(accepted_socket socket) override {
        asio::any_io_executor ex = socket.executor();
        return std::make_unique<ws_transport>(lower_->make(std::move(socket)), ex, settings_);
    }

  private:
    ws_transport::settings settings_;
    std::unique_ptr<transport_factory> lower_;
};

}  // namespace

std::unique_ptr<transport_factory> make_ws_transport_factory(
    const listener_config& cfg, std::unique_ptr<transport_factory> lower) {
    ws_transport::settings s;
    s.path = cfg.ws_path;
    s.max_frame_size = cfg.max_packet_size == 0
                           ? mqtt_max_packet
                           : std::max<std::uint64_t>(cfg.max_packet_size, min_frame_limit);
    return std::make_unique<ws_transport_factory>(std::move(s), std::move(lower));
}

}  // namespace rmqtt::broker
