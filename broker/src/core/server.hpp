#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "persist/persistence.hpp"
#include "rmqtt/broker/config.hpp"
#include "rmqtt/broker/hooks.hpp"
#include "rmqtt/broker/message.hpp"
#include "rmqtt/broker/metrics.hpp"
#include "routing/retained_index.hpp"
#include "routing/router.hpp"
#include "session/session.hpp"
#include "session/session_registry.hpp"

namespace rmqtt::broker {

class listener;

// The one server context: configuration, worker threads, routing, sessions, the store. Created
// in main() and passed by reference; there are no globals.
class server {
  public:
    explicit server(config cfg);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Opens the store and recovers sessions (before any listener opens), opens the listeners,
    // and serves until SIGINT/SIGTERM or request_stop(). Returns the process exit code.
    int run();
    // Thread-safe.
    void request_stop();

    const config& cfg() const noexcept { return config_; }
    router& routes() noexcept { return router_; }
    retained_index& retained() noexcept { return retained_; }
    session_registry& sessions() noexcept { return sessions_; }
    persistence* store() noexcept { return store_.get(); }
    metrics& stats() noexcept { return metrics_; }
    hook_bus& hooks() noexcept { return hooks_; }
    bool retained_persisted() const noexcept { return retain_persisted_; }
    bool stopping() const noexcept { return stopping_.load(); }

    // The enabled listener with this id ("tcp.external"), else the first enabled one.
    const listener_config* find_listener(std::string_view id) const;

    // A worker executor, round-robin: where a new connection or restored session lives.
    asio::any_io_executor next_worker();
    std::size_t worker_count() const noexcept { return workers_.size(); }

    // A prepared delivery: submitted to the store first, then handed to the session.
    struct routed_delivery {
        session_ptr target;
        delivery d;
        // With durable acks, a QoS 2 copy for a persistent session waits for its commit.
        bool held_for_commit() const noexcept {
            return d.persisted && d.qos == protocol::qos::exactly_once;
        }
    };
    // Matches `msg` against the subscriptions and prepares one delivery per target, appending
    // the store writes they need (queue entries of persistent sessions, the retained message)
    // to `batch`. Returns the number of matched subscribers. Call deliver() after submitting
    // `batch`, so the store sees each put before any later change to the same entry.
    std::size_t route(const message_ptr& msg, storage::write_batch& batch,
                      std::vector<routed_delivery>& out);
    static void deliver(std::vector<routed_delivery>& prepared);

    // Submits `batch` (if there is a store and it is not empty) and hands `prepared` to the
    // sessions. A QoS 2 copy for a persistent session waits for the commit of its queue entry
    // (all copies do when `hold_all`): a client that answers PUBREC keeps the packet id until
    // PUBREL, so after a crash the broker must still have the message (4.3.3). `done` (may be
    // empty) runs on the committer thread once the batch is committed or has failed, after the
    // held copies were delivered (they are dropped on failure when `drop_held_on_failure`).
    // Without durable acks nothing is held. Returns true when some copies were held; batches
    // complete in submission order, so holding a publisher's later messages behind held ones
    // keeps its order.
    bool submit_and_deliver(storage::write_batch batch, std::vector<routed_delivery>& prepared,
                            std::function<void(const storage::status&)> done = {},
                            bool hold_all = false, bool drop_held_on_failure = false);

    // Publishes a message of the broker's own (will, $SYS): route, write behind, deliver.
    void publish_internal(message_ptr msg);

    // Builds the stored form of an outbound entry.
    static storage::queue_entry to_queue_entry(const delivery& d);
    static storage::message_record to_record(const message& m);
    static message_ptr from_record(const storage::message_record& r);

  private:
    void start_workers();
    void stop_workers();
    void open_listeners();
    bool open_store();
    bool recover();
    void start_heartbeat();
    void heartbeat();  // stores last_alive, then again after heartbeat_interval
    void graceful_shutdown();

    config config_;
    metrics metrics_;
    hook_bus hooks_;

    // Declared before everything that holds their timers or handlers (sessions, connections),
    // so they are destroyed after them.
    std::vector<std::unique_ptr<asio::io_context>> workers_;
    std::vector<std::thread> threads_;
    std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards_;
    std::atomic<std::size_t> next_worker_{0};
    asio::io_context main_context_;  // signals, heartbeat, shutdown sequencing

    router router_;
    retained_index retained_;
    session_registry sessions_;
    std::unique_ptr<persistence> store_;
    bool retain_persisted_ = false;

    std::unique_ptr<asio::steady_timer> heartbeat_;
    std::vector<std::unique_ptr<listener>> listeners_;
    std::atomic<bool> stopping_{false};
};

}  // namespace rmqtt::broker
