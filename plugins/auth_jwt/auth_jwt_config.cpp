// rmqtt-auth-jwt.toml: where the token is, the key, and the claims to check.
#include "auth_jwt/auth_jwt_config.hpp"

#include <fmt/format.h>

#include <array>
#include <climits>

#include "auth_jwt/jwt.hpp"

namespace rmqtt::plugins {

using broker::config_node;
using broker::config_section;

namespace {

constexpr std::string_view strings_form = "a string or an array of strings";

// A claim's expected values: a string or an array of strings.
std::vector<std::string> claim_values(const config_section& claims, const std::string& name) {
    const config_node* n = claims.get_node(name);
    std::vector<std::string> out;
    if (n->type == config_node::kind::string) {
        out.push_back(n->string);
        return out;
    }
    if (n->type != config_node::kind::array) claims.fail_value(name, strings_form);
    for (const auto& item : n->items) {
        if (item.type != config_node::kind::string) claims.fail_value(name, strings_form);
        out.push_back(item.string);
    }
    return out;
}

auth_jwt::claim_rules parse_claims(const config_section& claims) {
    auth_jwt::claim_rules r;
    for (const auto& name : claims.keys()) {
        if (name.find('.') != std::string::npos) {
            claims.fail(name,
                        "claim names containing '.' are not supported (the key would be read as "
                        "a nested table)");
        }
        if (name == "exp" || name == "nbf") {
            // RMQTT accepts only true here; false (do not check) is accepted too.
            (name == "exp" ? r.exp : r.nbf) = *claims.get_bool(name);
            continue;
        }
        auto values = claim_values(claims, name);
        if (values.empty()) continue;  // as in RMQTT: an empty list checks nothing
        if (name == "sub") {
            if (values.size() != 1) {
                claims.fail(name, "expected one value (RMQTT compares sub with its first value)");
            }
            r.sub = std::move(values.front());
        } else if (name == "iss") {
            r.iss = std::move(values);
        } else if (name == "aud") {
            r.aud = std::move(values);
        } else {
            r.custom.emplace_back(name, std::move(values));
        }
    }
    return r;
}

}  // namespace

auth_jwt_config parse_auth_jwt_config(const config_section& s) {
    auth_jwt_config c;
    if (auto b = s.get_bool("disconnect_if_pub_rejected")) c.disconnect_if_pub_rejected = *b;
    if (auto b = s.get_bool("disconnect_if_expiry")) c.disconnect_if_expiry = *b;
    if (auto p = s.get_int("priority", INT_MIN, INT_MAX)) c.priority = static_cast<int>(*p);
    if (auto f = s.get_choice("from", {"password", "username"})) {
        c.from = *f == "username" ? auth_jwt_config::token_source::username
                                  : auth_jwt_config::token_source::password;
    }
    if (auto e = s.get_choice("encrypt", {"hmac-based", "public-key"})) {
        c.encrypt = *e == "public-key" ? auth_jwt_config::key_type::public_key
                                       : auth_jwt_config::key_type::hmac_based;
    }
    // The secret is never quoted in a message.
    if (const auto* n = s.get_node("hmac_secret")) {
        if (n->type != config_node::kind::string) {
            s.fail("hmac_secret",
                   fmt::format("expected a string{}",
                               n->line > 0 ? fmt::format(" (line {})", n->line) : std::string()));
        }
        c.hmac_secret = n->string;
    }
    if (auto b = s.get_bool("hmac_base64")) c.hmac_base64 = *b;
    if (auto p = s.get_string("public_key")) c.public_key = *p;
    if (auto claims = s.get_table("validate_claims")) c.validate_claims = parse_claims(*claims);

    if (c.encrypt == auth_jwt_config::key_type::hmac_based && c.hmac_base64) {
        auto decoded = auth_jwt::base64_decode(c.hmac_secret);
        if (!decoded) {
            s.fail("hmac_secret",
                   "expected base64 (RFC 4648, standard alphabet, padded) because hmac_base64 = "
                   "true; the value is not (not shown)");
        }
        c.hmac_secret = std::move(*decoded);
    }
    return c;
}

std::span<const std::string_view> auth_jwt_config_keys() {
    static constexpr std::array<std::string_view, 14> keys{
        "disconnect_if_pub_rejected",
        "disconnect_if_expiry",
        "priority",
        "from",
        "encrypt",
        "hmac_secret",
        "hmac_base64",
        "public_key",
        "validate_claims",
        "validate_claims.exp",
        "validate_claims.nbf",
        "validate_claims.sub",
        "validate_claims.iss",
        "validate_claims.aud",
    };
    return keys;
}

}  // namespace rmqtt::plugins
