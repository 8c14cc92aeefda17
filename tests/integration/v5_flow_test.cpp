// MQTT 5.0 flow control (Receive Maximum, both directions) and Maximum Packet Size (both
// directions) against the real rmqttd.
#include <gtest/gtest.h>

#include "v5_util.hpp"

namespace rmqtt::test::v5 {
namespace {

// One packet with its size on the wire.
struct sized_packet {
    std::size_t size = 0;
    proto::packet packet;
};

std::optional<sized_packet> receive_sized(raw_client& c, std::chrono::milliseconds timeout) {
    auto bytes = c.receive_frame(timeout);
    if (!bytes) return std::nullopt;
    proto::frame f;
    if (proto::parse_frame(*bytes, 0, f).status != proto::frame_status::complete) {
        ADD_FAILURE() << "unparseable frame";
        return std::nullopt;
    }
    sized_packet out;
    out.size = bytes->size();
    auto r = proto::decode(c.version(), f, out.packet);
    if (!r) {
        ADD_FAILURE() << "undecodable packet from the server: " << r.detail;
        return std::nullopt;
    }
    return out;
}

// Counts what a subscriber that acknowledges only when told sees: PUBLISHes that arrive while
// `unacked` are outstanding, never more than the Receive Maximum it announced.
class slow_subscriber {
  public:
    slow_subscriber(raw_client& c, std::size_t receive_maximum)
        : c_(c), receive_maximum_(receive_maximum) {}

    // Reads until the server is quiet for `quiet`; returns how many PUBLISHes came.
    std::size_t read(std::chrono::milliseconds quiet = 400ms) {
        std::size_t n = 0;
        while (auto p = c_.receive(quiet)) {
            auto* pub = std::get_if<proto::publish>(&*p);
            if (!pub) continue;
            ++n;
            unacked_.push_back(*pub);
            max_seen_ = std::max(max_seen_, unacked_.size());
            EXPECT_LE(unacked_.size(), receive_maximum_)
                << "PUBLISH '" << pub->payload << "' exceeds the client's Receive Maximum "
                << receive_maximum_ << " [MQTT-3.3.4-9] [MQTT-4.9.0-2]";
        }
        return n;
    }
    // Acknowledges the oldest outstanding QoS 1 PUBLISH.
    void ack_one() {
        ASSERT_FALSE(unacked_.empty());
        const auto p = unacked_.front();
        unacked_.erase(unacked_.begin());
        delivered_.push_back(p.payload);
        c_.send(proto::puback{p.packet_id, {}, {}});
    }
    std::size_t unacked() const { return unacked_.size(); }
    std::size_t max_seen() const { return max_seen_; }
    const std::vector<std::string>& delivered() const { return delivered_; }

