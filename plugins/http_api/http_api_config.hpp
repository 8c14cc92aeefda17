#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "rmqtt/broker/config_section.hpp"

// rmqtt-http-api's settings, read from etc/plugins/rmqtt-http-api.toml (docs/configuration.md).
namespace rmqtt::plugins::http_api {

struct http_api_config {
    std::string host = "0.0.0.0";  // of http_laddr, without brackets for IPv6
    std::uint16_t port = 6060;
    std::size_t max_row_limit = 10000;
    bool http_request_log = false;
    bool http_reuseaddr = true;
    bool http_reuseport = false;
    // Expiry of messages published through POST /mqtt/publish without their own
    // message_expiry_interval property; 0: never.
    std::chrono::milliseconds message_expiry_interval{std::chrono::minutes(5)};
    // How long a rendered /metrics/prometheus answer is reused; 0: rendered per request.
    std::chrono::milliseconds prometheus_metrics_cache_interval{std::chrono::seconds(5)};
    std::optional<std::string> http_bearer_token;
    // rmqttd: HTTP basic authentication, both or neither.
    std::optional<std::string> http_basic_auth_user;
    std::optional<std::string> http_basic_auth_password;
    std::optional<std::string> dashboard_static_dir;
    // rmqttd: threads answering requests.
    std::size_t http_workers = 4;
};

// Throws broker::config_error.
http_api_config parse_http_api_config(const broker::config_section& s);

// The keys parse_http_api_config knows, in full; docs/configuration.md documents each.
std::span<const std::string_view> http_api_config_keys();

}  // namespace rmqtt::plugins::http_api
