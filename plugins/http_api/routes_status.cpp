// Routes about the node: brokers, nodes, health, stats, metrics (JSON and Prometheus).
#include <fmt/format.h>
#include <sys/sysinfo.h>
#include <nlohmann/json.hpp>

#include <cstdlib>

#include "http_api/api_helpers.hpp"
#include "http_api/api_routes.hpp"
#include "http_api/prometheus.hpp"
#include "rmqtt/broker/clock.hpp"

namespace rmqtt::plugins::http_api {

void api_routes::add_status_routes() {
    auto& b = broker_;
    const auto node = b.node_id();
    const auto check_node = [node](const std::string& id) { require_node(node, id); };
    const auto node_json = [node] { return node_brief(node); };

    // ---- brokers, nodes, health -------------------------------------------------------------
    const auto broker_info = [&b, node] {
        const auto up = (broker::wall_now_ms() - b.started_at_ms()) / 1000;
        return json{
            {"datetime", format_time(broker::wall_now_ms())},
            {"node_id", node},
            {"node_name", node_name(node)},
            {"running", b.serving()},
            {"sysdescr", "rmqttd MQTT broker"},
            {"uptime", format_uptime(up)},
            {"uptime_seconds", up},
            {"version", fmt::format("rmqttd/{}", b.version())},
        };
    };
    add("GET", "/brokers", [broker_info](const api_request&, const std::smatch&) {
        return json_response(json::array({broker_info()}));
    });
    add("GET", "/brokers/{id}",
        [broker_info, check_node](const api_request&, const std::smatch& m) {
            check_node(m[1]);
            return json_response(broker_info());
        });
    const auto node_info = [&b, node] {
        const auto up = (broker::wall_now_ms() - b.started_at_ms()) / 1000;
        const auto metrics = b.metrics();
        double load[3] = {0, 0, 0};
        if (getloadavg(load, 3) != 3) load[0] = load[1] = load[2] = 0;
        struct sysinfo si {};
        const bool have_si = sysinfo(&si) == 0;
        const auto unit = have_si ? static_cast<std::int64_t>(si.mem_unit) : 0;
        return json{
            {"node_id", node},
            {"node_name", node_name(node)},
            {"node_status", b.serving() ? "Running" : "Starting"},
            {"version", fmt::format("rmqttd/{}", b.version())},
            {"boottime", format_time(b.started_at_ms())},
            {"uptime", format_uptime(up)},
            {"uptime_seconds", up},
            {"connections", metric(metrics, "connections")},
            {"sessions", metric(metrics, "sessions")},
            {"memory_rss", memory_rss()},
            {"memory_total", have_si ? static_cast<std::int64_t>(si.totalram) * unit : 0},
            {"memory_free", have_si ? static_cast<std::int64_t>(si.freeram) * unit : 0},
            {"load1", load[0]},
            {"load5", load[1]},
            {"load15", load[2]},
        };
    };
    add("GET", "/nodes", [node_info](const api_request&, const std::smatch&) {
        return json_response(json::array({node_info()}));
    });
    add("GET", "/nodes/{id}", [node_info, check_node](const api_request&, const std::smatch& m) {
        check_node(m[1]);
        return json_response(node_info());
    });
    const auto health = [&b, node] {
        const bool running = b.serving();
        return json_response({{"running", running}, {"node_id", node}, {"nodes", 1}},
                             running ? 200 : 503);
    };
    add("GET", "/health/check",
        [health](const api_request&, const std::smatch&) { return health(); });
    add("GET", "/health/check/{id}",
        [health, check_node](const api_request&, const std::smatch& m) {
            check_node(m[1]);
            return health();
        });

    // ---- stats, metrics ----------------------------------------------------------------------
    const auto stats = [&b] {
        const auto metrics = b.metrics();
        std::int64_t inflight = 0;
        std::int64_t queued = 0;
        for (const auto& s : b.sessions()) {
            inflight += static_cast<std::int64_t>(s.inflight);
            queued += static_cast<std::int64_t>(s.queued);
        }
        return json{
            {"handshakings.count", metric(metrics, "handshaking")},
            {"connections.count", metric(metrics, "connections")},
            {"sessions.count", metric(metrics, "sessions")},
            {"subscriptions.count", metric(metrics, "subscriptions")},
            {"subscriptions_shared.count", metric(metrics, "subscriptions.shared")},
            {"routes.count", metric(metrics, "routes")},
            {"topics.count", metric(metrics, "routes")},
            {"retaineds.count", metric(metrics, "retained")},
            {"out_inflights.count", inflight},
            {"message_queues.count", queued},
        };
    };
    add("GET", "/stats", [stats, node_json](const api_request&, const std::smatch&) {
        return json_response(json::array({{{"node", node_json()}, {"stats", stats()}}}));
    });
    add("GET", "/stats/sum", [stats, node_json, node](const api_request&, const std::smatch&) {
        return json_response(
            {{"nodes", {{std::to_string(node), node_json()}}}, {"stats", stats()}});
    });
    add("GET", "/stats/{id}",
        [stats, node_json, check_node](const api_request&, const std::smatch& m) {
            check_node(m[1]);
            return json_response({{"node", node_json()}, {"stats", stats()}});
        });
    const auto metrics = [&b] {
        json out = json::object();
        for (const auto& [k, v] : b.metrics())
            out[k] = v;
        return out;
    };
    add("GET", "/metrics", [metrics, node_json](const api_request&, const std::smatch&) {
        return json_response(json::array({{{"node", node_json()}, {"metrics", metrics()}}}));
    });
    add("GET", "/metrics/sum",
        [metrics](const api_request&, const std::smatch&) { return json_response(metrics()); });
    const auto prometheus = [this](bool node_label) {
        const std::string key = node_label ? "node" : "sum";
        const auto now = std::chrono::steady_clock::now();
        std::lock_guard lock(prometheus_mutex_);
        auto& [at, text] = prometheus_cache_[key];
        if (text.empty() || cfg_.prometheus_metrics_cache_interval.count() == 0 ||
            now - at >= cfg_.prometheus_metrics_cache_interval) {
            text = render_prometheus(broker_, node_label);
            at = now;
        }
        api_response r;
        r.body = text;
        r.content_type = "text/plain; version=0.0.4; charset=utf-8";
        return r;
    };
    add("GET", "/metrics/prometheus",
        [prometheus](const api_request&, const std::smatch&) { return prometheus(true); });
    add("GET", "/metrics/prometheus/sum",
        [prometheus](const api_request&, const std::smatch&) { return prometheus(false); });
    add("GET", "/metrics/prometheus/{id}",
        [prometheus, check_node](const api_request&, const std::smatch& m) {
            check_node(m[1]);
            return prometheus(true);
        });
    add("GET", "/metrics/{id}",
        [metrics, node_json, check_node](const api_request&, const std::smatch& m) {
            check_node(m[1]);
            return json_response({{"node", node_json()}, {"metrics", metrics()}});
        });
}

}  // namespace rmqtt::plugins::http_api
