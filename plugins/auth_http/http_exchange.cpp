// Building rmqtt-auth-http's requests and reading its answers.
#include "auth_http/http_exchange.hpp"

#include <openssl/evp.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

#include "auth_common/peer_address.hpp"

namespace rmqtt::plugins::auth_http {

namespace {

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view s) {
    const auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
    while (!s.empty() && ws(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && ws(s.back()))
        s.remove_suffix(1);
    return s;
}

std::optional<http_answer::verdict> verdict_of(std::string_view s) {
    if (s == "allow") return http_answer::verdict::allow;
    if (s == "deny") return http_answer::verdict::deny;
    if (s == "ignore") return http_answer::verdict::ignore;
    return std::nullopt;
}

std::optional<std::int64_t> read_x_cache(const std::optional<std::string>& v) {
    if (!v) return std::nullopt;
    const auto t = trim(*v);
    std::int64_t ms = 0;
    const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), ms);
    if (ec != std::errc{} || end != t.data() + t.size()) return std::nullopt;
    if (ms == -1 || ms > 0) return ms;
    return std::nullopt;  // 0 or another negative value: not cached
}

}  // namespace

request_facts request_facts::of(const broker::client_info& c) {
    request_facts f;
    f.client_id = c.client_id;
    if (c.username != nullptr) f.username = *c.username;
    f.peer = c.peer;
    f.listener = c.listener;
    f.version = c.version;
    return f;
}

broker::client_info request_facts::info() const {
    broker::client_info c;
    c.client_id = client_id;
    c.username = &username;
    c.peer = peer;
    c.listener = listener;
    c.version = version;
    return c;
}

std::string substitute(std::string_view tmpl, const request_facts& f) {
    std::string out;
    out.reserve(tmpl.size() + 32);
    for (std::size_t i = 0; i < tmpl.size(); ++i) {
        if (tmpl[i] != '%' || i + 1 == tmpl.size()) {
            out += tmpl[i];
            continue;
        }
        switch (tmpl[i + 1]) {
            case 'u':
                out += f.username.value_or("");
                break;
            case 'c':
                out += f.client_id;
                break;
            case 'a':
                out += auth_common::ip_of_peer(f.peer);
                break;
            case 'p':
                out += auth_common::port_of_peer(f.peer);
                break;
            case 'r':
                out += std::to_string(static_cast<int>(f.version));
                break;
            case 'P':
                out += f.password.value_or("");
                break;
            case 't':
                out += f.topic;
                break;
            case 'A':
                if (f.access) out += *f.access == broker::acl_action::subscribe ? "1" : "2";
                break;
            default:
                out += tmpl[i];
                continue;  // not a placeholder: keep the '%' and go on with the next character
        }
        ++i;
    }
    return out;
}

std::string url_encode(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size() * 3);
    for (const char c : s) {
        const auto u = static_cast<unsigned char>(c);
        if (std::isalnum(u) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += c;
        } else {
            out += '%';
            out += hex[u >> 4];
            out += hex[u & 15];
        }
    }
    return out;
}

http_request build_request(const auth_http_config& cfg, const http_endpoint& e,
                           const request_facts& f) {
    http_request r;
    r.https = e.https;
    r.host = e.host;
    r.port = e.port;
    r.method = e.method;
    r.target = e.target;
    r.headers = cfg.http_headers;
    for (const auto& [name, value] : e.headers) {
        std::erase_if(r.headers, [&name](const auto& kv) { return iequals(kv.first, name); });
        r.headers.emplace_back(name, value);
    }

    if (e.method == http_endpoint::http_method::get || e.body == http_endpoint::body_format::form) {
        std::string encoded;
        for (const auto& [name, tmpl] : e.params) {
            if (!encoded.empty()) encoded += '&';
            encoded += url_encode(name);
            encoded += '=';
            encoded += url_encode(substitute(tmpl, f));
        }
        if (e.method == http_endpoint::http_method::get) {
            if (!encoded.empty()) {
                r.target += r.target.find('?') == std::string::npos ? '?' : '&';
                r.target += encoded;
            }
        } else {
            r.content_type = "application/x-www-form-urlencoded";
            r.body = std::move(encoded);
        }
        return r;
    }
    nlohmann::json body = nlohmann::json::object();
    for (const auto& [name, tmpl] : e.params)
        body[name] = substitute(tmpl, f);
    r.content_type = "application/json";
    // A password is bytes, not necessarily UTF-8: invalid sequences become U+FFFD.
    r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return r;
}

