// MQTT 5.0 CONNECT / CONNACK properties and session expiry against the real rmqttd.
#include <gtest/gtest.h>

#include "v5_util.hpp"

namespace rmqtt::test::v5 {
namespace {

// raw_disconnect and expect_disconnect return once rmqttd closed the connection: by then the
// session has ended or gone offline, so the tests go on at once.

proto::connect with_expiry(const std::string& id, std::uint32_t expiry, bool clean = true) {
    auto c = connect5(id, clean);
    c.props.session_expiry_interval = expiry;
    return c;
}

// Session Expiry Interval absent (0): the session ends when the connection closes
// [MQTT-3.1.2-23]; a later Clean Start 0 finds none [MQTT-3.2.2-3].
TEST(V5Connect, SessionExpiryZeroEndsSessionAtDisconnect) {
    auto b = start_broker();
    {
        auto c = raw5(*b, "se0");
        ASSERT_EQ(subscribe5(*c, 1, "se0/t", 1), std::vector<std::uint8_t>{1});
        raw_disconnect(*c);
    }
    auto pub = raw5(*b, "se0-pub");
    EXPECT_EQ(publish_acked(*pub, publish5("se0/t", "lost", 1, 1)),
              code_of(proto::reason_code::no_matching_subscribers))
        << "the ended session's subscription must be gone";
    proto::connack ack;
    auto c = raw5(*b, connect5("se0", /*clean=*/false), &ack);
    EXPECT_FALSE(ack.session_present) << "[MQTT-3.2.2-3]";
    EXPECT_TRUE(drain_raw(*c, 400ms).empty());
}

// Session Expiry Interval > 0: subscriptions and queued messages survive the connection
// [MQTT-3.1.2-23] and Clean Start 0 resumes them [MQTT-3.1.2-5] [MQTT-3.2.2-3].
TEST(V5Connect, SessionExpiryKeepsSession) {
    auto b = start_broker();
    {
        auto c = raw5(*b, with_expiry("se60", 60));
        ASSERT_EQ(subscribe5(*c, 1, "se60/t", 1), std::vector<std::uint8_t>{1});
        raw_disconnect(*c);
    }
    auto pub = raw5(*b, "se60-pub");
    EXPECT_EQ(publish_acked(*pub, publish5("se60/t", "kept", 1, 1)), 0)
        << "the offline session's subscription matches";
    proto::connack ack;
    auto c = raw5(*b, with_expiry("se60", 60, /*clean=*/false), &ack);
    EXPECT_TRUE(ack.session_present) << "[MQTT-3.2.2-3]";
    auto got = receive_publishes(*c, 1);
    ASSERT_EQ(raw_payloads(got), std::vector<std::string>{"kept"});
    EXPECT_EQ(got[0].topic, "se60/t");

    // Clean Start 1 discards it [MQTT-3.1.2-4] and answers Session Present 0 [MQTT-3.2.2-2].
    raw_disconnect(*c);
    proto::connack fresh;
    auto c2 = raw5(*b, with_expiry("se60", 60, /*clean=*/true), &fresh);
    EXPECT_FALSE(fresh.session_present) << "[MQTT-3.2.2-2]";
}

// A session is discarded once its expiry interval has passed after the close [MQTT-4.1.0-2].
TEST(V5Connect, SessionEndsAfterExpiryInterval) {
    auto b = start_broker();
    {
        auto c = raw5(*b, with_expiry("se1", 1));
        ASSERT_EQ(subscribe5(*c, 1, "se1/t", 1), std::vector<std::uint8_t>{1});
        raw_disconnect(*c);
    }
    // rmqttd logs the end of the session 1 s after the disconnect.
    EXPECT_TRUE(log_shows(*b, "session se1 expired"));
    auto pub = raw5(*b, "se1-pub");
    EXPECT_EQ(publish_acked(*pub, publish5("se1/t", "late", 1, 1)),
              code_of(proto::reason_code::no_matching_subscribers))
        << "expired session still subscribed";
    proto::connack ack;
    auto c = raw5(*b, with_expiry("se1", 1, /*clean=*/false), &ack);
    EXPECT_FALSE(ack.session_present) << "[MQTT-4.1.0-2]";
}

// The listener's max_session_expiry_interval caps the client's value, and the CONNACK then
// carries the value the server uses (5.0 section 3.2.2.3.2).
TEST(V5Connect, SessionExpiryCappedByListener) {
    auto b = start_broker({"max_session_expiry_interval = \"1h\""});
    {
        proto::connack ack;
        auto c = raw5(*b, with_expiry("cap-a", 7200), &ack);
        ASSERT_TRUE(ack.props.session_expiry_interval.has_value())
            << "CONNACK must tell the client the capped Session Expiry Interval";
        EXPECT_EQ(*ack.props.session_expiry_interval, 3600u);
    }
    {
        proto::connack ack;
        auto c = raw5(*b, with_expiry("cap-b", 0xFFFFFFFFu), &ack);
        ASSERT_TRUE(ack.props.session_expiry_interval.has_value())
            << "never-expiring is capped too";
        EXPECT_EQ(*ack.props.session_expiry_interval, 3600u);
    }
    {
        // Below the cap: absent means "the value you sent" (or the same value is repeated).
        proto::connack ack;
        auto c = raw5(*b, with_expiry("cap-c", 60), &ack);
        EXPECT_EQ(ack.props.session_expiry_interval.value_or(60), 60u);
    }
}

// A Session Expiry Interval of 0 at CONNECT cannot become non-zero at DISCONNECT: the server
// answers DISCONNECT 0x82 (5.0 section 3.14.2.2.2) and the session still ends.
TEST(V5Connect, DisconnectCannotSetExpiryAfterZero) {
    auto b = start_broker();
    {
        auto c = raw5(*b, "dz");
        ASSERT_EQ(subscribe5(*c, 1, "dz/t", 1), std::vector<std::uint8_t>{1});
        proto::disconnect d;
        d.props.session_expiry_interval = 300;
        c->send(d);
        expect_disconnect(*c, proto::reason_code::protocol_error,
                          "DISCONNECT with expiry 300 after CONNECT with 0");
    }
    proto::connack ack;
    auto c = raw5(*b, connect5("dz", /*clean=*/false), &ack);
    EXPECT_FALSE(ack.session_present) << "the invalid DISCONNECT must not keep the session";
}

// Non-zero at CONNECT, 0 at DISCONNECT: the session ends with the connection.
TEST(V5Connect, DisconnectExpiryZeroEndsSession) {
    auto b = start_broker();
    {
        auto c = raw5(*b, with_expiry("dn0", 600));
        ASSERT_EQ(subscribe5(*c, 1, "dn0/t", 1), std::vector<std::uint8_t>{1});
        proto::disconnect d;
        d.props.session_expiry_interval = 0;
        raw_disconnect(*c, d);
    }
    auto pub = raw5(*b, "dn0-pub");
    EXPECT_EQ(publish_acked(*pub, publish5("dn0/t", "x", 1, 1)),
              code_of(proto::reason_code::no_matching_subscribers));
    proto::connack ack;
    auto c = raw5(*b, with_expiry("dn0", 600, /*clean=*/false), &ack);
    EXPECT_FALSE(ack.session_present);
}

// Non-zero at CONNECT, a shorter non-zero value at DISCONNECT: the new value applies.
TEST(V5Connect, DisconnectShortensExpiry) {
    auto b = start_broker();
    {
        auto c = raw5(*b, with_expiry("dsh", 600));
        ASSERT_EQ(subscribe5(*c, 1, "dsh/t", 1), std::vector<std::uint8_t>{1});
        proto::disconnect d;
        d.props.session_expiry_interval = 1;
        raw_disconnect(*c, d);
    }
    // rmqttd logs the end of the session once the DISCONNECT's 1 s have passed.
    EXPECT_TRUE(log_shows(*b, "session dsh expired"));
    proto::connack ack;
    auto c = raw5(*b, with_expiry("dsh", 600, /*clean=*/false), &ack);
    EXPECT_FALSE(ack.session_present) << "session kept past the DISCONNECT's 1 s expiry";
}

// Empty client identifier: the server assigns a unique one and returns it in CONNACK
// [MQTT-3.1.3-6] [MQTT-3.2.2-16]; the assigned id names a session that can be resumed.
TEST(V5Connect, AssignedClientIdentifier) {
    auto b = start_broker();
    proto::connack a1, a2, named;
    auto c1 = raw5(*b, with_expiry("", 60), &a1);
    auto c2 = raw5(*b, connect5(""), &a2);
    auto c3 = raw5(*b, connect5("has-an-id"), &named);
    ASSERT_TRUE(a1.props.assigned_client_identifier.has_value()) << "[MQTT-3.2.2-16]";
    ASSERT_TRUE(a2.props.assigned_client_identifier.has_value()) << "[MQTT-3.2.2-16]";
    EXPECT_FALSE(a1.props.assigned_client_identifier->empty());
    EXPECT_NE(*a1.props.assigned_client_identifier, *a2.props.assigned_client_identifier)
        << "assigned identifiers must be unique [MQTT-3.1.3-6]";
    EXPECT_FALSE(named.props.assigned_client_identifier.has_value())
        << "only an empty client id gets an Assigned Client Identifier";
    EXPECT_TRUE(alive(*c1));
    EXPECT_TRUE(alive(*c2)) << "the second assigned id must not take over the first";

    const std::string id = *a1.props.assigned_client_identifier;
    ASSERT_EQ(subscribe5(*c1, 1, "aci/t", 1), std::vector<std::uint8_t>{1});
    raw_disconnect(*c1);
    auto pub = raw5(*b, "aci-pub");
    ASSERT_EQ(publish_acked(*pub, publish5("aci/t", "for-assigned", 1, 1)), 0);
    proto::connack back;
    auto again = raw5(*b, with_expiry(id, 60, /*clean=*/false), &back);
    EXPECT_TRUE(back.session_present) << "the session of the assigned id resumes";
    EXPECT_EQ(raw_payloads(receive_publishes(*again, 1)), std::vector<std::string>{"for-assigned"});
}

// The listener clamps keep alive to min_keepalive..max_keepalive and says so with Server Keep
// Alive [MQTT-3.2.2-21]; in range, the client's value stands [MQTT-3.2.2-22].
TEST(V5Connect, ServerKeepAliveWhenClamped) {
    auto b = start_broker({"min_keepalive = 10", "max_keepalive = 30"});
    struct row {
        std::uint16_t sent;
        std::uint16_t expected;
    };
    for (auto [sent, expected] : {row{60, 30}, row{5, 10}, row{20, 20}, row{30, 30}}) {
        proto::connack ack;
        auto c = raw5(*b, connect5(cat("ka-", sent), true, sent), &ack);
        if (sent == expected) {
            EXPECT_EQ(ack.props.server_keep_alive.value_or(sent), expected)
                << "keep alive " << sent << " is in range";
        } else {
            ASSERT_TRUE(ack.props.server_keep_alive.has_value())
                << "keep alive " << sent << " was changed: CONNACK must say so [MQTT-3.2.2-21]";
            EXPECT_EQ(*ack.props.server_keep_alive, expected) << "keep alive " << sent;
        }
    }
}

// The server enforces the keep alive it announced: with max_keepalive = 1 a client asking for
// 60 s gets Server Keep Alive 1, and a silent connection ends with DISCONNECT 0x8D
// [MQTT-3.1.2-22] [MQTT-3.2.2-22].
TEST(V5Connect, KeepAliveTimeoutDisconnects) {
    auto b = start_broker({"max_keepalive = 1"});
    proto::connack ack;
    auto c = raw5(*b, connect5("ka-silent", true, 60), &ack);
    ASSERT_EQ(ack.props.server_keep_alive.value_or(60), 1);
    expect_disconnect(*c, proto::reason_code::keep_alive_timeout, "silent client", 15s);
}

// Maximum QoS: a listener with max_qos_allowed = 1 announces it [MQTT-3.2.2-9], still accepts
// SUBSCRIBE at QoS 2 (granting 1) [MQTT-3.2.2-10], refuses a QoS 2 will with CONNACK 0x9B
// [MQTT-3.2.2-12], and answers a QoS 2 PUBLISH with DISCONNECT 0x9B (5.0 section 3.2.2.3.4).
TEST(V5Connect, MaximumQos1) {
    auto b = start_broker({"max_qos_allowed = 1"});
    proto::connack ack;
    auto c = raw5(*b, connect5("mq1"), &ack);
    ASSERT_TRUE(ack.props.maximum_qos.has_value()) << "[MQTT-3.2.2-9]";
    EXPECT_EQ(*ack.props.maximum_qos, 1);
    EXPECT_EQ(subscribe5(*c, 1, "mq1/t", 2), std::vector<std::uint8_t>{1}) << "[MQTT-3.2.2-10]";
    EXPECT_EQ(publish_acked(*c, publish5("mq1/t", "q1", 1, 2)), 0);
    auto got = receive_publishes(*c, 1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].qos_level, proto::qos::at_least_once);

