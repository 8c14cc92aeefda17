#include "rmqtt/storage/committer.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rmqtt::storage {

namespace {

constexpr std::size_t none = std::numeric_limits<std::size_t>::max();

bool retryable(const status& st) {
    return st.error_code() == status::code::unavailable ||
           st.error_code() == status::code::io_error;
}

struct queue_key {
    std::string_view client_id;
    std::uint64_t seq;
    bool operator==(const queue_key&) const = default;
};
struct queue_key_hash {
    std::size_t operator()(const queue_key& k) const noexcept {
        return std::hash<std::string_view>{}(k.client_id) ^
               static_cast<std::size_t>(k.seq * 0x9E3779B97F4A7C15ull);
    }
};

// Finds, within one merged group, the queue entries that are put and deleted again, and marks
// the put, the delete and every update in between as not to be written (keep[i] = 0). A later
// put of a live key supersedes the earlier put and the updates since (a put replaces the whole
// entry), so they are dropped too. Returns the number of cancelled put+delete pairs.
//
// Precondition (the broker's, see records.hpp): a put creates the entry; seq is never reused
// while the entry exists, so a put followed by a delete in one group leaves nothing behind.
// delete_session needs no special care: it is always written and removes whatever the engine
// holds for the client; ops cancelled around it would have left nothing either.
class canceller {
  public:
    std::uint64_t run(const std::vector<operation>& ops, std::vector<char>& keep) {
        bool any_delete = false;
        for (const operation& op : ops) {
            if (std::holds_alternative<delete_queue_entry>(op)) {
                any_delete = true;
                break;
            }
        }
        if (!any_delete) return 0;
        live_.clear();
        link_.assign(ops.size(), none);
        std::uint64_t pairs = 0;
        for (std::size_t i = 0; i < ops.size(); ++i) {
            if (const auto* put = std::get_if<put_queue_entry>(&ops[i])) {
                auto [it, fresh] =
                    live_.try_emplace(queue_key{put->client_id, put->entry.seq}, live_put{i, none});
                if (!fresh) {
                    drop(it->second, keep);  // superseded by this put
                    it->second = live_put{i, none};
                }
            } else if (const auto* upd = std::get_if<update_queue_entry>(&ops[i])) {
                auto it = live_.find(queue_key{upd->client_id, upd->seq});
                if (it != live_.end()) {
                    link_[i] = it->second.last_update;
                    it->second.last_update = i;
                }
            } else if (const auto* del = std::get_if<delete_queue_entry>(&ops[i])) {
                auto it = live_.find(queue_key{del->client_id, del->seq});
                if (it != live_.end()) {
                    drop(it->second, keep);
                    keep[i] = 0;
                    ++pairs;
                    live_.erase(it);
                }
            }
        }
        return pairs;
    }

  private:
    struct live_put {
        std::size_t put;
        std::size_t last_update;
    };
    void drop(const live_put& p, std::vector<char>& keep) const {
        keep[p.put] = 0;
        for (std::size_t u = p.last_update; u != none; u = link_[u])
            keep[u] = 0;
    }

    std::unordered_map<queue_key, live_put, queue_key_hash> live_;
    std::vector<std::size_t> link_;  // update index -> previous update of the same live put
};

}  // namespace

committer::committer(store& engine, options opts) : engine_(engine), opts_(opts) {
    if (opts_.max_batch_ops == 0) opts_.max_batch_ops = 1;
    if (opts_.retry_initial < std::chrono::milliseconds(1)) {
        opts_.retry_initial = std::chrono::milliseconds(1);  // never spin on a failing backend
    }
    if (opts_.retry_max < opts_.retry_initial) opts_.retry_max = opts_.retry_initial;
    thread_ = std::thread([this] { run(); });
}

committer::~committer() {
    stop();
}

