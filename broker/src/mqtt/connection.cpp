#include "mqtt/connection.hpp"

#include <spdlog/spdlog.h>
#include <asio/co_spawn.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <cstring>
#include <new>

#include "session/core_context.hpp"

namespace rmqtt::broker {

using protocol::packet_type;
using protocol::reason_code;

namespace {
constexpr std::size_t initial_read_buffer = 4096;
constexpr std::size_t max_idle_buffer = 64 * 1024;  // shrink buffers above this when idle
constexpr std::size_t max_pending_acks = 4096;      // stop reading while this many acks wait
constexpr auto close_flush_timeout = std::chrono::seconds(5);
constexpr auto backpressure_poll = std::chrono::milliseconds(2);

void log_exception(const char* what, const log_fields& fields, std::exception_ptr e) {
    if (!e) return;
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& ex) {
        log_with(fields, spdlog::level::err, "{}: {}", what, ex.what());
    }
}
}  // namespace

// A read buffer: this header, then `capacity` bytes, in one allocation (as a vector's bytes
// alone were: the reader allocates one each time it starts after a pause).
class connection::read_buffer {
  public:
    static std::unique_ptr<read_buffer, read_buffer_free> make(std::size_t capacity) {
        void* p = ::operator new(sizeof(read_buffer) + capacity);
        return std::unique_ptr<read_buffer, read_buffer_free>(new (p) read_buffer(capacity));
    }
    std::uint8_t* data() noexcept { return reinterpret_cast<std::uint8_t*>(this + 1); }
    std::size_t capacity() const noexcept { return capacity_; }
    std::size_t begin = 0;  // undecoded bytes are [begin, end)
    std::size_t end = 0;

  private:
    explicit read_buffer(std::size_t capacity) : capacity_(capacity) {}
    std::size_t capacity_;
};

// Every idle connection holds one (with make_shared's control block: a 288-byte block from
// malloc); a field more crosses into the next 16-byte size class.
static_assert(sizeof(connection) <= 264);

void connection::read_buffer_free::operator()(read_buffer* b) const noexcept {
    ::operator delete(b);
}

connection::connection(core_context& core, std::shared_ptr<listener_counters> counters,
                       std::unique_ptr<transport> t, asio::any_io_executor ex)
    : core_(core),
      counters_(std::move(counters)),
      transport_(std::move(t)),
      executor_(to_io_executor(ex)) {
    watchdog_entry_.fire = [](void* self) {
        auto* c = static_cast<connection*>(self);
        // Housekeeping at the pace of the keep alive, not at every wake-up of the reader (that
        // cost the qos1 row's rate): an empty acknowledgement queue (a SUBACK's) goes.
        if (c->acks_ && c->acks_->empty()) c->acks_.reset();
        c->watchdog();
    };
    counters_->connections.fetch_add(1, std::memory_order_relaxed);
    counters_->handshaking.fetch_add(1, std::memory_order_relaxed);
    core_.stats.handshaking.fetch_add(1, std::memory_order_relaxed);
}

connection::~connection() {
    end_handshake();
    counters_->connections.fetch_sub(1, std::memory_order_relaxed);
}

void connection::end_handshake() {
    if (!handshake_counted_) return;
    handshake_counted_ = false;
    counters_->handshaking.fetch_sub(1, std::memory_order_relaxed);
}

void connection::start() {
    last_read_ = steady_clock::now();
    next_retry_ = last_read_;  // the accept time, until CONNACK (see connection.hpp)
    spawn_reader(true);
    watchdog();
}

void connection::spawn_reader(bool first) {
    auto self = shared_from_this();
    // What follows the reader runs in the same handler as its last step, not in co_spawn's
    // completion (which may be posted): the readiness wait must start right after the read that
    // saw would_block, and the session must be released before the writer closes the stream
    // (a client that saw the close may act on the session being gone).
    asio::co_spawn(
        executor_,
        [self, first]() -> asio::awaitable<void> {
            if (co_await self->reader(first))
                self->park_reader();
            else
                self->on_reader_done();
        },
        [self](std::exception_ptr e) {
            log_exception("connection reader", self->fields(), e);
            if (e) self->on_reader_done();
        });
}

void connection::park_reader() {
    transport_->on_readable(
        [](void* owner, std::error_code ec) {
            auto* self = static_cast<connection*>(owner);
            if (!ec && self->state_ != state::closing && self->state_ != state::closed) {
                self->spawn_reader(false);
                return;
            }
            if (ec) self->log_read_error(ec);
            self->on_reader_done();
        },
        shared_from_this());
}

asio::steady_timer& connection::lazy_timer(rare_timer t) {
    auto& p = rare().*t;
    if (!p) p = std::make_unique<asio::steady_timer>(executor_);
    return *p;
}

void connection::cancel_timer(rare_timer t) {
    if (rare_ && (*rare_).*t) ((*rare_).*t)->cancel();
}

void connection::set_end_reason(events::disconnect_reason r,
                                std::optional<protocol::reason_code> code) {
    if (has_end_reason_) return;
    has_end_reason_ = true;
    end_reason_ = static_cast<std::uint8_t>(r);
    has_end_code_ = code.has_value();
    if (code) end_code_ = *code;
}

// ---- reading
// -------------------------------------------------------------------------------------

