#pragma once

#include <functional>
#include <memory>

#include "rmqtt/broker/config.hpp"
#include "rmqtt/storage/committer.hpp"
#include "rmqtt/storage/store.hpp"

namespace rmqtt::broker {

// The broker's handle on the session store: an engine behind a group committer, with the ack
// policy of rmqtt-session-storage.toml.
//
// Thread safety: every method may be called from any thread. Completions run on the
// committer's thread; callers post back to their own executor.
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
    // Runs `fn` on the committer thread after every batch submitted before has completed, so
    // it reads those writes. The engine is not used by anything else while `fn` runs.
    void read(std::function<void(storage::store&)> fn);

    bool durable_acks() const noexcept { return durable_; }
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
    // Completes everything queued, then closes the engine. Idempotent.
    storage::status close();

  private:
    std::unique_ptr<storage::store> engine_;
    session_storage_config cfg_;
    bool durable_;
    storage::committer committer_;
    bool closed_ = false;
};

}  // namespace rmqtt::broker
