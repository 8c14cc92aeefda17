#include "core/server.hpp"

#include <spdlog/spdlog.h>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>

#include <filesystem>
#include <future>

#include "core/plugins.hpp"
#include "mqtt/connection.hpp"
#include "net/listener.hpp"
#include "rmqtt/protocol/codec.hpp"

namespace rmqtt::broker {

using protocol::qos;

namespace {
constexpr auto shutdown_drain_timeout = std::chrono::seconds(10);
constexpr const char* last_alive_key = "last_alive_ms";

std::size_t worker_count_for(const config& c) {
    if (c.worker_threads != 0) return c.worker_threads;
    auto n = std::thread::hardware_concurrency();
    return n == 0 ? 2 : n;
}
}  // namespace

server::server(config cfg)
    : config_(std::move(cfg)),
      router_(config_.shared_subscription.strat),
      retained_(config_.retainer.max_retained_messages),
      sessions_(*this) {}

server::~server() {
    stop_workers();
    if (store_) (void)store_->close();  // already closed by a graceful stop; errors logged there
}

// ---- workers
// -------------------------------------------------------------------------------------

void server::start_workers() {
    const auto n = worker_count_for(config_);
    for (std::size_t i = 0; i < n; ++i) {
        workers_.push_back(std::make_unique<asio::io_context>(1));
        guards_.push_back(asio::make_work_guard(*workers_.back()));
    }
    for (std::size_t i = 0; i < n; ++i) {
        threads_.emplace_back([ctx = workers_[i].get(), i] {
            for (;;) {
                try {
                    ctx->run();
                    return;
                } catch (const std::exception& e) {
                    // A handler threw: log it and keep the worker serving the others.
                    spdlog::error("worker {}: {}", i, e.what());
                }
            }
        });
    }
}

void server::stop_workers() {
    for (auto& g : guards_)
        g.reset();
    guards_.clear();
    for (auto& w : workers_)
        w->stop();
    for (auto& t : threads_)
        if (t.joinable()) t.join();
    threads_.clear();
}

asio::any_io_executor server::next_worker() {
    const auto i = next_worker_.fetch_add(1, std::memory_order_relaxed) % workers_.size();
    return workers_[i]->get_executor();
}

// ---- routing
// -------------------------------------------------------------------------------------

std::size_t server::route(const message_ptr& msg, storage::write_batch& batch,
                          std::vector<routed_delivery>& out) {
    if (msg->retain) {
        // [MQTT-3.3.1-5] store, [MQTT-3.3.1-10/11] an empty payload removes.
        auto r = retained_.set(msg);
        if (retain_persisted_) {
            if (r == retained_index::set_result::deleted)
                batch.ops.push_back(storage::delete_retained{msg->topic});
            else if (r == retained_index::set_result::stored ||
                     r == retained_index::set_result::replaced)
                batch.ops.push_back(storage::put_retained{to_record(*msg)});
        }
        if (r == retained_index::set_result::full)
            spdlog::warn("retained message on '{}' not stored: max_retained_messages reached",
                         msg->topic);
    }
    thread_local std::vector<route_target> targets;
    targets.clear();
    router_.match(msg->topic, msg->publisher, targets);
    for (auto& t : targets) {
        auto s = std::static_pointer_cast<session>(t.sub);
        delivery d;
        d.msg = msg;
        d.qos = std::min(msg->qos, t.max_qos);  // [MQTT-3.8.4-8] downgrade to the subscription
        // [MQTT-3.3.1-9]: RETAIN is 0 for an established subscription unless Retain As Published.
        d.retain = t.retain_as_published && msg->retain;
        d.subscription_ids = std::move(t.subscription_ids);
        d.share_group = std::move(t.share_group);
        d.share_filter = std::move(t.share_filter);
        if (d.qos != qos::at_most_once) {
            d.seq = s->take_seq();
            if (store_ && s->persistent()) {
                d.persisted = true;
                batch.ops.push_back(storage::put_queue_entry{s->client_id(), to_queue_entry(d)});
            }
        }
        out.push_back({std::move(s), std::move(d)});
    }
    return targets.size();
}

void server::deliver(std::vector<routed_delivery>& prepared) {
    for (auto& p : prepared)
        p.target->enqueue(std::move(p.d));
    prepared.clear();
}

bool server::submit_and_deliver(storage::write_batch batch, std::vector<routed_delivery>& prepared,
                                std::function<void(const storage::status&)> done, bool hold_all,
                                bool drop_held_on_failure) {
    if (!store_ || !store_->durable_acks()) {
        if (store_ && !batch.empty()) store_->submit(std::move(batch));
        deliver(prepared);
        if (done) done(storage::status::ok());
        return false;
    }
    std::vector<routed_delivery> held;
    std::size_t w = 0;
    for (std::size_t i = 0; i < prepared.size(); ++i) {
        auto& p = prepared[i];
        if (hold_all || p.held_for_commit()) {
            held.push_back(std::move(p));
        } else {
            if (w != i) prepared[w] = std::move(p);  // never move onto itself
            ++w;
        }
    }
    prepared.resize(w);
    if (held.empty() && !hold_all) {
        if (!batch.empty())
            store_->submit(std::move(batch), std::move(done));
        else if (done)
            done(storage::status::ok());
        deliver(prepared);
        return false;
    }
    // Even an empty batch goes through the committer, to keep its place in the order.
    // Sessions accept deliveries from any thread, so the completion hands them over directly.
    store_->submit(std::move(batch), [held = std::move(held), done = std::move(done),
                                      drop_held_on_failure](const storage::status& st) mutable {
        if (st || !drop_held_on_failure) deliver(held);
        if (done) done(st);
    });
    deliver(prepared);
    return true;
}

void server::publish_internal(message_ptr msg) {
    storage::write_batch batch;
    std::vector<routed_delivery> prepared;
    route(msg, batch, prepared);
    submit_and_deliver(std::move(batch), prepared);
}

storage::message_record server::to_record(const message& m) {
    storage::message_record r;
    r.topic = m.topic;
    r.payload = m.payload;
    r.qos = static_cast<std::uint8_t>(m.qos);
    r.retain = m.retain;
    if (m.props) {
        std::vector<std::uint8_t> bytes;
        protocol::encode_properties(*m.props, bytes);
        r.properties.assign(bytes.begin(), bytes.end());
    }
    r.publisher = m.publisher;
    r.created_at_ms = m.created_at_ms;
    r.expiry_at_ms = m.expiry_at_ms;
    return r;
}

message_ptr server::from_record(const storage::message_record& r) {
    auto m = std::make_shared<message>();
    m->topic = r.topic;
    m->payload = r.payload;
    m->qos = static_cast<qos>(std::min<std::uint8_t>(r.qos, 2));
    m->retain = r.retain;
    m->publisher = r.publisher;
    m->created_at_ms = r.created_at_ms;
    m->expiry_at_ms = r.expiry_at_ms;
    if (!r.properties.empty()) {
        protocol::properties props;
        std::size_t used = 0;
        auto bytes = std::span<const std::uint8_t>(
            reinterpret_cast<const std::uint8_t*>(r.properties.data()), r.properties.size());
        if (protocol::decode_properties(bytes, protocol::packet_type::publish, false, props,
                                        used)) {
            // A will's expiry counts from when it is published (3.1.3.2.3).
            if (m->expiry_at_ms == 0 && props.message_expiry_interval)
                m->expiry_at_ms =
                    wall_now_ms() + std::int64_t{*props.message_expiry_interval} * 1000;
            props.will_delay_interval.reset();
            if (!props.empty())
                m->props = std::make_unique<const protocol::properties>(std::move(props));
        } else {
            spdlog::warn("stored properties of a message on '{}' are unreadable; dropped them",
                         r.topic);
        }
    }
    return m;
}

storage::queue_entry server::to_queue_entry(const delivery& d) {
    storage::queue_entry e;
    e.seq = d.seq;
    e.state = storage::queue_state::queued;
    e.packet_id = packet_id_for(d.seq);
    e.qos = static_cast<std::uint8_t>(d.qos);
    e.retain = d.retain;
    e.subscription_ids = d.subscription_ids;
    e.message = to_record(*d.msg);
    return e;
}

// ---- startup
// -------------------------------------------------------------------------------------

int server::run() {
    spdlog::info(
        "rmqttd {} starting: node {}, {} worker threads, config {}", RMQTT_VERSION, config_.node_id,
        worker_count_for(config_),
        config_.source_files.empty() ? std::string("(defaults)") : config_.source_files.front());
    check_plugins(config_);
    start_plugins(*this);
    start_workers();
    if (config_.plugin_enabled("rmqtt-session-storage")) {
        if (!open_store() || !recover()) {
            stop_workers();
            return 1;
        }
        start_heartbeat();
    } else {
        spdlog::warn(
            "session storage is off (rmqtt-session-storage is not in plugins.default_startups): "
            "sessions and queued messages are lost on restart");
    }
    try {
        open_listeners();
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        graceful_shutdown();
        return 1;
    }
    asio::signal_set signals(main_context_, SIGINT, SIGTERM);
    signals.async_wait([this](std::error_code ec, int sig) {
        if (ec) return;
        spdlog::info("received {}, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
        graceful_shutdown();
    });
    main_context_.run();
    spdlog::info("rmqttd stopped");
    return 0;
}

void server::request_stop() {
    asio::post(main_context_, [this] { graceful_shutdown(); });
}

bool server::open_store() {
    const auto& sc = config_.session_storage;
    std::unique_ptr<storage::store> engine;
    storage::status st;
    if (sc.type == session_storage_config::engine::rocksdb) {
        if (sc.type_was_sled)
            spdlog::info("storage.type \"sled\" is served by rmqttd's embedded RocksDB engine");
        std::error_code ec;
        std::filesystem::create_directories(std::filesystem::path(sc.rocksdb_path).parent_path(),
                                            ec);
        storage::rocksdb_options o;
        o.path = sc.rocksdb_path;
        o.cache_capacity = sc.rocksdb_cache_capacity;
        o.sync = sc.sync == session_storage_config::sync_mode::always;
        st = storage::open_rocksdb_store(o, engine);
    } else {
        storage::redis_options o;
        o.url = sc.redis_url;
        o.prefix = sc.redis_prefix;
        o.command_timeout_ms = static_cast<int>(sc.backend_timeout.count());
        std::vector<std::string> warnings;
        st = storage::open_redis_store(o, engine, warnings);
        for (const auto& w : warnings)
            spdlog::warn("session storage (redis): {}", w);
        if (st && sc.sync == session_storage_config::sync_mode::always)
            spdlog::warn(
                "sync = \"always\" with Redis: Redis 7.0 has no WAITAOF; durability of a "
                "reply follows the server's appendfsync setting");
    }
    if (!st) {
        spdlog::critical("cannot open the session store: {}", st.message());
        return false;
    }
    store_ = std::make_unique<persistence>(std::move(engine), sc);
    spdlog::info("session storage: {} (ack = {}, sync = {})", store_->describe(),
                 store_->durable_acks() ? "durable" : "async",
                 sc.sync == session_storage_config::sync_mode::always ? "always" : "none");
    if (config_.plugin_enabled("rmqtt-retainer")) {
        if (config_.retainer.type != plugins::retainer_config::engine::ram) {
            retain_persisted_ = true;
            spdlog::info("retained messages are stored in the session store");
        }
    }
    return true;
}

bool server::recover() {
    const auto started = steady_clock::now();
    const auto now = wall_now_ms();
    struct restored {
        storage::session_record rec;
        std::vector<storage::subscription_record> subs;
        std::optional<storage::queue_bounds> bounds;
        std::vector<std::uint16_t> inq2;
    };
    std::vector<restored> sessions;
    std::vector<storage::session_record> expired;
    std::vector<storage::message_record> retained_msgs;
    storage::status failure;

    std::promise<void> done;
    store_->read([&](storage::store& engine) {
        std::optional<std::string> alive;
        if (auto s = engine.get_meta(last_alive_key, alive); !s) {
            failure = s;
            done.set_value();
            return;
        }
        std::int64_t last_alive = now;
        if (alive) last_alive = std::strtoll(alive->c_str(), nullptr, 10);
        auto last_progress = steady_clock::now();
        std::size_t seen = 0;
        auto s = engine.for_each_session([&](storage::session_record&& rec) {
            ++seen;
            if (steady_clock::now() - last_progress > std::chrono::seconds(2)) {
                last_progress = steady_clock::now();
                spdlog::info("recovering sessions: {} read so far...", seen);
            }
            // A session that was connected at a crash counts from the last proof of life.
            if (rec.disconnected_at_ms == 0) rec.disconnected_at_ms = last_alive;
            if (rec.expiry_interval_s != storage::never_expires &&
                rec.disconnected_at_ms + std::int64_t{rec.expiry_interval_s} * 1000 <= now) {
                expired.push_back(std::move(rec));
                return true;
            }
            sessions.push_back({std::move(rec), {}, {}, {}});
            return true;
        });
        if (!s) failure = s;
        // Subscriptions, queue bounds and inbound QoS 2 ids, in chunks (engines batch them).
        constexpr std::size_t chunk = 4096;
        std::vector<std::string> ids;
        std::vector<storage::recovery_state> states;
        for (std::size_t first = 0; first < sessions.size() && failure.is_ok(); first += chunk) {
            const std::size_t last = std::min(sessions.size(), first + chunk);
            ids.clear();
            for (std::size_t i = first; i < last; ++i)
                ids.push_back(sessions[i].rec.client_id);
            if (auto e = engine.load_recovery_state(ids, states); !e) {
                failure = e;
                break;
            }
            for (std::size_t i = first; i < last; ++i) {
                auto& st = states[i - first];
                sessions[i].subs = std::move(st.subscriptions);
                sessions[i].bounds = st.bounds;
                sessions[i].inq2 = std::move(st.inbound_qos2);
            }
            if (steady_clock::now() - last_progress > std::chrono::seconds(2)) {
                last_progress = steady_clock::now();
                spdlog::info("recovering sessions: subscriptions and queues of {} of {} loaded...",
                             last, sessions.size());
            }
        }
        if (failure.is_ok() && retain_persisted_) {
            auto e = engine.for_each_retained([&](storage::message_record&& m) {
                retained_msgs.push_back(std::move(m));
                return true;
            });
            if (!e) failure = e;
        }
        done.set_value();
    });
    done.get_future().wait();
    if (!failure.is_ok()) {
        spdlog::critical("recovering sessions from {} failed: {}", store_->describe(),
                         failure.message());
        return false;
    }

    for (auto& m : retained_msgs)
        retained_.set(from_record(m));

    std::size_t subscriptions = 0;
    std::size_t with_queue = 0;
    std::vector<std::pair<session_ptr, storage::session_record>> created;
    for (auto& r : sessions) {
        auto s = std::make_shared<session>(*this, r.rec.client_id, next_worker());
        auto& cfg = s->config();
        cfg.version = static_cast<protocol::version>(r.rec.protocol_version);
        cfg.expiry_interval_s = r.rec.expiry_interval_s;
        cfg.username = r.rec.username;
        cfg.listener = r.rec.listener;
        cfg.peer = r.rec.peer_address;
        cfg.created_at_ms = r.rec.created_at_ms;
        cfg.connected_at_ms = r.rec.connected_at_ms;
        cfg.disconnected_at_ms = r.rec.disconnected_at_ms;
        cfg.clean_disconnect = r.rec.clean_disconnect;
        cfg.client_receive_maximum = r.rec.receive_maximum;
        cfg.client_max_packet_size = r.rec.maximum_packet_size;
        cfg.client_topic_alias_maximum = r.rec.topic_alias_maximum;
        cfg.request_problem_information = r.rec.request_problem_information;
        s->set_persistent(true);
        s->mark_persisted();
        s->will() = r.rec.will;
        for (auto& sub : r.subs) {
            protocol::subscription_options o;
            o.max_qos = static_cast<qos>(std::min<std::uint8_t>(sub.qos, 2));
            o.no_local = sub.no_local;
            o.retain_as_published = sub.retain_as_published;
            o.retain_handling = sub.retain_handling;
            router_.subscribe(s, sub.filter, o, sub.subscription_id);
            s->subscriptions()[sub.filter] = session_subscription{o, sub.subscription_id};
            ++subscriptions;
        }
        // Continue after the highest stored seq, and never below a fresh session's start.
        const std::uint64_t fresh = static_cast<std::uint64_t>(now) * 1000;
        const std::uint64_t next_seq = std::max(r.bounds ? r.bounds->last_seq + 1 : 0, fresh);
        s->set_next_seq(next_seq);
        if (r.bounds) {
            ++with_queue;
            s->set_unloaded_store_entries(true, next_seq);
        }
        // The queue limits of the listener the client used, before it comes back.
        const listener_config* lc = find_listener(r.rec.listener);
        if (lc) {
            cfg.max_mqueue_len = lc->max_mqueue_len;
            cfg.max_inflight = std::min<std::size_t>(lc->max_inflight, cfg.client_receive_maximum);
            cfg.retry_interval = lc->message_retry_interval;
        }
        s->queue().set_limits(
            {cfg.max_inflight, cfg.max_mqueue_len, outbound_queue::overflow_policy::drop_oldest});
        for (auto pid : r.inq2)
            s->inbound_qos2().insert(pid);
        sessions_.insert_restored(s);
        created.emplace_back(std::move(s), std::move(r.rec));
    }

    // Expired sessions go, with their wills (the session ended) [MQTT-3.1.2-8].
    storage::write_batch cleanup;
    for (auto& rec : expired) {
        cleanup.ops.push_back(storage::delete_session{rec.client_id});
        if (rec.will) publish_internal(from_record(rec.will->message));
    }
    store_->submit(std::move(cleanup));

    // Timers run on each session's owner: expiry and (delayed) wills.
    for (auto& [s, rec] : created) {
        s->persist_record();  // records the disconnect time of sessions connected at a crash
        const auto disconnected = rec.disconnected_at_ms;
        const auto expiry = rec.expiry_interval_s;
        s->run_on_owner([s, disconnected, expiry, now] {
            if (expiry != storage::never_expires) {
                auto left = disconnected + std::int64_t{expiry} * 1000 - now;
                s->schedule_expiry(std::chrono::milliseconds(std::max<std::int64_t>(left, 0)));
            }
            if (auto& w = s->will()) {
                auto left = disconnected + std::int64_t{w->delay_interval_s} * 1000 - now;
                if (left <= 0)
                    s->publish_will_now();
                else
                    s->schedule_will(std::chrono::seconds((left + 999) / 1000));
            }
        });
    }
    const auto took =
        std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - started);
    spdlog::info(
        "recovered {} sessions ({} subscriptions, {} with stored messages, {} retained messages), "
        "removed {} expired, in {} ms",
        created.size(), subscriptions, with_queue, retained_msgs.size(), expired.size(),
        took.count());
    return true;
}

const listener_config* server::find_listener(std::string_view id) const {
    const listener_config* first = nullptr;
    for (const auto& l : config_.listeners) {
        if (!l.enable) continue;
        if (l.id() == id) return &l;
        if (!first) first = &l;
    }
    return first;  // the listener is gone from the configuration: use the first one's limits
}

void server::start_heartbeat() {
    heartbeat_ = std::make_unique<asio::steady_timer>(main_context_);
    heartbeat();
}

void server::heartbeat() {
    if (!store_ || stopping_) return;
    store_->submit(storage::put_meta{last_alive_key, std::to_string(wall_now_ms())});
    heartbeat_->expires_after(config_.session_storage.heartbeat_interval);
    heartbeat_->async_wait([this](std::error_code ec) {
        if (!ec) heartbeat();
    });
}

void server::open_listeners() {
    for (const auto& lc : config_.listeners) {
        if (!lc.enable) continue;
        if (lc.kind != listener_kind::tcp) {
            throw std::runtime_error("listener." + lc.id() + ": " +
                                     std::string(to_string(lc.kind)) +
                                     " listeners are not supported by this build of rmqttd yet; "
                                     "disable it or use a tcp listener");
        }
        auto l = std::make_unique<listener>(*this, lc, main_context_);
        l->open();
        l->start();
        spdlog::info("listening on {}:{} (listener.{})", lc.host, l->bound_port(), lc.id());
        listeners_.push_back(std::move(l));
    }
    if (listeners_.empty()) throw std::runtime_error("no listener is enabled");
}

// ---- shutdown
// ------------------------------------------------------------------------------------

void server::graceful_shutdown() {
    if (stopping_.exchange(true)) return;
    for (auto& l : listeners_)
        l->stop();
    if (heartbeat_) heartbeat_->cancel();
    // Close every connection: persistent sessions are recorded as disconnected now.
    auto all = sessions_.snapshot();
    for (auto& s : all) {
        s->run_on_owner([s] {
            if (auto c = s->conn()) c->shutdown();
        });
    }
    const auto deadline = steady_clock::now() + shutdown_drain_timeout;
    while ((metrics_.connections.load() > 0 || metrics_.handshaking.load() > 0) &&
           steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (metrics_.connections.load() > 0)
        spdlog::warn("{} connections did not close in time", metrics_.connections.load());
    if (store_) {
        store_->submit(storage::put_meta{last_alive_key, std::to_string(wall_now_ms())});
        store_->flush();
        if (auto st = store_->close(); !st)
            spdlog::error("closing the session store: {}", st.message());
        else
            spdlog::info("session store flushed and closed");
    }
    main_context_.stop();
}

}  // namespace rmqtt::broker
