// listener.<kind>.<name>.max_handshaking_limit: connections accepted but not yet through
// CONNECT/CONNACK are limited; one more is closed at once, and a connection that finished its
// CONNECT frees its slot.
#include <gtest/gtest.h>

#include "integration_util.hpp"

namespace rmqtt::test::integ {
namespace {

using namespace std::chrono_literals;

TEST(HandshakeLimit, ExtraConnectionsAreRefusedUntilHandshakesFinish) {
    auto b = start_broker({"max_handshaking_limit = 2", "handshake_timeout = \"30s\""});
    // Two connections that never send CONNECT hold both handshake slots. The start-up probe of
    // broker_process may still hold one for a moment: wait until a third is refused.
    raw_client silent1(b->port());
    raw_client silent2(b->port());
    bool refused = false;
    for (int attempt = 0; attempt < 50 && !refused; ++attempt) {
        raw_client extra(b->port());
        refused = extra.wait_closed(200ms);
    }
    EXPECT_TRUE(refused) << "a third handshake beyond max_handshaking_limit = 2 is closed";
    EXPECT_NE(b->log().find("max_handshaking_limit (2) reached"), std::string::npos);

    // A connection that completes CONNECT no longer counts.
    EXPECT_FALSE(silent1.wait_closed(10ms)) << "still open: handshake_timeout is 30 s";
    silent1.send(make_connect("hl-1", true));
    auto ack = silent1.receive(5s);
    ASSERT_TRUE(ack && std::holds_alternative<proto::connack>(*ack));
    // One slot is free again (silent2 still holds the other).
    raw_client next(b->port());
    EXPECT_FALSE(next.wait_closed(300ms)) << "a slot was released by the finished handshake";
}

}  // namespace
}  // namespace rmqtt::test::integ
