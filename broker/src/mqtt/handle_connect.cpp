// CONNECT: validation, authentication, session attach / takeover, CONNACK.
#include <spdlog/spdlog.h>
#include <asio/post.hpp>
#include <asio/use_awaitable.hpp>

#include <deque>
#include <random>

#include "mqtt/connection.hpp"
#include "session/core_context.hpp"

namespace rmqtt::broker {

using protocol::connect_return_code;
using protocol::reason_code;
using protocol::version;

namespace {

std::string generate_client_id() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    static constexpr char hex[] = "0123456789abcdef";
    std::string id = "rmqttd-";
    auto v = rng();
    for (int i = 0; i < 16; ++i)
        id.push_back(hex[(v >> (i * 4)) & 0xF]);
    return id;
}

constexpr std::size_t queue_page = 1024;  // stored queue entries read at a time on reconnect

bool is_sys_topic(std::string_view topic) {
    return topic.starts_with("$SYS");
}

}  // namespace

void connection::send_connack(bool session_present, reason_code rc, protocol::properties props) {
    protocol::connack ack;
    // 3.1 has no Session Present flag; 3.1.1 and 5.0 never set it on a refusal [MQTT-3.2.2-4].
    ack.session_present = session_present && version_ != version::v3_1 && !protocol::is_error(rc);
    if (is_v5()) {
        ack.code = static_cast<std::uint8_t>(rc);
        ack.props = std::move(props);
    } else {
        ack.code = static_cast<std::uint8_t>(protocol::to_v3_connack(rc));
    }
    send(ack);
}

void connection::refuse_connect(reason_code v5_code, connect_return_code v3_code, const char* why) {
    metrics::add(core_.stats.connacks_refused);
    log_with(fields(), spdlog::level::info, "CONNECT refused ({}): {}",
             protocol::to_string(v5_code), why);
    if (core_.hooks.wants<events::connect_refused>())
        core_.hooks.emit(events::connect_refused{who(), v5_code, why});
    // Refused after its session was attached (the store failed): the CONNECT was not accepted, so
    // its will is not kept and the close does not publish it (3.1.2.5).
    if (session_) session_->will().reset();
    protocol::connack ack;
    if (is_v5()) {
        ack.code = static_cast<std::uint8_t>(v5_code);
        reason_string(ack.props, why);
    } else {
        ack.code = static_cast<std::uint8_t>(v3_code);
    }
    send(ack);
    close();  // [MQTT-3.2.2-5] / [MQTT-3.2.2-7]
}

events::client connection::who() const {
    events::client c;
    c.client_id = client_id();
    if (auto* pc = pending_connect())
        c.username = pc->username;
    else if (session_)
        c.username = session_->config().username;
    c.peer = peer_;
    c.listener = listener_id();
    c.version = version_;
    return c;
}

client_info connection::info() const {
    client_info ci;
    ci.client_id = client_id();
    auto* pc = pending_connect();
    ci.username = pc ? &pc->username : (session_ ? &session_->config().username.get() : nullptr);
    ci.peer = peer_;
    ci.listener = listener_id().str();
    ci.version = version_;
    if (!auth_) auth_ = std::make_unique<auth_state>();
    ci.auth = auth_.get();
    return ci;
}

