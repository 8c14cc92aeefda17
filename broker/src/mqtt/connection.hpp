#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/logging.hpp"
#include "mqtt/watchdog_wheel.hpp"
#include "net/listener.hpp"
#include "net/transport.hpp"
#include "rmqtt/broker/clock.hpp"
#include "rmqtt/broker/config.hpp"
#include "rmqtt/broker/events.hpp"
#include "rmqtt/broker/hooks.hpp"
#include "rmqtt/broker/message.hpp"
#include "rmqtt/protocol/codec.hpp"
#include "rmqtt/protocol/packets.hpp"
#include "rmqtt/protocol/topic.hpp"
#include "session/client_link.hpp"
#include "session/fifo.hpp"
#include "session/session.hpp"

namespace rmqtt::broker {

class core_context;

// One network connection speaking MQTT: a reader coroutine that frames, decodes and dispatches
// packets (one handler per packet type, in handle_*.cpp), a writer coroutine that coalesces
// queued packets into few socket writes, and a keep-alive watchdog.
//
// Memory of an idle connection (IoT brokers hold hundreds of thousands): the writer runs only
// while there is output; the watchdog is a timer callback; on a transport that reads by
// readiness (TCP) the reader ends when the socket has nothing to read, releasing its read buffer
// and coroutine, and a readiness wait starts it again. Rarely used state is allocated on use.
//
// Threading: everything runs on the connection's executor (its worker's io_context); the
// attached session has the same owner executor. Hook decisions that a plugin defers resume here.
class connection final : public client_link, public std::enable_shared_from_this<connection> {
  public:
    // `counters` are the listener's (max_connections, max_handshaking_limit); the connection
    // counts itself in them while it lives / handshakes. They carry the listener's settings, its
    // interned id and mqtt.max_sessions too.
    connection(core_context& core, std::shared_ptr<listener_counters> counters,
               std::unique_ptr<transport> t, asio::any_io_executor ex);
    ~connection() override;

    void start();

    // ---- client_link: called on the executor by the session and the registry ----------------
    bool open() const noexcept override { return state_ == state::connected; }
    std::size_t pending_output() const noexcept override {
        return (out_ ? out_->size() : 0) + writing_;
    }
    bool send_publish(const message& m, protocol::qos q, bool retain, bool dup,
                      std::uint16_t packet_id,
                      const std::vector<std::uint32_t>& subscription_ids) override;
    void send_pubrel(std::uint16_t packet_id, protocol::reason_code code) override;
    void taken_over() override;
    void shutdown() override;
    void kick() override;

    protocol::version version() const noexcept { return version_; }
    bool is_v5() const noexcept { return version_ == protocol::version::v5; }
    asio::any_io_executor executor() const noexcept { return executor_; }
    const std::string& peer() const noexcept { return peer_; }
    // For log_with(): the peer address, and the client id once the CONNECT was read.
    log_fields fields() const noexcept { return {peer_, client_id()}; }
    // The CONNECT's (or the assigned) client identifier, once read; kept once: by the pending
    // CONNECT, then by the session, after it in the rare block (32 bytes less per connection).
    const std::string& client_id() const noexcept;

    void send(const protocol::packet& p);
    // Closes the connection: a 5.0 client that got its CONNACK first receives DISCONNECT with
    // `reason` [MQTT-4.13.2-1]; queued output is flushed (bounded in time) before the close.
    void close(std::optional<protocol::reason_code> reason = std::nullopt,
               const char* why = nullptr);

  private:
    // handshaking: transport handshake and waiting for CONNECT; authenticating: 5.0 enhanced
    // authentication in progress (AUTH exchange before CONNACK); connecting: attaching the
    // session.
    enum class state : std::uint8_t {
        handshaking,
        authenticating,
        connecting,
        connected,
        closing,
        closed
    };

    // Starts (or, after a pause, resumes) the reader coroutine; then parks it or ends the
    // connection's reading side (on_reader_done).
    void spawn_reader(bool first);
    // True: paused on a readiness transport with nothing to read (park_reader() waits for
    // readability and spawns it again); false: finished (the connection is ending).
    asio::awaitable<bool> reader(bool first);
    void park_reader();
    void compact_read_buffer();  // moves the undecoded bytes to the start
    void grow_read_buffer(std::size_t capacity);
    asio::awaitable<void> writer();
    // Keep alive / handshake timeout and the 3.x message retry, on the worker's watchdog wheel:
    // checks what is due, then re-arms. recheck_watchdog() makes it re-evaluate soon.
    void watchdog();
    void recheck_watchdog();
    void on_reader_done();
    void wake_writer();
    // Ends a span of holding writes back (writes_held_): what was queued meanwhile goes out in
    // this handler when the transport takes it at once (the CONNACK: no round through the
    // scheduler, which the writer's start is); the writer writes the rest, and ends the stream.
    void flush_held_writes();

