// A session's subscription table: a sorted vector read like a std::map.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "session/subscription_table.hpp"

namespace rmqtt::broker {
namespace {

session_subscription with_id(std::uint32_t id) {
    session_subscription s;
    s.subscription_id = id;
    return s;
}

TEST(SubscriptionTable, AddsReplacesFindsAndRemovesByFilter) {
    subscription_table t;
    EXPECT_TRUE(t.empty());
    EXPECT_EQ(t.find("a/b"), t.end());
    EXPECT_TRUE(t.insert_or_assign("b/#", with_id(1)));
    EXPECT_TRUE(t.insert_or_assign("a/+", with_id(2)));
    EXPECT_TRUE(t.insert_or_assign("c", with_id(3)));
    EXPECT_FALSE(t.insert_or_assign("a/+", with_id(4))) << "replaced, not added";
    ASSERT_EQ(t.size(), 3u);
    EXPECT_EQ(t.at("a/+").subscription_id, 4u);
    EXPECT_TRUE(t.contains("c"));
    EXPECT_FALSE(t.contains("a"));
    EXPECT_THROW((void)t.at("a"), std::out_of_range);

    std::vector<std::string> order;
    for (const auto& [filter, sub] : t)
        order.push_back(filter);
    EXPECT_EQ(order, (std::vector<std::string>{"a/+", "b/#", "c"})) << "iterated in filter order";

    EXPECT_TRUE(t.erase("b/#"));
    EXPECT_FALSE(t.erase("b/#"));
    EXPECT_EQ(t.size(), 2u);
    const auto it = t.find("c");
    ASSERT_NE(it, t.end());
    EXPECT_EQ(it->second.subscription_id, 3u);
}

}  // namespace
}  // namespace rmqtt::broker
