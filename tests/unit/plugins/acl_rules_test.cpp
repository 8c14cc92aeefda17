// rmqtt-acl's rules: reading rmqtt-acl.toml (RMQTT's format, errors naming file and key) and the
// decisions they give: first match, each kind of `who`, CIDR blocks, placeholders with wildcard
// characters in ids (CVE-2017-7650), {eq}, $SYS, containment and overlap of subscribe filters,
// the default when nothing matches.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "acl/acl_rules.hpp"
#include "plugin_config_test_util.hpp"
#include "rmqtt/broker/config.hpp"

namespace rmqtt::test {
namespace {

using namespace rmqtt::plugins::acl;

acl_config rules_from(const std::string& toml,
                      std::shared_ptr<std::vector<std::string>> warnings = nullptr) {
    return parse_acl_config(broker::parse_config_text(toml, "rmqtt-acl.toml", std::move(warnings)));
}

std::string error_of(const std::string& toml) {
    return config_error_of([&] { (void)rules_from(toml); });
}

// A client; `user` empty means no username.
struct client {
    std::string id = "c1";
    std::optional<std::string> user{};
    std::string peer = "10.1.2.3:50000";
    int protocol = 4;
    std::vector<std::string> proofs{};
    bool restored = false;

    subject as_subject() const {
        subject s;
        s.client_id = id;
        s.username = user ? &*user : nullptr;
        s.peer = peer;
        s.protocol = protocol;
        s.proofs = proofs;
        s.restored = restored;
        return s;
    }
};

verdict pub(const acl_config& c, const client& who, const std::string& topic) {
    return check_publish(c, who.as_subject(), topic).v;
}
verdict sub(const acl_config& c, const client& who, const std::string& filter) {
    return check_subscribe(c, who.as_subject(), filter).v;
}
verdict con(const acl_config& c, const client& who) {
    return check_connect(c, who.as_subject()).v;
}

constexpr auto allow = verdict::allow;
constexpr auto deny = verdict::deny;
constexpr auto none = verdict::no_match;

// ---- reading ----------------------------------------------------------------------------------

TEST(acl_rules, RmqttFormatLoads) {
    const auto c = rules_from(R"(
disconnect_if_pub_rejected = false
priority = 50
reload_interval = "250ms"
rules = [
    ["allow", { user = "dashboard" }, "subscribe", ["$SYS/#"]],
    ["allow", { ipaddr = "127.0.0.1" }, "pubsub", ["$SYS/#", "#"]],
    ["deny", "all", "subscribe", ["$SYS/#", { eq = "#" }]],
    ["ALLOW", { user = "u", password = "p", superuser = true, protocol = 5 }, "Connect"],
    ["allow", { clientid = "c", ipaddr = "fd00::/8" }],
    ["allow", "all"]
]
)");
    EXPECT_FALSE(c.disconnect_if_pub_rejected);
    EXPECT_EQ(c.priority, 50);
    EXPECT_EQ(c.reload_interval, std::chrono::milliseconds(250));
    ASSERT_EQ(c.rules.size(), 6u);
    EXPECT_EQ(c.rules[0].actions, unsigned{act_subscribe});
    EXPECT_EQ(c.rules[1].actions, unsigned{act_publish | act_subscribe});
    EXPECT_EQ(c.rules[2].acc, access::deny);
    EXPECT_TRUE(c.rules[2].topics[1].eq);
    EXPECT_EQ(c.rules[3].acc, access::allow);
    EXPECT_EQ(c.rules[3].actions, unsigned{act_connect});
    EXPECT_TRUE(c.rules[3].who.superuser);
    EXPECT_EQ(c.rules[3].who.protocol, 5);
    EXPECT_TRUE(c.rules[3].who.password.has_value());
    EXPECT_FALSE(c.rules[3].who.password->hashed());
    EXPECT_EQ(c.rules[4].actions, unsigned{act_connect | act_publish | act_subscribe});
    EXPECT_TRUE(c.rules[5].who.all);
    EXPECT_TRUE(c.rules[5].all_topics);
    EXPECT_FALSE(c.has_hashed);
}

TEST(acl_rules, WithoutRulesTheBuiltInRulesApply) {
    const auto c = rules_from("disconnect_if_pub_rejected = false\n");
    EXPECT_FALSE(c.disconnect_if_pub_rejected);
    ASSERT_EQ(c.rules.size(), 4u);
    client local{.id = "x", .peer = "127.0.0.1:1234"};
    client remote{.id = "y"};
    client dashboard{.id = "d", .user = "dashboard"};
    EXPECT_EQ(sub(c, local, "$SYS/brokers/1/stats"), allow);
    EXPECT_EQ(sub(c, local, "#"), allow);
    EXPECT_EQ(sub(c, dashboard, "$SYS/#"), allow);
    EXPECT_EQ(sub(c, remote, "$SYS/#"), deny);
    EXPECT_EQ(sub(c, remote, "#"), deny) << "{eq = \"#\"}";
    EXPECT_EQ(sub(c, remote, "a/#"), allow);
    EXPECT_EQ(pub(c, remote, "a/b"), allow);
    EXPECT_EQ(con(c, remote), allow);
}

TEST(acl_rules, EmptyRulesMatchNothing) {
    const auto c = rules_from("rules = []\n");
    EXPECT_TRUE(c.rules.empty());
    EXPECT_EQ(con(c, client{}), none);
    EXPECT_EQ(pub(c, client{}, "a"), none);
    EXPECT_EQ(sub(c, client{}, "a"), none);
}

TEST(acl_rules, ErrorsNameTheFileTheKeyAndTheLine) {
    struct bad {
        const char* toml;
        const char* fragment;
    };
    const bad cases[] = {
        {"rules = 5\n", "rmqtt-acl.toml: rules: expected an array of rules"},
        {"rules = [\"allow\"]\n", "rmqtt-acl.toml: rules[0]: expected [\"allow\" | \"deny\""},
        {"rules = [[\"allow\"]]\n", "rules[0]: expected"},
        {"rules = [[\"allow\", \"all\", \"all\", [], 5]]\n", "rules[0]: expected"},
        {"rules = [[\"permit\", \"all\"]]\n",
         "rmqtt-acl.toml: rules[0][0]: expected \"allow\" or \"deny\", got \"permit\" (line 1)"},
        {"rules = [[\"allow\", \"everyone\"]]\n", "rules[0][1]: expected \"all\" or a table"},
        {"rules = [[\"allow\", {}]]\n", "rules[0][1]: expected \"all\" or a table"},
        {"rules = [\n[\"allow\", { usr = \"a\" }]]\n",
         "rmqtt-acl.toml: rules[0][1].usr: unknown key (line 2)"},
        {"rules = [[\"allow\", { user = 5 }]]\n",
         "rules[0][1].user: expected a non-empty string, got 5"},
        {"rules = [[\"allow\", { ipaddr = \"10.0.0.300\" }]]\n",
         "rules[0][1].ipaddr: expected an IPv4 or IPv6 address, or a CIDR block"},
        {"rules = [[\"allow\", { ipaddr = \"10.0.0.0/33\" }]]\n", "rules[0][1].ipaddr"},
        {"rules = [[\"allow\", { protocol = 6 }]]\n",
         "rules[0][1].protocol: expected 3 (MQTT 3.1), 4 (3.1.1) or 5 (5.0), got 6"},
        {"rules = [[\"allow\", { superuser = \"yes\", user = \"u\" }]]\n",
         "rules[0][1].superuser: expected true or false"},
        {"rules = [[\"allow\", { password = \"p\" }]]\n",
         "rules[0][1]: password and superuser need a user"},
        {"rules = [[\"allow\", { clientid = \"c\", superuser = true }]]\n",
         "rules[0][1]: password and superuser need a user"},
        {"rules = [[\"allow\", \"all\", \"read\"]]\n",
         "rules[0][2]: expected one of \"connect\", \"publish\""},
        {"rules = [[\"allow\", \"all\", \"all\", \"a/#\"]]\n",
         "rules[0][3]: expected an array of topic filters"},
        {"rules = [[\"allow\", \"all\", \"all\", [\"a/#/b\"]]]\n",
         "rules[0][3][0]: expected a topic filter"},
        {"rules = [[\"allow\", \"all\", \"all\", [\"a\", \"sport+\"]]]\n", "rules[0][3][1]"},
        {"rules = [[\"allow\", \"all\", \"all\", [\"\"]]]\n", "rules[0][3][0]"},
        {"rules = [[\"allow\", \"all\", \"all\", [{ eq = \"a\", ne = \"b\" }]]]\n",
         "rules[0][3][0]: expected {eq = \"topic\"}"},
        {"rules = [[\"allow\", \"all\", \"all\", [{ eq = 1 }]]]\n", "rules[0][3][0]"},
        {"reload_interval = \"soon\"\n", "rmqtt-acl.toml: reload_interval: expected a duration"},
        {"priority = \"high\"\n", "rmqtt-acl.toml: priority: expected an integer"},
        {"disconnect_if_pub_rejected = 1\n", "disconnect_if_pub_rejected: expected true or false"},
    };
    for (const auto& c : cases) {
        const std::string e = error_of(c.toml);
        EXPECT_NE(e.find(c.fragment), std::string::npos) << c.toml << "\n -> " << e;
    }
}

// A malformed hash is an error that never quotes the value.
TEST(acl_rules, MalformedHashesAreErrorsWithoutTheValue) {
    for (const char* h :
         {"$2b$10$tooshort", "$2b$99$abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzA",
          "$pbkdf2-sha256$10$c2FsdA$aGFzaGhhc2hoYXNoaGFzaA", "$pbkdf2-sha256$1000$c2FsdA$!!!",
          "$pbkdf2-sha256$1000$c2FsdA$YQ"}) {
        const std::string e = error_of(
            fmt::format("rules = [\n[\"allow\", {{ user = \"u\", password = \"{}\" }}]]\n", h));
        EXPECT_NE(e.find("rmqtt-acl.toml: rules[0][1].password: "), std::string::npos) << e;
        EXPECT_NE(e.find("(line 2)"), std::string::npos) << e;
        EXPECT_EQ(e.find(h), std::string::npos) << "the value is quoted: " << e;
    }
}

TEST(acl_rules, WarningsForWhatIsIgnored) {
    auto warnings = std::make_shared<std::vector<std::string>>();
    const auto c = rules_from(R"(rules = [
    ["deny", { user = "u", password = "p", superuser = true }, "publish", ["x"]],
    ["allow", "all", "connect", ["x"]],
    ["allow", "all", "subscribe", ["$share/g/x"]]
])",
                              warnings);
    EXPECT_FALSE(c.rules[0].who.password.has_value()) << "a deny rule matches by the name";
    std::string all;
    for (const auto& w : *warnings)
        all += w + "\n";
    EXPECT_NE(all.find("rmqtt-acl.toml: rules[0][1]: password and superuser are ignored in a deny"),
              std::string::npos)
        << all;
    EXPECT_NE(all.find("rules[1][3]: topics of a connect rule are not used"), std::string::npos)
        << all;
    EXPECT_NE(all.find("rules[2][3][0]: a \"$share/{group}/\" filter never matches"),
              std::string::npos)
        << all;
}