    // Packet handlers (handle_*.cpp). Each returns normally; a protocol violation calls
    // protocol_violation() which closes the connection.
    asio::awaitable<void> dispatch(const protocol::frame& f);
    asio::awaitable<void> handle_connect(protocol::connect& c);
    // The part of CONNECT after authentication: will, expiry, session attach, CONNACK.
    asio::awaitable<void> complete_connect();
    // Reads the stored queue of a session recovered at start-up (false: refused or closed).
    asio::awaitable<bool> load_stored_queue();
    asio::awaitable<void> handle_auth_exchange(const protocol::auth& a);
    asio::awaitable<auth_exchange::step> auth_step(std::string_view data);
    client_info info() const;
    events::client who() const;
    asio::awaitable<void> handle_publish(protocol::publish& p);
    void handle_puback(const protocol::puback& p);
    void handle_pubrec(const protocol::pubrec& p);
    void handle_pubrel(const protocol::pubrel& p);
    void handle_pubcomp(const protocol::pubcomp& p);
    asio::awaitable<void> handle_subscribe(protocol::subscribe& s);
    asio::awaitable<void> handle_unsubscribe(protocol::unsubscribe& u);
    void handle_pingreq();
    void handle_disconnect(const protocol::disconnect& d);
    asio::awaitable<void> handle_reauth(const protocol::auth& a);

    // A hook chain that may have been deferred by a plugin: the decision, on this executor.
    asio::awaitable<hook_result> decided(hook_result r, pending<hook_result>& wait);
    asio::awaitable<hook_result> check_acl(acl_action a, std::string_view topic);

    void protocol_violation(protocol::reason_code rc, const char* detail);
    // An ended read or write, at debug for a client that went away, else at info.
    void log_read_error(std::error_code ec) const;
    void log_write_error(std::error_code ec) const;
    void refuse_connect(protocol::reason_code v5_code, protocol::connect_return_code v3_code,
                        const char* why);
    void send_connack(bool session_present, protocol::reason_code rc, protocol::properties props);

    // Acknowledgements go out in the order their packets arrived; an ack that waits for the
    // store holds back the ones behind it.
    struct pending_ack {
        protocol::packet_type type = protocol::packet_type::puback;
        std::uint16_t packet_id = 0;
        protocol::reason_code code = protocol::reason_code::success;
        bool ready = false;
        bool counts_against_quota = false;  // frees a slot of our Receive Maximum when sent
        std::vector<std::uint8_t> codes;    // SUBACK / UNSUBACK reason codes
        std::function<void()> after_send;   // e.g. retained messages after a SUBACK
        bool needs_room = false;            // a subscriber's full queue holds it (room_waits_)
    };
    std::uint64_t push_ack(pending_ack a);
    // Marks the ack ready; `codes` (when given) replaces a SUBACK / UNSUBACK's codes.
    void complete_ack(std::uint64_t index, protocol::reason_code code,
                      std::optional<std::vector<std::uint8_t>> codes = std::nullopt,
                      bool run_after_send = true);
    void flush_acks();
    // Back-pressure from subscribers' full queues (mqueue_overflow = "backpressure"): the ack at
    // `index` waits until none of `targets` needs room any more.
    void wait_for_room(std::uint64_t index, std::vector<std::weak_ptr<delivery_target>> targets);
    void poll_room();
    // Wraps a store completion so it runs on this connection's executor: one allocation for the
    // wrapper and `fn` together, and `fn` moves into the posted handler (a completion runs once).
    template <class F>
    std::function<void(const storage::status&)> on_executor(F fn) {
        return [ex = executor_, fn = std::move(fn)](const storage::status& s) mutable {
            asio::post(ex, [fn = std::move(fn), s]() mutable { fn(s); });
        };
    }
    // Runs `fn` on `s`: at once while `s` is this connection's session, otherwise on the
    // session's owner unless it has ended. A store completion undoes its failed change this way,
    // also when the client has gone meanwhile: the session and its store records outlive it.
    void with_session(const session_ptr& s, std::function<void(session&)> fn);
    // Back-pressure waits of the reader: the broker, not the client, is slow meanwhile, so the
    // keep-alive watchdog does not count this time.
    asio::awaitable<bool> wait_for_store_room();
    asio::awaitable<void> wait_for_targets();
    // Targets a PUBLISH left backlogged (the pipeline's list): the reader waits for them.
    void note_backlogged(std::vector<std::weak_ptr<delivery_target>> targets);
    void pause_keepalive();
    void resume_keepalive();
    void reason_string(protocol::properties& props, const char* text) const;
    void store_failed(const char* what, const storage::status& s);