    {
        auto w = connect5("mq1-will");
        w.will = make_will("mq1/will", "bye", 2);
        std::optional<proto::connack> wa;
        auto wc = raw5_try(*b, w, wa);
        ASSERT_TRUE(wa.has_value()) << "a refused CONNECT still gets a CONNACK";
        EXPECT_EQ(wa->code, code_of(proto::reason_code::qos_not_supported)) << "[MQTT-3.2.2-12]";
        EXPECT_TRUE(wc->wait_closed(5s));
    }

    c->send(publish5("mq1/t", "q2", 2, 3));
    expect_disconnect(*c, proto::reason_code::qos_not_supported, "QoS 2 PUBLISH above Maximum QoS");
}

TEST(V5Connect, MaximumQos0) {
    auto b = start_broker({"max_qos_allowed = 0"});
    proto::connack ack;
    auto c = raw5(*b, connect5("mq0"), &ack);
    ASSERT_TRUE(ack.props.maximum_qos.has_value()) << "[MQTT-3.2.2-9]";
    EXPECT_EQ(*ack.props.maximum_qos, 0);
    EXPECT_EQ(subscribe5(*c, 1, "mq0/t", 1), std::vector<std::uint8_t>{0}) << "[MQTT-3.2.2-10]";
    c->send(publish5("mq0/t", "q1", 1, 2));
    expect_disconnect(*c, proto::reason_code::qos_not_supported, "QoS 1 PUBLISH above Maximum QoS");
}

// The default listener supports every QoS: no Maximum QoS property (it may only be 0 or 1).
// It advertises the other capabilities as available (absent or 1), and they work.
TEST(V5Connect, DefaultCapabilities) {
    auto b = start_broker();
    proto::connack ack;
    auto c = raw5(*b, connect5("caps"), &ack);
    EXPECT_FALSE(ack.props.maximum_qos.has_value());
    EXPECT_EQ(ack.props.retain_available.value_or(1), 1);
    EXPECT_EQ(ack.props.wildcard_subscription_available.value_or(1), 1);
    EXPECT_EQ(ack.props.subscription_identifier_available.value_or(1), 1);
    EXPECT_EQ(ack.props.shared_subscription_available.value_or(1), 1);
    EXPECT_FALSE(ack.props.assigned_client_identifier.has_value());
    EXPECT_FALSE(ack.props.authentication_method.has_value());

    proto::properties with_id;
    with_id.subscription_identifiers = {5};
    EXPECT_EQ(
        subscribe5(*c, 1,
                   {sub_opt("caps/+/x", 1), sub_opt("caps/#", 1), sub_opt("$share/g/caps/s", 1)},
                   with_id),
        (std::vector<std::uint8_t>{1, 1, 1}));
    // Retained messages are stored: a retained PUBLISH reaches a later subscriber.
    auto pub = raw5(*b, "caps-pub");
    ASSERT_EQ(publish_acked(*pub, publish5("caps/r", "kept", 1, 1, {}, /*retain=*/true)), 0);
    auto got = receive_publishes(*c, 1);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].props.subscription_identifiers, std::vector<std::uint32_t>{5});
    auto late = raw5(*b, "caps-late");
    ASSERT_EQ(subscribe5(*late, 1, "caps/r", 1), std::vector<std::uint8_t>{1});
    auto r = receive_publishes(*late, 1);
    ASSERT_EQ(r.size(), 1u) << "Retain Available (absent = 1) but the message was not retained";
    EXPECT_TRUE(r[0].retain);
}