// ---- decisions --------------------------------------------------------------------------------

TEST(acl_rules, FirstMatchWins) {
    const auto deny_first = rules_from(R"(rules = [
    ["deny", "all", "publish", ["a/b"]],
    ["allow", "all", "publish", ["a/#"]]
])");
    EXPECT_EQ(pub(deny_first, client{}, "a/b"), deny);
    EXPECT_EQ(pub(deny_first, client{}, "a/c"), allow);
    EXPECT_EQ(check_publish(deny_first, client{}.as_subject(), "a/b").by->name, "rules[0]");
    const auto allow_first = rules_from(R"(rules = [
    ["allow", "all", "publish", ["a/#"]],
    ["deny", "all", "publish", ["a/b"]]
])");
    EXPECT_EQ(pub(allow_first, client{}, "a/b"), allow);
    // A rule whose who matches but whose topics do not is passed over.
    EXPECT_EQ(pub(allow_first, client{}, "b"), none);
}

TEST(acl_rules, NothingMatchingIsNoMatch) {
    const auto c = rules_from(R"(rules = [["allow", { user = "u" }, "pubsub", ["a"]]])");
    EXPECT_EQ(pub(c, client{}, "a"), none);
    EXPECT_EQ(sub(c, client{.user = "v"}, "a"), none);
    EXPECT_EQ(con(c, client{.user = "u"}), none) << "pubsub is not connect";
}

