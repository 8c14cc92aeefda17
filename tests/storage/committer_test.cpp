// The group committer (committer.hpp) in front of the memory engine, wrapped in a fake that can
// hold a write (to make grouping deterministic) and fail writes (to drive the retry logic):
// fault_store.hpp.
#include "rmqtt/storage/committer.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fault_store.hpp"
#include "store_test_util.hpp"

namespace rmqtt::storage::test {
namespace {

using namespace std::chrono_literals;

// Polls `pred` every millisecond for at most 10 s (a bound, not a timing assertion).
template <class Pred>
bool eventually(Pred pred) {
    for (int i = 0; i < 10'000; ++i) {
        if (pred()) return true;
        std::this_thread::sleep_for(1ms);
    }
    return pred();
}

write_batch batch_of(std::vector<operation> ops) {
    write_batch b;
    b.ops = std::move(ops);
    return b;
}

write_batch meta_batch(int i) {
    return batch_of({put_meta{numbered("k", i), "v"}});
}

committer::options fast_retry() {
    committer::options o;
    o.retry_initial = 1ms;
    o.retry_max = 4ms;
    return o;
}

// Collects completion results; completions run on the writer thread.
struct results {
    std::mutex mutex;
    std::vector<int> order;
    std::vector<status> statuses;
    committer::completion record(int i) {
        return [this, i](const status& st) {
            std::lock_guard lock(mutex);
            order.push_back(i);
            statuses.push_back(st);
        };
    }
    std::size_t size() {
        std::lock_guard lock(mutex);
        return order.size();
    }
};

TEST(storage_committer, merges_waiting_batches_into_one_group) {
    fault_store engine;
    committer c(engine, {});
    engine.hold();
    results r;
    c.submit(meta_batch(0), r.record(0));
    ASSERT_TRUE(engine.wait_attempts(1));
    // The writer is inside write(): everything submitted now waits and goes as one group.
    for (int i = 1; i <= 50; ++i)
        c.submit(meta_batch(i), r.record(i));
    engine.release();
    c.flush();
    EXPECT_EQ(c.groups_written(), 2u);
    EXPECT_EQ(c.ops_written(), 51u);
    const auto writes = engine.writes();
    ASSERT_EQ(writes.size(), 2u);
    ASSERT_EQ(writes[1].ops.size(), 50u);
    for (int i = 1; i <= 50; ++i) {  // merged in submission order
        EXPECT_EQ(std::get<put_meta>(writes[1].ops[static_cast<std::size_t>(i - 1)]).key,
                  numbered("k", i));
    }
    ASSERT_EQ(r.size(), 51u);
    for (const auto& st : r.statuses)
        EXPECT_TRUE(st.is_ok()) << st.to_string();
    EXPECT_EQ(read_meta(engine, "k50"), std::optional<std::string>("v"));
}

// The commit latency histogram (HTTP API, Prometheus) counts every batch once, with or without a
// completion, and its bounds ascend.
TEST(storage_committer, latency_histogram_counts_every_batch) {
    fault_store engine;
    committer c(engine, {});
    const auto bounds = committer::latency_bounds_us();
    ASSERT_FALSE(bounds.empty());
    for (std::size_t i = 1; i < bounds.size(); ++i)
        EXPECT_LT(bounds[i - 1], bounds[i]);
    results r;
    for (int i = 0; i < 40; ++i)
        c.submit(meta_batch(i), i % 2 == 0 ? r.record(i) : committer::completion{});
    c.flush();
    std::uint64_t total = 0;
    for (std::size_t i = 0; i <= bounds.size(); ++i)
        total += c.latency_bucket(i);
    EXPECT_EQ(total, 40u);
    EXPECT_EQ(c.latency_bucket(bounds.size() + 1), 0u);
    EXPECT_EQ(r.size(), 20u);
}

TEST(storage_committer, completions_run_on_writer_thread_in_submission_order) {
    fault_store engine;
    committer c(engine, {});
    std::mutex m;
    std::vector<int> order;
    std::vector<std::thread::id> threads;
    for (int i = 0; i < 300; ++i) {
        c.submit(meta_batch(i), [&, i](const status& st) {
            EXPECT_TRUE(st.is_ok());
            std::lock_guard lock(m);
            order.push_back(i);
            threads.push_back(std::this_thread::get_id());
        });
    }
    c.flush();
    std::lock_guard lock(m);
    ASSERT_EQ(order.size(), 300u);
    for (int i = 0; i < 300; ++i)
        EXPECT_EQ(order[static_cast<std::size_t>(i)], i);
    for (auto id : threads) {
        EXPECT_EQ(id, threads.front());
        EXPECT_NE(id, std::this_thread::get_id());
    }
}

TEST(storage_committer, concurrent_submitters_keep_per_thread_order) {
    fault_store engine;
    committer c(engine, {});
    std::mutex m;
    std::vector<std::vector<int>> seen(4);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 200; ++i) {
                write_batch b = batch_of({put_queue_entry{
                    numbered("c", t), sample_entry(static_cast<std::uint64_t>(i))}});
                c.submit(std::move(b), [&, t, i](const status& st) {
                    EXPECT_TRUE(st.is_ok());
                    std::lock_guard lock(m);
                    seen[static_cast<std::size_t>(t)].push_back(i);
                });
            }
        });
    }
    for (auto& th : threads)
        th.join();
    c.flush();
    for (int t = 0; t < 4; ++t) {
        const auto& s = seen[static_cast<std::size_t>(t)];
        ASSERT_EQ(s.size(), 200u);
        for (int i = 0; i < 200; ++i)
            EXPECT_EQ(s[static_cast<std::size_t>(i)], i);
        EXPECT_EQ(read_queue(engine, numbered("c", t)).size(), 200u);
    }
    EXPECT_LE(c.groups_written(), 800u);
    EXPECT_EQ(c.ops_written(), 800u);
}

