// rmqtt-acl's rules: reading them from rmqtt-acl.toml, and the decisions they give.
#include "acl/acl_rules.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <climits>
#include <memory>
#include <utility>

#include "rmqtt/protocol/topic.hpp"

namespace rmqtt::plugins::acl {

using broker::config_node;
using broker::config_section;

namespace {

// ---- reading ----------------------------------------------------------------------------------

constexpr std::string_view rule_form =
    "[\"allow\" | \"deny\", who, action, topics] (2 to 4 elements)";
constexpr std::string_view who_form =
    "\"all\" or a table with at least one of user, password, superuser, clientid, ipaddr, "
    "protocol";
constexpr std::string_view action_form =
    "one of \"connect\", \"publish\", \"subscribe\", \"pubsub\", \"all\"";
constexpr std::string_view topics_form = "an array of topic filters and {eq = \"topic\"} tables";

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& ch : out)
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return out;
}

std::string got(const config_node& n) {
    return n.line > 0 ? fmt::format("got {} (line {})", n.describe(), n.line)
                      : fmt::format("got {}", n.describe());
}

[[noreturn]] void fail_node(const config_section& s, const std::string& key, const config_node& n,
                            std::string_view expected) {
    s.fail(key, fmt::format("expected {}, {}", expected, got(n)));
}

bool has_placeholder(std::string_view s) {
    return s.find("%c") != std::string_view::npos || s.find("%u") != std::string_view::npos;
}

