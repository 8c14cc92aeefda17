// Routes about clients: clients, subscriptions, routes.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <charconv>
#include <map>

#include "http_api/api_helpers.hpp"
#include "http_api/api_routes.hpp"
#include "rmqtt/protocol/topic.hpp"

namespace rmqtt::plugins::http_api {

namespace {

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

}  // namespace

void api_routes::add_client_routes() {
    auto& b = broker_;
    const auto& cfg = cfg_;
    const auto node = b.node_id();

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
}

}  // namespace rmqtt::plugins::http_api
