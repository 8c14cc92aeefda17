#pragma once

// Differential test: the same random (seeded, bounded) operation sequence is applied to an engine
// under test and to the memory oracle; the engine is reopened at random points; after every
// reopen and at the end, every read function must answer the same on both, on the engine itself
// and on a reader it gives (store::open_reader).
//
// Usage (any engine):
//   auto oracle = make_memory_store();
//   std::unique_ptr<store> subject = ...;
//   run_differential(*oracle, *subject, [&]() -> store& { ...close, open again...; return *subject;
//   },
//                    differential_options{.seed = 7});
// Failures are reported with ADD_FAILURE naming the seed and batch number; wrap the call in
// ASSERT_NO_FATAL_FAILURE / check HasFailure() as needed.

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "rmqtt/storage/store.hpp"
#include "store_test_util.hpp"

namespace rmqtt::storage::test {

struct differential_options {
    std::uint64_t seed = 1;
    std::size_t operations = 2000;  // total operations over all batches
    std::size_t max_batch_ops = 8;  // each batch holds 1..max_batch_ops operations
    unsigned reopen_one_in = 40;    // after each batch, reopen with probability 1/reopen_one_in
    bool large_client_id = true;    // include a 65535-byte client id in the id pool
    // Some queue entries reference a shared message (ids 1..4), put in front of them in the
    // batch as the broker does (engines with store::supports_shared_messages()).
    bool shared_messages = false;
};

namespace detail {

class op_generator {
  public:
    explicit op_generator(const differential_options& o)
        : rng_(o.seed), shared_(o.shared_messages) {
        ids_ = {"a", "ab", std::string("a\0", 2), "", "{a}", "a/b", "c", "\xff"};
        if (o.large_client_id) ids_.push_back(std::string(65535, 'L'));
        meta_keys_ = {"node_id", "last_alive_ms", "", std::string("k\0", 2)};
    }

    const std::vector<std::string>& client_ids() const { return ids_; }
    const std::vector<std::string>& meta_keys() const { return meta_keys_; }
    std::mt19937_64& rng() { return rng_; }

    // The next operations: one, or a put_message and the entry that references it.
    void next(std::vector<operation>& out) {
        if (shared_ && pick(3) == 0) {
            put_queue_entry put{id(), entry()};
            put.entry.message_id = 1 + pick(4);
            put.entry.message = {};
            out.push_back(put_message{put.entry.message_id, message(topic())});
            out.push_back(std::move(put));
            return;
        }
        out.push_back(next());
    }

    operation next() {
        const auto r = pick(100);
        if (r < 25) return put_queue_entry{id(), entry()};
        if (r < 37) return update_queue_entry{id(), seq(), state(), pid()};
        if (r < 52) return delete_queue_entry{id(), seq()};
        if (r < 60) return put_subscription{id(), subscription()};
        if (r < 65) return delete_subscription{id(), filter()};
        if (r < 72) return put_session{session()};
        if (r < 75) return delete_session{id()};
        if (r < 81) return put_inbound_qos2{id(), pid()};
        if (r < 86) return delete_inbound_qos2{id(), pid()};
        if (r < 92) return put_retained{message(topic())};
        if (r < 96) return delete_retained{topic()};
        return put_meta{meta_keys_[pick(meta_keys_.size())], bytes(pick(20))};
    }

