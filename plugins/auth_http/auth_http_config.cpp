// rmqtt-auth-http.toml: the two requests, their headers and parameters, timeouts and limits.
#include "auth_http/auth_http_config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <climits>

namespace rmqtt::plugins {

using broker::config_node;
using broker::config_section;

namespace {

constexpr std::string_view url_form =
    "an http:// or https:// URL such as \"http://127.0.0.1:9090/mqtt/auth\" (no user info, no "
    "fragment)";

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

// RFC 9110 section 5.6.2: a header name is a token.
bool is_token(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) ||
               std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
    });
}

bool is_header_value(std::string_view s) {
    return std::none_of(s.begin(), s.end(),
                        [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
}

// Fills the URL parts of `e` from e.url; false when it is not an http(s) URL we can call.
bool parse_url(http_endpoint& e) {
    std::string_view u = e.url;
    const auto scheme_end = u.find("://");
    if (scheme_end == std::string_view::npos) return false;
    const auto scheme = u.substr(0, scheme_end);
    if (iequals(scheme, "http")) {
        e.https = false;
        e.port = 80;
    } else if (iequals(scheme, "https")) {
        e.https = true;
        e.port = 443;
    } else {
        return false;
    }
    u.remove_prefix(scheme_end + 3);
    if (u.find('#') != std::string_view::npos) return false;
    const auto path_at = u.find_first_of("/?");
    const auto authority = u.substr(0, path_at);
    if (authority.empty() || authority.find('@') != std::string_view::npos) return false;
    std::string_view port;
    if (authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos || close == 1) return false;
        e.host = std::string(authority.substr(1, close - 1));
        const auto rest = authority.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':') return false;
            port = rest.substr(1);
        }
    } else {
        const auto colon = authority.find(':');
        e.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) port = authority.substr(colon + 1);
        if (e.host.empty()) return false;
    }
    if (!port.empty() || authority.back() == ':') {
        unsigned p = 0;
        const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
        if (ec != std::errc{} || end != port.data() + port.size() || p == 0 || p > 65535)
            return false;
        e.port = static_cast<std::uint16_t>(p);
    }
    e.target.assign(1, '/');
    if (path_at != std::string_view::npos)
        e.target.append(u.substr(u[path_at] == '/' ? path_at + 1 : path_at));
    return std::none_of(e.target.begin(), e.target.end(),
                        [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; });
}

// A table of free names with string values (headers, params); sorted by name.
header_list string_table(const config_section& parent, std::string_view key, bool headers) {
    header_list out;
    const auto t = parent.get_table(key);
    if (!t) return out;
    for (const auto& name : t->keys()) {
        if (name.find('.') != std::string::npos) {
            t->fail(name,
                    "names containing '.' are not supported (the key would be read as a "
                    "nested table)");
        }
        auto value = t->get_string(name);
        if (headers) {
            if (!is_token(name)) t->fail(name, "expected a header name (RFC 9110 token)");
            if (!is_header_value(*value)) t->fail_value(name, "a header value without CR, LF, NUL");
        }
        out.emplace_back(name, std::move(*value));
    }
    return out;
}

// Removes content-type from `h` and returns its value.
std::optional<std::string> take_content_type(header_list& h) {
    std::optional<std::string> out;
    std::erase_if(h, [&out](const auto& kv) {
        if (!iequals(kv.first, "content-type")) return false;
        out = kv.second;
        return true;
    });
    return out;
}

http_endpoint parse_endpoint(const config_section& s, const std::optional<std::string>& common_ct) {
    http_endpoint e;
    const auto url = s.get_string("url");
    const auto method = s.get_choice("method", {"get", "post", "put"});
    e.headers = string_table(s, "headers", true);
    const bool has_params = s.has("params");
    e.params = string_table(s, "params", false);
    if (!url) s.fail("url", fmt::format("missing; expected {}", url_form));
    e.url = *url;
    if (!parse_url(e)) s.fail_value("url", url_form);
    if (!method) s.fail("method", "missing; expected one of \"get\", \"post\", \"put\"");
    e.method = *method == "get"   ? http_endpoint::http_method::get
               : *method == "put" ? http_endpoint::http_method::put
                                  : http_endpoint::http_method::post;
    if (!has_params) {
        s.fail("params",
               "missing; expected a table of parameters such as { clientid = \"%c\", username = "
               "\"%u\" } (RMQTT requires it too; {} sends none)");
    }
    auto ct = take_content_type(e.headers);
    if (!ct) ct = common_ct;
    e.body = ct && ct->find("application/json") != std::string::npos
                 ? http_endpoint::body_format::json
                 : http_endpoint::body_format::form;
    return e;
}

// A key RMQTT has and rmqttd does not use: its type is checked, then it is reported once.
void accept_unused_of_kind(const config_section& s, std::string_view key, config_node::kind kind,
                           std::string_view form) {
    const config_node* n = s.get_node(key);
    if (n == nullptr) return;
    if (n->type != kind) s.fail_value(key, form);
    s.accept_unused(key, "accepted for RMQTT compatibility, not used");
}

}  // namespace

auth_http_config parse_auth_http_config(const config_section& s) {
    auth_http_config c;
    if (auto d = s.get_positive_duration("http_timeout")) c.http_timeout = *d;
    c.http_headers = string_table(s, "http_headers", true);
    c.content_type = take_content_type(c.http_headers);
    if (auto b = s.get_bool("disconnect_if_pub_rejected")) c.disconnect_if_pub_rejected = *b;
    if (auto b = s.get_bool("disconnect_if_expiry")) c.disconnect_if_expiry = *b;
    if (auto b = s.get_bool("deny_if_error")) c.deny_if_error = *b;
    if (auto p = s.get_int("priority", INT_MIN, INT_MAX)) c.priority = static_cast<int>(*p);
    if (auto n = s.get_int("http_concurrency", 1, 256))
        c.http_concurrency = static_cast<std::size_t>(*n);
    if (auto n = s.get_int("http_queue_max", 0, 1'000'000))
        c.http_queue_max = static_cast<std::size_t>(*n);
    if (auto t = s.get_table("http_auth_req")) c.auth_req = parse_endpoint(*t, c.content_type);
    if (auto t = s.get_table("http_acl_req")) c.acl_req = parse_endpoint(*t, c.content_type);
    accept_unused_of_kind(s, "http_retry", config_node::kind::table,
                          "a table such as { times = 3, interval = \"1s\", backoff = 2.0 }");
    accept_unused_of_kind(s, "http_super_req", config_node::kind::table,
                          "a table like http_auth_req");
    accept_unused_of_kind(s, "break_if_allow", config_node::kind::boolean, "true or false");
    return c;
}

std::span<const std::string_view> auth_http_config_keys() {
    static constexpr std::array<std::string_view, 21> keys{
        "http_timeout",         "http_headers",         "disconnect_if_pub_rejected",
        "disconnect_if_expiry", "deny_if_error",        "priority",
        "http_concurrency",     "http_queue_max",       "http_auth_req",
        "http_auth_req.url",    "http_auth_req.method", "http_auth_req.headers",
        "http_auth_req.params", "http_acl_req",         "http_acl_req.url",
        "http_acl_req.method",  "http_acl_req.headers", "http_acl_req.params",
        "http_retry",           "http_super_req",       "break_if_allow",
    };
    return keys;
}

}  // namespace rmqtt::plugins