// Listener limits announced in CONNACK: Receive Maximum = max_inflight, Maximum Packet Size =
// max_packet_size, Topic Alias Maximum = max_topic_aliases.
TEST(V5Connect, ListenerLimitsAnnounced) {
    auto b =
        start_broker({"max_inflight = 4", "max_packet_size = \"1KB\"", "max_topic_aliases = 10"});
    proto::connack ack;
    auto c = raw5(*b, connect5("limits"), &ack);
    EXPECT_EQ(ack.props.receive_maximum.value_or(65535), 4);
    EXPECT_EQ(ack.props.maximum_packet_size.value_or(0), 1024u);
    EXPECT_EQ(ack.props.topic_alias_maximum.value_or(0), 10);
}

// No retainer plugin: either the server says Retain Available 0 and refuses a retained PUBLISH
// with DISCONNECT 0x9A (5.0 section 3.2.2.3.5) and a will with Will Retain with CONNACK 0x9A
// [MQTT-3.2.2-13], or it stores retained messages [MQTT-3.3.1-5].
TEST(V5Connect, RetainAvailableWithoutRetainer) {
    scoped_env env("RMQTT_PLUGINS_DEFAULT_STARTUPS",
                   "rmqtt-session-storage rmqtt-shared-subscription");
    auto b = start_broker();
    proto::connack ack;
    auto c = raw5(*b, connect5("noret"), &ack);
    if (ack.props.retain_available.value_or(1) == 1) {
        auto pub = raw5(*b, "noret-pub");
        ASSERT_EQ(
            publish_acked(*pub, publish5("noret/t", "r", 1, 1, {}, true)).value_or(0xFF) & 0x80, 0);
        ASSERT_EQ(subscribe5(*c, 1, "noret/t", 1), std::vector<std::uint8_t>{1});
        EXPECT_EQ(receive_publishes(*c, 1).size(), 1u)
            << "CONNACK did not say Retain Available 0, yet the retained message was not kept "
               "[MQTT-3.3.1-5]";
        return;
    }
    {
        auto w = connect5("noret-will");
        w.will = make_will("noret/will", "bye", 0, /*retain=*/true);
        std::optional<proto::connack> wa;
        auto wc = raw5_try(*b, w, wa);
        ASSERT_TRUE(wa.has_value());
        EXPECT_EQ(wa->code, code_of(proto::reason_code::retain_not_supported)) << "[MQTT-3.2.2-13]";
    }
    c->send(publish5("noret/t", "r", 1, 1, {}, true));
    expect_disconnect(*c, proto::reason_code::retain_not_supported, "retained PUBLISH");
}

