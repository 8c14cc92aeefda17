#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

// The periodic $SYS payloads, built from the broker API's metrics. Pure.
namespace rmqtt::plugins::sys_topic {

using metric_list = std::vector<std::pair<std::string, std::int64_t>>;

// $SYS/brokers/{node}/stats, RMQTT's names: "connections.count", "connections.max", ... for
// the gauges the broker has (connections, handshakings, sessions, subscriptions,
// subscriptions_shared, routes, topics, retained). `maxima` keeps the largest value each gauge
// had at the samples so far (the caller keeps it between calls).
nlohmann::json stats_json(const metric_list& metrics, std::map<std::string, std::int64_t>& maxima);

// $SYS/brokers/{node}/metrics: every counter of the broker by its name (the gauges of
// stats_json left out).
nlohmann::json metrics_json(const metric_list& metrics);

// $SYS/brokers/{node}/uptime as RMQTT writes it: "5 days 23 hours, 16 minutes, 3 seconds".
std::string uptime_text(std::int64_t seconds);
// $SYS/brokers/{node}/datetime: local time "%Y-%m-%d %H:%M:%S".
std::string datetime_text(std::int64_t wall_ms);

}  // namespace rmqtt::plugins::sys_topic
