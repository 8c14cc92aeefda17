#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/thread_pool.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "auth_common/connection_grants.hpp"
#include "auth_http/auth_http_config.hpp"
#include "auth_http/http_exchange.hpp"
#include "auth_http/result_cache.hpp"
#include "rmqtt/broker/events.hpp"
#include "rmqtt/broker/hooks.hpp"
#include "rmqtt/broker/message.hpp"
#include "rmqtt/broker/plugin.hpp"

// rmqtt-auth-http: authentication and ACL decided by an HTTP server, as RMQTT's plugin of the
// same name (RMQTT docs/en_US/auth-http.md).
//
// Every decision that needs the server defers (decision_scope::defer) and the request runs on
// the plugin's own threads (http_concurrency of them), so a slow or dead server holds only the
// clients waiting for it: never an io thread, never the shared plugin pool, never a client
// decided by a cached answer or by another plugin. Each deferred decision also has a deadline
// (http_timeout) on the plugin pool that answers it as a failed request if the server has not.
// At most http_concurrency + http_queue_max calls are in progress or waiting; a call beyond that
// is answered at once as a failed request (deny_if_error).
namespace rmqtt::plugins::auth_http {

// The decisions, with the transport and the kick supplied by the caller (the plugin, or a unit
// test). Thread-safe. stop() must run before the `timers` executor's context ends.
class http_authenticator : public std::enable_shared_from_this<http_authenticator> {
  public:
    using transport =
        std::function<http_response(const http_request&, std::chrono::milliseconds timeout)>;
    // Disconnects the client of `who` (disconnect_if_pub_rejected).
    using kicker = std::function<void(const request_facts& who, std::string why)>;

    struct counters {
        std::atomic<std::uint64_t> requests{0};    // HTTP requests sent
        std::atomic<std::uint64_t> cache_hits{0};  // decisions from the cache
        std::atomic<std::uint64_t> failures{0};    // no usable answer (incl. timeout, full queue)
        std::atomic<std::uint64_t> queue_full{0};  // refused for lack of room
    };

    http_authenticator(auth_http_config cfg, asio::any_io_executor timers, transport send,
                       kicker kick);
    ~http_authenticator();
    http_authenticator(const http_authenticator&) = delete;
    http_authenticator& operator=(const http_authenticator&) = delete;

    broker::hook_result authenticate(const broker::client_info& c,
                                     const std::optional<std::string>& password,
                                     broker::decision_scope<broker::hook_result>& scope);
    broker::hook_result check_acl(const broker::client_info& c, broker::acl_action a,
                                  std::string_view topic,
                                  broker::decision_scope<broker::hook_result>& scope);
    // Permission-list rules that depend on the QoS or retain flag, decided on the message.
    broker::hook_result check_message(const broker::message& m, const broker::client_info& from);

    // The connection of `who` got CONNACK 0: its grant, if it has one.
    std::shared_ptr<const auth_common::connection_grant> confirmed(
        const broker::events::client& who);
    // The connection of `who` ended or was refused: its grant and its "while connected"
    // answers go. True when it had a grant.
    bool gone(const broker::events::client& who);

    // No new HTTP call; calls in progress finish (each within http_timeout), calls waiting are
    // answered as failed. Joins the plugin's HTTP threads. Idempotent.
    void stop();

    const auth_http_config& config() const noexcept { return cfg_; }
    const counters& stats() const noexcept { return stats_; }
    auth_common::connection_grants& grants() noexcept { return grants_; }
    result_cache& cache() noexcept { return cache_; }

  private:
    enum class kind { auth, acl };
    struct call;

    broker::hook_result ask(kind k, const http_endpoint& e, request_facts facts,
                            broker::decision_scope<broker::hook_result>& scope);
    void run(kind k, std::shared_ptr<call> c, http_request req, std::string key,
             request_facts facts);
    // The decision for an answer (nullopt: failed request); for an authentication that allows,
    // `grant` receives what the connection gets.
    broker::hook_result decide(kind k, const std::optional<http_answer>& answer,
                               std::string_view why, const request_facts& facts,
                               std::shared_ptr<const auth_common::connection_grant>& grant);
    void after(kind k, broker::hook_result r, const request_facts& facts);
    void log_failure(kind k, const request_facts& facts, std::string_view why);

    const auth_http_config cfg_;
    asio::any_io_executor timers_;
    transport send_;
    kicker kick_;
    asio::thread_pool http_threads_;
    std::atomic<std::size_t> in_flight_{0};
    std::atomic<bool> stopping_{false};
    std::atomic<std::int64_t> last_failure_log_ms_{0};
    std::atomic<std::uint64_t> unlogged_failures_{0};
    counters stats_;
    auth_common::connection_grants grants_;
    result_cache cache_;
};

// The rmqtt-auth-http plugin (plugin.hpp).
std::unique_ptr<broker::plugin> make_plugin();

}  // namespace rmqtt::plugins::auth_http
