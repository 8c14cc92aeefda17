// MQTT 5.0 reason codes on PUBACK / PUBREC, SUBACK, UNSUBACK and server DISCONNECT, against the
// real rmqttd.
#include <gtest/gtest.h>

#include "v5_util.hpp"

namespace rmqtt::test::v5 {
namespace {

using rc = proto::reason_code;

// PUBACK / PUBREC 0x10 when no subscription matches (5.0 section 3.4.2.1); 0x00 once one does.
// 0x10 is not an error: the QoS 2 flow continues with PUBREL / PUBCOMP.
TEST(V5ReasonCodes, NoMatchingSubscribers) {
    auto b = start_broker();
    auto c = raw5(*b, "nms");
    EXPECT_EQ(publish_acked(*c, publish5("nms/t", "a", 1, 1)),
              code_of(rc::no_matching_subscribers));
    EXPECT_EQ(publish_acked(*c, publish5("nms/t", "b", 2, 2)),
              code_of(rc::no_matching_subscribers));
    auto s = raw5(*b, "nms-sub");
    ASSERT_EQ(subscribe5(*s, 1, "nms/+", 0), std::vector<std::uint8_t>{0});
    EXPECT_EQ(publish_acked(*c, publish5("nms/t", "c", 1, 3)), 0);
    EXPECT_EQ(publish_acked(*c, publish5("nms/t", "d", 2, 4)), 0);
    EXPECT_EQ(raw_payloads(receive_publishes(*s, 2)), (std::vector<std::string>{"c", "d"}));
}

// One SUBACK reason code per filter, in the order of the SUBSCRIBE [MQTT-3.8.4-6]
// [MQTT-3.9.3-1]: granted QoS for the good ones, 0x8F for invalid filters [MQTT-4.7.1-1]
// [MQTT-4.7.1-2] [MQTT-4.8.2-2]; the bad ones do not stop the good ones.
TEST(V5ReasonCodes, SubackPerFilter) {
    auto b = start_broker();
    auto c = raw5(*b, "spf");
    auto codes = subscribe5(
        *c, 7,
        {sub_opt("spf/a", 2), sub_opt("spf/b", 1), sub_opt("$share/g/spf/c", 0),
         sub_opt("spf/+", 0), sub_opt("$share/g+/spf", 1), sub_opt("$share/g/spf/#", 2)});
    // A share name with a wildcard is well formed but refused (0x8F); a misplaced wildcard in a
    // filter makes the whole SUBSCRIBE malformed (conformance cases MQTT-4.7.1-1/2).
    EXPECT_EQ(codes, (std::vector<std::uint8_t>{2, 1, 0, 0, 0x8F, 2}));
    // The granted subscriptions work.
    auto pub = raw5(*b, "spf-pub");
    ASSERT_EQ(publish_acked(*pub, publish5("spf/a", "hello", 1, 1)), 0);
    auto got = receive_publishes(*c, 3, 1500ms);
    EXPECT_GE(got.size(), 2u) << "spf/a, spf/+ and the shared spf/# all match";
}

// max_subscriptions: filters beyond the limit get 0x97 Quota exceeded; replacing an existing
// subscription does not count as a new one [MQTT-3.8.4-3].
TEST(V5ReasonCodes, SubackQuotaExceeded) {
    auto b = start_broker({"max_subscriptions = 2"});
    auto c = raw5(*b, "sqe");
    EXPECT_EQ(subscribe5(*c, 1, {sub_opt("sqe/a", 1), sub_opt("sqe/b", 1), sub_opt("sqe/c", 1)}),
              (std::vector<std::uint8_t>{1, 1, 0x97}));
    EXPECT_EQ(subscribe5(*c, 2, "sqe/a", 2), std::vector<std::uint8_t>{2})
        << "re-subscribing an existing filter replaces it";
    EXPECT_EQ(subscribe5(*c, 3, "sqe/c", 0), std::vector<std::uint8_t>{0x97});
    c->send(make_unsubscribe(4, {"sqe/b"}));
    ASSERT_TRUE(expect<proto::unsuback>(*c));
    EXPECT_EQ(subscribe5(*c, 5, "sqe/c", 0), std::vector<std::uint8_t>{0})
        << "a freed slot can be used again";
}

// UNSUBACK: 0x00 for a subscription that existed, 0x11 for one that did not, in filter order
// [MQTT-3.11.3-1]; messages stop for the removed one [MQTT-3.10.4-2].
TEST(V5ReasonCodes, UnsubackNoSubscriptionExisted) {
    auto b = start_broker();
    auto c = raw5(*b, "uns");
    ASSERT_EQ(subscribe5(*c, 1, {sub_opt("uns/a", 1), sub_opt("uns/c", 1)}),
              (std::vector<std::uint8_t>{1, 1}));
    c->send(make_unsubscribe(2, {"uns/a", "uns/b", "uns/c", "uns/a"}));
    auto ack = expect<proto::unsuback>(*c);
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->packet_id, 2);
    EXPECT_EQ(ack->codes, (std::vector<rc>{rc::success, rc::no_subscription_existed, rc::success,
                                           rc::no_subscription_existed}));
    EXPECT_EQ(publish_acked(*c, publish5("uns/a", "x", 1, 3)),
              code_of(rc::no_matching_subscribers));
}

// A second connection with the same client id takes the session over: the first gets
// DISCONNECT 0x8E and is closed [MQTT-3.1.4-3]; the new one works.
TEST(V5ReasonCodes, SessionTakenOver) {
    auto b = start_broker();
    auto first = raw5(*b, "takeover");
    ASSERT_TRUE(alive(*first));
    auto second = raw5(*b, "takeover");
    expect_disconnect(*first, rc::session_taken_over, "first connection");
    EXPECT_TRUE(alive(*second));
}

// Protocol errors end the connection with DISCONNECT 0x82 [MQTT-4.13.1-1].
TEST(V5ReasonCodes, ProtocolErrors) {
    auto b = start_broker();
    {
        auto c = raw5(*b, "pe-connect");
        c->send(connect5("pe-connect"));
        expect_disconnect(*c, rc::protocol_error, "second CONNECT [MQTT-3.1.0-2]");
    }
    {
        auto c = raw5(*b, "pe-subid");
        proto::properties p;
        p.subscription_identifiers = {3};
        c->send(publish5("pe/t", "x", 1, 1, p));
        expect_disconnect(*c, rc::protocol_error,
                          "PUBLISH from a client with a Subscription Identifier [MQTT-3.3.4-6]");
    }
    {
        auto c = raw5(*b, "pe-puback");
        c->send(proto::connack{});
        expect_disconnect(*c, rc::protocol_error, "CONNACK from a client");
    }
}

// A server DISCONNECT with a reason code other than 0x00 is only sent after CONNACK
// [MQTT-3.14.0-1]: a client that never sent CONNECT gets no DISCONNECT, just a close.
TEST(V5ReasonCodes, NoDisconnectBeforeConnack) {
    auto b = start_broker();
    raw_client c(b->port(), v5);
    c.send(publish5("x", "y", 0));
    auto r = await_close(c, 5s);
    EXPECT_FALSE(r.disconnect.has_value()) << "[MQTT-3.14.0-1]";
    EXPECT_TRUE(r.before.empty());
    EXPECT_TRUE(r.closed) << "[MQTT-3.1.0-1]";
}

}  // namespace
}  // namespace rmqtt::test::v5