// Request Problem Information 0: no Reason String or User Properties on any packet other than
// PUBLISH, CONNACK or DISCONNECT [MQTT-3.1.2-29]. Each acknowledgement below is an error or
// "not quite success" answer, where a server is most tempted to explain itself.
TEST(V5Connect, RequestProblemInformationZero) {
    auto b = start_broker({"max_subscriptions = 1"});
    auto conn = connect5("rpi0");
    conn.props.request_problem_information = 0;
    auto c = raw5(*b, conn);
    std::vector<proto::properties> seen;

    c->send(publish5("rpi0/none", "x", 1, 1));
    auto pa = expect<proto::puback>(*c);
    ASSERT_TRUE(pa);
    EXPECT_EQ(code_of(pa->code), code_of(proto::reason_code::no_matching_subscribers));
    seen.push_back(pa->props);

    c->send(publish5("rpi0/none", "x", 2, 2));
    auto rec = expect<proto::pubrec>(*c);
    ASSERT_TRUE(rec);
    seen.push_back(rec->props);
    c->send(proto::pubrel{2, {}, {}});
    auto comp = expect<proto::pubcomp>(*c);
    ASSERT_TRUE(comp);
    seen.push_back(comp->props);

    c->send(proto::pubrel{77, {}, {}});  // unknown packet id: PUBCOMP 0x92
    auto comp2 = expect<proto::pubcomp>(*c);
    ASSERT_TRUE(comp2);
    seen.push_back(comp2->props);

    proto::subscribe s;
    s.packet_id = 3;
    s.topics = {sub_opt("rpi0/a", 1), sub_opt("$share/g+/bad", 1), sub_opt("rpi0/b", 1)};
    c->send(s);
    auto sa = expect<proto::suback>(*c);
    ASSERT_TRUE(sa);
    EXPECT_EQ(sa->codes, (std::vector<std::uint8_t>{1, 0x8F, 0x97}));
    seen.push_back(sa->props);

    c->send(make_unsubscribe(4, {"rpi0/never"}));
    auto ua = expect<proto::unsuback>(*c);
    ASSERT_TRUE(ua);
    seen.push_back(ua->props);

    for (std::size_t i = 0; i < seen.size(); ++i) {
        EXPECT_FALSE(seen[i].reason_string.has_value())
            << "packet " << i << " carries a Reason String: " << *seen[i].reason_string;
        EXPECT_TRUE(seen[i].user_properties.empty())
            << "packet " << i << " carries User Properties";
    }
    EXPECT_TRUE(alive(*c));
}

