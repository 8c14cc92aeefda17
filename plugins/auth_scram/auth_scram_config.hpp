#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rmqtt/broker/config_section.hpp"

// rmqtt-auth-scram's settings, read from its own file by the plugin.
namespace rmqtt::plugins {

// etc/plugins/rmqtt-auth-scram.toml: MQTT 5.0 enhanced authentication with SCRAM-SHA-256
// (RFC 5802, RFC 7677). The loader checks the forms below; the plugin derives the keys of users
// given with a password when it starts.
struct auth_scram_config {
    static constexpr std::uint32_t min_iterations = 4096;  // RFC 7677 section 4
    static constexpr std::uint32_t max_iterations = 10'000'000;
    struct user {
        std::string username;  // as the client means it, before SCRAM's "=2C" / "=3D" escaping
        // Either a password (salted and hashed at start-up) ...
        std::optional<std::string> password;
        // ... or the stored form of RFC 5802 section 3 (set when `password` is not): base64 as
        // written in the file, validated by the loader; stored_key and server_key are 32 bytes.
        std::string salt;
        std::string stored_key;
        std::string server_key;
        std::uint32_t iterations = 4096;  // with a password: the file's `iterations` unless set
    };
    std::vector<user> users;          // usernames are unique
    std::uint32_t iterations = 4096;  // default for users given with a password
    // Also check CONNECT User Name / Password against `users` (simple authentication).
    bool allow_plain_password_connect = false;
};

// Reads rmqtt-auth-scram.toml and checks every field (base64 forms, key sizes, iteration
// ranges, unique usernames). Throws broker::config_error.
auth_scram_config parse_auth_scram_config(const broker::config_section& s);

// The keys parse_auth_scram_config knows, in full ("users[].username"), those kept only for RMQTT
// compatibility included. docs/configuration.md documents each of them (tests/unit/config checks
// both ways).
std::span<const std::string_view> auth_scram_config_keys();

}  // namespace rmqtt::plugins