asio::awaitable<bool> connection::reader(bool first) {
    std::error_code ec;
    if (first) {
        if (transport_->has_handshake()) co_await transport_->handshake(ec);
        peer_ = transport_->remote_address();  // known after the handshake (PROXY protocol, TLS)
        if (ec) {
            // A client that went away before the handshake is not an error worth a line.
            const bool gone = ec == asio::error::eof || ec == asio::error::connection_reset ||
                              ec == asio::error::operation_aborted;
            log_with(fields(), gone ? spdlog::level::debug : spdlog::level::info,
                     "{} handshake failed: {}; closing", transport_->kind(), ec.message());
            co_return false;
        }
    }
    const bool by_readiness = transport_->reads_by_readiness();
    bool yield = false;  // handled data: let others run before handling more
    while (state_ != state::closing && state_ != state::closed) {
        if (!in_) in_ = read_buffer::make(initial_read_buffer);
        if (in_->end == in_->capacity()) {
            if (in_->begin > 0)
                compact_read_buffer();
            else
                grow_read_buffer(in_->capacity() * 2);
        }
        const auto room = asio::buffer(in_->data() + in_->end, in_->capacity() - in_->end);
        std::size_t n = 0;
        if (by_readiness) {
            n = transport_->read_available(room, ec);
            if (ec == asio::error::would_block) {
                // Nothing to read: pause. Without a partial packet the buffer goes too, so an
                // idle connection holds neither a buffer nor a coroutine.
                if (in_->begin == in_->end) in_.reset();
                co_return true;
            }
        } else {
            n = co_await transport_->read_some(room, ec);
        }
        if (ec) {
            log_read_error(ec);
            break;
        }
        in_->end += n;
        last_read_ = steady_clock::now();
        metrics::add(core_.stats.bytes_received, n);
        // A non-blocking read that finds data completes at once: let the worker's other
        // handlers (subscribers' writers above all) run before more data is handled, as an
        // asynchronous read's completion would, or a flooding client would starve them. Not
        // before a read that finds nothing: the reader of a client that went quiet (a CONNECT
        // handled, a PINGREQ answered) ends at once, and its coroutine frames and read buffer
        // are not held while other connections allocate their long-lived state (holes in the
        // worker's heap), nor is the pause a round through the scheduler.
        if (yield) {
            yield = false;
            co_await asio::post(executor_, asio::use_awaitable);
            if (state_ == state::closing || state_ == state::closed) break;
        }

        while (state_ != state::closing && state_ != state::closed && in_->begin < in_->end) {
            protocol::frame f;
            auto r = protocol::parse_frame(
                std::span<const std::uint8_t>(in_->data() + in_->begin, in_->end - in_->begin),
                listener_cfg().max_packet_size, f);
            if (r.status == protocol::frame_status::need_more) {
                // Make room for the whole packet; its size was checked against the maximum.
                if (r.needed > in_->capacity() - in_->begin) {
                    compact_read_buffer();
                    if (r.needed > in_->capacity()) grow_read_buffer(r.needed);
                }
                break;
            }
            if (r.status == protocol::frame_status::malformed) {
                protocol_violation(reason_code::malformed_packet, "invalid Remaining Length");
                break;
            }
            if (r.status == protocol::frame_status::too_large) {
                protocol_violation(reason_code::packet_too_large,
                                   "packet larger than max_packet_size");
                break;
            }
            co_await dispatch(f);
            in_->begin += r.consumed;
            // Back-pressure: acknowledgements waiting for the store hold the reader.
            if (pending_acks() >= max_pending_acks && state_ == state::connected) {
                pause_keepalive();
                auto& signal = lazy_timer(&rare_state::ack_signal);
                while (pending_acks() >= max_pending_acks && state_ == state::connected) {
                    signal.expires_after(std::chrono::milliseconds(100));
                    co_await signal.async_wait(asio::redirect_error(asio::use_awaitable, ec));
                }
                resume_keepalive();
            }
            // Subscribers' inboxes past their high-water mark hold their publishers.
            if (rare_ && !rare_->backlogged.empty()) co_await wait_for_targets();
        }
        if (in_->begin == in_->end) {
            in_->begin = in_->end = 0;
            if (in_->capacity() > max_idle_buffer) in_ = read_buffer::make(initial_read_buffer);
        }
        yield = by_readiness;
    }
    co_return false;
}

void connection::compact_read_buffer() {
    auto& in = *in_;
    std::memmove(in.data(), in.data() + in.begin, in.end - in.begin);
    in.end -= in.begin;
    in.begin = 0;
}

void connection::grow_read_buffer(std::size_t capacity) {
    auto bigger = read_buffer::make(capacity);
    std::memcpy(bigger->data(), in_->data() + in_->begin, in_->end - in_->begin);
    bigger->end = in_->end - in_->begin;
    in_ = std::move(bigger);
}

