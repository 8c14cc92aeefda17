#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <asio/any_io_executor.hpp>
#include "auth_scram/auth_scram_config.hpp"

#include "rmqtt/broker/base64.hpp"
#include "rmqtt/broker/hooks.hpp"
#include "rmqtt/broker/plugin.hpp"

// rmqtt-auth-scram: MQTT 5.0 enhanced authentication (section 4.12) with the method
// "SCRAM-SHA-256" (RFC 5802, RFC 7677), against the users of etc/plugins/rmqtt-auth-scram.toml.
//
// The Authentication Data of CONNECT / AUTH carries the SCRAM messages unchanged:
//   CONNECT  client-first-message   "n,,n=<user>,r=<client nonce>"
//   AUTH 18  server-first-message   "r=<client nonce><server nonce>,s=<salt>,i=<iterations>"
//   AUTH 18  client-final-message   "c=biws,r=<nonce>,p=<proof>"
//   CONNACK  server-final-message   "v=<server signature>"
// Channel binding (SCRAM-SHA-256-PLUS, gs2 flag "p=") is not offered. Usernames and passwords
// are compared as the UTF-8 bytes given (no SASLprep normalisation).

namespace rmqtt::plugins::auth_scram {

inline constexpr std::string_view method_name = "SCRAM-SHA-256";
inline constexpr std::size_t key_size = 32;  // SHA-256 output

// ---- SCRAM maths (OpenSSL) ----------------------------------------------------------------------
// Binary values are held as bytes in std::string.

std::string sha256(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);
// Hi(password, salt, i) of RFC 5802 section 2.2: PBKDF2-HMAC-SHA-256, 32 bytes.
std::string salted_password(std::string_view password, std::string_view salt,
                            std::uint32_t iterations);
// Strict RFC 4648 base64 (standard alphabet, padded, no whitespace): the plugin API's.
using broker::base64_decode;
using broker::base64_encode;
// nullopt when the random generator fails.
std::optional<std::string> random_bytes(std::size_t n);
// Constant-time comparison of equal-length byte strings (false when the lengths differ).
bool equal_secret(std::string_view a, std::string_view b) noexcept;

// saslname escaping of RFC 5802 section 5.1: ',' <-> "=2C", '=' <-> "=3D".
std::string escape_username(std::string_view name);
// nullopt for a '=' not followed by "2C" or "3D", or for a NUL byte.
std::optional<std::string> unescape_username(std::string_view saslname);

// What the server keeps for a user (RFC 5802 section 3): never the password.
struct credentials {
    std::string salt;
    std::uint32_t iterations = 4096;
    std::string stored_key;  // H(ClientKey)
    std::string server_key;  // HMAC(SaltedPassword, "Server Key")
};
credentials derive_credentials(std::string_view password, std::string salt,
                               std::uint32_t iterations);

// ---- users ------------------------------------------------------------------------------------

// Read-only after construction: safe to use from every thread.
class user_store {
  public:
    // Derives the keys of users given with a password (a random 16-byte salt each) and decodes
    // the stored form of the others. Throws std::invalid_argument for a value the config loader
    // would have refused (the loader validates every field).
    // std::runtime_error when the random generator fails.
    explicit user_store(const plugins::auth_scram_config& cfg);
    user_store();

    void add(std::string username, credentials c);  // replaces an entry with the same name
    const credentials* find(std::string_view username) const;
    std::size_t size() const noexcept { return users_.size(); }

    // Simple authentication against the stored keys: SaltedPassword from `password`, then
    // H(HMAC(SaltedPassword, "Client Key")) == StoredKey. An unknown user costs the same work.
    bool check_password(std::string_view username, std::string_view password) const;

  private:
    std::map<std::string, credentials, std::less<>> users_;
    std::string dummy_salt_;  // for check_password of an unknown user
    std::uint32_t dummy_iterations_ = 4096;
};

// ---- the method -------------------------------------------------------------------------------

class scram_method final : public broker::auth_method {
  public:
    struct options {
        // Iteration count announced for unknown users (set it to what real users use).
        std::uint32_t fake_iterations = 4096;
        // The server's nonce part; default: 24 random bytes in base64. Tests pin it.
        std::function<std::string()> nonce;
    };
    explicit scram_method(std::shared_ptr<const user_store> users);
    // Throws std::runtime_error when the random generator fails (start-up only).
    scram_method(std::shared_ptr<const user_store> users, options o);

    std::string_view name() const noexcept override { return method_name; }
    // Thread-safe: the exchange it returns belongs to one connection and refers to this method,
    // which must outlive it (the server's hook bus outlives every connection).
    std::unique_ptr<broker::auth_exchange> start(const broker::client_info& client) override;

    // The salt and keys announced for a user that does not exist (or may not be used): derived
    // from a per-process secret, so the same name always gets the same salt and an observer
    // cannot tell it from a real user (RFC 5802 section 9).
    credentials fake_credentials(std::string_view username) const;
    std::string make_nonce() const;
    const user_store& users() const noexcept { return *users_; }

  private:
    std::shared_ptr<const user_store> users_;
    options options_;
    std::string secret_;
};

// Registers the method on `bus` (and, with allow_plain_password_connect, an authenticate
// handler that checks CONNECT User Name / Password against the same users; with `pool` the
// PBKDF2 work of that check runs on the pool and the decision is deferred). Call before the
// server starts. Returns the method.
std::shared_ptr<scram_method> register_plugin(broker::hook_bus& bus,
                                              const plugins::auth_scram_config& cfg);
std::shared_ptr<scram_method> register_plugin(broker::hook_bus& bus,
                                              const plugins::auth_scram_config& cfg,
                                              std::optional<asio::any_io_executor> pool);

// The rmqtt-auth-scram plugin (plugin.hpp): configure() reads rmqtt-auth-scram.toml, start()
// registers the method with the plugin executor as the pool.
std::unique_ptr<broker::plugin> make_plugin();

}  // namespace rmqtt::plugins::auth_scram
