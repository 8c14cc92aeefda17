#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "acl/acl_password.hpp"
#include "rmqtt/broker/config_section.hpp"

// rmqtt-acl's rules (etc/plugins/rmqtt-acl.toml, RMQTT's format) and the decisions they give.
//
//   rules = [ [access, who, action, topics], ... ]     first match wins; none: deny
//     access  "allow" | "deny"
//     who     "all" | a table of user (+ password, superuser), clientid, ipaddr, protocol; every
//             key given must match
//     action  "connect" | "publish" | "subscribe" | "pubsub" | "all" (absent: "all")
//     topics  [filter | {eq = "literal"}, ...] (absent: every topic; see topic_pattern)
//
// How a topic list decides (docs/configuration.md has the full text):
//  - PUBLISH to a topic name: a filter matches it as MQTT matches; {eq} compares the string.
//  - SUBSCRIBE to a filter F (the part after "$share/{group}/" for shared ones): an allow rule's
//    filter must cover F (every topic F can match, it matches too: "a/#" covers "a/+/b", "a/+"
//    does not cover "a/#"); a deny rule's filter applies when it overlaps F (some topic matches
//    both: deny "a/b" refuses "a/+" and "#"). {eq} compares the filter string.
//  - "%c" / "%u" are replaced by the client id / username as literal text: a '+' or '#' in them
//    is no wildcard (CVE-2017-7650); an allow rule's {eq} whose value holds one matches nothing.
//    A pattern whose placeholder has no value (no username, or an empty one) matches nothing.
//  - A topic or filter starting with '$' is matched only by a pattern written with that '$'
//    first ("$SYS/#", {eq = "$SYS/x"}): wildcards and placeholders never produce one. A rule
//    without a topic list is "#" for allow (so never $-topics) and everything for deny.
namespace rmqtt::plugins::acl {

using duration = std::chrono::milliseconds;

enum class access { allow, deny };

// Actions as a bit set.
enum action : unsigned { act_connect = 1, act_publish = 2, act_subscribe = 4 };

// An address or a CIDR block, IPv4 or IPv6 (an IPv4-mapped IPv6 peer is compared as IPv4).
struct ip_range {
    std::array<std::uint8_t, 16> bytes{};
    bool v4 = true;
    int prefix = 32;
    static std::optional<ip_range> parse(std::string_view text);
    // `peer` is "ip:port", "[v6]:port" or a bare address.
    bool contains(std::string_view peer) const;
};

struct client_match {
    bool all = false;
    std::optional<std::string> user;
    std::optional<credential> password;  // allow rules only
    bool superuser = false;              // allow rules only
    std::optional<std::string> clientid;
    std::optional<ip_range> ipaddr;
    std::optional<int> protocol;  // 3, 4 or 5
};

// One level of a pattern after placeholders were replaced.
struct level {
    enum class kind : std::uint8_t { literal, plus, hash };
    kind k = kind::literal;
    std::string text;
};

struct topic_pattern {
    bool eq = false;   // {eq = "..."}: the whole string, compared literally
    std::string text;  // as written
    bool placeholders = false;
    bool dollar = false;        // written with a '$' first: may match $-topics
    std::vector<level> levels;  // without placeholders: the filter's levels
};

struct rule {
    access acc = access::deny;
    client_match who;
    unsigned actions = act_connect | act_publish | act_subscribe;
    bool all_topics = true;
    std::vector<topic_pattern> topics;
    std::string name;  // "rules[2]", for logs
};

struct acl_config {
    bool disconnect_if_pub_rejected = true;
    int priority = 10;
    duration reload_interval = std::chrono::seconds(5);  // 0: the file is not watched
    std::vector<rule> rules;
    // Derived: a password check costs a hash when any stored password is hashed; an unknown
    // user then costs one computation of `dummy` (the first hashed password's kind and cost).
    bool has_hashed = false;
    std::optional<credential> dummy;
};

// Reads rmqtt-acl.toml. Without a `rules` key: RMQTT's built-in rules (the same as the shipped
// file: dashboard may subscribe to $SYS/#, 127.0.0.1 may publish and subscribe to $SYS/# and #,
// nobody else may subscribe to $SYS/# or to exactly "#", everything else is allowed).
// Throws broker::config_error naming the file and the key ("rules[2][1].ipaddr").
acl_config parse_acl_config(const broker::config_section& s);
// The keys parse_acl_config knows (docs/configuration.md documents each).
std::span<const std::string_view> acl_config_keys();

// What a decision looks at.
struct subject {
    std::string_view client_id;
    const std::string* username = nullptr;  // null: none
    std::string_view peer;                  // "ip:port"
    int protocol = 4;
    // The stored passwords this client's password matched (credential::proof()). A user rule
    // with a password matches only a client that proved it ...
    std::span<const std::string> proofs;
    // ... except a session restored at start-up, where a user rule with a password matches by
    // the user name (its password was checked when it connected, and is again when it returns).
    bool restored = false;
};

enum class verdict { allow, deny, no_match };
struct decision {
    verdict v = verdict::no_match;
    const rule* by = nullptr;
};

decision check_connect(const acl_config& c, const subject& s);
decision check_publish(const acl_config& c, const subject& s, std::string_view topic);
// `filter` as the client sent it ("$share/{group}/" is taken off first).
decision check_subscribe(const acl_config& c, const subject& s, std::string_view filter);

// The distinct stored passwords of the allow rules for `username`, in rule order.
std::vector<const credential*> credentials_for(const acl_config& c, std::string_view username);

// The filter algebra, on filters without placeholders (for tests): does `rule_filter` match
// every topic `filter` matches / some topic `filter` matches / the topic name `topic`?
bool filter_covers(std::string_view rule_filter, std::string_view filter);
bool filters_overlap(std::string_view rule_filter, std::string_view filter);
bool filter_matches(std::string_view rule_filter, std::string_view topic);

}  // namespace rmqtt::plugins::acl