TEST(acl_rules, EachKindOfWho) {
    const auto c = rules_from(R"(rules = [
    ["allow", { user = "alice" }, "publish", ["user"]],
    ["allow", { clientid = "dev-1" }, "publish", ["clientid"]],
    ["allow", { ipaddr = "192.168.0.0/16" }, "publish", ["ip"]],
    ["allow", { protocol = 5 }, "publish", ["v5"]],
    ["allow", { protocol = 3 }, "publish", ["v31"]],
    ["allow", { user = "bob", protocol = 4, clientid = "b" }, "publish", ["combined"]],
    ["allow", "all", "publish", ["everyone"]]
])");
    EXPECT_EQ(pub(c, client{.user = "alice"}, "user"), allow);
    EXPECT_EQ(pub(c, client{.user = "Alice"}, "user"), none) << "names are compared exactly";
    EXPECT_EQ(pub(c, client{}, "user"), none);
    EXPECT_EQ(pub(c, client{.id = "dev-1"}, "clientid"), allow);
    EXPECT_EQ(pub(c, client{.id = "dev-12"}, "clientid"), none);
    EXPECT_EQ(pub(c, client{.peer = "192.168.4.5:1"}, "ip"), allow);
    EXPECT_EQ(pub(c, client{.peer = "192.169.0.1:1"}, "ip"), none);
    EXPECT_EQ(pub(c, client{.protocol = 5}, "v5"), allow);
    EXPECT_EQ(pub(c, client{.protocol = 4}, "v5"), none);
    EXPECT_EQ(pub(c, client{.protocol = 3}, "v31"), allow);
    EXPECT_EQ(pub(c, client{.id = "b", .user = "bob", .protocol = 4}, "combined"), allow);
    EXPECT_EQ(pub(c, client{.id = "b", .user = "bob", .protocol = 5}, "combined"), none)
        << "every key of a who table must match";
    EXPECT_EQ(pub(c, client{.id = "x", .user = "bob", .protocol = 4}, "combined"), none);
    EXPECT_EQ(pub(c, client{.id = "anyone", .user = "x", .protocol = 5}, "everyone"), allow);
}

