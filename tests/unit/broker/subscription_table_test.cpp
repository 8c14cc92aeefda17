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

TEST(SubscriptionTable, KeepsLongFiltersAndManyEntries) {
    subscription_table t;
    const std::string inline_max(30, 'i');  // the longest kept inline
    const std::string longer = "a/" + std::string(200, 'x') + "/#";
    EXPECT_TRUE(t.insert_or_assign(longer, with_id(1)));
    EXPECT_TRUE(t.insert_or_assign(inline_max, with_id(2)));
    EXPECT_TRUE(t.insert_or_assign("", with_id(3)));
    // Many more: the block grows (and moves its entries) several times.
    for (int i = 0; i < 100; ++i)
        EXPECT_TRUE(t.insert_or_assign("m/" + std::to_string(i) + std::string(i % 40, 'z'),
                                       with_id(static_cast<std::uint32_t>(100 + i))));
    ASSERT_EQ(t.size(), 103u);
    EXPECT_EQ(t.at(longer).subscription_id, 1u);
    EXPECT_EQ(t.at(inline_max).subscription_id, 2u);
    EXPECT_EQ(t.at("").subscription_id, 3u);
    for (int i = 0; i < 100; ++i)
        EXPECT_EQ(t.at("m/" + std::to_string(i) + std::string(i % 40, 'z')).subscription_id,
                  static_cast<std::uint32_t>(100 + i));
    std::string previous;
    bool first = true;
    for (const auto& [filter, sub] : t) {
        const std::string f = filter;
        if (!first) {
            EXPECT_LT(previous, f) << "sorted by filter";
        }
        previous = f;
        first = false;
    }
    EXPECT_TRUE(t.erase(longer));
    EXPECT_FALSE(t.contains(longer));
    for (int i = 0; i < 100; ++i)
        EXPECT_TRUE(t.erase("m/" + std::to_string(i) + std::string(i % 40, 'z')));
    EXPECT_EQ(t.size(), 2u);
    EXPECT_TRUE(t.erase(inline_max));
    EXPECT_TRUE(t.erase(""));
    EXPECT_TRUE(t.empty());
    EXPECT_EQ(t.begin(), t.end());
    EXPECT_TRUE(t.insert_or_assign(longer, with_id(4))) << "usable again after the last went";
    subscription_table moved(std::move(t));
    EXPECT_TRUE(t.empty());  // NOLINT(bugprone-use-after-move): a moved-from table is empty
    EXPECT_EQ(moved.at(longer).subscription_id, 4u);
}

TEST(SubscriptionTable, FilterStringKeepsShortAndLongTexts) {
    for (const std::size_t n : {0u, 1u, 15u, 16u, 30u, 31u, 64u}) {
        const std::string text(n, 'f');
        filter_string f(text);
        EXPECT_EQ(f.view(), text);
        filter_string copy(f);
        filter_string moved(std::move(f));
        EXPECT_EQ(copy.view(), text);
        EXPECT_EQ(moved.view(), text);
        EXPECT_EQ(std::string(moved), text);
        copy = filter_string("other");
        EXPECT_EQ(copy.view(), "other");
        copy = moved;
        EXPECT_EQ(copy.view(), text);
    }
}

}  // namespace
}  // namespace rmqtt::broker
