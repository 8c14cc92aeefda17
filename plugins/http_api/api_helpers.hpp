#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http_api/api_routes.hpp"
#include "rmqtt/broker/base64.hpp"
#include "rmqtt/protocol/types.hpp"

// What the route files (routes_*.cpp) share: errors as exceptions the dispatcher turns into JSON
// answers, query and body readers that refuse what they cannot use (400), and small shapes.

namespace rmqtt::plugins::http_api {

using json = nlohmann::json;

// Thrown by a handler for an answer other than 200; api_routes::handle() answers it as JSON.
struct http_error : std::runtime_error {
    int status;
    http_error(int s, const std::string& m) : std::runtime_error(m), status(s) {}
};
[[noreturn]] inline void bad_request(const std::string& m) {
    throw http_error(400, m);
}
[[noreturn]] inline void not_found(const std::string& m) {
    throw http_error(404, m);
}

// How long a subscribe / unsubscribe on behalf of a client may take (the session's thread and
// the store commit).
inline constexpr auto session_request_timeout = std::chrono::seconds(10);

api_response json_response(const json& j, int status = 200);

// "2024-01-31 12:00:00", local time, as RMQTT shows times; "" for 0.
std::string format_time(std::int64_t ms);
// "1 days 2 hours, 3 minutes, 4 seconds", as RMQTT shows the uptime.
std::string format_uptime(std::int64_t seconds);
using broker::base64_encode;

// ---- query parameters: nullopt when absent, 400 when present and unusable
const std::string* param(const api_request& r, const std::string& name);
std::optional<std::int64_t> int_param(const api_request& r, const std::string& name,
                                      std::int64_t lo = 0,
                                      std::int64_t hi = std::numeric_limits<std::int64_t>::max());
std::optional<bool> bool_param(const api_request& r, const std::string& name);
// _limit / limit: at most `max` rows (max_row_limit); above it is a 400.
std::size_t row_limit(const api_request& r, const std::string& name, std::size_t max);

// ---- JSON bodies: a JSON object; fields nullopt when absent or null, 400 when of another type
json parse_body(const api_request& r);
std::optional<std::string> body_string(const json& j, const char* key);
std::optional<bool> body_bool(const json& j, const char* key);
std::optional<std::int64_t> body_int(const json& j, const char* key, std::int64_t lo,
                                     std::int64_t hi);
// "topic" or "topics" (comma-separated), at least one.
std::vector<std::string> body_topics(const json& j);
protocol::qos body_qos(const json& j);

// ---- the node
// "1@hostname", as RMQTT names nodes.
std::string node_name(std::uint64_t node);
// Resident set size of this process, from /proc/self/statm (0 when unreadable).
std::int64_t memory_rss();
// The value of one broker_api::metrics() entry (0 when absent).
std::int64_t metric(const std::vector<std::pair<std::string, std::int64_t>>& m,
                    std::string_view name);
// {id} / {node} of a path: this node, else 404.
void require_node(std::uint64_t node, const std::string& id);
// {"id", "name", "status"} of the node, as /stats and /metrics show it.
json node_brief(std::uint64_t node);

}  // namespace rmqtt::plugins::http_api