std::vector<level> split_pattern(std::string_view filter) {
    std::vector<level> out;
    std::size_t start = 0;
    for (;;) {
        const auto slash = filter.find('/', start);
        const auto part =
            filter.substr(start, slash == std::string_view::npos ? slash : slash - start);
        if (part == "+") {
            out.push_back({level::kind::plus, {}});
        } else if (part == "#") {
            out.push_back({level::kind::hash, {}});
        } else {
            out.push_back({level::kind::literal, std::string(part)});
        }
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    return out;
}

client_match parse_who(const config_section& s, const std::string& key, const config_node& n,
                       access acc) {
    client_match w;
    if (n.type == config_node::kind::string) {
        if (lower(n.string) != "all") fail_node(s, key, n, who_form);
        w.all = true;
        return w;
    }
    if (n.type != config_node::kind::table || n.table.empty()) fail_node(s, key, n, who_form);
    for (const auto& [k, v] : n.table) {
        const std::string at = fmt::format("{}.{}", key, k);
        if (k == "user" || k == "clientid") {
            if (v.type != config_node::kind::string || v.string.empty())
                fail_node(s, at, v, "a non-empty string");
            (k == "user" ? w.user : w.clientid) = v.string;
        } else if (k == "password") {
            // Never quoted in messages.
            if (v.type != config_node::kind::string || v.string.empty()) {
                s.fail(at, fmt::format("expected a non-empty string (a password, a bcrypt or a "
                                       "PBKDF2-SHA256 hash){}",
                                       v.line > 0 ? fmt::format(" (line {})", v.line) : ""));
            }
            std::string error;
            auto c = credential::parse(v.string, error);
            if (!c) {
                s.fail(at, fmt::format("{}{}", error,
                                       v.line > 0 ? fmt::format(" (line {})", v.line) : ""));
            }
            w.password = std::move(*c);
        } else if (k == "superuser") {
            if (v.type != config_node::kind::boolean) fail_node(s, at, v, "true or false");
            w.superuser = v.boolean;
        } else if (k == "ipaddr") {
            if (v.type != config_node::kind::string) fail_node(s, at, v, "an address or CIDR");
            auto r = ip_range::parse(v.string);
            if (!r) {
                fail_node(s, at, v,
                          "an IPv4 or IPv6 address, or a CIDR block such as \"10.0.0.0/8\" or "
                          "\"fd00::/8\"");
            }
            w.ipaddr = *r;
        } else if (k == "protocol") {
            if (v.type != config_node::kind::integer || v.integer < 3 || v.integer > 5)
                fail_node(s, at, v, "3 (MQTT 3.1), 4 (3.1.1) or 5 (5.0)");
            w.protocol = static_cast<int>(v.integer);
        } else {
            s.fail(at, fmt::format("unknown key (line {}); expected {}", v.line, who_form));
        }
    }
    // A password or superuser flag belongs to a user: without one, the rule would match
    // everyone the other keys match, which is never what the file means.
    if ((w.password || n.table.contains("superuser")) && !w.user) {
        s.fail(key, fmt::format("password and superuser need a user (line {})", n.line));
    }
    if (acc == access::deny && (w.password || w.superuser)) {
        // As RMQTT: a deny rule matches by the user name alone.
        s.warn(key, "password and superuser are ignored in a deny rule");
        w.password.reset();
        w.superuser = false;
    }
    return w;
}

topic_pattern parse_topic(const config_section& s, const std::string& key, const config_node& n) {
    topic_pattern p;
    const config_node* text = &n;
    if (n.type == config_node::kind::table) {
        const auto eq = n.table.find("eq");
        if (n.table.size() != 1 || eq == n.table.end()) fail_node(s, key, n, "{eq = \"topic\"}");
        text = &eq->second;
        p.eq = true;
    }
    if (text->type != config_node::kind::string || text->string.empty())
        fail_node(s, key, *text, topics_form);
    p.text = text->string;
    p.placeholders = has_placeholder(p.text);
    p.dollar = p.text.starts_with('$');
    if (!p.eq) {
        // Placeholders are plain characters here: a valid filter stays valid once they are
        // replaced (a replacement never adds a wildcard).
        if (!protocol::is_valid_topic_filter(p.text)) {
            fail_node(s, key, *text,
                      "a topic filter ('+' and '#' only as whole levels, '#' last), or {eq = "
                      "\"topic\"} for a topic that is compared as written");
        }
        if (p.text.starts_with("$share/")) {
            s.warn(key,
                   "a \"$share/{group}/\" filter never matches: subscriptions are checked "
                   "without that prefix");
        }
        if (!p.placeholders) p.levels = split_pattern(p.text);
    }
    return p;
}

rule parse_rule(const config_section& s, const std::string& key, const config_node& n) {
    if (n.type != config_node::kind::array || n.items.size() < 2 || n.items.size() > 4)
        fail_node(s, key, n, rule_form);
    rule r;
    r.name = key;
    const auto& acc = n.items[0];
    const std::string acc_key = key + "[0]";
    if (acc.type != config_node::kind::string) fail_node(s, acc_key, acc, "\"allow\" or \"deny\"");
    const std::string a = lower(acc.string);
    if (a == "allow") {
        r.acc = access::allow;
    } else if (a == "deny") {
        r.acc = access::deny;
    } else {
        fail_node(s, acc_key, acc, "\"allow\" or \"deny\"");
    }
    r.who = parse_who(s, key + "[1]", n.items[1], r.acc);
    if (n.items.size() > 2) {
        const auto& act = n.items[2];
        const std::string act_key = key + "[2]";
        if (act.type != config_node::kind::string) fail_node(s, act_key, act, action_form);
        const std::string v = lower(act.string);
        if (v == "connect") {
            r.actions = act_connect;
        } else if (v == "publish") {
            r.actions = act_publish;
        } else if (v == "subscribe") {
            r.actions = act_subscribe;
        } else if (v == "pubsub") {
            r.actions = act_publish | act_subscribe;
        } else if (v == "all") {
            r.actions = act_connect | act_publish | act_subscribe;
        } else {
            fail_node(s, act_key, act, action_form);
        }
    }
    if (n.items.size() > 3) {
        const auto& t = n.items[3];
        const std::string t_key = key + "[3]";
        if (t.type != config_node::kind::array) fail_node(s, t_key, t, topics_form);
        r.all_topics = false;
        for (std::size_t i = 0; i < t.items.size(); ++i)
            r.topics.push_back(parse_topic(s, fmt::format("{}[{}]", t_key, i), t.items[i]));
        if (r.actions == act_connect) s.warn(t_key, "topics of a connect rule are not used");
    }
    return r;
}

// RMQTT's built-in rules (rmqtt-acl's config.rs), as the tree its TOML would give.
config_node node_string(std::string v) {
    config_node n;
    n.type = config_node::kind::string;
    n.string = std::move(v);
    return n;
}
config_node node_array(std::vector<config_node> items) {
    config_node n;
    n.type = config_node::kind::array;
    n.items = std::move(items);
    return n;
}
config_node node_table(std::string key, config_node value) {
    config_node n;
    n.type = config_node::kind::table;
    n.table.emplace(std::move(key), std::move(value));
    return n;
}

std::shared_ptr<const config_node> default_rules_tree() {
    config_node rules = node_array({
        node_array({node_string("allow"), node_table("user", node_string("dashboard")),
                    node_string("subscribe"), node_array({node_string("$SYS/#")})}),
        node_array({node_string("allow"), node_table("ipaddr", node_string("127.0.0.1")),
                    node_string("pubsub"), node_array({node_string("$SYS/#"), node_string("#")})}),
        node_array({node_string("deny"), node_string("all"), node_string("subscribe"),
                    node_array({node_string("$SYS/#"), node_table("eq", node_string("#"))})}),
        node_array({node_string("allow"), node_string("all")}),
    });
    return std::make_shared<const config_node>(node_table("rules", std::move(rules)));
}

// ---- matching ---------------------------------------------------------------------------------

// A level of the topic or filter being decided on; '+' and '#' are wildcards only in filters.
struct cand_level {
    level::kind k = level::kind::literal;
    std::string_view text;
};

void split_candidate(std::string_view s, bool is_filter, std::vector<cand_level>& out) {
    out.clear();
    std::size_t start = 0;
    for (;;) {
        const auto slash = s.find('/', start);
        const auto part = s.substr(start, slash == std::string_view::npos ? slash : slash - start);
        if (is_filter && part == "+") {
            out.push_back({level::kind::plus, {}});
        } else if (is_filter && part == "#") {
            out.push_back({level::kind::hash, {}});
        } else {
            out.push_back({level::kind::literal, part});
        }
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
}

bool is_dollar(const cand_level& l) {
    return l.k == level::kind::literal && l.text.starts_with('$');
}
bool is_dollar(const level& l) {
    return l.k == level::kind::literal && l.text.starts_with('$');
}
bool wild(level::kind k) {
    return k != level::kind::literal;
}

// Every topic F matches, P matches.
bool covers(const std::vector<level>& p, const std::vector<cand_level>& f) {
    for (std::size_t i = 0;; ++i) {
        if (i == p.size()) return i == f.size();
        if (p[i].k == level::kind::hash) return !(i == 0 && is_dollar(f[0]));
        if (i == f.size()) return false;  // F ends (matches a topic of i levels), P needs more
        if (f[i].k == level::kind::hash) return false;
        if (p[i].k == level::kind::plus) {
            if (i == 0 && is_dollar(f[0])) return false;  // [MQTT-4.7.2-1]
            continue;
        }
        if (f[i].k != level::kind::literal || f[i].text != p[i].text) return false;
    }
}

// Some topic matches both.
bool overlaps(const std::vector<level>& p, const std::vector<cand_level>& f) {
    for (std::size_t i = 0;; ++i) {
        const bool p_end = i == p.size();
        const bool f_end = i == f.size();
        if (p_end && f_end) return true;
        if (p_end) return f[i].k == level::kind::hash;  // the parent level "a" of "a/#"
        if (f_end) return p[i].k == level::kind::hash;
        // [MQTT-4.7.2-1]: a wildcard first level never meets a '$' one.
        if (i == 0 && ((wild(p[0].k) && is_dollar(f[0])) || (wild(f[0].k) && is_dollar(p[0]))))
            return false;
        if (p[i].k == level::kind::hash || f[i].k == level::kind::hash) return true;
        if (p[i].k == level::kind::plus || f[i].k == level::kind::plus) continue;
        if (p[i].text != f[i].text) return false;
    }
}

// P matches the topic name T.
bool matches(const std::vector<level>& p, const std::vector<cand_level>& t) {
    for (std::size_t i = 0;; ++i) {
        if (i == p.size()) return i == t.size();
        if (p[i].k == level::kind::hash) return !(i == 0 && is_dollar(t[0]));
        if (i == t.size()) return false;
        if (p[i].k == level::kind::plus) {
            if (i == 0 && is_dollar(t[0])) return false;
            continue;
        }
        if (p[i].text != t[i].text) return false;
    }
}

// `text` with %c and %u replaced; false when a placeholder has no value (or, with
// `no_wildcards`, a value holding '+' or '#').
bool substitute(std::string_view text, const subject& s, std::string& out,
                bool no_wildcards = false) {
    out.clear();
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 1 < text.size() && (text[i + 1] == 'c' || text[i + 1] == 'u')) {
            std::string_view value;
            if (text[i + 1] == 'c') {
                value = s.client_id;
            } else if (s.username) {
                value = *s.username;
            }
            if (value.empty()) return false;
            if (no_wildcards && value.find_first_of("+#") != std::string_view::npos) return false;
            out += value;
            ++i;
        } else {
            out += text[i];
        }
    }
    return true;
}

