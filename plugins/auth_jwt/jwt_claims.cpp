// validate_claims: the time claims and the expected values of a verified token's claims.
#include "auth_jwt/jwt_claims.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <limits>

#include "auth_common/peer_address.hpp"

namespace rmqtt::plugins::auth_jwt {

namespace {

std::string shown(std::string_view s) {
    constexpr std::size_t limit = 64;
    std::string out;
    out.reserve(limit + 5);
    out.push_back('"');
    out.append(s.substr(0, limit));
    if (s.size() > limit) out.append("...");
    out.push_back('"');
    return out;
}

// The substituted expected values; nullopt (with `why`) when one cannot be substituted.
std::optional<std::vector<std::string>> expected_values(const std::vector<std::string>& patterns,
                                                        const broker::client_info& c,
                                                        std::string_view claim, std::string& why) {
    std::vector<std::string> out;
    out.reserve(patterns.size());
    for (const auto& p : patterns) {
        auto v = substitute(p, c);
        if (!v) {
            why =
                "claim \"" + std::string(claim) + "\" expects ${username} but the client has none";
            return std::nullopt;
        }
        out.push_back(std::move(*v));
    }
    return out;
}

bool one_of(const std::vector<std::string>& values, std::string_view v) {
    return std::find(values.begin(), values.end(), v) != values.end();
}

}  // namespace

std::optional<std::string> substitute(std::string_view pattern, const broker::client_info& c) {
    std::string out;
    out.reserve(pattern.size());
    for (std::size_t i = 0; i < pattern.size();) {
        const auto rest = pattern.substr(i);
        if (rest.starts_with("${username}")) {
            if (c.username == nullptr || !c.username->has_value()) return std::nullopt;
            out += **c.username;
            i += 11;
        } else if (rest.starts_with("${clientid}")) {
            out += c.client_id;
            i += 11;
        } else if (rest.starts_with("${ipaddr}")) {
            out += auth_common::ip_of_peer(c.peer);
            i += 9;
        } else if (rest.starts_with("${protocol}")) {
            out += std::to_string(static_cast<int>(c.version));
            i += 11;
        } else {
            out += pattern[i];
            ++i;
        }
    }
    return out;
}

std::optional<std::int64_t> numeric_date(const nlohmann::json& claims, const char* name) {
    const auto it = claims.find(name);
    if (it == claims.end() || !it->is_number()) return std::nullopt;
    if (it->is_number_integer()) {
        if (it->is_number_unsigned() &&
            it->get<std::uint64_t>() >
                static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
            return std::numeric_limits<std::int64_t>::max();
        return it->get<std::int64_t>();
    }
    const double d = it->get<double>();
    if (!std::isfinite(d)) return std::nullopt;
    if (d >= 9.2e18) return std::numeric_limits<std::int64_t>::max();
    if (d <= -9.2e18) return std::numeric_limits<std::int64_t>::min();
    return static_cast<std::int64_t>(std::floor(d));
}

bool check_claims(const nlohmann::json& claims, const claim_rules& rules,
                  const broker::client_info& c, std::int64_t now_s, std::string& why) {
    const std::int64_t leeway = rules.leeway.count();
    if (rules.exp && claims.contains("exp")) {
        const auto exp = numeric_date(claims, "exp");
        if (!exp) {
            why = "\"exp\" is not a number";
            return false;
        }
        if (*exp < now_s - leeway) {
            why = "the token expired at " + std::to_string(*exp);
            return false;
        }
    }
    if (rules.nbf && claims.contains("nbf")) {
        const auto nbf = numeric_date(claims, "nbf");
        if (!nbf) {
            why = "\"nbf\" is not a number";
            return false;
        }
        if (*nbf > now_s + leeway) {
            why = "the token is not valid before " + std::to_string(*nbf);
            return false;
        }
    }
    if (rules.sub) {
        const auto want = expected_values({*rules.sub}, c, "sub", why);
        if (!want) return false;
        const auto it = claims.find("sub");
        if (it == claims.end() || !it->is_string() || !one_of(*want, it->get<std::string>())) {
            why = "claim \"sub\" is not " + shown(want->front());
            return false;
        }
    }
    if (!rules.iss.empty()) {
        const auto want = expected_values(rules.iss, c, "iss", why);
        if (!want) return false;
        const auto it = claims.find("iss");
        if (it == claims.end() || !it->is_string() || !one_of(*want, it->get<std::string>())) {
            why = "claim \"iss\" is not one of the expected issuers";
            return false;
        }
    }
    if (!rules.aud.empty()) {
        const auto want = expected_values(rules.aud, c, "aud", why);
        if (!want) return false;
        const auto it = claims.find("aud");
        bool ok = false;
        if (it != claims.end() && it->is_string()) {
            ok = one_of(*want, it->get<std::string>());
        } else if (it != claims.end() && it->is_array()) {
            // RFC 7519 section 4.1.3: an array of audiences; one of them must be ours.
            for (const auto& a : *it)
                ok = ok || (a.is_string() && one_of(*want, a.get<std::string>()));
        }
        if (!ok) {
            why = "claim \"aud\" names none of the expected audiences";
            return false;
        }
    }
    for (const auto& [name, patterns] : rules.custom) {
        const auto want = expected_values(patterns, c, name, why);
        if (!want) return false;
        const auto it = claims.find(name);
        if (it == claims.end() || !it->is_string() || !one_of(*want, it->get<std::string>())) {
            why = "claim " + shown(name) + " does not have the expected value";
            return false;
        }
    }
    return true;
}

}  // namespace rmqtt::plugins::auth_jwt
