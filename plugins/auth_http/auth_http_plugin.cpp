// rmqtt-auth-http: deferred decisions on the plugin's HTTP threads (http_authenticator), and the
// plugin that wires them to the hooks.
#include "auth_http/auth_http_plugin.hpp"

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include <mutex>
#include <utility>

#include "auth_http/http_client.hpp"

namespace rmqtt::plugins::auth_http {

using broker::acl_action;
using broker::hook_result;

namespace {

constexpr std::string_view plugin_name = "rmqtt-auth-http";

std::int64_t steady_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

using auth_common::to_hook;

std::string connection_of(const request_facts& f) {
    return auth_common::connection_grants::key_of(f.client_id, f.listener, f.peer);
}

}  // namespace

// One deferred decision: answered once, by the HTTP thread or by the deadline, whichever comes
// first. The deadline timer lives on its own strand of the plugin pool.
struct http_authenticator::call {
    call(asio::any_io_executor ex, broker::deferred<hook_result> d)
        : strand(asio::make_strand(std::move(ex))), deadline(strand), answer(std::move(d)) {}

    bool done() {
        std::lock_guard lock(mutex);
        return finished;
    }
    // Answers with `r` unless answered already; `before` runs first, under the lock (it records
    // what the answer grants, so nothing is granted to a decision the deadline took). True when
    // this call answered.
    template <class F>
    bool finish(hook_result r, F&& before) {
        {
            std::lock_guard lock(mutex);
            if (finished) return false;
            finished = true;
            before();
        }
        answer.resolve(r);  // outside the lock: the chain goes on from here
        return true;
    }

