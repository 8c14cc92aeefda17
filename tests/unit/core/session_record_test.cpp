// The client's 5.0 limits in the session record: kept in the session's rare block, and only where
// a record is written (a persistent session), so that an idle session does not carry them.
#include <gtest/gtest.h>

#include "harness.hpp"
#include "session/restore.hpp"

namespace rmqtt::broker::test {
namespace {

TEST(SessionRecord, APersistentSessionRecordsTheClientsLimits) {
    harness h;
    auto s = std::make_shared<session>(h.core, "p", h.io.get_executor());
    s->set_persistent(true);
    s->record_client_limits({1024, 10, 5});
    auto r = s->to_record();
    EXPECT_EQ(r.maximum_packet_size, 1024u);
    EXPECT_EQ(r.receive_maximum, 10u);
    EXPECT_EQ(r.topic_alias_maximum, 5u);

    // A later CONNECT without them (or a 3.1.1 one) records the defaults again.
    s->record_client_limits({});
    r = s->to_record();
    EXPECT_EQ(r.maximum_packet_size, 0u);
    EXPECT_EQ(r.receive_maximum, 65535u);
    EXPECT_EQ(r.topic_alias_maximum, 0u);
}

TEST(SessionRecord, ASessionThatIsNotPersistentKeepsNoLimits) {
    harness h;
    auto s = std::make_shared<session>(h.core, "c", h.io.get_executor());
    s->record_client_limits({1024, 10, 5});
    EXPECT_EQ(s->recorded_client_limits(), session::client_limits{});
}

TEST(SessionRecord, ARestoredSessionKeepsTheStoredLimits) {
    harness h;
    recovered_state state;
    state.now_ms = wall_now_ms();
    recovered_state::session stored;
    stored.record.client_id = "r";
    stored.record.protocol_version = 5;
    stored.record.expiry_interval_s = storage::never_expires;
    stored.record.disconnected_at_ms = state.now_ms;
    stored.record.maximum_packet_size = 2048;
    stored.record.receive_maximum = 20;
    stored.record.topic_alias_maximum = 3;
    state.sessions.push_back(stored);
    restore_sessions(
        h.core, state, [&] { return asio::any_io_executor(h.io.get_executor()); },
        [&](std::string_view) { return &h.lc; });
    auto s = h.core.sessions.find("r");
    ASSERT_TRUE(s);
    const auto r = s->to_record();
    EXPECT_EQ(r.maximum_packet_size, 2048u);
    EXPECT_EQ(r.receive_maximum, 20u);
    EXPECT_EQ(r.topic_alias_maximum, 3u);
    EXPECT_EQ(s->queue().get_limits().max_inflight, std::min<std::uint16_t>(h.lc.max_inflight, 20))
        << "the queue's inflight window follows the stored Receive Maximum";
}

}  // namespace
}  // namespace rmqtt::broker::test
