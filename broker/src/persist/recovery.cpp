#include "persist/recovery.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

#include "config/cpus.hpp"
#include "rmqtt/broker/clock.hpp"

namespace rmqtt::broker {

namespace {

using chunk_type = std::vector<recovered_state::session>;

// Chunks from the reader threads to the calling thread, at most `max_waiting` of them waiting.
struct chunk_channel {
    std::mutex mutex;
    std::condition_variable ready;  // a chunk arrived, or the reading ended
    std::condition_variable room;   // a chunk was taken, or the reading stops
    std::deque<chunk_type> chunks;
    std::vector<chunk_type> spare;  // emptied chunks, kept for their memory
    std::size_t max_waiting = 8;
    std::size_t read = 0;      // sessions read (unexpired and expired)
    std::size_t readers = 1;   // threads reading
    std::size_t estimate = 0;  // the engine's estimate of the session count
    bool finished = false;     // every reader has ended (and the retained messages are read)
    bool stopping = false;     // a reader failed: the others stop
    storage::status failure;

    // False when the reading stops.
    bool push(chunk_type&& c, std::size_t seen) {
        std::unique_lock lock(mutex);
        room.wait(lock, [&] { return stopping || chunks.size() < max_waiting; });
        read += seen;
        if (stopping) return false;
        if (!c.empty()) chunks.push_back(std::move(c));
        ready.notify_one();
        return true;
    }
    chunk_type take_spare() {
        std::lock_guard lock(mutex);
        if (spare.empty()) return {};
        chunk_type c = std::move(spare.back());
        spare.pop_back();
        return c;
    }
    void fail(const storage::status& st) {
        std::lock_guard lock(mutex);
        if (failure.is_ok()) failure = st;
        stopping = true;
        room.notify_all();
    }
};

std::size_t reader_count(const recovery_options& o) {
    if (o.readers != 0) return o.readers;
    return std::clamp<std::size_t>(usable_cpus(), 1, 4);
}

}  // namespace

storage::status read_recovery_state(
    persistence& store, bool with_retained, const recovery_options& options,
    const std::function<void(std::vector<recovered_state::session>&)>& on_chunk,
    recovered_state& out) {
    out = recovered_state{};
    const auto now = wall_now_ms();
    out.now_ms = now;
    chunk_channel ch;
    ch.max_waiting = std::max<std::size_t>(options.max_waiting, 1);
    const std::size_t chunk = std::max<std::size_t>(options.chunk, 1);
    std::mutex expired_mutex;
    auto finish = [&](const storage::status& st) {
        std::lock_guard lock(ch.mutex);
        if (!st && ch.failure.is_ok()) ch.failure = st;
        ch.finished = true;
        ch.ready.notify_all();
    };
    store.read([&](storage::store& engine) {
        std::optional<std::string> alive;
        if (auto s = engine.get_meta(last_alive_key, alive); !s) return finish(s);
        std::int64_t last_alive = now;
        if (alive) last_alive = std::strtoll(alive->c_str(), nullptr, 10);
        std::optional<std::string> reserved;
        if (auto s = engine.get_meta(generation_reserved_meta, reserved); !s) return finish(s);
        if (reserved)
            out.generation_reserved =
                static_cast<std::uint32_t>(std::strtoull(reserved->c_str(), nullptr, 10));

        // One part per reader; the engine's own reads take part 0 on this thread (nothing is
        // written meanwhile: read() holds the committer), readers of their own the others.
        std::vector<std::unique_ptr<storage::store_reader>> readers(1);
        if (engine.splits_recovery()) {
            for (std::size_t i = 1; i < reader_count(options); ++i) {
                std::unique_ptr<storage::store_reader> r;
                if (auto s = engine.open_reader(r); !s) {
                    spdlog::warn("recovering sessions: no second reader ({}); reading on {}",
                                 s.to_string(), readers.size());
                    break;
                }
                readers.push_back(std::move(r));
            }
        }
        const std::size_t parts = readers.size();
        {
            const std::size_t estimate = engine.estimate_session_count();
            std::lock_guard lock(ch.mutex);
            ch.readers = parts;
            ch.estimate = estimate;
        }
        auto read_one = [&](storage::store_reader& reader, std::size_t part) {
            std::vector<storage::session_record> expired;
            auto st = reader.for_each_recovered_session(
                part, parts, chunk, [&](std::vector<storage::recovered_session>& batch) {
                    chunk_type c = ch.take_spare();
                    c.reserve(batch.size());
                    for (auto& r : batch) {
                        // A session that was connected at a crash counts from the last proof of
                        // life.
                        const bool was_online = r.record.disconnected_at_ms == 0;
                        if (was_online) r.record.disconnected_at_ms = last_alive;
                        if (r.record.expiry_interval_s != storage::never_expires &&
                            r.record.disconnected_at_ms +
                                    std::int64_t{r.record.expiry_interval_s} * 1000 <=
                                now) {
                            expired.push_back(std::move(r.record));
                            continue;
                        }
                        c.push_back({std::move(r.record), std::move(r.state.subscriptions),
                                     r.state.bounds, std::move(r.state.inbound_qos2), was_online});
                    }
                    return ch.push(std::move(c), batch.size());
                });
            if (!st) ch.fail(st);
            std::lock_guard lock(expired_mutex);
            out.expired.insert(out.expired.end(), std::make_move_iterator(expired.begin()),
                               std::make_move_iterator(expired.end()));
        };
        std::vector<std::thread> threads;
        for (std::size_t i = 1; i < parts; ++i)
            threads.emplace_back([&, i] { read_one(*readers[i], i); });
        read_one(engine, 0);
        for (auto& t : threads)
            t.join();
        storage::status failure;
        {
            std::lock_guard lock(ch.mutex);
            failure = ch.failure;
        }
        if (failure.is_ok() && with_retained) {
            failure = engine.for_each_retained([&](storage::message_record&& m) {
                out.retained.push_back(std::move(m));
                return true;
            });
        }
        finish(failure);
    });

    // Hand the chunks over as they come, until every reader has ended.
    auto last_progress = steady_clock::now();
    std::size_t restored = 0;
    steady_clock::duration waited{};
    std::unique_lock lock(ch.mutex);
    for (;;) {
        const auto wait_start = steady_clock::now();
        ch.ready.wait_for(lock, std::chrono::seconds(2),
                          [&] { return ch.finished || !ch.chunks.empty(); });
        waited += steady_clock::now() - wait_start;
        if (steady_clock::now() - last_progress >= std::chrono::seconds(2)) {
            last_progress = steady_clock::now();
            spdlog::info("recovering sessions: {} read, {} restored so far...", ch.read, restored);
        }
        if (ch.chunks.empty()) {
            if (ch.finished) break;
            continue;
        }
        chunk_type c = std::move(ch.chunks.front());
        ch.chunks.pop_front();
        ch.room.notify_one();
        const bool keep_going = !ch.stopping;
        const std::size_t estimate = ch.estimate;
        lock.unlock();
        if (restored == 0 && options.on_estimate) options.on_estimate(estimate);
        if (keep_going) on_chunk(c);
        restored += c.size();
        c.clear();
        lock.lock();
        if (ch.spare.size() < ch.max_waiting) ch.spare.push_back(std::move(c));
    }
    spdlog::info("recovering sessions: read on {} thread(s); waited {} ms for the store",
                 ch.readers, std::chrono::duration_cast<std::chrono::milliseconds>(waited).count());
    return ch.failure;
}

storage::status read_recovery_state(persistence& store, bool with_retained, recovered_state& out) {
    std::vector<recovered_state::session> sessions;
    auto st = read_recovery_state(
        store, with_retained, recovery_options{},
        [&](std::vector<recovered_state::session>& chunk) {
            sessions.insert(sessions.end(), std::make_move_iterator(chunk.begin()),
                            std::make_move_iterator(chunk.end()));
        },
        out);
    out.sessions = std::move(sessions);
    return st;
}

}  // namespace rmqtt::broker
