// Connections and their packet handlers driven without sockets (harness.hpp): the core with an
// in-memory transport, real sessions, router and pipeline.
#include <gtest/gtest.h>

#include <thread>

#include "harness.hpp"

namespace rmqtt::broker::test {
namespace {

using namespace std::chrono_literals;
namespace proto = rmqtt::protocol;
using proto::version;

proto::subscribe subscribe_to(std::uint16_t pid, const std::string& filter, proto::qos q) {
    proto::subscribe s;
    s.packet_id = pid;
    proto::topic_subscription t;
    t.filter = filter;
    t.options.max_qos = q;
    s.topics.push_back(t);
    return s;
}

proto::publish publish_to(const std::string& topic, const std::string& payload, proto::qos q,
                          std::uint16_t pid = 0) {
    proto::publish p;
    p.topic = topic;
    p.payload = payload;
    p.qos_level = q;
    p.packet_id = pid;
    return p;
}

TEST(Connection, ConnectSubscribePublishWithoutSockets) {
    harness h;
    auto sub = h.connect_raw();
    auto ack = h.connect(sub, "sub");
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->code, 0);
    sub.send(subscribe_to(1, "a/#", proto::qos::at_least_once));
    auto sa = sub.expect<proto::suback>();
    ASSERT_TRUE(sa);
    EXPECT_EQ(sa->codes, std::vector<std::uint8_t>{1});

    auto pub = h.connect_raw();
    ASSERT_TRUE(h.connect(pub, "pub"));
    pub.send(publish_to("a/b", "hello", proto::qos::at_least_once, 7));
    auto pa = pub.expect<proto::puback>();
    ASSERT_TRUE(pa);
    EXPECT_EQ(pa->packet_id, 7);
    auto got = sub.expect<proto::publish>();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->topic, "a/b");
    EXPECT_EQ(got->payload, "hello");
    EXPECT_EQ(got->qos_level, proto::qos::at_least_once);
}

// mqtt.max_sessions (the listener's counters carry it): a new client id beyond it is refused
// with Server unavailable; a client id that has a session still connects.
TEST(Connection, MaxSessionsRefusesANewClientId) {
    harness h;
    h.counters->max_sessions = 1;
    auto first = h.connect_raw();
    auto ack = h.connect(first, "first", false);
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->code, 0);
    auto second = h.connect_raw();
    ack = h.connect(second, "second");
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->code, static_cast<std::uint8_t>(proto::connect_return_code::server_unavailable));
    auto again = h.connect_raw();
    ack = h.connect(again, "first", false);
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->code, 0);
}

// An authentication hook may answer later, from another thread; the CONNACK waits for it.
TEST(Connection, DeferredAuthenticationDecision) {
    harness h;
    std::thread worker;
    h.core.hooks.on_authenticate(
        0, hook_bus::async_authenticate_handler(
               [&worker](const client_info& c, const std::optional<std::string>& password,
                         hook_result, decision_scope<hook_result>& scope) {
                   const bool ok = password && *password == "secret" && c.client_id == "late";
                   worker = std::thread([d = scope.defer(), ok]() mutable {
                       std::this_thread::sleep_for(50ms);  // the decision comes later: the case
                       d.resolve(ok ? hook_result::allow : hook_result::deny);
                   });
                   return hook_result::pending;
               }));
    auto c = h.connect_raw();
    proto::connect conn;
    conn.client_id = "late";
    conn.username = "u";
    conn.password = "secret";
    c.send(conn);
    auto ack = c.expect<proto::connack>();
    worker.join();
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->code, 0);

    auto bad = h.connect_raw();
    conn.password = "wrong";
    bad.send(conn);
    ack = bad.expect<proto::connack>();
    worker.join();
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->code,
              static_cast<std::uint8_t>(proto::connect_return_code::bad_user_name_or_password));
    EXPECT_TRUE(bad.closed());
}

