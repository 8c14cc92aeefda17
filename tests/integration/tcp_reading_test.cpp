// Reading over plain TCP: the broker reads by readiness and, between packets, holds neither a
// read buffer nor a reader (net/tcp_transport, mqtt/connection). Packets that arrive in pieces
// with the connection idle in between, one larger than the initial read buffer, several in one
// segment, and a packet byte by byte all arrive intact and in order.
#include <gtest/gtest.h>

#include <thread>

#include "integration_util.hpp"

namespace rmqtt::test::integ {
namespace {

// Sends `bytes` in pieces of `piece` bytes with a pause after each, so the broker finds the
// socket empty mid-packet (the pause is not a synchronisation: any interleaving must work).
void send_in_pieces(raw_client& c, const std::vector<std::uint8_t>& bytes, std::size_t piece) {
    for (std::size_t off = 0; off < bytes.size(); off += piece) {
        const auto end = std::min(bytes.size(), off + piece);
        c.send_bytes(std::vector<std::uint8_t>(bytes.begin() + static_cast<std::ptrdiff_t>(off),
                                               bytes.begin() + static_cast<std::ptrdiff_t>(end)));
        std::this_thread::sleep_for(20ms);
    }
}

TEST(TcpReading, PacketsInPiecesArriveIntact) {
    auto b = start_broker();
    auto sub = raw_connect(*b, "pieces-sub");
    ASSERT_EQ(raw_subscribe(*sub, 1, {{"pieces/#", 1}}), std::vector<std::uint8_t>{1});
    auto pub = raw_connect(*b, "pieces-pub");

    // Larger than the initial 4 KB read buffer, in three pieces.
    std::string big(10000, '\0');
    for (std::size_t i = 0; i < big.size(); ++i)
        big[i] = static_cast<char>('a' + i % 26);
    send_in_pieces(
        *pub, encode_packet(proto::version::v3_1_1, make_publish("pieces/big", big, 1, 7)), 4000);
    auto ack = expect<proto::puback>(*pub);
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->packet_id, 7);
    auto p = expect<proto::publish>(*sub);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->topic, "pieces/big");
    EXPECT_EQ(p->payload, big);
    sub->send(proto::puback{p->packet_id, {}, {}});

    // A small PUBLISH byte by byte.
    send_in_pieces(*pub, encode_packet(proto::version::v3_1_1, make_publish("pieces/s", "s", 1, 8)),
                   1);
    ack = expect<proto::puback>(*pub);
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->packet_id, 8);
    p = expect<proto::publish>(*sub);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->payload, "s");
    sub->send(proto::puback{p->packet_id, {}, {}});

    // Three packets in one segment, the last one cut short and completed later.
    std::vector<std::uint8_t> bytes;
    for (std::uint16_t id = 9; id <= 11; ++id) {
        auto one = encode_packet(proto::version::v3_1_1,
                                 make_publish("pieces/m", std::to_string(id), 1, id));
        bytes.insert(bytes.end(), one.begin(), one.end());
    }
    pub->send_bytes(std::vector<std::uint8_t>(bytes.begin(), bytes.end() - 2));
    std::this_thread::sleep_for(20ms);
    pub->send_bytes(std::vector<std::uint8_t>(bytes.end() - 2, bytes.end()));
    for (std::uint16_t id = 9; id <= 11; ++id) {
        ack = expect<proto::puback>(*pub);
        ASSERT_TRUE(ack);
        EXPECT_EQ(ack->packet_id, id);
        p = expect<proto::publish>(*sub);
        ASSERT_TRUE(p);
        EXPECT_EQ(p->payload, std::to_string(id)) << "in order";
        sub->send(proto::puback{p->packet_id, {}, {}});
    }

    // Both connections are still served after all that.
    pub->send(proto::pingreq{});
    EXPECT_TRUE(expect<proto::pingresp>(*pub));
    sub->send(proto::pingreq{});
    EXPECT_TRUE(expect<proto::pingresp>(*sub));
}

}  // namespace
}  // namespace rmqtt::test::integ
