#include "retainer/retained_index.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace rmqtt::broker {
namespace {

using plugins::retained_index;
using result = retained_index::set_result;

message_ptr msg(std::string topic, std::string payload, std::int64_t expiry_at_ms = 0) {
    auto m = std::make_shared<message>();
    m->topic = std::move(topic);
    m->payload = std::move(payload);
    m->retain = true;
    m->expiry_at_ms = expiry_at_ms;
    return m;
}

std::vector<std::string> topics(const retained_index& idx, std::string_view filter,
                                std::int64_t now_ms = 0) {
    std::vector<message_ptr> out;
    idx.match(filter, now_ms, out);
    std::vector<std::string> t;
    for (const auto& m : out)
        t.push_back(m->topic);
    std::sort(t.begin(), t.end());
    return t;
}

TEST(router_retained_index, set_replace_delete) {
    retained_index idx;
    EXPECT_EQ(idx.set(msg("a/b", "1")), result::stored);
    EXPECT_EQ(idx.set(msg("a/b", "2")), result::replaced);
    EXPECT_EQ(idx.size(), 1u);
    std::vector<message_ptr> out;
    idx.match("a/b", 0, out);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0]->payload, "2");

    // An empty payload deletes and is not stored [MQTT-3.3.1-10, 3.3.1-11].
    EXPECT_EQ(idx.set(msg("a/b", "")), result::deleted);
    EXPECT_EQ(idx.set(msg("a/b", "")), result::not_found);
    EXPECT_EQ(idx.size(), 0u);
    EXPECT_TRUE(topics(idx, "#").empty());

    EXPECT_EQ(idx.set(msg("x", "1")), result::stored);
    EXPECT_TRUE(idx.erase("x"));
    EXPECT_FALSE(idx.erase("x"));
    EXPECT_FALSE(idx.erase("never"));
    EXPECT_EQ(idx.size(), 0u);
}

TEST(router_retained_index, match_by_filter) {
    retained_index idx;
    for (const char* t :
         {"sport", "sport/tennis/player1", "sport/tennis/player2", "sport/tennis/player1/ranking",
          "sport/golf", "/finance", "a//b", "a/b", "$SYS/broker/uptime", "$SYS", "news/$hidden"}) {
        ASSERT_EQ(idx.set(msg(t, "x")), result::stored) << t;
    }
    using v = std::vector<std::string>;
    EXPECT_EQ(topics(idx, "sport/tennis/player1/#"),
              (v{"sport/tennis/player1", "sport/tennis/player1/ranking"}));
    EXPECT_EQ(topics(idx, "sport/#"),  // includes the parent "sport" [MQTT-4.7.1-2]
              (v{"sport", "sport/golf", "sport/tennis/player1", "sport/tennis/player1/ranking",
                 "sport/tennis/player2"}));
    EXPECT_EQ(topics(idx, "sport/tennis/+"), (v{"sport/tennis/player1", "sport/tennis/player2"}));
    EXPECT_EQ(topics(idx, "sport/+"), (v{"sport/golf"}));
    EXPECT_EQ(topics(idx, "+/+"), (v{"/finance", "a/b", "news/$hidden", "sport/golf"}));
    EXPECT_EQ(topics(idx, "/+"), (v{"/finance"}));
    EXPECT_EQ(topics(idx, "+"), (v{"sport"}));  // not "$SYS" [MQTT-4.7.2-1]
    EXPECT_EQ(topics(idx, "a/+/b"), (v{"a//b"}));
    EXPECT_EQ(topics(idx, "a//b"), (v{"a//b"}));
    EXPECT_EQ(topics(idx, "sport/golf"), (v{"sport/golf"}));
    EXPECT_TRUE(topics(idx, "sport/tennis").empty());
    // [MQTT-4.7.2-1] '#' and '+' first do not match '$' topics; explicit "$SYS/..." does.
    EXPECT_EQ(topics(idx, "#"),
              (v{"/finance", "a//b", "a/b", "news/$hidden", "sport", "sport/golf",
                 "sport/tennis/player1", "sport/tennis/player1/ranking", "sport/tennis/player2"}));
    EXPECT_TRUE(topics(idx, "+/broker/uptime").empty());
    EXPECT_EQ(topics(idx, "$SYS/#"), (v{"$SYS", "$SYS/broker/uptime"}));
    EXPECT_EQ(topics(idx, "$SYS/+/uptime"), (v{"$SYS/broker/uptime"}));
}

TEST(router_retained_index, full_refuses_new_topics_only) {
    retained_index idx(2);
    EXPECT_EQ(idx.set(msg("a", "1")), result::stored);
    EXPECT_EQ(idx.set(msg("b", "1")), result::stored);
    EXPECT_EQ(idx.set(msg("c", "1")), result::full);
    EXPECT_EQ(idx.size(), 2u);
    EXPECT_EQ(idx.set(msg("a", "2")), result::replaced);
    EXPECT_EQ(idx.set(msg("c", "")), result::not_found);  // a delete is never refused
    EXPECT_EQ(idx.set(msg("a", "")), result::deleted);
    EXPECT_EQ(idx.set(msg("c", "1")), result::stored);
    EXPECT_EQ(topics(idx, "#"), (std::vector<std::string>{"b", "c"}));
}

TEST(router_retained_index, expired_messages_are_skipped) {
    retained_index idx;
    idx.set(msg("t/expiring", "x", 1000));
    idx.set(msg("t/forever", "x", 0));
    EXPECT_EQ(topics(idx, "t/#", 999), (std::vector<std::string>{"t/expiring", "t/forever"}));
    EXPECT_EQ(topics(idx, "t/#", 1000), (std::vector<std::string>{"t/forever"}));
    EXPECT_EQ(topics(idx, "t/expiring", 5000), (std::vector<std::string>{}));
    // Replacing an expired message revives the topic.
    EXPECT_EQ(idx.set(msg("t/expiring", "y", 9000)), result::replaced);
    EXPECT_EQ(topics(idx, "t/expiring", 5000), (std::vector<std::string>{"t/expiring"}));
}

TEST(router_retained_index, sixty_five_thousand_level_topic) {
    retained_index idx;
    const std::string deep(64999, '/');  // 65,000 empty levels
    std::string pluses = "+";
    for (int i = 1; i < 65000; ++i)
        pluses += "/+";
    EXPECT_EQ(idx.set(msg(deep, "x")), result::stored);
    EXPECT_EQ(idx.set(msg(deep + "a", "x")), result::stored);
    EXPECT_EQ(topics(idx, "#").size(), 2u);
    EXPECT_EQ(topics(idx, deep).size(), 1u);
    EXPECT_EQ(topics(idx, pluses).size(), 2u);
    EXPECT_EQ(topics(idx, deep + "/#").size(), 1u);
    EXPECT_TRUE(idx.erase(deep));
    EXPECT_EQ(idx.size(), 1u);
    // Destroyed with a 65,000-deep chain still stored.
}

}  // namespace
}  // namespace rmqtt::broker
