#include "http_api/http_api_config.hpp"

#include <charconv>
#include <vector>

namespace rmqtt::plugins::http_api {

using broker::config_node;
using broker::config_section;

namespace {

constexpr std::string_view unused_note = "accepted for RMQTT compatibility, not used";

// "host:port", "[v6]:port" or ":port" (all addresses).
bool parse_laddr(std::string_view text, std::string& host, std::uint16_t& port) {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return false;
    std::string_view h = text.substr(0, colon);
    const std::string_view p = text.substr(colon + 1);
    if (h.starts_with('[')) {
        if (!h.ends_with(']')) return false;
        h = h.substr(1, h.size() - 2);
    } else if (h.find(':') != std::string_view::npos) {
        return false;  // an IPv6 address needs brackets
    }
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
    if (ec != std::errc{} || end != p.data() + p.size() || value > 65535) return false;
    host = h.empty() ? "0.0.0.0" : std::string(h);
    port = static_cast<std::uint16_t>(value);
    return true;
}

}  // namespace

http_api_config parse_http_api_config(const config_section& s) {
    http_api_config c;
    if (auto laddr = s.get_string("http_laddr")) {
        if (!parse_laddr(*laddr, c.host, c.port))
            s.fail_value("http_laddr", "an address such as \"0.0.0.0:6060\" or \"[::1]:6060\"");
    }
    if (auto n = s.get_int("max_row_limit", 1)) c.max_row_limit = static_cast<std::size_t>(*n);
    if (auto b = s.get_bool("http_request_log")) c.http_request_log = *b;
    if (auto b = s.get_bool("http_reuseaddr")) c.http_reuseaddr = *b;
    if (auto b = s.get_bool("http_reuseport")) c.http_reuseport = *b;
    if (auto d = s.get_duration("message_expiry_interval")) c.message_expiry_interval = *d;
    if (auto d = s.get_duration("prometheus_metrics_cache_interval"))
        c.prometheus_metrics_cache_interval = *d;
    if (auto t = s.get_string("http_bearer_token")) {
        if (t->empty()) s.fail_value("http_bearer_token", "a non-empty token");
        c.http_bearer_token = *t;
    }
    c.http_basic_auth_user = s.get_string("http_basic_auth_user");
    c.http_basic_auth_password = s.get_string("http_basic_auth_password");
    if (c.http_basic_auth_user.has_value() != c.http_basic_auth_password.has_value())
        s.fail(c.http_basic_auth_user ? "http_basic_auth_password" : "http_basic_auth_user",
               "http_basic_auth_user and http_basic_auth_password are set together");
    if (c.http_basic_auth_user &&
        (c.http_basic_auth_user->empty() || c.http_basic_auth_user->find(':') != std::string::npos))
        s.fail_value("http_basic_auth_user", "a non-empty user name without ':'");
    if (auto d = s.get_string("dashboard_static_dir")) {
        if (d->empty()) s.fail_value("dashboard_static_dir", "a directory");
        c.dashboard_static_dir = *d;
    }
    if (auto n = s.get_int("http_workers", 1, 256)) c.http_workers = static_cast<std::size_t>(*n);

    // RMQTT keys rmqttd does not use.
    (void)s.get_duration("metrics_sample_interval");
    s.accept_unused("metrics_sample_interval", unused_note);
    (void)s.get_int("message_type", 0, 255);
    s.accept_unused("message_type", unused_note);
    if (const config_node* n = s.get_node("storage")) {
        if (n->type != config_node::kind::table) s.fail_value("storage", "a table");
        s.accept_unused("storage",
                        "accepted for RMQTT compatibility, not used: rmqttd keeps no stats or "
                        "metrics history");
    }
    return c;
}

std::span<const std::string_view> http_api_config_keys() {
    static const std::vector<std::string_view> keys{
        "http_laddr",
        "max_row_limit",
        "http_request_log",
        "http_reuseaddr",
        "http_reuseport",
        "message_expiry_interval",
        "prometheus_metrics_cache_interval",
        "http_bearer_token",
        "http_basic_auth_user",
        "http_basic_auth_password",
        "dashboard_static_dir",
        "http_workers",
        "metrics_sample_interval",
        "message_type",
        "storage",
    };
    return keys;
}

}  // namespace rmqtt::plugins::http_api
