#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "auth_http/auth_http_config.hpp"
#include "rmqtt/broker/hooks.hpp"

// One HTTP exchange of rmqtt-auth-http without the network: the request built from an endpoint
// and a client (placeholders, form / JSON / query encoding), and the answer read from the
// response (RMQTT's rules). Pure functions, unit-tested.
namespace rmqtt::plugins::auth_http {

// What the placeholders stand for: copies, so a request can be built and carried on any thread.
struct request_facts {
    std::string client_id;
    std::optional<std::string> username;
    std::string peer;      // "ip:port"
    std::string listener;  // "tcp.external"
    protocol::version version = protocol::version::v3_1_1;
    std::optional<std::string> password;       // authentication requests
    std::optional<broker::acl_action> access;  // ACL requests
    std::string topic;                         // ACL requests

    static request_facts of(const broker::client_info& c);
    // A client_info over these facts (valid while they live).
    broker::client_info info() const;
};

// `tmpl` with RMQTT's placeholders replaced in one pass (a replaced value is never scanned
// again): %u user name, %c client id, %a IP address, %p port, %r protocol version (3, 4, 5),
// %P password, %t topic, %A access (1 = subscribe, 2 = publish). Absent values are empty; any
// other '%' sequence stays as written.
std::string substitute(std::string_view tmpl, const request_facts& f);

// RFC 3986 percent-encoding of everything but unreserved characters (form values: application/
// x-www-form-urlencoded as browsers write it, with %20 for space).
std::string url_encode(std::string_view s);

struct http_request {
    bool https = false;
    std::string host;
    std::uint16_t port = 80;
    http_endpoint::http_method method = http_endpoint::http_method::post;
    std::string target;        // path?query
    header_list headers;       // http_headers merged with the endpoint's (the endpoint's win)
    std::string content_type;  // empty for GET
    std::string body;
};

http_request build_request(const auth_http_config& cfg, const http_endpoint& e,
                           const request_facts& f);

// A fixed-size digest naming the request (kind, method, host, port, target, body): the result
// cache's key. The request carries the substituted parameters (and for authentication the
// password), so the key is a SHA-256 digest rather than the text.
std::string cache_key(std::string_view kind, const http_request& r);

// What came back. `error` is set when no response came (refused, reset, timeout, TLS).
struct http_response {
    std::optional<std::string> error;
    int status = 0;
    std::string content_type;
    std::string body;
    std::optional<std::string> x_superuser;
    std::optional<std::string> x_cache;
};

struct http_answer {
    enum class verdict { allow, deny, ignore };
    verdict result = verdict::ignore;
    bool superuser = false;
    std::optional<std::int64_t> expire_at_s;  // JSON "expire_at", Unix seconds
    std::string acl_json;                     // JSON "acl" as text; empty when absent
    // X-Cache: milliseconds to keep the answer; -1: while the client stays connected.
    std::optional<std::int64_t> cache_ms;
};

// RMQTT's reading of a response. 2xx: a JSON body (Content-Type application/json) decides by
// its "result" ("allow", "deny", "ignore"; "superuser", "expire_at", "acl" optional); a text body
// "deny" denies, "ignore" ignores and anything else allows (surrounding whitespace ignored);
// X-Superuser (any value but "false") makes an allow a superuser; X-Cache is read. Any other
// status: ignore. nullopt (with `why`) when no response came or a JSON body is unusable: the
// caller applies deny_if_error.
std::optional<http_answer> read_answer(const http_response& r, std::string& why);

}  // namespace rmqtt::plugins::auth_http
