#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "rmqtt/storage/store.hpp"

namespace rmqtt::storage {

// Group commit in front of a store. Any thread submits batches; one writer thread drains the
// queue, merges what is waiting (up to `max_batch_ops`) into one store::write, then runs each
// batch's completion on the writer thread, in submission order (options::complete_cancelled_early
// lets batches that need no write complete earlier).
//
// Cancellation in the queue: while an operation waits in the queue (not yet taken by the writer)
// a later operation on the same queue entry can make it unnecessary. A delete_queue_entry
// cancels the put_queue_entry still waiting for it, and itself (the message was delivered and
// acknowledged before it reached the disk); an update_queue_entry of a waiting put is folded
// into the put; an update that a later update or the entry's delete replaces is dropped. A batch
// whose operations have all gone completes without a write as soon as the batches before it have
// completed (with options::complete_cancelled_early, at once if they all went in put/delete
// pairs). The writer takes the queue once its oldest batch has waited `window` (or
// max_batch_ops are waiting, or flush() / stop() asks), also under load: the window is what lets
// a subscriber's acknowledgement catch up with the put of its message, so a busy broker writes
// only what outlives it.
//
// Failures: a write that fails with `unavailable` or `io_error` is retried with backoff until
// `backend_timeout` has passed since the group's first attempt; then every completion of the
// group gets the error. Nothing is dropped silently: a failed batch that has no completion is
// reported to options::on_unobserved_failure and counted in failures_unobserved().
class committer {
  public:
    // Receives the error and the number of operations of failed batches that had no completion.
    using failure_handler = std::function<void(const status&, std::size_t ops)>;

    struct options {
        // The window a write waits in the queue. Under load it stretches (up to
        // max_window_factor times) while subscribers' acknowledgements arrive, but too late for
        // many of their puts, and shrinks back when they come early or do not come at all.
        std::chrono::microseconds window{500};
        std::size_t max_batch_ops = 4096;
        std::chrono::milliseconds backend_timeout{15000};
        std::chrono::milliseconds retry_initial{50};
        std::chrono::milliseconds retry_max{2000};
        // A batch whose operations have all been cancelled in put/delete pairs (each put of a
        // queue entry by the entry's delete, each put_message with its last reference, each
        // delete by its put) needs nothing written, before or after it: with this set it
        // completes (ok) at once, on the thread whose submit() cancelled its last operation,
        // after that submit() has released the committer's lock, and may complete before
        // batches submitted earlier. A batch that is empty as submitted (a barrier), or that
        // lost an operation any other way (an update folded into a put, an update or a put
        // replaced by a later one), still completes on the writer thread in submission order.
        // flush(), stop() and the pending counters still count such a batch until the writer has
        // passed it.
        bool complete_cancelled_early = false;
        // Called when batches submitted without a completion fail for good: once per failed
        // group with the operations of all such batches in it (a group that fails as a whole),
        // or once per such batch that the engine refused on its own. Runs on the writer thread;
        // for a batch submitted after stop(), on the submitting thread. Must not throw, and
        // like a completion must not call flush() or stop(). May be empty.
        failure_handler on_unobserved_failure;
    };
    using completion = std::function<void(const status&)>;

    committer(store& engine, options opts);
    ~committer();  // stop()
    committer(const committer&) = delete;
    committer& operator=(const committer&) = delete;

    // Thread-safe. `done` may be empty. After stop(), completes at once with invalid_argument.
    void submit(write_batch batch, completion done);

    // Bytes submitted and not yet completed (approximate), for back-pressure.
    // pending_bytes(), pending_batches(), degraded() and the counters below are lock-free (one
    // relaxed atomic load each), so they may be called for every PUBLISH. Each value is exact at
    // some moment between the call and its return; two calls are not a consistent pair.
    std::size_t pending_bytes() const noexcept;
    std::size_t pending_batches() const noexcept;
    // True while the last write attempt failed and the writer is retrying.
    bool degraded() const noexcept;

    // Blocks until everything submitted before the call has completed. Never call it (or stop())
    // from a completion: completions run on the writer thread (or inside a submit()).
    void flush();
    // Completes what is queued, then joins the writer thread. Idempotent.
    void stop();

    // Counters for metrics and tests.
    std::uint64_t groups_written() const noexcept;
    std::uint64_t ops_written() const noexcept;
    std::uint64_t ops_cancelled() const noexcept;  // put+delete pairs that never reached the engine
    std::uint64_t ops_submitted() const noexcept;  // operations of every batch submitted
    // Updates folded into a put of the same group, or dropped before a delete of their entry
    // (not counted in ops_cancelled).
    std::uint64_t updates_absorbed() const noexcept;
    // Bytes the engine reports for the groups it wrote (store::bytes_written, read once per
    // group on the writer thread).
    std::uint64_t bytes_written() const noexcept;
    // The window in use now (options::window, stretched under load).
    std::chrono::microseconds current_window() const noexcept;
    static constexpr int max_window_factor = 8;
    // Deletes per adjustment of the window.
    static constexpr std::uint32_t window_sample = 256;
    // Batches without a completion that failed for good, and their operations (the calls of
    // options::on_unobserved_failure add up to these).
    std::uint64_t failures_unobserved() const noexcept;
    std::uint64_t ops_failed_unobserved() const noexcept;