// cert_cn_as_username: the client certificate's Common Name is the username the hooks see, in
// place of the CONNECT's; without a certificate the CONNECT's username stays; without the switch
// the Common Name is not used.
TEST(Connection, CertificateCommonNameIsTheUsername) {
    harness h;
    h.lc.allow_anonymous = false;
    h.lc.cert_cn_as_username = true;
    std::vector<std::optional<std::string>> seen;
    h.core.hooks.on_authenticate(
        0, [&seen](const client_info& c, const std::optional<std::string>&, hook_result) {
            seen.push_back(c.username ? *c.username : std::nullopt);
            return hook_result::next;
        });
    auto with_cert = h.connect_raw(version::v3_1_1, "device-7");
    auto ack = h.connect(with_cert, "cn-1");  // no username in the CONNECT
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->code, 0);  // accepted: it has a username now

    auto claims_other = h.connect_raw(version::v3_1_1, "device-7");
    proto::connect conn;
    conn.client_id = "cn-2";
    conn.username = "admin";
    claims_other.send(conn);
    ack = claims_other.expect<proto::connack>();
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->code, 0);

    auto no_cert = h.connect_raw();
    ack = h.connect(no_cert, "cn-3");
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->code, static_cast<std::uint8_t>(proto::connect_return_code::not_authorized));

    h.lc.cert_cn_as_username = false;
    auto switch_off = h.connect_raw(version::v3_1_1, "device-7");
    ack = h.connect(switch_off, "cn-4");
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->code, static_cast<std::uint8_t>(proto::connect_return_code::not_authorized));

    EXPECT_EQ(seen, (std::vector<std::optional<std::string>>{"device-7", "device-7", std::nullopt,
                                                             std::nullopt}));
}

// A deferred decision that is never given (the handle is dropped) refuses, it never lets the
// client in.
TEST(Connection, DroppedDeferredDecisionRefuses) {
    harness h;
    h.core.hooks.on_authenticate(0, hook_bus::async_authenticate_handler(
                                        [](const client_info&, const std::optional<std::string>&,
                                           hook_result, decision_scope<hook_result>& scope) {
                                            (void)scope.defer();  // dropped at once
                                            return hook_result::pending;
                                        }));
    auto c = h.connect_raw();
    auto ack = h.connect(c, "dropped");
    ASSERT_TRUE(ack);
    EXPECT_NE(ack->code, 0);
}

// Only the client's own silence counts against its keep alive: while the reader waits for the
// broker (here a plugin's ACL decision that takes longer than 1.5 x keep alive), the client is
// not disconnected [MQTT-3.1.2-24].
TEST(Connection, KeepAliveDoesNotCountTheBrokersStall) {
    harness h;
    std::thread worker;
    h.core.hooks.on_acl(
        0, hook_bus::async_acl_handler([&worker](const client_info&, acl_action, std::string_view,
                                                 hook_result, decision_scope<hook_result>& scope) {
            worker = std::thread([d = scope.defer()]() mutable {
                std::this_thread::sleep_for(2000ms);  // keep alive 1 s: timeout after 1.5 s
                d.resolve(hook_result::allow);
            });
            return hook_result::pending;
        }));
    auto c = h.connect_raw();
    ASSERT_TRUE(h.connect(c, "stalled", true, /*keep_alive*/ 1));
    c.send(publish_to("k/t", "x", proto::qos::at_least_once, 3));
    auto ack = c.expect<proto::puback>(5s);
    worker.join();
    ASSERT_TRUE(ack) << "the connection was closed while the broker held its reader";
    EXPECT_EQ(ack->packet_id, 3);
    // Afterwards the client's silence counts again.
    EXPECT_TRUE(c.closed(4s)) << "keep alive is enforced again after the stall";
}

}  // namespace
}  // namespace rmqtt::broker::test

