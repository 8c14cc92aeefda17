// MQTT 5.0 request / response and application properties through Paho MQTT C++ against the real
// rmqttd: Response Topic, Correlation Data, Content Type, User Properties, Payload Format
// Indicator.
#include <gtest/gtest.h>

#include "v5_util.hpp"

namespace rmqtt::test::v5 {
namespace {

// A request with Response Topic and binary Correlation Data reaches the responder unchanged
// [MQTT-3.3.2-15] [MQTT-3.3.2-16]; the responder answers on the Response Topic with the same
// Correlation Data and the requester matches it (5.0 section 4.10).
TEST(V5RequestResponse, RoundTrip) {
    auto b = start_broker();
    auto requester = paho5(*b, "rr-requester");
    auto responder = paho5(*b, "rr-responder");
    ASSERT_EQ(responder->subscribe("rr/service/+", 1), 1);
    ASSERT_EQ(requester->subscribe("rr/reply/rr-requester", 1), 1);

    const std::string correlation("\x00\xFF\x10req-42\x00", 10);
    requester->publish(
        "rr/service/time", "what time is it", 1, false,
        props({mqtt::property(mqtt::property::RESPONSE_TOPIC, "rr/reply/rr-requester"),
               mqtt::property(mqtt::property::CORRELATION_DATA, correlation)}));
    auto req = responder->take(1);
    ASSERT_EQ(req.size(), 1u);
    auto reply_to = str_prop(req[0].props, mqtt::property::RESPONSE_TOPIC);
    auto corr = str_prop(req[0].props, mqtt::property::CORRELATION_DATA);
    ASSERT_EQ(reply_to, "rr/reply/rr-requester") << "[MQTT-3.3.2-15]";
    ASSERT_EQ(corr, correlation) << "[MQTT-3.3.2-16]";

    responder->publish(*reply_to, "noon", 1, false,
                       props({mqtt::property(mqtt::property::CORRELATION_DATA, *corr)}));
    auto resp = requester->take(1);
    ASSERT_EQ(resp.size(), 1u);
    EXPECT_EQ(resp[0].payload, "noon");
    EXPECT_EQ(str_prop(resp[0].props, mqtt::property::CORRELATION_DATA), correlation);
    EXPECT_FALSE(resp[0].props.contains(mqtt::property::RESPONSE_TOPIC))
        << "the response carries no Response Topic of its own";
}

// Content Type [MQTT-3.3.2-20] and User Properties, repeated names included, arrive unaltered
// [MQTT-3.3.2-17] and in their order [MQTT-3.3.2-18], at every subscriber, also when the
// message waited in an offline session's queue.
TEST(V5RequestResponse, ContentTypeAndUserPropertiesPassThrough) {
    auto b = start_broker();
    auto online = paho5(*b, "up-online");
    ASSERT_EQ(online->subscribe("up/#", 2), 2);
    {
        auto offline = paho5(*b, "up-offline", paho5_options(true, 300));
        ASSERT_EQ(offline->subscribe("up/+", 1), 1);
        offline->disconnect();
    }
    const string_pairs sent_props = {{"trace", "a1"}, {"zeta", "last?"},
                                     {"trace", "b2"}, {"empty", ""},
                                     {"", "no name"}, {"unicode", "\xC3\xA9t\xC3\xA9"},
                                     {"alpha", "1"}};
    mqtt::properties p{mqtt::property(mqtt::property::CONTENT_TYPE, "application/cbor; v=2")};
    for (const auto& [k, v] : sent_props)
        p.add(mqtt::property(mqtt::property::USER_PROPERTY, k, v));
    auto pub = paho5(*b, "up-pub");
    pub->publish("up/x", std::string("\x01\x02\x03", 3), 2, false, p);

    auto check = [&](const mqtt_client::received& m, const char* who) {
        EXPECT_EQ(m.payload, std::string("\x01\x02\x03", 3)) << who;
        EXPECT_EQ(str_prop(m.props, mqtt::property::CONTENT_TYPE), "application/cbor; v=2")
            << who << " [MQTT-3.3.2-20]";
        EXPECT_EQ(user_props(m.props), sent_props) << who << " [MQTT-3.3.2-17] [MQTT-3.3.2-18]";
    };
    auto got = online->take(1);
    ASSERT_EQ(got.size(), 1u);
    check(got[0], "online subscriber");

    auto back = paho5(*b, "up-offline", paho5_options(false, 300));
    auto queued = back->take(1);
    ASSERT_EQ(queued.size(), 1u) << "message queued for the offline session";
    check(queued[0], "queued for an offline session");
}

// Payload Format Indicator 1 with a valid UTF-8 payload is forwarded with the indicator
// [MQTT-3.3.2-4]; with invalid UTF-8 rmqttd validates it (the specification lets a receiver
// do so) and refuses it with 0x99, on PUBACK or DISCONNECT, without forwarding it. Indicator 0
// payloads are bytes: forwarded unchanged whatever they hold.
TEST(V5RequestResponse, PayloadFormatIndicator) {
    auto b = start_broker();
    auto s = raw5(*b, "pfi-sub");
    ASSERT_EQ(subscribe5(*s, 1, "pfi/#", 1), std::vector<std::uint8_t>{1});
    auto c = raw5(*b, "pfi-pub");
    proto::properties utf8, bytes;
    utf8.payload_format_indicator = 1;
    bytes.payload_format_indicator = 0;
    const std::string invalid("\xFF\xFE\xC0\x80", 4);

    ASSERT_EQ(publish_acked(*c, publish5("pfi/ok", "h\xC3\xA9llo", 1, 1, utf8)), 0);
    ASSERT_EQ(publish_acked(*c, publish5("pfi/bytes", invalid, 1, 2, bytes)), 0);
    auto got = receive_publishes(*s, 2);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].payload, "h\xC3\xA9llo");
    EXPECT_EQ(got[0].props.payload_format_indicator, std::optional<std::uint8_t>(1))
        << "[MQTT-3.3.2-4]";
    EXPECT_EQ(got[1].payload, invalid);
    EXPECT_EQ(got[1].props.payload_format_indicator.value_or(0), 0) << "[MQTT-3.3.2-4]";

    c->send(publish5("pfi/bad", invalid, 1, 3, utf8));
    auto p = c->receive(5s);
    if (p && std::holds_alternative<proto::puback>(*p)) {
        EXPECT_EQ(code_of(std::get<proto::puback>(*p).code),
                  code_of(proto::reason_code::payload_format_invalid));
    } else {
        ASSERT_TRUE(p && std::holds_alternative<proto::disconnect>(*p))
            << "invalid UTF-8 with Payload Format Indicator 1 was neither refused with PUBACK "
               "0x99 nor DISCONNECT 0x99";
        EXPECT_EQ(code_of(std::get<proto::disconnect>(*p).code),
                  code_of(proto::reason_code::payload_format_invalid));
        EXPECT_TRUE(c->wait_closed(5s));
    }
    EXPECT_TRUE(receive_publishes(*s, 1, 800ms).empty()) << "the invalid payload was forwarded";
}

}  // namespace
}  // namespace rmqtt::test::v5
