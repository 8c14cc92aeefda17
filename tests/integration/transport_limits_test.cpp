// Listener limits and hostile input on every transport: each test runs against a real rmqttd
// whose listener under test, [listener.<kind>.limits], is tcp, tls, ws or wss, and carries the
// limit; helpers (publishers, observers) use tcp.external, which has none. The clients speak
// through stream_client, so the same bytes are checked over each transport: max_connections,
// max_handshaking_limit, handshake_timeout, max_packet_size (and a Remaining Length far beyond
// it), max_inflight, max_mqueue_len, max_clientid_len, max_topic_levels, max_subscriptions, the
// QoS 2 receive state of 3.1.1 and 5.0 clients, and a subscriber that stops reading.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "integration_util.hpp"
#include "stream_client.hpp"
#include "test_certs.hpp"

namespace rmqtt::test::integ {
namespace {

using namespace std::chrono_literals;
using proto::version;
using rc = proto::reason_code;

// rmqttd with tcp.external (start_broker's) and the listener under test on its own port.
class limits_broker {
  public:
    explicit limits_broker(transport_kind kind) : kind_(kind) {
        if (kind == transport_kind::tls || kind == transport_kind::wss)
            certs_ = make_test_certs(dir_.path());
    }

    // Starts rmqttd with `lines` in [listener.<kind>.limits].
    void start(const std::vector<std::string>& lines) {
        // broker_process picks the port of tcp.external itself: ours must differ.
        do {
            port_ = free_port();
            broker_process::options o;
            o.main_config = {cat("[listener.", to_string(kind_), ".limits]"),
                             cat("addr = \"127.0.0.1:", port_, "\""), "allow_anonymous = true"};
            if (certs_) {
                o.main_config.push_back(cat("cert = \"", certs_->server_cert, "\""));
                o.main_config.push_back(cat("key = \"", certs_->server_key, "\""));
            }
            o.main_config.insert(o.main_config.end(), lines.begin(), lines.end());
            broker_.reset(new broker_process(std::move(o)));
        } while (broker_->port() == port_);
        broker_->start();
        // tcp.external opens first: wait for this one too.
        if (!wait_for_port(port_, 10s))
            throw std::runtime_error(
                cat("listener.", to_string(kind_), ".limits did not open:\n", broker_->log()));
    }

    broker_process& broker() { return *broker_; }

    // A client of the listener under test, TCP connected, its transport handshake not made.
    std::unique_ptr<stream_client> client(version v = version::v3_1_1) const {
        stream_client::options o;
        o.kind = kind_;
        o.port = port_;
        o.version = v;
        if (certs_) o.tls.ca_file = certs_->ca;
        return std::make_unique<stream_client>(o);
    }

    // Through the transport handshake (a test failure otherwise).
    std::unique_ptr<stream_client> opened(version v = version::v3_1_1) const {
        auto c = client(v);
        std::string error;
        EXPECT_TRUE(c->open(&error)) << to_string(kind_) << " handshake: " << error;
        return c;
    }

    // Through the handshake and CONNACK 0 (a test failure otherwise; never nullptr).
    std::unique_ptr<stream_client> connected(const proto::connect& c,
                                             bool* session_present = nullptr) const {
        auto s = opened(c.protocol_version);
        const auto ack = s->connect(c);
        expect_connack_ok(ack, c.client_id);
        if (ack && session_present) *session_present = ack->session_present;
        return s;
    }

    // A connection the listener refuses: the transport handshake fails, or (tcp, where there is
    // none) the server closes the socket at once.
    bool refused() const {
        auto c = client();
        return !c->open() || c->wait_closed(2s);
    }

