// MQTT 5.0 Message Expiry Interval against the real rmqttd.
#include <gtest/gtest.h>

#include "v5_util.hpp"

namespace rmqtt::test::v5 {
namespace {

proto::properties expiry(std::uint32_t seconds) {
    proto::properties p;
    p.message_expiry_interval = seconds;
    return p;
}

// Messages queued for an offline session: one whose interval passes while it waits is dropped
// [MQTT-3.3.2-5]; the others are delivered, those with an interval carrying what is left of it
// [MQTT-3.3.2-6], those without none. Retained messages expire the same way.
TEST(V5MessageExpiry, OfflineQueueAndRetained) {
    auto b = start_broker();
    auto conn = connect5("mx-sub", false);
    conn.props.session_expiry_interval = 300;
    {
        auto s = raw5(*b, conn);
        ASSERT_EQ(subscribe5(*s, 1, "mx/q", 1), std::vector<std::uint8_t>{1});
        raw_disconnect(*s);  // returns once rmqttd closed it: the session is offline
    }
    auto pub = raw5(*b, "mx-pub");
    ASSERT_EQ(publish_acked(*pub, publish5("mx/q", "short", 1, 1, expiry(1))), 0);
    ASSERT_EQ(publish_acked(*pub, publish5("mx/q", "ten", 1, 2, expiry(10))), 0);
    ASSERT_EQ(publish_acked(*pub, publish5("mx/q", "none", 1, 3)), 0);
    ASSERT_EQ(publish_acked(*pub, publish5("mx/q", "short-2", 2, 4, expiry(1))), 0);
    ASSERT_EQ(publish_acked(*pub, publish5("mx/r/short", "r-short", 1, 5, expiry(1), true)), 0x10);
    ASSERT_EQ(publish_acked(*pub, publish5("mx/r/long", "r-long", 1, 6, expiry(10), true)), 0x10);
    ASSERT_EQ(publish_acked(*pub, publish5("mx/r/none", "r-none", 1, 7, {}, true)), 0x10);

    // Not a synchronisation: the 1 s intervals have to pass, and 2 s of "ten"'s 10 (the check
    // below that at most 8 s are left, rounded up).
    std::this_thread::sleep_for(2200ms);

    proto::connack ack;
    auto s = raw5(*b, conn, &ack);
    ASSERT_TRUE(ack.session_present);
    auto got = receive_publishes(*s, 4, 2s);
    ASSERT_EQ(raw_payloads(got), (std::vector<std::string>{"ten", "none"}))
        << "expired messages must not be delivered [MQTT-3.3.2-5]";
    ASSERT_TRUE(got[0].props.message_expiry_interval.has_value()) << "[MQTT-3.3.2-6]";
    EXPECT_LE(*got[0].props.message_expiry_interval, 8u)
        << "10 s interval after ~2.2 s in the queue [MQTT-3.3.2-6]";
    EXPECT_GE(*got[0].props.message_expiry_interval, 1u);
    EXPECT_FALSE(got[1].props.message_expiry_interval.has_value());

    ASSERT_EQ(subscribe5(*s, 2, "mx/r/#", 1), std::vector<std::uint8_t>{1});
    auto retained = receive_publishes(*s, 3, 2s);
    std::map<std::string, proto::publish> by_topic;
    for (auto& p : retained)
        by_topic[p.topic] = p;
    EXPECT_FALSE(by_topic.contains("mx/r/short")) << "expired retained message delivered";
    ASSERT_TRUE(by_topic.contains("mx/r/long"));
    ASSERT_TRUE(by_topic.contains("mx/r/none"));
    ASSERT_TRUE(by_topic["mx/r/long"].props.message_expiry_interval.has_value());
    EXPECT_LE(*by_topic["mx/r/long"].props.message_expiry_interval, 8u) << "[MQTT-3.3.2-6]";
    EXPECT_FALSE(by_topic["mx/r/none"].props.message_expiry_interval.has_value());
}

// Online delivery through Paho: the interval arrives (at most the one sent), and messages
// without one have none.
TEST(V5MessageExpiry, OnlineDeliveryCarriesInterval) {
    auto b = start_broker();
    auto s = paho5(*b, "mx-paho");
    ASSERT_EQ(s->subscribe("mxo/#", 1), 1);
    auto pub = raw5(*b, "mxo-pub");
    ASSERT_EQ(publish_acked(*pub, publish5("mxo/a", "with", 1, 1, expiry(30))), 0);
    ASSERT_EQ(publish_acked(*pub, publish5("mxo/a", "without", 1, 2)), 0);
    auto got = s->take(2);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].payload, "with");
    auto e = int_prop(got[0].props, mqtt::property::MESSAGE_EXPIRY_INTERVAL);
    ASSERT_TRUE(e.has_value()) << "[MQTT-3.3.2-6]";
    EXPECT_LE(*e, 30u);
    EXPECT_GE(*e, 28u);
    EXPECT_FALSE(got[1].props.contains(mqtt::property::MESSAGE_EXPIRY_INTERVAL));
}

}  // namespace
}  // namespace rmqtt::test::v5