TEST(acl_rules, CidrBlocksV4AndV6) {
    struct probe {
        const char* rule;
        const char* peer;
        bool in;
    };
    const probe cases[] = {
        {"127.0.0.1", "127.0.0.1:1883", true},
        {"127.0.0.1", "127.0.0.2:1883", false},
        {"127.0.0.1", "127.0.0.1", true},
        {"10.0.0.0/8", "10.255.1.2:5", true},
        {"10.0.0.0/8", "11.0.0.1:5", false},
        {"10.1.2.3/0", "200.1.1.1:5", true},
        {"172.16.0.0/12", "172.31.255.255:1", true},
        {"172.16.0.0/12", "172.32.0.0:1", false},
        {"192.168.1.128/25", "192.168.1.200:1", true},
        {"192.168.1.128/25", "192.168.1.100:1", false},
        {"::1", "[::1]:1883", true},
        {"::1", "[::2]:1883", false},
        {"fd00::/8", "[fd12:3456::1]:1", true},
        {"fd00::/8", "[fe80::1]:1", false},
        {"2001:db8::/32", "[2001:db8:ffff::1]:1", true},
        {"2001:db8::/33", "[2001:db8:8000::1]:1", false},
        {"127.0.0.1", "[::ffff:127.0.0.1]:1", true},  // a v4-mapped peer is IPv4
        {"::ffff:10.0.0.0/104", "10.2.3.4:1", true},  // a v4-mapped rule too
        {"10.0.0.0/8", "[::1]:1", false},             // families differ
        {"::/0", "10.0.0.1:1", false},
        {"10.0.0.0/8", "unknown", false},
    };
    for (const auto& p : cases) {
        auto r = ip_range::parse(p.rule);
        ASSERT_TRUE(r) << p.rule;
        EXPECT_EQ(r->contains(p.peer), p.in) << p.rule << " " << p.peer;
    }
    for (const char* bad : {"", "10.0.0.0/", "10.0.0.0/x", "10.0.0.0/33", "::1/129", "localhost",
                            "1.2.3", "10.0.0.0/8/8", "1.2.3.4:80"}) {
        EXPECT_FALSE(ip_range::parse(bad)) << bad;
    }
}

