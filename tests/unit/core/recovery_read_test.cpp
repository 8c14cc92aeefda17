// Reading the sessions back at start-up (read_recovery_state) on a real RocksDB store: the
// parallel reader (several parts, small chunks, a short read-ahead) hands every session over
// once, on the calling thread, with what the per-session reads give.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "persist/recovery.hpp"
#include "rmqtt/broker/clock.hpp"

namespace rmqtt::broker::test {
namespace {

namespace fs = std::filesystem;

struct rocksdb_dir {
    fs::path path;
    rocksdb_dir() {
        path = fs::temp_directory_path() / ("rmqtt-recovery-read-" + std::to_string(::getpid()) +
                                            "-" + std::to_string(wall_now_ms()));
    }
    ~rocksdb_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

std::unique_ptr<persistence> open_store(const rocksdb_dir& dir) {
    storage::rocksdb_options o;
    o.path = (dir.path / "db").string();
    std::unique_ptr<storage::store> engine;
    const auto st = storage::open_rocksdb_store(o, engine);
    EXPECT_TRUE(st) << st.to_string();
    if (!st) return nullptr;
    session_storage_config cfg;
    cfg.ack = session_storage_config::ack_mode::durable;
    return std::make_unique<persistence>(std::move(engine), cfg);
}

// `n` sessions "c0".."c<n-1>": session i has i % 3 subscriptions, i % 5 queued entries and, for
// odd i, inbound QoS 2 id i. One more session ("gone") expired long ago.
void seed(persistence& p, int n) {
    const auto now = wall_now_ms();
    storage::write_batch b;
    for (int i = 0; i < n; ++i) {
        std::string id = "c";
        id += std::to_string(i);
        storage::session_record r;
        r.client_id = id;
        r.expiry_interval_s = storage::never_expires;
        r.disconnected_at_ms = now - 1000;
        r.first_generation = 1;
        r.generation = 1;
        b.ops.push_back(storage::put_session{r});
        for (int k = 0; k < i % 3; ++k) {
            storage::subscription_record s;
            s.filter = id + "/" + std::to_string(k);
            s.qos = 1;
            b.ops.push_back(storage::put_subscription{id, s});
        }
        for (int k = 1; k <= i % 5; ++k) {
            storage::queue_entry e;
            e.seq = (std::uint64_t{1} << 32) | static_cast<std::uint64_t>(k);
            e.message.topic = id;
            e.message.payload = "m";
            b.ops.push_back(storage::put_queue_entry{id, e});
        }
        if (i % 2 == 1)
            b.ops.push_back(storage::put_inbound_qos2{id, static_cast<std::uint16_t>(i)});
    }
    storage::session_record gone;
    gone.client_id = "gone";
    gone.expiry_interval_s = 1;
    gone.disconnected_at_ms = now - 60'000;
    b.ops.push_back(storage::put_session{gone});
    storage::status written;
    p.submit(std::move(b), [&](const storage::status& st) { written = st; });
    p.flush();
    ASSERT_TRUE(written) << written.to_string();
}

TEST(RecoveryRead, SeveralReadersAndSmallChunksHandEverySessionOverOnce) {
    rocksdb_dir dir;
    auto p = open_store(dir);
    ASSERT_TRUE(p);
    constexpr int n = 200;
    ASSERT_NO_FATAL_FAILURE(seed(*p, n));

    recovery_options o;
    o.chunk = 3;
    o.readers = 3;
    o.max_waiting = 1;
    const auto caller = std::this_thread::get_id();
    int estimates = 0;
    o.on_estimate = [&](std::size_t) {
        EXPECT_EQ(std::this_thread::get_id(), caller);
        ++estimates;
    };
    std::map<std::string, recovered_state::session> got;
    recovered_state rest;
    const auto st = read_recovery_state(
        *p, false, o,
        [&](std::vector<recovered_state::session>& chunk) {
            EXPECT_EQ(std::this_thread::get_id(), caller);
            EXPECT_EQ(estimates, 1) << "the estimate comes before the first chunk";
            EXPECT_LE(chunk.size(), 3u);
            for (auto& s : chunk) {
                const std::string id = s.record.client_id;
                EXPECT_TRUE(got.emplace(id, std::move(s)).second) << "twice: " << id;
            }
        },
        rest);
    ASSERT_TRUE(st) << st.to_string();
    EXPECT_TRUE(rest.sessions.empty());
    ASSERT_EQ(rest.expired.size(), 1u);
    EXPECT_EQ(rest.expired[0].client_id, "gone");
    ASSERT_EQ(got.size(), static_cast<std::size_t>(n));

    // The same as the one-thread read with the default chunks.
    recovered_state all;
    ASSERT_TRUE(read_recovery_state(*p, false, all));
    ASSERT_EQ(all.sessions.size(), static_cast<std::size_t>(n));
    for (const auto& s : all.sessions) {
        SCOPED_TRACE(s.record.client_id);
        const auto it = got.find(s.record.client_id);
        ASSERT_NE(it, got.end());
        const int i = std::stoi(s.record.client_id.substr(1));
        EXPECT_EQ(it->second.record, s.record);
        EXPECT_EQ(it->second.subscriptions.size(), static_cast<std::size_t>(i % 3));
        EXPECT_EQ(it->second.subscriptions, s.subscriptions);
        ASSERT_EQ(it->second.bounds.has_value(), i % 5 != 0);
        if (i % 5 != 0) {
            EXPECT_EQ(it->second.bounds->first_seq, (std::uint64_t{1} << 32) | 1);
            EXPECT_EQ(it->second.bounds->last_seq,
                      (std::uint64_t{1} << 32) | static_cast<std::uint64_t>(i % 5));
        }
        EXPECT_EQ(it->second.inbound_qos2, s.inbound_qos2);
        EXPECT_EQ(it->second.inbound_qos2.size(), i % 2 == 1 ? 1u : 0u);
    }
    ASSERT_TRUE(p->close());
}

}  // namespace
}  // namespace rmqtt::broker::test