  private:
    raw_client& c_;
    std::size_t receive_maximum_;
    std::vector<proto::publish> unacked_;
    std::vector<std::string> delivered_;
    std::size_t max_seen_ = 0;
};

// Ten messages queued for an offline session; the client comes back with Receive Maximum 2:
// never more than 2 unacknowledged QoS 1 PUBLISHes [MQTT-3.3.4-9], each acknowledgement frees
// exactly one slot, and all ten arrive in order [MQTT-4.6.0-5].
TEST(V5Flow, ClientReceiveMaximumWithQueuedMessages) {
    auto b = start_broker();
    {
        auto s = raw5(*b, with_receive_maximum("rm-q", 2, true, 300));
        ASSERT_EQ(subscribe5(*s, 1, "rm/q", 1), std::vector<std::uint8_t>{1});
        raw_disconnect(*s);  // returns once rmqttd closed it: the session is offline
    }
    auto pub = raw5(*b, "rm-q-pub");
    const auto sent = numbered("q", 10);
    for (std::size_t i = 0; i < sent.size(); ++i)
        ASSERT_EQ(
            publish_acked(*pub, publish5("rm/q", sent[i], 1, static_cast<std::uint16_t>(i + 1))),
            0);

    proto::connack ack;
    auto s = raw5(*b, with_receive_maximum("rm-q", 2, false, 300), &ack);
    ASSERT_TRUE(ack.session_present);
    slow_subscriber sub(*s, 2);
    EXPECT_EQ(sub.read(), 2u) << "exactly Receive Maximum PUBLISHes before any PUBACK";
    for (int round = 0; round < 20 && sub.delivered().size() + sub.unacked() < 10; ++round) {
        sub.ack_one();
        EXPECT_EQ(sub.read(), 1u) << "one PUBACK frees one slot (round " << round << ")";
    }
    while (sub.unacked() > 0)
        sub.ack_one();
    EXPECT_EQ(sub.read(), 0u) << "nothing beyond the ten";
    EXPECT_EQ(sub.delivered(), sent);
    EXPECT_EQ(sub.max_seen(), 2u);
}

// The same limit while the subscriber is online and the publisher is fast.
TEST(V5Flow, ClientReceiveMaximumOnline) {
    auto b = start_broker();
    auto s = raw5(*b, with_receive_maximum("rm-o", 3, true));
    ASSERT_EQ(subscribe5(*s, 1, "rm/o", 1), std::vector<std::uint8_t>{1});
    auto pub = raw5(*b, "rm-o-pub");
    const auto sent = numbered("o", 12);
    for (std::size_t i = 0; i < sent.size(); ++i)
        ASSERT_EQ(
            publish_acked(*pub, publish5("rm/o", sent[i], 1, static_cast<std::uint16_t>(i + 1))),
            0);
    slow_subscriber sub(*s, 3);
    EXPECT_EQ(sub.read(), 3u);
    for (int round = 0; round < 30 && sub.delivered().size() < sent.size(); ++round) {
        while (sub.unacked() > 0)
            sub.ack_one();
        sub.read();
    }
    EXPECT_EQ(sub.delivered(), sent);
    EXPECT_LE(sub.max_seen(), 3u);
}

// A QoS 2 PUBLISH holds its Receive Maximum slot until PUBCOMP, not PUBREC (5.0 section 4.9:
// the send quota is incremented on PUBACK, PUBCOMP, or a PUBREC with an error code).
TEST(V5Flow, Qos2HoldsQuotaUntilPubcomp) {
    auto b = start_broker();
    auto s = raw5(*b, with_receive_maximum("rm-2", 1, true));
    ASSERT_EQ(subscribe5(*s, 1, "rm/2", 2), std::vector<std::uint8_t>{2});
    auto pub = raw5(*b, "rm-2-pub");
    for (std::uint16_t i = 1; i <= 3; ++i)
        ASSERT_EQ(publish_acked(*pub, publish5("rm/2", cat("m", i), 2, i)), 0);

    std::vector<std::string> got;
    for (int round = 0; round < 3; ++round) {
        auto first = expect<proto::publish>(*s);
        ASSERT_TRUE(first) << "round " << round;
        got.push_back(first->payload);
        EXPECT_TRUE(drain_raw(*s, 300ms).empty()) << "a second PUBLISH before PUBREC";
        s->send(proto::pubrec{first->packet_id, {}, {}});
        auto rel = expect<proto::pubrel>(*s);
        ASSERT_TRUE(rel);
        EXPECT_EQ(rel->packet_id, first->packet_id);
        auto more = drain_raw(*s, 400ms);
        for (const auto& p : more) {
            EXPECT_FALSE(std::holds_alternative<proto::publish>(p))
                << "a PUBLISH after PUBREC but before PUBCOMP exceeds Receive Maximum 1 "
                   "[MQTT-3.3.4-9]";
        }
        s->send(proto::pubcomp{first->packet_id, {}, {}});
        if (!more.empty()) break;
    }
    EXPECT_EQ(got, (std::vector<std::string>{"m1", "m2", "m3"}));
}

// The server's Receive Maximum is the listener's max_inflight; a client with more unacknowledged
// QoS 2 PUBLISHes (no PUBREL sent, so no PUBCOMP) than that gets DISCONNECT 0x93
// [MQTT-3.3.4-7] (5.0 section 3.3.4).
TEST(V5Flow, ServerReceiveMaximumExceeded) {
    auto b = start_broker({"max_inflight = 4"});
    proto::connack ack;
    auto c = raw5(*b, connect5("rmx"), &ack);
    ASSERT_EQ(ack.props.receive_maximum.value_or(65535), 4);
    for (std::uint16_t i = 1; i <= 4; ++i) {
        c->send(publish5("rmx/t", cat("m", i), 2, i));
        auto rec = expect<proto::pubrec>(*c);
        ASSERT_TRUE(rec) << "PUBREC " << i;
        EXPECT_EQ(rec->packet_id, i);
    }
    c->send(publish5("rmx/t", "qos0", 0));  // QoS 0 does not count
    EXPECT_TRUE(alive(*c)) << "four outstanding QoS 2 PUBLISHes are within Receive Maximum 4";
    c->send(publish5("rmx/t", "m5", 2, 5));
    expect_disconnect(*c, proto::reason_code::receive_maximum_exceeded, "fifth QoS 2 PUBLISH");
}

// Within the server's Receive Maximum, completing QoS 2 flows frees quota: 12 QoS 2 PUBLISHes in
// windows of 4 never trip 0x93.
TEST(V5Flow, ServerReceiveMaximumReleasedByPubcomp) {
    auto b = start_broker({"max_inflight = 4"});
    auto c = raw5(*b, "rmr");
    std::uint16_t id = 1;
    for (int window = 0; window < 3; ++window) {
        std::vector<std::uint16_t> ids;
        for (int i = 0; i < 4; ++i, ++id) {
            c->send(publish5("rmr/t", cat("m", id), 2, id));
            ids.push_back(id);
        }
        for (auto pid : ids) {
            auto rec = expect<proto::pubrec>(*c);
            ASSERT_TRUE(rec);
            EXPECT_EQ(rec->packet_id, pid);
        }
        for (auto pid : ids) {
            c->send(proto::pubrel{pid, {}, {}});
            auto comp = expect<proto::pubcomp>(*c);
            ASSERT_TRUE(comp);
            EXPECT_EQ(comp->packet_id, pid);
        }
    }
    EXPECT_TRUE(alive(*c));
}

// The client's Maximum Packet Size: the server never sends a larger packet [MQTT-3.1.2-24]; a
// message too large is skipped as if it had been sent [MQTT-3.1.2-25], so QoS 1 messages after
// it still flow.
TEST(V5Flow, ClientMaximumPacketSize) {
    auto b = start_broker();
    constexpr std::uint32_t limit = 128;
    auto conn = connect5("mps");
    conn.props.maximum_packet_size = limit;
    auto s = raw5(*b, conn);
    ASSERT_EQ(subscribe5(*s, 1, "mps/#", 1), std::vector<std::uint8_t>{1});
    auto pub = raw5(*b, "mps-pub");
    const std::string big(300, 'B');
    struct item {
        std::string topic;
        std::string payload;
        int qos;
    };
    const std::vector<item> items = {
        {"mps/a", "small-1", 1}, {"mps/a", big, 1},       {"mps/a", "small-2", 1},
        {"mps/b", big, 0},       {"mps/b", "small-3", 0}, {"mps/a", std::string(limit, 'x'), 1},
        {"mps/a", "small-4", 1},
    };
    std::uint16_t id = 1;
    for (const auto& it : items)
        publish_acked(*pub, publish5(it.topic, it.payload, it.qos, it.qos ? id++ : 0));

    // Order is kept per topic [MQTT-4.6.0-6]; mps/a and mps/b (QoS 0) are not ordered together.
    std::vector<std::string> got_a, got_b;
    for (int i = 0; i < 20; ++i) {
        auto p = receive_sized(*s, 1500ms);
        if (!p) break;
        EXPECT_LE(p->size, limit) << "packet larger than the client's Maximum Packet Size "
                                     "[MQTT-3.1.2-24]";
        if (auto* m = std::get_if<proto::publish>(&p->packet)) {
            auto& got = m->topic == "mps/a" ? got_a : got_b;
            got.push_back(m->payload.size() > 20 ? cat("<", m->payload.size(), " bytes>")
                                                 : m->payload);
            raw_ack(*s, *m);
        }
    }
    EXPECT_EQ(got_a, (std::vector<std::string>{"small-1", "small-2", "small-4"}))
        << "[MQTT-3.1.2-25]: too-large messages are skipped, the rest still delivered";
    EXPECT_EQ(got_b, std::vector<std::string>{"small-3"}) << "[MQTT-3.1.2-25]";
}

// A retained message larger than the client's Maximum Packet Size is skipped at SUBSCRIBE too;
// a smaller retained one still arrives.
TEST(V5Flow, ClientMaximumPacketSizeRetained) {
    auto b = start_broker();
    auto pub = raw5(*b, "mpsr-pub");
    constexpr std::uint8_t none = 0x10;  // no subscriber yet: PUBACK "No matching subscribers"
    ASSERT_EQ(publish_acked(*pub, publish5("mpsr/big", std::string(500, 'R'), 1, 1, {}, true)),
              none);
    ASSERT_EQ(publish_acked(*pub, publish5("mpsr/small", "fits", 1, 2, {}, true)), none);
    auto conn = connect5("mpsr");
    conn.props.maximum_packet_size = 100;
    auto s = raw5(*b, conn);
    ASSERT_EQ(subscribe5(*s, 1, "mpsr/#", 1), std::vector<std::uint8_t>{1});
    std::vector<std::string> got;
    for (int i = 0; i < 10; ++i) {
        auto p = receive_sized(*s, 1000ms);
        if (!p) break;
        EXPECT_LE(p->size, 100u) << "[MQTT-3.1.2-24]";
        if (auto* m = std::get_if<proto::publish>(&p->packet)) {
            got.push_back(m->topic);
            raw_ack(*s, *m);
        }
    }
    EXPECT_EQ(got, std::vector<std::string>{"mpsr/small"});
}

// The listener's max_packet_size is announced in CONNACK and a larger packet from the client
// ends the connection with DISCONNECT 0x95 [MQTT-3.2.2-15] (5.0 section 3.2.2.3.6); the
// oversized message is not delivered.
TEST(V5Flow, ServerMaximumPacketSize) {
    auto b = start_broker({"max_packet_size = \"1KB\""});
    auto s = raw5(*b, "mpx-sub");
    ASSERT_EQ(subscribe5(*s, 1, "mpx/#", 1), std::vector<std::uint8_t>{1});
    proto::connack ack;
    auto c = raw5(*b, connect5("mpx"), &ack);
    ASSERT_EQ(ack.props.maximum_packet_size.value_or(0), 1024u);
    EXPECT_EQ(publish_acked(*c, publish5("mpx/ok", std::string(900, 'o'), 1, 1)), 0);
    c->send(publish5("mpx/big", std::string(2000, 'x'), 1, 2));
    expect_disconnect(*c, proto::reason_code::packet_too_large, "2 KB PUBLISH");
    auto got = receive_publishes(*s, 5, 1500ms);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].topic, "mpx/ok");
}

}  // namespace
}  // namespace rmqtt::test::v5
