// The server-to-client QoS 1/2 state machine, without sockets (MQTT 3.1.1 / 5.0 section 4.3,
// 4.4, 4.6).
#include <gtest/gtest.h>

#include "session/outbound_queue.hpp"

namespace rmqtt::broker {
namespace {

using protocol::qos;

message_ptr make_message(std::string topic, std::int64_t expiry_at_ms = 0) {
    auto m = std::make_shared<message>();
    m->topic = std::move(topic);
    m->payload = "x";
    m->qos = qos::exactly_once;
    m->expiry_at_ms = expiry_at_ms;
    return m;
}

outbound_entry entry(std::uint64_t seq, qos q = qos::at_least_once, std::int64_t expiry = 0) {
    outbound_entry e;
    e.seq = seq;
    e.qos = q;
    e.msg = make_message("t/" + std::to_string(seq), expiry);
    return e;
}

struct sent_log {
    std::vector<std::uint64_t> seqs;
    std::vector<std::uint64_t> expired;
    void fill(outbound_queue& q, std::int64_t now_ms = 1000) {
        q.fill(
            now_ms, steady_clock::now(), [&](outbound_entry& e) { seqs.push_back(e.seq); },
            [&](outbound_entry&& e) { expired.push_back(e.seq); });
    }
};

TEST(OutboundQueue, PacketIdIsDerivedFromSeqAndNeverZero) {
    EXPECT_EQ(packet_id_for(0), 1);
    EXPECT_EQ(packet_id_for(1), 2);
    EXPECT_EQ(packet_id_for(65534), 65535);
    EXPECT_EQ(packet_id_for(65535), 1);  // [MQTT-2.2.1-3]: non-zero identifiers only
}

TEST(OutboundQueue, FillsTheInflightWindowInOrder) {
    outbound_queue q({2, 100, outbound_queue::overflow_policy::drop_oldest});
    for (std::uint64_t s = 10; s < 15; ++s)
        ASSERT_FALSE(q.push(entry(s)));
    sent_log log;
    log.fill(q);
    EXPECT_EQ(log.seqs, (std::vector<std::uint64_t>{10, 11}));
    EXPECT_EQ(q.inflight_count(), 2u);
    EXPECT_EQ(q.queued_count(), 3u);

    // A PUBACK frees one slot; the next message in order goes out.
    outbound_entry removed;
    EXPECT_EQ(q.on_puback(packet_id_for(11), removed), outbound_queue::ack_result::ok);
    EXPECT_EQ(removed.seq, 11u);
    log.fill(q);
    EXPECT_EQ(log.seqs, (std::vector<std::uint64_t>{10, 11, 12}));
}

TEST(OutboundQueue, QoS2FlowPubrecThenPubcomp) {
    outbound_queue q;
    q.push(entry(7, qos::exactly_once));
    sent_log log;
    log.fill(q);
    ASSERT_EQ(log.seqs.size(), 1u);
    const auto pid = packet_id_for(7);

    outbound_entry removed;
    // PUBCOMP before PUBREC is out of order: the entry stays.
    EXPECT_EQ(q.on_pubcomp(pid, removed), outbound_queue::ack_result::wrong_state);
    // PUBACK is the wrong acknowledgement for QoS 2.
    EXPECT_EQ(q.on_puback(pid, removed), outbound_queue::ack_result::wrong_state);

    outbound_entry* e = nullptr;
    EXPECT_EQ(q.on_pubrec(pid, e), outbound_queue::ack_result::ok);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->state, delivery_state::pubrec_received);
    // A repeated PUBREC is fine (the caller resends PUBREL).
    EXPECT_EQ(q.on_pubrec(pid, e), outbound_queue::ack_result::ok);

