// UTF-8 validation (5.0 section 1.5.4), topic names and filters (section 4.7), matching and
// shared subscriptions (section 4.8.2).
#include <gtest/gtest.h>

#include <string>

#include "rmqtt/protocol/topic.hpp"
#include "rmqtt/protocol/utf8.hpp"

namespace rmqtt::protocol {
namespace {

using namespace std::string_literals;

TEST(Utf8, ValidOneToFourByteSequences) {
    EXPECT_TRUE(is_valid_utf8(""));
    EXPECT_TRUE(is_valid_utf8("plain ascii, longer than eight bytes"));
    EXPECT_TRUE(is_valid_utf8("\x01\x1F\x7F"));      // control characters allowed
    EXPECT_TRUE(is_valid_utf8("\xC2\x80"));          // U+0080
    EXPECT_TRUE(is_valid_utf8("\xDF\xBF"));          // U+07FF
    EXPECT_TRUE(is_valid_utf8("\xE0\xA0\x80"));      // U+0800
    EXPECT_TRUE(is_valid_utf8("\xED\x9F\xBF"));      // U+D7FF, just below surrogates
    EXPECT_TRUE(is_valid_utf8("\xEE\x80\x80"));      // U+E000, just above
    EXPECT_TRUE(is_valid_utf8("\xEF\xBB\xBF"));      // BOM is kept [MQTT-1.5.4-3]
    EXPECT_TRUE(is_valid_utf8("\xEF\xBF\xBF"));      // U+FFFF non-character allowed
    EXPECT_TRUE(is_valid_utf8("\xF0\x90\x80\x80"));  // U+10000
    EXPECT_TRUE(is_valid_utf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF
    EXPECT_TRUE(is_valid_utf8("sport/\xC3\xA9t\xC3\xA9/\xF0\x9F\x98\x80 ok"));  // mixed
}

TEST(Utf8, NullCharacterRejected_MQTT_1_5_4_2) {
    EXPECT_FALSE(is_valid_utf8("\0"s));
    EXPECT_FALSE(is_valid_utf8("abc\0def"s));
    EXPECT_FALSE(is_valid_utf8("abcdefgh\0ijklmnop"s));  // inside the 8-byte fast path
    EXPECT_FALSE(is_valid_utf8("abcdefghijklmno\0"s));
}

TEST(Utf8, SurrogatesRejected_MQTT_1_5_4_1) {
    EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));  // U+D800
    EXPECT_FALSE(is_valid_utf8("\xED\xBF\xBF"));  // U+DFFF
    EXPECT_FALSE(is_valid_utf8("ok/\xED\xB0\x80"));
}

TEST(Utf8, OverlongFormsRejected) {
    EXPECT_FALSE(is_valid_utf8("\xC0\x80"));          // overlong U+0000
    EXPECT_FALSE(is_valid_utf8("\xC1\xBF"));          // overlong U+007F
    EXPECT_FALSE(is_valid_utf8("\xE0\x80\xAF"));      // overlong '/'
    EXPECT_FALSE(is_valid_utf8("\xE0\x9F\xBF"));      // overlong U+07FF
    EXPECT_FALSE(is_valid_utf8("\xF0\x80\x80\xAF"));  // overlong '/'
    EXPECT_FALSE(is_valid_utf8("\xF0\x8F\xBF\xBF"));  // overlong U+FFFF
}

TEST(Utf8, TruncatedAndIllFormedRejected) {
    EXPECT_FALSE(is_valid_utf8("\xC3"));              // truncated 2-byte
    EXPECT_FALSE(is_valid_utf8("\xE2\x82"));          // truncated 3-byte
    EXPECT_FALSE(is_valid_utf8("\xF0\x9F\x98"));      // truncated 4-byte
    EXPECT_FALSE(is_valid_utf8("\xC3\x28"));          // bad continuation (hostile-input #27)
    EXPECT_FALSE(is_valid_utf8("\x80"));              // stray continuation
    EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
    EXPECT_FALSE(is_valid_utf8("\xF5\x80\x80\x80"));
    EXPECT_FALSE(is_valid_utf8("\xFF"));
    EXPECT_FALSE(is_valid_utf8("\xFE\xFF"));
}

TEST(TopicName, Validity) {
    EXPECT_TRUE(is_valid_topic_name("a"));
    EXPECT_TRUE(is_valid_topic_name("/"));
    EXPECT_TRUE(is_valid_topic_name("sport/tennis/player1"));
    EXPECT_TRUE(is_valid_topic_name("$SYS/broker"));
    EXPECT_TRUE(is_valid_topic_name(" "));
    EXPECT_FALSE(is_valid_topic_name(""));     // [MQTT-4.7.3-1]
    EXPECT_FALSE(is_valid_topic_name("a/+"));  // [MQTT-3.3.2-2]
    EXPECT_FALSE(is_valid_topic_name("a/#"));
    EXPECT_FALSE(is_valid_topic_name("sport+"));
    EXPECT_FALSE(is_valid_topic_name(std::string(65536, 'a')));
    EXPECT_TRUE(is_valid_topic_name(std::string(65535, 'a')));
}

TEST(TopicFilter, Validity_MQTT_4_7_1_2_and_4_7_1_3) {
    for (const char* ok : {"#", "+", "+/+", "/+", "+/", "sport/#", "sport/tennis/#",
                           "sport/+/player1", "a//b", "/", "$share/g/a", "$SYS/#", "+/tennis/#"}) {
        EXPECT_TRUE(is_valid_topic_filter(ok)) << ok;
    }
    for (const char* bad : {"", "sport/tennis#", "sport/tennis/#/ranking", "a/#/b", "sport+", "+a",
                            "#x", "a/b+", "##", "a/++"}) {
        EXPECT_FALSE(is_valid_topic_filter(bad)) << bad;
    }
    EXPECT_TRUE(has_wildcard("a/+"));
    EXPECT_TRUE(has_wildcard("#"));
    EXPECT_FALSE(has_wildcard("a/b"));
}

TEST(TopicMatches, Table) {
    const struct {
        const char* filter;
        const char* name;
        bool match;
    } cases[] = {
        // 5.0 section 4.7.1.2 examples
        {"sport/tennis/player1/#", "sport/tennis/player1", true},
        {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
        {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
        {"sport/#", "sport", true},  // [MQTT-4.7.1-2] example: '#' includes the parent
        {"#", "a/b/c", true},
        {"#", "/", true},
        // section 4.7.1.3 examples
        {"sport/tennis/+", "sport/tennis/player1", true},
        {"sport/tennis/+", "sport/tennis/player2", true},
        {"sport/tennis/+", "sport/tennis/player1/ranking", false},
        {"sport/+", "sport", false},
        {"sport/+", "sport/", true},
        {"+/+", "/finance", true},
        {"/+", "/finance", true},
        {"+", "/finance", false},
        {"+/tennis/#", "sport/tennis", true},
        {"+/tennis/#", "sport/tennis/x/y", true},
        // plain
        {"a/b", "a/b", true},
        {"a/b", "a/b/c", false},
        {"a/b/c", "a/b", false},
        {"a/b/", "a/b", false},
        {"a/b", "a/bc", false},
        {"a/bc", "a/b", false},
        {"a//b", "a//b", true},
        {"a/+/b", "a//b", true},
        {"a/+/#", "a/b", true},
        {"a/+/#", "a", false},
        {"ACCOUNTS", "Accounts", false},  // case sensitive (4.7.3)
        // [MQTT-4.7.2-1] '$' topics are not matched by a leading wildcard
        {"#", "$SYS/broker/clients", false},
        {"+/monitor/Clients", "$SYS/monitor/Clients", false},
        {"+", "$SYS", false},
        {"$SYS/#", "$SYS/monitor/Clients", true},
        {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
        {"a/#", "a/$b", true},  // only the first level counts
    };
    for (const auto& c : cases) {
        EXPECT_EQ(topic_matches(c.filter, c.name), c.match) << c.filter << " vs " << c.name;
    }
}

TEST(TopicLevels, CountsSlashes) {
    EXPECT_EQ(topic_levels("a"), 1u);
    EXPECT_EQ(topic_levels("/"), 2u);
    EXPECT_EQ(topic_levels("a/b/c"), 3u);
    EXPECT_EQ(topic_levels(""), 1u);
}

TEST(SharedSubscription, Parsing_MQTT_4_8_2_1_and_4_8_2_2) {
    bool valid = false;
    auto s = parse_shared_subscription("$share/group/sport/#", valid);
    ASSERT_TRUE(s);
    EXPECT_TRUE(valid);
    EXPECT_EQ(s->group, "group");
    EXPECT_EQ(s->filter, "sport/#");

    EXPECT_FALSE(parse_shared_subscription("sport/#", valid));
    EXPECT_TRUE(valid);
    EXPECT_FALSE(parse_shared_subscription("$sharex/g/t", valid));
    EXPECT_FALSE(parse_shared_subscription("$SHARE/g/t", valid));

    for (const char* bad : {"$share/", "$share/g", "$share//t", "$share/g/", "$share/g+/t",
                            "$share/#/t", "$share/a+b/t", "$share/g/a/#/b", "$share/g/sport+"}) {
        valid = true;
        EXPECT_TRUE(parse_shared_subscription(bad, valid)) << bad;
        EXPECT_FALSE(valid) << bad;
    }
    s = parse_shared_subscription("$share/g/+", valid);
    ASSERT_TRUE(s);
    EXPECT_TRUE(valid);
    EXPECT_EQ(s->filter, "+");
}

}  // namespace
}  // namespace rmqtt::protocol