    // Session lifecycle on disconnect (abnormal or not).
    void release_session();
    void start_retry_timer();  // sets the first retry due; the caller re-arms the watchdog
    steady_clock::duration retry_period() const;
    asio::awaitable<storage::status> commit(storage::write_batch batch);

    // (Ordered so that small fields share words, and flags are bits: a broker holds many idle
    // connections. State an idle connection does not need is in blocks made on use.)
    core_context& core_;
    const std::shared_ptr<listener_counters> counters_;
    // The listener's settings and id, through the counters (not a reference and an id in every
    // connection).
    const listener_config& listener_cfg() const noexcept { return *counters_->config; }
    const interned_string& listener_id() const noexcept { return counters_->listener_id; }
    void end_handshake();  // leaves the handshaking count (once)
    std::unique_ptr<transport> transport_;
    io_executor executor_;  // the worker's
    std::string peer_;
    session_ptr session_;

    // Bytes read and not yet decoded, in one allocation with its bookkeeping: while the reader
    // runs, and while a readiness reader is paused in the middle of a packet (an idle
    // connection holds none).
    class read_buffer;
    struct read_buffer_free {
        void operator()(read_buffer* b) const noexcept;
    };
    std::unique_ptr<read_buffer, read_buffer_free> in_;

    // Encoded, not yet handed to the writer; made by the first send() after the writer ended
    // (an idle connection holds none: 8 bytes instead of 24, and no buffer left behind).
    std::unique_ptr<std::vector<std::uint8_t>> out_;
    std::vector<std::uint8_t>& out() {
        if (!out_) out_ = std::make_unique<std::vector<std::uint8_t>>();
        return *out_;
    }
    std::size_t writing_ = 0;  // bytes the writer is writing (its buffer is its own)

    // The worker's (an io_context service, looked up when the watchdog is armed: not a
    // reference kept in every connection).
    watchdog_wheel& wheel() const { return asio::use_service<watchdog_wheel>(executor_.context()); }
    watchdog_wheel::entry watchdog_entry_;  // armed for the next watchdog()
    steady_clock::time_point last_read_{};
    // message_retry_interval (3.x): the next retry_due() of the session, on the watchdog's timer.
    // Until CONNACK (no retries yet) it holds the time the connection was accepted, which the
    // handshake timeout counts from: one field less in every connection.
    steady_clock::time_point next_retry_ = steady_clock::time_point::max();

    state state_ = state::handshaking;
    protocol::version version_ = protocol::version::v3_1_1;
    // Why the connection ended, for the client_disconnected event (first cause wins; set with
    // has_end_reason_ / has_end_code_). The reason is an events::disconnect_reason.
    protocol::reason_code end_code_ = protocol::reason_code::success;
    std::uint8_t end_reason_ = 0;
    std::uint16_t keepalive_paused_ = 0;  // > 0 while the reader waits for the broker
    bool handshake_counted_ : 1 = true;
    bool writer_running_ : 1 = false;  // a writer coroutine is spawned and not finished
    bool writer_done_ : 1 = false;     // the writer ended the stream: no writer starts again
    bool close_requested_ : 1 = false;
    bool reader_done_ : 1 = false;
    bool counted_as_connected_ : 1 = false;        // moved from "handshaking" to "connections"
    bool disconnect_received_ : 1 = false;         // normal DISCONNECT: no will
    bool publish_will_on_disconnect_ : 1 = false;  // 5.0 DISCONNECT 0x04
    bool server_shutdown_ : 1 = false;
    bool has_end_reason_ : 1 = false;
    bool has_end_code_ : 1 = false;
    bool request_problem_information_ : 1 = true;  // 5.0
    bool keep_alive_changed_ : 1 = false;
    bool assigned_id_ : 1 = false;
    bool writes_held_ : 1 = false;  // send() queues without starting the writer
    void set_end_reason(events::disconnect_reason r,
                        std::optional<protocol::reason_code> code = std::nullopt);