TEST(storage_committer, put_and_delete_in_one_group_cancel) {
    fault_store engine;
    committer c(engine, {});
    engine.hold();
    c.submit(meta_batch(0), {});
    ASSERT_TRUE(engine.wait_attempts(1));
    results r;
    c.submit(batch_of({put_queue_entry{"c", sample_entry(1)}}), r.record(1));
    c.submit(batch_of({update_queue_entry{"c", 1, queue_state::sent, 5},
                       put_queue_entry{"c", sample_entry(2)}}),
             r.record(2));
    c.submit(batch_of({delete_queue_entry{"c", 1}, put_session{sample_session("c")}}), r.record(3));
    engine.release();
    c.flush();
    EXPECT_EQ(c.ops_cancelled(), 1u);
    const auto writes = engine.writes();
    ASSERT_EQ(writes.size(), 2u);
    // Neither the put, the update nor the delete of seq 1 reached the engine.
    ASSERT_EQ(writes[1].ops.size(), 2u);
    EXPECT_EQ(std::get<put_queue_entry>(writes[1].ops[0]).entry.seq, 2u);
    EXPECT_TRUE(std::holds_alternative<put_session>(writes[1].ops[1]));
    EXPECT_EQ(c.ops_written(), 3u);
    const auto q = read_queue(engine, "c");
    ASSERT_EQ(q.size(), 1u);
    EXPECT_EQ(q[0], sample_entry(2));
    EXPECT_EQ(r.order, (std::vector<int>{1, 2, 3}));
    for (const auto& st : r.statuses)
        EXPECT_TRUE(st.is_ok());
}

TEST(storage_committer, cancellation_keeps_delete_session_working) {
    fault_store engine;
    engine.hold();
    committer c(engine, {});
    c.submit(meta_batch(0), {});
    ASSERT_TRUE(engine.wait_attempts(1));
    // Stored before this group: a subscription and a queue entry of "c".
    engine.release();
    c.flush();
    c.submit(batch_of({put_subscription{"c", sample_subscription("f")},
                       put_queue_entry{"c", sample_entry(9)}}),
             {});
    c.flush();
    engine.hold();
    c.submit(meta_batch(1), {});
    ASSERT_TRUE(engine.wait_attempts(3));
    c.submit(batch_of({put_queue_entry{"c", sample_entry(1)}}), {});
    c.submit(batch_of({delete_session{"c"}}), {});
    c.submit(batch_of({update_queue_entry{"c", 1, queue_state::sent, 1}}), {});
    c.submit(batch_of({delete_queue_entry{"c", 1}, put_queue_entry{"c", sample_entry(2)}}), {});
    engine.release();
    c.flush();
    EXPECT_EQ(c.ops_cancelled(), 1u);
    const auto writes = engine.writes();
    ASSERT_EQ(writes.size(), 4u);
    ASSERT_EQ(writes[3].ops.size(), 2u);
    EXPECT_TRUE(std::holds_alternative<delete_session>(writes[3].ops[0]));
    EXPECT_EQ(std::get<put_queue_entry>(writes[3].ops[1]).entry.seq, 2u);
    EXPECT_TRUE(read_subscriptions(engine, "c").empty()) << "delete_session must still apply";
    const auto q = read_queue(engine, "c");
    ASSERT_EQ(q.size(), 1u);
    EXPECT_EQ(q[0].seq, 2u);
}

// The shared messages the engine holds (0 on a failed read, which the test then reports).
std::size_t stored_messages(fault_store& engine) {
    std::size_t n = 0;
    const auto st = engine.for_each_message([&](std::uint64_t, message_record&&) {
        ++n;
        return true;
    });
    EXPECT_TRUE(st.is_ok());
    return n;
}

queue_entry referencing(std::uint64_t seq, std::uint64_t message_id) {
    queue_entry e = sample_entry(seq);
    e.message = {};
    e.message_id = message_id;
    return e;
}

TEST(storage_committer, shared_message_goes_with_its_last_cancelled_reference) {
    fault_store engine;
    committer c(engine, {});
    engine.hold();
    c.submit(meta_batch(0), {});
    ASSERT_TRUE(engine.wait_attempts(1));
    const message_record m = sample_message("fan/out", "once");
    c.submit(batch_of({put_message{1, m}, put_queue_entry{"a", referencing(1, 1)},
                       put_queue_entry{"b", referencing(1, 1)}}),
             {});
    c.submit(batch_of({delete_queue_entry{"a", 1}}), {});
    // Superseded by an entry holding its own message: that releases the reference too.
    c.submit(batch_of({put_queue_entry{"b", sample_entry(1)}, put_session{sample_session("b")}}),
             {});
    engine.release();
    c.flush();
    EXPECT_EQ(c.ops_cancelled(), 1u);
    const auto writes = engine.writes();
    ASSERT_EQ(writes.size(), 2u);
    ASSERT_EQ(writes[1].ops.size(), 2u);  // neither the message nor a reference
    EXPECT_EQ(std::get<put_queue_entry>(writes[1].ops[0]).entry, sample_entry(1));
    EXPECT_TRUE(std::holds_alternative<put_session>(writes[1].ops[1]));
    EXPECT_EQ(stored_messages(engine), 0u);
}

