#include "rmqtt/storage/committer.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rmqtt::storage {

namespace {

bool retryable(const status& st) {
    return st.error_code() == status::code::unavailable ||
           st.error_code() == status::code::io_error;
}

}  // namespace

std::size_t committer::entry_key_hash::operator()(const entry_key& k) const noexcept {
    return std::hash<std::string_view>{}(k.client_id) ^
           static_cast<std::size_t>(k.seq * 0x9E3779B97F4A7C15ull);
}

committer::committer(store& engine, options opts)
    : engine_(engine), opts_(opts), window_(opts.window) {
    current_window_us_.store(window_.count(), std::memory_order_relaxed);
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
            // One clock read per submit (a costly call on some VMs), under the lock so queue
            // times increase along the queue: the batch's queue time, and the end of the latency
            // of the batches it completes early.
            const auto now = std::chrono::steady_clock::now();
            const bool was_empty = queue_.empty();
            queue_.push_back(
                item{std::move(batch), std::move(done), bytes, ops, now, ops, {}, true, false});
            pending_bytes_.fetch_add(bytes, std::memory_order_relaxed);
            pending_batches_.fetch_add(1, std::memory_order_relaxed);
            const std::uint64_t id = submitted_++;
            queued_ops_ += ops;
            submitted_ops_.fetch_add(ops, std::memory_order_relaxed);
            const bool front_was_live = !was_empty && queue_.front().live > 0;
            emptied_.clear();
            cancel_waiting(id);
            // Batches left with nothing to write by put/delete pairs complete here, after the
            // unlock (options::complete_cancelled_early).
            completion first;
            std::vector<completion> more;
            std::chrono::steady_clock::time_point first_queued_at;
            std::vector<std::chrono::steady_clock::time_point> more_queued_at;
            if (opts_.complete_cancelled_early) {
                for (const std::uint64_t e : emptied_) {
                    item& x = item_at(e);
                    if (x.live != 0 || !x.pairs_only || !x.done) continue;
                    x.completed_early = true;
                    if (!first) {
                        first = std::move(x.done);
                        first_queued_at = x.queued_at;
                    } else {
                        more.push_back(std::move(x.done));
                        more_queued_at.push_back(x.queued_at);
                    }
                    x.done = nullptr;
                }
            }
            // The writer waits for work, during its window for a full group, and for the front
            // batch to need no write. A front that completed early needs the writer only for
            // what waits behind it: a batch that needs no write and still has to complete.
            const bool notify = was_empty || queued_ops_ >= opts_.max_batch_ops ||
                                (front_was_live && queue_.front().live == 0 && dead_front_waits());
            lock.unlock();
            if (notify) wake_.notify_one();
            if (first) {
                first(status::ok());
                note_latency(now - first_queued_at);
                for (std::size_t k = 0; k < more.size(); ++k) {
                    more[k](status::ok());
                    note_latency(now - more_queued_at[k]);
                }
            }
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

// Whether the batches at the front that need no write include one the writer must complete: a
// run of batches without a completion (or completed early) is passed over, up to a bound past
// which the writer is woken all the same.
bool committer::dead_front_waits() const {
    constexpr std::size_t scan = 16;
    for (std::size_t k = 0; k < queue_.size() && k < scan; ++k) {
        const item& x = queue_[k];
        if (x.live > 0) return false;  // the writer's window covers it
        if (x.done) return true;
    }
    return true;
}

void committer::note_latency(std::chrono::steady_clock::duration d) {
    const auto us = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(d).count());
    const auto bucket = std::lower_bound(latency_bounds_.begin(), latency_bounds_.end(), us) -
                        latency_bounds_.begin();
    latency_counts_[static_cast<std::size_t>(bucket)].fetch_add(1, std::memory_order_relaxed);
    latency_sum_us_.fetch_add(us, std::memory_order_relaxed);
}

