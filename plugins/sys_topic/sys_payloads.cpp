// The periodic $SYS payloads.
#include "sys_topic/sys_payloads.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <ctime>
#include <string_view>

namespace rmqtt::plugins::sys_topic {

namespace {

// The broker's gauge -> RMQTT's stats names (without ".count" / ".max").
constexpr std::array<std::pair<std::string_view, std::string_view>, 7> gauges{{
    {"connections", "connections"},
    {"handshaking", "handshakings"},
    {"sessions", "sessions"},
    {"subscriptions", "subscriptions"},
    {"subscriptions.shared", "subscriptions_shared"},
    {"routes", "routes"},
    {"retained", "retained"},
}};

bool is_gauge(std::string_view name) {
    return std::any_of(gauges.begin(), gauges.end(),
                       [&](const auto& g) { return g.first == name; });
}

}  // namespace

nlohmann::json stats_json(const metric_list& metrics, std::map<std::string, std::int64_t>& maxima) {
    nlohmann::json out = nlohmann::json::object();
    const auto put = [&](std::string_view name, std::int64_t v) {
        auto& m = maxima[std::string(name)];
        m = std::max(m, v);
        out[fmt::format("{}.count", name)] = v;
        out[fmt::format("{}.max", name)] = m;
    };
    for (const auto& [name, value] : metrics) {
        for (const auto& [ours, theirs] : gauges) {
            if (name != ours) continue;
            put(theirs, value);
            // One node: every topic filter in the router is one route (RMQTT counts both).
            if (ours == "routes") put("topics", value);
        }
    }
    return out;
}

nlohmann::json metrics_json(const metric_list& metrics) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [name, value] : metrics) {
        if (!is_gauge(name)) out[name] = value;
    }
    return out;
}

std::string uptime_text(std::int64_t seconds) {
    seconds = std::max<std::int64_t>(seconds, 0);
    return fmt::format("{} days {} hours, {} minutes, {} seconds", seconds / 86400,
                       seconds % 86400 / 3600, seconds % 3600 / 60, seconds % 60);
}

std::string datetime_text(std::int64_t wall_ms) {
    const std::time_t secs = static_cast<std::time_t>(wall_ms / 1000);
    std::tm tm{};
    localtime_r(&secs, &tm);
    char buf[32];
    const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    return std::string(buf, n);
}

}  // namespace rmqtt::plugins::sys_topic
