#include "rmqtt/broker/topic_tree.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "test_subscriber.hpp"

namespace rmqtt::broker {
namespace {

using test::reference_matches;

struct named_entry final : topic_tree::entry {
    explicit named_entry(std::string k) : key(std::move(k)) {}
    std::string key;
};

void put(topic_tree& t, const std::string& key) {
    t.insert(key, std::make_unique<named_entry>(key));
}

std::vector<std::string> filters_matching(const topic_tree& t, std::string_view topic) {
    std::vector<std::string> out;
    t.match(topic, [&](const topic_tree::entry& e) {
        out.push_back(static_cast<const named_entry&>(e).key);
    });
    std::sort(out.begin(), out.end());
    return out;
}

std::vector<std::string> names_matching(const topic_tree& t, std::string_view filter) {
    std::vector<std::string> out;
    t.match_filter(filter, [&](const topic_tree::entry& e) {
        out.push_back(static_cast<const named_entry&>(e).key);
    });
    std::sort(out.begin(), out.end());
    return out;
}

struct match_case {
    const char* filter;
    const char* topic;
    bool matches;
};

// Spec examples (3.1.1 and 5.0 sections 4.7.1.2, 4.7.1.3, 4.7.2) and empty-level cases.
const match_case cases[] = {
    // 4.7.1.2 multi-level wildcard
    {"sport/tennis/player1/#", "sport/tennis/player1", true},  // [MQTT-4.7.1-2] parent level
    {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
    {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
    {"sport/tennis/player1/#", "sport/tennis/player2", false},
    {"sport/#", "sport", true},  // [MQTT-4.7.1-2]
    {"sport/#", "sport/", true},
    {"sport/#", "sports", false},
    {"#", "sport/tennis", true},
    {"#", "/", true},
    {"#", "a", true},
    // 4.7.1.3 single-level wildcard
    {"sport/tennis/+", "sport/tennis/player1", true},
    {"sport/tennis/+", "sport/tennis/player2", true},
    {"sport/tennis/+", "sport/tennis/player1/ranking", false},
    {"sport/+", "sport", false},
    {"sport/+", "sport/", true},
    {"+/+", "/finance", true},
    {"/+", "/finance", true},
    {"+", "/finance", false},
    {"+/tennis/#", "sport/tennis/player1", true},
    {"+/tennis/#", "sport/tennis", true},
    {"+/tennis/#", "sport/golf", false},
    {"+", "a", true},
    {"+/+/+", "a/b", false},
    // 4.7.2 topics beginning with '$' [MQTT-4.7.2-1]
    {"#", "$SYS/monitor/Clients", false},
    {"+/monitor/Clients", "$SYS/monitor/Clients", false},
    {"+", "$SYS", false},
    {"$SYS/#", "$SYS/monitor/Clients", true},
    {"$SYS/#", "$SYS", true},
    {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
    {"$SYS/+/Clients", "$SYS/monitor/Clients", true},
    {"a/#", "a/$b", true},  // only the first level is special
    {"+/$b", "a/$b", true},
    // 4.7.3 case sensitive, spaces are characters
    {"ACCOUNTS", "Accounts", false},
    {"Accounts payable", "Accounts payable", true},
    // empty levels are real levels
    {"a//b", "a//b", true},
    {"a//b", "a/b", false},
    {"a/+/b", "a//b", true},
    {"a/b", "a//b", false},
    {"/a", "/a", true},
    {"/a", "a", false},
    {"+/a", "/a", true},
    {"a/", "a/", true},
    {"a/", "a", false},
    {"a/+", "a/", true},
    {"a/+", "a", false},
    {"//", "//", true},
    {"+/+/+", "//", true},
    {"+/+", "//", false},
    {"/#", "/", true},
    {"/#", "/x/y", true},
};

TEST(router_topic_tree, spec_matching_table) {
    for (const match_case& c : cases) {
        topic_tree t;
        put(t, c.filter);
        const bool got = !filters_matching(t, c.topic).empty();
        EXPECT_EQ(got, c.matches) << "filter '" << c.filter << "' topic '" << c.topic << "'";
        // The oracle agrees, so the differential tests below test the right thing.
        EXPECT_EQ(reference_matches(c.filter, c.topic), c.matches) << c.filter << " " << c.topic;
    }
}

TEST(router_topic_tree, reverse_matching_table) {
    // The same table read the other way: a stored topic name found by a query filter.
    for (const match_case& c : cases) {
        topic_tree t;
        put(t, c.topic);
        const bool got = !names_matching(t, c.filter).empty();
        EXPECT_EQ(got, c.matches) << "filter '" << c.filter << "' topic '" << c.topic << "'";
    }
}

TEST(router_topic_tree, all_matching_filters_reported_once) {
    topic_tree t;
    const std::vector<std::string> filters = {"#",     "+",      "a",     "a/#", "a/+",
                                              "+/b",   "a/b",    "a/b/#", "+/+", "+/#",
                                              "a/+/#", "$SYS/#", "a//b",  "b"};
    for (const auto& f : filters)
        put(t, f);
    EXPECT_EQ(filters_matching(t, "a/b"),
              (std::vector<std::string>{"#", "+/#", "+/+", "+/b", "a/#", "a/+", "a/+/#", "a/b",
                                        "a/b/#"}));
    EXPECT_EQ(filters_matching(t, "a"), (std::vector<std::string>{"#", "+", "+/#", "a", "a/#"}));
    EXPECT_EQ(filters_matching(t, "$SYS/x"), (std::vector<std::string>{"$SYS/#"}));
}

// Random filters and names over a tiny alphabet (so they collide often), compared with the
// oracle in both directions.
TEST(router_topic_tree, differential_against_reference) {
    test::rng r(42);
    const char* levels[] = {"a", "b", "", "$x"};
    auto random_name = [&] {
        std::string s;
        const std::size_t n = 1 + r.below(4);
        for (std::size_t i = 0; i < n; ++i) {
            if (i) s += '/';
            s += levels[r.below(4)];
        }
        return s;
    };
    auto random_filter = [&] {
        std::string s;
        const std::size_t n = 1 + r.below(4);
        for (std::size_t i = 0; i < n; ++i) {
            if (i) s += '/';
            const std::size_t k = r.below(7);
            if (k == 6 && i + 1 == n) {
                s += '#';
            } else if (k >= 4) {
                s += '+';
            } else {
                s += levels[k];
            }
        }
        return s;
    };
    for (int round = 0; round < 50; ++round) {
        std::set<std::string> filters;
        std::set<std::string> names;
        topic_tree by_filter;
        topic_tree by_name;
        for (int i = 0; i < 40; ++i) {
            const std::string f = random_filter();
            if (filters.insert(f).second) put(by_filter, f);
            const std::string n = random_name();
            if (names.insert(n).second) put(by_name, n);
        }
        for (int q = 0; q < 40; ++q) {
            const std::string name = random_name();
            std::vector<std::string> expected;
            for (const auto& f : filters) {
                if (reference_matches(f, name)) expected.push_back(f);
            }
            ASSERT_EQ(filters_matching(by_filter, name), expected) << "topic " << name;

            const std::string filter = random_filter();
            expected.clear();
            for (const auto& n : names) {
                if (reference_matches(filter, n)) expected.push_back(n);
            }
            ASSERT_EQ(names_matching(by_name, filter), expected) << "filter " << filter;
        }
    }
}

TEST(router_topic_tree, insert_find_replace_erase) {
    topic_tree t;
    EXPECT_EQ(t.find("a/b"), nullptr);
    put(t, "a/b");
    ASSERT_NE(t.find("a/b"), nullptr);
    EXPECT_EQ(t.find("a"), nullptr);  // an inner node has no entry
    EXPECT_EQ(t.find("a/b/c"), nullptr);
    EXPECT_EQ(t.size(), 1u);
    EXPECT_EQ(t.node_count(), 2u);

    t.insert("a/b", std::make_unique<named_entry>("replacement"));
    EXPECT_EQ(t.size(), 1u);
    EXPECT_EQ(static_cast<named_entry*>(t.find("a/b"))->key, "replacement");

    EXPECT_FALSE(t.erase("a"));  // no entry there
    EXPECT_FALSE(t.erase("a/b/c"));
    EXPECT_TRUE(t.erase("a/b"));
    EXPECT_FALSE(t.erase("a/b"));
    EXPECT_EQ(t.size(), 0u);
    EXPECT_EQ(t.node_count(), 0u);
}

TEST(router_topic_tree, erase_prunes_only_unused_nodes) {
    topic_tree t;
    put(t, "a/b");
    put(t, "a/b/c/d");
    put(t, "a/+/#");
    EXPECT_EQ(t.node_count(), 6u);  // a, b, c, d, +, #
    EXPECT_TRUE(t.erase("a/b/c/d"));
    EXPECT_EQ(t.node_count(), 4u);  // c and d pruned; b still holds an entry
    EXPECT_NE(t.find("a/b"), nullptr);
    EXPECT_TRUE(t.erase("a/b"));
    EXPECT_EQ(t.node_count(), 3u);  // a, +, #
    EXPECT_TRUE(t.erase("a/+/#"));
    EXPECT_EQ(t.node_count(), 0u);
    EXPECT_TRUE(t.empty());
}

TEST(router_topic_tree, churn_returns_to_zero_nodes) {
    topic_tree t;
    test::rng r(7);
    std::set<std::string> present;
    const char* levels[] = {"a", "b", "+", "", "c"};
    for (int i = 0; i < 20000; ++i) {
        std::string key;
        const std::size_t n = 1 + r.below(5);
        for (std::size_t l = 0; l < n; ++l) {
            if (l) key += '/';
            key += levels[r.below(5)];
        }
        if (r.below(2) == 0) key += "/#";
        if (present.count(key)) {
            ASSERT_TRUE(t.erase(key));
            present.erase(key);
        } else {
            put(t, key);
            present.insert(key);
        }
        ASSERT_EQ(t.size(), present.size());
    }
    for (const auto& k : present)
        ASSERT_TRUE(t.erase(k)) << k;
    EXPECT_EQ(t.size(), 0u);
    EXPECT_EQ(t.node_count(), 0u);
}

// Many children under one level (the node's child table grows, probes, deletes with backward
// shifts and shrinks back to inline storage), checked against a std::set.
TEST(router_topic_tree, many_siblings_grow_and_shrink) {
    topic_tree t;
    test::rng r(11);
    std::set<std::string> present;
    auto check_all = [&] {
        for (const auto& k : present)
            ASSERT_NE(t.find(k), nullptr) << k;
        ASSERT_EQ(names_matching(t, "s/+").size(), present.size());
    };
    for (int i = 0; i < 30000; ++i) {
        // Phases: grow to ~2000 children, shrink to a handful, grow again.
        const std::size_t range = (i / 10000) % 2 == 0 ? 2000 : 4;
        const std::string key = test::name("s/", r.below(range));
        const bool insert = (i / 10000) % 2 == 0 ? r.below(4) != 0 : r.below(8) == 0;
        if (insert && !present.count(key)) {
            put(t, key);
            present.insert(key);
        } else if (!insert && present.count(key)) {
            ASSERT_TRUE(t.erase(key));
            present.erase(key);
        } else if (!insert) {
            ASSERT_FALSE(t.erase(key));
        }
        ASSERT_EQ(t.find(key) != nullptr, present.count(key) == 1) << key;
        if (i % 2500 == 0) check_all();
        if (i == 19999) {  // leave only a few: the table shrinks back
            for (auto it = present.begin(); it != present.end();) {
                if (present.size() <= 2) break;
                ASSERT_TRUE(t.erase(*it));
                it = present.erase(it);
            }
            check_all();
        }
    }
    check_all();
    for (const auto& k : present)
        ASSERT_TRUE(t.erase(k));
    EXPECT_EQ(t.node_count(), 0u);
}

// A hostile filter / name of 65,000 levels (CVE-2019-11779 style) must not recurse per level:
// insert, match in both directions, erase and destruction all stay iterative.
TEST(router_topic_tree, sixty_five_thousand_levels) {
    constexpr std::size_t levels = 65000;
    const std::string empty_levels(levels - 1, '/');  // 65,000 empty levels
    std::string pluses = "+";
    std::string as = "a";
    for (std::size_t i = 1; i < levels; ++i) {
        pluses += "/+";
        as += "/a";
    }
    const std::string deep_hash = std::string(levels - 2, '/') + "#";

    topic_tree filters;
    put(filters, empty_levels);
    put(filters, pluses);
    put(filters, deep_hash);
    put(filters, "#");
    EXPECT_EQ(filters_matching(filters, empty_levels),
              (std::vector<std::string>{"#", pluses, deep_hash, empty_levels}));  // sorted
    EXPECT_EQ(filters_matching(filters, as), (std::vector<std::string>{"#", pluses}));
    EXPECT_TRUE(filters.erase(pluses));
    EXPECT_TRUE(filters.erase(empty_levels));
    EXPECT_EQ(filters.node_count(), levels - 1 + 1);  // deep_hash's chain, and "#"

    topic_tree names;
    put(names, empty_levels);
    put(names, as);
    EXPECT_EQ(names_matching(names, "#"), (std::vector<std::string>{empty_levels, as}));
    EXPECT_EQ(names_matching(names, pluses), (std::vector<std::string>{empty_levels, as}));
    EXPECT_EQ(names_matching(names, deep_hash), (std::vector<std::string>{empty_levels}));
    EXPECT_TRUE(names.erase(as));
    EXPECT_EQ(names.node_count(), levels);
    // `filters` and `names` are destroyed with 65,000-deep chains still in them.
}

TEST(router_topic_tree, clear_drops_everything) {
    topic_tree t;
    put(t, "a/b");
    put(t, "+/#");
    t.clear();
    EXPECT_EQ(t.size(), 0u);
    EXPECT_EQ(t.node_count(), 0u);
    EXPECT_TRUE(filters_matching(t, "a/b").empty());
    put(t, "a");
    EXPECT_EQ(filters_matching(t, "a"), (std::vector<std::string>{"a"}));
}

}  // namespace
}  // namespace rmqtt::broker
