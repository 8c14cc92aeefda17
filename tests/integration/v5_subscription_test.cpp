// MQTT 5.0 subscription features through Paho MQTT C++ against the real rmqttd: Subscription
// Identifiers, No Local, Retain As Published, Retain Handling.
#include <gtest/gtest.h>

#include "v5_util.hpp"

namespace rmqtt::test::v5 {
namespace {

mqtt::properties sub_id(int id) {
    return props({mqtt::property(mqtt::property::SUBSCRIPTION_IDENTIFIER, id)});
}

// Every Subscription Identifier of the subscriptions a message matched, over all the copies
// that arrived; one copy carries all of them [MQTT-3.3.4-4], several copies one each
// [MQTT-3.3.4-5].
std::vector<std::uint32_t> ids_of(const std::vector<mqtt_client::received>& copies) {
    std::vector<std::uint32_t> all;
    for (const auto& m : copies) {
        auto ids = sub_ids(m.props);
        if (copies.size() > 1) {
            EXPECT_LE(ids.size(), 1u) << "[MQTT-3.3.4-5]";
        }
        all.insert(all.end(), ids.begin(), ids.end());
    }
    std::sort(all.begin(), all.end());
    return all;
}

// Subscription Identifiers come with the messages they matched [MQTT-3.3.4-3]; overlapping
// subscriptions give all their identifiers [MQTT-3.3.4-4]; a subscription without one adds
// none; a re-subscription replaces the identifier [MQTT-3.8.4-3]; a retained message sent
// because of a SUBSCRIBE carries that subscription's identifier.
TEST(V5Subscription, Identifiers) {
    auto b = start_broker();
    auto pub = raw5(*b, "sid-pub");
    ASSERT_EQ(publish_acked(*pub, publish5("sid/ret/x", "retained", 1, 1, {}, true)), 0x10);

    auto s = paho5(*b, "sid");
    ASSERT_EQ(s->subscribe("sid/#", 1, {}, sub_id(7)), 1);
    auto r = s->take(1);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].payload, "retained");
    EXPECT_EQ(sub_ids(r[0].props), std::vector<std::uint32_t>{7})
        << "retained message sent at SUBSCRIBE carries the identifier";

    ASSERT_EQ(s->subscribe("sid/+/x", 1, {}, sub_id(268435455)), 1);  // the largest allowed
    ASSERT_EQ(s->subscribe("sid/plain/+", 1), 1);
    s->take(1);  // the retained sid/ret/x again, for sid/+/x

    auto round = [&](const std::string& topic, const std::string& payload) {
        EXPECT_EQ(publish_acked(*pub, publish5(topic, payload, 1, 2)), 0);
        auto got = s->drain(500ms);
        for (const auto& m : got)
            EXPECT_EQ(m.payload, payload);
        return ids_of(got);
    };
    EXPECT_EQ(round("sid/a/x", "both"), (std::vector<std::uint32_t>{7, 268435455}))
        << "[MQTT-3.3.4-4]";
    EXPECT_EQ(round("sid/b", "one"), std::vector<std::uint32_t>{7}) << "[MQTT-3.3.4-3]";
    EXPECT_EQ(round("sid/plain/z", "plain"), std::vector<std::uint32_t>{7})
        << "the subscription without identifier adds none";

    ASSERT_EQ(s->subscribe("sid/#", 1, {}, sub_id(8)), 1);
    s->take(1);  // retained re-sent (Retain Handling 0)
    EXPECT_EQ(round("sid/b", "updated"), std::vector<std::uint32_t>{8})
        << "re-subscription must replace the identifier";
    ASSERT_EQ(s->subscribe("sid/#", 1), 1);
    s->take(1);  // retained re-sent
    EXPECT_TRUE(round("sid/b", "removed").empty())
        << "re-subscription without identifier must drop the old one";
}

// Subscription Identifiers belong to one session: another subscriber to the same topic gets
// its own identifier, not this one's.
TEST(V5Subscription, IdentifiersPerSession) {
    auto b = start_broker();
    auto s1 = raw5(*b, "sidp-1");
    auto s2 = raw5(*b, "sidp-2");
    proto::properties p1, p2;
    p1.subscription_identifiers = {11};
    p2.subscription_identifiers = {22};
    ASSERT_EQ(subscribe5(*s1, 1, {sub_opt("sidp/t", 1)}, p1), std::vector<std::uint8_t>{1});
    ASSERT_EQ(subscribe5(*s2, 1, {sub_opt("sidp/+", 1)}, p2), std::vector<std::uint8_t>{1});
    auto pub = raw5(*b, "sidp-pub");
    ASSERT_EQ(publish_acked(*pub, publish5("sidp/t", "m", 1, 1)), 0);
    auto g1 = receive_publishes(*s1, 1);
    auto g2 = receive_publishes(*s2, 1);
    ASSERT_EQ(g1.size(), 1u);
    ASSERT_EQ(g2.size(), 1u);
    EXPECT_EQ(g1[0].props.subscription_identifiers, std::vector<std::uint32_t>{11});
    EXPECT_EQ(g2[0].props.subscription_identifiers, std::vector<std::uint32_t>{22});
}