// Preconditions (the broker's, see records.hpp): a put creates the entry, and seq is never reused
// while the entry exists, so a put followed by a delete leaves nothing behind; an update replaces
// both state and packet id, and on a missing entry does nothing; a put replaces the whole entry.
// delete_session needs no care: it is never cancelled and removes whatever the engine holds for
// the client, so operations cancelled or folded around it would have left nothing either.
// Every batch completes in submission order, so an update folded into an earlier put is
// committed before anything submitted after the update completes.
void committer::cancel_waiting(std::uint64_t id) {
    item& it = item_at(id);
    std::uint64_t pairs = 0;
    std::uint64_t absorbed = 0;
    for (std::size_t i = 0; i < it.batch.ops.size(); ++i) {
        operation& op = it.batch.ops[i];
        // An entry's key points into the operation that owns it (its put, or else its update),
        // so it is made anew whenever the owner changes.
        if (const auto* msg = std::get_if<put_message>(&op)) {
            waiting_messages_[msg->id] = message_ops{op_ref{id, i}, 0};
        } else if (auto* put = std::get_if<put_queue_entry>(&op)) {
            if (put->entry.message_id != 0) {
                auto m = waiting_messages_.find(put->entry.message_id);
                if (m != waiting_messages_.end()) ++m->second.refs;
            }
            auto found = waiting_.find(entry_key{put->client_id, put->entry.seq});
            if (found != waiting_.end()) {
                if (found->second.put) kill_put(*found->second.put, false);  // superseded: a put
                if (found->second.update) {  // replaces the whole entry
                    kill(*found->second.update, false);
                    ++absorbed;
                }
                waiting_.erase(found);
            }
            waiting_.emplace(entry_key{put->client_id, put->entry.seq},
                             entry_ops{op_ref{id, i}, std::nullopt});
        } else if (const auto* upd = std::get_if<update_queue_entry>(&op)) {
            auto found = waiting_.find(entry_key{upd->client_id, upd->seq});
            if (found != waiting_.end() && found->second.put) {
                const op_ref& p = *found->second.put;
                queue_entry& entry =
                    std::get<put_queue_entry>(item_at(p.item).batch.ops[p.op]).entry;
                entry.state = upd->state;
                entry.packet_id = upd->packet_id;
                kill(op_ref{id, i}, false);
                ++absorbed;
                continue;
            }
            if (found != waiting_.end()) {
                kill(*found->second.update, false);  // replaced: an update sets both fields
                ++absorbed;
                waiting_.erase(found);
            }
            waiting_.emplace(entry_key{upd->client_id, upd->seq},
                             entry_ops{std::nullopt, op_ref{id, i}});
        } else if (const auto* del = std::get_if<delete_queue_entry>(&op)) {
            auto found = waiting_.find(entry_key{del->client_id, del->seq});
            if (found == waiting_.end()) {
                note_delete(false, {});
                continue;
            }
            const entry_ops e = found->second;
            waiting_.erase(found);
            if (e.put) note_delete(true, it.queued_at - item_at(e.put->item).queued_at);
            if (e.update) {
                kill(*e.update, false);
                ++absorbed;
            }
            if (e.put) {
                kill_put(*e.put, true);
                kill(op_ref{id, i}, true);
                ++pairs;
            }
        }
    }
    if (pairs) cancelled_.fetch_add(pairs, std::memory_order_relaxed);
    if (absorbed) absorbed_.fetch_add(absorbed, std::memory_order_relaxed);
}

// Stretching the window pays when acknowledgements arrive but miss their puts: on a loaded
// machine the subscriber's round trip grows past the window, the puts are written, the writer
// falls behind, and round trips grow further. A longer window cancels them again, which removes
// the load. It shrinks back when acknowledgements come well within it (latency is the cost), or
// when few come at all (offline subscribers: waiting gains nothing).
void committer::note_delete(bool cancelled, std::chrono::steady_clock::duration delay) {
    ++sample_deletes_;
    if (cancelled) {
        ++sample_cancels_;
        sample_max_delay_ = std::max(sample_max_delay_, delay);
    }
    if (sample_deletes_ < window_sample || opts_.window.count() == 0) return;
    const std::uint32_t share_pct = sample_cancels_ * 100 / sample_deletes_;
    const auto max_window = opts_.window * max_window_factor;
    if (share_pct >= 10 && share_pct < 90) {
        window_ = std::min(window_ * 2, max_window);
    } else if (share_pct < 10 || sample_max_delay_ < window_ / 4) {
        window_ = std::max(window_ / 2, opts_.window);
    }
    current_window_us_.store(window_.count(), std::memory_order_relaxed);
    sample_deletes_ = 0;
    sample_cancels_ = 0;
    sample_max_delay_ = {};
}

std::chrono::microseconds committer::current_window() const noexcept {
    return std::chrono::microseconds(current_window_us_.load(std::memory_order_relaxed));
}

void committer::kill(const op_ref& r, bool pair) {
    item& it = item_at(r.item);
    if (it.live == 0) return;
    if (it.live == 1 && it.dead.empty()) {  // the last live one (often the only one): no vector
        if (!pair) it.pairs_only = false;
        it.live = 0;
        emptied_.push_back(r.item);
        return;
    }
    if (it.dead.empty()) it.dead.assign(it.batch.ops.size(), 0);
    if (it.dead[r.op]) return;
    if (!pair) it.pairs_only = false;
    it.dead[r.op] = 1;
    if (--it.live == 0) emptied_.push_back(r.item);
}

void committer::kill_put(const op_ref& r, bool pair) {
    const auto& put = std::get<put_queue_entry>(item_at(r.item).batch.ops[r.op]);
    kill(r, pair);
    if (put.entry.message_id == 0) return;
    auto m = waiting_messages_.find(put.entry.message_id);
    if (m == waiting_messages_.end() || m->second.refs == 0) return;
    if (--m->second.refs == 0) {
        kill(m->second.put, pair);
        waiting_messages_.erase(m);
    }
}

