#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "rmqtt/broker/hooks.hpp"

// RMQTT's validate_claims (rmqtt-auth-jwt.toml): which claims of a verified token are checked,
// and against what. Values may hold the placeholders ${username}, ${clientid}, ${ipaddr} (the
// client's IP address) and ${protocol} (3 = 3.1, 4 = 3.1.1, 5 = 5.0).
namespace rmqtt::plugins::auth_jwt {

struct claim_rules {
    // exp / nbf: the token must not have expired / must already be valid, give or take `leeway`
    // (RMQTT's library default, 60 s). A token without the claim passes, as in RMQTT.
    bool exp = false;
    bool nbf = false;
    std::chrono::seconds leeway{60};
    // sub must equal this; iss must be one of these; aud (a string or an array) must hold one of
    // these. Each, when set, requires the claim.
    std::optional<std::string> sub;
    std::vector<std::string> iss;
    std::vector<std::string> aud;
    // Any other claim: must be a string equal to one of the values.
    std::vector<std::pair<std::string, std::vector<std::string>>> custom;
};

// `pattern` with the placeholders replaced for client `c`; nullopt when it uses ${username} and
// the client has none (the claim cannot match, as in RMQTT).
std::optional<std::string> substitute(std::string_view pattern, const broker::client_info& c);

// Checks `claims` (a JSON object) for client `c` at Unix time `now_s`. False with `why` set when
// a check fails.
bool check_claims(const nlohmann::json& claims, const claim_rules& rules,
                  const broker::client_info& c, std::int64_t now_s, std::string& why);

// A NumericDate claim (RFC 7519 section 2) in whole seconds (fractions cut off); nullopt when
// absent or not a number.
std::optional<std::int64_t> numeric_date(const nlohmann::json& claims, const char* name);

}  // namespace rmqtt::plugins::auth_jwt
