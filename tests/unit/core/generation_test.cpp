// Queue sequence numbers: (generation << 32) | counter, generations unique per node and reserved
// in the store ahead of use, so no seq is used twice for a client id and entries of an earlier
// session are told apart (persistence_tests.StaleEntries shows the removal end to end).
#include <gtest/gtest.h>

#include "harness.hpp"
#include "session/restore.hpp"

namespace rmqtt::broker::test {
namespace {

std::unique_ptr<persistence> memory_persistence() {
    return std::make_unique<persistence>(storage::make_memory_store(), session_storage_config{});
}

std::optional<std::string> stored_meta(persistence& p, const char* key) {
    std::optional<std::string> out;
    p.flush();
    std::promise<void> done;
    p.read([&](storage::store& s) {
        EXPECT_TRUE(s.get_meta(key, out));
        done.set_value();
    });
    done.get_future().wait();
    return out;
}

TEST(Generations, IncreaseAndAreReservedInTheStoreBeforeUse) {
    harness h;
    h.core.set_store(memory_persistence());
    h.core.set_generation_floor(10);
    const auto a = h.core.take_generation();
    const auto b = h.core.take_generation();
    EXPECT_EQ(a, 10u);
    EXPECT_EQ(b, 11u);
    auto reserved = stored_meta(*h.core.store(), generation_reserved_meta);
    ASSERT_TRUE(reserved);
    EXPECT_GT(std::stoull(*reserved), std::uint64_t{b}) << "a restart must start above " << b;
}

TEST(Generations, ASessionThatUsedUpItsNumbersContinuesInANewGeneration) {
    harness h;
    auto s = std::make_shared<session>(h.core, "g1", h.io.get_executor());
    h.core.set_generation_floor(7);
    s->set_generation(3, 3);
    EXPECT_EQ(s->take_seq(), std::uint64_t{3} << 32);
    s->set_next_seq((std::uint64_t{3} << 32) | 0xFFFFFFFEull);
    EXPECT_EQ(s->take_seq(), (std::uint64_t{3} << 32) | 0xFFFFFFFEull);
    const auto next = s->take_seq();
    EXPECT_EQ(next, std::uint64_t{7} << 32) << "the next generation, above every seq used";
    EXPECT_EQ(s->generation(), 7u);
    EXPECT_EQ(s->first_seq(), std::uint64_t{3} << 32) << "its first generation stays";
    EXPECT_EQ(s->to_record().first_generation, 3u);
    EXPECT_EQ(s->to_record().generation, 7u);
}

// After a restart, generations continue above the reservation and above every stored seq (a
// store written before generations existed has seqs far above any small generation).
TEST(Generations, RestoreContinuesAboveStoredSeqsAndReservations) {
    harness h;
    h.core.set_store(memory_persistence());
    recovered_state state;
    state.now_ms = wall_now_ms();
    state.generation_reserved = 20;
    recovered_state::session old;
    old.record.client_id = "old";
    old.record.expiry_interval_s = storage::never_expires;
    old.record.disconnected_at_ms = state.now_ms;
    old.bounds = storage::queue_bounds{1, (std::uint64_t{400} << 32) | 9};
    state.sessions.push_back(old);
    const auto counts = restore_sessions(
        h.core, state, [&] { return asio::any_io_executor(h.io.get_executor()); },
        [&](std::string_view) { return &h.lc; });
    EXPECT_EQ(counts.sessions, 1u);
    auto s = h.core.sessions.find("old");
    ASSERT_TRUE(s);
    EXPECT_GE(s->generation(), 401u);
    EXPECT_EQ(s->unloaded_boundary(), std::uint64_t{s->generation()} << 32);
    EXPECT_GT(h.core.take_generation(), s->generation());
}

}  // namespace
}  // namespace rmqtt::broker::test