  private:
    transport_kind kind_;
    temp_dir dir_{"rmqttd-limits"};
    std::optional<test_certs> certs_;
    std::uint16_t port_ = 0;
    broker_ptr broker_;
};

// ---- packets on a stream_client
// ------------------------------------------------------------------

template <class T>
std::optional<T> expect(stream_client& c, std::chrono::milliseconds timeout = 10s) {
    auto p = c.receive(timeout);
    if (!p) return std::nullopt;
    if (!std::holds_alternative<T>(*p)) {
        ADD_FAILURE() << "expected packet type " << static_cast<int>(proto::type_of(T{}))
                      << ", got " << proto::to_string(proto::type_of(*p));
        return std::nullopt;
    }
    return std::get<T>(*p);
}

// Every packet that arrives within `quiet` of the previous one (at most `max`).
std::vector<proto::packet> drain(stream_client& c, std::chrono::milliseconds quiet = 500ms,
                                 std::size_t max = 100) {
    std::vector<proto::packet> out;
    while (out.size() < max) {
        auto p = c.receive(quiet);
        if (!p) break;
        out.push_back(std::move(*p));
    }
    return out;
}

// The PUBLISHes among `packets` (anything else is a test failure).
std::vector<proto::publish> publishes(const std::vector<proto::packet>& packets) {
    std::vector<proto::publish> out;
    for (const auto& p : packets) {
        if (const auto* m = std::get_if<proto::publish>(&p))
            out.push_back(*m);
        else
            ADD_FAILURE() << "expected PUBLISH, got " << proto::to_string(proto::type_of(p));
    }
    return out;
}

// QoS 1 PUBLISHes, each acknowledged as it comes, until none comes for 1 s.
std::vector<std::string> take_acking(stream_client& c, std::size_t max = 50) {
    std::vector<std::string> got;
    while (got.size() < max) {
        auto p = expect<proto::publish>(c, 1s);
        if (!p) break;
        c.send(proto::puback{p->packet_id, {}, {}});
        got.push_back(p->payload);
    }
    return got;
}

std::vector<std::uint8_t> subscribe(stream_client& c, std::uint16_t packet_id,
                                    const std::vector<std::pair<std::string, int>>& filters) {
    c.send(make_subscribe(packet_id, filters));
    auto ack = expect<proto::suback>(c);
    if (!ack) {
        ADD_FAILURE() << "no SUBACK for packet id " << packet_id;
        return {};
    }
    EXPECT_EQ(ack->packet_id, packet_id) << "[MQTT-3.8.4-2]";
    return ack->codes;
}

// A PINGREQ answered: the connection is up.
template <class Client>
bool alive(Client& c) {
    c.send(proto::pingreq{});
    return expect<proto::pingresp>(c, 5s).has_value();
}

// The server ends the connection: 5.0 with DISCONNECT `code` first [MQTT-4.13.1-1], 3.1.1
// without a packet (it has no DISCONNECT from the server).
void expect_closed_with(stream_client& c, rc code, const std::string& why,
                        std::chrono::milliseconds timeout = 5s) {
    std::vector<proto::packet> before;
    EXPECT_TRUE(c.wait_closed(timeout, &before)) << why << ": the connection must be closed";
    if (c.version() != version::v5) {
        EXPECT_TRUE(before.empty()) << why << ": no packet before the close";
        return;
    }
    ASSERT_EQ(before.size(), 1u) << why << ": only DISCONNECT before the close";
    const auto* d = std::get_if<proto::disconnect>(&before[0]);
    ASSERT_TRUE(d) << why << ": got " << proto::to_string(proto::type_of(before[0]));
    EXPECT_EQ(code_of(d->code), code_of(code)) << why << ": " << proto::to_string(d->code);
}

// A PUBLISH of exactly `size` bytes on the wire.
proto::publish publish_of_size(version v, const std::string& topic, int qos,
                               std::uint16_t packet_id, std::size_t size) {
    auto p = make_publish(topic, "", qos, packet_id);
    const auto empty = encode_packet(v, p).size();
    // A Remaining Length of 128..16383 takes one byte more than the empty packet's.
    p.payload.assign(size - empty - 1, 'p');
    return p;
}

const std::vector<version> both_versions = {version::v3_1_1, version::v5};

std::string tag(version v) {
    return v == version::v5 ? "v5" : "v311";
}

class TransportLimits : public ::testing::TestWithParam<transport_kind> {
  protected:
    limits_broker b{GetParam()};
};

// ---- connections --------------------------------------------------------------------------------

// max_connections = 2: a third connection is closed by the listener (no CONNACK); after one
// leaves, a new one gets in.
TEST_P(TransportLimits, MaxConnections) {
    b.start({"max_connections = 2"});
    // The start-up probe (a TCP connect and close) holds a slot until the broker has seen its
    // close, so the first two retry until they fit.
    const auto connect_retrying = [&](const std::string& id) {
        std::unique_ptr<stream_client> out;
        eventually([&] {
            auto c = b.client();
            if (!c->open()) return false;
            const auto ack = c->connect(make_connect(id));
            if (!ack || ack->code != 0) return false;
            out = std::move(c);
            return true;
        });
        return out;
    };
    auto c1 = connect_retrying("mc1");
    auto c2 = connect_retrying("mc2");
    ASSERT_TRUE(c1 && c2) << "two connections fit under max_connections = 2";
    {
        auto c3 = b.client();
        bool refused = !c3->open();
        if (!refused) {
            c3->send(make_connect("mc3"));
            std::vector<proto::packet> before;
            refused = c3->wait_closed(5s, &before);
            for (const auto& p : before) {
                const auto* ack = std::get_if<proto::connack>(&p);
                EXPECT_FALSE(ack && ack->code == 0) << "the connection over the limit got in";
            }
        }
        EXPECT_TRUE(refused) << "the third connection must be closed";
    }
    EXPECT_TRUE(log_shows(b.broker(), "max_connections (2) reached"));
    EXPECT_TRUE(alive(*c1)) << "the connections within the limit are unaffected";
    c2->send(proto::disconnect{});
    EXPECT_TRUE(c2->wait_closed());
    c2.reset();
    // The count drops when the broker has seen the close.
    EXPECT_TRUE(connect_retrying("mc4")) << "a slot freed by a disconnect is usable again";
}

// max_handshaking_limit = 2: two connections through the transport handshake that send no
// CONNECT hold both slots; one more is refused at once. A finished CONNECT frees its slot.
TEST_P(TransportLimits, MaxHandshakingLimit) {
    b.start({"max_handshaking_limit = 2", "handshake_timeout = \"30s\""});
    // The start-up probe may still hold a slot for a moment: retry until each is held.
    const auto held = [&] {
        std::unique_ptr<stream_client> out;
        eventually([&] {
            auto c = b.client();
            if (!c->open() || c->wait_closed(300ms)) return false;
            out = std::move(c);
            return true;
        });
        return out;
    };
    auto silent1 = held();
    auto silent2 = held();
    ASSERT_TRUE(silent1 && silent2) << "two handshakes fit under max_handshaking_limit = 2";
    EXPECT_TRUE(b.refused()) << "a third handshake beyond max_handshaking_limit = 2 is closed";
    EXPECT_TRUE(log_shows(b.broker(), "max_handshaking_limit (2) reached"));

    const auto ack = silent1->connect(make_connect("hl-1"));
    ASSERT_TRUE(ack && ack->code == 0);
    // One slot is free again; silent2 still holds the other.
    auto next = b.client();
    EXPECT_TRUE(next->open());
    EXPECT_FALSE(next->wait_closed(300ms)) << "the finished handshake released its slot";
    EXPECT_TRUE(b.refused()) << "silent2 and next hold both slots";
}

// handshake_timeout = 1s: a client through the TLS handshake / WebSocket upgrade that never sends
// CONNECT is closed; a client that connected in time is not.
TEST_P(TransportLimits, HandshakeTimeout) {
    b.start({"handshake_timeout = \"1s\""});
    const auto t0 = std::chrono::steady_clock::now();
    auto silent = b.opened();
    std::vector<proto::packet> before;
    EXPECT_TRUE(silent->wait_closed(10s, &before)) << "no CONNECT within handshake_timeout";
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 900ms) << "closed by the timeout";
    EXPECT_TRUE(before.empty()) << "no CONNACK";
    EXPECT_TRUE(log_shows(b.broker(), "no CONNECT within handshake_timeout"));

