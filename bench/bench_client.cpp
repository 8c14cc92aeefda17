#include "bench_client.hpp"

#include <algorithm>
#include <cstring>
#include <utility>

namespace rmqtt::bench {

namespace {
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
}

// ---- event
// ---------------------------------------------------------------------------------------

asio::awaitable<void> event::wait_until(steady_clock::time_point deadline) {
    asio::steady_timer t(co_await asio::this_coro::executor, deadline);
    waiters_.push_back(&t);
    co_await t.async_wait(use_tuple);
    std::erase(waiters_, &t);
}

void event::notify() {
    for (auto* t : waiters_)
        t->cancel();
}

// ---- client
// --------------------------------------------------------------------------------------

client::client(asio::any_io_executor ex, client_options o) : opts_(std::move(o)), sock_(ex) {
    out_.reserve(64 * 1024);
    writing_.reserve(64 * 1024);
}

asio::awaitable<bool> client::connect(steady_clock::time_point deadline) {
    auto self = shared_from_this();
    asio::error_code ec;
    const auto addr = asio::ip::make_address(opts_.host, ec);
    if (ec) {
        fail("bad host address " + opts_.host);
        co_return false;
    }
    // The socket is closed at the deadline, which ends a pending connect.
    asio::steady_timer guard(sock_.get_executor(), deadline);
    guard.async_wait([self](std::error_code e) {
        if (!e && !self->connacked_) self->fail("timeout before CONNACK");
    });
    auto [cec] = co_await sock_.async_connect(asio::ip::tcp::endpoint(addr, opts_.port), use_tuple);
    if (cec) {
        guard.cancel();
        fail("connect: " + cec.message());
        co_return false;
    }
    tcp_at_ = std::chrono::system_clock::now();
    sock_.set_option(asio::ip::tcp::no_delay(true), ec);

    proto::connect c;
    c.protocol_version = opts_.version;
    c.clean_start = opts_.clean_start;
    c.keep_alive = opts_.keep_alive;
    c.client_id = opts_.client_id;
    if (opts_.version == proto::version::v5 && opts_.session_expiry > 0)
        c.props.session_expiry_interval = opts_.session_expiry;
    send(proto::packet{std::move(c)});

    asio::co_spawn(sock_.get_executor(), reader(), asio::detached);
    asio::co_spawn(sock_.get_executor(), writer(), asio::detached);
    while (!connacked_ && !closed_ && steady_clock::now() < deadline)
        co_await state_event_.wait_until(deadline);
    guard.cancel();
    if (!connacked_) {
        fail("no CONNACK");
        co_return false;
    }
    co_return connack_code_ == 0;
}

asio::awaitable<bool> client::subscribe(const std::vector<std::string>& filters, proto::qos q,
                                        steady_clock::time_point deadline) {
    auto self = shared_from_this();
    proto::subscribe s;
    s.packet_id = take_packet_id();
    ids_[s.packet_id] = out_state::wait_suback;
    --inflight_;  // a SUBSCRIBE is not a publish in flight
    for (const auto& f : filters) {
        proto::topic_subscription ts;
        ts.filter = f;
        ts.options.max_qos = q;
        s.topics.push_back(std::move(ts));
    }
    const auto id = s.packet_id;
    send(proto::packet{std::move(s)});
    while (!closed_ && !subacks_.contains(id) && steady_clock::now() < deadline)
        co_await state_event_.wait_until(deadline);
    auto it = subacks_.find(id);
    if (it == subacks_.end()) co_return false;
    const auto codes = std::move(it->second);
    subacks_.erase(it);
    ids_[id] = out_state::free;
    co_return codes.size() == filters.size() &&
        std::all_of(codes.begin(), codes.end(), [](std::uint8_t c) { return c < 0x80; });
}

std::uint16_t client::take_packet_id() {
    // The window is far below 65535, so a free identifier is always near.
    do {
        next_id_ = static_cast<std::uint16_t>(next_id_ == 65535 ? 1 : next_id_ + 1);
    } while (ids_[next_id_] != out_state::free);
    ++inflight_;
    return next_id_;
}

bool client::publish(std::string_view topic, std::string_view payload, proto::qos q) {
    if (closed_) return false;
    proto::publish_view v;
    v.qos_level = q;
    v.topic = topic;
    v.payload = payload;
    if (q != proto::qos::at_most_once) {
        v.packet_id = take_packet_id();
        ids_[v.packet_id] =
            q == proto::qos::at_least_once ? out_state::wait_puback : out_state::wait_pubrec;
    }
    proto::encode(opts_.version, v, out_);
    write_event_.notify();
    return true;
}

asio::awaitable<bool> client::wait_ready(std::size_t window, steady_clock::time_point deadline) {
    auto self = shared_from_this();
    while (!closed_ && (inflight_ >= window || out_.size() >= output_limit)) {
        if (steady_clock::now() >= deadline) co_return false;
        co_await state_event_.wait_until(deadline);
    }
    co_return !closed_;
}

asio::awaitable<bool> client::wait_flushed(steady_clock::time_point deadline) {
    auto self = shared_from_this();
    while (!closed_ && (inflight_ > 0 || !out_.empty() || writing_active_)) {
        if (steady_clock::now() >= deadline) co_return false;
        co_await state_event_.wait_until(deadline);
    }
    co_return !closed_;
}

asio::awaitable<void> client::disconnect(steady_clock::time_point deadline) {
    auto self = shared_from_this();
    if (closed_) co_return;
    send(proto::packet{proto::disconnect{}});
    // The broker closes the network connection after DISCONNECT [MQTT-3.14.4-1]; the reader sees
    // the end of stream and closes our side.
    while (!closed_ && steady_clock::now() < deadline)
        co_await state_event_.wait_until(deadline);
    close();
}

void client::close() {
    if (closed_) return;
    closed_ = true;
    asio::error_code ec;
    sock_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
    sock_.close(ec);
    write_event_.notify();
    state_event_.notify();
}

void client::fail(std::string why) {
    if (closed_) return;
    if (close_reason_.empty()) close_reason_ = std::move(why);
    close();
}

void client::send(const proto::packet& p) {
    if (closed_) return;
    proto::encode(opts_.version, p, out_);
    write_event_.notify();
}

void client::send_ack(proto::packet& slot, std::uint16_t id) {
    std::visit(
        [id](auto& a) {
            if constexpr (requires { a.packet_id; }) a.packet_id = id;
        },
        slot);
    send(slot);
}

asio::awaitable<void> client::writer() {
    auto self = shared_from_this();
    while (!closed_) {
        if (out_.empty()) {
            co_await write_event_.wait_until(steady_clock::time_point::max());
            continue;
        }
        writing_.swap(out_);
        writing_active_ = true;
        auto [ec, n] = co_await asio::async_write(sock_, asio::buffer(writing_), use_tuple);
        writing_.clear();
        writing_active_ = false;
        if (ec) {
            fail("write: " + ec.message());
            break;
        }
        state_event_.notify();  // output room for a publisher waiting in wait_ready()
    }
}

asio::awaitable<void> client::reader() {
    auto self = shared_from_this();
    std::vector<std::uint8_t> buf(64 * 1024);
    std::size_t len = 0;
    proto::packet pkt;
    while (!closed_) {
        if (len == buf.size()) buf.resize(buf.size() * 2);
        auto [ec, n] = co_await sock_.async_read_some(
            asio::buffer(buf.data() + len, buf.size() - len), use_tuple);
        if (ec) {
            fail(ec == asio::error::eof ? "closed by broker" : "read: " + ec.message());
            break;
        }
        len += n;
        std::size_t pos = 0;
        while (!closed_) {
            proto::frame f;
            const auto r = proto::parse_frame({buf.data() + pos, len - pos}, 0, f);
            if (r.status == proto::frame_status::need_more) {
                if (r.needed > buf.size()) {
                    std::memmove(buf.data(), buf.data() + pos, len - pos);
                    len -= pos;
                    pos = 0;
                    buf.resize(r.needed);
                }
                break;
            }
            if (r.status != proto::frame_status::complete) {
                fail("malformed frame from broker");
                co_return;
            }
            const auto d = proto::decode(opts_.version, f, pkt);
            pos += r.consumed;
            if (!d) {
                fail(std::string("undecodable packet from broker: ") + d.detail);
                co_return;
            }
            handle(pkt);
        }
        if (pos > 0) {
            std::memmove(buf.data(), buf.data() + pos, len - pos);
            len -= pos;
        }
    }
}

void client::release(std::uint16_t id) {
    if (ids_[id] == out_state::free) return;
    ids_[id] = out_state::free;
    --inflight_;
    if (on_acked_) on_acked_();
    state_event_.notify();
}

void client::handle_publish(const proto::publish& p) {
    if (opts_.auto_ack && p.qos_level == proto::qos::at_least_once) send_ack(puback_, p.packet_id);
    if (opts_.auto_ack && p.qos_level == proto::qos::exactly_once) send_ack(pubrec_, p.packet_id);
    if (on_publish_) on_publish_(p);
}

void client::handle(const proto::packet& p) {
    switch (type_of(p)) {
        case proto::packet_type::connack: {
            const auto& a = std::get<proto::connack>(p);
            connacked_ = true;
            connack_at_ = std::chrono::system_clock::now();
            connack_code_ = a.code;
            session_present_ = a.session_present;
            if (a.props.receive_maximum) server_receive_maximum_ = *a.props.receive_maximum;
            if (a.code != 0) fail("CONNACK refused, code " + std::to_string(a.code));
            state_event_.notify();
            break;
        }
        case proto::packet_type::publish:
            handle_publish(std::get<proto::publish>(p));
            break;
        case proto::packet_type::puback: {
            const auto& a = std::get<proto::puback>(p);
            if (ids_[a.packet_id] != out_state::wait_puback) break;
            if (proto::is_error(a.code)) ++rejected_;
            release(a.packet_id);
            break;
        }
        case proto::packet_type::pubrec: {
            const auto& a = std::get<proto::pubrec>(p);
            if (ids_[a.packet_id] != out_state::wait_pubrec) break;
            if (proto::is_error(a.code)) {
                ++rejected_;
                release(a.packet_id);  // 5.0: the flow ends at an error PUBREC
            } else {
                ids_[a.packet_id] = out_state::wait_pubcomp;
                send_ack(pubrel_, a.packet_id);
            }
            break;
        }
        case proto::packet_type::pubcomp: {
            const auto id = std::get<proto::pubcomp>(p).packet_id;
            if (ids_[id] == out_state::wait_pubcomp) release(id);
            break;
        }
        case proto::packet_type::pubrel:
            send_ack(pubcomp_, std::get<proto::pubrel>(p).packet_id);
            break;
        case proto::packet_type::suback: {
            const auto& a = std::get<proto::suback>(p);
            subacks_[a.packet_id] = a.codes;
            state_event_.notify();
            break;
        }
        case proto::packet_type::disconnect:
            fail("DISCONNECT from broker, reason " +
                 std::to_string(static_cast<int>(std::get<proto::disconnect>(p).code)));
            break;
        default:
            break;  // UNSUBACK, PINGRESP, AUTH: not used by the benchmark
    }
}

}  // namespace rmqtt::bench
