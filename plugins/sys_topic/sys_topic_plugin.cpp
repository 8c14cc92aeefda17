// rmqtt-sys-topic: events and a timer in, $SYS messages out, on a strand of the plugin pool.
#include "sys_topic/sys_topic_plugin.hpp"

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <unordered_map>

#include "rmqtt/broker/events.hpp"
#include "sys_topic/sys_payloads.hpp"
#include "sys_topic/sys_topic_config.hpp"
#include "web_hook/hook_body.hpp"

namespace rmqtt::plugins::sys_topic {

namespace ev = broker::events;
using web_hook::client_facts;
using web_hook::json;

namespace {

constexpr std::string_view plugin_name = "rmqtt-sys-topic";

std::int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The running plugin. Everything but stop() runs on `strand`; `mutex` is held while a handler
// uses the broker, so stop() returns only once none does, and none does afterwards.
class publisher : public std::enable_shared_from_this<publisher> {
  public:
    publisher(sys_topic_config cfg, broker::broker_api& api, asio::any_io_executor ex)
        : cfg_(cfg),
          api_(api),
          node_(api.node_id()),
          prefix_(fmt::format("$SYS/brokers/{}/", node_)),
          strand_(asio::make_strand(std::move(ex))),
          timer_(strand_) {}

    template <class Event>
    void post(Event e) {
        asio::post(strand_, [self = shared_from_this(), e = std::move(e), at = wall_ms()] {
            std::lock_guard lock(self->mutex_);
            if (self->stopped_) return;
            self->on(e, at);
        });
    }

    void start_timer() {
        timer_.expires_after(cfg_.publish_interval);
        timer_.async_wait([self = shared_from_this()](const std::error_code& ec) {
            if (ec) return;
            {
                std::lock_guard lock(self->mutex_);
                if (self->stopped_) return;
                self->periodic();
            }
            self->start_timer();
        });
    }

    void stop() {
        {
            std::lock_guard lock(mutex_);
            stopped_ = true;
        }
        asio::post(strand_, [self = shared_from_this()] { self->timer_.cancel(); });
    }

  private:
    void publish(const std::string& topic, std::string payload) {
        broker::message m;
        m.topic = topic;
        m.payload = std::move(payload);
        m.qos = cfg_.publish_qos;
        m.retain = false;  // as RMQTT
        m.created_at_ms = wall_ms();
        if (cfg_.message_expiry_interval.count() > 0)
            m.expiry_at_ms = m.created_at_ms + cfg_.message_expiry_interval.count();
        (void)api_.publish(std::move(m));
    }

    void publish_event(const std::string& path, json body, std::int64_t at) {
        web_hook::stamp(body, at);
        publish(prefix_ + path, body.dump());
    }

    void periodic() {
        const auto now = wall_ms();
        publish(prefix_ + "version", std::string(api_.version()));
        // Since the process started (the broker API's clock), as the HTTP API reports it.
        publish(prefix_ + "uptime",
                uptime_text(std::max<std::int64_t>(0, (now - api_.started_at_ms()) / 1000)));
        publish(prefix_ + "datetime", datetime_text(now));
        const auto metrics = api_.metrics();
        publish(prefix_ + "stats", stats_json(metrics, maxima_).dump());
        publish(prefix_ + "metrics", metrics_json(metrics).dump());
    }

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

    void on(const ev::client_connected& e, std::int64_t at) {
        auto& f = directory_[e.who.client_id];
        const auto created = f.created_at_ms != 0 ? f.created_at_ms : at;
        f = client_facts{e.who.client_id, e.who.username, e.who.peer, e.who.version, created};
        publish_event(fmt::format("clients/{}/connected", e.who.client_id),
                      web_hook::connected_body(node_, e, at), at);
    }
    void on(const ev::client_disconnected& e, std::int64_t at) {
        publish_event(fmt::format("clients/{}/disconnected", e.who.client_id),
                      web_hook::disconnected_body(node_, e, at), at);
    }
    void on(const ev::session_created& e, std::int64_t at) {
        const auto f = web_hook::created_facts(directory_, e, at);
        publish_event(fmt::format("session/{}/created", e.client_id),
                      web_hook::session_created_body(node_, f), at);
    }
    void on(const ev::session_terminated& e, std::int64_t at) {
        const auto f = lookup(e.client_id);
        directory_.erase(e.client_id);
        publish_event(fmt::format("session/{}/terminated", e.client_id),
                      web_hook::session_terminated_body(node_, f, e.reason), at);
    }
    void on(const ev::subscribed& e, std::int64_t at) {
        publish_event(fmt::format("session/{}/subscribed", e.client_id),
                      web_hook::subscribed_body(node_, lookup(e.client_id), e), at);
    }
    void on(const ev::unsubscribed& e, std::int64_t at) {
        publish_event(fmt::format("session/{}/unsubscribed", e.client_id),
                      web_hook::unsubscribed_body(node_, lookup(e.client_id), e), at);
    }

    const sys_topic_config cfg_;
    broker::broker_api& api_;
    const std::uint64_t node_;
    const std::string prefix_;
    asio::strand<asio::any_io_executor> strand_;
    asio::steady_timer timer_;
    std::mutex mutex_;
    bool stopped_ = false;
    // Strand only.
    std::unordered_map<std::string, client_facts> directory_;
    std::map<std::string, std::int64_t> maxima_;
};

class sys_topic_plugin final : public broker::plugin {
  public:
    void configure(const broker::config_section& section) override {
        cfg_ = parse_sys_topic_config(section);
    }

    void start(broker::plugin_context& ctx) override {
        pub_ = std::make_shared<publisher>(cfg_, ctx.broker(), ctx.executor());
        auto& hooks = ctx.hooks();
        const auto p = pub_;
        hooks.on<ev::client_connected>([p](const ev::client_connected& e) { p->post(e); });
        hooks.on<ev::client_disconnected>([p](const ev::client_disconnected& e) { p->post(e); });
        hooks.on<ev::session_created>([p](const ev::session_created& e) { p->post(e); });
        hooks.on<ev::session_terminated>([p](const ev::session_terminated& e) { p->post(e); });
        hooks.on<ev::subscribed>([p](const ev::subscribed& e) { p->post(e); });
        hooks.on<ev::unsubscribed>([p](const ev::unsubscribed& e) { p->post(e); });
        pub_->start_timer();
        spdlog::info("{}: publishing $SYS/brokers/{}/... every {} ms at QoS {}", plugin_name,
                     ctx.broker().node_id(), cfg_.publish_interval.count(),
                     static_cast<int>(cfg_.publish_qos));
    }

    void stop() override {
        if (pub_) pub_->stop();
    }

  private:
    sys_topic_config cfg_;
    std::shared_ptr<publisher> pub_;
};

}  // namespace

std::unique_ptr<broker::plugin> make_plugin() {
    return std::make_unique<sys_topic_plugin>();
}

}  // namespace rmqtt::plugins::sys_topic