// User Properties are allowed on CONNECT, SUBSCRIBE, UNSUBSCRIBE, PUBLISH acknowledgements and
// DISCONNECT (5.0 Table 2-4): a server must accept them, in any number, with repeated names.
TEST(V5Connect, UserPropertiesAccepted) {
    auto b = start_broker();
    auto conn = connect5("up");
    conn.props.user_properties = {{"region", "eu"}, {"region", "us"}, {"", ""}};
    auto c = raw5(*b, conn);
    proto::properties p;
    p.user_properties = {{"why", "test"}};
    EXPECT_EQ(subscribe5(*c, 1, {sub_opt("up/t", 1)}, p), std::vector<std::uint8_t>{1});
    c->send(publish5("up/t", "m", 1, 2));
    bool acked = false;
    for (int i = 0; i < 2; ++i) {
        auto pk = c->receive(5s);
        ASSERT_TRUE(pk);
        if (auto* pub = std::get_if<proto::publish>(&*pk)) {
            c->send(proto::puback{pub->packet_id, proto::reason_code::success, p});
        } else {
            ASSERT_TRUE(std::holds_alternative<proto::puback>(*pk));
            acked = true;
        }
    }
    EXPECT_TRUE(acked);
    c->send(make_unsubscribe(3, {"up/t"}, p));
    auto ua = expect<proto::unsuback>(*c);
    ASSERT_TRUE(ua);
    EXPECT_EQ(ua->codes, std::vector<proto::reason_code>{proto::reason_code::success});
    proto::disconnect d;
    d.props = p;
    raw_disconnect(*c, d);
}