asio::awaitable<void> connection::dispatch(const protocol::frame& f) {
    protocol::packet p;
    auto r = protocol::decode(version_, f, p);
    if (state_ == state::handshaking) {
        if (f.type() != packet_type::connect) {
            // [MQTT-3.1.0-1]: the first packet must be CONNECT; close without CONNACK.
            log_with(fields(), spdlog::level::info, "first packet is {}, not CONNECT; closing",
                     protocol::to_string(f.type()));
            close();
            co_return;
        }
        if (!r) {
            // The decoder always reports the version to answer in, even for a refused CONNECT,
            // and the client id when it got that far (for the log lines).
            version_ = std::get<protocol::connect>(p).protocol_version;
            rare().client_id = std::get<protocol::connect>(p).client_id;
            if (r.code == reason_code::unsupported_protocol_version) {
                // [MQTT-3.1.2-2]: CONNACK 0x01 (3.x) / 0x84 (5.0), then close.
                refuse_connect(reason_code::unsupported_protocol_version,
                               protocol::connect_return_code::unacceptable_protocol_version,
                               r.detail);
            } else if (r.code == reason_code::client_identifier_not_valid) {
                // [MQTT-3.1.3-8] (and 3.1's 1..23 characters): CONNACK 0x02 / 0x85, then close.
                refuse_connect(reason_code::client_identifier_not_valid,
                               protocol::connect_return_code::identifier_rejected, r.detail);
            } else if (is_v5()) {
                // 5.0 lets the server answer a bad CONNECT with CONNACK and a reason code
                // [MQTT-4.13.1-1]; 3.x closes without one.
                metrics::add(core_.stats.protocol_errors);
                refuse_connect(r.code, protocol::connect_return_code::not_authorized, r.detail);
            } else {
                metrics::add(core_.stats.protocol_errors);
                log_with(fields(), spdlog::level::info, "malformed CONNECT ({}); closing",
                         r.detail);
                if (core_.hooks.wants<events::connect_refused>())
                    core_.hooks.emit(events::connect_refused{who(), r.code, r.detail});
                close();
            }
            co_return;
        }
        co_await handle_connect(std::get<protocol::connect>(p));
        co_return;
    }
    if (state_ == state::authenticating) {
        if (!r || f.type() != packet_type::auth) {
            // Only AUTH may continue an authentication exchange before CONNACK.
            refuse_connect(r ? reason_code::protocol_error : r.code,
                           protocol::connect_return_code::not_authorized,
                           r ? "packet other than AUTH during authentication" : r.detail);
            co_return;
        }
        co_await handle_auth_exchange(std::get<protocol::auth>(p));
        co_return;
    }
    if (state_ != state::connected) co_return;
    if (!r) {
        protocol_violation(r.code, r.detail);
        co_return;
    }
    switch (f.type()) {
        case packet_type::publish:
            co_await handle_publish(std::get<protocol::publish>(p));
            break;
        case packet_type::puback:
            handle_puback(std::get<protocol::puback>(p));
            break;
        case packet_type::pubrec:
            handle_pubrec(std::get<protocol::pubrec>(p));
            break;
        case packet_type::pubrel:
            handle_pubrel(std::get<protocol::pubrel>(p));
            break;
        case packet_type::pubcomp:
            handle_pubcomp(std::get<protocol::pubcomp>(p));
            break;
        case packet_type::subscribe:
            co_await handle_subscribe(std::get<protocol::subscribe>(p));
            break;
        case packet_type::unsubscribe:
            co_await handle_unsubscribe(std::get<protocol::unsubscribe>(p));
            break;
        case packet_type::pingreq:
            handle_pingreq();
            break;
        case packet_type::disconnect:
            handle_disconnect(std::get<protocol::disconnect>(p));
            break;
        case packet_type::auth:
            co_await handle_reauth(std::get<protocol::auth>(p));
            break;
        case packet_type::connect:
            protocol_violation(reason_code::protocol_error, "second CONNECT [MQTT-3.1.0-2]");
            break;
        default:
            // CONNACK, SUBACK, UNSUBACK, PINGRESP are server-to-client only.
            protocol_violation(reason_code::protocol_error, "server-only packet type from client");
    }
}

void connection::log_read_error(std::error_code ec) const {
    if (ec == asio::error::operation_aborted) return;  // the broker closed it: logged there
    // A client that went away (end of stream, reset) is routine; anything else (a TLS alert, a
    // WebSocket protocol error) is worth an info line.
    const bool gone = ec == asio::error::eof || ec == asio::error::connection_reset;
    log_with(fields(), gone ? spdlog::level::debug : spdlog::level::info, "read error: {}; closing",
             ec.message());
}

void connection::log_write_error(std::error_code ec) const {
    if (ec == asio::error::operation_aborted) return;
    const bool gone = ec == asio::error::broken_pipe || ec == asio::error::connection_reset ||
                      ec == asio::error::eof;
    log_with(fields(), gone ? spdlog::level::debug : spdlog::level::info,
             "write error: {}; closing", ec.message());
}

void connection::protocol_violation(reason_code rc, const char* detail) {
    metrics::add(core_.stats.protocol_errors);
    log_with(fields(), spdlog::level::info, "{}: {}; closing", protocol::to_string(rc), detail);
    set_end_reason(events::disconnect_reason::protocol_error, rc);
    close(rc, detail);
}

// ---- hook decisions
// ------------------------------------------------------------------------------

asio::awaitable<hook_result> connection::decided(hook_result r, pending<hook_result>& wait) {
    if (r != hook_result::pending) co_return r;
    // A plugin deferred: wait here (the reader is suspended, so the client's later packets wait
    // too and keep their order) until the decision comes back, from any thread.
    pause_keepalive();
    auto answer = co_await asio::async_initiate<decltype(asio::use_awaitable), void(hook_result)>(
        [&](auto handler) {
            auto h = std::make_shared<decltype(handler)>(std::move(handler));
            wait.then([h, ex = executor_](hook_result v) {
                asio::post(ex, [h, v]() mutable { (*h)(v); });
            });
        },
        asio::use_awaitable);
    resume_keepalive();
    co_return answer;
}

