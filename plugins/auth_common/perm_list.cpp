// RMQTT's permission list: parsing the "acl" rules and checking PUBLISH / SUBSCRIBE against them.
#include "auth_common/perm_list.hpp"

#include <nlohmann/json.hpp>

#include "rmqtt/protocol/topic.hpp"

namespace rmqtt::plugins::auth_common {

using broker::acl_action;

namespace {

constexpr std::string_view placeholder_username = "${username}";
constexpr std::string_view placeholder_clientid = "${clientid}";

bool has_wildcard_char(std::string_view s) noexcept {
    return s.find_first_of("+#") != std::string_view::npos;
}

void replace_all(std::string& s, std::string_view what, std::string_view with) {
    for (auto at = s.find(what); at != std::string::npos; at = s.find(what, at + with.size()))
        s.replace(at, what.size(), with);
}

// One rule object; false with `error` set when it is malformed.
bool parse_rule(const nlohmann::json& j, const broker::client_info& who, acl_rule& out,
                std::string& error) {
    if (!j.is_object()) {
        error = "an ACL rule is not an object: " + j.dump();
        return false;
    }
    const auto text = [&j](const char* name) -> const std::string* {
        const auto it = j.find(name);
        return it != j.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
    };
    const std::string* perm = text("permission");
    if (perm && *perm == "allow") {
        out.perm = permission::allow;
    } else if (perm && *perm == "deny") {
        out.perm = permission::deny;
    } else {
        error = "ACL rule without permission \"allow\" or \"deny\": " + j.dump();
        return false;
    }
    const std::string* action = text("action");
    if (action && *action == "publish") {
        out.action = rule_action::publish;
    } else if (action && *action == "subscribe") {
        out.action = rule_action::subscribe;
    } else if (action && *action == "all") {
        out.action = rule_action::all;
    } else {
        error = "ACL rule without action \"publish\", \"subscribe\" or \"all\": " + j.dump();
        return false;
    }
    if (const auto q = j.find("qos"); q != j.end() && !q->is_null()) {
        const auto one = [](const nlohmann::json& v) -> int {
            if (!v.is_number_integer()) return -1;
            const auto n = v.get<std::int64_t>();
            return n >= 0 && n <= 2 ? static_cast<int>(n) : -1;
        };
        out.qos_mask = 0;
        if (q->is_array()) {
            for (const auto& v : *q) {
                const int n = one(v);
                if (n < 0) {
                    error = "ACL rule with a QoS other than 0, 1, 2: " + j.dump();
                    return false;
                }
                out.qos_mask = static_cast<std::uint8_t>(out.qos_mask | (1u << n));
            }
        } else if (const int n = one(*q); n >= 0) {
            out.qos_mask = static_cast<std::uint8_t>(1u << n);
        } else {
            error = "ACL rule with a QoS other than 0, 1, 2: " + j.dump();
            return false;
        }
    }
    if (const auto r = j.find("retain"); r != j.end() && !r->is_null()) {
        if (!r->is_boolean()) {
            error = "ACL rule with a retain that is not true or false: " + j.dump();
            return false;
        }
        out.retain = r->get<bool>();
    }
    const std::string* topic = text("topic");
    if (!topic || topic->empty() || *topic == "eq ") {
        error = "ACL rule without a topic: " + j.dump();
        return false;
    }
    std::string t = *topic;
    out.exact = t.starts_with("eq ");
    if (out.exact) t.erase(0, 3);

    const bool needs_user = t.find(placeholder_username) != std::string::npos;
    const bool needs_id = t.find(placeholder_clientid) != std::string::npos;
    bool injected_wildcard = false;
    if (needs_user) {
        if (who.username == nullptr || !who.username->has_value()) {
            error = "ACL rule topic uses ${username} but the client has no user name";
            return false;
        }
        injected_wildcard = has_wildcard_char(**who.username);
        replace_all(t, placeholder_username, **who.username);
    }
    if (needs_id) {
        injected_wildcard = injected_wildcard || has_wildcard_char(who.client_id);
        replace_all(t, placeholder_clientid, who.client_id);
    }
    out.topic = std::move(t);
    if (!out.exact) {
        if (injected_wildcard && out.perm == permission::allow) {
            out.inert = true;
        } else if (!protocol::is_valid_topic_filter(out.topic)) {
            error = "ACL rule topic \"" + out.topic + "\" is not a valid topic filter";
            return false;
        }
    }
    return true;
}

bool applies_to(const acl_rule& r, acl_action a) noexcept {
    if (r.action == rule_action::all) return true;
    return a == acl_action::publish ? r.action == rule_action::publish
                                    : r.action == rule_action::subscribe;
}

bool publish_topic_matches(const acl_rule& r, std::string_view topic) noexcept {
    if (r.inert) return false;
    return r.exact ? r.topic == topic : protocol::topic_matches(r.topic, topic);
}

// Whether the rule's verdict on a PUBLISH depends on the message's QoS or retain flag.
bool publish_conditional(const acl_rule& r) noexcept {
    if (r.qos_conditional()) return true;
    if (!r.retain) return false;
    // An allow rule with retain = true allows both; retain = false excludes retained messages.
    // A deny rule with a retain value applies only to messages with that flag.
    return r.perm == permission::deny || !*r.retain;
}

verdict of(permission p) noexcept {
    return p == permission::allow ? verdict::allow : verdict::deny;
}

}  // namespace

std::optional<std::vector<acl_rule>> parse_rules(const nlohmann::json& acl,
                                                 const broker::client_info& who,
                                                 std::string& error) {
    if (!acl.is_array()) {
        error = "\"acl\" is not an array";
        return std::nullopt;
    }
    std::vector<acl_rule> out;
    out.reserve(acl.size());
    for (const auto& j : acl) {
        acl_rule r;
        if (!parse_rule(j, who, r, error)) return std::nullopt;
        out.push_back(std::move(r));
    }
    return out;
}

bool filter_covers(std::string_view rule, std::string_view filter) noexcept {
    // [MQTT-4.7.2-1]: a filter starting with a wildcard does not match '$' topics, so it does not
    // cover a filter for them either.
    if (!filter.empty() && filter[0] == '$' && !rule.empty() && (rule[0] == '+' || rule[0] == '#'))
        return false;
    std::size_t i = 0;
    std::size_t j = 0;
    for (;;) {
        const auto re = rule.find('/', i);
        const auto fe = filter.find('/', j);
        const auto r = rule.substr(i, re == std::string_view::npos ? re : re - i);
        const auto f = filter.substr(j, fe == std::string_view::npos ? fe : fe - j);
        if (r == "#") return true;  // covers this level and everything below
        if (f == "#") return false;
        if (r != "+" && r != f) return false;
        if (re == std::string_view::npos || fe == std::string_view::npos) {
            if (re == std::string_view::npos && fe == std::string_view::npos) return true;
            // "a/#" covers "a" ('#' includes the parent level [MQTT-4.7.1-2]).
            return fe == std::string_view::npos && rule.substr(re + 1) == "#";
        }
        i = re + 1;
        j = fe + 1;
    }
}

verdict check_subscribe(std::span<const acl_rule> rules, std::string_view filter) {
    bool valid = true;
    if (const auto shared = protocol::parse_shared_subscription(filter, valid); shared && valid)
        filter = shared->filter;
    for (const auto& r : rules) {
        if (!applies_to(r, acl_action::subscribe) || r.inert) continue;
        if (r.exact ? r.topic != filter : !filter_covers(r.topic, filter)) continue;
        // The requested QoS is not known here: an allow limited to some QoS values cannot be
        // proven to apply; a deny limited to some applies to all (never grant more than RMQTT).
        if (r.qos_conditional() && r.perm == permission::allow) continue;
        return of(r.perm);
    }
    return verdict::no_match;
}

verdict check_publish_topic(std::span<const acl_rule> rules, std::string_view topic) {
    for (const auto& r : rules) {
        if (!applies_to(r, acl_action::publish) || !publish_topic_matches(r, topic)) continue;
        if (publish_conditional(r)) return verdict::needs_message;
        return of(r.perm);
    }
    return verdict::no_match;
}

verdict check_publish(std::span<const acl_rule> rules, std::string_view topic, protocol::qos q,
                      bool retain) {
    const auto bit = static_cast<unsigned>(1u << static_cast<unsigned>(q));
    for (const auto& r : rules) {
        if (!applies_to(r, acl_action::publish) || !publish_topic_matches(r, topic)) continue;
        if ((r.qos_mask & bit) == 0) continue;
        if (r.retain) {
            if (r.perm == permission::allow && !*r.retain && retain) continue;
            if (r.perm == permission::deny && *r.retain != retain) continue;
        }
        return of(r.perm);
    }
    return verdict::no_match;
}

broker::hook_result to_hook(verdict v) noexcept {
    switch (v) {
        case verdict::allow:
            return broker::hook_result::allow;
        case verdict::deny:
            return broker::hook_result::deny;
        case verdict::no_match:
        case verdict::needs_message:
            break;
    }
    return broker::hook_result::next;
}

}  // namespace rmqtt::plugins::auth_common
