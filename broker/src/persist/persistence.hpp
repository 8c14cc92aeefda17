#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "rmqtt/broker/services.hpp"
#include "rmqtt/storage/committer.hpp"
#include "rmqtt/storage/store.hpp"

namespace rmqtt::broker {

// The broker's handle on the session store: an engine behind a group committer, with the ack
// policy of rmqtt-session-storage.toml, and a reader thread that reads while the committer
// writes (store::open_reader).
//
// Thread safety: every method may be called from any thread. Completions run on the
// committer's thread, read_async functions on the reader thread; callers post back to their own
// executor. A batch whose operations all cancelled in put/delete pairs (its subscribers
// acknowledged the message before its put was written) completes at once, on the thread whose
// submit() cancelled the last of them (committer::options::complete_cancelled_early).
class persistence {
  public:
    using completion = std::function<void(const storage::status&)>;

    persistence(std::unique_ptr<storage::store> engine, const session_storage_config& cfg);
    ~persistence();
    persistence(const persistence&) = delete;
    persistence& operator=(const persistence&) = delete;

    // With ack = "durable", `done` runs once the batch is committed (or failed for good).
    // With ack = "async", `done` runs at once with ok and the batch is written behind.
    void submit(storage::write_batch batch, completion done);
    // Fire and forget: ordered after everything submitted before, no completion wanted.
    void submit(storage::operation op);
    void submit(storage::write_batch batch);
    // Runs `fn` on the reader thread once every batch submitted before the call has completed,
    // so it reads those writes (a failed batch's writes are not there to read). Nothing is read
    // on the committer's thread: a large read (a returning client's queue) does not hold up
    // commits. Reads run one at a time, in call order; the reader is used by nothing else while
    // `fn` runs. After close(), `fn` runs at once on the calling thread with a reader whose calls
    // fail with invalid_argument. `fn` must not throw, and must not call flush() or close().
    void read_async(std::function<void(storage::store_reader&)> fn);
    // Like read_async, but runs `fn` on the committer's thread with the engine itself, so no
    // write is committed while it runs: for start-up, before anything else writes. Elsewhere
    // use read_async.
    void read(std::function<void(storage::store&)> fn);

    bool durable_acks() const noexcept { return durable_; }
    // Whether a message for several persistent sessions is stored once (storage::put_message),
    // and the ids for those messages: unique in the store (above every id stored at start-up).
    bool shared_messages() const noexcept { return shared_messages_; }
    std::uint64_t next_message_id() noexcept {
        return next_message_id_.fetch_add(1, std::memory_order_relaxed);
    }
    // Back-pressure: more is waiting than max_pending_bytes, or the engine is failing.
    bool overloaded() const noexcept;
    bool degraded() const noexcept { return committer_.degraded(); }
    // Batches submitted without a completion (fire and forget, or anything with ack = "async")
    // that failed for good, and their operations: each failure is logged at error level; these
    // are the counters for metrics.
    std::uint64_t unobserved_failures() const noexcept { return committer_.failures_unobserved(); }
    std::uint64_t unobserved_failed_ops() const noexcept {
        return committer_.ops_failed_unobserved();
    }
    const session_storage_config& settings() const noexcept { return cfg_; }
    storage::committer& committer() noexcept { return committer_; }
    std::string describe() const;  // "rocksdb at ./data/session/1"

    void flush() { committer_.flush(); }
    // Completes everything queued (writes, then the reads waiting for them), stops the reader
    // thread, then closes the engine. Idempotent.
    storage::status close();

  private:
    using read_fn = std::function<void(storage::store_reader&)>;
    // Called when the writes before a read_async have completed: hands `fn` to the reader thread.
    void start_read(read_fn fn);
    void run_reads();
    void stop_reads();

    std::unique_ptr<storage::store> engine_;
    session_storage_config cfg_;
    bool durable_;
    bool shared_messages_ = false;
    std::atomic<std::uint64_t> next_message_id_{1};
    storage::committer committer_;
    bool closed_ = false;

    // The reader thread. Without a reader from the engine (has_reader_ false, fixed once
    // constructed), reads run on the committer's thread, as read() does. reader_ is used on the
    // reader thread only, and released by close() once that thread has ended.
    bool has_reader_ = false;
    std::unique_ptr<storage::store_reader> reader_;
    std::mutex reads_mutex_;
    std::condition_variable reads_wake_;
    std::deque<read_fn> reads_;  // ready to run, in call order
    bool reads_stopping_ = false;
    std::thread reader_thread_;
};

}  // namespace rmqtt::broker
