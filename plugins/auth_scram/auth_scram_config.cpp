// rmqtt-auth-scram.toml: the SCRAM-SHA-256 users and options.
#include "auth_scram/auth_scram_config.hpp"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <string>
#include <string_view>
#include <utility>

namespace rmqtt::plugins {

using broker::config_section;

namespace {

constexpr std::string_view scram_user_form =
    "a [[users]] table with username and either password = \"...\" or all of salt, iterations, "
    "stored_key and server_key (the stored form of RFC 5802 section 3, base64)";

// Decoded length of strict base64 (RFC 4648 section 4: standard alphabet, padded to a multiple
// of 4 characters); nullopt for anything else.
std::optional<std::size_t> base64_size(std::string_view s) {
    if (s.empty() || s.size() % 4 != 0) return std::nullopt;
    std::size_t pad = 0;
    while (pad < 2 && s[s.size() - 1 - pad] == '=')
        ++pad;
    for (std::size_t i = 0; i + pad < s.size(); ++i) {
        const char c = s[i];
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/') {
            return std::nullopt;
        }
    }
    return s.size() / 4 * 3 - pad;
}

std::optional<std::uint32_t> scram_iterations(const config_section& s, std::string_view key) {
    const auto n =
        s.get_int(key, auth_scram_config::min_iterations, auth_scram_config::max_iterations);
    if (!n) return std::nullopt;
    return static_cast<std::uint32_t>(*n);
}

// One [[users]] entry. Password errors never quote the value.
auth_scram_config::user parse_user(const config_section& u,
                                   std::optional<std::uint32_t>& iterations) {
    auth_scram_config::user out;
    const auto username = u.get_string("username");
    if (username) {
        if (username->empty() || username->find('\0') != std::string::npos) {
            u.fail_value("username", "a non-empty string without NUL characters");
        }
        out.username = *username;
    }
    if (const auto* p = u.get_node("password")) {
        if (p->type != broker::config_node::kind::string || p->string.empty()) {
            u.fail("password",
                   fmt::format("expected a non-empty string{}",
                               p->line > 0 ? fmt::format(" (line {})", p->line) : std::string()));
        }
        out.password = p->string;
    }
    if (auto salt = u.get_string("salt")) {
        if (!base64_size(*salt)) {
            u.fail_value("salt", "non-empty base64 such as \"W22ZaJ0SNY7soEsUEjb6gQ==\"");
        }
        out.salt = std::move(*salt);
    }
    for (auto [key, target] :
         {std::pair<std::string_view, std::string*>{"stored_key", &out.stored_key},
          {"server_key", &out.server_key}}) {
        if (auto v = u.get_string(key)) {
            if (base64_size(*v) != 32) {
                u.fail_value(key,
                             "base64 of 32 bytes (a SHA-256 value, 44 characters ending in '=')");
            }
            *target = std::move(*v);
        }
    }
    iterations = scram_iterations(u, "iterations");

    if (!username) u.fail("username", fmt::format("missing; expected {}", scram_user_form));
    const bool any_stored = !out.salt.empty() || !out.stored_key.empty() || !out.server_key.empty();
    if (out.password && any_stored) {
        u.fail("", fmt::format("user \"{}\" has both a password and stored keys; expected {}",
                               out.username, scram_user_form));
    }
    if (!out.password) {
        for (const auto& [name, present] :
             {std::pair<std::string_view, bool>{"salt", !out.salt.empty()},
              {"iterations", iterations.has_value()},
              {"stored_key", !out.stored_key.empty()},
              {"server_key", !out.server_key.empty()}}) {
            if (!present) {
                u.fail(name, fmt::format("missing for user \"{}\"; expected {}", out.username,
                                         scram_user_form));
            }
        }
    }
    return out;
}

}  // namespace

auth_scram_config parse_auth_scram_config(const config_section& s) {
    auth_scram_config c;
    if (auto n = scram_iterations(s, "iterations")) c.iterations = *n;
    if (auto b = s.get_bool("allow_plain_password_connect")) c.allow_plain_password_connect = *b;
    if (const auto* users = s.get_node("users");
        users != nullptr && users->type != broker::config_node::kind::array) {
        s.fail_value("users", scram_user_form);
    }
    for (const auto& u : s.get_tables("users")) {
        std::optional<std::uint32_t> iterations;
        auto user = parse_user(u, iterations);
        user.iterations = iterations.value_or(c.iterations);
        for (const auto& other : c.users) {
            if (other.username == user.username) {
                u.fail("username",
                       fmt::format("\"{}\" is listed twice; expected each username once",
                                   user.username));
            }
        }
        c.users.push_back(std::move(user));
    }
    return c;
}

std::span<const std::string_view> auth_scram_config_keys() {
    static constexpr std::array<std::string_view, 9> keys{
        "iterations",         "allow_plain_password_connect", "users",        "users[].username",
        "users[].password",   "users[].iterations",           "users[].salt", "users[].stored_key",
        "users[].server_key",
    };
    return keys;
}

}  // namespace rmqtt::plugins