asio::awaitable<hook_result> connection::check_acl(acl_action a, std::string_view topic) {
    if (!core_.hooks.has_acl()) co_return hook_result::next;
    if (superuser()) co_return hook_result::allow;  // RMQTT: superusers skip the ACL
    pending<hook_result> wait;
    const auto r = core_.hooks.check_acl(info(), a, topic, &wait);
    co_return co_await decided(r, wait);
}

// ---- writing
// -------------------------------------------------------------------------------------

void connection::wake_writer() {
    if (writes_held_ || writer_running_ || writer_done_) return;
    writer_running_ = true;
    auto self = shared_from_this();
    asio::co_spawn(
        executor_, [self]() { return self->writer(); },
        [self](std::exception_ptr e) {
            log_exception("connection writer", self->fields(), e);
            if (e) self->writer_running_ = false;
        });
}

void connection::flush_held_writes() {
    writes_held_ = false;
    if (state_ == state::connected && !writer_running_ && !writer_done_ && out_) {
        std::error_code ec;  // a failure is the writer's to report: it meets it again
        const std::size_t n = transport_->write_available(asio::buffer(*out_), ec);
        metrics::add(core_.stats.bytes_sent, n);
        if (n == out_->size()) {
            out_.reset();
            return;
        }
        out_->erase(out_->begin(), out_->begin() + static_cast<std::ptrdiff_t>(n));
    }
    wake_writer();
}

asio::awaitable<void> connection::writer() {
    // co_spawn runs a coroutine inline up to its first suspension when called on its executor:
    // start through the executor instead, so that the caller finishes first (a close() completes
    // its reader's cleanup before the stream ends) and what it queues meanwhile goes out in the
    // first write.
    co_await asio::post(executor_, asio::use_awaitable);
    std::error_code write_ec;  // the socket
    // The buffer being written is the writer's own: an idle connection holds none.
    std::vector<std::uint8_t> writing;
    for (;;) {
        if (!out_ || out_->empty()) {
            out_.reset();
            if (state_ == state::closing || state_ == state::closed) break;
            // Idle: end (the buffers go with the coroutine); the next send() starts a writer.
            writer_running_ = false;
            co_return;
        }
        // Everything queued since the last write goes out in one write.
        writing.swap(*out_);
        writing_ = writing.size();
        co_await transport_->write_all(asio::buffer(writing), write_ec);
        metrics::add(core_.stats.bytes_sent, writing.size());
        writing_ = 0;
        writing.clear();
        if (writing.capacity() > max_idle_buffer) writing.shrink_to_fit();
        if (write_ec) {
            log_write_error(write_ec);
            out_.reset();
            break;
        }
    }
    writer_done_ = true;
    writer_running_ = false;
    cancel_timer(&rare_state::close_timer);
    // The reader may have finished first (state closed) after a close we asked for; only a peer
    // that went away by itself (the reader aborted the transport) gets no orderly end.
    if (!write_ec && (close_requested_ || state_ != state::closed)) {
        // Everything is written: end the stream in order (TLS close_notify, WebSocket close),
        // bounded by the close timer.
        auto& t = lazy_timer(&rare_state::close_timer);
        t.expires_after(close_flush_timeout);
        t.async_wait([self = shared_from_this()](std::error_code e) {
            if (!e) self->transport_->abort();
        });
        co_await transport_->close(write_ec);
        t.cancel();
    }
    transport_->abort();
}

void connection::send(const protocol::packet& p) {
    if (state_ == state::closed) return;
    if (is_v5() && client_max_packet_size_ != 0 &&
        protocol::encoded_size(version_, p) > client_max_packet_size_) {
        // [MQTT-3.1.2-25]: drop the Reason String and User Properties rather than exceed the
        // client's Maximum Packet Size; what still does not fit is not sent.
        protocol::packet trimmed = p;
        std::visit(
            [](auto& x) {
                if constexpr (requires { x.props; }) {
                    x.props.reason_string.reset();
                    x.props.user_properties.clear();
                }
            },
            trimmed);
        if (protocol::encoded_size(version_, trimmed) > client_max_packet_size_) return;
        protocol::encode(version_, trimmed, out());
    } else {
        protocol::encode(version_, p, out());
    }
    wake_writer();
}

