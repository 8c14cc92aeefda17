#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http_api/http_api_config.hpp"
#include "rmqtt/broker/base64.hpp"
#include "rmqtt/broker/broker_api.hpp"

// The routes of /api/v1, independent of the HTTP server: a request in, a response out. Shapes
// follow RMQTT's HTTP API (docs/http-api in RMQTT; README "HTTP API" here). On a single node,
// {id} / {node} is this node's id, and "sum" is this node's value.

namespace rmqtt::plugins::http_api {

struct api_request {
    std::string method;  // "GET"
    std::string path;    // after /api/v1, "" or "/clients/x"; percent-decoded
    std::multimap<std::string, std::string> query;
    std::string body;
};

struct api_response {
    int status = 200;
    std::string body;
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers;
};

// Strict base64 with padding; nullopt for anything else.
using broker::base64_decode;

// A JSON error body {"code": status, "message": ...}.
api_response error_response(int status, std::string_view message);

// Thread-safe: requests are answered on the server's worker threads at once.
class api_routes {
  public:
    api_routes(const http_api_config& cfg, broker::broker_api& broker);
    api_response handle(const api_request& r);

  private:
    using handler = std::function<api_response(const api_request&, const std::smatch&)>;
    struct route {
        std::string method;
        std::string pattern;  // as listed by GET /api/v1
        std::regex re;
        handler fn;
    };
    void add(std::string method, std::string pattern, handler fn);
    void add_routes();
    // One per file, in the order they are tried (a fixed path before a pattern that would
    // match it): routes_status.cpp, routes_clients.cpp, routes_messages.cpp, routes_plugins.cpp.
    void add_status_routes();
    void add_client_routes();
    void add_message_routes();
    void add_plugin_routes();

    const http_api_config& cfg_;
    broker::broker_api& broker_;
    std::vector<route> routes_;

    std::mutex prometheus_mutex_;
    std::map<std::string, std::pair<std::chrono::steady_clock::time_point, std::string>>
        prometheus_cache_;  // guarded by prometheus_mutex_
};

}  // namespace rmqtt::plugins::http_api