// CVE-2017-7650 (hostile-input #53): a '+' or '#' in a client id or username is literal text in
// a %c / %u pattern, never a wildcard.
TEST(acl_rules, PlaceholdersAreLiteral) {
    const auto c = rules_from(R"(rules = [
    ["allow", "all", "pubsub", ["dev/%c/#", "user/%u", { eq = "eq/%c" }]],
    ["deny", "all", "subscribe", ["priv/%c/#"]],
    ["allow", "all", "subscribe", ["priv/#"]]
])");
    const client a{.id = "a", .user = "ann"};
    EXPECT_EQ(pub(c, a, "dev/a/x"), allow);
    EXPECT_EQ(pub(c, a, "dev/a"), allow) << "'#' matches the parent level";
    EXPECT_EQ(pub(c, a, "dev/b/x"), none);
    EXPECT_EQ(sub(c, a, "dev/a/+"), allow);
    EXPECT_EQ(sub(c, a, "dev/+/x"), none) << "another client's level";
    EXPECT_EQ(pub(c, a, "user/ann"), allow);
    EXPECT_EQ(pub(c, a, "eq/a"), allow);

    for (const char* id : {"+", "#", "a/#", "+/+"}) {
        const client w{.id = id, .user = "+"};
        EXPECT_EQ(sub(c, w, "dev/+/#"), none) << id;
        EXPECT_EQ(sub(c, w, "dev/#"), none) << id;
        EXPECT_EQ(pub(c, w, "dev/b/x"), none) << id;
        EXPECT_EQ(sub(c, w, "user/+"), none) << "username '+'";
        EXPECT_EQ(pub(c, w, "user/x"), none) << "username '+'";
        EXPECT_EQ(sub(c, w, "eq/+"), none) << id;
    }
    // {eq} compares strings: the filter "eq/+" is not the client "+"'s own topic but a
    // wildcard, so an allow {eq} with a '+' or '#' from a placeholder grants nothing ...
    EXPECT_EQ(sub(c, client{.id = "+"}, "eq/+"), none);
    // ... while a deny {eq} still refuses it.
    const auto d = rules_from(R"(rules = [
    ["deny", "all", "subscribe", [{ eq = "own/%c" }]],
    ["allow", "all", "subscribe", ["own/#"]]
])");
    EXPECT_EQ(sub(d, client{.id = "+"}, "own/+"), deny);
    EXPECT_EQ(sub(d, client{.id = "a"}, "own/a"), deny);
    EXPECT_EQ(sub(d, client{.id = "a"}, "own/b"), allow);
    // A '/' in an id splits levels, as the topic does.
    EXPECT_EQ(pub(c, client{.id = "a/b"}, "dev/a/b/x"), allow);
    EXPECT_EQ(sub(c, client{.id = "a/b"}, "dev/a/+"), none);
    // No username: a %u pattern matches nothing (not "user/").
    EXPECT_EQ(pub(c, client{}, "user/"), none);
    EXPECT_EQ(pub(c, client{.user = ""}, "user/"), none);
    // Deny with a placeholder: a filter reaching the client's private level is refused.
    EXPECT_EQ(sub(c, client{.id = "x"}, "priv/+/#"), deny);
    EXPECT_EQ(sub(c, client{.id = "x"}, "priv/x/y"), deny);
    EXPECT_EQ(sub(c, client{.id = "x"}, "priv/y/#"), allow);
    EXPECT_EQ(sub(c, client{.id = "#"}, "priv/#"), deny) << "overlaps priv/#/... literally";
}

TEST(acl_rules, EqComparesTheWholeString) {
    const auto c = rules_from(R"(rules = [
    ["deny", "all", "subscribe", [{ eq = "#" }, { eq = "a/+" }]],
    ["allow", "all", "pubsub", [{ eq = "x/y" }, "open/#"]],
    ["allow", "all", "subscribe", ["#"]]
])");
    EXPECT_EQ(sub(c, client{}, "#"), deny);
    EXPECT_EQ(sub(c, client{}, "a/#"), allow) << "{eq = \"#\"} is only \"#\"";
    EXPECT_EQ(sub(c, client{}, "a/+"), deny);
    EXPECT_EQ(sub(c, client{}, "a/b"), allow) << "{eq} is not a filter";
    EXPECT_EQ(pub(c, client{}, "x/y"), allow);
    EXPECT_EQ(pub(c, client{}, "x/y/z"), none);
    EXPECT_EQ(pub(c, client{}, "x"), none);
}