void committer::submit(write_batch batch, completion done) {
    const std::size_t bytes = batch.approximate_size();
    const std::size_t ops = batch.ops.size();
    {
        std::unique_lock lock(mutex_);
        if (!stopping_) {
            const bool was_empty = queue_.empty();
            queue_.push_back(item{std::move(batch), std::move(done), bytes, ops,
                                  std::chrono::steady_clock::now()});
            pending_bytes_.fetch_add(bytes, std::memory_order_relaxed);
            pending_batches_.fetch_add(1, std::memory_order_relaxed);
            ++submitted_;
            queued_ops_ += ops;
            submitted_ops_.fetch_add(ops, std::memory_order_relaxed);
            // The writer waits for work, or during its window for a full group.
            const bool notify = was_empty || queued_ops_ >= opts_.max_batch_ops;
            lock.unlock();
            if (notify) wake_.notify_one();
            return;
        }
    }
    const status stopped =
        status::error(status::code::invalid_argument, "the committer is stopped");
    if (done) {
        done(stopped);
    } else if (ops > 0) {
        report_unobserved(stopped, 1, ops);
    }
}

void committer::report_unobserved(const status& st, std::size_t batches, std::size_t ops) {
    unobserved_batches_.fetch_add(batches, std::memory_order_relaxed);
    unobserved_ops_.fetch_add(ops, std::memory_order_relaxed);
    if (opts_.on_unobserved_failure) opts_.on_unobserved_failure(st, ops);
}

std::size_t committer::pending_bytes() const noexcept {
    return pending_bytes_.load(std::memory_order_relaxed);
}

std::size_t committer::pending_batches() const noexcept {
    return pending_batches_.load(std::memory_order_relaxed);
}

bool committer::degraded() const noexcept {
    return degraded_.load(std::memory_order_relaxed);
}

std::uint64_t committer::groups_written() const noexcept {
    return groups_.load(std::memory_order_relaxed);
}

std::uint64_t committer::ops_written() const noexcept {
    return ops_.load(std::memory_order_relaxed);
}

std::uint64_t committer::ops_cancelled() const noexcept {
    return cancelled_.load(std::memory_order_relaxed);
}

std::uint64_t committer::ops_submitted() const noexcept {
    return submitted_ops_.load(std::memory_order_relaxed);
}

std::uint64_t committer::updates_absorbed() const noexcept {
    return absorbed_.load(std::memory_order_relaxed);
}

std::uint64_t committer::bytes_written() const noexcept {
    return bytes_.load(std::memory_order_relaxed);
}

std::uint64_t committer::failures_unobserved() const noexcept {
    return unobserved_batches_.load(std::memory_order_relaxed);
}

std::uint64_t committer::ops_failed_unobserved() const noexcept {
    return unobserved_ops_.load(std::memory_order_relaxed);
}

void committer::flush() {
    std::unique_lock lock(mutex_);
    const std::uint64_t target = submitted_;
    if (completed_ >= target) return;
    ++flushers_;
    wake_.notify_one();  // ends a window the writer may be waiting out
    drained_.wait(lock, [&] { return completed_ >= target; });
    --flushers_;
}

void committer::stop() {
    std::thread writer;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        writer = std::move(thread_);
    }
    wake_.notify_all();
    if (writer.joinable()) writer.join();
    // A concurrent second caller gets no thread to join: it waits for the same drain instead.
    flush();
}

status committer::write_with_retry(const write_batch& batch) {
    using clock = std::chrono::steady_clock;
    const auto first_attempt = clock::now();
    auto delay = std::chrono::duration_cast<clock::duration>(opts_.retry_initial);
    for (;;) {
        status st = engine_.write(batch);
        if (st.is_ok() || !retryable(st)) {
            if (st.is_ok()) degraded_.store(false, std::memory_order_relaxed);
            return st;
        }
        // Stays true after a give-up until a write succeeds: the backend is still failing.
        degraded_.store(true, std::memory_order_relaxed);
        const auto elapsed = clock::now() - first_attempt;
        if (elapsed >= opts_.backend_timeout) {
            const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count();
            return status::error(st.error_code(), "store write failed for " + std::to_string(ms) +
                                                      " ms, giving up: " + st.message());
        }
        std::this_thread::sleep_for(std::min<clock::duration>(
            delay, std::chrono::duration_cast<clock::duration>(opts_.backend_timeout) - elapsed));
        delay = std::min<clock::duration>(
            delay * 2, std::chrono::duration_cast<clock::duration>(opts_.retry_max));
    }
}

