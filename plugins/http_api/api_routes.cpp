#include "http_api/api_routes.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>
#include <sys/sysinfo.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <future>
#include <iterator>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>

#include "http_api/prometheus.hpp"
#include "rmqtt/broker/clock.hpp"
#include "rmqtt/protocol/topic.hpp"

namespace rmqtt::plugins::http_api {

using json = nlohmann::json;

namespace {

// Thrown by the handlers for an answer other than 200.
struct http_error : std::runtime_error {
    int status;
    http_error(int s, const std::string& m) : std::runtime_error(m), status(s) {}
};
[[noreturn]] void bad_request(const std::string& m) {
    throw http_error(400, m);
}
[[noreturn]] void not_found(const std::string& m) {
    throw http_error(404, m);
}

// How long a subscribe / unsubscribe on behalf of a client may take (the session's thread and
// the store commit).
constexpr auto session_request_timeout = std::chrono::seconds(10);

api_response json_response(const json& j, int status = 200) {
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

std::string base64_encode(std::string_view in) {
    std::string out(4 * ((in.size() + 2) / 3), '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(in.data()),
                                  static_cast<int>(in.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

}  // namespace

// Strict base64 (with padding); nullopt for anything else. Shared with the plugin's basic auth.
std::optional<std::string> base64_decode(std::string_view in) {
    if (in.size() % 4 != 0) return std::nullopt;
    for (std::size_t i = 0; i < in.size(); ++i) {
        const char c = in[i];
        const bool pad_ok =
            c == '=' && i + 2 >= in.size() && (i + 1 == in.size() || in[i + 1] == '=');
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || pad_ok))
            return std::nullopt;
    }
    std::string out(in.size() / 4 * 3, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(in.data()),
                                  static_cast<int>(in.size()));
    if (n < 0) return std::nullopt;
    std::size_t len = static_cast<std::size_t>(n);
    if (in.ends_with("=="))
        len -= 2;
    else if (in.ends_with("="))
        len -= 1;
    out.resize(len);
    return out;
}

namespace {

// ---- query parameters -------------------------------------------------------------------------

const std::string* param(const api_request& r, const std::string& name) {
    const auto it = r.query.find(name);
    return it == r.query.end() ? nullptr : &it->second;
}

std::optional<std::int64_t> int_param(const api_request& r, const std::string& name,
                                      std::int64_t lo = 0,
                                      std::int64_t hi = std::numeric_limits<std::int64_t>::max()) {
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

// ---- shapes -----------------------------------------------------------------------------------

std::pair<std::string, std::uint16_t> split_peer(std::string_view peer) {
    const auto colon = peer.rfind(':');
    if (colon == std::string_view::npos) return {std::string(peer), 0};
    std::string_view host = peer.substr(0, colon);
    if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
    unsigned port = 0;
    const auto p = peer.substr(colon + 1);
    (void)std::from_chars(p.data(), p.data() + p.size(), port);
    return {std::string(host), static_cast<std::uint16_t>(port)};
}

json client_json(const broker::session_info& s, std::uint64_t node) {
    const auto [ip, port] = split_peer(s.peer);
    return {
        {"node_id", node},
        {"clientid", s.client_id},
        {"username", s.username ? json(*s.username) : json(nullptr)},
        {"proto_ver", static_cast<int>(s.version)},
        {"ip_address", ip},
        {"port", port},
        {"listener", s.listener},
        {"connected", s.online},
        {"connected_at", format_time(s.connected_at_ms)},
        {"disconnected_at", format_time(s.disconnected_at_ms)},
        {"created_at", format_time(s.created_at_ms)},
        {"clean_start", !s.persistent},
        {"expiry_interval", s.expiry_interval_s},
        {"subscriptions_cnt", s.subscriptions},
        {"inflight", s.inflight},
        {"mqueue_len", s.queued},
    };
}

json subscription_json(const broker::subscription_info& s, const std::string& client_addr,
                       std::uint64_t node) {
    bool valid = true;
    const auto shared = protocol::parse_shared_subscription(s.filter, valid);
    return {
        {"node_id", node},
        {"clientid", s.client_id},
        {"client_addr", client_addr},
        {"topic", shared ? std::string(shared->filter) : s.filter},
        {"share", shared ? json(std::string(shared->group)) : json(nullptr)},
        {"qos", static_cast<int>(s.options.max_qos)},
        {"no_local", s.options.no_local},
        {"retain_as_published", s.options.retain_as_published},
        {"retain_handling", s.options.retain_handling},
        {"subscription_id", s.subscription_id},
    };
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

}  // namespace

api_response error_response(int status, std::string_view message) {
    return json_response({{"code", status}, {"message", message}}, status);
}

api_routes::api_routes(const http_api_config& cfg, broker::broker_api& broker)
    : cfg_(cfg), broker_(broker) {
    add_routes();
}

void api_routes::add(std::string method, std::string pattern, handler fn) {
    // {name} stands for one path segment; {clientid} and {topic} may hold '/' (percent-encoded
    // in the request, decoded by the server).
    std::string re;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] == '{') {
            const auto close = pattern.find('}', i);
            const auto name = pattern.substr(i + 1, close - i - 1);
            re += (name == "clientid" || name == "topic") ? "(.+)" : "([^/]+)";
            i = close;
        } else {
            re += pattern[i];
        }
    }
    routes_.push_back({std::move(method), std::move(pattern), std::regex(re), std::move(fn)});
}

api_response api_routes::handle(const api_request& r) {
    try {
        std::set<std::string> allowed;
        for (const auto& entry : routes_) {
            std::smatch m;
            if (!std::regex_match(r.path, m, entry.re)) continue;
            if (entry.method == r.method) return entry.fn(r, m);
            allowed.insert(entry.method);
        }
        if (allowed.empty()) return error_response(404, "no such route: /api/v1" + r.path);
        std::string allow;
        for (const auto& a : allowed)
            allow += (allow.empty() ? "" : ", ") + a;
        auto resp =
            error_response(405, fmt::format("method {} not allowed; allowed: {}", r.method, allow));
        resp.headers.emplace_back("Allow", allow);
        return resp;
    } catch (const http_error& e) {
        return error_response(e.status, e.what());
    } catch (const std::exception& e) {
        return error_response(500, e.what());
    }
}

void api_routes::add_routes() {
    auto& b = broker_;
    const auto& cfg = cfg_;
    const auto node = b.node_id();
    // {id} / {node}: this node, else 404.
    const auto check_node = [node](const std::string& id) {
        if (id != std::to_string(node)) not_found(fmt::format("no node {}", id));
    };
    const auto node_json = [node] {
        return json{{"id", node}, {"name", node_name(node)}, {"status", "Running"}};
    };

    add("GET", "", [this](const api_request&, const std::smatch&) {
        json list = json::array();
        for (const auto& entry : routes_)
            list.push_back({{"method", entry.method}, {"path", "/api/v1" + entry.pattern}});
        return json_response(list);
    });

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

    // ---- clients -----------------------------------------------------------------------------
    add("GET", "/clients", [&b, &cfg, node](const api_request& r, const std::smatch&) {
        const auto limit = row_limit(r, "_limit", cfg.max_row_limit);
        const auto* clientid = param(r, "clientid");
        const auto* username = param(r, "username");
        const auto* ip = param(r, "ip_address");
        const auto* like_clientid = param(r, "_like_clientid");
        const auto* like_username = param(r, "_like_username");
        const auto connected = bool_param(r, "connected");
        const auto clean_start = bool_param(r, "clean_start");
        const auto proto_ver = int_param(r, "proto_ver", 3, 5);
        // Times in seconds since the epoch.
        const auto gte_created = int_param(r, "_gte_created_at");
        const auto lte_created = int_param(r, "_lte_created_at");
        const auto gte_connected = int_param(r, "_gte_connected_at");
        const auto lte_connected = int_param(r, "_lte_connected_at");
        const auto gte_mqueue = int_param(r, "_gte_mqueue_len");
        const auto lte_mqueue = int_param(r, "_lte_mqueue_len");
        json out = json::array();
        for (const auto& s : b.sessions()) {
            if (out.size() >= limit) break;
            if (clientid && s.client_id != *clientid) continue;
            if (username && (!s.username || *s.username != *username)) continue;
            if (ip && split_peer(s.peer).first != *ip) continue;
            if (like_clientid && s.client_id.find(*like_clientid) == std::string::npos) continue;
            if (like_username &&
                (!s.username || s.username->find(*like_username) == std::string::npos))
                continue;
            if (connected && s.online != *connected) continue;
            if (clean_start && s.persistent == *clean_start) continue;
            if (proto_ver && static_cast<int>(s.version) != *proto_ver) continue;
            if (gte_created && s.created_at_ms / 1000 < *gte_created) continue;
            if (lte_created && s.created_at_ms / 1000 > *lte_created) continue;
            if (gte_connected && s.connected_at_ms / 1000 < *gte_connected) continue;
            if (lte_connected && s.connected_at_ms / 1000 > *lte_connected) continue;
            if (gte_mqueue && static_cast<std::int64_t>(s.queued) < *gte_mqueue) continue;
            if (lte_mqueue && static_cast<std::int64_t>(s.queued) > *lte_mqueue) continue;
            out.push_back(client_json(s, node));
        }
        return json_response(out);
    });
    add("GET", "/clients/offlines", [&b, &cfg, node](const api_request& r, const std::smatch&) {
        const auto limit = row_limit(r, "_limit", cfg.max_row_limit);
        json out = json::array();
        for (const auto& s : b.sessions()) {
            if (out.size() >= limit) break;
            if (!s.online) out.push_back(client_json(s, node));
        }
        return json_response(out);
    });
    add("DELETE", "/clients/offlines", [&b](const api_request&, const std::smatch&) {
        std::size_t n = 0;
        for (const auto& s : b.sessions())
            if (!s.online && b.kick(s.client_id, /*discard_session*/ true)) ++n;
        return json_response({{"count", n}});
    });
    add("GET", "/clients/{clientid}/online", [&b](const api_request&, const std::smatch& m) {
        const auto s = b.session(m[1].str());
        return json_response(json(s && s->online));
    });
    add("GET", "/clients/{clientid}", [&b, node](const api_request&, const std::smatch& m) {
        const auto s = b.session(m[1].str());
        if (!s) not_found("no client " + m[1].str());
        return json_response(client_json(*s, node));
    });
    add("DELETE", "/clients/{clientid}", [&b](const api_request&, const std::smatch& m) {
        // RMQTT's admin kick: the connection closes and the session ends.
        if (!b.kick(m[1].str(), /*discard_session*/ true)) not_found("no client " + m[1].str());
        return json_response({{"clientid", m[1].str()}, {"kicked", true}});
    });

    // ---- subscriptions, routes ---------------------------------------------------------------
    const auto subscriptions = [&b, &cfg, node](const api_request& r, const std::string& of) {
        const auto limit = row_limit(r, "_limit", cfg.max_row_limit);
        const auto* clientid = param(r, "clientid");
        const auto* topic = param(r, "topic");
        const auto* share = param(r, "share");
        const auto* match = param(r, "_match_topic");
        const auto qos = int_param(r, "qos", 0, 2);
        if (match && !protocol::is_valid_topic_name(*match))
            bad_request("_match_topic: not a valid topic name");
        std::map<std::string, std::string> addr;  // client id -> peer
        for (const auto& s : b.sessions())
            addr[s.client_id] = s.peer;
        json out = json::array();
        for (const auto& s : b.subscriptions(of)) {
            if (out.size() >= limit) break;
            if (clientid && s.client_id != *clientid) continue;
            auto j = subscription_json(s, addr[s.client_id], node);
            if (topic && j["topic"] != *topic) continue;
            if (share && j["share"] != *share) continue;
            if (qos && j["qos"] != *qos) continue;
            if (match && !protocol::topic_matches(j["topic"].get<std::string>(), *match)) continue;
            out.push_back(std::move(j));
        }
        return json_response(out);
    };
    add("GET", "/subscriptions",
        [subscriptions](const api_request& r, const std::smatch&) { return subscriptions(r, {}); });
    add("GET", "/subscriptions/{clientid}",
        [&b, subscriptions](const api_request& r, const std::smatch& m) {
            if (!b.session(m[1].str())) not_found("no client " + m[1].str());
            return subscriptions(r, m[1].str());
        });
    // Routes: the topic filters subscribed ("$share/{group}/{filter}" for shared ones), with how
    // many subscriptions each has.
    const auto routes = [&b, &cfg, node](const api_request& r, const std::string* topic) {
        const auto limit = row_limit(r, "_limit", cfg.max_row_limit);
        std::map<std::string, std::size_t> filters;
        for (const auto& s : b.subscriptions())
            ++filters[s.filter];
        json out = json::array();
        for (const auto& [filter, n] : filters) {
            if (out.size() >= limit) break;
            if (topic) {
                bool valid = true;
                const auto shared = protocol::parse_shared_subscription(filter, valid);
                const std::string_view plain = shared ? shared->filter : std::string_view(filter);
                if (!protocol::topic_matches(plain, *topic)) continue;
            }
            out.push_back({{"topic", filter}, {"node_id", node}, {"subscribers", n}});
        }
        return json_response(out);
    };
    add("GET", "/routes",
        [routes](const api_request& r, const std::smatch&) { return routes(r, nullptr); });
    add("GET", "/routes/{topic}", [routes](const api_request& r, const std::smatch& m) {
        const std::string topic = m[1].str();
        if (!protocol::is_valid_topic_name(topic)) bad_request("not a valid topic name: " + topic);
        return routes(r, &topic);
    });

    // ---- retained messages -------------------------------------------------------------------
    add("GET", "/retains", [&b, &cfg](const api_request& r, const std::smatch&) {
        const auto* f = param(r, "topic_filter");
        const std::string filter = f ? *f : "#";
        if (!protocol::is_valid_topic_filter(filter) || filter.starts_with("$share/"))
            bad_request("topic_filter: not a valid topic filter: " + filter);
        const auto offset = static_cast<std::size_t>(int_param(r, "offset").value_or(0));
        const auto limit = row_limit(r, "limit", cfg.max_row_limit);
        auto found = b.retained(filter);
        std::sort(found.begin(), found.end(),
                  [](const auto& x, const auto& y) { return x->topic < y->topic; });
        json out = json::array();
        for (std::size_t i = offset; i < found.size() && out.size() < limit; ++i) {
            const auto& m = *found[i];
            out.push_back({
                {"topic", m.topic},
                {"payload", base64_encode(m.payload)},
                {"qos", static_cast<int>(m.qos)},
                {"created_at", format_time(m.created_at_ms)},
                {"expiry_at", format_time(m.expiry_at_ms)},
            });
        }
        return json_response(out);
    });
    add("DELETE", "/retains", [&b](const api_request& r, const std::smatch&) {
        const auto* t = param(r, "topic");
        if (!t) bad_request("topic: missing");
        if (!protocol::is_valid_topic_name(*t))
            bad_request("topic: not a topic name (no wildcards): " + *t);
        if (!b.remove_retained(*t)) not_found("no retained message on " + *t);
        return json_response({{"topic", *t}, {"deleted", true}});
    });

    // ---- MQTT --------------------------------------------------------------------------------
    add("POST", "/mqtt/publish", [&b, &cfg](const api_request& r, const std::smatch&) {
        const auto j = parse_body(r);
        const auto topics = body_topics(j);
        for (const auto& t : topics)
            if (!protocol::is_valid_topic_name(t))
                bad_request("topic: not a valid topic name: " + t);
        (void)body_string(j,
                          "clientid");  // RMQTT's publisher id: messages here come from the broker
        std::string payload = body_string(j, "payload").value_or("");
        const auto encoding = body_string(j, "encoding").value_or("plain");
        if (encoding == "base64") {
            auto decoded = base64_decode(payload);
            if (!decoded) bad_request("payload: not valid base64");
            payload = std::move(*decoded);
        } else if (encoding != "plain") {
            bad_request("encoding: expected plain or base64, got " + encoding);
        }
        const auto qos = body_qos(j);
        const bool retain = body_bool(j, "retain").value_or(false);
        std::optional<protocol::properties> props;
        if (const auto it = j.find("properties"); it != j.end() && !it->is_null()) {
            if (!it->is_object()) bad_request("properties: expected an object");
            protocol::properties p;
            if (auto v = body_int(*it, "payload_format_indicator", 0, 1))
                p.payload_format_indicator = static_cast<std::uint8_t>(*v);
            if (auto v = body_int(*it, "message_expiry_interval", 0, 0xFFFFFFFF))
                p.message_expiry_interval = static_cast<std::uint32_t>(*v);
            p.content_type = body_string(*it, "content_type");
            p.response_topic = body_string(*it, "response_topic");
            if (p.response_topic && !protocol::is_valid_topic_name(*p.response_topic))
                bad_request("properties.response_topic: not a valid topic name");
            p.correlation_data = body_string(*it, "correlation_data");
            if (const auto u = it->find("user_properties"); u != it->end() && !u->is_null()) {
                if (!u->is_object()) bad_request("properties.user_properties: expected an object");
                for (const auto& [k, v] : u->items()) {
                    if (!v.is_string())
                        bad_request("properties.user_properties." + k + ": expected a string");
                    p.user_properties.push_back({k, v.get<std::string>()});
                }
            }
            for (const auto& [k, v] : it->items()) {
                (void)v;
                static const std::set<std::string> known{
                    "payload_format_indicator", "message_expiry_interval", "content_type",
                    "response_topic",           "correlation_data",        "user_properties"};
                if (!known.contains(k)) bad_request("properties: unknown property " + k);
            }
            if (!p.empty()) props = std::move(p);
        }
        json out = json::array();
        for (const auto& t : topics) {
            broker::message m;
            m.topic = t;
            m.payload = payload;
            m.qos = qos;
            m.retain = retain;
            m.created_at_ms = broker::wall_now_ms();
            if (props && props->message_expiry_interval) {
                if (*props->message_expiry_interval != 0)
                    m.expiry_at_ms =
                        m.created_at_ms + std::int64_t{*props->message_expiry_interval} * 1000;
            } else if (cfg.message_expiry_interval.count() > 0) {
                m.expiry_at_ms = m.created_at_ms + cfg.message_expiry_interval.count();
            }
            if (props) m.props = std::make_unique<const protocol::properties>(*props);
            const auto n = b.publish(std::move(m));
            out.push_back({{"topic", t}, {"subscribers", n}});
        }
        return json_response(out);
    });
    // Runs one subscribe / unsubscribe on behalf of a client and waits for its outcome.
    const auto on_behalf =
        [](const std::function<void(std::function<void(broker::api_result)>)>& call) {
            auto promise = std::make_shared<std::promise<broker::api_result>>();
            auto future = promise->get_future();
            call([promise](broker::api_result r) { promise->set_value(std::move(r)); });
            if (future.wait_for(session_request_timeout) != std::future_status::ready)
                throw http_error(504, "the session did not answer in time");
            auto r = future.get();
            using code = broker::api_result::code;
            switch (r.value) {
                case code::ok:
                    break;
                case code::not_found:
                    not_found(r.message);
                case code::invalid:
                    bad_request(r.message);
                case code::unsupported:
                    throw http_error(409, r.message);
                case code::stopping:
                    throw http_error(503, r.message);
                case code::store_failed:
                    throw http_error(500, r.message);
            }
        };
    add("POST", "/mqtt/subscribe", [&b, on_behalf](const api_request& r, const std::smatch&) {
        const auto j = parse_body(r);
        const auto clientid = body_string(j, "clientid");
        if (!clientid) bad_request("clientid: missing");
        const auto topics = body_topics(j);
        protocol::subscription_options o;
        o.max_qos = body_qos(j);
        o.no_local = body_bool(j, "no_local").value_or(false);
        o.retain_as_published = body_bool(j, "retain_as_published").value_or(false);
        o.retain_handling =
            static_cast<std::uint8_t>(body_int(j, "retain_handling", 0, 2).value_or(0));
        for (const auto& t : topics) {
            bool valid = true;
            const auto shared = protocol::parse_shared_subscription(t, valid);
            if ((shared && !valid) || (!shared && !protocol::is_valid_topic_filter(t)))
                bad_request("topic: not a valid topic filter: " + t);
        }
        if (!b.session(*clientid)) not_found("no client " + *clientid);
        json out = json::object();
        for (const auto& t : topics) {
            on_behalf([&](auto done) { b.subscribe(*clientid, t, o, std::move(done)); });
            out[t] = true;
        }
        return json_response(out);
    });
    add("POST", "/mqtt/unsubscribe", [&b, on_behalf](const api_request& r, const std::smatch&) {
        const auto j = parse_body(r);
        const auto clientid = body_string(j, "clientid");
        if (!clientid) bad_request("clientid: missing");
        const auto topic = body_string(j, "topic");
        if (!topic) bad_request("topic: missing");
        if (!b.session(*clientid)) not_found("no client " + *clientid);
        on_behalf([&](auto done) { b.unsubscribe(*clientid, *topic, std::move(done)); });
        return json_response({{*topic, true}});
    });

    // ---- plugins -----------------------------------------------------------------------------
    const auto plugin_json = [&b](const broker::plugin_state& p) {
        return json{
            {"name", p.name},
            {"version", b.version()},
            {"descr", p.description},
            {"active", p.running},
            {"inited", p.available},
            {"immutable", true},
            {"reloadable", p.reloadable},
            {"attrs", nullptr},
        };
    };
    const auto find_plugin = [&b](const std::string& name) {
        for (auto& p : b.plugins())
            if (p.name == name) return p;
        not_found("no plugin " + name);
    };
    add("GET", "/plugins", [&b, node, plugin_json](const api_request&, const std::smatch&) {
        json list = json::array();
        for (const auto& p : b.plugins())
            list.push_back(plugin_json(p));
        return json_response(json::array({{{"node", node}, {"plugins", list}}}));
    });
    add("GET", "/plugins/{node}",
        [&b, check_node, plugin_json](const api_request&, const std::smatch& m) {
            check_node(m[1]);
            json list = json::array();
            for (const auto& p : b.plugins())
                list.push_back(plugin_json(p));
            return json_response(list);
        });
    add("GET", "/plugins/{node}/{plugin}",
        [check_node, plugin_json, find_plugin](const api_request&, const std::smatch& m) {
            check_node(m[1]);
            return json_response(plugin_json(find_plugin(m[2])));
        });
    add("GET", "/plugins/{node}/{plugin}/config",
        [check_node, find_plugin](const api_request&, const std::smatch& m) {
            check_node(m[1]);
            const auto p = find_plugin(m[2]);
            std::ifstream in(p.config_file, std::ios::binary);
            std::string text;
            if (in)
                text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
            return json_response({{"name", p.name},
                                  {"file", p.config_file},
                                  {"exists", static_cast<bool>(in)},
                                  {"content", text}});
        });
    add("PUT", "/plugins/{node}/{plugin}/config/reload",
        [&b, check_node, find_plugin](const api_request&, const std::smatch& m) {
            check_node(m[1]);
            const auto p = find_plugin(m[2]);
            if (!p.running) throw http_error(409, p.name + " is not running");
            if (!p.reloadable)
                throw http_error(409, p.name + " does not reload its configuration while it runs");
            const auto r = b.reload_plugin(p.name);
            if (!r)
                throw http_error(r.value == broker::api_result::code::invalid ? 400 : 409,
                                 r.message);
            return json_response({{"name", p.name}, {"reloaded", true}});
        });
    const auto load_unload = [check_node, find_plugin](const std::smatch& m,
                                                       bool load) -> api_response {
        check_node(m[1]);
        const auto p = find_plugin(m[2]);
        if (!p.available) throw http_error(409, p.name + " is not available in rmqttd");
        if (load && p.running) return json_response({{"name", p.name}, {"active", true}});
        if (!load && !p.running) return json_response({{"name", p.name}, {"active", false}});
        throw http_error(
            409,
            fmt::format("{} cannot be {} while the broker serves: plugins register their hooks "
                        "and services at start-up only; change plugins.default_startups and "
                        "restart",
                        p.name, load ? "started" : "stopped"));
    };
    add("PUT", "/plugins/{node}/{plugin}/load",
        [load_unload](const api_request&, const std::smatch& m) { return load_unload(m, true); });
    add("PUT", "/plugins/{node}/{plugin}/unload",
        [load_unload](const api_request&, const std::smatch& m) { return load_unload(m, false); });

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