asio::awaitable<void> connection::handle_connect(protocol::connect& c) {
    version_ = c.protocol_version;
    state_ = state::connecting;
    metrics::add(core_.stats.connects);
    const auto& lc = listener_cfg();

    if (is_v5()) {
        request_problem_information_ = c.props.request_problem_information.value_or(1) != 0;
        client_max_packet_size_ = c.props.maximum_packet_size.value_or(0);
        client_topic_alias_maximum_ = c.props.topic_alias_maximum.value_or(0);
    }

    // ---- client identifier ---------------------------------------------------------------------
    if (c.client_id.empty()) {
        if (version_ == version::v3_1) {
            refuse_connect(reason_code::client_identifier_not_valid,
                           connect_return_code::identifier_rejected,
                           "MQTT 3.1 requires a client identifier");
            co_return;
        }
        if (version_ == version::v3_1_1 && !c.clean_start) {
            // [MQTT-3.1.3-8]: empty id with CleanSession 0 -> 0x02, then close.
            refuse_connect(reason_code::client_identifier_not_valid,
                           connect_return_code::identifier_rejected,
                           "empty client identifier with clean session 0");
            co_return;
        }
        c.client_id = generate_client_id();  // [MQTT-3.1.3-6]
        assigned_id_ = true;
    }
    if (lc.max_clientid_len != 0 && c.client_id.size() > lc.max_clientid_len) {
        refuse_connect(reason_code::client_identifier_not_valid,
                       connect_return_code::identifier_rejected,
                       "client identifier longer than max_clientid_len");
        co_return;
    }
    // Kept from here until the session attaches: it holds the client id the log lines name.
    pending_connect_ = std::make_unique<protocol::connect>(std::move(c));
    auto& pc = *pending_connect_;

    // ---- keep alive ----------------------------------------------------------------------------
    keep_alive_ = pc.keep_alive;
    if (keep_alive_ == 0 && !lc.allow_zero_keepalive) {
        if (!is_v5()) {
            refuse_connect(reason_code::client_identifier_not_valid,
                           connect_return_code::identifier_rejected,
                           "keep alive 0 is not allowed on this listener");
            co_return;
        }
        keep_alive_ = lc.max_keepalive;
        keep_alive_changed_ = true;
    } else if (keep_alive_ != 0 &&
               (keep_alive_ < lc.min_keepalive || keep_alive_ > lc.max_keepalive)) {
        if (!is_v5()) {
            refuse_connect(reason_code::client_identifier_not_valid,
                           connect_return_code::identifier_rejected,
                           "keep alive outside min_keepalive..max_keepalive");
            co_return;
        }
        // 5.0: the server tells the client the value it uses (Server Keep Alive).
        keep_alive_ = std::clamp(keep_alive_, lc.min_keepalive, lc.max_keepalive);
        keep_alive_changed_ = true;
    }
    // cert_cn_as_username: the verified client certificate's Common Name replaces the username
    // (a client without one keeps its own).
    if (lc.cert_cn_as_username) {
        if (auto cn = transport_->peer_common_name()) pc.username = std::move(*cn);
    }

    // ---- enhanced authentication (5.0 section 4.12)
    // ------------------------------------------------
    if (is_v5() && pc.props.authentication_method) {
        auto* method = core_.hooks.find_auth_method(*pc.props.authentication_method);
        if (!method) {
            refuse_connect(reason_code::bad_authentication_method,
                           connect_return_code::not_authorized,
                           "authentication method not supported");
            co_return;
        }
        rare().eauth = std::make_unique<enhanced_auth>();
        rare_->eauth->method = *pc.props.authentication_method;
        rare_->eauth->exchange = method->start(info());
        protocol::auth first;
        first.code = reason_code::continue_authentication;
        first.props.authentication_method = rare_->eauth->method;
        first.props.authentication_data = pc.props.authentication_data.value_or("");
        state_ = state::authenticating;
        co_await handle_auth_exchange(first);
        co_return;
    }

    // ---- simple authentication
    // -------------------------------------------------------------------
    // Without authenticate handlers the chain answers next: no client_info (and its auth_state)
    // to build, and no coroutine for a decision that cannot be deferred.
    hook_result verdict = hook_result::next;
    if (core_.hooks.has_authenticate()) {
        pending<hook_result> wait;
        verdict = core_.hooks.authenticate(info(), pc.password, &wait);
        if (verdict == hook_result::pending) verdict = co_await decided(verdict, wait);
        if (state_ != state::connecting) co_return;  // closed meanwhile
    }
    if (denied(verdict)) {
        refuse_connect(reason_code::bad_user_name_or_password,
                       connect_return_code::bad_user_name_or_password, "bad user name or password");
        co_return;
    }
    if (verdict == hook_result::next && !pc.username && !lc.allow_anonymous) {
        refuse_connect(reason_code::not_authorized, connect_return_code::not_authorized,
                       "anonymous clients are not allowed on this listener");
        co_return;
    }
    co_await complete_connect();
}