// No Local: messages are not forwarded to the connection of the client that published them
// [MQTT-3.8.3-3]; other clients' messages still are, and a subscriber without it gets both.
TEST(V5Subscription, NoLocal) {
    auto b = start_broker();
    auto a = paho5(*b, "nl-a");
    auto c = paho5(*b, "nl-c");
    ASSERT_EQ(a->subscribe("nl/t", 1, paho_sub_options(/*no_local=*/true)), 1);
    ASSERT_EQ(c->subscribe("nl/t", 1), 1);
    a->publish("nl/t", "from-a", 1);
    c->publish("nl/t", "from-c", 1);
    auto got_a = a->take(1, 3s);
    EXPECT_EQ(payloads(got_a), std::vector<std::string>{"from-c"});
    EXPECT_TRUE(a->drain(400ms).empty()) << "own message delivered despite No Local [MQTT-3.8.3-3]";
    auto got_c = c->take(2, 3s);
    EXPECT_EQ(payloads(got_c), (std::vector<std::string>{"from-a", "from-c"}));
}

// Retain As Published: 1 keeps the RETAIN flag of the published message [MQTT-3.3.1-13], 0
// clears it on messages forwarded to an existing subscription [MQTT-3.3.1-12].
TEST(V5Subscription, RetainAsPublished) {
    auto b = start_broker();
    auto keep = paho5(*b, "rap-1");
    auto clear = paho5(*b, "rap-0");
    ASSERT_EQ(keep->subscribe("rap/t", 1, paho_sub_options(false, /*rap=*/true)), 1);
    ASSERT_EQ(clear->subscribe("rap/t", 1, paho_sub_options(false, /*rap=*/false)), 1);
    auto pub = raw5(*b, "rap-pub");
    ASSERT_EQ(publish_acked(*pub, publish5("rap/t", "retained", 1, 1, {}, true)), 0);
    ASSERT_EQ(publish_acked(*pub, publish5("rap/t", "plain", 1, 2)), 0);
    auto k = keep->take(2);
    auto c = clear->take(2);
    ASSERT_EQ(payloads(k), (std::vector<std::string>{"retained", "plain"}));
    ASSERT_EQ(payloads(c), (std::vector<std::string>{"retained", "plain"}));
    EXPECT_TRUE(k[0].retained) << "[MQTT-3.3.1-13]";
    EXPECT_FALSE(k[1].retained);
    EXPECT_FALSE(c[0].retained) << "[MQTT-3.3.1-12]";
    EXPECT_FALSE(c[1].retained);
}

// Retain Handling 0: retained messages at every SUBSCRIBE [MQTT-3.3.1-9]; 1: only when the
// subscription is new [MQTT-3.3.1-10]; 2: never at SUBSCRIBE [MQTT-3.3.1-11]. Retained messages
// sent because of a SUBSCRIBE have RETAIN 1 whatever Retain As Published says.
TEST(V5Subscription, RetainHandling) {
    auto b = start_broker();
    auto pub = raw5(*b, "rh-pub");
    ASSERT_EQ(publish_acked(*pub, publish5("rh/t", "kept", 1, 1, {}, true)), 0x10);
    auto c = paho5(*b, "rh");

    auto count_retained = [&](const std::string& filter, int rh) {
        EXPECT_EQ(c->subscribe(filter, 1, paho_sub_options(false, false, rh)), 1);
        auto got = c->drain(500ms);
        for (const auto& m : got) {
            EXPECT_EQ(m.payload, "kept");
            EXPECT_TRUE(m.retained) << "[MQTT-3.3.1-9 note]: sent at SUBSCRIBE with RETAIN 1";
        }
        return got.size();
    };
    EXPECT_EQ(count_retained("rh/t", 0), 1u) << "RH 0, new [MQTT-3.3.1-9]";
    EXPECT_EQ(count_retained("rh/t", 0), 1u) << "RH 0, existing [MQTT-3.3.1-9]";
    EXPECT_EQ(count_retained("rh/+", 1), 1u) << "RH 1, new [MQTT-3.3.1-10]";
    EXPECT_EQ(count_retained("rh/+", 1), 0u) << "RH 1, existing [MQTT-3.3.1-10]";
    EXPECT_EQ(count_retained("rh/#", 2), 0u) << "RH 2, new [MQTT-3.3.1-11]";
    EXPECT_EQ(count_retained("rh/#", 2), 0u) << "RH 2, existing [MQTT-3.3.1-11]";
    c->unsubscribe("rh/+");
    EXPECT_EQ(count_retained("rh/+", 1), 1u) << "RH 1 after UNSUBSCRIBE is new again";

    // Live messages still flow to all three subscriptions (one copy or several).
    ASSERT_EQ(publish_acked(*pub, publish5("rh/t", "live", 1, 2)), 0);
    auto live = c->drain(500ms);
    ASSERT_FALSE(live.empty());
    for (const auto& m : live)
        EXPECT_EQ(m.payload, "live");
}

}  // namespace
}  // namespace rmqtt::test::v5
