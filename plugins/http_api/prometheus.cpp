#include "http_api/prometheus.hpp"

#include <fmt/format.h>

#include <map>
#include <string_view>

#include "rmqtt/broker/clock.hpp"

namespace rmqtt::plugins::http_api {

namespace {

struct family {
    std::string_view metric;  // broker_api::metrics() name
    std::string_view name;    // Prometheus name
    std::string_view type;    // counter, gauge
    std::string_view help;
    std::string_view label = {};  // extra label, "reason=\"expired\""
};

// Families with more than one sample (labelled by reason) list one row per sample, together.
constexpr family families[] = {
    {"connections", "rmqtt_connections", "gauge", "Connected MQTT clients."},
    {"handshaking", "rmqtt_handshaking", "gauge", "Connections in their CONNECT handshake."},
    {"sessions", "rmqtt_sessions", "gauge", "Sessions (online and offline)."},
    {"subscriptions", "rmqtt_subscriptions", "gauge", "Subscriptions, shared ones included."},
    {"subscriptions.shared", "rmqtt_subscriptions_shared", "gauge", "Shared subscriptions."},
    {"routes", "rmqtt_routes", "gauge", "Distinct topic filters subscribed."},
    {"retained", "rmqtt_retained_messages", "gauge", "Retained messages."},
    {"client.connect", "rmqtt_client_connect_total", "counter", "CONNECT packets received."},
    {"client.connack.refused", "rmqtt_client_connack_refused_total", "counter",
     "Connections refused in CONNACK."},
    {"client.disconnected", "rmqtt_client_disconnected_total", "counter",
     "Connections that ended."},
    {"client.takeover", "rmqtt_client_takeover_total", "counter",
     "Sessions taken over by a new connection of the same client id."},
    {"client.keepalive_timeout", "rmqtt_client_keepalive_timeout_total", "counter",
     "Connections closed for a keep-alive timeout."},
    {"client.protocol_error", "rmqtt_client_protocol_error_total", "counter",
     "Connections closed for a protocol error."},
    {"messages.received", "rmqtt_messages_received_total", "counter",
     "PUBLISH packets received from clients."},
    {"messages.sent", "rmqtt_messages_sent_total", "counter", "PUBLISH packets sent to clients."},
    {"messages.dropped.expired", "rmqtt_messages_dropped_total", "counter",
     "Messages dropped, by reason.", "reason=\"expired\""},
    {"messages.dropped.queue_full", "rmqtt_messages_dropped_total", "counter", "",
     "reason=\"queue_full\""},
    {"messages.dropped.too_large", "rmqtt_messages_dropped_total", "counter", "",
     "reason=\"too_large\""},
    {"messages.dropped.no_subscribers", "rmqtt_messages_dropped_total", "counter", "",
     "reason=\"no_subscribers\""},
    {"messages.dropped.slow_consumer", "rmqtt_messages_dropped_total", "counter", "",
     "reason=\"slow_consumer\""},
    {"messages.dropped", "rmqtt_session_messages_dropped_total", "counter",
     "Messages removed from a session's queue without being delivered (any reason)."},
    {"messages.backpressure", "rmqtt_messages_backpressure_total", "counter",
     "QoS 1/2 acknowledgements that waited for room in a subscriber's queue."},
    {"messages.will", "rmqtt_messages_will_total", "counter", "Will messages published."},
    {"session.expired", "rmqtt_session_expired_total", "counter", "Sessions that expired."},
    {"bytes.received", "rmqtt_bytes_received_total", "counter", "Bytes received from clients."},
    {"bytes.sent", "rmqtt_bytes_sent_total", "counter", "Bytes sent to clients."},
    {"store.errors", "rmqtt_store_errors_total", "counter", "Session store writes that failed."},
    {"store.pending_bytes", "rmqtt_store_pending_bytes", "gauge",
     "Bytes submitted to the session store and not yet committed."},
    {"store.ops_written", "rmqtt_store_ops_written_total", "counter",
     "Operations the session store wrote."},
    {"store.groups_written", "rmqtt_store_commits_total", "counter",
     "Group commits the session store made."},
    {"store.bytes_written", "rmqtt_store_bytes_written_total", "counter",
     "Bytes the session store's engine reports written."},
    {"recovery.sessions", "rmqtt_recovery_sessions", "gauge",
     "Sessions restored from the session store at start-up."},
};

std::string labels(bool node_label, std::uint64_t node, std::string_view extra) {
    std::string out;
    if (node_label) out = fmt::format("node=\"{}\"", node);
    if (!extra.empty()) {
        if (!out.empty()) out += ',';
        out += extra;
    }
    return out.empty() ? out : "{" + out + "}";
}

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

std::string render_prometheus(broker::broker_api& broker, bool node_label) {
    const auto node = broker.node_id();
    std::map<std::string, std::int64_t, std::less<>> values;
    for (auto& [name, v] : broker.metrics())
        values[name] = v;
    std::string out;
    std::string_view last;
    for (const auto& f : families) {
        const auto it = values.find(f.metric);
        if (it == values.end()) continue;  // e.g. no session store
        if (f.name != last) header(out, f.name, f.type, f.help);
        last = f.name;
        out += fmt::format("{}{} {}\n", f.name, labels(node_label, node, f.label), it->second);
    }

    // Queue depth and inflight, summed over the sessions.
    std::int64_t inflight = 0;
    std::int64_t queued = 0;
    for (const auto& s : broker.sessions()) {
        inflight += static_cast<std::int64_t>(s.inflight);
        queued += static_cast<std::int64_t>(s.queued);
    }
    header(out, "rmqtt_inflight_messages", "gauge",
           "QoS 1/2 messages sent to clients and not yet acknowledged.");
    out += fmt::format("rmqtt_inflight_messages{} {}\n", labels(node_label, node, {}), inflight);
    header(out, "rmqtt_queued_messages", "gauge", "Messages waiting in sessions' queues.");
    out += fmt::format("rmqtt_queued_messages{} {}\n", labels(node_label, node, {}), queued);

    const auto started = broker.started_at_ms();
    header(out, "rmqtt_uptime_seconds", "gauge", "Seconds since the broker started.");
    out += fmt::format("rmqtt_uptime_seconds{} {:.3f}\n", labels(node_label, node, {}),
                       static_cast<double>(broker::wall_now_ms() - started) / 1000.0);
    header(out, "rmqtt_recovery_duration_seconds", "gauge",
           "How long recovering the sessions from the session store took at start-up.");
    out += fmt::format("rmqtt_recovery_duration_seconds{} {:.3f}\n", labels(node_label, node, {}),
                       static_cast<double>(values["recovery.duration_ms"]) / 1000.0);

    const auto h = broker.store_commit_latency();
    if (!h.bounds_us.empty()) {
        constexpr std::string_view name = "rmqtt_store_commit_latency_seconds";
        header(out, name, "histogram",
               "Session store commit latency, from submission to completion of each batch.");
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i <= h.bounds_us.size(); ++i) {
            cumulative += h.counts[i];
            const std::string le =
                i < h.bounds_us.size()
                    ? fmt::format("le=\"{}\"", static_cast<double>(h.bounds_us[i]) / 1e6)
                    : std::string("le=\"+Inf\"");
            out += fmt::format("{}_bucket{} {}\n", name, labels(node_label, node, le), cumulative);
        }
        out += fmt::format("{}_sum{} {}\n", name, labels(node_label, node, {}),
                           static_cast<double>(h.sum_us) / 1e6);
        out += fmt::format("{}_count{} {}\n", name, labels(node_label, node, {}), h.count);
    }
    return out;
}

}  // namespace rmqtt::plugins::http_api