asio::awaitable<void> connection::handle_auth_exchange(const protocol::auth& a) {
    // Before CONNACK: the client continues the exchange it started in CONNECT [MQTT-4.12.0-3].
    auto* ea = eauth();
    if (a.code != reason_code::continue_authentication || !ea ||
        a.props.authentication_method != ea->method) {
        refuse_connect(reason_code::protocol_error, connect_return_code::not_authorized,
                       "AUTH does not continue the CONNECT's authentication method");
        co_return;
    }
    const std::string data = a.props.authentication_data.value_or("");
    auto step = co_await auth_step(data);
    if (state_ != state::authenticating) co_return;  // closed meanwhile
    switch (step.result) {
        case auth_exchange::step::outcome::failure:
        case auth_exchange::step::outcome::pending:
            refuse_connect(step.failure_code, connect_return_code::not_authorized,
                           "authentication failed");
            co_return;
        case auth_exchange::step::outcome::continue_authentication: {
            protocol::auth next;
            next.code = reason_code::continue_authentication;  // [MQTT-4.12.0-2]
            next.props.authentication_method = ea->method;
            next.props.authentication_data = std::move(step.data);
            send(next);
            co_return;  // the reader passes the client's answer back here
        }
        case auth_exchange::step::outcome::success:
            ea->data_out = std::move(step.data);
            if (!step.username.empty()) pending_connect()->username = step.username;
            state_ = state::connecting;
            co_await complete_connect();
            co_return;
    }
}