    asio::strand<asio::any_io_executor> strand;
    asio::steady_timer deadline;
    std::mutex mutex;
    bool finished = false;
    broker::deferred<hook_result> answer;
};

http_authenticator::http_authenticator(auth_http_config cfg, asio::any_io_executor timers,
                                       transport send, kicker kick)
    : cfg_(std::move(cfg)),
      timers_(std::move(timers)),
      send_(std::move(send)),
      kick_(std::move(kick)),
      http_threads_(cfg_.http_concurrency) {}

http_authenticator::~http_authenticator() {
    stop();
}

void http_authenticator::stop() {
    stopping_ = true;
    // The last owner may be a job on one of these threads (the hooks and the plugin let go
    // first): a thread cannot join its own pool, and the job is the last one anyway.
    if (http_threads_.get_executor().running_in_this_thread()) {
        http_threads_.stop();
        return;
    }
    http_threads_.join();
}

hook_result http_authenticator::authenticate(const broker::client_info& c,
                                             const std::optional<std::string>& password,
                                             broker::decision_scope<hook_result>& scope) {
    if (!cfg_.auth_req) return hook_result::next;
    auto facts = request_facts::of(c);
    facts.password = password;
    return ask(kind::auth, *cfg_.auth_req, std::move(facts), scope);
}

hook_result http_authenticator::check_acl(const broker::client_info& c, acl_action a,
                                          std::string_view topic,
                                          broker::decision_scope<hook_result>& scope) {
    if (const auto g = grants_.find(c)) {
        if (g->superuser) return hook_result::allow;
        const auto v = a == acl_action::subscribe
                           ? auth_common::check_subscribe(g->rules, topic)
                           : auth_common::check_publish_topic(g->rules, topic);
        if (v == auth_common::verdict::needs_message) return hook_result::next;
        if (v != auth_common::verdict::no_match) {
            auto facts = request_facts::of(c);
            facts.access = a;
            facts.topic = topic;
            after(kind::acl, to_hook(v), facts);
            return to_hook(v);
        }
    }
    if (!cfg_.acl_req) return hook_result::next;
    auto facts = request_facts::of(c);
    facts.access = a;
    facts.topic = topic;
    return ask(kind::acl, *cfg_.acl_req, std::move(facts), scope);
}

hook_result http_authenticator::check_message(const broker::message& m,
                                              const broker::client_info& from) {
    const auto g = grants_.find(from);
    if (!g || g->superuser || !g->rules_need_message()) return hook_result::next;
    if (auth_common::check_publish(g->rules, m.topic, m.qos, m.retain) !=
        auth_common::verdict::deny)
        return hook_result::next;
    auto facts = request_facts::of(from);
    facts.access = acl_action::publish;
    facts.topic = m.topic;
    after(kind::acl, hook_result::deny, facts);
    return hook_result::deny;
}

std::shared_ptr<const auth_common::connection_grant> http_authenticator::confirmed(
    const broker::events::client& who) {
    return grants_.confirm(who);
}

bool http_authenticator::gone(const broker::events::client& who) {
    cache_.forget_connection(auth_common::connection_grants::key_of(who));
    return grants_.erase(who);
}

hook_result http_authenticator::ask(kind k, const http_endpoint& e, request_facts facts,
                                    broker::decision_scope<hook_result>& scope) {
    auto req = build_request(cfg_, e, facts);
    auto key = cache_key(k == kind::auth ? "auth" : "acl", req);
    if (auto hit = cache_.find(key, result_cache::clock::now())) {
        ++stats_.cache_hits;
        std::shared_ptr<const auth_common::connection_grant> grant;
        const auto r = decide(k, hit, {}, facts, grant);
        if (grant) grants_.put(facts.info(), std::move(grant));
        after(k, r, facts);
        return r;
    }
    const bool stopping = stopping_.load();
    if (stopping || in_flight_.fetch_add(1) >= cfg_.http_concurrency + cfg_.http_queue_max) {
        if (!stopping) {
            --in_flight_;
            ++stats_.queue_full;
        }
        std::shared_ptr<const auth_common::connection_grant> none;
        const auto r = decide(k, std::nullopt,
                              stopping ? "shutting down"
                                       : "too many requests waiting for the HTTP server "
                                         "(http_concurrency + http_queue_max)",
                              facts, none);
        after(k, r, facts);
        return r;
    }
    auto c = std::make_shared<call>(timers_, scope.defer());
    // The deadline: answered as a failed request if the server has not answered by then.
    c->deadline.expires_after(cfg_.http_timeout);
    c->deadline.async_wait([self = shared_from_this(), c, k, facts](std::error_code ec) {
        if (ec) return;  // the answer came first
        std::shared_ptr<const auth_common::connection_grant> none;
        const auto r = self->decide(k, std::nullopt, "no answer within http_timeout", facts, none);
        if (c->finish(r, [] {})) self->after(k, r, facts);
    });
    asio::post(http_threads_, [self = shared_from_this(), k, c, req = std::move(req),
                               key = std::move(key), facts = std::move(facts)]() mutable {
        self->run(k, std::move(c), std::move(req), std::move(key), std::move(facts));
    });
    return hook_result::pending;
}

void http_authenticator::run(kind k, std::shared_ptr<call> c, http_request req, std::string key,
                             request_facts facts) {
    // Answered by the deadline already: the server is not asked.
    const bool ask = !c->done();
    std::optional<http_answer> answer;
    std::string why = "shutting down";
    if (ask && !stopping_) {
        ++stats_.requests;
        const auto response = send_(req, cfg_.http_timeout);
        answer = read_answer(response, why);
        if (answer) cache_.put(key, *answer, connection_of(facts), result_cache::clock::now());
    }
    // The request is over: its slot is free before the answer is delivered, so whatever the
    // answer sets off (the next client's request) does not find it still taken.
    --in_flight_;
    if (ask && !c->done()) {
        std::shared_ptr<const auth_common::connection_grant> grant;
        const auto r = decide(k, answer, why, facts, grant);
        if (c->finish(r, [&] {
                if (grant) grants_.put(facts.info(), std::move(grant));
            })) {
            after(k, r, facts);
        }
    }
    asio::post(c->strand, [c] { c->deadline.cancel(); });
}

hook_result http_authenticator::decide(
    kind k, const std::optional<http_answer>& answer, std::string_view why,
    const request_facts& facts, std::shared_ptr<const auth_common::connection_grant>& grant) {
    if (!answer) {
        ++stats_.failures;
        log_failure(k, facts, why);
        return cfg_.deny_if_error ? hook_result::deny : hook_result::next;
    }
    switch (answer->result) {
        case http_answer::verdict::deny:
            return hook_result::deny;
        case http_answer::verdict::ignore:
            return hook_result::next;
        case http_answer::verdict::allow:
            break;
    }
    if (k == kind::acl) return hook_result::allow;
    auto g = std::make_shared<auth_common::connection_grant>();
    g->superuser = answer->superuser;
    if (!answer->acl_json.empty()) {
        std::string error;
        const auto info = facts.info();
        auto rules = auth_common::parse_rules(nlohmann::json::parse(answer->acl_json), info, error);
        if (!rules) {
            spdlog::info("{}: {} ({}): refused: the answer's acl: {}", plugin_name, facts.client_id,
                         facts.peer, error);
            return hook_result::deny;
        }
        g->rules = std::move(*rules);
    }
    if (cfg_.disconnect_if_expiry) g->expire_at_s = answer->expire_at_s;
    if (!g->empty()) grant = std::move(g);
    return hook_result::allow;
}

void http_authenticator::after(kind k, hook_result r, const request_facts& facts) {
    if (k == kind::acl && r == hook_result::deny && facts.access == acl_action::publish &&
        cfg_.disconnect_if_pub_rejected && kick_) {
        kick_(facts, "PUBLISH to \"" + facts.topic + "\" refused (disconnect_if_pub_rejected)");
    }
}

void http_authenticator::log_failure(kind k, const request_facts& facts, std::string_view why) {
    // A dead server fails every request: at most one line per second says so.
    const auto now = steady_ms();
    auto last = last_failure_log_ms_.load();
    if (now - last < 1000 || !last_failure_log_ms_.compare_exchange_strong(last, now)) {
        ++unlogged_failures_;
        return;
    }
    const auto more = unlogged_failures_.exchange(0);
    spdlog::warn(
        "{}: {} ({}): {} request failed: {}; {} (deny_if_error = {}){}", plugin_name,
        facts.client_id, facts.peer, k == kind::auth ? "authentication" : "ACL", why,
        cfg_.deny_if_error ? "denied" : "ignored", cfg_.deny_if_error,
        more > 0 ? fmt::format(" ({} more failures since the last report)", more) : std::string());
}

// ---- the plugin --------------------------------------------------------------------------------

namespace {

class auth_http_plugin final : public broker::plugin {
  public:
    void configure(const broker::config_section& section) override {
        config_ = parse_auth_http_config(section);
    }