TEST(storage_committer, shared_message_is_written_while_a_reference_waits) {
    fault_store engine;
    committer c(engine, {});
    engine.hold();
    c.submit(meta_batch(0), {});
    ASSERT_TRUE(engine.wait_attempts(1));
    const message_record m = sample_message("fan/out", "once");
    c.submit(batch_of({put_message{1, m}, put_queue_entry{"a", referencing(1, 1)},
                       put_queue_entry{"b", referencing(1, 1)},
                       put_queue_entry{"c", referencing(1, 1)}}),
             {});
    c.submit(batch_of({delete_queue_entry{"a", 1}}), {});
    c.submit(batch_of({delete_queue_entry{"c", 1}}), {});
    engine.release();
    c.flush();
    EXPECT_EQ(c.ops_cancelled(), 2u);
    const auto writes = engine.writes();
    ASSERT_EQ(writes.size(), 2u);
    ASSERT_EQ(writes[1].ops.size(), 2u);
    EXPECT_EQ(std::get<put_message>(writes[1].ops[0]).id, 1u);
    EXPECT_EQ(std::get<put_queue_entry>(writes[1].ops[1]).client_id, "b");
    queue_entry expected = referencing(1, 1);
    expected.message = m;
    EXPECT_EQ(read_queue(engine, "b"), (std::vector<queue_entry>{expected}));
    // The last reference deleted after the message was written: the engine removes it.
    c.submit(batch_of({delete_queue_entry{"b", 1}}), {});
    c.flush();
    EXPECT_EQ(stored_messages(engine), 0u);
}

TEST(storage_committer, superseded_put_is_not_written) {
    fault_store engine;
    committer c(engine, {});
    engine.hold();
    c.submit(meta_batch(0), {});
    ASSERT_TRUE(engine.wait_attempts(1));
    c.submit(batch_of({put_queue_entry{"c", sample_entry(1, "a")}}), {});
    c.submit(batch_of({put_queue_entry{"c", sample_entry(1, "b")}}), {});
    c.submit(batch_of({delete_queue_entry{"c", 1}}), {});
    c.submit(batch_of({put_queue_entry{"c", sample_entry(3)}}), {});
    engine.release();
    c.flush();
    const auto writes = engine.writes();
    ASSERT_EQ(writes.size(), 2u);
    ASSERT_EQ(writes[1].ops.size(), 1u);
    EXPECT_EQ(std::get<put_queue_entry>(writes[1].ops[0]).entry.seq, 3u);
    const auto q = read_queue(engine, "c");
    ASSERT_EQ(q.size(), 1u);
    EXPECT_EQ(q[0].seq, 3u);
}

TEST(storage_committer, put_and_delete_in_different_groups_both_written) {
    fault_store engine;
    committer c(engine, {});
    c.submit(batch_of({put_queue_entry{"c", sample_entry(1)}}), {});
    c.flush();
    c.submit(batch_of({delete_queue_entry{"c", 1}}), {});
    c.flush();
    EXPECT_EQ(c.ops_cancelled(), 0u);
    EXPECT_EQ(c.ops_written(), 2u);
    EXPECT_EQ(engine.writes().size(), 2u);
    EXPECT_TRUE(read_queue(engine, "c").empty());
}

TEST(storage_committer, batch_that_cancels_to_nothing_completes_without_a_write) {
    fault_store engine;
    committer c(engine, {});
    results r;
    c.submit(batch_of({put_queue_entry{"c", sample_entry(1)}, delete_queue_entry{"c", 1}}),
             r.record(0));
    c.flush();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TRUE(r.statuses[0].is_ok());
    EXPECT_EQ(engine.attempts(), 0);
    EXPECT_EQ(c.ops_cancelled(), 1u);
    EXPECT_EQ(c.groups_written(), 0u);
}

// options::complete_cancelled_early: a batch whose put its delete cancelled (the subscriber
// acknowledged the message before its put was written) completes at once, on the thread of the
// submit that cancelled it, ahead of a batch still being written; nothing of it reaches the
// engine. The batch of the delete completes early too when nothing else is left in it.
TEST(storage_committer, cancelled_batch_completes_early_on_the_cancelling_thread) {
    fault_store engine;
    committer::options o;
    o.complete_cancelled_early = true;
    committer c(engine, o);
    engine.hold();
    results r;
    c.submit(meta_batch(0), r.record(0));
    ASSERT_TRUE(engine.wait_attempts(1));
    std::thread::id ran_on;
    c.submit(batch_of({put_queue_entry{"c", sample_entry(1)}}), [&](const status& st) {
        EXPECT_TRUE(st.is_ok());
        ran_on = std::this_thread::get_id();
        r.record(1)(st);
    });
    c.submit(batch_of({delete_queue_entry{"c", 1}}), r.record(2));
    // Both ran inside the last submit, while the first write is still held.
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(ran_on, std::this_thread::get_id());
    EXPECT_EQ(c.pending_batches(), 3u) << "counted until the writer passes them";
    engine.release();
    c.flush();
    EXPECT_EQ(r.order, (std::vector<int>{1, 2, 0}));
    for (const auto& st : r.statuses)
        EXPECT_TRUE(st.is_ok());
    EXPECT_EQ(engine.attempts(), 1);
    EXPECT_EQ(c.ops_cancelled(), 1u);
    EXPECT_EQ(c.ops_written(), 1u);
    EXPECT_EQ(c.pending_batches(), 0u);
    EXPECT_TRUE(read_queue(engine, "c").empty());
    std::uint64_t counted = 0;
    for (std::size_t i = 0; i <= committer::latency_bounds_us().size(); ++i)
        counted += c.latency_bucket(i);
    EXPECT_EQ(counted, 3u) << "each batch's latency counted once";
}

