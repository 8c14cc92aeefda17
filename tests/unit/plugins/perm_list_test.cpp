// RMQTT's permission list (auth_common/perm_list.hpp), shared by rmqtt-auth-jwt and
// rmqtt-auth-http: parsing, placeholders, filter coverage, and the checks.
#include "auth_common/perm_list.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "auth_common/peer_address.hpp"

namespace {

using namespace rmqtt::plugins::auth_common;
using nlohmann::json;
using rmqtt::protocol::qos;

struct who {
    std::string id = "c1";
    std::optional<std::string> user = std::string("u1");
    rmqtt::broker::client_info info() const {
        rmqtt::broker::client_info c;
        c.client_id = id;
        c.username = &user;
        c.peer = "127.0.0.1:1";
        c.listener = "tcp.external";
        return c;
    }
};

std::vector<acl_rule> rules(const json& j, const who& w = {}) {
    std::string error;
    auto r = parse_rules(j, w.info(), error);
    EXPECT_TRUE(r) << error;
    return r.value_or(std::vector<acl_rule>{});
}

TEST(perm_list, FilterCoversFilter) {
    EXPECT_TRUE(filter_covers("a/b", "a/b"));
    EXPECT_TRUE(filter_covers("a/+", "a/b"));
    EXPECT_TRUE(filter_covers("a/+", "a/+"));
    EXPECT_FALSE(filter_covers("a/+", "a/#")) << "'#' reaches deeper than '+'";
    EXPECT_FALSE(filter_covers("a/+", "a/b/c"));
    EXPECT_TRUE(filter_covers("a/#", "a"));
    EXPECT_TRUE(filter_covers("a/#", "a/#"));
    EXPECT_TRUE(filter_covers("a/#", "a/+/c"));
    EXPECT_TRUE(filter_covers("#", "a/b/#"));
    EXPECT_FALSE(filter_covers("a/b", "a/+"));
    EXPECT_FALSE(filter_covers("a/b/c", "a/b"));
    EXPECT_FALSE(filter_covers("#", "$SYS/#")) << "[MQTT-4.7.2-1]";
    EXPECT_FALSE(filter_covers("+/x", "$SYS/x"));
    EXPECT_TRUE(filter_covers("$SYS/#", "$SYS/broker"));
    EXPECT_TRUE(filter_covers("a//b", "a//b"));
    EXPECT_FALSE(filter_covers("a//b", "a/b"));
}

TEST(perm_list, PlaceholdersAndExactTopics) {
    const auto r = rules(json::array({
        {{"permission", "allow"}, {"action", "publish"}, {"topic", "d/${clientid}/${username}"}},
        {{"permission", "deny"}, {"action", "subscribe"}, {"topic", "eq d/#"}},
    }));
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(r[0].topic, "d/c1/u1");
    EXPECT_TRUE(r[1].exact);
    EXPECT_EQ(r[1].topic, "d/#");
    EXPECT_EQ(check_publish_topic(r, "d/c1/u1"), verdict::allow);
    EXPECT_EQ(check_publish_topic(r, "d/c2/u1"), verdict::no_match);
    EXPECT_EQ(check_subscribe(r, "d/#"), verdict::deny);
    EXPECT_EQ(check_subscribe(r, "d/+"), verdict::no_match);
}

TEST(perm_list, WildcardsFromTheClientNeverWidenAnAllowRule) {
    who w;
    w.user = "#";
    const auto r =
        rules(json::array({
                  {{"permission", "allow"}, {"action", "all"}, {"topic", "u/${username}"}},
              }),
              w);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TRUE(r[0].inert);
    EXPECT_EQ(check_publish_topic(r, "u/x"), verdict::no_match);
    EXPECT_EQ(check_subscribe(r, "u/#"), verdict::no_match);
    // A deny rule keeps the wildcard (it only denies more).
    const auto d =
        rules(json::array({
                  {{"permission", "deny"}, {"action", "all"}, {"topic", "u/${username}"}},
              }),
              w);
    EXPECT_EQ(check_publish_topic(d, "u/x"), verdict::deny);
}

TEST(perm_list, ErrorsRefuseTheWholeList) {
    std::string error;
    who anonymous;
    anonymous.user.reset();
    EXPECT_FALSE(parse_rules(
        json::array({{{"permission", "allow"}, {"action", "all"}, {"topic", "${username}/x"}}}),
        anonymous.info(), error));
    EXPECT_NE(error.find("no user name"), std::string::npos) << error;
    EXPECT_FALSE(parse_rules(json::object(), who{}.info(), error));
    EXPECT_FALSE(
        parse_rules(json::array({{{"permission", "allow"}, {"action", "all"}, {"topic", "eq "}}}),
                    who{}.info(), error));
    EXPECT_FALSE(parse_rules(
        json::array(
            {{{"permission", "allow"}, {"action", "all"}, {"topic", "a"}, {"qos", {1, 7}}}}),
        who{}.info(), error));
}

TEST(perm_list, SubscribeRulesWithQosAreReadConservatively) {
    const auto allow_q1 = rules(json::array({
        {{"permission", "allow"}, {"action", "subscribe"}, {"topic", "a/#"}, {"qos", 1}},
    }));
    EXPECT_EQ(check_subscribe(allow_q1, "a/b"), verdict::no_match)
        << "the requested QoS is unknown: the allow cannot be proven";
    const auto deny_q2 = rules(json::array({
        {{"permission", "deny"}, {"action", "subscribe"}, {"topic", "a/#"}, {"qos", {2}}},
    }));
    EXPECT_EQ(check_subscribe(deny_q2, "a/b"), verdict::deny);
    const auto all_qos = rules(json::array({
        {{"permission", "allow"}, {"action", "subscribe"}, {"topic", "a/#"}, {"qos", {0, 1, 2}}},
    }));
    EXPECT_EQ(check_subscribe(all_qos, "a/b"), verdict::allow);
}

TEST(perm_list, PublishRetainSemanticsOfRmqtt) {
    const auto r = rules(json::array({
        {{"permission", "deny"}, {"action", "publish"}, {"topic", "foo/4"}, {"retain", true}},
        {{"permission", "allow"}, {"action", "publish"}, {"topic", "foo/#"}, {"retain", true}},
    }));
    EXPECT_EQ(check_publish_topic(r, "foo/4"), verdict::needs_message);
    EXPECT_EQ(check_publish(r, "foo/4", qos::at_most_once, true), verdict::deny);
    EXPECT_EQ(check_publish(r, "foo/4", qos::at_most_once, false), verdict::allow)
        << "an allow rule with retain = true allows unretained messages too";
    EXPECT_EQ(check_publish_topic(r, "foo/5"), verdict::allow);
    EXPECT_EQ(check_publish(r, "bar", qos::at_most_once, false), verdict::no_match);
}

TEST(peer_address, IpAndPort) {
    EXPECT_EQ(ip_of_peer("10.0.0.1:5000"), "10.0.0.1");
    EXPECT_EQ(port_of_peer("10.0.0.1:5000"), "5000");
    EXPECT_EQ(ip_of_peer("[::1]:5000"), "::1");
    EXPECT_EQ(port_of_peer("[::1]:5000"), "5000");
    EXPECT_EQ(port_of_peer("[::1]"), "");
}

}  // namespace
