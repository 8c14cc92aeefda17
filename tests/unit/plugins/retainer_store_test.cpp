// rmqtt-retainer's store: max_payload_size, retained_message_ttl, max_retained_messages, and the
// store writes it adds when retained messages are kept in the session store.
#include "retainer/retainer_store.hpp"

#include <gtest/gtest.h>

#include "rmqtt/broker/clock.hpp"

namespace rmqtt::plugins {
namespace {

using namespace std::chrono_literals;
using broker::message;
using broker::message_ptr;

message_ptr retained(std::string topic, std::string payload, std::int64_t expiry_at_ms = 0) {
    auto m = std::make_shared<message>();
    m->topic = std::move(topic);
    m->payload = std::move(payload);
    m->retain = true;
    m->created_at_ms = broker::wall_now_ms();
    m->expiry_at_ms = expiry_at_ms;
    return m;
}

std::vector<std::string> payloads(const retainer_store& s, std::string_view filter,
                                  std::int64_t now_ms) {
    std::vector<message_ptr> out;
    s.match(filter, now_ms, out);
    std::vector<std::string> p;
    for (auto& m : out)
        p.push_back(m->payload);
    return p;
}

TEST(retainer_store, PayloadAboveMaxPayloadSizeIsNotRetained) {
    retainer_config c;
    c.max_payload_size = 4;
    retainer_store s(c, false);
    storage::write_batch w;
    s.retain(retained("t/a", "1234"), w);
    s.retain(retained("t/a", "12345"), w);  // too big: the one before stays
    EXPECT_EQ(payloads(s, "t/#", broker::wall_now_ms()), std::vector<std::string>{"1234"});
    s.retain(retained("t/b", "123456"), w);
    EXPECT_EQ(s.size(), 1u);
    s.retain(retained("t/a", ""), w);  // an empty payload still removes [MQTT-3.3.1-10]
    EXPECT_EQ(s.size(), 0u);
}

TEST(retainer_store, RetainedMessageTtlReplacesTheMessagesExpiry) {
    const auto now = broker::wall_now_ms();
    retainer_config ttl;
    ttl.retained_message_ttl = 10s;
    retainer_store with_ttl(ttl, false);
    storage::write_batch w;
    with_ttl.retain(retained("t/a", "x"), w);  // no expiry of its own: kept 10 s
    EXPECT_EQ(payloads(with_ttl, "t/a", now + 5'000).size(), 1u);
    EXPECT_TRUE(payloads(with_ttl, "t/a", now + 11'000).empty());

    retainer_config forever;
    forever.retained_message_ttl = 0ms;  // 0: kept for ever, whatever the message's expiry
    retainer_store kept(forever, false);
    kept.retain(retained("t/a", "x", now + 1'000), w);
    EXPECT_EQ(payloads(kept, "t/a", now + 3'600'000).size(), 1u);

    retainer_config unset;  // unset: the message's own expiry applies
    retainer_store own(unset, false);
    own.retain(retained("t/a", "x", now + 1'000), w);
    EXPECT_EQ(payloads(own, "t/a", now).size(), 1u);
    EXPECT_TRUE(payloads(own, "t/a", now + 2'000).empty());
}

TEST(retainer_store, MaxRetainedMessagesKeepsReplacingExistingTopics) {
    retainer_config c;
    c.max_retained_messages = 1;
    retainer_store s(c, false);
    storage::write_batch w;
    s.retain(retained("t/a", "1"), w);
    s.retain(retained("t/b", "2"), w);  // full: not stored
    s.retain(retained("t/a", "3"), w);  // an existing topic can be replaced
    EXPECT_EQ(payloads(s, "t/#", broker::wall_now_ms()), std::vector<std::string>{"3"});
}

TEST(retainer_store, WritesToTheSessionStoreOnlyWhenPersistent) {
    retainer_config c;
    retainer_store ram(c, false);
    retainer_store stored(c, true);
    storage::write_batch a, b;
    ram.retain(retained("t/a", "x"), a);
    stored.retain(retained("t/a", "x"), b);
    EXPECT_TRUE(a.empty());
    ASSERT_EQ(b.ops.size(), 1u);
    EXPECT_TRUE(std::holds_alternative<storage::put_retained>(b.ops[0]));
    stored.retain(retained("t/a", ""), b);
    ASSERT_EQ(b.ops.size(), 2u);
    EXPECT_TRUE(std::holds_alternative<storage::delete_retained>(b.ops[1]));
}

}  // namespace
}  // namespace rmqtt::plugins