asio::awaitable<void> connection::complete_connect() {
    auto& c = *pending_connect();
    const auto& lc = listener_cfg();
    const bool assigned_id = assigned_id_;
    const std::uint16_t keep_alive = keep_alive_;
    const bool keep_alive_changed = keep_alive_changed_;

    // ---- will ----------------------------------------------------------------------------------
    std::optional<storage::will_record> will;
    if (c.will) {
        auto& w = *c.will;
        if (static_cast<std::uint8_t>(w.qos_level) > lc.max_qos_allowed) {
            if (is_v5()) {
                refuse_connect(reason_code::qos_not_supported, connect_return_code::not_authorized,
                               "will QoS above the listener's max_qos_allowed");
                co_return;
            }
            w.qos_level = static_cast<protocol::qos>(lc.max_qos_allowed);
        }
        if (w.retain && !core_.retained() && is_v5()) {
            // No retainer: Retain Available 0 in CONNACK, so a Will Retain is refused
            // [MQTT-3.2.2-13]. (3.x has no way to say so; the will is published unretained.)
            refuse_connect(reason_code::retain_not_supported, connect_return_code::not_authorized,
                           "retained messages are not supported (rmqtt-retainer is off)");
            co_return;
        }
        // (No co_await inside && or ?:: GCC 12 miscompiles those.)
        bool will_allowed =
            !is_sys_topic(w.topic) &&
            (lc.max_topic_levels == 0 || protocol::topic_levels(w.topic) <= lc.max_topic_levels);
        if (will_allowed) {
            const auto verdict = co_await check_acl(acl_action::publish, w.topic);
            will_allowed = !denied(verdict);
        }
        if (state_ != state::connecting) co_return;  // closed meanwhile
        if (!will_allowed) {
            refuse_connect(reason_code::topic_name_invalid, connect_return_code::not_authorized,
                           "will topic not allowed");
            co_return;
        }
        storage::will_record r;
        r.message.topic = std::move(w.topic);
        r.message.payload = std::move(w.payload);
        r.message.qos = static_cast<std::uint8_t>(w.qos_level);
        r.message.retain = w.retain;
        r.message.publisher = c.client_id;
        r.message.created_at_ms = wall_now_ms();
        if (is_v5()) {
            r.delay_interval_s = w.props.will_delay_interval.value_or(0);
            w.props.will_delay_interval.reset();
            if (!w.props.empty()) {
                std::vector<std::uint8_t> bytes;
                protocol::encode_properties(w.props, bytes);
                r.message.properties.assign(bytes.begin(), bytes.end());
            }
        }
        will = std::move(r);
    }

    // ---- session expiry ------------------------------------------------------------------------
    std::uint32_t expiry = 0;
    bool expiry_capped = false;
    if (is_v5()) {
        expiry = c.props.session_expiry_interval.value_or(0);
        const auto cap = lc.max_session_expiry_interval;
        if (cap.count() > 0) {
            const auto cap_s = static_cast<std::uint32_t>(cap.count() / 1000);
            if (expiry > cap_s) {
                expiry = cap_s;
                expiry_capped = true;
            }
        }
    } else if (!c.clean_start) {
        const auto s = lc.session_expiry_interval.count() / 1000;
        expiry =
            s <= 0
                ? storage::never_expires
                : static_cast<std::uint32_t>(std::min<std::int64_t>(s, storage::never_expires - 1));
    }
    const bool persistent = expiry != 0;

    // ---- capacity and store health --------------------------------------------------------------
    const auto max_sessions = counters_->max_sessions;  // mqtt.max_sessions
    if (max_sessions != 0 && core_.sessions.size() >= max_sessions &&
        !core_.sessions.find(c.client_id)) {
        refuse_connect(reason_code::quota_exceeded, connect_return_code::server_unavailable,
                       "mqtt.max_sessions reached");
        co_return;
    }
    auto* store = core_.store();
    if (persistent && store && store->degraded()) {
        refuse_connect(reason_code::server_unavailable, connect_return_code::server_unavailable,
                       "session store unavailable");
        co_return;
    }

    // ---- the CONNACK must fit the client's Maximum Packet Size ----------------------------------
    protocol::properties connack_props;
    if (is_v5()) {
        if (assigned_id) connack_props.assigned_client_identifier = client_id();  // [MQTT-3.2.2-16]
        if (keep_alive_changed) connack_props.server_keep_alive = keep_alive;     // [MQTT-3.2.2-21]
        if (expiry_capped) connack_props.session_expiry_interval = expiry;
        if (receive_maximum_in() != 65535) connack_props.receive_maximum = receive_maximum_in();
        if (lc.max_qos_allowed < 2) connack_props.maximum_qos = lc.max_qos_allowed;
        if (!core_.retained()) connack_props.retain_available = 0;
        if (lc.max_packet_size != 0) connack_props.maximum_packet_size = lc.max_packet_size;
        if (lc.max_topic_aliases != 0) connack_props.topic_alias_maximum = lc.max_topic_aliases;
        if (!core_.shared_subscriptions() || !lc.shared_subscription)
            connack_props.shared_subscription_available = 0;
        if (auto* ea = eauth(); ea && ea->method) {
            connack_props.authentication_method = ea->method;
            if (!ea->data_out.empty()) connack_props.authentication_data = std::move(ea->data_out);
        }
        // The server sends CONNACK or closes [MQTT-3.2.0-1]; a CONNACK larger than the client
        // accepts cannot be sent [MQTT-3.1.2-24], so the connection closes before the session is
        // touched. Session Present does not change the size.
        if (client_max_packet_size_ != 0 &&
            protocol::encoded_size(version_, protocol::connack{false, 0, connack_props}) >
                client_max_packet_size_) {
            metrics::add(core_.stats.connacks_refused);
            log_with(fields(), spdlog::level::info,
                     "CONNACK does not fit the client's Maximum Packet Size {}; closing",
                     client_max_packet_size_);
            close();
            co_return;
        }
    }

    // ---- attach the session (takeover of an existing connection happens here) ------------------
    session_registry::attach_result result;
    if (auto fresh = core_.sessions.attach_new(client_id(), executor_)) {
        result = std::move(*fresh);
    } else {
        result = co_await asio::async_initiate<decltype(asio::use_awaitable),
                                               void(session_registry::attach_result)>(
            [&](auto handler) {
                auto h = std::make_shared<decltype(handler)>(std::move(handler));
                core_.sessions.attach(
                    client_id(), c.clean_start, executor_,
                    [h](session_registry::attach_result r) { (*h)(std::move(r)); });
            },
            asio::use_awaitable);
    }
    if (!result.s || !core_.sessions.still_current(*result.s, result.generation) ||
        state_ != state::connecting) {
        // A newer CONNECT for the same client id won the race.
        log_with(fields(), spdlog::level::info,
                 "a newer CONNECT with this client id took the session first; closing");
        close();
        co_return;
    }
    session_ = result.s;
    auto& s = *session_;
    auto& cfg = s.config();
    const bool present = result.present && !c.clean_start;
    const auto now_ms = wall_now_ms();
    if (!present) {
        // A session that stores messages numbers them in a generation of its own (see
        // core_context::take_generation); the others need no store-wide uniqueness.
        const std::uint32_t g = persistent && core_.store() ? core_.take_generation() : 0;
        s.set_generation(g, g);
    }
    s.update_info_settings([&](session::settings& info) {
        if (!present) info.created_at_ms = now_ms;
        info.version = version_;
        info.expiry_interval_s = expiry;
        info.username = c.username;
        info.listener = listener_id();
        info.peer = peer_;
        info.connected_at_ms = now_ms;
        info.disconnected_at_ms = 0;
    });
    cfg.clean_disconnect = false;
    cfg.mqueue_backpressure = lc.mqueue_backpressure;
    s.set_rate_limit(lc.mqueue_rate_limit_burst, lc.mqueue_rate_limit_period);
    cfg.request_problem_information = request_problem_information_;
    session::client_limits limits;  // 3.x: the defaults
    limits.max_packet_size = client_max_packet_size_;
    if (is_v5()) {
        limits.receive_maximum = c.props.receive_maximum.value_or(65535);
        limits.topic_alias_maximum = c.props.topic_alias_maximum.value_or(0);
    }
    // [MQTT-3.3.4-7]: no more unacknowledged QoS>0 PUBLISHes than the client's Receive Maximum.
    s.queue().set_limits({std::min(lc.max_inflight, limits.receive_maximum), lc.max_mqueue_len,
                          outbound_queue::overflow_policy::drop_oldest});
    s.set_persistent(persistent);
    s.record_client_limits(limits);
    s.will() = std::move(will);
    s.attach(shared_from_this());

    // ---- make the session durable before CONNACK ------------------------------------------------
    if (store) {
        storage::write_batch b;
        if (persistent) {
            b.ops.push_back(s.record_op());
        } else if (present) {
            // A stored session resumed as non-persistent (5.0 expiry 0): it is no longer kept.
            b.ops.push_back(storage::delete_session{client_id()});
        }
        if (!b.empty()) {
            auto st = co_await commit(std::move(b));
            if (!st) {
                store_failed("storing the session", st);
                if (state_ == state::connecting)
                    refuse_connect(reason_code::server_unavailable,
                                   connect_return_code::server_unavailable,
                                   "session store unavailable");
                co_return;
            }
        }
        if (present && s.has_unloaded_store_entries() && session_) {
            // Queued and inflight messages of a session recovered at startup are read now,
            // when their client returns, not at boot.
            if (!co_await load_stored_queue()) co_return;
        }
    }
    if (state_ != state::connecting || !session_) co_return;  // taken over meanwhile

    // ---- CONNACK -------------------------------------------------------------------------------
    // Written at the end of this handler, with what resume_delivery() queues (see
    // flush_held_writes); nothing below suspends.
    struct hold_writes {
        connection& c;
        explicit hold_writes(connection& conn) : c(conn) { c.writes_held_ = true; }
        ~hold_writes() { c.flush_held_writes(); }
        hold_writes(const hold_writes&) = delete;
        hold_writes& operator=(const hold_writes&) = delete;
    } held(*this);
    send_connack(present, reason_code::success, std::move(connack_props));
    state_ = state::connected;
    next_retry_ = steady_clock::time_point::max();  // held the accept time until now
    counted_as_connected_ = true;
    end_handshake();
    core_.stats.handshaking.fetch_sub(1, std::memory_order_relaxed);
    core_.stats.connections.fetch_add(1, std::memory_order_relaxed);
    start_retry_timer();
    watchdog();  // re-armed with the keep-alive timeout (keep_alive_) and the retry due
    log_with(fields(), spdlog::level::debug,
             "connected ({}, clean start {}, session present {}, expiry {})",
             protocol::to_string(version_), c.clean_start, present, expiry);
    s.publish_info();
    if (present) {
        if (core_.hooks.wants<events::session_resumed>())
            core_.hooks.emit(events::session_resumed{client_id()});
    } else if (core_.hooks.wants<events::session_created>()) {
        core_.hooks.emit(events::session_created{client_id(), persistent, who()});
    }
    if (core_.hooks.wants<events::client_connected>())
        core_.hooks.emit(
            events::client_connected{who(), c.clean_start, present, keep_alive, expiry});
    pending_connect_.reset();
    if (auth_ && !auth_->superuser && auth_->proofs.empty()) auth_.reset();  // made again on use
    s.resume_delivery();  // [MQTT-4.4.0-1]: inflight first, then queued
}

}  // namespace rmqtt::broker

