#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rmqtt/broker/config_section.hpp"

// rmqtt-auth-http's settings, read from its own file by the plugin.
namespace rmqtt::plugins {

using header_list = std::vector<std::pair<std::string, std::string>>;

// http_auth_req / http_acl_req: where a request goes and what it carries.
struct http_endpoint {
    enum class http_method { get, post, put };
    enum class body_format { form, json };

    std::string url;  // as written
    bool https = false;
    std::string host;  // without brackets for an IPv6 address
    std::uint16_t port = 80;
    std::string target = "/";  // path and query of the URL
    http_method method = http_method::post;
    // From the content-type header (of the request's headers, else of http_headers):
    // application/json -> json, anything else (or none) -> form. GET sends the parameters in
    // the query string.
    body_format body = body_format::form;
    header_list headers;  // the request's own headers, content-type removed
    header_list params;   // name -> value with placeholders, sorted by name
};

// etc/plugins/rmqtt-auth-http.toml, RMQTT's keys and meanings (docs/configuration.md), plus
// http_concurrency and http_queue_max (rmqttd).
struct auth_http_config {
    std::chrono::milliseconds http_timeout{5000};
    header_list http_headers;                 // sent with every request (content-type removed)
    std::optional<std::string> content_type;  // of http_headers, if set there
    bool disconnect_if_pub_rejected = true;
    bool disconnect_if_expiry = false;
    bool deny_if_error = true;
    int priority = 100;  // RMQTT's default for this plugin
    std::optional<http_endpoint> auth_req;
    std::optional<http_endpoint> acl_req;
    // rmqttd: HTTP calls in progress at once (the plugin's own threads), and calls waiting for
    // one of them; a call beyond both is answered as a failed request at once.
    std::size_t http_concurrency = 8;
    std::size_t http_queue_max = 1000;
};

// Reads rmqtt-auth-http.toml. Throws broker::config_error.
auth_http_config parse_auth_http_config(const broker::config_section& s);

// The keys parse_auth_http_config knows, in full (tables of free names: http_headers,
// *.headers, *.params). docs/configuration.md documents each.
std::span<const std::string_view> auth_http_config_keys();

}  // namespace rmqtt::plugins
