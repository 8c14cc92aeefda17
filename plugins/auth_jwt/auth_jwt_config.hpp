#pragma once

#include <span>
#include <string>
#include <string_view>

#include "auth_jwt/jwt_claims.hpp"
#include "rmqtt/broker/config_section.hpp"

// rmqtt-auth-jwt's settings, read from its own file by the plugin.
namespace rmqtt::plugins {

// etc/plugins/rmqtt-auth-jwt.toml, RMQTT's keys and meanings (docs/configuration.md).
struct auth_jwt_config {
    enum class token_source { password, username };
    enum class key_type { hmac_based, public_key };

    bool disconnect_if_pub_rejected = true;
    bool disconnect_if_expiry = false;
    int priority = 50;  // RMQTT's default for this plugin
    token_source from = token_source::password;
    key_type encrypt = key_type::hmac_based;
    // The secret's bytes: hmac_secret as written, or base64-decoded with hmac_base64 = true.
    std::string hmac_secret;
    bool hmac_base64 = false;
    // PEM file of the public key (encrypt = "public-key"), read when the plugin starts; a
    // relative path is relative to the current directory, as in RMQTT.
    std::string public_key;
    auth_jwt::claim_rules validate_claims;
};

// Reads rmqtt-auth-jwt.toml. Throws broker::config_error (never quoting the secret).
auth_jwt_config parse_auth_jwt_config(const broker::config_section& s);

// The keys parse_auth_jwt_config knows, in full; claims other than exp, nbf, sub, iss and aud are
// keys of the validate_claims table with any name. docs/configuration.md documents each.
std::span<const std::string_view> auth_jwt_config_keys();

}  // namespace rmqtt::plugins