// Only batches emptied by put/delete pairs go early. A barrier (an empty batch), a batch whose
// update was folded into a waiting put, and one whose put a later put replaced depend on batches
// in front of them (the folded state, the replacing put): they complete in submission order,
// after the write in front of them. A batch with a live operation left waits for its write.
// A shared message goes early with its last reference.
TEST(storage_committer, only_batches_cancelled_in_pairs_complete_early) {
    fault_store engine;
    committer::options o;
    o.complete_cancelled_early = true;
    committer c(engine, o);
    engine.hold();
    results r;
    c.submit(meta_batch(0), r.record(0));
    ASSERT_TRUE(engine.wait_attempts(1));
    c.submit(batch_of({put_queue_entry{"c", sample_entry(1)}}), r.record(1));
    c.submit(batch_of({update_queue_entry{"c", 1, queue_state::sent, 9}}), r.record(2));
    c.submit({}, r.record(3));  // a barrier
    c.submit(batch_of({put_queue_entry{"c", sample_entry(2)}}), r.record(4));
    c.submit(batch_of({put_queue_entry{"c", sample_entry(2)}}), r.record(5));  // replaces 4's
    c.submit(batch_of({put_message{1, sample_message("fan/out", "once")},
                       put_queue_entry{"a", referencing(1, 1)},
                       put_queue_entry{"b", referencing(1, 1)}}),
             r.record(6));
    c.submit(batch_of({delete_queue_entry{"a", 1}}), r.record(7));
    // 7 cancelled its delete with a's put; 6 still holds b's reference and the message.
    EXPECT_EQ(r.order, (std::vector<int>{7}));
    c.submit(batch_of({delete_queue_entry{"c", 1}, delete_queue_entry{"b", 1},
                       put_session{sample_session("c")}}),
             r.record(8));
    // 1 (its put and the folded update gone with the delete), 7 (its delete with a's put) and
    // 6 (both references and the message) are done; 8 still has its put_session to write.
    ASSERT_EQ(r.size(), 3u);
    EXPECT_EQ(r.order, (std::vector<int>{7, 1, 6}));
    engine.release();
    c.flush();
    EXPECT_EQ(r.order, (std::vector<int>{7, 1, 6, 0, 2, 3, 4, 5, 8}));
    for (const auto& st : r.statuses)
        EXPECT_TRUE(st.is_ok());
    const auto q = read_queue(engine, "c");
    ASSERT_EQ(q.size(), 1u);
    EXPECT_EQ(q[0], sample_entry(2));
    EXPECT_TRUE(read_queue(engine, "a").empty());
    EXPECT_TRUE(read_queue(engine, "b").empty());
    EXPECT_EQ(stored_messages(engine), 0u);
}

TEST(storage_committer, update_of_an_entry_put_in_the_group_is_folded_into_the_put) {
    fault_store engine;
    committer c(engine, {});
    engine.hold();
    c.submit(meta_batch(0), {});
    ASSERT_TRUE(engine.wait_attempts(1));
    c.submit(batch_of({put_queue_entry{"c", sample_entry(1)}}), {});
    c.submit(batch_of({update_queue_entry{"c", 1, queue_state::sent, 7}}), {});
    engine.release();
    c.flush();
    const auto writes = engine.writes();
    ASSERT_EQ(writes.size(), 2u);
    // One put, already in the state the update set.
    ASSERT_EQ(writes[1].ops.size(), 1u);
    const auto& put = std::get<put_queue_entry>(writes[1].ops[0]);
    EXPECT_EQ(put.entry.state, queue_state::sent);
    EXPECT_EQ(put.entry.packet_id, 7u);
    EXPECT_EQ(c.updates_absorbed(), 1u);
    EXPECT_EQ(c.ops_submitted(), 3u);
    EXPECT_EQ(c.ops_written(), 2u);
    const auto q = read_queue(engine, "c");
    ASSERT_EQ(q.size(), 1u);
    EXPECT_EQ(q[0].state, queue_state::sent);
    EXPECT_EQ(q[0].packet_id, 7u);
}

TEST(storage_committer, updates_of_a_stored_entry_before_its_delete_are_not_written) {
    fault_store engine;
    committer c(engine, {});
    c.submit(
        batch_of({put_queue_entry{"c", sample_entry(1)}, put_queue_entry{"c", sample_entry(2)}}),
        {});
    c.flush();
    engine.hold();
    c.submit(meta_batch(0), {});
    ASSERT_TRUE(engine.wait_attempts(2));
    c.submit(batch_of({update_queue_entry{"c", 1, queue_state::sent, 1}}), {});
    c.submit(batch_of({update_queue_entry{"c", 2, queue_state::sent, 2}}), {});
    c.submit(batch_of({update_queue_entry{"c", 2, queue_state::pubrec_received, 2}}), {});
    c.submit(batch_of({delete_queue_entry{"c", 1}}), {});
    engine.release();
    c.flush();
    const auto writes = engine.writes();
    ASSERT_EQ(writes.size(), 3u);
    // The delete of entry 1, and only the last update of entry 2 (it replaces the state).
    ASSERT_EQ(writes[2].ops.size(), 2u);
    const auto& upd = std::get<update_queue_entry>(writes[2].ops[0]);
    EXPECT_EQ(upd.seq, 2u);
    EXPECT_EQ(upd.state, queue_state::pubrec_received);
    EXPECT_EQ(std::get<delete_queue_entry>(writes[2].ops[1]).seq, 1u);
    EXPECT_EQ(c.updates_absorbed(), 2u);
    EXPECT_EQ(c.ops_cancelled(), 0u);
    const auto q = read_queue(engine, "c");
    ASSERT_EQ(q.size(), 1u);
    EXPECT_EQ(q[0].seq, 2u);
    EXPECT_EQ(q[0].state, queue_state::pubrec_received);
}