    EXPECT_EQ(q.on_pubcomp(pid, removed), outbound_queue::ack_result::ok);
    EXPECT_EQ(removed.seq, 7u);
    EXPECT_TRUE(q.empty());
}

TEST(OutboundQueue, UnknownPacketIdsAreReported) {
    outbound_queue q;
    outbound_entry removed;
    outbound_entry* e = nullptr;
    EXPECT_EQ(q.on_puback(99, removed), outbound_queue::ack_result::unknown_packet_id);
    EXPECT_EQ(q.on_pubrec(99, e), outbound_queue::ack_result::unknown_packet_id);
    EXPECT_EQ(q.on_pubcomp(99, removed), outbound_queue::ack_result::unknown_packet_id);
}

TEST(OutboundQueue, PubrecWithErrorEndsTheFlow) {
    outbound_queue q;
    q.push(entry(3, qos::exactly_once));
    sent_log log;
    log.fill(q);
    outbound_entry removed;
    EXPECT_EQ(q.on_pubrec_error(packet_id_for(3), removed), outbound_queue::ack_result::ok);
    EXPECT_TRUE(q.empty());
}

TEST(OutboundQueue, OverflowDropsOldestQueuedNotInflight) {
    outbound_queue q({1, 2, outbound_queue::overflow_policy::drop_oldest});
    q.push(entry(1));
    sent_log log;
    log.fill(q);  // seq 1 is inflight
    EXPECT_FALSE(q.push(entry(2)));
    EXPECT_FALSE(q.push(entry(3)));
    auto dropped = q.push(entry(4));
    ASSERT_TRUE(dropped);
    EXPECT_EQ(dropped->seq, 2u);  // the oldest queued one, never the inflight one
    EXPECT_EQ(q.inflight_count(), 1u);
    EXPECT_EQ(q.queued_count(), 2u);
}

TEST(OutboundQueue, OverflowDropNewKeepsTheQueue) {
    outbound_queue q({1, 1, outbound_queue::overflow_policy::drop_new});
    q.push(entry(1));
    auto dropped = q.push(entry(2));
    ASSERT_TRUE(dropped);
    EXPECT_EQ(dropped->seq, 2u);
    EXPECT_EQ(q.queued_count(), 1u);
}

TEST(OutboundQueue, ExpiredMessagesAreNotSent) {
    outbound_queue q;
    q.push(entry(1, qos::at_least_once, /*expiry*/ 500));
    q.push(entry(2, qos::at_least_once, /*expiry*/ 5000));
    sent_log log;
    log.fill(q, /*now*/ 1000);
    EXPECT_EQ(log.expired, (std::vector<std::uint64_t>{1}));
    EXPECT_EQ(log.seqs, (std::vector<std::uint64_t>{2}));
}

TEST(OutboundQueue, ResendOnReconnectKeepsSendOrderAndState) {
    outbound_queue q({10, 100, outbound_queue::overflow_policy::drop_oldest});
    q.push(entry(5, qos::exactly_once));
    q.push(entry(6, qos::at_least_once));
    q.push(entry(7, qos::exactly_once));
    sent_log log;
    log.fill(q);
    outbound_entry* e = nullptr;
    ASSERT_EQ(q.on_pubrec(packet_id_for(5), e), outbound_queue::ack_result::ok);

    // [MQTT-4.6.0-1]: resend in the original order; PUBREL for the one past PUBREC.
    std::vector<std::pair<std::uint64_t, delivery_state>> seen;
    q.for_each_inflight([&](outbound_entry& x) { seen.emplace_back(x.seq, x.state); });
    ASSERT_EQ(seen.size(), 3u);
    EXPECT_EQ(seen[0], std::make_pair(std::uint64_t{5}, delivery_state::pubrec_received));
    EXPECT_EQ(seen[1], std::make_pair(std::uint64_t{6}, delivery_state::sent));
    EXPECT_EQ(seen[2], std::make_pair(std::uint64_t{7}, delivery_state::sent));
}

TEST(OutboundQueue, RestoredEntriesGoFirstAndKeepTheirState) {
    outbound_queue q({10, 100, outbound_queue::overflow_policy::drop_oldest});
    q.push(entry(100));  // arrived after the restart
    std::vector<outbound_entry> stored;
    auto a = entry(3, qos::exactly_once);
    a.state = delivery_state::pubrec_received;
    auto b = entry(1);
    b.state = delivery_state::sent;
    stored.push_back(std::move(a));
    stored.push_back(entry(2));
    stored.push_back(std::move(b));
    q.restore(std::move(stored));
    EXPECT_EQ(q.inflight_count(), 2u);  // seq 1 (sent) and seq 3 (pubrec received)
    sent_log log;
    log.fill(q);
    EXPECT_EQ(log.seqs, (std::vector<std::uint64_t>{2, 100}));  // stored before new ones
    std::vector<std::uint64_t> inflight;
    q.for_each_inflight([&](outbound_entry& x) {
        inflight.push_back(x.seq);
        if (x.seq == 1) {
            EXPECT_TRUE(x.ever_sent);  // resent with DUP
        }
    });
    EXPECT_EQ(inflight.size(), 4u);
}

TEST(OutboundQueue, WaitsWhenADerivedPacketIdIsStillInUse) {
    outbound_queue q({10, 100, outbound_queue::overflow_policy::drop_oldest});
    q.push(entry(1));
    q.push(entry(1 + 65535));  // same packet identifier as seq 1
    sent_log log;
    log.fill(q);
    EXPECT_EQ(log.seqs, (std::vector<std::uint64_t>{1}));
    outbound_entry removed;
    ASSERT_EQ(q.on_puback(packet_id_for(1), removed), outbound_queue::ack_result::ok);
    log.fill(q);
    EXPECT_EQ(log.seqs, (std::vector<std::uint64_t>{1, 1 + 65535}));
}

TEST(OutboundQueue, RetryDueOnlyForSentEntriesOlderThanTheCutoff) {
    outbound_queue q;
    q.push(entry(1));
    q.push(entry(2, qos::exactly_once));
    sent_log log;
    log.fill(q);
    outbound_entry* e = nullptr;
    ASSERT_EQ(q.on_pubrec(packet_id_for(2), e), outbound_queue::ack_result::ok);
    std::vector<std::uint64_t> due;
    q.for_each_due(steady_clock::now() + std::chrono::hours(1),
                   [&](outbound_entry& x) { due.push_back(x.seq); });
    EXPECT_EQ(due, (std::vector<std::uint64_t>{1}));  // not the one waiting for PUBCOMP
    due.clear();
    q.for_each_due(steady_clock::now() - std::chrono::hours(1),
                   [&](outbound_entry& x) { due.push_back(x.seq); });
    EXPECT_TRUE(due.empty());
}

}  // namespace
}  // namespace rmqtt::broker