bool connection::send_publish(const message& m, protocol::qos q, bool retain, bool dup,
                              std::uint16_t packet_id,
                              const std::vector<std::uint32_t>& subscription_ids) {
    if (state_ != state::connected) return true;  // resent on reconnect
    protocol::publish_view v;
    v.dup = dup && q != protocol::qos::at_most_once;
    v.qos_level = q;
    v.retain = retain;
    v.topic = m.topic;
    v.packet_id = q == protocol::qos::at_most_once ? 0 : packet_id;
    v.payload = m.payload;
    protocol::properties local;
    if (is_v5()) {
        const bool needs_copy = !subscription_ids.empty() || m.expiry_at_ms != 0;
        if (needs_copy) {
            if (m.props) local = *m.props;
            local.subscription_identifiers = subscription_ids;
            if (m.expiry_at_ms != 0 && local.message_expiry_interval) {
                // Forward the remaining lifetime [MQTT-3.3.2-6].
                auto left_ms = std::max<std::int64_t>(m.expiry_at_ms - wall_now_ms(), 0);
                local.message_expiry_interval = static_cast<std::uint32_t>((left_ms + 999) / 1000);
            }
            v.props = &local;
        } else {
            v.props = m.props.get();
        }
        bool new_alias = false;
        if (client_topic_alias_maximum_ != 0) {
            // Topic aliases towards the client: the first PUBLISH on a topic carries topic and
            // alias, later ones only the alias [MQTT-3.3.2-12].
            auto& aliases_out = rare().topic_aliases_out;
            if (!aliases_out)
                aliases_out = std::make_unique<std::unordered_map<std::string, std::uint16_t>>();
            auto& aliases = *aliases_out;
            auto it = aliases.find(m.topic);
            if (it != aliases.end()) {
                if (v.props != &local) {
                    if (v.props) local = *v.props;
                    v.props = &local;
                }
                local.topic_alias = it->second;
                v.topic = {};
            } else if (aliases.size() < client_topic_alias_maximum_) {
                const auto alias = static_cast<std::uint16_t>(aliases.size() + 1);
                aliases.emplace(m.topic, alias);
                new_alias = true;
                if (v.props != &local) {
                    if (v.props) local = *v.props;
                    v.props = &local;
                }
                local.topic_alias = alias;
            }
        }
        // [MQTT-3.1.2-24]: never send a packet larger than the client's Maximum Packet Size.
        if (client_max_packet_size_ != 0 &&
            protocol::encoded_size(version_, v) > client_max_packet_size_) {
            if (new_alias) rare_->topic_aliases_out->erase(m.topic);  // the client never saw it
            return false;
        }
    }
    protocol::encode(version_, v, out());
    metrics::add(core_.stats.publishes_sent);
    wake_writer();
    return true;
}

void connection::send_pubrel(std::uint16_t packet_id, reason_code code) {
    send(protocol::pubrel{packet_id, code, {}});
}

// ---- closing
// -------------------------------------------------------------------------------------

void connection::close(std::optional<reason_code> reason, const char* why) {
    if (state_ == state::closing || state_ == state::closed) return;
    if (reason && is_v5() && state_ == state::connected) {
        // [MQTT-4.13.2-1] DISCONNECT with a reason code, then close.
        protocol::disconnect d;
        d.code = *reason;
        if (why) reason_string(d.props, why);
        send(d);
    }
    state_ = state::closing;
    close_requested_ = true;
    wake_writer();
    wheel().disarm(watchdog_entry_);
    cancel_timer(&rare_state::wait_timer);
    cancel_timer(&rare_state::ack_signal);
    cancel_timer(&rare_state::room_timer);
    // A peer that does not read must not hold the connection open.
    auto& t = lazy_timer(&rare_state::close_timer);
    t.expires_after(close_flush_timeout);
    t.async_wait([self = shared_from_this()](std::error_code ec) {
        if (!ec) self->transport_->abort();
    });
}

void connection::taken_over() {
    set_end_reason(events::disconnect_reason::taken_over, reason_code::session_taken_over);
    if (session_) rare().client_id = session_->client_id();  // for the lines logged after this
    session_.reset();  // the session now belongs to the new connection
    log_with(fields(), spdlog::level::info, "session taken over by a new connection; closing");
    close(reason_code::session_taken_over, "session taken over");  // [MQTT-3.1.4-3]
}

void connection::shutdown() {
    server_shutdown_ = true;
    set_end_reason(events::disconnect_reason::server_shutdown, reason_code::server_shutting_down);
    close(reason_code::server_shutting_down, "server shutting down");
}

void connection::kick() {
    set_end_reason(events::disconnect_reason::kicked, reason_code::administrative_action);
    log_with(fields(), spdlog::level::info, "disconnected by an administrator; closing");
    close(reason_code::administrative_action, "disconnected by an administrator");
}

void connection::on_reader_done() {
    if (reader_done_) return;
    reader_done_ = true;
    if (!close_requested_) {
        // The peer went away (or the socket failed): nothing more can be written.
        state_ = state::closed;
        transport_->abort();
    } else {
        state_ = state::closed;
    }
    wake_writer();
    wheel().disarm(watchdog_entry_);
    cancel_timer(&rare_state::wait_timer);
    cancel_timer(&rare_state::ack_signal);
    cancel_timer(&rare_state::room_timer);
    end_handshake();
    if (counted_as_connected_ && core_.hooks.wants<events::client_disconnected>()) {
        core_.hooks.emit(events::client_disconnected{
            who(),
            has_end_reason_ ? static_cast<events::disconnect_reason>(end_reason_)
                            : events::disconnect_reason::connection_lost,
            has_end_code_ ? std::optional(end_code_) : std::nullopt});
    }
    release_session();
    // Counted last: a graceful stop waits for this count to reach zero before it flushes the
    // store, so the session's final record must already be submitted.
    if (counted_as_connected_)
        core_.stats.connections.fetch_sub(1, std::memory_order_relaxed);
    else
        core_.stats.handshaking.fetch_sub(1, std::memory_order_relaxed);
}

