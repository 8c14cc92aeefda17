#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "auth_common/connection_grants.hpp"
#include "auth_jwt/auth_jwt_config.hpp"
#include "auth_jwt/jwt.hpp"
#include "rmqtt/broker/hooks.hpp"
#include "rmqtt/broker/message.hpp"
#include "rmqtt/broker/plugin.hpp"

// rmqtt-auth-jwt: CONNECT authenticated by a JSON Web Token in the password (or user name), as
// RMQTT's plugin of the same name does (RMQTT docs/en_US/auth-jwt.md, perm-list.md).
//
// authenticate: no token, a token that does not verify (format, algorithm, key, signature) or
//   whose claims fail validate_claims -> deny (5.0: 0x86, 3.x: return code 4). A valid token ->
//   allow; its "superuser" (true: every PUBLISH / SUBSCRIBE of the connection allowed) and "acl"
//   (RMQTT's permission list) claims, and "exp" (for disconnect_if_expiry), are kept for the
//   connection. A malformed "acl" claim -> deny.
// ACL: a connection with a superuser token -> allow; else the first rule of its "acl" claim
//   that applies decides; no rule (or no claims) -> next handler.
// message.publish: rules that depend on the QoS or retain flag are decided here, on the
//   message itself (the ACL hook does not see them).
//
// The signature check costs tens of microseconds at most (an RSA or ECDSA verify), so it runs on
// the connection's thread without deferring.
namespace rmqtt::plugins::auth_jwt {

// The decisions, without a broker: unit tests drive it directly. Thread-safe.
class jwt_authenticator {
  public:
    using clock = std::function<std::int64_t()>;  // Unix time in seconds
    jwt_authenticator(auth_jwt_config cfg, verification_key key, clock now = {});

    broker::hook_result authenticate(const broker::client_info& c,
                                     const std::optional<std::string>& password);
    broker::hook_result check_acl(const broker::client_info& c, broker::acl_action a,
                                  std::string_view topic) const;
    broker::hook_result check_message(const broker::message& m,
                                      const broker::client_info& from) const;

    const auth_jwt_config& config() const noexcept { return cfg_; }
    auth_common::connection_grants& grants() noexcept { return grants_; }
    const verification_key& key() const noexcept { return key_; }

  private:
    auth_jwt_config cfg_;
    verification_key key_;
    clock now_;
    auth_common::connection_grants grants_;
};

// The key the configuration names: the HMAC secret, or the public key file. Throws
// std::runtime_error naming the file (or the key) when it cannot be used.
verification_key load_key(const auth_jwt_config& cfg, const std::string& config_file);

// The rmqtt-auth-jwt plugin (plugin.hpp).
std::unique_ptr<broker::plugin> make_plugin();

}  // namespace rmqtt::plugins::auth_jwt