// The pattern's levels for this subject: replaced text is literal, also where it holds '/',
// '+' or '#' (a '/' splits it into more literal levels). False when a placeholder has no value.
bool expand(const topic_pattern& p, const subject& s, std::vector<level>& out) {
    out.clear();
    std::string text;
    for (const auto& l : split_pattern(p.text)) {
        if (l.k != level::kind::literal) {
            out.push_back(l);
            continue;
        }
        if (!substitute(l.text, s, text)) return false;
        std::size_t start = 0;
        for (;;) {
            const auto slash = text.find('/', start);
            out.push_back({level::kind::literal,
                           text.substr(start, slash == std::string::npos ? slash : slash - start)});
            if (slash == std::string::npos) break;
            start = slash + 1;
        }
    }
    return true;
}

enum class test_kind { topic, allow_filter, deny_filter };

// Does pattern `p` decide about `cand` (a topic name, or the plain part of a filter)?
bool pattern_applies(const topic_pattern& p, const subject& s, std::string_view cand,
                     const std::vector<cand_level>& levels, test_kind how) {
    // A '$' topic is matched only by a pattern written with that '$' (never through a wildcard
    // or a placeholder).
    if (cand.starts_with('$') && !p.dollar) return false;
    if (p.eq) {
        if (!p.placeholders) return cand == p.text;
        // Compared as a string, a '+' or '#' from a client id or username would grant a
        // wildcard subscription: in an allow rule such a value matches nothing (CVE-2017-7650).
        std::string text;
        return substitute(p.text, s, text, how == test_kind::allow_filter) && cand == text;
    }
    std::vector<level> expanded;
    const std::vector<level>* lv = &p.levels;
    if (p.placeholders) {
        if (!expand(p, s, expanded)) return false;
        lv = &expanded;
    }
    switch (how) {
        case test_kind::topic:
            return matches(*lv, levels);
        case test_kind::allow_filter:
            return covers(*lv, levels);
        case test_kind::deny_filter:
            return overlaps(*lv, levels);
    }
    return false;
}