// Hostile-input #52: $SYS is reachable only through a rule that names it.
TEST(acl_rules, SysTopicsOnlyWhereARuleNamesThem) {
    const auto c = rules_from(R"(rules = [
    ["allow", { user = "ops" }, "subscribe", ["$SYS/brokers/+/stats"]],
    ["allow", { user = "eq" }, "subscribe", [{ eq = "$SYS/x" }]],
    ["allow", { user = "wild" }, "pubsub", ["#", "+/#", "+"]],
    ["allow", { user = "ph" }, "subscribe", ["%c/#"]],
    ["allow", { user = "any" }, "pubsub"],
    ["deny", { user = "nobody" }]
])");
    for (const char* f : {"$SYS/#", "$SYS/brokers/1/stats", "$SYS"}) {
        EXPECT_EQ(sub(c, client{.user = "wild"}, f), none) << f;
        EXPECT_EQ(sub(c, client{.user = "any"}, f), none) << "a rule without topics: " << f;
        EXPECT_EQ(sub(c, client{.id = "$SYS", .user = "ph"}, f), none)
            << "a placeholder never makes a $ level: " << f;
        EXPECT_EQ(sub(c, client{.user = "nobody"}, f), deny) << "a deny rule without topics";
    }
    EXPECT_EQ(pub(c, client{.user = "wild"}, "$SYS/x"), none);
    EXPECT_EQ(pub(c, client{.user = "wild"}, "$foo"), none);
    EXPECT_EQ(sub(c, client{.user = "wild"}, "#"), allow) << "'#' itself never gets $ topics";
    EXPECT_EQ(sub(c, client{.user = "ops"}, "$SYS/brokers/1/stats"), allow);
    EXPECT_EQ(sub(c, client{.user = "ops"}, "$SYS/brokers/+/stats"), allow);
    EXPECT_EQ(sub(c, client{.user = "ops"}, "$SYS/#"), none);
    EXPECT_EQ(sub(c, client{.user = "eq"}, "$SYS/x"), allow);
    EXPECT_EQ(sub(c, client{.id = "$SYS", .user = "ph"}, "x/#"), none);
}

// An allow rule's filter must cover the requested filter; a deny rule's filter refuses a
// requested filter it overlaps.
TEST(acl_rules, FilterAlgebra) {
    struct pair {
        const char* rule;
        const char* filter;
        bool covers;
        bool overlaps;
    };
    const pair cases[] = {
        {"#", "#", true, true},
        {"#", "a/b", true, true},
        {"#", "a/+/#", true, true},
        {"a/#", "a", true, true},
        {"a/#", "a/#", true, true},
        {"a/#", "a/+/b", true, true},
        {"a/#", "b/#", false, false},
        {"a/#", "#", false, true},
        {"a/#", "+/x", false, true},
        {"a/+", "a/b", true, true},
        {"a/+", "a/+", true, true},
        {"a/+", "a/#", false, true},
        {"a/+", "a", false, false},
        {"a/+", "a/b/c", false, false},
        {"a/+/c", "a/+/+", false, true},
        {"+/+", "a/b", true, true},
        {"+/+", "a/#", false, true},
        {"a/b", "a/b", true, true},
        {"a/b", "a/+", false, true},
        {"a/b", "a/c", false, false},
        {"a/b", "#", false, true},
        {"a/b/c", "a/b", false, false},
        {"a", "a/#", false, true},
        {"a//b", "a/+/b", false, true},
        {"a/+/b", "a//b", true, true},
        {"$SYS/#", "$SYS/a", true, true},
        {"$SYS/#", "#", false, false},
        {"$SYS/#", "+/a", false, false},
        {"#", "$SYS/a", false, false},
        {"+/#", "$SYS/#", false, false},
        {"$SYS/+", "$SYS/#", false, true},
    };
    for (const auto& p : cases) {
        EXPECT_EQ(filter_covers(p.rule, p.filter), p.covers) << p.rule << " covers " << p.filter;
        EXPECT_EQ(filters_overlap(p.rule, p.filter), p.overlaps)
            << p.rule << " overlaps " << p.filter;
        if (p.covers) {
            EXPECT_TRUE(p.overlaps) << "covering implies overlapping";
        }
    }
    EXPECT_TRUE(filter_matches("a/+/c", "a/b/c"));
    EXPECT_TRUE(filter_matches("a/#", "a"));
    EXPECT_FALSE(filter_matches("a/+", "a"));
    EXPECT_FALSE(filter_matches("#", "$SYS/x"));
    EXPECT_TRUE(filter_matches("$SYS/#", "$SYS/x"));
}

