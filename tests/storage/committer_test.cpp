// The group committer (committer.hpp) in front of the memory engine, wrapped in a fake that can
// hold a write (to make grouping deterministic) and fail writes (to drive the retry logic).
#include "rmqtt/storage/committer.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

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

// A memory store whose write() can be held at a gate and made to fail.
class fake_store final : public store {
  public:
    std::string_view engine_name() const noexcept override { return "memory"; }
    std::string location() const override { return "fake"; }

    status write(const write_batch& batch) override {
        std::unique_lock lock(mutex_);
        ++attempts_;
        writes_.push_back(batch);
        changed_.notify_all();
        changed_.wait(lock, [&] { return !held_; });
        if (fail_next_ > 0) {
            --fail_next_;
            return status::error(fail_code_, "injected failure");
        }
        if (fail_always_) return status::error(fail_code_, "injected outage");
        return inner_->write(batch);
    }

    status for_each_session(const std::function<bool(session_record&&)>& fn) override {
        return inner_->for_each_session(fn);
    }
    status load_subscriptions(std::string_view id, std::vector<subscription_record>& out) override {
        return inner_->load_subscriptions(id, out);
    }
    status load_queue(std::string_view id, std::uint64_t from, std::size_t limit,
                      std::vector<queue_entry>& out) override {
        return inner_->load_queue(id, from, limit, out);
    }
    status load_queue_bounds(std::string_view id, std::optional<queue_bounds>& out) override {
        return inner_->load_queue_bounds(id, out);
    }
    status load_inbound_qos2(std::string_view id, std::vector<std::uint16_t>& out) override {
        return inner_->load_inbound_qos2(id, out);
    }
    status for_each_retained(const std::function<bool(message_record&&)>& fn) override {
        return inner_->for_each_retained(fn);
    }
    status get_meta(std::string_view key, std::optional<std::string>& out) override {
        return inner_->get_meta(key, out);
    }
    status check() override { return inner_->check(); }
    status close() override { return inner_->close(); }

    void hold() {
        std::lock_guard lock(mutex_);
        held_ = true;
    }
    void release() {
        {
            std::lock_guard lock(mutex_);
            held_ = false;
        }
        changed_.notify_all();
    }
    void fail_next(int n, status::code c) {
        std::lock_guard lock(mutex_);
        fail_next_ = n;
        fail_code_ = c;
    }
    void fail_always(bool on, status::code c = status::code::unavailable) {
        std::lock_guard lock(mutex_);
        fail_always_ = on;
        fail_code_ = c;
    }
    int attempts() {
        std::lock_guard lock(mutex_);
        return attempts_;
    }
    std::vector<write_batch> writes() {
        std::lock_guard lock(mutex_);
        return writes_;
    }
    // Waits (bounded) until write() has been entered `n` times.
    bool wait_attempts(int n) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, 10s, [&] { return attempts_ >= n; });
    }

  private:
    std::unique_ptr<store> inner_ = make_memory_store();
    std::mutex mutex_;
    std::condition_variable changed_;
    bool held_ = false;
    int fail_next_ = 0;
    bool fail_always_ = false;
    status::code fail_code_ = status::code::unavailable;
    int attempts_ = 0;
    std::vector<write_batch> writes_;
};

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
    fake_store engine;
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

TEST(storage_committer, completions_run_on_writer_thread_in_submission_order) {
    fake_store engine;
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
    fake_store engine;
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
    fake_store engine;
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
    fake_store engine;
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

TEST(storage_committer, superseded_put_is_not_written) {
    fake_store engine;
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
    fake_store engine;
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
    fake_store engine;
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

TEST(storage_committer, respects_max_batch_ops) {
    fake_store engine;
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
    fake_store engine;
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
    fake_store engine;
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
    fake_store engine;
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
    fake_store engine;
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
    fake_store engine;
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
    fake_store engine;
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
    fake_store engine;
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
    fake_store engine;
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

TEST(storage_committer, flush_waits_for_earlier_submissions) {
    fake_store engine;
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
    fake_store engine;
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
    fake_store engine;
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
