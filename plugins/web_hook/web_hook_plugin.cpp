// rmqtt-web-hook: events in, bodies out, on the plugin's own threads.
#include "web_hook/web_hook_plugin.hpp"

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/thread_pool.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <variant>

#include "rmqtt/broker/events.hpp"
#include "web_hook/hook_body.hpp"
#include "web_hook/http_post.hpp"
#include "web_hook/web_hook_config.hpp"

namespace rmqtt::plugins::web_hook {

namespace ev = broker::events;
using std::chrono::milliseconds;

namespace {

constexpr std::string_view plugin_name = "rmqtt-web-hook";
// How long stop() waits for queued events and deliveries before it abandons them.
constexpr milliseconds drain_limit{5000};

std::int64_t wall_ms() {
    return std::chrono::duration_cast<milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::int64_t steady_ms() {
    return std::chrono::duration_cast<milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// A file:// target: lines appended under a lock, flushed after each.
struct file_sink {
    std::mutex mutex;
    std::FILE* file = nullptr;
    ~file_sink() {
        if (file) std::fclose(file);
    }
};

using any_event = std::variant<ev::client_connected, ev::connect_refused, ev::client_disconnected,
                               ev::session_created, ev::session_terminated, ev::subscribed,
                               ev::unsubscribed, ev::message_published, ev::message_delivered,
                               ev::message_acked, ev::message_dropped>;

// The running hook (owned by the plugin and the hook handlers; the work it posts refers to it by
// `this`, which stays valid because stop() joins its threads before it goes): queue accounting, the
// dispatch thread (bodies, the client directory, retry timers) and the sender threads. Thread-safe
// entry points: enqueue() and stop().
class engine {
  public:
    engine(web_hook_config cfg, broker::broker_api& api)
        : cfg_(std::move(cfg)), api_(api), node_(api.node_id()), senders_(cfg_.concurrency_limit) {}

    ~engine() { stop(); }

    // Opens every file:// target once, so a path that cannot be written stops the start.
    void open_files() {
        const auto open = [this](const target& t) {
            if (t.type != target::kind::file || files_.contains(t.path)) return;
            auto sink = std::make_unique<file_sink>();
            sink->file = std::fopen(t.path.c_str(), "a");
            if (!sink->file) {
                throw std::runtime_error(fmt::format("{}: cannot open {} for appending: {}",
                                                     plugin_name, t.url, std::strerror(errno)));
            }
            files_.emplace(t.path, std::move(sink));
        };
        for (const auto& t : cfg_.urls)
            open(t);
        for (const auto& rules : cfg_.rules) {
            for (const auto& r : rules) {
                for (const auto& t : r.urls)
                    open(t);
            }
        }
    }

    // Called by the event handlers (io threads): counts and posts, never waits.
    void enqueue(any_event e) {
        if (stopping_.load(std::memory_order_relaxed)) return;
        if (pending_.fetch_add(1, std::memory_order_relaxed) >= cfg_.queue_capacity) {
            pending_.fetch_sub(1, std::memory_order_relaxed);
            const auto n = dropped_.fetch_add(1, std::memory_order_relaxed) + 1;
            warn_limited(last_drop_log_ms_, "{}: queue full ({} events), event dropped ({} so far)",
                         plugin_name, cfg_.queue_capacity, n);
            return;
        }
        asio::post(dispatch_, [this, e = std::move(e), at = wall_ms()] {
            std::visit([&](const auto& x) { dispatch(x, at); }, e);
            pending_.fetch_sub(1, std::memory_order_relaxed);
        });
    }

    bool wants(event_kind k) const noexcept { return !cfg_.rules_for(k).empty(); }

    void stop() {
        if (stopped_.exchange(true)) return;
        stopping_ = true;
        const auto deadline = std::chrono::steady_clock::now() + drain_limit;
        while (pending_.load() > 0 && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(milliseconds(10));
        dispatch_.stop();
        senders_.stop();
        dispatch_.join();
        senders_.join();
        spdlog::info(
            "{}: stopped; sent {}, failed {}, retried {}, dropped_queue_full {}, abandoned at "
            "stop {}",
            plugin_name, sent_.load(), failed_.load(), retried_.load(), dropped_.load(),
            pending_.load());
    }

  private:
    template <class... Args>
    void warn_limited(std::atomic<std::int64_t>& last, fmt::format_string<Args...> f,
                      Args&&... args) {
        const auto now = steady_ms();
        auto prev = last.load(std::memory_order_relaxed);
        if (now - prev < 1000 || !last.compare_exchange_strong(prev, now)) return;
        spdlog::warn(f, std::forward<Args>(args)...);
    }

    // ---- dispatch thread only ----------------------------------------------------------------

    client_facts lookup(const std::string& client_id) {
        if (auto it = directory_.find(client_id); it != directory_.end()) return it->second;
        client_facts f{client_id, std::nullopt, {}, protocol::version::v3_1_1, 0};
        if (auto s = api_.session(client_id)) {
            f.username = s->username;
            f.peer = s->peer;
            f.version = s->version;
            f.created_at_ms = s->created_at_ms;
            directory_.emplace(client_id, f);
        }
        return f;
    }

    std::optional<client_facts> publisher_of(const broker::message& m) {
        if (m.publisher.empty()) return std::nullopt;
        return lookup(m.publisher);
    }

    void dispatch(const ev::client_connected& e, std::int64_t at) {
        auto& f = directory_[e.who.client_id];
        const std::int64_t created = f.created_at_ms != 0 ? f.created_at_ms : at;
        f = client_facts{e.who.client_id, e.who.username, e.who.peer, e.who.version, created};
        emit(
            event_kind::client_connect,
            [&] { return connect_body(node_, e.who, e.keep_alive, e.clean_start); }, at);
        emit(
            event_kind::client_connack, [&] { return connack_body(node_, e); }, at);
        emit(
            event_kind::client_connected, [&] { return connected_body(node_, e, at); }, at);
    }
    void dispatch(const ev::connect_refused& e, std::int64_t at) {
        emit(
            event_kind::client_connect, [&] { return connect_body(node_, e.who, 0, false); }, at);
        emit(
            event_kind::client_connack, [&] { return connack_body(node_, e); }, at);
    }
    void dispatch(const ev::client_disconnected& e, std::int64_t at) {
        emit(
            event_kind::client_disconnected, [&] { return disconnected_body(node_, e, at); }, at);
    }
    void dispatch(const ev::session_created& e, std::int64_t at) {
        const auto f = created_facts(directory_, e, at);
        emit(
            event_kind::session_created, [&] { return session_created_body(node_, f); }, at);
    }
    void dispatch(const ev::session_terminated& e, std::int64_t at) {
        const auto f = lookup(e.client_id);
        directory_.erase(e.client_id);
        emit(
            event_kind::session_terminated,
            [&] { return session_terminated_body(node_, f, e.reason); }, at);
    }
    void dispatch(const ev::subscribed& e, std::int64_t at) {
        if (!wants(event_kind::client_subscribe) && !wants(event_kind::session_subscribed)) return;
        const auto f = lookup(e.client_id);
        const auto body = [&] { return subscribed_body(node_, f, e); };
        emit(event_kind::client_subscribe, body, at, e.filter);
        emit(event_kind::session_subscribed, body, at, e.filter);
    }
    void dispatch(const ev::unsubscribed& e, std::int64_t at) {
        if (!wants(event_kind::client_unsubscribe) && !wants(event_kind::session_unsubscribed))
            return;
        const auto f = lookup(e.client_id);
        const auto body = [&] { return unsubscribed_body(node_, f, e); };
        emit(event_kind::client_unsubscribe, body, at, e.filter);
        emit(event_kind::session_unsubscribed, body, at, e.filter);
    }
    void dispatch(const ev::message_published& e, std::int64_t at) {
        emit(
            event_kind::message_publish, [&] { return published_body(node_, e, at); }, at,
            e.msg->topic);
    }
    void dispatch(const ev::message_delivered& e, std::int64_t at) {
        const auto to = lookup(e.client_id);
        emit(
            event_kind::message_delivered,
            [&] { return message_body(node_, *e.msg, publisher_of(*e.msg), &to, e.qos, at); }, at,
            e.msg->topic);
    }
    void dispatch(const ev::message_acked& e, std::int64_t at) {
        const auto to = lookup(e.client_id);
        emit(
            event_kind::message_acked,
            [&] { return message_body(node_, *e.msg, publisher_of(*e.msg), &to, e.qos, at); }, at,
            e.msg->topic);
    }
    void dispatch(const ev::message_dropped& e, std::int64_t at) {
        std::optional<client_facts> to;
        if (e.client_id) to = lookup(*e.client_id);
        emit(
            event_kind::message_dropped,
            [&] {
                auto b = message_body(node_, *e.msg, publisher_of(*e.msg), to ? &*to : nullptr,
                                      std::nullopt, at);
                b["reason"] = ev::to_string(e.reason);
                return b;
            },
            at, e.msg->topic);
    }

    // One body per rule of `kind` that applies to `topic`, with the rule's action, to each of
    // the rule's URLs (or the file's).
    template <class Build>
    void emit(event_kind kind, const Build& build, std::int64_t at,
              std::optional<std::string_view> topic = std::nullopt) {
        const auto& rules = cfg_.rules_for(kind);
        if (rules.empty()) return;
        std::optional<json> base;
        for (const auto& r : rules) {
            if (topic && !rule_matches(r.topics, *topic)) continue;
            if (!base) {
                base = build();
                stamp(*base, at);
            }
            json body = *base;
            body["action"] = r.action;
            auto text = std::make_shared<const std::string>(body.dump());
            for (const auto& t : r.urls.empty() ? cfg_.urls : r.urls)
                deliver(t, text);
        }
    }

    // ---- any thread ----------------------------------------------------------------------------

    void deliver(const target& t, std::shared_ptr<const std::string> body) {
        pending_.fetch_add(1, std::memory_order_relaxed);
        asio::post(senders_,
                   [this, &t, body = std::move(body)] { attempt(t, body, 1, steady_ms()); });
    }

    void finished(bool ok) {
        (ok ? sent_ : failed_).fetch_add(1, std::memory_order_relaxed);
        pending_.fetch_sub(1, std::memory_order_relaxed);
    }

    // Sender threads. `t` points into cfg_, which outlives the threads.
    void attempt(const target& t, std::shared_ptr<const std::string> body, int n,
                 std::int64_t started_ms) {
        if (t.type == target::kind::file) {
            auto& sink = *files_.at(t.path);
            std::lock_guard lock(sink.mutex);
            const bool ok = std::fwrite(body->data(), 1, body->size(), sink.file) == body->size() &&
                            std::fputc('\n', sink.file) != EOF && std::fflush(sink.file) == 0;
            if (!ok) {
                warn_limited(last_fail_log_ms_, "{}: cannot write to {}: {}", plugin_name, t.url,
                             std::strerror(errno));
            }
            finished(ok);
            return;
        }
        const auto r = post_json(t, *body, cfg_.http_timeout);
        if (r.status >= 200 && r.status < 300) {
            finished(true);
            return;
        }
        const bool retryable = r.status == 0 || r.status >= 500;
        const std::string why = r.status == 0 ? r.error : fmt::format("HTTP status {}", r.status);
        if (retryable && !stopping_.load()) {
            if (const auto delay = retry_delay(cfg_, n, milliseconds(steady_ms() - started_ms))) {
                retried_.fetch_add(1, std::memory_order_relaxed);
                auto timer = std::make_shared<asio::steady_timer>(dispatch_, *delay);
                timer->async_wait([this, timer, &t, body = std::move(body), n,
                                   started_ms](const std::error_code& ec) mutable {
                    if (ec) return;
                    asio::post(senders_, [this, &t, body = std::move(body), n, started_ms] {
                        attempt(t, body, n + 1, started_ms);
                    });
                });
                return;
            }
        }
        warn_limited(last_fail_log_ms_, "{}: POST to {} failed after {} attempt(s): {}",
                     plugin_name, t.url, n, why);
        finished(false);
    }

    const web_hook_config cfg_;
    broker::broker_api& api_;
    const std::uint64_t node_;
    std::map<std::string, std::unique_ptr<file_sink>, std::less<>> files_;  // set before start
    std::unordered_map<std::string, client_facts> directory_;               // dispatch thread
    asio::thread_pool dispatch_{1};
    asio::thread_pool senders_;
    std::atomic<std::size_t> pending_{0};  // events queued + deliveries not finished
    std::atomic<std::uint64_t> sent_{0};
    std::atomic<std::uint64_t> failed_{0};
    std::atomic<std::uint64_t> retried_{0};
    std::atomic<std::uint64_t> dropped_{0};
    std::atomic<std::int64_t> last_drop_log_ms_{0};
    std::atomic<std::int64_t> last_fail_log_ms_{0};
    std::atomic<bool> stopping_{false};
    std::atomic<bool> stopped_{false};
};

class web_hook_plugin final : public broker::plugin {
  public:
    void configure(const broker::config_section& section) override {
        cfg_ = parse_web_hook_config(section);
    }

    void start(broker::plugin_context& ctx) override {
        engine_ = std::make_shared<engine>(cfg_, ctx.broker());
        engine_->open_files();
        auto& hooks = ctx.hooks();
        const auto e = engine_;
        const auto any = [&](std::initializer_list<event_kind> kinds) {
            for (auto k : kinds) {
                if (e->wants(k)) return true;
            }
            return false;
        };
        const auto on = [&]<class Event>(std::type_identity<Event>) {
            hooks.on<Event>([e](const Event& x) { e->enqueue(x); });
        };
        using enum event_kind;
        // The directory of connected clients fills the bodies of events that name only a client
        // id; it needs client_connected and session_terminated whenever any rule exists.
        const bool needs_directory = std::any_of(cfg_.rules.begin(), cfg_.rules.end(),
                                                 [](const auto& r) { return !r.empty(); });
        if (needs_directory) {
            on(std::type_identity<ev::client_connected>{});
            on(std::type_identity<ev::session_terminated>{});
        }
        if (any({client_connect, client_connack})) on(std::type_identity<ev::connect_refused>{});
        if (any({client_disconnected})) on(std::type_identity<ev::client_disconnected>{});
        if (any({session_created})) on(std::type_identity<ev::session_created>{});
        if (any({client_subscribe, session_subscribed})) on(std::type_identity<ev::subscribed>{});
        if (any({client_unsubscribe, session_unsubscribed}))
            on(std::type_identity<ev::unsubscribed>{});
        if (any({message_publish})) on(std::type_identity<ev::message_published>{});
        if (any({message_delivered})) on(std::type_identity<ev::message_delivered>{});
        if (any({message_acked})) on(std::type_identity<ev::message_acked>{});
        if (any({message_dropped})) on(std::type_identity<ev::message_dropped>{});
        if (e->wants(offline_message)) {
            spdlog::warn(
                "{}: rule.offline_message: rmqttd raises no such event; the rule is "
                "never used",
                plugin_name);
        }
        spdlog::info("{}: started ({} sender threads, queue_capacity {})", plugin_name,
                     cfg_.concurrency_limit, cfg_.queue_capacity);
    }

    void stop() override {
        if (engine_) engine_->stop();
    }

  private:
    web_hook_config cfg_;
    std::shared_ptr<engine> engine_;
};

}  // namespace

std::unique_ptr<broker::plugin> make_plugin() {
    return std::make_unique<web_hook_plugin>();
}

}  // namespace rmqtt::plugins::web_hook
