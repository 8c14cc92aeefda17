#include "core/server.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/dispatch.hpp>
#include <asio/post.hpp>

#include <filesystem>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "config/cpus.hpp"
#include "core/service_notify.hpp"
#include "mqtt/connection.hpp"
#include "net/fd_reactor.hpp"
#include "net/listener.hpp"
#include "net/worker_loop.hpp"
#include "persist/recovery.hpp"
#include "rmqtt/storage/rocksdb_module.hpp"
#include "session/restore.hpp"

namespace rmqtt::broker {

namespace {
constexpr auto shutdown_drain_timeout = std::chrono::seconds(10);

std::size_t worker_count_for(const config& c) {
    if (c.worker_threads != 0) return c.worker_threads;
    return usable_cpus();
}
}  // namespace

server::server(config cfg, std::span<const plugin_entry> plugins)
    : config_(std::move(cfg)),
      core_(std::make_unique<core_context>()),
      api_(std::make_unique<core_api>(*core_, config_.node_id)),
      plugins_(std::make_unique<plugin_host>(*core_, *api_, plugins)) {
    api_->set_plugin_host(plugins_.get());
    core_->stats.started_at_ms.store(wall_now_ms(), std::memory_order_relaxed);
    plugins_->configure(config_);
}

server::~server() {
    plugins_->stop();
    stop_workers();
    // What the plugins' hook handlers hold (a plugin's timer on the plugins' pool) goes now,
    // while the pool's services exist: the hooks are the core's, destroyed after the plugins.
    core_->hooks.clear();
    if (auto* st = core_->store()) (void)st->close();  // closed by a graceful stop; logged there
}

// ---- workers
// -------------------------------------------------------------------------------------

void server::start_workers() {
    const auto n = worker_count_for(config_);
    for (std::size_t i = 0; i < n; ++i) {
        workers_.push_back(std::make_unique<asio::io_context>(1));
        guards_.push_back(asio::make_work_guard(*workers_.back()));
        // Made here, before the worker runs, rather than by its first TCP connection on the
        // acceptor's thread.
        asio::use_service<fd_reactor>(*workers_.back());
    }
    for (std::size_t i = 0; i < n; ++i) {
        threads_.emplace_back([ctx = workers_[i].get(), i, poll = config_.worker_busy_poll] {
            for (;;) {
                try {
                    run_worker(*ctx, poll);
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

// ---- startup
// -------------------------------------------------------------------------------------

int server::run() {
    spdlog::info(
        "rmqttd {} starting: node {}, {} worker threads, config {}", RMQTT_VERSION, config_.node_id,
        worker_count_for(config_),
        config_.source_files.empty() ? std::string("(defaults)") : config_.source_files.front());
    try {
        plugins_->start(config_);
    } catch (const std::exception& e) {
        spdlog::critical("a plugin failed to start: {}", e.what());
        service_notify::status(
            fmt::format("start-up failed: a plugin failed to start: {}", e.what()));
        return 1;
    }
    start_workers();
    if (plugins_->session_storage()) {
        service_notify::status("opening the session store and recovering sessions");
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
    // Before the listeners open: the workers serve a client at once (the main thread has not
    // reached run() yet), and a SIGTERM that follows must find the handler, not end the process.
    // A signal that comes before the wait below is kept for it.
    asio::signal_set signals(main_context_, SIGINT, SIGTERM);
    try {
        open_listeners();
        core_->set_serving(true);
    } catch (const std::exception& e) {
        spdlog::critical("{}", e.what());
        service_notify::status(fmt::format("start-up failed: {}", e.what()));
        graceful_shutdown();
        return 1;
    }
    // The listeners are open (bound and listening): connections are accepted from now on.
    service_notify::ready(fmt::format("serving: {} listeners, {} sessions recovered",
                                      listeners_.size(), recovered_sessions_));
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
    const auto& sc = *plugins_->session_storage();
    std::unique_ptr<storage::store> engine;
    storage::status st;
    if (sc.type == session_storage_config::engine::rocksdb) {
        std::error_code ec;
        std::filesystem::create_directories(std::filesystem::path(sc.rocksdb_path).parent_path(),
                                            ec);
        storage::rocksdb_options o;
        o.path = sc.rocksdb_path;
        o.cache_capacity = sc.rocksdb_cache_capacity;
        o.sync = sc.sync == session_storage_config::sync_mode::always;
        st = storage::rocksdb_module::open_store(o, engine);  // loads librmqtt_rocksdb.so
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
        service_notify::status(
            fmt::format("start-up failed: cannot open the session store: {}", st.message()));
        return false;
    }
    core_->set_store(std::make_unique<persistence>(std::move(engine), sc));
    spdlog::info("session storage: {} (ack = {}, sync = {})", core_->store()->describe(),
                 core_->store()->durable_acks() ? "durable" : "async",
                 sc.sync == session_storage_config::sync_mode::always ? "always" : "none");
    return true;
}

bool server::recover() {
    const auto started = steady_clock::now();
    auto* retained = core_->retained();
    const bool with_retained = retained && retained->persistent();
    recovered_state state;
    // Sessions are built as their chunks arrive, while the store is still being read.
    session_restorer restorer(
        *core_, [this] { return next_worker(); },
        [this](std::string_view id) { return find_listener(id); });
    recovery_options options;
    options.on_estimate = [&](std::size_t n) { restorer.expect(n); };
    if (auto st = read_recovery_state(
            *core_->store(), with_retained, options,
            [&](std::vector<recovered_state::session>& chunk) {
                for (auto& r : chunk)
                    restorer.add(std::move(r));
            },
            state);
        !st) {
        service_notify::status(
            fmt::format("start-up failed: recovering sessions failed: {}", st.message()));
        spdlog::critical("recovering sessions from {} failed: {}", core_->store()->describe(),
                         st.message());
        return false;
    }
    const auto read_done = steady_clock::now();
    for (auto& m : state.retained)
        retained->restore(from_record(m));
    const auto counts = restorer.finish(state);
    recovered_sessions_ = counts.sessions;
    const auto took =
        std::chrono::duration_cast<std::chrono::milliseconds>(steady_clock::now() - started);
    core_->stats.recovery_duration_ms.store(took.count(), std::memory_order_relaxed);
    core_->stats.sessions_recovered.store(static_cast<std::int64_t>(counts.sessions),
                                          std::memory_order_relaxed);
    spdlog::info(
        "recovered {} sessions ({} subscriptions, {} with stored messages, {} retained messages), "
        "removed {} expired, in {} ms ({} ms reading the store and building the sessions)",
        counts.sessions, counts.subscriptions, counts.with_queue, state.retained.size(),
        counts.expired, took.count(),
        std::chrono::duration_cast<std::chrono::milliseconds>(read_done - started).count());
    service_notify::status(fmt::format("recovered {} sessions in {} ms; opening the listeners",
                                       counts.sessions, took.count()));
    if (counts.revoked_subscriptions + counts.revoked_wills > 0)
        spdlog::info("the ACL no longer allows {} restored subscriptions and {} wills: removed",
                     counts.revoked_subscriptions, counts.revoked_wills);
    // Reading the store allocated and freed a lot (the records, on the reader threads' arenas,
    // and the chunks): glibc keeps what was freed; its whole free pages go back to the system
    // (about 40 bytes per restored session).
    state = recovered_state{};
#if defined(__GLIBC__)
    ::malloc_trim(0);
#endif
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
    if (auto* st = core_->store())
        st->submit(storage::put_meta{
            heartbeat_interval_key,
            std::to_string(plugins_->session_storage()->heartbeat_interval.count())});
    heartbeat();
}

void server::heartbeat() {
    auto* st = core_->store();
    if (!st || core_->stopping()) return;
    st->submit(storage::put_meta{last_alive_key, std::to_string(wall_now_ms())});
    heartbeat_->expires_after(plugins_->session_storage()->heartbeat_interval);
    heartbeat_->async_wait([this](std::error_code ec) {
        if (!ec) heartbeat();
    });
}

void server::open_listeners() {
    for (const auto& lc : config_.listeners) {
        if (!lc.enable) continue;
        // The acceptor runs on the first worker, not on the main thread: the connections that
        // worker serves are not handed to another thread, and no thread wakes only to accept.
        auto l = std::make_unique<listener>(
            lc, *workers_.front(), [this] { return next_worker(); },
            [this](std::unique_ptr<transport> t, asio::any_io_executor ex,
                   std::shared_ptr<listener_counters> counters) {
                auto c =
                    std::make_shared<connection>(*core_, std::move(counters), std::move(t), ex);
                // On the acceptor's own worker the connection starts here, in the accept loop:
                // a CONNECT already received is answered now, not after the whole batch of
                // accepted connections (a round through the scheduler each).
                asio::dispatch(ex, [c] { c->start(); });
            });
        l->counters()->max_sessions = config_.max_sessions;
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
    if (core_->stopping()) return;
    core_->set_stopping();
    service_notify::stopping("stopping: closing connections");
    core_->set_serving(false);
    for (auto& l : listeners_)
        l->stop();
    if (heartbeat_) heartbeat_->cancel();
    // Close every connection: persistent sessions are recorded as disconnected now.
    auto all = core_->sessions.snapshot();
    for (auto& s : all) {
        s->run_on_owner([s] {
            if (auto c = s->link()) c->shutdown();
        });
    }
    const auto deadline = steady_clock::now() + shutdown_drain_timeout;
    auto& stats = core_->stats;
    while ((stats.connections.load() > 0 || stats.handshaking.load() > 0) &&
           steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (stats.connections.load() > 0)
        spdlog::warn("{} connections did not close in time", stats.connections.load());
    // After the connections ended (their final session records are submitted), before the
    // store is flushed.
    plugins_->stop();
    if (auto* st = core_->store()) {
        service_notify::status("stopping: flushing the session store");
        const auto stopped_at = std::to_string(wall_now_ms());
        storage::write_batch last;
        last.ops.emplace_back(storage::put_meta{last_alive_key, stopped_at});
        last.ops.emplace_back(storage::put_meta{stopped_key, stopped_at});
        st->submit(std::move(last));
        st->flush();
        if (auto s = st->close(); !s)
            spdlog::error("closing the session store: {}", s.message());
        else
            spdlog::info("session store flushed and closed");
        // One line for benchmarks and operators: what this run cost the store.
        const auto& c = st->committer();
        spdlog::info(
            "session store totals: {} operations submitted, {} written in {} commits, {} "
            "put/delete pairs cancelled, {} updates absorbed, {} bytes written",
            c.ops_submitted(), c.ops_written(), c.groups_written(), c.ops_cancelled(),
            c.updates_absorbed(), c.bytes_written());
    }
    main_context_.stop();
}

}  // namespace rmqtt::broker