  private:
    std::size_t pick(std::size_t n) { return static_cast<std::size_t>(rng_() % n); }
    const std::string& id() { return ids_[pick(ids_.size())]; }
    std::uint64_t seq() {
        // Mostly a small range so puts, updates and deletes meet; sometimes the extremes.
        const auto r = pick(20);
        if (r == 0) return 0;
        if (r == 1) return ~0ull - pick(3);
        return 1 + pick(24);
    }
    std::uint16_t pid() { return static_cast<std::uint16_t>(1 + pick(6) * 13'107); }
    queue_state state() { return static_cast<queue_state>(pick(3)); }
    std::string bytes(std::size_t n) {
        std::string s(n, '\0');
        for (auto& c : s)
            c = static_cast<char>(rng_());
        return s;
    }
    std::string filter() {
        static const char* const filters[] = {"a/b", "a/#", "+/+", "$share/g/a", "", "x\0y"};
        return filters[pick(6)];
    }
    std::string topic() {
        static const char* const topics[] = {"t/1", "t/2", "t/3", "", "t/{x}", "t/4"};
        return topics[pick(6)];
    }
    message_record message(std::string t) {
        message_record m;
        m.topic = std::move(t);
        m.payload = bytes(pick(10) == 0 ? 4000 + pick(4000) : pick(64));
        m.qos = static_cast<std::uint8_t>(pick(3));
        m.retain = pick(2) == 0;
        m.properties = bytes(pick(3) == 0 ? pick(16) : 0);
        m.publisher = id();
        m.created_at_ms = static_cast<std::int64_t>(rng_() >> 1);
        m.expiry_at_ms = pick(2) ? 0 : static_cast<std::int64_t>(rng_() >> 1);
        return m;
    }
    queue_entry entry() {
        queue_entry e;
        e.seq = seq();
        e.state = state();
        e.packet_id = pid();
        e.qos = static_cast<std::uint8_t>(1 + pick(2));
        e.retain = pick(2) == 0;
        for (std::size_t i = pick(4); i > 0; --i) {
            e.subscription_ids.push_back(static_cast<std::uint32_t>(rng_()));
        }
        e.message = message(topic());
        return e;
    }
    subscription_record subscription() {
        subscription_record s;
        s.filter = filter();
        s.qos = static_cast<std::uint8_t>(pick(3));
        s.no_local = pick(2) == 0;
        s.retain_as_published = pick(2) == 0;
        s.retain_handling = static_cast<std::uint8_t>(pick(3));
        s.subscription_id = static_cast<std::uint32_t>(pick(5));
        return s;
    }
    session_record session() {
        session_record s;
        s.client_id = id();
        s.protocol_version = static_cast<std::uint8_t>(3 + pick(3));
        if (pick(2)) s.username = bytes(pick(8));
        s.listener = "tcp.default";
        s.peer_address = bytes(pick(12));
        s.expiry_interval_s = pick(4) == 0 ? never_expires : static_cast<std::uint32_t>(rng_());
        s.created_at_ms = static_cast<std::int64_t>(rng_() >> 1);
        s.connected_at_ms = static_cast<std::int64_t>(rng_() >> 1);
        s.disconnected_at_ms = pick(2) ? 0 : static_cast<std::int64_t>(rng_() >> 1);
        s.clean_disconnect = pick(2) == 0;
        if (pick(3) == 0) {
            will_record w;
            w.message = message(topic());
            w.delay_interval_s = static_cast<std::uint32_t>(pick(100));
            s.will = std::move(w);
        }
        s.receive_maximum = static_cast<std::uint16_t>(1 + pick(65535));
        s.maximum_packet_size = static_cast<std::uint32_t>(rng_());
        s.topic_alias_maximum = static_cast<std::uint16_t>(pick(100));
        s.request_problem_information = pick(2) == 0;
        s.first_generation = pick(4) == 0 ? 0 : static_cast<std::uint32_t>(rng_());
        s.generation = s.first_generation + static_cast<std::uint32_t>(pick(3));
        return s;
    }

    std::mt19937_64 rng_;
    bool shared_ = false;
    std::vector<std::string> ids_;
    std::vector<std::string> meta_keys_;
};

// Compares every read function on both stores; returns "" or the first difference.
inline std::string compare_stores(store& oracle, store& subject, op_generator& gen) {
    const store_snapshot a = take_snapshot(oracle, gen.client_ids(), gen.meta_keys());
    const store_snapshot b = take_snapshot(subject, gen.client_ids(), gen.meta_keys());
    std::string diff = snapshot_difference(a, b);
    if (!diff.empty()) return diff;
    // A reader of the subject (store::open_reader) sees the same.
    std::unique_ptr<store_reader> reader;
    if (status st = subject.open_reader(reader); !st.is_ok())
        return "open_reader: " + st.to_string();
    diff = snapshot_difference(a, take_snapshot(*reader, gen.client_ids(), gen.meta_keys()));
    if (!diff.empty()) return "reader: " + diff;
    // The shared messages kept (those some entry still references), with their content.
    auto messages = [](store_reader& r) {
        std::vector<std::pair<std::uint64_t, message_record>> out;
        const status st = r.for_each_message([&](std::uint64_t id, message_record&& m) {
            out.emplace_back(id, std::move(m));
            return true;
        });
        EXPECT_TRUE(st.is_ok()) << st.to_string();
        return out;
    };
    if (messages(oracle) != messages(subject)) return "the shared messages differ";
    // Queue paging with random starting points and limits.
    for (const auto& id : gen.client_ids()) {
        for (int i = 0; i < 3; ++i) {
            const std::uint64_t from = gen.rng()() % 30;
            const std::size_t limit = static_cast<std::size_t>(gen.rng()() % 6);
            if (read_queue(oracle, id, from, limit) != read_queue(subject, id, from, limit)) {
                return "load_queue(from " + std::to_string(from) + ", limit " +
                       std::to_string(limit) + ") differs for " + printable(id);
            }
        }
    }
    return {};
}

}  // namespace detail

// `reopen` closes the subject, opens the same data again, and returns the (new) subject.
template <class Reopen>
void run_differential(store& oracle, store& subject, Reopen&& reopen,
                      const differential_options& options) {
    detail::op_generator gen(options);
    store* current = &subject;
    std::size_t done = 0;
    std::size_t batches = 0;
    std::size_t reopens = 0;
    while (done < options.operations) {
        write_batch batch;
        const std::size_t n = 1 + static_cast<std::size_t>(gen.rng()() % options.max_batch_ops);
        for (std::size_t i = 0; i < n && done < options.operations; ++i, ++done) {
            gen.next(batch.ops);
        }
        ++batches;
        const status so = oracle.write(batch);
        const status ss = current->write(batch);
        if (!so.is_ok() || !ss.is_ok()) {
            ADD_FAILURE() << "seed " << options.seed << " batch " << batches
                          << ": oracle write: " << so.to_string()
                          << ", subject write: " << ss.to_string();
            return;
        }
        if (gen.rng()() % options.reopen_one_in == 0) {
            current = &reopen();
            ++reopens;
            const std::string diff = detail::compare_stores(oracle, *current, gen);
            if (!diff.empty()) {
                ADD_FAILURE() << "seed " << options.seed << ", after reopen " << reopens
                              << " (batch " << batches << "): " << diff;
                return;
            }
        }
    }
    std::string diff = detail::compare_stores(oracle, *current, gen);
    if (diff.empty()) {
        current = &reopen();
        diff = detail::compare_stores(oracle, *current, gen);
    }
    if (!diff.empty()) {
        ADD_FAILURE() << "seed " << options.seed << ", at the end (" << batches << " batches, "
                      << reopens << " reopens): " << diff;
    }
}

}  // namespace rmqtt::storage::test