    // Commit latency, from submit() to the completion of each batch (the wait in the window
    // included), as a histogram: latency_bucket(i) counts the batches with a latency at most
    // latency_bounds_us()[i] and above the bound before; latency_bucket(bounds.size()) the rest.
    static std::span<const std::uint64_t> latency_bounds_us() noexcept;
    std::uint64_t latency_bucket(std::size_t i) const noexcept;
    std::uint64_t latency_sum_us() const noexcept;

  private:
    struct item {
        write_batch batch;
        completion done;
        std::size_t bytes = 0;
        std::size_t ops = 0;  // as submitted, before cancellation
        std::chrono::steady_clock::time_point queued_at;
        std::size_t live = 0;    // operations not cancelled (dead is empty while all are live)
        std::vector<char> dead;  // per operation, once one is cancelled
        bool pairs_only = true;  // every cancelled operation went in a put/delete pair
        bool completed_early = false;  // its completion ran in submit()
    };
    // Where the queue holds operations on one queue entry (client id, seq): its put, or else its
    // last update. Items are numbered in submission order; the key's client id points into the
    // operation, which stays in place until the writer takes the item (its entry goes then).
    struct op_ref {
        std::uint64_t item = 0;
        std::size_t op = 0;
    };
    struct entry_ops {
        std::optional<op_ref> put;
        std::optional<op_ref> update;
    };
    struct entry_key {
        std::string_view client_id;
        std::uint64_t seq;
        bool operator==(const entry_key&) const = default;
    };
    struct entry_key_hash {
        std::size_t operator()(const entry_key& k) const noexcept;
    };
    // A waiting put_message and how many waiting puts of queue entries reference it: when the
    // last of those is cancelled, so is the message (the engine would drop it anyway, unwritten;
    // cancelling it here saves the work).
    struct message_ops {
        op_ref put;
        std::size_t refs = 0;
    };
    // Under mutex_: applies the queue entry operations of the item just queued to the waiting ones.
    void cancel_waiting(std::uint64_t id);
    // `pair`: cancelled with its counterpart (a put with its delete); anything else keeps the
    // item from completing early (options::complete_cancelled_early).
    void kill(const op_ref& r, bool pair);
    // Under mutex_: kills the put_queue_entry at `r`, and its message's put with its last
    // reference.
    void kill_put(const op_ref& r, bool pair);
    item& item_at(std::uint64_t id) { return queue_[static_cast<std::size_t>(id - front_id_)]; }
    // Under mutex_: counts a delete_queue_entry (cancelling a waiting put after `delay`, or not)
    // and adjusts window_ every window_sample deletes.
    void note_delete(bool cancelled, std::chrono::steady_clock::duration delay);
    // Under mutex_: the item at the front is taken by the writer; its entries leave the index.
    void unindex_front();
    // Under mutex_: whether the writer has to wake for the dead batches at the front.
    bool dead_front_waits() const;
    void note_latency(std::chrono::steady_clock::duration d);
    void run();
    // One store::write, retried on unavailable / io_error until backend_timeout.
    status write_with_retry(const write_batch& batch);
    // Counts and reports failed batches that had no completion.
    void report_unobserved(const status& st, std::size_t batches, std::size_t ops);

    store& engine_;
    options opts_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::condition_variable drained_;
    std::deque<item> queue_;
    std::uint64_t front_id_ = 0;  // number of queue_.front(): items submitted before it
    std::unordered_map<entry_key, entry_ops, entry_key_hash> waiting_;
    std::unordered_map<std::uint64_t, message_ops> waiting_messages_;  // by message id
    std::chrono::microseconds window_;  // under mutex_; current_window_ mirrors it
    std::atomic<std::int64_t> current_window_us_{0};
    std::uint32_t sample_deletes_ = 0;
    std::uint32_t sample_cancels_ = 0;
    std::chrono::steady_clock::duration sample_max_delay_{};
    // Under mutex_: items whose last live operation a kill() of the current submit() removed.
    std::vector<std::uint64_t> emptied_;
    std::size_t queued_ops_ = 0;  // operations in queue_ (not yet taken by the writer)
    std::size_t flushers_ = 0;    // threads in flush(): the writer skips its window for them
    std::uint64_t submitted_ = 0;
    std::uint64_t completed_ = 0;
    bool stopping_ = false;
    // Read without the mutex. The pending values change under it, with submitted_ and
    // completed_; the others are written outside it (atomic read-modify-write).
    std::atomic<std::size_t> pending_bytes_{0};
    std::atomic<std::size_t> pending_batches_{0};
    std::atomic<bool> degraded_{false};
    std::atomic<std::uint64_t> groups_{0};
    std::atomic<std::uint64_t> ops_{0};
    std::atomic<std::uint64_t> cancelled_{0};
    std::atomic<std::uint64_t> submitted_ops_{0};
    std::atomic<std::uint64_t> absorbed_{0};
    std::atomic<std::uint64_t> bytes_{0};
    std::atomic<std::uint64_t> unobserved_batches_{0};
    std::atomic<std::uint64_t> unobserved_ops_{0};
    static constexpr std::array<std::uint64_t, 14> latency_bounds_{
        100,   250,   500,    1000,   2500,   5000,    10000,
        25000, 50000, 100000, 250000, 500000, 1000000, 5000000};
    std::array<std::atomic<std::uint64_t>, latency_bounds_.size() + 1> latency_counts_{};
    std::atomic<std::uint64_t> latency_sum_us_{0};
    std::thread thread_;
};

}  // namespace rmqtt::storage
