// MQTT 5.0 shared subscriptions ($share/{group}/{filter}) against the real rmqttd: one member per
// group gets each message, every group gets it, the strategies of rmqtt-shared-subscription.toml,
// and what happens to a member's messages when it leaves.
#include <gtest/gtest.h>

#include "v5_util.hpp"

namespace rmqtt::test::v5 {
namespace {

using rc = proto::reason_code;

// A broker whose shared-subscription plugin uses `strategy`.
broker_ptr start_with_strategy(const std::string& strategy) {
    broker_process::options o;
    o.plugin_files["rmqtt-shared-subscription"] = cat("strategy = \"", strategy, "\"\n");
    return start_broker_with(std::move(o));
}

struct member {
    std::unique_ptr<raw_client> c;
    std::vector<std::string> got;
};

std::vector<member> members(const broker_process& b, const std::string& prefix, int n,
                            const std::string& filter, int qos = 1) {
    std::vector<member> out;
    for (int i = 0; i < n; ++i) {
        member m;
        m.c = raw5(b, cat(prefix, i));
        EXPECT_EQ(subscribe5(*m.c, 1, filter, qos),
                  std::vector<std::uint8_t>{static_cast<std::uint8_t>(qos)});
        out.push_back(std::move(m));
    }
    return out;
}

// Reads (and acknowledges) from every member until `total` messages arrived over all of them or
// nothing more comes for `quiet`.
void collect(std::vector<member>& ms, std::size_t total, std::chrono::milliseconds quiet = 600ms) {
    auto sum = [&] {
        std::size_t n = 0;
        for (auto& m : ms)
            n += m.got.size();
        return n;
    };
    auto last = std::chrono::steady_clock::now();
    for (int guard = 0; guard < 100000 && std::chrono::steady_clock::now() - last < quiet;
         ++guard) {
        bool any = false;
        for (auto& m : ms) {
            while (auto p = m.c->receive(10ms)) {
                // Acknowledged packet by packet: QoS 2 flows of several messages interleave.
                if (auto* pub = std::get_if<proto::publish>(&*p)) {
                    if (pub->qos_level == proto::qos::at_least_once)
                        m.c->send(proto::puback{pub->packet_id, {}, {}});
                    else if (pub->qos_level == proto::qos::exactly_once)
                        m.c->send(proto::pubrec{pub->packet_id, {}, {}});
                    m.got.push_back(pub->payload);
                    any = true;
                } else if (auto* rel = std::get_if<proto::pubrel>(&*p)) {
                    m.c->send(proto::pubcomp{rel->packet_id, {}, {}});
                }
            }
        }
        if (any) last = std::chrono::steady_clock::now();
        if (sum() >= total && !any) {
            // Everything expected is in; one more quiet round shows nothing extra follows.
            if (std::chrono::steady_clock::now() - last >= 200ms) break;
        }
    }
}

std::multiset<std::string> all_of(const std::vector<member>& ms) {
    std::multiset<std::string> out;
    for (const auto& m : ms)
        out.insert(m.got.begin(), m.got.end());
    return out;
}

std::multiset<std::string> as_set(const std::vector<std::string>& v) {
    return {v.begin(), v.end()};
}

void publish_all(raw_client& pub, const std::string& topic, const std::vector<std::string>& v) {
    std::uint16_t id = 1;
    for (const auto& p : v) {
        ASSERT_EQ(publish_acked(pub, publish5(topic, p, 1, id)), 0) << p;
        id = static_cast<std::uint16_t>(id % 60000 + 1);
    }
}

// Each message goes to exactly one member of the group (5.0 section 4.8.2); round_robin, the
// default strategy, gives each of 3 members a third of 30 messages.
TEST(V5Shared, OneMemberPerMessageRoundRobin) {
    auto b = start_broker();
    auto ms = members(*b, "rr-", 3, "$share/g/sh/rr");
    auto pub = raw5(*b, "rr-pub");
    const auto sent = numbered("m", 30);
    publish_all(*pub, "sh/rr", sent);
    collect(ms, sent.size());
    EXPECT_EQ(all_of(ms), as_set(sent)) << "every message exactly once over the group";
    for (std::size_t i = 0; i < ms.size(); ++i)
        EXPECT_EQ(ms[i].got.size(), 10u) << "member " << i << " under round_robin";
}

// Two groups on the same filter each get every message once; a plain subscriber gets all too.
TEST(V5Shared, EveryGroupGetsEachMessage) {
    auto b = start_broker();
    auto g1 = members(*b, "g1-", 2, "$share/g1/sh/two");
    auto g2 = members(*b, "g2-", 2, "$share/g2/sh/+");
    auto plain = members(*b, "plain-", 1, "sh/two");
    auto pub = raw5(*b, "two-pub");
    const auto sent = numbered("m", 10);
    publish_all(*pub, "sh/two", sent);
    collect(g1, sent.size());
    collect(g2, sent.size());
    collect(plain, sent.size());
    EXPECT_EQ(all_of(g1), as_set(sent)) << "group g1";
    EXPECT_EQ(all_of(g2), as_set(sent)) << "group g2";
    EXPECT_EQ(plain[0].got, sent) << "plain subscriber, in order [MQTT-4.6.0-6]";
}

// One session may be in a shared group and have a plain subscription to the same topic: it gets
// the plain copy always and the shared copy when chosen.
TEST(V5Shared, SharedAndPlainInOneSession) {
    auto b = start_broker();
    auto both = raw5(*b, "both");
    ASSERT_EQ(subscribe5(*both, 1, {sub_opt("$share/g/sh/both", 1), sub_opt("sh/both", 1)}),
              (std::vector<std::uint8_t>{1, 1}));
    auto pub = raw5(*b, "both-pub");
    ASSERT_EQ(publish_acked(*pub, publish5("sh/both", "x", 1, 1)), 0);
    auto got = receive_publishes(*both, 3, 1500ms);
    EXPECT_EQ(raw_payloads(got), (std::vector<std::string>{"x", "x"}))
        << "one copy for the plain subscription, one for the group (its only member)";
}

TEST(V5Shared, RandomStrategy) {
    auto b = start_with_strategy("random");
    auto ms = members(*b, "rnd-", 3, "$share/g/sh/rnd");
    auto pub = raw5(*b, "rnd-pub");
    const auto sent = numbered("m", 60);
    publish_all(*pub, "sh/rnd", sent);
    collect(ms, sent.size());
    EXPECT_EQ(all_of(ms), as_set(sent));
    // A member missing out on all 60 has probability 3 * (2/3)^60 < 1e-10.
    for (std::size_t i = 0; i < ms.size(); ++i)
        EXPECT_GT(ms[i].got.size(), 0u) << "member " << i;
}

// hash_clientid: all messages of one publisher go to one member.
TEST(V5Shared, HashClientIdStrategy) {
    auto b = start_with_strategy("hash_clientid");
    auto ms = members(*b, "hc-", 3, "$share/g/sh/hc");
    for (const std::string publisher : {"hc-pub-a", "hc-pub-b", "hc-pub-c"}) {
        for (auto& m : ms)
            m.got.clear();
        auto pub = raw5(*b, publisher);
        const auto sent = numbered(publisher + "-", 9);
        publish_all(*pub, "sh/hc", sent);
        collect(ms, sent.size());
        EXPECT_EQ(all_of(ms), as_set(sent));
        int used = 0;
        for (const auto& m : ms)
            used += m.got.empty() ? 0 : 1;
        EXPECT_EQ(used, 1) << "messages of " << publisher << " spread over " << used << " members";
    }
}

// hash_topic: all messages on one topic go to one member; different topics spread.
TEST(V5Shared, HashTopicStrategy) {
    auto b = start_with_strategy("hash_topic");
    auto ms = members(*b, "ht-", 3, "$share/g/sh/ht/+");
    auto pub = raw5(*b, "ht-pub");
    std::uint16_t id = 1;
    std::multiset<std::string> sent;
    for (int round = 0; round < 3; ++round) {
        for (int t = 0; t < 12; ++t) {
            const auto payload = cat("t", t, "-", round);
            ASSERT_EQ(publish_acked(*pub, publish5(cat("sh/ht/", t), payload, 1, id++)), 0);
            sent.insert(payload);
        }
    }
    collect(ms, sent.size());
    EXPECT_EQ(all_of(ms), sent);
    std::map<int, std::set<std::size_t>> members_of_topic;
    std::set<std::size_t> used;
    for (std::size_t i = 0; i < ms.size(); ++i) {
        for (const auto& p : ms[i].got) {
            members_of_topic[std::stoi(p.substr(1))].insert(i);
            used.insert(i);
        }
    }
    for (const auto& [t, who] : members_of_topic)
        EXPECT_EQ(who.size(), 1u) << "topic sh/ht/" << t << " went to " << who.size() << " members";
    EXPECT_GE(used.size(), 2u) << "12 topics all hashed to one member";
}

// sticky: one member gets everything while it stays; when it leaves, another takes over.
TEST(V5Shared, StickyStrategy) {
    auto b = start_with_strategy("sticky");
    auto ms = members(*b, "st-", 3, "$share/g/sh/st");
    auto pub = raw5(*b, "st-pub");
    const auto first = numbered("a", 10);
    publish_all(*pub, "sh/st", first);
    collect(ms, first.size());
    EXPECT_EQ(all_of(ms), as_set(first));
    std::size_t chosen = ms.size();
    for (std::size_t i = 0; i < ms.size(); ++i)
        if (!ms[i].got.empty()) chosen = i;
    ASSERT_LT(chosen, ms.size());
    EXPECT_EQ(ms[chosen].got.size(), first.size()) << "sticky spread the messages";

    raw_disconnect(*ms[chosen].c);  // session expiry 0: the member is gone
    std::vector<member> rest;
    for (std::size_t i = 0; i < ms.size(); ++i)
        if (i != chosen) rest.push_back(std::move(ms[i]));
    for (auto& m : rest)
        m.got.clear();
    const auto second = numbered("b", 10);
    publish_all(*pub, "sh/st", second);
    collect(rest, second.size());
    EXPECT_EQ(all_of(rest), as_set(second)) << "messages lost after the sticky member left";
    int used = 0;
    for (const auto& m : rest)
        used += m.got.empty() ? 0 : 1;
    EXPECT_EQ(used, 1) << "the new sticky member gets all";
}

// A member that unsubscribes no longer gets new messages [MQTT-3.10.4-2].
TEST(V5Shared, UnsubscribedMemberGetsNothingNew) {
    auto b = start_broker();
    auto ms = members(*b, "un-", 2, "$share/g/sh/un");
    ms[0].c->send(make_unsubscribe(9, {"$share/g/sh/un"}));
    auto ua = expect<proto::unsuback>(*ms[0].c);
    ASSERT_TRUE(ua);
    EXPECT_EQ(ua->codes, std::vector<rc>{rc::success});
    auto pub = raw5(*b, "un-pub");
    const auto sent = numbered("m", 10);
    publish_all(*pub, "sh/un", sent);
    collect(ms, sent.size());
    EXPECT_TRUE(ms[0].got.empty());
    EXPECT_EQ(ms[1].got, sent);
}

// A member whose session ended (expiry 0, connection closed) is out of the group.
TEST(V5Shared, EndedSessionLeavesGroup) {
    auto b = start_broker();
    auto ms = members(*b, "end-", 2, "$share/g/sh/end");
    raw_disconnect(*ms[0].c);  // returns once rmqttd closed it: the session has ended
    std::vector<member> rest;
    rest.push_back(std::move(ms[1]));
    auto pub = raw5(*b, "end-pub");
    const auto sent = numbered("m", 10);
    publish_all(*pub, "sh/end", sent);
    collect(rest, sent.size());
    EXPECT_EQ(rest[0].got, sent);
}

// A member whose session ends while QoS 1 messages wait for it (one in flight, never
// acknowledged, the rest queued behind its Receive Maximum of 1): those messages go to another
// member (5.0 section 4.8.2: "If the Client's Session terminates before the Client reconnects,
// the Server SHOULD send the Application Message to another Client"). None may be lost.
TEST(V5Shared, QueuedMessagesHandedOverWhenSessionEnds) {
    auto b = start_broker();
    auto slow = raw5(*b, with_receive_maximum("ho-slow", 1, true));
    ASSERT_EQ(subscribe5(*slow, 1, "$share/g/sh/ho", 1), std::vector<std::uint8_t>{1});
    auto ms = members(*b, "ho-fast-", 1, "$share/g/sh/ho");
    auto pub = raw5(*b, "ho-pub");
    const auto sent = numbered("m", 10);
    publish_all(*pub, "sh/ho", sent);
    auto first = expect<proto::publish>(*slow);
    ASSERT_TRUE(first) << "round robin gives the slow member some messages";
    EXPECT_TRUE(drain_raw(*slow, 300ms).empty()) << "Receive Maximum 1";
    collect(ms, sent.size() / 2);
    slow.reset();  // network connection lost, session expiry 0: the session ends now
    collect(ms, sent.size(), 3s);
    std::set<std::string> fast(ms[0].got.begin(), ms[0].got.end());
    std::vector<std::string> missing;
    for (const auto& s : sent)
        if (!fast.contains(s)) missing.push_back(s);
    EXPECT_TRUE(missing.empty()) << missing.size()
                                 << " message(s) of the ended member were not handed over, e.g. "
                                 << (missing.empty() ? "" : missing.front());
}

// A QoS 2 message that was being sent to a member whose session then ends is not sent to
// another member [MQTT-4.8.2-5]; the QoS 2 messages still queued for it (never sent) are not
// lost.
TEST(V5Shared, Qos2InflightNotHandedOver) {
    auto b = start_broker();
    auto slow = raw5(*b, with_receive_maximum("q2-slow", 1, true));
    ASSERT_EQ(subscribe5(*slow, 1, "$share/g/sh/q2", 2), std::vector<std::uint8_t>{2});
    auto ms = members(*b, "q2-fast-", 1, "$share/g/sh/q2", 2);
    auto pub = raw5(*b, "q2-pub");
    const auto sent = numbered("m", 8);
    std::uint16_t id = 1;
    for (const auto& p : sent)
        ASSERT_EQ(publish_acked(*pub, publish5("sh/q2", p, 2, id++)), 0);
    auto inflight = expect<proto::publish>(*slow);
    ASSERT_TRUE(inflight);
    slow->send(proto::pubrec{inflight->packet_id, {}, {}});
    ASSERT_TRUE(expect<proto::pubrel>(*slow));
    collect(ms, sent.size() / 2);
    slow.reset();  // session ends with the PUBCOMP outstanding
    collect(ms, sent.size() - 1, 2s);
    std::set<std::string> fast(ms[0].got.begin(), ms[0].got.end());
    EXPECT_FALSE(fast.contains(inflight->payload))
        << "QoS 2 message " << inflight->payload
        << " was being delivered to the ended member and went to another one [MQTT-4.8.2-5]";
    for (const auto& p : sent) {
        if (p != inflight->payload) {
            EXPECT_TRUE(fast.contains(p)) << p << " lost";
        }
    }
}

// A member that answers PUBACK 0x80: the message is discarded, not sent to another member nor
// again to it [MQTT-4.8.2-6].
TEST(V5Shared, NegativeAckNotRedelivered) {
    auto b = start_broker();
    auto ms = members(*b, "nak-", 2, "$share/g/sh/nak");
    auto pub = raw5(*b, "nak-pub");
    ASSERT_EQ(publish_acked(*pub, publish5("sh/nak", "refused", 1, 1)), 0);
    std::optional<std::size_t> chosen;
    for (int round = 0; round < 100 && !chosen; ++round) {
        for (std::size_t i = 0; i < ms.size() && !chosen; ++i) {
            if (auto p = ms[i].c->receive(20ms)) {
                if (auto* m = std::get_if<proto::publish>(&*p)) {
                    ms[i].c->send(
                        proto::puback{m->packet_id, proto::reason_code::unspecified_error, {}});
                    chosen = i;
                }
            }
        }
    }
    ASSERT_TRUE(chosen.has_value()) << "no member got the message";
    collect(ms, 1, 1500ms);
    EXPECT_TRUE(all_of(ms).empty()) << "a message refused with PUBACK 0x80 was sent again "
                                       "[MQTT-4.8.2-6]";
}

// A member that unsubscribes while messages are queued for it: the queued ones are either still
// delivered to it (allowed: 3.10.4) or handed to another member; none is lost.
TEST(V5Shared, QueuedMessagesNotLostOnUnsubscribe) {
    auto b = start_broker();
    auto slow = raw5(*b, with_receive_maximum("hu-slow", 1, true));
    ASSERT_EQ(subscribe5(*slow, 1, "$share/g/sh/hu", 1), std::vector<std::uint8_t>{1});
    auto ms = members(*b, "hu-fast-", 1, "$share/g/sh/hu");
    auto pub = raw5(*b, "hu-pub");
    const auto sent = numbered("m", 10);
    publish_all(*pub, "sh/hu", sent);
    auto first = expect<proto::publish>(*slow);
    ASSERT_TRUE(first);
    slow->send(make_unsubscribe(9, {"$share/g/sh/hu"}));
    // From here the slow member acknowledges everything it gets.
    std::vector<std::string> slow_got{first->payload};
    slow->send(proto::puback{first->packet_id, {}, {}});
    bool unsuback = false;
    for (int i = 0; i < 40; ++i) {
        auto p = slow->receive(400ms);
        if (!p) break;
        if (std::holds_alternative<proto::unsuback>(*p)) unsuback = true;
        if (auto* m = std::get_if<proto::publish>(&*p)) {
            slow_got.push_back(m->payload);
            raw_ack(*slow, *m);
        }
    }
    EXPECT_TRUE(unsuback);
    collect(ms, sent.size() - slow_got.size(), 2s);
    std::multiset<std::string> all(slow_got.begin(), slow_got.end());
    all.insert(ms[0].got.begin(), ms[0].got.end());
    EXPECT_EQ(all, as_set(sent)) << "messages lost or duplicated around the UNSUBSCRIBE";

    // New messages go to the remaining member only.
    ms[0].got.clear();
    const auto later = numbered("n", 4);
    publish_all(*pub, "sh/hu", later);
    collect(ms, later.size());
    EXPECT_EQ(ms[0].got, later);
    EXPECT_TRUE(drain_raw(*slow, 300ms).empty());
}

// Without the shared-subscription plugin: CONNACK Shared Subscription Available 0 and SUBACK
// 0x9E for $share filters, while other filters of the same SUBSCRIBE are granted.
TEST(V5Shared, DisabledPlugin) {
    scoped_env env("RMQTT_PLUGINS_DEFAULT_STARTUPS", "rmqtt-session-storage rmqtt-retainer");
    auto b = start_broker();
    proto::connack ack;
    auto c = raw5(*b, connect5("noshare"), &ack);
    ASSERT_TRUE(ack.props.shared_subscription_available.has_value());
    EXPECT_EQ(*ack.props.shared_subscription_available, 0);
    EXPECT_EQ(subscribe5(*c, 1, {sub_opt("$share/g/ns/t", 1), sub_opt("ns/t", 1)}),
              (std::vector<std::uint8_t>{0x9E, 1}));
}

// No Local on a shared subscription is a Protocol Error [MQTT-3.8.3-4]: DISCONNECT 0x82.
TEST(V5Shared, NoLocalIsProtocolError) {
    auto b = start_broker();
    auto c = raw5(*b, "sh-nl");
    proto::subscribe s;
    s.packet_id = 1;
    s.topics = {sub_opt("$share/g/sh/nl", 1, /*no_local=*/true)};
    c->send(s);
    expect_disconnect(*c, rc::protocol_error, "No Local on $share/g/sh/nl");
}

}  // namespace
}  // namespace rmqtt::test::v5