bool who_matches(const rule& r, const subject& s) {
    const auto& w = r.who;
    if (w.all) return true;
    if (w.user) {
        if (s.username == nullptr || *s.username != *w.user) return false;
        if (r.acc == access::allow && w.password && !s.restored &&
            std::find(s.proofs.begin(), s.proofs.end(), w.password->proof()) == s.proofs.end()) {
            return false;
        }
    }
    if (w.clientid && s.client_id != *w.clientid) return false;
    if (w.ipaddr && !w.ipaddr->contains(s.peer)) return false;
    if (w.protocol && s.protocol != *w.protocol) return false;
    return true;
}

template <class TopicTest>
decision first_match(const acl_config& c, const subject& s, unsigned act, TopicTest&& topics) {
    for (const auto& r : c.rules) {
        if ((r.actions & act) == 0 || !who_matches(r, s)) continue;
        if (act != act_connect && !topics(r)) continue;
        return {r.acc == access::allow ? verdict::allow : verdict::deny, &r};
    }
    return {};
}

}  // namespace

// ---- ip_range ---------------------------------------------------------------------------------

namespace {

// A v4-mapped IPv6 address (::ffff:a.b.c.d) as IPv4.
void unmap(std::array<std::uint8_t, 16>& b, bool& v4) {
    static constexpr std::array<std::uint8_t, 12> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    if (!v4 && std::equal(mapped.begin(), mapped.end(), b.begin())) {
        std::copy(b.begin() + 12, b.end(), b.begin());
        std::fill(b.begin() + 4, b.end(), 0);
        v4 = true;
    }
}

bool parse_address(std::string_view text, std::array<std::uint8_t, 16>& b, bool& v4) {
    const std::string s(text);
    b.fill(0);
    if (s.find(':') == std::string::npos) {
        v4 = true;
        return inet_pton(AF_INET, s.c_str(), b.data()) == 1;
    }
    v4 = false;
    return inet_pton(AF_INET6, s.c_str(), b.data()) == 1;
}

}  // namespace

