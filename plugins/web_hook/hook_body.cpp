// RMQTT's hook bodies as JSON objects.
#include "web_hook/hook_body.hpp"

#include <ctime>

#include <fmt/format.h>

namespace rmqtt::plugins::web_hook {

namespace ev = broker::events;

namespace {

json username_of(const std::optional<std::string>& u) {
    return u ? json(*u) : json("undefined");
}

json peer_of(std::string_view peer) {
    return peer.empty() ? json(nullptr) : json(std::string(peer));
}

int level_of(protocol::version v) {
    return static_cast<int>(v);
}

}  // namespace

std::string format_time(std::int64_t wall_ms) {
    const std::time_t secs = static_cast<std::time_t>(wall_ms / 1000);
    std::tm tm{};
    localtime_r(&secs, &tm);
    char buf[32];
    const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    return fmt::format("{}.{:03}", std::string_view(buf, n), wall_ms % 1000);
}

json client_body(std::uint64_t node, std::string_view client_id,
                 const std::optional<std::string>& username, std::string_view peer) {
    return json{{"node", node},
                {"ipaddress", peer_of(peer)},
                {"clientid", std::string(client_id)},
                {"username", username_of(username)}};
}

json client_body(std::uint64_t node, const client_facts& c) {
    return client_body(node, c.client_id, c.username, c.peer);
}

json connect_body(std::uint64_t node, const ev::client& who, std::uint16_t keep_alive,
                  bool clean_start) {
    json b = client_body(node, who.client_id, who.username, who.peer);
    b["keepalive"] = keep_alive;
    b["proto_ver"] = level_of(who.version);
    // RMQTT names the flag after the version that sent it.
    b[who.version == protocol::version::v5 ? "clean_start" : "clean_session"] = clean_start;
    return b;
}

json connected_body(std::uint64_t node, const ev::client_connected& e,
                    std::int64_t connected_at_ms) {
    json b = connect_body(node, e.who, e.keep_alive, e.clean_start);
    b["connected_at"] = connected_at_ms;
    b["session_present"] = e.session_present;
    return b;
}

json connack_body(std::uint64_t node, const ev::client_connected& e) {
    json b = connect_body(node, e.who, e.keep_alive, e.clean_start);
    b["conn_ack"] = "Success";
    return b;
}

json connack_body(std::uint64_t node, const ev::connect_refused& e) {
    json b = connect_body(node, e.who, 0, false);
    b["conn_ack"] = std::string(protocol::to_string(e.reason));
    return b;
}

json disconnected_body(std::uint64_t node, const ev::client_disconnected& e,
                       std::int64_t disconnected_at_ms) {
    json b = client_body(node, e.who.client_id, e.who.username, e.who.peer);
    b["disconnected_at"] = disconnected_at_ms;
    b["reason"] = ev::to_string(e.reason);
    return b;
}

client_facts created_facts(std::unordered_map<std::string, client_facts>& directory,
                           const broker::events::session_created& e, std::int64_t at) {
    auto& f = directory[e.client_id];
    if (f.client_id.empty())
        f = client_facts{e.client_id, e.who.username, e.who.peer, e.who.version, 0};
    if (f.created_at_ms == 0) f.created_at_ms = at;
    return f;
}

json session_created_body(std::uint64_t node, const client_facts& c) {
    json b = client_body(node, c);
    b["created_at"] = c.created_at_ms;
    return b;
}

json session_terminated_body(std::uint64_t node, const client_facts& c, ev::session_end_reason r) {
    json b = client_body(node, c);
    b["reason"] = ev::to_string(r);
    return b;
}

json subscribed_body(std::uint64_t node, const client_facts& c, const ev::subscribed& e) {
    json b = client_body(node, c);
    b["topic"] = e.filter;
    b["opts"] = json{{"qos", static_cast<int>(e.options.max_qos)}};
    return b;
}

json unsubscribed_body(std::uint64_t node, const client_facts& c, const ev::unsubscribed& e) {
    json b = client_body(node, c);
    b["topic"] = e.filter;
    return b;
}

json message_body(std::uint64_t node, const broker::message& m,
                  const std::optional<client_facts>& from, const client_facts* to,
                  std::optional<protocol::qos> qos, std::int64_t now_ms) {
    json b;
    if (from) {
        b["from_node"] = node;
        b["from_ipaddress"] = peer_of(from->peer);
        b["from_clientid"] = from->client_id;
        b["from_username"] = username_of(from->username);
    } else {
        // RMQTT's From::from_system.
        b["from_node"] = node;
        b["from_ipaddress"] = nullptr;
        b["from_clientid"] = "system";
        b["from_username"] = "system";
    }
    if (to) b.update(client_body(node, *to));
    b["dup"] = false;
    b["retain"] = m.retain;
    b["qos"] = static_cast<int>(qos.value_or(m.qos));
    b["topic"] = m.topic;
    b["packet_id"] = nullptr;  // per connection; not known outside it
    b["payload"] = broker::base64_encode(m.payload);
    b["pts"] = m.created_at_ms;
    b["ts"] = now_ms;
    return b;
}

json published_body(std::uint64_t node, const ev::message_published& e, std::int64_t now_ms) {
    std::optional<client_facts> from;
    if (e.from) {
        from = client_facts{e.from->client_id, e.from->username, e.from->peer, e.from->version, 0};
    } else if (!e.msg->publisher.empty()) {
        from = client_facts{e.msg->publisher, std::nullopt, {}, protocol::version::v3_1_1, 0};
    }
    json b = message_body(node, *e.msg, from, nullptr, std::nullopt, now_ms);
    // message_publish: "ts" is when the PUBLISH was received, as RMQTT.
    b.erase("pts");
    b["ts"] = e.msg->created_at_ms;
    return b;
}

void stamp(json& body, std::int64_t now_ms) {
    body["time"] = format_time(now_ms);
}

}  // namespace rmqtt::plugins::web_hook