// Under load the writer does not take what queued during its last write at once: the group waits
// until its oldest batch has waited one window, so a delete that arrives within the window of its
// put cancels it although the put queued while another group was being written. The put's
// completion (the publisher's ack) still runs after that group, in submission order, with ok.
// max_batch_ops = 2 ends the (one hour) window deterministically: the first group is a batch of
// two operations, the second group the put and the delete.
TEST(storage_committer, put_and_delete_cancel_across_a_write_within_the_window) {
    fault_store engine;
    committer::options o;
    o.window = std::chrono::hours(1);
    o.max_batch_ops = 2;
    committer c(engine, o);
    engine.hold();
    results r;
    c.submit(batch_of({put_meta{"a", "1"}, put_meta{"b", "2"}}), r.record(0));
    ASSERT_TRUE(engine.wait_attempts(1));
    c.submit(batch_of({put_queue_entry{"c", sample_entry(1)}}), r.record(1));
    engine.release();
    ASSERT_TRUE(eventually([&] { return r.size() == 1; }));
    // The first group is done; the put waits for its window. Delivered and acknowledged now:
    c.submit(batch_of({delete_queue_entry{"c", 1}}), r.record(2));
    c.flush();
    EXPECT_EQ(engine.attempts(), 1) << "neither the put nor the delete reached the engine";
    EXPECT_EQ(c.ops_cancelled(), 1u);
    EXPECT_EQ(c.ops_written(), 2u);
    EXPECT_EQ(c.ops_submitted(), 4u);
    EXPECT_EQ(r.order, (std::vector<int>{0, 1, 2}));
    for (const auto& st : r.statuses)
        EXPECT_TRUE(st.is_ok());
    EXPECT_TRUE(read_queue(engine, "c").empty());
}

// What survives the window is written before its batch completes: a put whose delete does not
// come in time is committed, and the completion runs after the commit.
TEST(storage_committer, put_without_its_delete_in_the_window_is_written_before_completion) {
    fault_store engine;
    committer::options o;
    o.window = std::chrono::hours(1);
    o.max_batch_ops = 2;
    committer c(engine, o);
    results r;
    c.submit(batch_of({put_queue_entry{"c", sample_entry(1)}}), r.record(0));
    c.submit(batch_of({put_queue_entry{"c", sample_entry(2)}}), r.record(1));  // window over
    ASSERT_TRUE(eventually([&] { return r.size() == 2; }));
    EXPECT_EQ(engine.attempts(), 1);
    EXPECT_EQ(read_queue(engine, "c").size(), 2u) << "committed before the completions ran";
    c.submit(batch_of({delete_queue_entry{"c", 1}}), {});
    c.flush();
    EXPECT_EQ(c.ops_cancelled(), 0u);
    EXPECT_EQ(c.ops_written(), 3u);
    ASSERT_EQ(read_queue(engine, "c").size(), 1u);
}

// The window stretches while acknowledgements come but miss many of their puts, and shrinks back
// once they come well within it. Counted per committer::window_sample deletes, so the test needs
// no clock: with a window of an hour a put waits until flush() forces it out.
TEST(storage_committer, window_stretches_while_deletes_miss_their_puts) {
    fault_store engine;
    committer::options o;
    o.window = std::chrono::hours(1);
    committer c(engine, o);
    const auto half = committer::window_sample / 2;
    std::uint64_t seq = 0;
    // Half of the deletes come after their put was written, half while it waits.
    for (std::uint32_t i = 0; i < half; ++i) {
        c.submit(batch_of({put_queue_entry{"c", sample_entry(++seq)}}), {});
        c.flush();
        c.submit(batch_of({delete_queue_entry{"c", seq}}), {});
    }
    EXPECT_EQ(c.current_window(), o.window);
    for (std::uint32_t i = 0; i < half; ++i) {
        c.submit(batch_of({put_queue_entry{"c", sample_entry(++seq)}}), {});
        c.submit(batch_of({delete_queue_entry{"c", seq}}), {});
    }
    EXPECT_EQ(c.ops_cancelled(), half);
    EXPECT_EQ(c.current_window(), 2 * o.window);
    // Every delete cancels its put, right away (far within a quarter of the window): back.
    for (std::uint32_t i = 0; i < committer::window_sample; ++i) {
        c.submit(batch_of({put_queue_entry{"c", sample_entry(++seq)}}), {});
        c.submit(batch_of({delete_queue_entry{"c", seq}}), {});
    }
    EXPECT_EQ(c.current_window(), o.window);
    c.flush();
    EXPECT_TRUE(read_queue(engine, "c").empty());
}

// Deletes that never find their put (the subscribers were offline, the messages stored long ago)
// do not stretch the window: waiting longer would not cancel anything.
TEST(storage_committer, window_does_not_stretch_for_late_deletes_only) {
    fault_store engine;
    committer::options o;
    o.window = std::chrono::hours(1);
    committer c(engine, o);
    std::uint64_t seq = 0;
    for (std::uint32_t i = 0; i < committer::window_sample; ++i)
        c.submit(batch_of({put_queue_entry{"c", sample_entry(++seq)}}), {});
    c.flush();
    for (std::uint64_t s = 1; s <= seq; ++s)
        c.submit(batch_of({delete_queue_entry{"c", s}}), {});
    c.flush();
    EXPECT_EQ(c.ops_cancelled(), 0u);
    EXPECT_EQ(c.current_window(), o.window);
    EXPECT_TRUE(read_queue(engine, "c").empty());
}

