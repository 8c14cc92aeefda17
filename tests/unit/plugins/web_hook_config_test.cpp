// rmqtt-web-hook's pure parts: the file (defaults, the shipped file, rules, refused values), URL
// targets, rule matching by topic filter, the retry schedule, and RMQTT's JSON bodies.
#include "web_hook/web_hook_config.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "plugin_config_test_util.hpp"
#include "web_hook/hook_body.hpp"

namespace {

using namespace rmqtt::plugins::web_hook;
using rmqtt::broker::config_section;
using rmqtt::test::plugin_file;
using std::chrono::milliseconds;
namespace ev = rmqtt::broker::events;
namespace proto = rmqtt::protocol;

web_hook_config parse(const std::string& text) {
    return plugin_file("rmqtt-web-hook", text).parse(parse_web_hook_config);
}

std::string error_of(const std::string& text) {
    return plugin_file("rmqtt-web-hook", text).error(parse_web_hook_config);
}

TEST(web_hook_config, DefaultsAsRmqtt) {
    const auto c = parse_web_hook_config(config_section{});
    EXPECT_EQ(c.queue_capacity, 300'000u);
    EXPECT_EQ(c.concurrency_limit, 128u);
    EXPECT_EQ(c.http_timeout, milliseconds(8000));
    EXPECT_EQ(c.retry_max_elapsed_time, milliseconds(60'000));
    EXPECT_DOUBLE_EQ(c.retry_multiplier, 2.5);
    EXPECT_TRUE(c.urls.empty());
    for (const auto& r : c.rules)
        EXPECT_TRUE(r.empty());
}

TEST(web_hook_config, TheShippedFile) {
    const plugin_file f(rmqtt::test::source_dir() + "/etc/plugins/rmqtt-web-hook.toml");
    const auto c = f.parse(parse_web_hook_config);
    EXPECT_TRUE(f.warnings().empty()) << f.all_warnings();
    ASSERT_EQ(c.urls.size(), 1u);
    EXPECT_EQ(c.urls[0].type, target::kind::file);
    EXPECT_EQ(c.urls[0].path, "/var/log/rmqtt/hook.log");
    for (std::size_t i = 0; i + 1 < event_kinds; ++i) {  // every event but offline_message
        const auto k = static_cast<event_kind>(i);
        ASSERT_EQ(c.rules_for(k).size(), 1u) << to_string(k);
        EXPECT_EQ(c.rules_for(k)[0].action, to_string(k));
    }
}

TEST(web_hook_config, RulesWithActionsUrlsAndTopics) {
    const auto c = parse(
        "urls = [\"http://127.0.0.1:5656/mqtt/webhook\"]\n"
        "worker_threads = 3\n"
        "rule.client_connected = [{action = \"client_connected\"}, {action = \"c2\", urls = "
        "[\"https://[::1]:8443/x?y=1\", \"file:///tmp/h.log\"]}]\n"
        "rule.message_publish = [{topics = [\"a/b/c\", \"foo/#\"]}]\n");
    const auto& connected = c.rules_for(event_kind::client_connected);
    ASSERT_EQ(connected.size(), 2u);
    EXPECT_TRUE(connected[0].urls.empty());
    EXPECT_EQ(connected[1].action, "c2");
    ASSERT_EQ(connected[1].urls.size(), 2u);
    EXPECT_TRUE(connected[1].urls[0].https);
    EXPECT_EQ(connected[1].urls[0].host, "::1");
    EXPECT_EQ(connected[1].urls[0].port, 8443);
    EXPECT_EQ(connected[1].urls[0].path, "/x?y=1");
    EXPECT_EQ(connected[1].urls[1].type, target::kind::file);
    const auto& publish = c.rules_for(event_kind::message_publish);
    ASSERT_EQ(publish.size(), 1u);
    EXPECT_EQ(publish[0].action, "message_publish");  // the event's name by default
    EXPECT_EQ(publish[0].topics, (std::vector<std::string>{"a/b/c", "foo/#"}));
}

TEST(web_hook_config, RefusedValuesNameTheKey) {
    EXPECT_NE(error_of("urls = [\"ftp://h/x\"]\n").find("urls: expected an http://"),
              std::string::npos);
    EXPECT_NE(error_of("urls = [\"http://h/\"]\nrule.client_exploded = [{}]\n")
                  .find("rule.client_exploded: unknown event; expected one of session_created"),
              std::string::npos);
    EXPECT_NE(error_of("rule.client_connected = [{}]\n").find("no default `urls`"),
              std::string::npos);
    EXPECT_NE(error_of("urls = [\"http://h/\"]\nrule.message_acked = [{topics = [\"a/#/b\"]}]\n")
                  .find("rule.message_acked[0].topics: \"a/#/b\" is not a valid topic filter"),
              std::string::npos);
    EXPECT_NE(error_of("urls = [\"http://h/\"]\nrule.message_acked = \"x\"\n")
                  .find("rule.message_acked: expected an array of rules"),
              std::string::npos);
    EXPECT_NE(error_of("retry_multiplier = 0.5\n").find("retry_multiplier: expected a number"),
              std::string::npos);
    EXPECT_NE(error_of("concurrency_limit = 0\n").find("concurrency_limit"), std::string::npos);
}

TEST(web_hook_target, ParsesHttpHttpsAndFileOnly) {
    const auto h = parse_target("http://example.com/hook");
    ASSERT_TRUE(h);
    EXPECT_EQ(h->host, "example.com");
    EXPECT_EQ(h->port, 80);
    EXPECT_EQ(h->path, "/hook");
    const auto q = parse_target("http://h:81?x=1");
    ASSERT_TRUE(q);
    EXPECT_EQ(q->port, 81);
    EXPECT_EQ(q->path, "/?x=1");
    EXPECT_EQ(parse_target("file:///var/log/h.log")->path, "/var/log/h.log");
    for (const auto* bad : {"ftp://h/x", "h/x", "http://", "http://h:0/", "http://h:70000/",
                            "http://u@h/", "file://relative", "file:///", "http://h/#f"})
        EXPECT_FALSE(parse_target(bad)) << bad;
}

TEST(web_hook_rules, TopicFiltersMatchMessageTopicsAndSubscriptionFilters) {
    const std::vector<std::string> topics{"a/b/c", "foo/#"};
    EXPECT_TRUE(rule_matches({}, "anything"));
    EXPECT_TRUE(rule_matches(topics, "a/b/c"));
    EXPECT_TRUE(rule_matches(topics, "foo/bar"));
    EXPECT_TRUE(rule_matches(topics, "foo"));
    EXPECT_FALSE(rule_matches(topics, "a/b/d"));
    EXPECT_FALSE(rule_matches(topics, "fo/bar"));
    EXPECT_TRUE(rule_matches(topics, "foo/+"));   // a subscription's filter, as a name
    EXPECT_FALSE(rule_matches({"#"}, "$SYS/x"));  // [MQTT-4.7.2-1]
}

TEST(web_hook_rules, RetryScheduleGrowsByTheMultiplierUntilTheLimit) {
    web_hook_config c;  // 500 ms, x2.5, 60 s
    EXPECT_EQ(retry_delay(c, 1, milliseconds(0)), milliseconds(500));
    EXPECT_EQ(retry_delay(c, 2, milliseconds(600)), milliseconds(1250));
    EXPECT_EQ(retry_delay(c, 3, milliseconds(2000)), milliseconds(3125));
    EXPECT_EQ(retry_delay(c, 9, milliseconds(0)), milliseconds(60'000));  // at most 60 s apart
    EXPECT_FALSE(retry_delay(c, 6, milliseconds(33'000)));  // 48.8 s more would pass 60 s
    c.retry_max_elapsed_time = milliseconds(0);
    EXPECT_FALSE(retry_delay(c, 1, milliseconds(0)));
}

TEST(web_hook_body, ClientEventsAsRmqtt) {
    ev::client_connected e;
    e.who = {"dev", std::nullopt, "10.0.0.1:5000", "tcp.external", proto::version::v5};
    e.keep_alive = 60;
    e.clean_start = true;
    e.session_present = false;
    json b = connected_body(7, e, 1700000000123);
    EXPECT_EQ(b, (json{{"node", 7},
                       {"ipaddress", "10.0.0.1:5000"},
                       {"clientid", "dev"},
                       {"username", "undefined"},
                       {"keepalive", 60},
                       {"proto_ver", 5},
                       {"clean_start", true},
                       {"connected_at", 1700000000123},
                       {"session_present", false}}));
    EXPECT_EQ(connack_body(7, e)["conn_ack"], "Success");
    ev::connect_refused r;
    r.who = e.who;
    r.reason = proto::reason_code::not_authorized;
    EXPECT_EQ(connack_body(7, r)["conn_ack"], std::string(proto::to_string(r.reason)));

    const client_facts f{"dev", std::string("alice"), "10.0.0.1:5000", proto::version::v3_1_1, 5};
    ev::subscribed s;
    s.client_id = "dev";
    s.filter = "foo/#";
    s.options.max_qos = proto::qos::exactly_once;
    b = subscribed_body(1, f, s);
    EXPECT_EQ(b["username"], "alice");
    EXPECT_EQ(b["topic"], "foo/#");
    EXPECT_EQ(b["opts"], (json{{"qos", 2}}));
    EXPECT_EQ(session_created_body(1, f)["created_at"], 5);
    EXPECT_EQ(session_terminated_body(1, f, ev::session_end_reason::expired)["reason"], "expired");
}

TEST(web_hook_body, MessageEventsCarryBase64PayloadAndBothClients) {
    rmqtt::broker::message m;
    m.topic = "t/1";
    m.payload = std::string("\x00\xff hi", 5);
    m.qos = proto::qos::at_least_once;
    m.retain = true;
    m.created_at_ms = 111;
    const client_facts from{"pub", std::nullopt, "1.2.3.4:1", proto::version::v3_1_1, 0};
    const client_facts to{"sub", std::string("bob"), "5.6.7.8:2", proto::version::v5, 0};
    const json b = message_body(3, m, from, &to, proto::qos::at_most_once, 222);
    EXPECT_EQ(b["from_clientid"], "pub");
    EXPECT_EQ(b["from_username"], "undefined");
    EXPECT_EQ(b["from_ipaddress"], "1.2.3.4:1");
    EXPECT_EQ(b["clientid"], "sub");
    EXPECT_EQ(b["username"], "bob");
    EXPECT_EQ(b["qos"], 0);  // as delivered
    EXPECT_EQ(b["retain"], true);
    EXPECT_EQ(b["payload"], "AP8gaGk=");
    EXPECT_EQ(b["pts"], 111);
    EXPECT_EQ(b["ts"], 222);
    const json sys = message_body(3, m, std::nullopt, nullptr, std::nullopt, 222);
    EXPECT_EQ(sys["from_clientid"], "system");  // RMQTT's From::from_system
    EXPECT_FALSE(sys.contains("clientid"));
    EXPECT_EQ(rmqtt::broker::base64_encode(""), "");
    EXPECT_EQ(rmqtt::broker::base64_encode("ab"), "YWI=");
}

TEST(web_hook_body, TimeIsLocalWithMilliseconds) {
    const auto t = format_time(1700000000007);
    ASSERT_EQ(t.size(), 23u) << t;
    EXPECT_EQ(t.substr(19), ".007");
    EXPECT_EQ(t[4], '-');
    EXPECT_EQ(t[10], ' ');
}

// session_created is handled after the fact, on the plugin's thread: a client that connected and
// left at once has no session by then, so its facts come with the event (the $SYS and web hook
// bodies showed "undefined" for its user name when they were looked up).
TEST(web_hook_body, SessionCreatedTakesTheConnectionFromTheEvent) {
    std::unordered_map<std::string, client_facts> directory;
    ev::session_created e;
    e.client_id = "dev-1";
    e.who.client_id = "dev-1";
    e.who.username = "alice";
    e.who.peer = "127.0.0.1:4000";
    const auto f = created_facts(directory, e, 7);
    EXPECT_EQ(session_created_body(1, f)["username"], "alice");
    EXPECT_EQ(f.peer, "127.0.0.1:4000");
    EXPECT_EQ(f.created_at_ms, 7);
    ASSERT_EQ(directory.count("dev-1"), 1u) << "kept for the session's later events";

    // What the directory knew first (a client_connected handled before) is kept.
    directory["dev-2"] =
        client_facts{"dev-2", std::string("bob"), "1.2.3.4:5", proto::version::v5, 3};
    e.client_id = "dev-2";
    const auto g = created_facts(directory, e, 9);
    EXPECT_EQ(g.username, std::optional<std::string>("bob"));
    EXPECT_EQ(g.created_at_ms, 3);
}

}  // namespace