    auto c = b.connected(make_connect("hs-ok"));
    EXPECT_FALSE(c->wait_closed(1500ms)) << "handshake_timeout ends with CONNACK";
    EXPECT_TRUE(alive(*c));
}

// ---- packets ------------------------------------------------------------------------------------

// max_packet_size = 1024 counts the whole packet: exactly the limit is delivered, one byte more
// closes the connection (5.0: DISCONNECT 0x95 [MQTT-3.2.2-15] (5.0 section 3.2.2.3.6)) and is
// not routed.
TEST_P(TransportLimits, MaxPacketSize) {
    b.start({"max_packet_size = 1024"});
    auto sub = raw_connect(b.broker(), "mps-sub");
    subscribe_ok(*sub, {{"mps/#", 1}});
    std::uint16_t id = 1;
    for (const auto v : both_versions) {
        SCOPED_TRACE(tag(v));
        auto c = b.opened(v);
        const auto ack = c->connect(make_connect("mps-" + tag(v), true, 60, v));
        ASSERT_TRUE(ack && ack->code == 0);
        if (v == version::v5) {
            EXPECT_EQ(ack->props.maximum_packet_size.value_or(0), 1024u);
        }

        const auto exact = publish_of_size(v, "mps/t", 1, id++, 1024);
        ASSERT_EQ(encode_packet(v, exact).size(), 1024u);
        c->send(exact);
        EXPECT_TRUE(expect<proto::puback>(*c)) << "a packet of exactly max_packet_size";
        auto delivered = expect<proto::publish>(*sub);
        ASSERT_TRUE(delivered);
        EXPECT_EQ(delivered->payload, exact.payload);
        sub->send(proto::puback{delivered->packet_id, {}, {}});

        auto over = exact;
        over.packet_id = id++;
        over.payload += "x";
        ASSERT_EQ(encode_packet(v, over).size(), 1025u);
        c->send(over);
        expect_closed_with(*c, rc::packet_too_large, "1025-byte PUBLISH");
        EXPECT_TRUE(drain_raw(*sub).empty()) << "the oversized PUBLISH is not routed";
    }
}

// A fixed header announcing the largest Remaining Length (268,435,455) and no body is refused
// on the header alone: the connection closes at once, not after a body that never comes. Before
// CONNECT too.
TEST_P(TransportLimits, HugeRemainingLengthClosesAtOnce) {
    b.start({"max_packet_size = \"1KB\""});
    for (const auto v : both_versions) {
        SCOPED_TRACE(tag(v));
        auto c = b.connected(make_connect("huge-" + tag(v), true, 60, v));
        c->send_bytes(hex("30 FF FF FF 7F"));  // PUBLISH QoS 0, Remaining Length 268,435,455
        expect_closed_with(*c, rc::packet_too_large, "huge Remaining Length", 3s);
    }
    auto first = b.opened();
    first->send_bytes(hex("10 FF FF FF 7F"));  // CONNECT, Remaining Length 268,435,455
    std::vector<proto::packet> before;
    EXPECT_TRUE(first->wait_closed(3s, &before)) << "huge CONNECT";
    EXPECT_TRUE(before.empty()) << "no CONNACK";
}

// ---- delivery -----------------------------------------------------------------------------------

// max_inflight = 4: a subscriber that never acknowledges gets exactly 4 QoS 1 PUBLISHes, and one
// more for each PUBACK, in order.
TEST_P(TransportLimits, MaxInflight) {
    b.start({"max_inflight = 4", "message_retry_interval = \"0s\""});
    auto pub = raw_connect(b.broker(), "win-pub");
    std::uint16_t id = 1;
    for (const auto v : both_versions) {
        SCOPED_TRACE(tag(v));
        const std::string topic = "win/" + tag(v);
        auto sub = b.connected(make_connect("win-sub-" + tag(v), true, 60, v));
        ASSERT_EQ(subscribe(*sub, 1, {{topic, 1}}), std::vector<std::uint8_t>{1});
        for (int i = 0; i < 10; ++i)
            ASSERT_TRUE(raw_publish(*pub, topic, cat("m", i), 1, id++));
        const auto first = publishes(drain(*sub));
        ASSERT_EQ(first.size(), 4u) << "exactly max_inflight unacknowledged messages";
        for (int i = 0; i < 4; ++i)
            EXPECT_EQ(first[i].payload, cat("m", i));

        sub->send(proto::puback{first[0].packet_id, {}, {}});
        const auto next = publishes(drain(*sub));
        ASSERT_EQ(next.size(), 1u) << "one PUBACK lets one more out";
        EXPECT_EQ(next[0].payload, "m4");
    }
}

// max_mqueue_len = 3 (max_inflight = 2): an offline session keeps the newest 3 messages; an
// online subscriber that does not acknowledge gets its 2 in flight and the newest 3 queued.
TEST_P(TransportLimits, MaxMqueueLen) {
    // Online, "drop" (RMQTT's behaviour); the default, "backpressure", holds the publisher's
    // acknowledgements instead (backpressure_test.cpp).
    b.start({"max_inflight = 2", "max_mqueue_len = 3", "mqueue_overflow = \"drop\"",
             "message_retry_interval = \"0s\""});
    auto pub = raw_connect(b.broker(), "mq-pub");
    std::uint16_t id = 1;
    for (const auto v : both_versions) {
        SCOPED_TRACE(tag(v));
        const std::string topic = "mq/" + tag(v);
        const auto id_off = "mq-off-" + tag(v);
        {
            auto sub = b.connected(make_connect(id_off, v, /*clean=*/false, 300));
            ASSERT_EQ(subscribe(*sub, 1, {{topic + "/off", 1}}), std::vector<std::uint8_t>{1});
            sub->send(proto::disconnect{});
            EXPECT_TRUE(sub->wait_closed());
        }
        for (int i = 0; i < 12; ++i)
            ASSERT_TRUE(raw_publish(*pub, topic + "/off", cat("m", i), 1, id++));
        bool present = false;
        auto back = b.connected(make_connect(id_off, v, /*clean=*/false, 300), &present);
        EXPECT_TRUE(present);
        EXPECT_EQ(take_acking(*back), (std::vector<std::string>{"m9", "m10", "m11"}))
            << "offline: the newest max_mqueue_len";

        auto sub = b.connected(make_connect("mq-on-" + tag(v), true, 60, v));
        ASSERT_EQ(subscribe(*sub, 1, {{topic + "/on", 1}}), std::vector<std::uint8_t>{1});
        for (int i = 0; i < 10; ++i)
            ASSERT_TRUE(raw_publish(*pub, topic + "/on", cat("m", i), 1, id++));
        EXPECT_EQ(take_acking(*sub), (std::vector<std::string>{"m0", "m1", "m7", "m8", "m9"}))
            << "online: 2 in flight, then the newest 3 of the queue";
    }
}

// ---- CONNECT and SUBSCRIBE limits ---------------------------------------------------------------

// max_clientid_len = 8: 8 characters are accepted, 9 refused with CONNACK 0x02 (3.1.1) / 0x85
// (5.0) and closed.
TEST_P(TransportLimits, MaxClientIdLen) {
    b.start({"max_clientid_len = 8"});
    for (const auto v : both_versions) {
        SCOPED_TRACE(tag(v));
        auto ok = b.connected(make_connect("12345678", true, 60, v));
        EXPECT_TRUE(alive(*ok));
        auto c = b.opened(v);
        const auto ack = c->connect(make_connect("123456789", true, 60, v));
        ASSERT_TRUE(ack) << "a CONNACK says why";
        EXPECT_EQ(ack->code, v == version::v5 ? code_of(rc::client_identifier_not_valid) : 0x02);
        EXPECT_TRUE(c->wait_closed());
    }
}

// max_topic_levels = 3: a deeper filter is refused in SUBACK (3.1.1: 0x80; 5.0: 0x8F), the
// others granted; a PUBLISH to a deeper topic closes a 3.1.1 connection and is refused with
// PUBACK 0x90 on 5.0.
TEST_P(TransportLimits, MaxTopicLevels) {
    b.start({"max_topic_levels = 3"});
    for (const auto v : both_versions) {
        SCOPED_TRACE(tag(v));
        auto c = b.connected(make_connect("tl-" + tag(v), true, 60, v));
        const std::uint8_t refused =
            v == version::v5 ? code_of(rc::topic_filter_invalid) : proto::suback_failure_v3;
        EXPECT_EQ(subscribe(*c, 1, {{"a/b/c", 1}, {"a/b/c/d", 1}, {"a/+/#", 1}}),
                  (std::vector<std::uint8_t>{1, refused, 1}));
        c->send(make_publish("a/b/c", "fits", 1, 2));
        const auto got = drain(*c);
        EXPECT_EQ(got.size(), 2u) << "PUBACK and the message, in either order";

        c->send(make_publish("a/b/c/d", "too deep", 1, 3));
        if (v == version::v5) {
            auto ack = expect<proto::puback>(*c);
            ASSERT_TRUE(ack);
            EXPECT_EQ(ack->packet_id, 3);
            EXPECT_EQ(code_of(ack->code), code_of(rc::topic_name_invalid));
            EXPECT_TRUE(drain(*c, 300ms).empty()) << "not routed";
            EXPECT_TRUE(alive(*c));
        } else {
            std::vector<proto::packet> before;
            EXPECT_TRUE(c->wait_closed(5s, &before));
            EXPECT_TRUE(before.empty());
        }
    }
}

// max_subscriptions = 2: a third filter is refused (3.1.1: 0x80; 5.0: 0x97 Quota exceeded);
// subscribing to an existing filter again replaces it and does not count [MQTT-3.8.4-3].
TEST_P(TransportLimits, MaxSubscriptions) {
    b.start({"max_subscriptions = 2"});
    for (const auto v : both_versions) {
        SCOPED_TRACE(tag(v));
        auto c = b.connected(make_connect("ms-" + tag(v), true, 60, v));
        const std::uint8_t refused =
            v == version::v5 ? code_of(rc::quota_exceeded) : proto::suback_failure_v3;
        EXPECT_EQ(subscribe(*c, 1, {{"s/a", 1}, {"s/b", 1}, {"s/c", 1}}),
                  (std::vector<std::uint8_t>{1, 1, refused}));
        EXPECT_EQ(subscribe(*c, 2, {{"s/a", 2}}), std::vector<std::uint8_t>{2});
        EXPECT_EQ(subscribe(*c, 3, {{"s/c", 0}}), std::vector<std::uint8_t>{refused});
    }
}

// ---- QoS 2 receive state ------------------------------------------------------------------------

// 5.0: the server's Receive Maximum is max_inflight; QoS 2 PUBLISHes whose PUBREL never comes
// hold their slot, and one more than that is DISCONNECT 0x93 [MQTT-3.3.4-9] (5.0 section 3.3.4).
TEST_P(TransportLimits, Qos2ReceiveStateBoundedByReceiveMaximumV5) {
    b.start({"max_inflight = 4"});
    auto c = b.opened(version::v5);
    const auto ack = c->connect(make_connect("q2-v5", true, 60, version::v5));
    ASSERT_TRUE(ack && ack->code == 0);
    EXPECT_EQ(ack->props.receive_maximum.value_or(65535), 4);
    for (std::uint16_t i = 1; i <= 4; ++i) {
        c->send(make_publish("q2/t", cat("m", i), 2, i));
        auto rec = expect<proto::pubrec>(*c);
        ASSERT_TRUE(rec) << "PUBREC " << i;
        EXPECT_EQ(rec->packet_id, i);
    }
    c->send(make_publish("q2/t", "qos0", 0));  // QoS 0 does not count
    EXPECT_TRUE(alive(*c));
    c->send(make_publish("q2/t", "m5", 2, 5));
    expect_closed_with(*c, rc::receive_maximum_exceeded, "fifth QoS 2 PUBLISH without PUBREL");
}

// 3.1.1 has no Receive Maximum: max_awaiting_rel bounds the QoS 2 messages awaiting PUBREL
// (CVE-2023-28366; max_inflight is outbound and plays no part). A re-sent PUBLISH of an id that
// awaits PUBREL is a duplicate (4.3.3 Method B: PUBREC again, not routed) and does not count;
// PUBREL frees a slot; one new message too many closes the connection, as 3.1.1 has no negative
// PUBREC.
TEST_P(TransportLimits, Qos2ReceiveStateBoundedByMaxAwaitingRelV311) {
    b.start({"max_inflight = 4", "max_awaiting_rel = 8"});
    auto c = b.connected(make_connect("q2-v311"));
    auto sub = raw_connect(b.broker(), "q2-sub");
    subscribe_ok(*sub, {{"q2/t", 0}});
    for (std::uint16_t id = 1; id <= 8; ++id) {
        c->send(make_publish("q2/t", cat("m", id), 2, id));
        auto rec = expect<proto::pubrec>(*c);
        ASSERT_TRUE(rec) << "PUBREC " << id;
        ASSERT_EQ(rec->packet_id, id);
    }
    EXPECT_EQ(drain_raw(*sub).size(), 8u);
    c->send(make_publish("q2/t", "duplicate", 2, 1));
    auto rec = expect<proto::pubrec>(*c);
    ASSERT_TRUE(rec) << "a duplicate is not a new message";
    EXPECT_EQ(rec->packet_id, 1);
    c->send(proto::pubrel{1, {}, {}});
    auto comp = expect<proto::pubcomp>(*c);
    ASSERT_TRUE(comp);
    EXPECT_EQ(comp->packet_id, 1);
    c->send(make_publish("q2/t", "ninth", 2, 9));  // takes the slot id 1 freed
    rec = expect<proto::pubrec>(*c);
    ASSERT_TRUE(rec);
    EXPECT_EQ(rec->packet_id, 9);
    auto got = expect<proto::publish>(*sub);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->payload, "ninth") << "the duplicate of id 1 was not routed";
    c->send(make_publish("q2/t", "one too many", 2, 10));
    EXPECT_TRUE(c->wait_closed()) << "a ninth message awaiting PUBREL";
    EXPECT_TRUE(drain_raw(*sub).empty()) << "the refused message was routed";
    EXPECT_TRUE(log_shows(b.broker(), "more than max_awaiting_rel"));
}

