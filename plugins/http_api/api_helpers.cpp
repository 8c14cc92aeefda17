#include "http_api/api_helpers.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cctype>
#include <charconv>
#include <ctime>
#include <fstream>

namespace rmqtt::plugins::http_api {

api_response json_response(const json& j, int status) {
    api_response r;
    r.status = status;
    r.body = j.dump();
    return r;
}

std::string format_time(std::int64_t ms) {
    if (ms <= 0) return {};
    const std::time_t t = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[32];
    const auto n = std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    return std::string(buf, n);
}

std::string format_uptime(std::int64_t seconds) {
    const auto days = seconds / 86400;
    const auto hours = seconds % 86400 / 3600;
    const auto minutes = seconds % 3600 / 60;
    return fmt::format("{} days {} hours, {} minutes, {} seconds", days, hours, minutes,
                       seconds % 60);
}

// ---- query parameters -------------------------------------------------------------------------

const std::string* param(const api_request& r, const std::string& name) {
    const auto it = r.query.find(name);
    return it == r.query.end() ? nullptr : &it->second;
}

std::optional<std::int64_t> int_param(const api_request& r, const std::string& name,
                                      std::int64_t lo, std::int64_t hi) {
    const auto* p = param(r, name);
    if (!p) return std::nullopt;
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(p->data(), p->data() + p->size(), v);
    if (ec != std::errc{} || end != p->data() + p->size() || v < lo || v > hi)
        bad_request(
            fmt::format("{}: expected an integer from {} to {}, got '{}'", name, lo, hi, *p));
    return v;
}

std::optional<bool> bool_param(const api_request& r, const std::string& name) {
    const auto* p = param(r, name);
    if (!p) return std::nullopt;
    if (*p == "true" || *p == "1") return true;
    if (*p == "false" || *p == "0") return false;
    bad_request(fmt::format("{}: expected true or false, got '{}'", name, *p));
}

// _limit / limit: at most max_row_limit rows.
std::size_t row_limit(const api_request& r, const std::string& name, std::size_t max) {
    const auto v = int_param(r, name, 1);
    if (!v) return max;
    if (static_cast<std::uint64_t>(*v) > max)
        bad_request(fmt::format("{} = {} is above max_row_limit ({})", name, *v, max));
    return static_cast<std::size_t>(*v);
}

// ---- JSON bodies ------------------------------------------------------------------------------

json parse_body(const api_request& r) {
    auto j = json::parse(r.body, nullptr, false);
    if (j.is_discarded()) bad_request("the body is not JSON");
    if (!j.is_object()) bad_request("the body is not a JSON object");
    return j;
}

std::optional<std::string> body_string(const json& j, const char* key) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_string()) bad_request(fmt::format("{}: expected a string", key));
    return it->get<std::string>();
}

std::optional<bool> body_bool(const json& j, const char* key) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_boolean()) bad_request(fmt::format("{}: expected true or false", key));
    return it->get<bool>();
}

std::optional<std::int64_t> body_int(const json& j, const char* key, std::int64_t lo,
                                     std::int64_t hi) {
    const auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::nullopt;
    if (!it->is_number_integer() || it->get<std::int64_t>() < lo || it->get<std::int64_t>() > hi)
        bad_request(fmt::format("{}: expected an integer from {} to {}", key, lo, hi));
    return it->get<std::int64_t>();
}

// "topic" or "topics" (comma-separated), at least one.
std::vector<std::string> body_topics(const json& j) {
    std::vector<std::string> out;
    if (auto t = body_string(j, "topic")) out.push_back(*t);
    if (auto ts = body_string(j, "topics")) {
        std::size_t start = 0;
        while (start <= ts->size()) {
            auto end = ts->find(',', start);
            if (end == std::string::npos) end = ts->size();
            out.push_back(ts->substr(start, end - start));
            start = end + 1;
        }
    }
    if (out.empty()) bad_request("topic: missing (topic or topics)");
    return out;
}

protocol::qos body_qos(const json& j) {
    return static_cast<protocol::qos>(body_int(j, "qos", 0, 2).value_or(0));
}

std::string node_name(std::uint64_t node) {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    return fmt::format("{}@{}", node, host[0] != '\0' ? host : "localhost");
}

// Resident set size of this process, from /proc/self/statm (0 when unreadable).
std::int64_t memory_rss() {
    std::ifstream in("/proc/self/statm");
    std::int64_t size = 0;
    std::int64_t resident = 0;
    if (!(in >> size >> resident)) return 0;
    return resident * static_cast<std::int64_t>(sysconf(_SC_PAGESIZE));
}

std::int64_t metric(const std::vector<std::pair<std::string, std::int64_t>>& m,
                    std::string_view name) {
    for (const auto& [k, v] : m)
        if (k == name) return v;
    return 0;
}

void require_node(std::uint64_t node, const std::string& id) {
    if (id != std::to_string(node)) not_found(fmt::format("no node {}", id));
}

json node_brief(std::uint64_t node) {
    return json{{"id", node}, {"name", node_name(node)}, {"status", "Running"}};
}

}  // namespace rmqtt::plugins::http_api