namespace rmqtt::broker {

asio::awaitable<bool> connection::load_stored_queue() {
    // In pages, on the store's reader thread (never on the committer's: a long queue would hold
    // every durable ack meanwhile), keeping at most what the queue limits allow.
    auto* store = core_.store();
    const std::string cid = client_id();
    const std::uint64_t boundary = session_->unloaded_boundary();
    const std::uint64_t first = session_->first_seq();
    const std::size_t keep_queued = session_->queue().get_limits().max_queued;  // 0: all
    std::vector<outbound_entry> inflight;
    std::deque<outbound_entry> queued;
    storage::write_batch removals;
    std::size_t stale = 0;
    std::size_t over_limit = 0;
    std::uint64_t from = 0;
    for (bool done = false; !done;) {
        struct page_result {
            storage::status status;
            std::vector<storage::queue_entry> entries;
        };
        auto result = std::make_shared<page_result>();
        co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(
            [&](auto handler) {
                auto h = std::make_shared<decltype(handler)>(std::move(handler));
                store->read_async([h, result, cid, from, ex = executor_](storage::store_reader& r) {
                    result->status = r.load_queue(cid, from, queue_page, result->entries);
                    asio::post(ex, [h] { (*h)(); });
                });
            },
            asio::use_awaitable);
        if (!result->status) {
            // The session cannot be resumed without its messages: refuse, the client retries.
            store_failed("loading queued messages", result->status);
            if (state_ == state::connecting)
                refuse_connect(reason_code::server_unavailable,
                               connect_return_code::server_unavailable,
                               "session store unavailable");
            co_return false;
        }
        if (state_ != state::connecting || !session_) co_return false;  // taken over meanwhile
        for (auto& q : result->entries) {
            if (q.seq >= boundary) {  // routed after recovery: already in memory
                done = true;
                break;
            }
            if (q.seq < first) {
                // Left by an earlier session of this client id (routed to it as it ended, then a
                // crash before its delete).
                removals.ops.push_back(storage::delete_queue_entry{cid, q.seq});
                ++stale;
                continue;
            }
            outbound_entry e;
            e.seq = q.seq;
            e.qos = static_cast<protocol::qos>(q.qos);
            e.retain = q.retain;
            e.subscription_ids = std::move(q.subscription_ids);
            e.state = static_cast<delivery_state>(q.state);
            e.persisted = true;
            e.msg = from_record(q.message);
            if (e.state != delivery_state::queued) {
                inflight.push_back(std::move(e));  // holds its packet id: always kept
                continue;
            }
            queued.push_back(std::move(e));
            if (keep_queued != 0 && queued.size() > keep_queued) {
                // max_mqueue_len: the oldest queued message goes, as when it was routed.
                removals.ops.push_back(storage::delete_queue_entry{cid, queued.front().seq});
                metrics::add(core_.stats.messages_queue_full);
                metrics::add(core_.stats.messages_dropped);
                queued.pop_front();
                ++over_limit;
            }
        }
        if (result->entries.size() < queue_page) done = true;
        if (!done) from = result->entries.back().seq + 1;
        if (removals.ops.size() >= queue_page) store->submit(std::exchange(removals, {}));
    }
    store->submit(std::move(removals));
    if (stale != 0)
        spdlog::warn("{}: removed {} stored message(s) of an earlier session with this client id",
                     cid, stale);
    if (over_limit != 0)
        spdlog::info("{}: {} stored message(s) beyond max_mqueue_len dropped on reconnect", cid,
                     over_limit);
    std::vector<outbound_entry> entries = std::move(inflight);
    entries.insert(entries.end(), std::make_move_iterator(queued.begin()),
                   std::make_move_iterator(queued.end()));
    session_->queue().restore(std::move(entries));
    session_->set_unloaded_store_entries(false);
    co_return true;
}

}  // namespace rmqtt::broker