TEST(storage_committer, respects_max_batch_ops) {
    fault_store engine;
    committer::options o;
    o.max_batch_ops = 7;
    committer c(engine, o);
    engine.hold();
    c.submit(meta_batch(0), {});
    ASSERT_TRUE(engine.wait_attempts(1));
    for (int i = 0; i < 10; ++i) {
        c.submit(batch_of({put_meta{numbered("a", i), ""}, put_meta{numbered("b", i), ""},
                           put_meta{numbered("c", i), ""}}),
                 {});
    }
    engine.release();
    c.flush();
    const auto writes = engine.writes();
    std::size_t total = 0;
    for (const auto& w : writes) {
        EXPECT_LE(w.ops.size(), 7u);
        total += w.ops.size();
    }
    EXPECT_EQ(total, 31u);
    EXPECT_EQ(writes.size(), 6u);  // the first, then five groups of two 3-op batches
    EXPECT_EQ(c.groups_written(), 6u);
}

TEST(storage_committer, full_group_does_not_wait_for_the_window) {
    fault_store engine;
    committer::options o;
    o.window = std::chrono::hours(1);  // if the writer waited it out, the test would time out
    o.max_batch_ops = 4;
    committer c(engine, o);
    std::atomic<int> done{0};
    for (int i = 0; i < 4; ++i)
        c.submit(meta_batch(i), [&](const status&) { ++done; });
    ASSERT_TRUE(eventually([&] { return done.load() == 4; }));
    EXPECT_EQ(c.groups_written(), 1u);
}

TEST(storage_committer, flush_and_stop_end_the_window) {
    fault_store engine;
    committer::options o;
    o.window = std::chrono::hours(1);
    committer c(engine, o);
    results r;
    c.submit(meta_batch(0), r.record(0));
    c.flush();
    EXPECT_EQ(r.size(), 1u);
    c.submit(meta_batch(1), r.record(1));
    c.stop();
    EXPECT_EQ(r.size(), 2u);
    EXPECT_EQ(read_meta(engine, "k1"), std::optional<std::string>("v"));
}

TEST(storage_committer, retries_unavailable_then_succeeds) {
    fault_store engine;
    engine.fail_next(3, status::code::unavailable);
    committer c(engine, fast_retry());
    results r;
    c.submit(meta_batch(0), r.record(0));
    c.flush();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TRUE(r.statuses[0].is_ok()) << r.statuses[0].to_string();
    EXPECT_EQ(engine.attempts(), 4);
    EXPECT_FALSE(c.degraded());
    EXPECT_EQ(c.groups_written(), 1u);
    EXPECT_EQ(read_meta(engine, "k0"), std::optional<std::string>("v"));
}

TEST(storage_committer, retries_io_error_until_backend_timeout_then_fails_the_group) {
    fault_store engine;
    engine.fail_always(true, status::code::io_error);
    committer::options o = fast_retry();
    o.backend_timeout = 50ms;
    committer c(engine, o);
    engine.hold();
    c.submit(meta_batch(0), {});
    ASSERT_TRUE(engine.wait_attempts(1));
    results r;
    c.submit(meta_batch(1), r.record(1));
    c.submit(meta_batch(2), r.record(2));
    engine.release();
    c.flush();
    ASSERT_EQ(r.size(), 2u);
    for (const auto& st : r.statuses) {
        EXPECT_EQ(st.error_code(), status::code::io_error);
        EXPECT_NE(st.message().find("giving up"), std::string::npos) << st.message();
    }
    EXPECT_GE(engine.attempts(), 3);
    EXPECT_TRUE(c.degraded()) << "the backend is still failing";
    EXPECT_EQ(c.groups_written(), 0u);
    EXPECT_FALSE(read_meta(engine, "k1").has_value());
    // The backend comes back: the next group goes through and the flag clears.
    engine.fail_always(false);
    results after;
    c.submit(meta_batch(3), after.record(3));
    c.flush();
    ASSERT_EQ(after.size(), 1u);
    EXPECT_TRUE(after.statuses[0].is_ok());
    EXPECT_FALSE(c.degraded());
}

TEST(storage_committer, degraded_while_retrying) {
    fault_store engine;
    engine.fail_always(true, status::code::unavailable);
    committer::options o = fast_retry();
    o.backend_timeout = std::chrono::minutes(10);
    committer c(engine, o);
    results r;
    c.submit(meta_batch(0), r.record(0));
    ASSERT_TRUE(eventually([&] { return c.degraded(); }));
    EXPECT_EQ(c.pending_batches(), 1u);
    EXPECT_EQ(r.size(), 0u) << "nothing completes while retrying";
    engine.fail_always(false);
    c.flush();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TRUE(r.statuses[0].is_ok());
    EXPECT_FALSE(c.degraded());
    EXPECT_EQ(c.pending_batches(), 0u);
}

TEST(storage_committer, other_errors_are_not_retried) {
    fault_store engine;
    engine.fail_next(1, status::code::corruption);
    committer c(engine, fast_retry());
    results r;
    c.submit(meta_batch(0), r.record(0));
    c.flush();
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r.statuses[0].error_code(), status::code::corruption);
    EXPECT_EQ(engine.attempts(), 1);
    EXPECT_FALSE(c.degraded());
}

