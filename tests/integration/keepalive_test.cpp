// Keep alive through the real rmqttd (3.1.1).
#include <gtest/gtest.h>

#include "integration_util.hpp"

namespace rmqtt::test::integ {
namespace {

// [MQTT-3.1.2-24]: a client that sends nothing within its keep alive (times the grace factor)
// is disconnected, and the close counts as abnormal: its will is published [MQTT-3.1.2-8].
// The spec says 1.5x; rmqttd follows RMQTT (keep alive < 6 s: keep alive + 3 s; otherwise
// keep alive x keepalive_backoff x 2). The bound here is generous on purpose: no timing
// assertion, only "closed, and the will arrived".
TEST(Keepalive, SilentClientDisconnectedAndWillPublished) {
    auto b = start_broker();
    auto sub = raw_connect(*b, "ka-sub");
    ASSERT_EQ(raw_subscribe(*sub, 1, {{"ka/#", 1}}), std::vector<std::uint8_t>{1});

    auto c = make_connect("ka-silent", true, /*keep_alive=*/2);
    c.will = make_will("ka/will", "timed-out", 1);
    auto silent = raw_connect(*b, c);
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::uint8_t> before;
    EXPECT_TRUE(silent->wait_closed(20s, &before)) << "not disconnected within 20 s";
    const auto waited = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    RecordProperty("keepalive_close_ms", static_cast<int>(waited.count()));
    EXPECT_TRUE(before.empty()) << "nothing sent to a 3.1.1 client before the close";

    auto p = expect<proto::publish>(*sub, 10s);
    ASSERT_TRUE(p) << "will not published after the keep alive timeout";
    EXPECT_EQ(p->topic, "ka/will");
    EXPECT_EQ(p->payload, "timed-out");
    EXPECT_NE(b->log().find("keep alive timeout"), std::string::npos);
}

// PINGREQ is answered with PINGRESP [MQTT-3.12.4-1] and keeps the connection alive past the
// keep alive timeout; no will is published.
TEST(Keepalive, PingreqKeepsConnectionAlive) {
    auto b = start_broker();
    auto sub = raw_connect(*b, "kp-sub");
    ASSERT_EQ(raw_subscribe(*sub, 1, {{"kp/#", 1}}), std::vector<std::uint8_t>{1});
    auto c = make_connect("kp-pinger", true, /*keep_alive=*/2);
    c.will = make_will("kp/will", "should-not-happen", 1);
    auto pinger = raw_connect(*b, c);
    // 4 PINGREQs one second apart: longer than the broker's timeout for keep alive 2 (1.5 x 2 s).
    // The pauses are the behaviour under test, not a synchronisation.
    for (int i = 0; i < 4; ++i) {
        std::this_thread::sleep_for(1s);
        pinger->send(proto::pingreq{});
        ASSERT_TRUE(expect<proto::pingresp>(*pinger)) << "PINGRESP " << i;
    }
    EXPECT_TRUE(drain_raw(*sub, 200ms).empty()) << "no will while the client pings";
    // Other traffic counts too: a PUBLISH resets the timer as well.
    pinger->send(make_publish("kp/data", "alive", 0));
    auto p = expect<proto::publish>(*sub);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->payload, "alive");
    raw_disconnect(*pinger);
    EXPECT_TRUE(drain_raw(*sub, 300ms).empty());
}

// Keep alive 0 switches the mechanism off (3.1.2.10): a silent client with keep
// alive 0 stays connected past the time a keep alive 2 client is closed.
TEST(Keepalive, ZeroDisablesTimeout) {
    auto b = start_broker();
    auto zero = raw_connect(*b, make_connect("ka-zero", true, 0));
    auto two = raw_connect(*b, make_connect("ka-two", true, 2));
    EXPECT_TRUE(two->wait_closed(20s)) << "the keep alive 2 client is closed";
    zero->send(proto::pingreq{});
    EXPECT_TRUE(expect<proto::pingresp>(*zero)) << "the keep alive 0 client is still connected";
}

}  // namespace
}  // namespace rmqtt::test::integ