void committer::run() {
    std::vector<item> group;
    std::vector<std::size_t> kept_per_item;
    std::vector<status> results;
    std::vector<char> keep;
    write_batch merged;
    canceller cancel;

    std::unique_lock lock(mutex_);
    for (;;) {
        if (queue_.empty()) {
            if (stopping_) break;
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) continue;
            // Woken from idle: give concurrent submitters one window to join this group. Work that
            // queued while the previous group was being written has waited already and goes now.
            const auto window_over = [&] {
                return stopping_ || flushers_ > 0 || queued_ops_ >= opts_.max_batch_ops;
            };
            if (opts_.window.count() > 0 && !window_over()) {
                wake_.wait_for(lock, opts_.window, window_over);
            }
        }
        // Take whole batches up to max_batch_ops (a single larger batch goes alone).
        std::size_t group_ops = 0;
        std::size_t group_bytes = 0;
        while (!queue_.empty()) {
            const std::size_t n = queue_.front().batch.ops.size();
            if (!group.empty() && group_ops + n > opts_.max_batch_ops) break;
            group_ops += n;
            queued_ops_ -= n;
            group_bytes += queue_.front().bytes;
            group.push_back(std::move(queue_.front()));
            queue_.pop_front();
        }
        lock.unlock();

        // Merge (moving the operations), cancel put+delete pairs, compact in order.
        merged.ops.clear();
        merged.ops.reserve(group_ops);
        for (item& it : group) {
            std::move(it.batch.ops.begin(), it.batch.ops.end(), std::back_inserter(merged.ops));
        }
        keep.assign(merged.ops.size(), 1);
        const std::uint64_t pairs = cancel.run(merged.ops, keep);
        kept_per_item.assign(group.size(), 0);
        std::size_t out = 0;
        std::size_t in = 0;
        for (std::size_t g = 0; g < group.size(); ++g) {
            for (std::size_t end = in + group[g].batch.ops.size(); in < end; ++in) {
                if (!keep[in]) continue;
                if (out != in) merged.ops[out] = std::move(merged.ops[in]);
                ++out;
                ++kept_per_item[g];
            }
        }
        merged.ops.resize(out);

        results.assign(group.size(), status::ok());
        status st = merged.empty() ? status::ok() : write_with_retry(merged);
        std::uint64_t written = st.is_ok() ? out : 0;
        std::uint64_t groups = st.is_ok() && !merged.empty() ? 1 : 0;
        const bool split = !st.is_ok() && group.size() > 1 && !retryable(st);
        if (split) {
            // A batch the engine refuses (invalid_argument, corruption) must not fail the
            // batches merged with it: write each one alone and give each its own result.
            std::size_t pos = 0;
            for (std::size_t g = 0; g < group.size(); ++g) {
                write_batch alone;
                alone.ops.reserve(kept_per_item[g]);
                for (std::size_t k = 0; k < kept_per_item[g]; ++k) {
                    alone.ops.push_back(std::move(merged.ops[pos++]));
                }
                results[g] = alone.empty() ? status::ok() : write_with_retry(alone);
                if (results[g].is_ok() && !alone.empty()) {
                    written += alone.ops.size();
                    ++groups;
                }
            }
        } else {
            for (status& r : results)
                r = st;
        }

        for (std::size_t g = 0; g < group.size(); ++g) {
            if (group[g].done) group[g].done(results[g]);
        }
        if (!st.is_ok()) {
            // Batches nobody waits for: one report for the group's shared error, one per batch
            // refused on its own.
            std::size_t lost_batches = 0;
            std::size_t lost_ops = 0;
            for (std::size_t g = 0; g < group.size(); ++g) {
                if (group[g].done || results[g].is_ok() || group[g].ops == 0) continue;
                if (split) {
                    report_unobserved(results[g], 1, group[g].ops);
                } else {
                    ++lost_batches;
                    lost_ops += group[g].ops;
                }
            }
            if (lost_batches > 0) report_unobserved(st, lost_batches, lost_ops);
        }

        groups_.fetch_add(groups, std::memory_order_relaxed);
        ops_.fetch_add(written, std::memory_order_relaxed);
        bytes_.store(engine_.bytes_written(), std::memory_order_relaxed);
        if (st.is_ok()) cancelled_.fetch_add(pairs, std::memory_order_relaxed);
        lock.lock();
        pending_bytes_.fetch_sub(group_bytes, std::memory_order_relaxed);
        pending_batches_.fetch_sub(group.size(), std::memory_order_relaxed);
        completed_ += group.size();
        group.clear();
        drained_.notify_all();
    }
}

}  // namespace rmqtt::storage