    void start(broker::plugin_context& ctx) override {
        if (!config_.auth_req && !config_.acl_req) {
            spdlog::warn(
                "{}: neither http_auth_req nor http_acl_req is configured: the plugin "
                "decides nothing",
                plugin_name);
        }
        auto* context = &ctx;  // the plugin host outlives every connection
        auto kick = [context](const request_facts& who, std::string why) {
            asio::post(context->executor(), [context, who, why = std::move(why)] {
                auth_common::kick_connection(context->broker(), who.client_id, who.listener,
                                             who.peer, why);
            });
        };
        auth_ = std::make_shared<http_authenticator>(config_, ctx.executor(), send_http,
                                                     std::move(kick));
        std::shared_ptr<http_authenticator> a = auth_;
        const int prio = config_.priority;
        auto& bus = ctx.hooks();
        if (config_.auth_req) {
            bus.on_authenticate(
                prio,
                broker::hook_bus::async_authenticate_handler(
                    [a](const broker::client_info& c, const std::optional<std::string>& password,
                        hook_result, broker::decision_scope<hook_result>& scope) {
                        return a->authenticate(c, password, scope);
                    }));
            bus.on_message_publish(prio, [a](broker::message& m, const broker::client_info& from,
                                             hook_result, broker::decision_scope<hook_result>&) {
                return a->check_message(m, from);
            });
        }
        bus.on_acl(prio,
                   broker::hook_bus::async_acl_handler(
                       [a](const broker::client_info& c, acl_action action, std::string_view topic,
                           hook_result, broker::decision_scope<hook_result>& scope) {
                           return a->check_acl(c, action, topic, scope);
                       }));

        std::weak_ptr<auth_common::expiry_watch> weak_watch;
        if (config_.disconnect_if_expiry) {
            std::weak_ptr<http_authenticator> weak = a;
            watch_ = std::make_shared<auth_common::expiry_watch>(
                ctx.executor(), [weak, context](const std::string& conn) {
                    const auto s = weak.lock();
                    if (!s || !s->grants().find(conn)) return;
                    const auto x = conn.find('\0');
                    const auto y = conn.find('\0', x + 1);
                    auth_common::kick_connection(context->broker(), conn.substr(0, x),
                                                 conn.substr(x + 1, y - x - 1), conn.substr(y + 1),
                                                 "its authentication expired (expire_at, "
                                                 "disconnect_if_expiry)");
                });
            weak_watch = watch_;
        }
        bus.on<broker::events::client_connected>([a, weak_watch](
                                                     const broker::events::client_connected& e) {
            const auto g = a->confirmed(e.who);
            if (!g || !g->expire_at_s) return;
            if (const auto w = weak_watch.lock()) {
                w->watch(
                    auth_common::connection_grants::key_of(e.who),
                    std::chrono::system_clock::time_point(std::chrono::seconds(*g->expire_at_s)));
            }
        });
        const auto gone = [a, weak_watch](const broker::events::client& who) {
            if (!a->gone(who)) return;
            if (const auto w = weak_watch.lock())
                w->forget(auth_common::connection_grants::key_of(who));
        };
        bus.on<broker::events::client_disconnected>(
            [gone](const broker::events::client_disconnected& e) { gone(e.who); });
        bus.on<broker::events::connect_refused>(
            [gone](const broker::events::connect_refused& e) { gone(e.who); });

        spdlog::info(
            "{}: authentication {}, ACL {}; http_timeout {} ms, {} HTTP threads, {} "
            "waiting at most",
            plugin_name, config_.auth_req ? config_.auth_req->url : "off",
            config_.acl_req ? config_.acl_req->url : "off", config_.http_timeout.count(),
            config_.http_concurrency, config_.http_queue_max);
    }

    void stop() override {
        if (auth_) auth_->stop();
        if (watch_) watch_->stop();
        watch_.reset();
    }

  private:
    auth_http_config config_;
    std::shared_ptr<http_authenticator> auth_;
    std::shared_ptr<auth_common::expiry_watch> watch_;
};

}  // namespace

std::unique_ptr<broker::plugin> make_plugin() {
    return std::make_unique<auth_http_plugin>();
}

}  // namespace rmqtt::plugins::auth_http