TEST(storage_committer, refused_batch_does_not_fail_the_batches_merged_with_it) {
    fault_store engine;
    committer c(engine, {});
    engine.hold();
    c.submit(meta_batch(0), {});
    ASSERT_TRUE(engine.wait_attempts(1));
    results r;
    c.submit(meta_batch(1), r.record(1));
    c.submit(batch_of({put_session{sample_session(std::string(70'000, 'x'))}}), r.record(2));
    c.submit(meta_batch(3), r.record(3));
    engine.release();
    c.flush();
    ASSERT_EQ(r.size(), 3u);
    EXPECT_TRUE(r.statuses[0].is_ok());
    EXPECT_EQ(r.statuses[1].error_code(), status::code::invalid_argument);
    EXPECT_TRUE(r.statuses[2].is_ok());
    EXPECT_EQ(read_meta(engine, "k1"), std::optional<std::string>("v"));
    EXPECT_EQ(read_meta(engine, "k3"), std::optional<std::string>("v"));
}

TEST(storage_committer, pending_counters_track_uncompleted_batches) {
    fault_store engine;
    committer c(engine, {});
    EXPECT_EQ(c.pending_batches(), 0u);
    EXPECT_EQ(c.pending_bytes(), 0u);
    engine.hold();
    const write_batch a = meta_batch(0);
    const write_batch b = batch_of({put_queue_entry{"c", sample_entry(1, std::string(5000, 'p'))}});
    const std::size_t expected = a.approximate_size() + b.approximate_size();
    EXPECT_GT(b.approximate_size(), 5000u);
    c.submit(a, {});
    ASSERT_TRUE(engine.wait_attempts(1));
    c.submit(b, {});
    // One batch is being written, one waits: both count until completed.
    EXPECT_EQ(c.pending_batches(), 2u);
    EXPECT_EQ(c.pending_bytes(), expected);
    engine.release();
    c.flush();
    EXPECT_EQ(c.pending_batches(), 0u);
    EXPECT_EQ(c.pending_bytes(), 0u);
}

// pending_bytes(), pending_batches(), degraded() and the counters are read without the committer
// mutex, for every PUBLISH: many threads read them while others submit and the writer completes.
// What is checked holds at every moment (no timing): nothing pending exceeds all that will ever be
// submitted (an update out of order would wrap around), and once flushed nothing is pending.
TEST(storage_committer, back_pressure_reads_race_with_submits_and_completions) {
    fault_store engine;
    committer c(engine, fast_retry());
    constexpr int submitters = 3;
    constexpr int per_thread = 300;
    std::vector<std::vector<write_batch>> work(submitters);
    std::size_t total_bytes = 0;
    std::size_t total_batches = 0;
    for (int t = 0; t < submitters; ++t) {
        for (int i = 0; i < per_thread; ++i) {
            work[static_cast<std::size_t>(t)].push_back(batch_of(
                {put_queue_entry{numbered("c", t), sample_entry(static_cast<std::uint64_t>(i),
                                                                std::string(1 + i % 50, 'p'))}}));
            total_bytes += work[static_cast<std::size_t>(t)].back().approximate_size();
            ++total_batches;
        }
    }
    const write_batch last = meta_batch(0);
    total_bytes += last.approximate_size();
    ++total_batches;
    std::atomic<bool> done{false};
    std::atomic<int> violations{0};
    std::atomic<std::uint64_t> reads{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 2; ++t) {
        readers.emplace_back([&] {
            do {
                if (c.pending_bytes() > total_bytes || c.pending_batches() > total_batches ||
                    c.ops_written() > total_batches) {
                    ++violations;
                }
                (void)c.degraded();
                ++reads;
            } while (!done.load());
        });
    }
    std::vector<std::thread> threads;
    for (int t = 0; t < submitters; ++t) {
        threads.emplace_back([&, t] {
            for (auto& b : work[static_cast<std::size_t>(t)])
                c.submit(std::move(b), {});
        });
    }
    for (auto& th : threads)
        th.join();
    c.flush();
    EXPECT_EQ(c.pending_bytes(), 0u);
    EXPECT_EQ(c.pending_batches(), 0u);
    EXPECT_EQ(c.ops_written(), static_cast<std::uint64_t>(submitters * per_thread));

    // The engine fails for a while: readers see degraded() turn on, then off once it recovers.
    engine.fail_always(true, status::code::unavailable);
    results r;
    c.submit(last, r.record(0));
    std::atomic<bool> seen_degraded{false};
    std::thread watcher([&] { seen_degraded = eventually([&] { return c.degraded(); }); });
    watcher.join();
    EXPECT_TRUE(seen_degraded.load());
    EXPECT_EQ(c.pending_batches(), 1u);
    engine.fail_always(false);
    c.flush();
    EXPECT_FALSE(c.degraded());
    done = true;
    for (auto& th : readers)
        th.join();
    EXPECT_EQ(violations.load(), 0);
    EXPECT_GT(reads.load(), 0u);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_TRUE(r.statuses[0].is_ok());
}

// Records the calls of options::on_unobserved_failure.
struct unobserved_log {
    struct call {
        status st;
        std::size_t ops = 0;
        std::thread::id thread;
    };
    std::mutex mutex;
    std::vector<call> calls;
    committer::failure_handler handler() {
        return [this](const status& st, std::size_t ops) {
            std::lock_guard lock(mutex);
            calls.push_back({st, ops, std::this_thread::get_id()});
        };
    }
    std::vector<call> snapshot() {
        std::lock_guard lock(mutex);
        return calls;
    }
};

TEST(storage_committer, failed_batches_without_completion_are_reported_once_per_group) {
    fault_store engine;
    unobserved_log log;
    committer::options o = fast_retry();
    o.backend_timeout = 20ms;
    o.on_unobserved_failure = log.handler();
    committer c(engine, o);
    // Successful writes report nothing.
    c.submit(meta_batch(0), {});
    c.flush();
    EXPECT_TRUE(log.snapshot().empty());

    engine.fail_always(true, status::code::io_error);
    engine.hold();
    c.submit(meta_batch(1), {});  // a group of its own
    ASSERT_TRUE(engine.wait_attempts(2));
    // These wait and form one group: two without a completion, one with.
    c.submit(batch_of({put_meta{"a", "1"}, put_meta{"b", "2"}}), {});
    results r;
    std::thread::id writer;
    c.submit(meta_batch(2), [&](const status& st) {
        writer = std::this_thread::get_id();
        r.record(2)(st);
    });
    c.submit(batch_of({put_session{sample_session("c")}}), {});
    c.submit(write_batch{}, {});  // empty: nothing to lose, not reported
    engine.release();
    c.flush();

    const auto calls = log.snapshot();
    ASSERT_EQ(calls.size(), 2u);
    EXPECT_EQ(calls[0].ops, 1u);  // meta_batch(1), alone in its group
    EXPECT_EQ(calls[1].ops, 3u);  // 2 + 1 operations of the second group
    for (const auto& call : calls) {
        EXPECT_EQ(call.st.error_code(), status::code::io_error) << call.st.to_string();
        EXPECT_NE(call.st.message().find("giving up"), std::string::npos) << call.st.message();
        EXPECT_EQ(call.thread, writer) << "runs on the writer thread";
    }
    EXPECT_NE(writer, std::this_thread::get_id());
    EXPECT_EQ(c.failures_unobserved(), 3u);
    EXPECT_EQ(c.ops_failed_unobserved(), 4u);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r.statuses[0].error_code(), status::code::io_error) << "the completion gets it";

    // The backend recovers: nothing more is reported.
    engine.fail_always(false);
    c.submit(meta_batch(3), {});
    c.flush();
    EXPECT_EQ(log.snapshot().size(), 2u);
    EXPECT_EQ(c.failures_unobserved(), 3u);
}

TEST(storage_committer, refused_batch_without_completion_is_reported_alone) {
    fault_store engine;
    unobserved_log log;
    committer::options o = fast_retry();
    o.on_unobserved_failure = log.handler();
    committer c(engine, o);
    engine.hold();
    c.submit(meta_batch(0), {});
    ASSERT_TRUE(engine.wait_attempts(1));
    c.submit(meta_batch(1), {});
    c.submit(batch_of({put_session{sample_session(std::string(70'000, 'x'))}, put_meta{"z", "1"}}),
             {});
    c.submit(meta_batch(3), {});
    engine.release();
    c.flush();
    const auto calls = log.snapshot();
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].st.error_code(), status::code::invalid_argument);
    EXPECT_EQ(calls[0].ops, 2u);
    EXPECT_EQ(c.failures_unobserved(), 1u);
    EXPECT_EQ(c.ops_failed_unobserved(), 2u);
    EXPECT_EQ(read_meta(engine, "k1"), std::optional<std::string>("v"));
    EXPECT_EQ(read_meta(engine, "k3"), std::optional<std::string>("v"));
}

TEST(storage_committer, batch_without_completion_after_stop_is_reported) {
    fault_store engine;
    unobserved_log log;
    committer::options o;
    o.on_unobserved_failure = log.handler();
    committer c(engine, o);
    c.stop();
    c.submit(meta_batch(0), {});
    c.submit(write_batch{}, {});
    const auto calls = log.snapshot();
    ASSERT_EQ(calls.size(), 1u);
    EXPECT_EQ(calls[0].st.error_code(), status::code::invalid_argument);
    EXPECT_EQ(calls[0].ops, 1u);
    EXPECT_EQ(calls[0].thread, std::this_thread::get_id()) << "no writer thread is left";
    EXPECT_EQ(c.failures_unobserved(), 1u);
    EXPECT_EQ(engine.attempts(), 0);
}

TEST(storage_committer, flush_waits_for_earlier_submissions) {
    fault_store engine;
    committer c(engine, {});
    engine.hold();
    std::atomic<bool> completed{false};
    c.submit(meta_batch(0), [&](const status&) { completed = true; });
    ASSERT_TRUE(engine.wait_attempts(1));
    std::atomic<bool> flushed{false};
    bool completed_when_flushed = false;
    std::thread flusher([&] {
        c.flush();
        completed_when_flushed = completed.load();
        flushed = true;
    });
    EXPECT_FALSE(flushed.load()) << "flush returned while the write was held";
    engine.release();
    flusher.join();
    EXPECT_TRUE(completed_when_flushed);
}

TEST(storage_committer, stop_completes_queued_work_and_is_idempotent) {
    fault_store engine;
    committer c(engine, {});
    engine.hold();
    results r;
    for (int i = 0; i < 10; ++i)
        c.submit(meta_batch(i), r.record(i));
    ASSERT_TRUE(engine.wait_attempts(1));
    std::thread stopper([&] { c.stop(); });
    engine.release();
    stopper.join();
    ASSERT_EQ(r.size(), 10u);
    for (const auto& st : r.statuses)
        EXPECT_TRUE(st.is_ok());
    for (int i = 0; i < 10; ++i)
        EXPECT_TRUE(read_meta(engine, numbered("k", i)).has_value());
    c.stop();
    // After stop, submit completes at once, on the caller's thread, with invalid_argument.
    bool called = false;
    c.submit(meta_batch(99), [&](const status& st) {
        called = true;
        EXPECT_EQ(st.error_code(), status::code::invalid_argument);
    });
    EXPECT_TRUE(called);
    EXPECT_FALSE(read_meta(engine, "k99").has_value());
    c.submit(meta_batch(100), {});  // an empty completion is allowed
    c.flush();
    EXPECT_EQ(c.pending_batches(), 0u);
}

TEST(storage_committer, destructor_stops) {
    fault_store engine;
    results r;
    {
        committer c(engine, {});
        for (int i = 0; i < 20; ++i)
            c.submit(meta_batch(i), r.record(i));
    }
    EXPECT_EQ(r.size(), 20u);
}

}  // namespace
}  // namespace rmqtt::storage::test