const std::string& connection::client_id() const noexcept {
    static const std::string none;
    if (session_) return session_->client_id();
    if (pending_connect_) return pending_connect_->client_id;
    return rare_ ? rare_->client_id : none;
}

void connection::release_session() {
    if (!session_) return;
    rare().client_id = session_->client_id();  // for the lines logged after this
    auto s = std::move(session_);
    session_.reset();
    metrics::add(core_.stats.disconnects);
    s->detach();
    if (server_shutdown_) {
        // Graceful stop: the client will come back; its will is not published and is dropped.
        s->will().reset();
        s->persist_record();
        return;
    }
    const bool normal = disconnect_received_ && !publish_will_on_disconnect_;
    s->config().clean_disconnect = disconnect_received_;
    if (normal) s->will().reset();  // [MQTT-3.1.2-10] / [MQTT-3.14.4-3]
    if (!s->persistent()) {
        if (s->will()) s->publish_will_now();
        s->end(events::session_end_reason::connection_closed);
        return;
    }
    if (auto& w = s->will()) {
        if (w->delay_interval_s == 0)
            s->publish_will_now();
        else
            s->schedule_will(std::chrono::seconds(w->delay_interval_s));
    }
    // Queued messages of shared subscriptions go to members that are still connected.
    s->hand_over_shared({}, /*online_only*/ true);
    s->persist_record();
    const auto expiry = s->config().expiry_interval_s;
    if (expiry != storage::never_expires)
        s->schedule_expiry(std::chrono::milliseconds(std::uint64_t{expiry} * 1000));
}

// ---- keep alive
// ----------------------------------------------------------------------------------

steady_clock::duration connection::keepalive_timeout() const {
    if (keep_alive_ == 0) return steady_clock::duration::max();
    // keep alive x backoff x 2: the default backoff 0.75 gives the 1.5x of [MQTT-3.1.2-24]
    // (RMQTT's extra "+3 s below 6 s" would wait longer than the specification allows).
    return std::chrono::milliseconds(
        static_cast<std::int64_t>(keep_alive_ * 1000.0 * listener_cfg().keepalive_backoff * 2.0));
}

void connection::pause_keepalive() {
    ++keepalive_paused_;
}

void connection::resume_keepalive() {
    if (keepalive_paused_ > 0 && --keepalive_paused_ == 0) {
        // The client's silence is measured again from now: what it sent meanwhile is unread.
        last_read_ = steady_clock::now();
        recheck_watchdog();
    }
}

void connection::recheck_watchdog() {
    asio::post(executor_, [self = shared_from_this()] { self->watchdog(); });
}

void connection::watchdog() {
    if (state_ == state::closing || state_ == state::closed) {
        wheel().disarm(watchdog_entry_);
        return;
    }
    const bool handshake = state_ == state::handshaking || state_ == state::connecting ||
                           state_ == state::authenticating;
    const auto base = handshake ? next_retry_ : last_read_;  // the accept time while handshaking
    const auto timeout =
        handshake
            ? std::chrono::duration_cast<steady_clock::duration>(listener_cfg().handshake_timeout)
            : keepalive_timeout();
    const auto now = steady_clock::now();
    // Only the client's own silence counts: not while the reader waits for the broker (the
    // store, the ack backlog, a plugin's decision) [MQTT-3.1.2-24].
    const bool paused = !handshake && keepalive_paused_ > 0;
    if (!paused && timeout != steady_clock::duration::max() && now - base >= timeout) {
        if (handshake) {
            log_with(fields(), spdlog::level::info, "no CONNECT within handshake_timeout; closing");
            close();
        } else {
            metrics::add(core_.stats.keepalive_timeouts);
            log_with(fields(), spdlog::level::info, "keep alive timeout; closing");
            set_end_reason(events::disconnect_reason::keep_alive_timeout,
                           reason_code::keep_alive_timeout);
            close(reason_code::keep_alive_timeout, "keep alive timeout");
        }
        return;
    }
    if (!handshake && next_retry_ <= now) {
        if (state_ == state::connected && session_) {
            session_->retry_due(listener_cfg().message_retry_interval);
            next_retry_ = now + retry_period();
        } else {
            next_retry_ = steady_clock::time_point::max();
        }
    }
    auto due = steady_clock::time_point::max();
    if (!paused && timeout != steady_clock::duration::max()) due = base + timeout;
    const auto at = handshake ? due : std::min(due, next_retry_);
    if (at == steady_clock::time_point::max())
        wheel().disarm(watchdog_entry_);
    else
        wheel().arm(watchdog_entry_, at, shared_from_this(), executor_);
}

steady_clock::duration connection::retry_period() const {
    return std::max<std::chrono::milliseconds>(listener_cfg().message_retry_interval / 2,
                                               std::chrono::milliseconds(100));
}

void connection::start_retry_timer() {
    const auto interval = listener_cfg().message_retry_interval;
    if (interval.count() <= 0 || is_v5()) return;  // 5.0 resends only on reconnect [MQTT-4.4.0-1]
    next_retry_ = steady_clock::now() + retry_period();
}

// ---- acknowledgements
// ----------------------------------------------------------------------------

std::uint64_t connection::push_ack(pending_ack a) {
    if (!acks_) acks_ = std::make_unique<fifo<pending_ack>>();
    acks_->push_back(std::move(a));
    const std::uint64_t index = acks_base_ + acks_->size() - 1;
    flush_acks();
    return index;
}