// Authentication Method that no plugin provides: CONNACK 0x8C, then close [MQTT-4.12.0-1].
TEST(V5Auth, UnknownMethodRefused) {
    auto b = start_broker();
    auto conn = connect5("auth-x");
    conn.props.authentication_method = "SCRAM-SHA-256";
    conn.props.authentication_data = std::string("n,,n=user,r=abc", 15);
    std::optional<proto::connack> ack;
    auto c = raw5_try(*b, conn, ack);
    ASSERT_TRUE(ack.has_value()) << "no CONNACK";
    EXPECT_EQ(ack->code, code_of(proto::reason_code::bad_authentication_method));
    EXPECT_FALSE(ack->session_present);
    EXPECT_TRUE(c->wait_closed(5s)) << "[MQTT-4.12.0-1] the connection must close";
}

// AUTH from a client whose CONNECT had no Authentication Method is a Protocol Error
// (5.0 section 4.12); the server never starts AUTH itself [MQTT-4.12.0-6].
TEST(V5Auth, AuthWithoutMethodIsProtocolError) {
    auto b = start_broker();
    auto c = raw5(*b, "auth-none");
    EXPECT_TRUE(alive(*c)) << "no AUTH before this point";
    proto::auth a;
    a.code = proto::reason_code::re_authenticate;
    a.props.authentication_method = "PLAIN";
    c->send(a);
    expect_disconnect(*c, proto::reason_code::protocol_error, "AUTH without a method at CONNECT");
}

}  // namespace
}  // namespace rmqtt::test::v5