    std::uint32_t held_batches_ = 0;  // publishes whose deliveries wait for a commit
    // The keep alive in use (the client's, or the one the server set); its timeout is derived.
    std::uint16_t keep_alive_ = 0;
    steady_clock::duration keepalive_timeout() const;
    // 5.0 state
    std::uint16_t client_topic_alias_maximum_ = 0;
    std::uint32_t inbound_quota_used_ = 0;
    std::uint32_t client_max_packet_size_ = 0;
    // Our Receive Maximum (5.0; 3.x clients are not counted against it).
    std::uint16_t receive_maximum_in() const noexcept {
        return is_v5() ? std::max<std::uint16_t>(listener_cfg().max_inflight, 1) : 65535;
    }

    // 5.0 enhanced authentication (section 4.12), made when a CONNECT names a method.
    struct enhanced_auth {
        std::optional<std::string> method;
        std::unique_ptr<auth_exchange> exchange;
        std::string data_out;  // Authentication Data for CONNACK after a successful exchange
    };
    // Filled in by authenticate handlers through client_info::auth (info() is const: the hooks
    // get a pointer to it); superuser skips the ACL hooks. Made by info(); dropped after CONNACK
    // while it holds nothing (most clients), and made again (empty) when a hook asks.
    mutable std::unique_ptr<auth_state> auth_;
    bool superuser() const noexcept { return auth_ && auth_->superuser; }

    struct room_wait {
        std::uint64_t index = 0;  // of the ack in acks_
        std::vector<std::weak_ptr<delivery_target>> targets;
    };
    // State most connections never need (an idle one: none), in one block made on first use
    // and kept for the connection's life (8 bytes instead of about 150 in every connection).
    struct rare_state {
        // Timers, each made on first use.
        std::unique_ptr<asio::steady_timer> wait_timer;   // back-pressure waits in the reader
        std::unique_ptr<asio::steady_timer> close_timer;  // bounds the flush before a close
        std::unique_ptr<asio::steady_timer> ack_signal;   // wakes the reader held by acks_
        std::unique_ptr<asio::steady_timer> room_timer;   // polls room_waits while not empty
        std::vector<room_wait> room_waits;
        // 5.0 inbound Topic Aliases (index = alias), sized on the first aliased PUBLISH.
        std::vector<std::string> topic_aliases_in;
        // Outbound aliases (5.0 3.3.2.3.4): topic -> alias, up to the client's Topic Alias
        // Maximum. Aliases are handed out in order and kept for the connection's life (no
        // eviction). Made on the first aliased PUBLISH.
        std::unique_ptr<std::unordered_map<std::string, std::uint16_t>> topic_aliases_out;
        std::unique_ptr<enhanced_auth> eauth;
        // Targets whose inbox grew past its high-water mark with this connection's messages.
        std::vector<std::weak_ptr<delivery_target>> backlogged;
        // The client id when neither a pending CONNECT nor a session holds it: a CONNECT refused
        // while decoding, and after the session was released.
        std::string client_id;
    };
    std::unique_ptr<rare_state> rare_;
    rare_state& rare() {
        if (!rare_) rare_ = std::make_unique<rare_state>();
        return *rare_;
    }
    enhanced_auth* eauth() const noexcept { return rare_ ? rare_->eauth.get() : nullptr; }
    std::unique_ptr<protocol::connect> pending_connect_;  // CONNECT until the session attaches
    protocol::connect* pending_connect() const noexcept { return pending_connect_.get(); }
    using rare_timer = std::unique_ptr<asio::steady_timer> rare_state::*;
    asio::steady_timer& lazy_timer(rare_timer t);
    void cancel_timer(rare_timer t);
    // Made by the first push_ack(); released (empty) when the watchdog fires: an idle
    // connection holds no queue (8 bytes instead of 32, and no block kept after a SUBACK).
    std::unique_ptr<fifo<pending_ack>> acks_;
    std::size_t pending_acks() const noexcept { return acks_ ? acks_->size() : 0; }
    std::uint64_t acks_base_ = 0;  // index of acks_->front(); kept across queues
};

}  // namespace rmqtt::broker