void connection::complete_ack(std::uint64_t index, reason_code code,
                              std::optional<std::vector<std::uint8_t>> codes, bool run_after_send) {
    if (index < acks_base_ || index - acks_base_ >= pending_acks()) return;
    auto& a = (*acks_)[index - acks_base_];
    a.ready = true;
    a.code = code;
    // A refusal (the store failed) goes out at once: the message was not taken, so there is
    // nothing for the subscriber's queue to make room for.
    if (protocol::is_error(code)) a.needs_room = false;
    if (codes) a.codes = std::move(*codes);
    if (!run_after_send) a.after_send = nullptr;
    flush_acks();
}

void connection::wait_for_room(std::uint64_t index,
                               std::vector<std::weak_ptr<delivery_target>> targets) {
    auto& waits = rare().room_waits;
    waits.push_back({index, std::move(targets)});
    if (waits.size() == 1) poll_room();
}

void connection::poll_room() {
    // Polled, not signalled: a subscriber's queue shrinks on its own worker with every PUBACK,
    // and a signal per PUBACK would cost the fast path more than a poll while something waits.
    std::erase_if(rare().room_waits, [this](room_wait& w) {
        std::erase_if(w.targets, [](const std::weak_ptr<delivery_target>& t) {
            auto target = t.lock();
            return !target || !target->needs_room();
        });
        if (!w.targets.empty()) return false;
        if (w.index >= acks_base_ && w.index - acks_base_ < pending_acks())
            (*acks_)[w.index - acks_base_].needs_room = false;
        return true;
    });
    flush_acks();
    if (rare().room_waits.empty() || state_ != state::connected) {
        rare_->room_waits.clear();
        return;
    }
    auto& t = lazy_timer(&rare_state::room_timer);
    t.expires_after(backpressure_poll);
    t.async_wait([self = shared_from_this()](std::error_code ec) {
        if (!ec) self->poll_room();
    });
}

void connection::flush_acks() {
    bool freed = false;
    while (pending_acks() > 0 && acks_->front().ready && !acks_->front().needs_room) {
        pending_ack a = std::move(acks_->front());
        acks_->pop_front();
        ++acks_base_;
        freed = true;
        // A QoS 2 PUBLISH holds its Receive Maximum slot until PUBCOMP, unless PUBREC ends the
        // flow with an error [MQTT-3.3.4-9].
        const bool flow_ends = a.type != packet_type::pubrec || protocol::is_error(a.code);
        if (a.counts_against_quota && flow_ends && inbound_quota_used_ > 0) --inbound_quota_used_;
        if (state_ != state::connected) continue;
        switch (a.type) {
            case packet_type::puback:
                send(protocol::puback{a.packet_id, a.code, {}});
                break;
            case packet_type::pubrec:
                send(protocol::pubrec{a.packet_id, a.code, {}});
                break;
            case packet_type::pubcomp:
                send(protocol::pubcomp{a.packet_id, a.code, {}});
                break;
            case packet_type::suback:
                send(protocol::suback{a.packet_id, std::move(a.codes), {}});
                break;
            case packet_type::unsuback: {
                protocol::unsuback u;
                u.packet_id = a.packet_id;
                for (auto c : a.codes)
                    u.codes.push_back(static_cast<reason_code>(c));
                send(u);
                break;
            }
            default:
                break;
        }
        if (a.after_send) a.after_send();
    }
    if (freed) cancel_timer(&rare_state::ack_signal);
}

void connection::with_session(const session_ptr& s, std::function<void(session&)> fn) {
    if (!s) return;
    if (session_ == s) {
        fn(*s);
        return;
    }
    s->run_on_owner([s, fn = std::move(fn)] {
        if (!s->ended()) fn(*s);
    });
}

asio::awaitable<storage::status> connection::commit(storage::write_batch batch) {
    auto* st = core_.store();
    if (!st || batch.empty()) co_return storage::status::ok();
    co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(storage::status)>(
        [&](auto handler) {
            using handler_t = decltype(handler);
            auto h = std::make_shared<handler_t>(std::move(handler));
            st->submit(std::move(batch), [h, ex = executor_](const storage::status& s) {
                asio::post(ex, [h, s]() mutable { (*h)(s); });
            });
        },
        asio::use_awaitable);
}