TEST(acl_rules, SubscribeAllowMustCoverDenyRefusesOverlap) {
    const auto c = rules_from(R"(rules = [
    ["deny", "all", "subscribe", ["secret/#"]],
    ["allow", "all", "subscribe", ["#"]],
    ["allow", { user = "u" }, "subscribe", ["sensors/+/temp"]]
])");
    EXPECT_EQ(sub(c, client{}, "#"), deny) << "'#' would receive secret/...";
    EXPECT_EQ(sub(c, client{}, "+/x"), deny);
    EXPECT_EQ(sub(c, client{}, "secret/a"), deny);
    EXPECT_EQ(sub(c, client{}, "public/#"), allow);
    EXPECT_EQ(sub(c, client{}, "$share/g/public/x"), allow) << "checked without the prefix";
    EXPECT_EQ(sub(c, client{}, "$share/g/secret/x"), deny);

    const auto narrow = rules_from(R"(rules = [
    ["allow", { user = "u" }, "subscribe", ["sensors/+/temp"]]
])");
    EXPECT_EQ(sub(narrow, client{.user = "u"}, "sensors/k1/temp"), allow);
    EXPECT_EQ(sub(narrow, client{.user = "u"}, "sensors/+/temp"), allow);
    EXPECT_EQ(sub(narrow, client{.user = "u"}, "sensors/#"), none) << "wider than the rule";
    EXPECT_EQ(sub(narrow, client{.user = "u"}, "sensors/+/+"), none);
    EXPECT_EQ(sub(narrow, client{.user = "u"}, "#"), none);
}

TEST(acl_rules, ActionsSelectRules) {
    const auto c = rules_from(R"(rules = [
    ["deny", { clientid = "banned" }],
    ["allow", "all", "connect"],
    ["allow", "all", "publish", ["p"]],
    ["allow", "all", "subscribe", ["s"]],
    ["allow", "all", "pubsub", ["ps"]]
])");
    EXPECT_EQ(con(c, client{.id = "banned"}), deny) << "no action means all, connect included";
    EXPECT_EQ(pub(c, client{.id = "banned"}, "p"), deny);
    EXPECT_EQ(con(c, client{}), allow);
    EXPECT_EQ(pub(c, client{}, "p"), allow);
    EXPECT_EQ(sub(c, client{}, "p"), none);
    EXPECT_EQ(sub(c, client{}, "s"), allow);
    EXPECT_EQ(pub(c, client{}, "s"), none);
    EXPECT_EQ(pub(c, client{}, "ps"), allow);
    EXPECT_EQ(sub(c, client{}, "ps"), allow);
}

// A user rule with a password matches a client that proved the password (or, for a restored
// session, by the name); a deny rule matches by the name only.
TEST(acl_rules, PasswordRulesNeedTheProof) {
    const auto c = rules_from(R"(rules = [
    ["allow", { user = "u", password = "right" }, "publish", ["private/#"]],
    ["deny", { user = "u" }, "publish", ["private/#"]],
    ["allow", { user = "u", password = "right" }, "connect"]
])");
    const auto& proof = c.rules[0].who.password->proof();
    EXPECT_TRUE(proof.starts_with("rmqtt-acl:"));
    EXPECT_EQ(proof.find("right"), std::string::npos) << "the proof does not hold the password";
    EXPECT_EQ(pub(c, client{.user = "u", .proofs = {proof}}, "private/x"), allow);
    EXPECT_EQ(pub(c, client{.user = "u"}, "private/x"), deny);
    EXPECT_EQ(pub(c, client{.user = "v", .proofs = {proof}}, "private/x"), none);
    EXPECT_EQ(pub(c, client{.user = "u", .restored = true}, "private/x"), allow);
    EXPECT_EQ(con(c, client{.user = "u"}), none);
    EXPECT_EQ(con(c, client{.user = "u", .proofs = {proof}}), allow);
    ASSERT_EQ(credentials_for(c, "u").size(), 1u) << "the same password once";
    EXPECT_TRUE(credentials_for(c, "v").empty());
}

}  // namespace
}  // namespace rmqtt::test