std::string cache_key(std::string_view kind, const http_request& r) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1;
    const auto add = [&](std::string_view s) {
        const std::uint64_t n = s.size();  // length-prefixed: no two inputs give the same stream
        ok = ok && EVP_DigestUpdate(ctx, &n, sizeof n) == 1 &&
             EVP_DigestUpdate(ctx, s.data(), s.size()) == 1;
    };
    add(kind);
    add(r.https ? "https" : "http");
    add(r.host);
    add(std::to_string(r.port));
    add(std::to_string(static_cast<int>(r.method)));
    add(r.target);
    add(r.body);
    std::string out(EVP_MAX_MD_SIZE, '\0');
    unsigned int len = 0;
    ok = ok && EVP_DigestFinal_ex(ctx, reinterpret_cast<unsigned char*>(out.data()), &len) == 1;
    EVP_MD_CTX_free(ctx);
    if (!ok) return {};  // no key: the answer is not cached
    out.resize(len);
    return out;
}

std::optional<http_answer> read_answer(const http_response& r, std::string& why) {
    if (r.error) {
        why = *r.error;
        return std::nullopt;
    }
    http_answer a;
    if (r.status < 200 || r.status > 299) {
        // RMQTT: any status but 2xx is "ignore", whatever deny_if_error says.
        a.result = http_answer::verdict::ignore;
        return a;
    }
    a.cache_ms = read_x_cache(r.x_cache);
    bool header_superuser = false;
    if (r.x_superuser) header_superuser = !iequals(trim(*r.x_superuser), "false");

    if (r.content_type.find("application/json") == std::string::npos) {
        const auto body = trim(r.body);
        a.result = verdict_of(body).value_or(http_answer::verdict::allow);
        a.superuser = a.result == http_answer::verdict::allow && header_superuser;
        return a;
    }
    const auto j = nlohmann::json::parse(r.body, nullptr, false);
    if (!j.is_object()) {
        why = "the JSON answer is not an object";
        return std::nullopt;
    }
    const auto result = j.find("result");
    const auto v = result != j.end() && result->is_string()
                       ? verdict_of(result->get_ref<const std::string&>())
                       : std::nullopt;
    if (!v) {
        why = "the JSON answer has no \"result\" of \"allow\", \"deny\" or \"ignore\"";
        return std::nullopt;
    }
    a.result = *v;
    bool json_superuser = false;
    if (const auto su = j.find("superuser"); su != j.end() && su->is_boolean())
        json_superuser = su->get<bool>();
    a.superuser = a.result == http_answer::verdict::allow && (json_superuser || header_superuser);
    if (const auto e = j.find("expire_at"); e != j.end() && e->is_number_integer()) {
        a.expire_at_s = e->is_number_unsigned() && e->get<std::uint64_t>() > INT64_MAX
                            ? std::numeric_limits<std::int64_t>::max()
                            : e->get<std::int64_t>();
    } else if (e != j.end() && e->is_number_float() && std::isfinite(e->get<double>()) &&
               std::fabs(e->get<double>()) < 9.2e18) {
        a.expire_at_s = static_cast<std::int64_t>(std::floor(e->get<double>()));
    }
    if (const auto acl = j.find("acl"); acl != j.end() && !acl->is_null()) a.acl_json = acl->dump();
    return a;
}

}  // namespace rmqtt::plugins::auth_http
