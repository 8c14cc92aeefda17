// The vector-backed FIFO of the connection's pending acknowledgements and the session's queued
// messages: order, indexing from the front, release of popped elements, insert at the front.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "session/fifo.hpp"

namespace rmqtt::broker {
namespace {

TEST(fifo, keeps_order_across_compaction_and_refill) {
    fifo<int> q;
    EXPECT_TRUE(q.empty());
    int next_in = 0;
    int next_out = 0;
    // Never drains completely for a while (compaction path), then drains (clear path).
    for (int round = 0; round < 5; ++round) {
        for (int i = 0; i < 100; ++i)
            q.push_back(next_in++);
        while (q.size() > 10) {
            ASSERT_EQ(q.front(), next_out++);
            q.pop_front();
        }
    }
    ASSERT_EQ(q.size(), 10u);
    for (std::size_t i = 0; i < q.size(); ++i)
        EXPECT_EQ(q[i], next_out + static_cast<int>(i));
    while (!q.empty()) {
        ASSERT_EQ(q.front(), next_out++);
        q.pop_front();
    }
    EXPECT_EQ(next_out, next_in);
    q.push_back(7);
    EXPECT_EQ(q.front(), 7);
    EXPECT_EQ(q.size(), 1u);
}

TEST(fifo, pop_front_releases_the_element) {
    fifo<std::shared_ptr<int>> q;
    auto a = std::make_shared<int>(1);
    auto b = std::make_shared<int>(2);
    q.push_back(a);
    q.push_back(b);
    q.pop_front();  // not moved out: the slot must still let go of it
    EXPECT_EQ(a.use_count(), 1);
    EXPECT_EQ(b.use_count(), 2);
    q.clear();
    EXPECT_EQ(b.use_count(), 1);
    EXPECT_TRUE(q.empty());
}

TEST(fifo, insert_front_puts_a_range_before_the_front_in_order) {
    fifo<int> q;
    for (int i = 0; i < 5; ++i)
        q.push_back(10 + i);
    q.pop_front();
    q.pop_front();  // 12 13 14
    const std::vector<int> back = {1, 2, 3};
    q.insert_front(back.begin(), back.end());
    std::vector<int> all(q.begin(), q.end());
    EXPECT_EQ(all, (std::vector<int>{1, 2, 3, 12, 13, 14}));
}

}  // namespace
}  // namespace rmqtt::broker