void committer::unindex_front() {
    item& it = queue_.front();
    if (it.live == 0) return;
    for (std::size_t i = 0; i < it.batch.ops.size(); ++i) {
        if (!it.dead.empty() && it.dead[i]) continue;
        const operation& op = it.batch.ops[i];
        entry_key key;
        if (const auto* msg = std::get_if<put_message>(&op)) {
            auto m = waiting_messages_.find(msg->id);
            if (m != waiting_messages_.end() && m->second.put.item == front_id_) {
                waiting_messages_.erase(m);
            }
            continue;
        }
        if (const auto* put = std::get_if<put_queue_entry>(&op)) {
            key = entry_key{put->client_id, put->entry.seq};
        } else if (const auto* upd = std::get_if<update_queue_entry>(&op)) {
            key = entry_key{upd->client_id, upd->seq};
        } else {
            continue;
        }
        // Only the put or the last update of an entry is indexed; the earlier ones are dead.
        auto found = waiting_.find(key);
        if (found == waiting_.end()) continue;
        entry_ops& e = found->second;
        if (e.put && e.put->item == front_id_) e.put.reset();
        if (e.update && e.update->item == front_id_) e.update.reset();
        if (!e.put && !e.update) waiting_.erase(found);
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

std::span<const std::uint64_t> committer::latency_bounds_us() noexcept {
    return latency_bounds_;
}

std::uint64_t committer::latency_bucket(std::size_t i) const noexcept {
    return i < latency_counts_.size() ? latency_counts_[i].load(std::memory_order_relaxed) : 0;
}

std::uint64_t committer::latency_sum_us() const noexcept {
    return latency_sum_us_.load(std::memory_order_relaxed);
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
    write_batch merged;

    std::unique_lock lock(mutex_);
    for (;;) {
        if (queue_.empty()) {
            if (stopping_) break;
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) continue;
        }
        // Wait until the oldest batch has waited one window, also when it queued while the
        // previous group was being written: that window is what lets a subscriber's
        // acknowledgement catch up with the put of its message (cancel_waiting). A front batch
        // whose operations have all been cancelled ends the wait: it needs no write, and the
        // batches behind it keep their own windows.
        const auto go = [&] {
            return stopping_ || flushers_ > 0 || queued_ops_ >= opts_.max_batch_ops ||
                   queue_.front().live == 0;
        };
        if (window_.count() > 0 && !go()) {
            wake_.wait_until(lock, queue_.front().queued_at + window_, go);
        }
        // A front of cancelled batches goes alone, without a write. Otherwise take whole batches
        // up to max_batch_ops (a single larger batch goes alone), as long as they have waited
        // their window: a younger batch keeps its chance to be cancelled, unless the group is
        // forced (full, flush, stop).
        const bool dead_front = queue_.front().live == 0;
        const bool forced = stopping_ || flushers_ > 0 || queued_ops_ >= opts_.max_batch_ops;
        const auto cutoff = std::chrono::steady_clock::now() - window_;
        std::size_t group_ops = 0;
        std::size_t group_bytes = 0;
        while (!queue_.empty()) {
            item& front = queue_.front();
            if (dead_front && front.live > 0) break;
            if (!dead_front && !forced && !group.empty() && front.live > 0 &&
                front.queued_at > cutoff)
                break;
            const std::size_t n = front.batch.ops.size();
            if (!group.empty() && group_ops + n > opts_.max_batch_ops) break;
            unindex_front();
            group_ops += front.live;
            queued_ops_ -= n;
            group_bytes += front.bytes;
            group.push_back(std::move(front));
            queue_.pop_front();
            ++front_id_;
        }
        lock.unlock();

        // Merge the operations that were not cancelled (moving them), in order.
        merged.ops.clear();
        merged.ops.reserve(group_ops);
        kept_per_item.assign(group.size(), 0);
        for (std::size_t g = 0; g < group.size(); ++g) {
            item& it = group[g];
            if (it.live == 0) continue;
            for (std::size_t i = 0; i < it.batch.ops.size(); ++i) {
                if (!it.dead.empty() && it.dead[i]) continue;
                merged.ops.push_back(std::move(it.batch.ops[i]));
                ++kept_per_item[g];
            }
        }
        const std::size_t out = merged.ops.size();

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

        const auto completed_at = std::chrono::steady_clock::now();
        for (std::size_t g = 0; g < group.size(); ++g) {
            if (group[g].done) group[g].done(results[g]);
            if (!group[g].completed_early) note_latency(completed_at - group[g].queued_at);
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
        lock.lock();
        pending_bytes_.fetch_sub(group_bytes, std::memory_order_relaxed);
        pending_batches_.fetch_sub(group.size(), std::memory_order_relaxed);
        completed_ += group.size();
        group.clear();
        drained_.notify_all();
    }
}

}  // namespace rmqtt::storage