std::optional<ip_range> ip_range::parse(std::string_view text) {
    ip_range r;
    const auto slash = text.find('/');
    if (!parse_address(text.substr(0, slash), r.bytes, r.v4)) return std::nullopt;
    r.prefix = r.v4 ? 32 : 128;
    if (slash != std::string_view::npos) {
        const auto bits = text.substr(slash + 1);
        if (bits.empty() || bits.size() > 3 ||
            !std::all_of(bits.begin(), bits.end(), [](char c) { return c >= '0' && c <= '9'; }))
            return std::nullopt;
        const int n = std::stoi(std::string(bits));
        if (n > r.prefix) return std::nullopt;
        r.prefix = n;
    }
    if (!r.v4 && r.prefix >= 96) {  // ::ffff:a.b.c.d/N is the IPv4 block a.b.c.d/(N-96)
        auto b = r.bytes;
        bool v4 = false;
        unmap(b, v4);
        if (v4) {
            r.bytes = b;
            r.v4 = true;
            r.prefix -= 96;
        }
    }
    return r;
}

bool ip_range::contains(std::string_view peer) const {
    std::string_view addr = peer;
    if (addr.starts_with('[')) {
        const auto close = addr.find(']');
        if (close == std::string_view::npos) return false;
        addr = addr.substr(1, close - 1);
    } else if (std::count(addr.begin(), addr.end(), ':') == 1) {
        addr = addr.substr(0, addr.find(':'));
    }
    std::array<std::uint8_t, 16> b{};
    bool is_v4 = true;
    if (!parse_address(addr, b, is_v4)) return false;
    unmap(b, is_v4);
    if (is_v4 != v4) return false;
    const int full = prefix / 8;
    if (!std::equal(bytes.begin(), bytes.begin() + full, b.begin())) return false;
    const int rest = prefix % 8;
    if (rest == 0) return true;
    const auto mask = static_cast<std::uint8_t>(0xFF << (8 - rest));
    return (bytes[static_cast<std::size_t>(full)] & mask) ==
           (b[static_cast<std::size_t>(full)] & mask);
}

// ---- configuration ----------------------------------------------------------------------------