namespace rmqtt::broker::test {
namespace {

// mqueue_rate_limit "2,1s": at most two queued messages at once, then two per second.
TEST(Connection, MqueueRateLimitPacesQueuedMessages) {
    harness h;
    h.lc.mqueue_rate_limit_burst = 2;
    h.lc.mqueue_rate_limit_period = std::chrono::seconds(1);
    {
        auto sub = h.connect_raw();
        ASSERT_TRUE(h.connect(sub, "paced", /*clean*/ false));
        sub.send(subscribe_to(1, "p/t", proto::qos::at_least_once));
        ASSERT_TRUE(sub.expect<proto::suback>());
        sub.hang_up();
        sub.pump(20ms);
    }
    auto pub = h.connect_raw();
    ASSERT_TRUE(h.connect(pub, "pacer"));
    for (std::uint16_t i = 1; i <= 5; ++i) {
        pub.send(publish_to("p/t", std::to_string(i), proto::qos::at_least_once, i));
        ASSERT_TRUE(pub.expect<proto::puback>());
    }
    auto sub = h.connect_raw();
    auto ack = h.connect(sub, "paced", /*clean*/ false);
    ASSERT_TRUE(ack);
    EXPECT_TRUE(ack->session_present);
    // The burst comes at once; a third message needs a token, half a second away at the
    // earliest, so within 200 ms exactly two arrive however slow the machine is.
    std::vector<std::string> got;
    const auto until = std::chrono::steady_clock::now() + 200ms;
    while (std::chrono::steady_clock::now() < until) {
        if (auto p = sub.receive(10ms); p && std::holds_alternative<proto::publish>(*p)) {
            auto& m = std::get<proto::publish>(*p);
            got.push_back(m.payload);
            sub.send(proto::puback{m.packet_id, {}, {}});
        }
    }
    EXPECT_EQ(got, (std::vector<std::string>{"1", "2"}));
    // The rest follows at the configured rate.
    for (int i = 0; i < 3; ++i) {
        auto m = sub.expect<proto::publish>(3s);
        ASSERT_TRUE(m) << "message " << i + 3 << " never came";
        got.push_back(m->payload);
        sub.send(proto::puback{m->packet_id, {}, {}});
    }
    EXPECT_EQ(got, (std::vector<std::string>{"1", "2", "3", "4", "5"}));
}

// An ACL hook that answers deny_disconnect to a PUBLISH closes the connection without an
// acknowledgement: 5.0 with DISCONNECT 0x87 first, 3.1.1 by closing (RMQTT's
// disconnect_if_pub_rejected). A plain deny acknowledges and keeps the connection (5.0: 0x87).
TEST(Connection, PublishDeniedWithDisconnectClosesTheConnection) {
    for (const auto v : {version::v5, version::v3_1_1}) {
        harness h;
        h.core.hooks.on_acl(
            0, [](const client_info&, acl_action a, std::string_view topic, hook_result) {
                if (a != acl_action::publish) return hook_result::next;
                if (topic == "closes") return hook_result::deny_disconnect;
                return topic == "denied" ? hook_result::deny : hook_result::next;
            });
        auto c = h.connect_raw(v);
        ASSERT_TRUE(h.connect(c, "acl-pub"));
        c.send(publish_to("denied", "x", proto::qos::at_least_once, 1));
        auto ack = c.expect<proto::puback>();
        ASSERT_TRUE(ack);
        EXPECT_EQ(ack->code, v == version::v5 ? proto::reason_code::not_authorized
                                              : proto::reason_code::success);
        c.send(publish_to("closes", "x", proto::qos::at_least_once, 2));
        auto next = c.receive();
        if (v == version::v5) {
            ASSERT_TRUE(next && std::holds_alternative<proto::disconnect>(*next));
            EXPECT_EQ(std::get<proto::disconnect>(*next).code, proto::reason_code::not_authorized);
        } else {
            EXPECT_FALSE(next) << "3.1.1: no PUBACK, only the close";
        }
        EXPECT_TRUE(c.closed());
    }
}

// What an authenticate handler writes into client_info::auth stays with the connection: a
// superuser's PUBLISH and SUBSCRIBE never reach the ACL hooks; the proofs are seen by them.
TEST(Connection, AuthStateFromAuthenticationReachesTheAclHooks) {
    harness h;
    std::thread worker;
    h.core.hooks.on_authenticate(
        0, hook_bus::async_authenticate_handler(
               [&worker](const client_info& c, const std::optional<std::string>&, hook_result,
                         decision_scope<hook_result>& scope) {
                   worker = std::thread(
                       [d = scope.defer(), auth = c.auth, super = c.client_id == "root"]() mutable {
                           auth->superuser = super;
                           auth->proofs.push_back("test:proof");
                           d.resolve(hook_result::next);
                       });
                   return hook_result::pending;
               }));
    std::vector<std::string> asked;
    h.core.hooks.on_acl(
        0, [&](const client_info& c, acl_action, std::string_view topic, hook_result) {
            asked.push_back(std::string(c.client_id) + " " + std::string(topic));
            EXPECT_TRUE(c.auth && c.auth->proofs == std::vector<std::string>{"test:proof"});
            return hook_result::deny;
        });
    for (const std::string id : {"root", "user"}) {
        auto c = h.connect_raw(version::v5);
        auto ack = h.connect(c, id);
        worker.join();
        ASSERT_TRUE(ack);
        EXPECT_EQ(ack->code, 0);
        c.send(subscribe_to(1, "any/#", proto::qos::at_most_once));
        auto sa = c.expect<proto::suback>();
        ASSERT_TRUE(sa);
        EXPECT_EQ(sa->codes,
                  std::vector<std::uint8_t>{static_cast<std::uint8_t>(id == "root" ? 0x00 : 0x87)});
        c.send(publish_to("other/t", "x", proto::qos::at_least_once, 2));
        auto pa = c.expect<proto::puback>();
        ASSERT_TRUE(pa);
        EXPECT_EQ(pa->code, id == "root" ? proto::reason_code::no_matching_subscribers
                                         : proto::reason_code::not_authorized);
    }
    EXPECT_EQ(asked, (std::vector<std::string>{"user any/#", "user other/t"}));
}

}  // namespace
}  // namespace rmqtt::broker::test