asio::awaitable<bool> connection::wait_for_store_room() {
    auto* st = core_.store();
    if (!st || !st->overloaded()) co_return true;
    const auto deadline = steady_clock::now() + st->settings().backend_timeout;
    std::error_code ec;
    pause_keepalive();
    while (st->overloaded() && state_ == state::connected) {
        if (steady_clock::now() >= deadline) break;
        auto& t = lazy_timer(&rare_state::wait_timer);
        t.expires_after(std::chrono::milliseconds(5));
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    resume_keepalive();
    co_return state_ == state::connected && !st->overloaded();
}

asio::awaitable<void> connection::wait_for_targets() {
    // Back-pressure, not loss: the subscribers' workers drain their inboxes; this publisher's
    // next packets wait until they did.
    std::error_code ec;
    pause_keepalive();
    auto& backlogged = rare().backlogged;
    for (;;) {
        std::erase_if(backlogged, [](const std::weak_ptr<delivery_target>& w) {
            auto t = w.lock();
            return !t || !t->backlogged();
        });
        if (backlogged.empty() || state_ != state::connected) break;
        auto& t = lazy_timer(&rare_state::wait_timer);
        t.expires_after(backpressure_poll);
        co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    backlogged.clear();
    resume_keepalive();
}

void connection::note_backlogged(std::vector<std::weak_ptr<delivery_target>> targets) {
    if (targets.empty()) return;
    auto& b = rare().backlogged;
    if (b.empty())
        b = std::move(targets);
    else
        b.insert(b.end(), std::make_move_iterator(targets.begin()),
                 std::make_move_iterator(targets.end()));
}

void connection::store_failed(const char* what, const storage::status& s) {
    metrics::add(core_.stats.store_errors);
    log_with(fields(), spdlog::level::err, "{} failed: {}", what, s.to_string());
}

void connection::reason_string(protocol::properties& props, const char* text) const {
    // Reason strings only for a client that did not set Request Problem Information to 0
    // [MQTT-3.1.2-29].
    if (is_v5() && request_problem_information_ && text && *text) props.reason_string = text;
}

// ---- small handlers
// ------------------------------------------------------------------------------

void connection::handle_pingreq() {
    send(protocol::pingresp{});
}

void connection::handle_disconnect(const protocol::disconnect& d) {
    if (is_v5() && session_) {
        if (auto e = d.props.session_expiry_interval) {
            // [MQTT-3.14.2-2]: 0 at CONNECT cannot become non-zero at DISCONNECT.
            if (session_->config().expiry_interval_s == 0 && *e != 0) {
                protocol_violation(reason_code::protocol_error,
                                   "DISCONNECT sets a Session Expiry Interval after 0");
                return;
            }
            auto value = *e;
            const auto cap = listener_cfg().max_session_expiry_interval;
            if (cap.count() > 0 && value != storage::never_expires)
                value =
                    std::min<std::uint32_t>(value, static_cast<std::uint32_t>(cap.count() / 1000));
            session_->update_info_settings(
                [value](session::settings& info) { info.expiry_interval_s = value; });
            session_->set_persistent(value != 0);
        }
        if (d.code == reason_code::disconnect_with_will_message) publish_will_on_disconnect_ = true;
    }
    disconnect_received_ = true;
    set_end_reason(events::disconnect_reason::client_disconnect, d.code);
    close();
}

asio::awaitable<auth_exchange::step> connection::auth_step(std::string_view data) {
    decision_scope<auth_exchange::step> scope(auth_exchange::step{});
    auto step = eauth()->exchange->on_data(data, scope);
    if (step.result != auth_exchange::step::outcome::pending) co_return step;
    auto deferred_step = scope.take_state();
    if (!deferred_step) co_return auth_exchange::step{};  // pending without deferring: a failure
    pause_keepalive();
    auto answer =
        co_await asio::async_initiate<decltype(asio::use_awaitable), void(auth_exchange::step)>(
            [&](auto handler) {
                auto h = std::make_shared<decltype(handler)>(std::move(handler));
                deferred_step->then([h, ex = executor_](auth_exchange::step v) {
                    asio::post(ex, [h, v = std::move(v)]() mutable { (*h)(std::move(v)); });
                });
            },
            asio::use_awaitable);
    resume_keepalive();
    if (answer.result == auth_exchange::step::outcome::pending)
        answer.result = auth_exchange::step::outcome::failure;
    co_return answer;
}

asio::awaitable<void> connection::handle_reauth(const protocol::auth& a) {
    // Re-authentication (5.0 section 4.12.1): only with the method of the CONNECT.
    auto* ea = eauth();
    if (!ea || !ea->method || a.props.authentication_method != ea->method) {
        protocol_violation(reason_code::protocol_error,
                           "AUTH without the authentication method of the CONNECT");
        co_return;
    }
    if (a.code == reason_code::re_authenticate) {
        auto* method = core_.hooks.find_auth_method(*ea->method);
        if (!method) {
            protocol_violation(reason_code::not_authorized, "method no longer available");
            co_return;
        }
        ea->exchange = method->start(info());
    } else if (a.code != reason_code::continue_authentication || !ea->exchange) {
        protocol_violation(reason_code::protocol_error, "unexpected AUTH reason code");
        co_return;
    }
    const std::string data = a.props.authentication_data.value_or("");
    auto step = co_await auth_step(data);
    if (state_ != state::connected) co_return;
    protocol::auth out;
    out.props.authentication_method = ea->method;
    switch (step.result) {
        case auth_exchange::step::outcome::failure:
        case auth_exchange::step::outcome::pending:
            // CONNACK-only codes such as 0x86 cannot go in a DISCONNECT: 0x87 Not authorized.
            ea->exchange.reset();
            log_with(fields(), spdlog::level::info, "re-authentication failed; closing");
            set_end_reason(events::disconnect_reason::protocol_error, reason_code::not_authorized);
            close(reason_code::not_authorized, "re-authentication failed");
            co_return;
        case auth_exchange::step::outcome::continue_authentication:
            out.code = reason_code::continue_authentication;
            break;
        case auth_exchange::step::outcome::success:
            out.code = reason_code::success;
            ea->exchange.reset();
            break;
    }
    if (!step.data.empty()) out.props.authentication_data = std::move(step.data);
    send(out);
}

}  // namespace rmqtt::broker