acl_config parse_acl_config(const config_section& s) {
    acl_config c;
    if (auto b = s.get_bool("disconnect_if_pub_rejected")) c.disconnect_if_pub_rejected = *b;
    if (auto p = s.get_int("priority", INT_MIN, INT_MAX)) c.priority = static_cast<int>(*p);
    if (auto d = s.get_duration("reload_interval")) c.reload_interval = *d;

    const config_node* rules = s.get_node("rules");
    if (rules == nullptr) {
        static const auto defaults = default_rules_tree();
        const config_section d(s.file() + " (built-in rules)", defaults, nullptr);
        acl_config out = parse_acl_config(d);
        out.disconnect_if_pub_rejected = c.disconnect_if_pub_rejected;
        out.priority = c.priority;
        out.reload_interval = c.reload_interval;
        return out;
    }
    if (rules->type != config_node::kind::array)
        fail_node(s, "rules", *rules, fmt::format("an array of rules {}", rule_form));
    for (std::size_t i = 0; i < rules->items.size(); ++i)
        c.rules.push_back(parse_rule(s, fmt::format("rules[{}]", i), rules->items[i]));

    for (const auto& r : c.rules) {
        if (r.who.password && r.who.password->hashed()) {
            c.has_hashed = true;
            if (!c.dummy) c.dummy = r.who.password->dummy();
        }
    }
    return c;
}

std::span<const std::string_view> acl_config_keys() {
    static constexpr std::array<std::string_view, 4> keys{"disconnect_if_pub_rejected", "priority",
                                                          "reload_interval", "rules"};
    return keys;
}

// ---- decisions --------------------------------------------------------------------------------

decision check_connect(const acl_config& c, const subject& s) {
    return first_match(c, s, act_connect, [](const rule&) { return true; });
}

decision check_publish(const acl_config& c, const subject& s, std::string_view topic) {
    std::vector<cand_level> levels;
    split_candidate(topic, false, levels);
    return first_match(c, s, act_publish, [&](const rule& r) {
        if (r.all_topics) return r.acc == access::deny || !topic.starts_with('$');
        return std::any_of(r.topics.begin(), r.topics.end(), [&](const topic_pattern& p) {
            return pattern_applies(p, s, topic, levels, test_kind::topic);
        });
    });
}

decision check_subscribe(const acl_config& c, const subject& s, std::string_view filter) {
    bool valid = true;
    if (auto shared = protocol::parse_shared_subscription(filter, valid)) filter = shared->filter;
    std::vector<cand_level> levels;
    split_candidate(filter, true, levels);
    return first_match(c, s, act_subscribe, [&](const rule& r) {
        if (r.all_topics) return r.acc == access::deny || !filter.starts_with('$');
        const auto how = r.acc == access::allow ? test_kind::allow_filter : test_kind::deny_filter;
        return std::any_of(r.topics.begin(), r.topics.end(), [&](const topic_pattern& p) {
            return pattern_applies(p, s, filter, levels, how);
        });
    });
}

std::vector<const credential*> credentials_for(const acl_config& c, std::string_view username) {
    std::vector<const credential*> out;
    for (const auto& r : c.rules) {
        if (r.acc != access::allow || !r.who.user || *r.who.user != username || !r.who.password)
            continue;
        const auto& cred = *r.who.password;
        if (std::none_of(out.begin(), out.end(),
                         [&](const credential* x) { return x->proof() == cred.proof(); }))
            out.push_back(&cred);
    }
    return out;
}

bool filter_covers(std::string_view rule_filter, std::string_view filter) {
    std::vector<cand_level> f;
    split_candidate(filter, true, f);
    if (filter.starts_with('$') && !rule_filter.starts_with('$')) return false;
    return covers(split_pattern(rule_filter), f);
}

bool filters_overlap(std::string_view rule_filter, std::string_view filter) {
    std::vector<cand_level> f;
    split_candidate(filter, true, f);
    if (filter.starts_with('$') && !rule_filter.starts_with('$')) return false;
    return overlaps(split_pattern(rule_filter), f);
}

bool filter_matches(std::string_view rule_filter, std::string_view topic) {
    std::vector<cand_level> t;
    split_candidate(topic, false, t);
    if (topic.starts_with('$') && !rule_filter.starts_with('$')) return false;
    return matches(split_pattern(rule_filter), t);
}

}  // namespace rmqtt::plugins::acl
