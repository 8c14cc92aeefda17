#pragma once

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/core_api.hpp"
#include "core/plugin_host.hpp"
#include "rmqtt/broker/config.hpp"
#include "rmqtt/broker/plugin.hpp"
#include "session/core_context.hpp"

namespace rmqtt::broker {

class listener;

// The process: configuration, worker threads, the core state, the store, the listeners.
// Created in main() and passed by reference; there are no globals.
class server {
  public:
    // Makes and configures the plugins of `plugins` (throws config_error for a bad plugin
    // file); they start in run().
    server(config cfg, std::span<const plugin_entry> plugins);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Opens the store and recovers sessions (before any listener opens), opens the listeners,
    // and serves until SIGINT/SIGTERM or request_stop(). Returns the process exit code.
    int run();
    // Thread-safe.
    void request_stop();

    const config& cfg() const noexcept { return config_; }
    core_context& core() noexcept { return *core_; }

    // The enabled listener with this id ("tcp.external"), else the first enabled one.
    const listener_config* find_listener(std::string_view id) const;

    // A worker executor, round-robin: where a new connection or restored session lives.
    asio::any_io_executor next_worker();
    std::size_t worker_count() const noexcept { return workers_.size(); }

  private:
    void start_workers();
    void stop_workers();
    void open_listeners();
    bool open_store();
    bool recover();
    void start_heartbeat();
    void heartbeat();  // stores last_alive, then again after the heartbeat interval
    void graceful_shutdown();

    config config_;

    // Declared before everything that holds their timers or handlers (sessions, connections),
    // so they are destroyed after them.
    std::vector<std::unique_ptr<asio::io_context>> workers_;
    std::vector<std::thread> threads_;
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
    std::atomic<std::size_t> next_worker_{0};
    std::size_t recovered_sessions_ = 0;  // for the READY status line
    asio::io_context main_context_;       // signals, heartbeat, shutdown sequencing

    std::unique_ptr<core_context> core_;
    std::unique_ptr<core_api> api_;
    std::unique_ptr<plugin_host> plugins_;

    std::unique_ptr<asio::steady_timer> heartbeat_;
    std::vector<std::unique_ptr<listener>> listeners_;
};

}  // namespace rmqtt::broker
