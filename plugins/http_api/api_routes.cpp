#include "http_api/api_routes.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <set>

#include "http_api/api_helpers.hpp"

namespace rmqtt::plugins::http_api {

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
    add("GET", "", [this](const api_request&, const std::smatch&) {
        json list = json::array();
        for (const auto& entry : routes_)
            list.push_back({{"method", entry.method}, {"path", "/api/v1" + entry.pattern}});
        return json_response(list);
    });
    add_status_routes();
    add_client_routes();
    add_message_routes();
    add_plugin_routes();
}

}  // namespace rmqtt::plugins::http_api
