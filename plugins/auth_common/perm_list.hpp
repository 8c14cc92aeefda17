#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "rmqtt/broker/hooks.hpp"
#include "rmqtt/protocol/types.hpp"

// RMQTT's "permission list": ACL rules that an authentication result carries for the connection
// it admits (the private claim "acl" of a JWT, the "acl" attribute of an HTTP authentication
// response; RMQTT docs/en_US/perm-list.md). Shared by rmqtt-auth-jwt and rmqtt-auth-http.
//
//   {"permission": "allow" | "deny", "action": "publish" | "subscribe" | "all",
//    "topic": "foo/${clientid}" | "eq foo/#", "qos": 1 | [0, 1], "retain": true | false}
//
// Rules are tried in order; the first that applies decides. "eq <filter>" applies to that exact
// subscription filter (or topic) only; otherwise the topic is a filter matched with MQTT's
// wildcard rules. ${username} and ${clientid} in a topic are the connection's.
namespace rmqtt::plugins::auth_common {

enum class permission { allow, deny };
enum class rule_action { publish, subscribe, all };

struct acl_rule {
    permission perm = permission::deny;
    rule_action action = rule_action::all;
    std::uint8_t qos_mask = 0b111;  // bit q: the rule applies to QoS q
    std::optional<bool> retain;     // publish only: see publish_applies()
    bool exact = false;             // "eq ": compared as a string, no wildcard matching
    // The topic filter after ${username} / ${clientid} substitution.
    std::string topic;
    // An allow rule whose substituted topic got wildcards from the username or client id: it
    // never applies (a user named "#" is not granted everything under the rule's prefix).
    bool inert = false;

    bool qos_conditional() const noexcept { return qos_mask != 0b111; }
};

// Reads an "acl" array for the connection of `who`. Returns nullopt and sets `error` for a
// malformed rule (not an object, permission / action / topic missing or unknown, a QoS outside
// 0..2, retain not a boolean, a topic that is not a valid filter, ${username} without a user
// name), as RMQTT refuses such an authentication result.
std::optional<std::vector<acl_rule>> parse_rules(const nlohmann::json& acl,
                                                 const broker::client_info& who,
                                                 std::string& error);

enum class verdict {
    allow,
    deny,
    no_match,  // no rule applies: the next ACL handler decides
    // publish, checked by topic only: the first rule that may apply depends on the message's
    // QoS or retain flag, so check_publish() must decide on the message itself.
    needs_message,
};

// SUBSCRIBE of `filter` ("$share/{group}/" is stripped before matching). The ACL hook does not
// see the requested QoS, so a rule with a "qos" condition is read conservatively: an allow rule
// never applies, a deny rule applies at every QoS.
verdict check_subscribe(std::span<const acl_rule> rules, std::string_view filter);
// The hook's answer for a verdict: no_match and needs_message leave it to the next handler.
broker::hook_result to_hook(verdict v) noexcept;
// PUBLISH to `topic` as the ACL hook sees it (no QoS, no retain flag).
verdict check_publish_topic(std::span<const acl_rule> rules, std::string_view topic);
// PUBLISH with its QoS and retain flag: RMQTT's rules exactly (allow rules with retain = false
// do not apply to retained messages; deny rules with a retain condition apply when it equals
// the message's flag).
verdict check_publish(std::span<const acl_rule> rules, std::string_view topic, protocol::qos q,
                      bool retain);

// Whether a subscription filter `rule` covers the subscription filter `filter`: every topic
// `filter` can match, `rule` matches too ('+' in the rule does not cover '#').
bool filter_covers(std::string_view rule, std::string_view filter) noexcept;

}  // namespace rmqtt::plugins::auth_common
