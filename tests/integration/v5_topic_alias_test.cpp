// MQTT 5.0 Topic Aliases in both directions against the real rmqttd.
#include <gtest/gtest.h>

#include "v5_util.hpp"

namespace rmqtt::test::v5 {
namespace {

using rc = proto::reason_code;

proto::properties alias(std::uint16_t a) {
    proto::properties p;
    p.topic_alias = a;
    return p;
}

// Client -> server: a PUBLISH with topic and alias sets the mapping, an empty topic uses it, a
// new topic on the same alias replaces it; every alias 1..Topic Alias Maximum is accepted
// [MQTT-3.3.2-12]. Subscribers see the full topic and, having no Topic Alias Maximum, no alias
// [MQTT-3.1.2-27].
TEST(V5TopicAlias, ClientToServer) {
    auto b = start_broker({"max_topic_aliases = 10"});
    auto s = raw5(*b, "ta-sub");
    ASSERT_EQ(subscribe5(*s, 1, "ta/#", 1), std::vector<std::uint8_t>{1});
    proto::connack ack;
    auto c = raw5(*b, connect5("ta-pub"), &ack);
    ASSERT_EQ(ack.props.topic_alias_maximum.value_or(0), 10) << "[MQTT-3.2.2-17]";

    struct step {
        std::string topic;
        std::uint16_t alias;
        std::string expect_topic;
    };
    const std::vector<step> steps = {
        {"ta/x", 1, "ta/x"},  {"", 1, "ta/x"},  {"ta/y", 1, "ta/y"}, {"", 1, "ta/y"},
        {"ta/z", 10, "ta/z"}, {"", 10, "ta/z"}, {"", 1, "ta/y"},
    };
    std::vector<std::string> expected;
    std::uint16_t id = 1;
    for (const auto& st : steps) {
        const auto payload = cat("m", id);
        ASSERT_EQ(publish_acked(*c, publish5(st.topic, payload, 1, id, alias(st.alias))), 0)
            << "PUBLISH " << payload << " (topic '" << st.topic << "', alias " << st.alias << ")";
        expected.push_back(cat(st.expect_topic, " ", payload));
        ++id;
    }
    auto got = receive_publishes(*s, expected.size());
    std::vector<std::string> seen;
    for (const auto& p : got) {
        seen.push_back(cat(p.topic, " ", p.payload));
        EXPECT_FALSE(p.props.topic_alias.has_value())
            << "alias sent to a client without Topic Alias Maximum [MQTT-3.1.2-27]";
    }
    EXPECT_EQ(seen, expected);
    EXPECT_TRUE(alive(*c));
}

// A Topic Alias above the server's Topic Alias Maximum [MQTT-3.3.2-9] or equal to 0
// [MQTT-3.3.2-8] is answered with DISCONNECT 0x94 (5.0 section 3.3.4).
TEST(V5TopicAlias, OutOfRangeIsTopicAliasInvalid) {
    auto b = start_broker({"max_topic_aliases = 10"});
    {
        auto c = raw5(*b, "ta-11");
        c->send(publish5("ta/x", "m", 1, 1, alias(11)));
        expect_disconnect(*c, rc::topic_alias_invalid, "alias 11 with Topic Alias Maximum 10");
    }
    {
        auto c = raw5(*b, "ta-0");
        c->send(publish5("ta/x", "m", 0, 0, alias(0)));
        expect_disconnect(*c, rc::topic_alias_invalid, "alias 0");
    }
}

// Aliases disabled on the listener (max_topic_aliases = 0): CONNACK Topic Alias Maximum absent
// or 0, and any alias is invalid [MQTT-3.2.2-18].
TEST(V5TopicAlias, DisabledOnListener) {
    auto b = start_broker({"max_topic_aliases = 0"});
    proto::connack ack;
    auto c = raw5(*b, connect5("ta-off"), &ack);
    EXPECT_EQ(ack.props.topic_alias_maximum.value_or(0), 0);
    c->send(publish5("ta/x", "m", 1, 1, alias(1)));
    expect_disconnect(*c, rc::topic_alias_invalid, "alias with Topic Alias Maximum 0");
}

// An empty topic with an alias that has no mapping, or with no alias at all, is a Protocol
// Error: DISCONNECT 0x82 (5.0 sections 3.3.2.1 and 3.3.4).
TEST(V5TopicAlias, EmptyTopicWithoutMappingIsProtocolError) {
    auto b = start_broker({"max_topic_aliases = 10"});
    {
        auto c = raw5(*b, "ta-unmapped");
        c->send(publish5("", "m", 1, 1, alias(3)));
        expect_disconnect(*c, rc::protocol_error, "empty topic, alias 3 never set");
    }
    {
        auto c = raw5(*b, "ta-empty");
        c->send(publish5("", "m", 1, 1));
        expect_disconnect(*c, rc::protocol_error, "empty topic without alias");
    }
}

// Topic Alias mappings end with the network connection [MQTT-3.3.2-7]: an alias set on one
// connection is unknown on the next, even for the same persistent session.
TEST(V5TopicAlias, NotCarriedAcrossConnections) {
    auto b = start_broker({"max_topic_aliases = 10"});
    auto s = raw5(*b, "ta-nc-sub");
    ASSERT_EQ(subscribe5(*s, 1, "ta/#", 1), std::vector<std::uint8_t>{1});
    auto conn = connect5("ta-nc", false);
    conn.props.session_expiry_interval = 60;
    {
        auto c = raw5(*b, conn);
        ASSERT_EQ(publish_acked(*c, publish5("ta/nc", "first", 1, 1, alias(2))), 0);
        raw_disconnect(*c);
    }
    auto c = raw5(*b, conn);
    c->send(publish5("", "second", 1, 2, alias(2)));
    auto r = await_close(*c);
    ASSERT_TRUE(r.disconnect.has_value()) << "alias from the previous connection was accepted";
    EXPECT_TRUE(r.disconnect->code == rc::protocol_error ||
                r.disconnect->code == rc::topic_alias_invalid)
        << proto::to_string(r.disconnect->code);
    EXPECT_EQ(raw_payloads(receive_publishes(*s, 2, 1500ms)), std::vector<std::string>{"first"});
}

// Server -> client: with Topic Alias Maximum > 0 in CONNECT, the server may replace a topic
// it sent before by its alias; it never uses an alias above the client's maximum
// [MQTT-3.1.2-26] [MQTT-3.3.2-11] or 0 [MQTT-3.3.2-8], and an empty topic only with an alias it
// set earlier on this connection. Resolving the aliases as a client would gives every topic.
TEST(V5TopicAlias, ServerToClient) {
    auto b = start_broker();
    constexpr std::uint16_t max = 2;
    auto conn = connect5("ta-s2c");
    conn.props.topic_alias_maximum = max;
    auto s = raw5(*b, conn);
    ASSERT_EQ(subscribe5(*s, 1, "sa/#", 1), std::vector<std::uint8_t>{1});
    auto pub = raw5(*b, "ta-s2c-pub");
    const std::vector<std::string> topics = {"sa/one",   "sa/one",   "sa/two", "sa/one",
                                             "sa/three", "sa/three", "sa/two", "sa/one"};
    for (std::size_t i = 0; i < topics.size(); ++i)
        ASSERT_EQ(publish_acked(
                      *pub, publish5(topics[i], cat("p", i), 1, static_cast<std::uint16_t>(i + 1))),
                  0);
    auto got = receive_publishes(*s, topics.size());
    ASSERT_EQ(got.size(), topics.size());
    std::map<std::uint16_t, std::string> mapping;
    std::vector<std::string> resolved;
    for (const auto& p : got) {
        std::string topic = p.topic;
        if (auto a = p.props.topic_alias) {
            EXPECT_GE(*a, 1) << "[MQTT-3.3.2-8]";
            EXPECT_LE(*a, max) << "[MQTT-3.3.2-11]";
            if (topic.empty()) {
                EXPECT_TRUE(mapping.contains(*a)) << "empty topic with an alias never set";
                topic = mapping[*a];
            } else {
                mapping[*a] = topic;
            }
        } else {
            EXPECT_FALSE(topic.empty()) << "empty topic without alias";
        }
        resolved.push_back(topic);
    }
    EXPECT_EQ(resolved, topics);
    // The brief's promise: the second message on a topic comes as alias + empty topic.
    ASSERT_TRUE(got[0].props.topic_alias.has_value()) << "first message did not set an alias";
    EXPECT_EQ(got[0].topic, "sa/one");
    EXPECT_TRUE(got[1].topic.empty()) << "second message on sa/one still carries the topic";
    EXPECT_EQ(got[1].props.topic_alias, got[0].props.topic_alias);
}

// Paho MQTT C 1.3 hands a PUBLISH that uses an alias to the application as it came: empty
// topic plus the Topic Alias property (it does not resolve incoming aliases). Resolving them as
// such an application must still gives every topic, and every alias is within the maximum Paho
// announced [MQTT-3.3.2-11].
TEST(V5TopicAlias, PahoSeesServerAliases) {
    auto b = start_broker();
    mqtt_client::connect_options o;
    o.properties.add(mqtt::property(mqtt::property::TOPIC_ALIAS_MAXIMUM, 4));
    auto s = paho5(*b, "ta-paho", o);
    ASSERT_EQ(s->subscribe("pa/#", 1), 1);
    auto pub = raw5(*b, "ta-paho-pub");
    const std::vector<std::string> topics = {"pa/a", "pa/a", "pa/b", "pa/a", "pa/b"};
    for (std::size_t i = 0; i < topics.size(); ++i)
        ASSERT_EQ(publish_acked(
                      *pub, publish5(topics[i], cat("p", i), 1, static_cast<std::uint16_t>(i + 1))),
                  0);
    auto got = s->take(topics.size());
    std::map<std::uint32_t, std::string> mapping;
    std::vector<std::string> seen;
    for (const auto& m : got) {
        std::string topic = m.topic;
        if (auto a = int_prop(m.props, mqtt::property::TOPIC_ALIAS)) {
            EXPECT_GE(*a, 1u);
            EXPECT_LE(*a, 4u) << "[MQTT-3.3.2-11]";
            if (topic.empty())
                topic = mapping[*a];
            else
                mapping[*a] = topic;
        }
        seen.push_back(topic);
    }
    EXPECT_EQ(seen, topics);
}

}  // namespace
}  // namespace rmqtt::test::v5