// ---- a subscriber that stops reading ------------------------------------------------------------

// Two subscribers (QoS 0 and QoS 1) stop reading while 32 MB go to them: more than their
// sockets hold and than the 8 MB of QoS 0 output the broker keeps per connection. The publisher
// gets each PUBACK and another subscriber each message in bounded time, and new clients still get
// in. When they read again, the QoS 0 subscriber gets what was not dropped, in order, and the
// QoS 1 one everything (512 fit its max_mqueue_len of 1000).
TEST_P(TransportLimits, SlowConsumerDoesNotHoldOthers) {
    // Listener defaults (nodelay = false): 64 KB messages over TLS go out as full segments
    // (tls_transport corks the socket for them), not one delayed-ACK wait per 16 KB record.
    b.start({});
    auto slow0 = b.connected(make_connect("slow-0"));
    ASSERT_EQ(subscribe(*slow0, 1, {{"sc/#", 0}}), std::vector<std::uint8_t>{0});
    auto slow1 = b.connected(make_connect("slow-1"));
    ASSERT_EQ(subscribe(*slow1, 1, {{"sc/#", 1}}), std::vector<std::uint8_t>{1});
    auto fast = b.connected(make_connect("fast"));
    ASSERT_EQ(subscribe(*fast, 1, {{"sc/#", 1}}), std::vector<std::uint8_t>{1});
    auto pub = b.connected(make_connect("pub"));

    constexpr int count = 512;
    const std::string body(64 * 1024, 'x');
    const auto index_of = [](const std::string& payload) {
        return std::stoi(payload.substr(0, payload.find(':')));
    };
    // One message at a time: the publisher's socket never holds more than one, so a broker that
    // stopped reading shows as a missing PUBACK, not as a blocked write.
    for (int i = 0; i < count; ++i) {
        const auto id = static_cast<std::uint16_t>(i + 1);
        pub->send(make_publish("sc/t", cat(i, ":", body), 1, id));
        auto ack = expect<proto::puback>(*pub);
        ASSERT_TRUE(ack) << "PUBACK " << i;
        ASSERT_EQ(ack->packet_id, id);
        auto m = expect<proto::publish>(*fast);
        ASSERT_TRUE(m) << "message " << i << " to the subscriber that reads";
        ASSERT_EQ(index_of(m->payload), i);
        fast->send(proto::puback{m->packet_id, {}, {}});
    }
    EXPECT_TRUE(alive(*pub));
    auto fresh = b.connected(make_connect("fresh"));
    EXPECT_TRUE(alive(*fresh));
    auto fresh_tcp = raw_connect(b.broker(), "fresh-tcp");
    EXPECT_TRUE(alive(*fresh_tcp));

    int last = -1;
    for (const auto& m : publishes(drain(*slow0, 1s, count + 1))) {
        EXPECT_GT(index_of(m.payload), last) << "QoS 0 messages that were kept come in order";
        last = index_of(m.payload);
    }
    std::vector<int> got;
    for (const auto& payload : take_acking(*slow1, count + 1))
        got.push_back(index_of(payload));
    ASSERT_EQ(got.size(), static_cast<std::size_t>(count)) << "QoS 1: nothing lost";
    for (int i = 0; i < count; ++i)
        EXPECT_EQ(got[static_cast<std::size_t>(i)], i);
}

INSTANTIATE_TEST_SUITE_P(Transports, TransportLimits,
                         ::testing::Values(transport_kind::tcp, transport_kind::tls,
                                           transport_kind::ws, transport_kind::wss),
                         [](const auto& param) { return std::string(to_string(param.param)); });

}  // namespace
}  // namespace rmqtt::test::integ
