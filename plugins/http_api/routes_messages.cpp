// Routes about messages: retained messages, publish, subscribe and unsubscribe on behalf of a
// client.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <future>
#include <memory>
#include <set>

#include "http_api/api_helpers.hpp"
#include "http_api/api_routes.hpp"
#include "rmqtt/broker/clock.hpp"
#include "rmqtt/protocol/topic.hpp"

namespace rmqtt::plugins::http_api {

void api_routes::add_message_routes() {
    auto& b = broker_;
    const auto& cfg = cfg_;

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
}

}  // namespace rmqtt::plugins::http_api
