#pragma once

// The conformance suite every store engine passes (store.hpp). Engine neutral: an engine
// instantiates it with a trait type, inside namespace rmqtt::storage::test:
//
//   struct my_engine_trait {
//       static constexpr bool persistent = true;   // data survives close + open
//       std::unique_ptr<store> open();             // a fresh, empty store of this engine
//       // Closes `current` and opens the same data again. A non-persistent engine returns
//       // `current` itself (the memory engine has nothing to reopen).
//       std::unique_ptr<store> reopen(std::unique_ptr<store> current);
//       std::string skip_reason();                 // optional: non-empty skips the test
//   };
//   INSTANTIATE_TYPED_TEST_SUITE_P(my_engine, store_conformance,
//   ::testing::Types<my_engine_trait>);
//
// One trait object is made per test (so it can own a temp dir or a Redis key prefix).
//
// Contracts checked here that store.hpp implies but does not spell out:
//  - records of a client id are independent: subscriptions, queue entries and inbound QoS 2 ids
//    can be stored for a client id without a session record, and delete_session removes them;
//  - update_queue_entry on a missing entry is a no-op that succeeds;
//  - deleting something missing succeeds;
//  - load_queue with limit 0 returns nothing; read functions append to `out`;
//  - a client id longer than 65535 bytes makes write() fail with invalid_argument, and nothing of
//    that batch is applied;
//  - load_subscriptions and load_inbound_qos2 return records in no particular order.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "rmqtt/storage/store.hpp"
#include "store_test_util.hpp"

namespace rmqtt::storage::test {

template <class Trait>
class store_conformance : public ::testing::Test {
  protected:
    void SetUp() override {
        if constexpr (requires(Trait & t) { t.skip_reason(); }) {
            const std::string reason = trait_.skip_reason();
            if (!reason.empty()) GTEST_SKIP() << reason;
        }
        store_ = trait_.open();
        ASSERT_NE(store_, nullptr) << "the engine trait could not open a store";
    }
    void TearDown() override {
        if (store_) (void)store_->close();  // the test is over; a close error is not its subject
        store_.reset();
    }

    store& s() { return *store_; }
    static constexpr bool persistent() { return Trait::persistent; }

    void reopen() {
        store_ = trait_.reopen(std::move(store_));
        ASSERT_NE(store_, nullptr) << "the engine trait could not reopen the store";
    }

    // Runs `check`, then (for every engine) reopens and runs it again, so persistent engines are
    // checked after a restart and the others at least keep their data across a no-op reopen.
    template <class F>
    void verify(F&& check) {
        check();
        if (this->HasFatalFailure()) return;
        reopen();
        if (this->HasFatalFailure()) return;
        check();
    }

    void apply(std::vector<operation> ops) {
        const status st = write_ops(*store_, std::move(ops));
        ASSERT_TRUE(st.is_ok()) << st.to_string();
    }

    // A full set of records for one client id.
    void put_full_client(const std::string& id, int entries = 3) {
        std::vector<operation> ops;
        ops.push_back(put_session{sample_session(id)});
        ops.push_back(put_subscription{id, sample_subscription("a/+/c")});
        ops.push_back(put_subscription{id, sample_subscription("$share/g/x/#", 2)});
        for (int i = 1; i <= entries; ++i) {
            ops.push_back(put_queue_entry{id, sample_entry(static_cast<std::uint64_t>(i))});
        }
        ops.push_back(put_inbound_qos2{id, 1});
        ops.push_back(put_inbound_qos2{id, 65535});
        apply(std::move(ops));
    }

    void expect_full_client(const std::string& id, int entries = 3) {
        const auto sessions = read_sessions(s());
        auto it = sessions.find(id);
        ASSERT_NE(it, sessions.end()) << "session missing: " << printable(id);
        EXPECT_EQ(it->second, sample_session(id));
        const std::vector<subscription_record> subs = {sample_subscription("$share/g/x/#", 2),
                                                       sample_subscription("a/+/c")};
        EXPECT_EQ(read_subscriptions(s(), id), subs) << printable(id);
        const auto q = read_queue(s(), id);
        ASSERT_EQ(q.size(), static_cast<std::size_t>(entries)) << printable(id);
        for (int i = 0; i < entries; ++i) {
            EXPECT_EQ(q[static_cast<std::size_t>(i)],
                      sample_entry(static_cast<std::uint64_t>(i + 1)));
        }
        const auto b = read_bounds(s(), id);
        ASSERT_TRUE(b.has_value()) << printable(id);
        EXPECT_EQ(b->first_seq, 1u);
        EXPECT_EQ(b->last_seq, static_cast<std::uint64_t>(entries));
        EXPECT_EQ(read_inbound_qos2(s(), id), (std::vector<std::uint16_t>{1, 65535}));
    }

    void expect_client_empty(const std::string& id) {
        EXPECT_EQ(read_sessions(s()).count(id), 0u) << printable(id);
        EXPECT_TRUE(read_subscriptions(s(), id).empty()) << printable(id);
        EXPECT_TRUE(read_queue(s(), id).empty()) << printable(id);
        EXPECT_FALSE(read_bounds(s(), id).has_value()) << printable(id);
        EXPECT_TRUE(read_inbound_qos2(s(), id).empty()) << printable(id);
    }

    Trait trait_;
    std::unique_ptr<store> store_;
};

// Every read function of `r` fails with `code`.
inline void expect_every_read_fails(store_reader& r, status::code code) {
    std::optional<std::string> meta;
    EXPECT_EQ(r.get_meta("k", meta).error_code(), code);
    EXPECT_EQ(r.for_each_session([](session_record&&) { return true; }).error_code(), code);
    EXPECT_EQ(r.for_each_retained([](message_record&&) { return true; }).error_code(), code);
    std::vector<subscription_record> subs;
    EXPECT_EQ(r.load_subscriptions("c", subs).error_code(), code);
    std::vector<queue_entry> q;
    EXPECT_EQ(r.load_queue("c", 0, 10, q).error_code(), code);
    std::optional<queue_bounds> b;
    EXPECT_EQ(r.load_queue_bounds("c", b).error_code(), code);
    std::vector<std::uint16_t> ids;
    EXPECT_EQ(r.load_inbound_qos2("c", ids).error_code(), code);
    std::vector<recovery_state> states;
    EXPECT_EQ(r.load_recovery_state({"c"}, states).error_code(), code);
}

TYPED_TEST_SUITE_P(store_conformance);

// ---- basics -----------------------------------------------------------------------------------

TYPED_TEST_P(store_conformance, engine_name_and_location) {
    const std::string_view name = this->s().engine_name();
    EXPECT_TRUE(name == "memory" || name == "rocksdb" || name == "redis") << name;
    if (this->persistent()) {
        EXPECT_FALSE(this->s().location().empty());
    }
}

TYPED_TEST_P(store_conformance, empty_store_reads_nothing) {
    this->verify([&] {
        EXPECT_TRUE(read_sessions(this->s()).empty());
        EXPECT_TRUE(read_retained(this->s()).empty());
        for (const auto& id : tricky_client_ids())
            this->expect_client_empty(id);
        EXPECT_FALSE(read_meta(this->s(), "node_id").has_value());
        EXPECT_FALSE(read_meta(this->s(), "").has_value());
        EXPECT_TRUE(this->s().check().is_ok());
    });
}

TYPED_TEST_P(store_conformance, empty_batch_is_ok) {
    write_batch b;
    EXPECT_TRUE(this->s().write(b).is_ok());
    EXPECT_TRUE(read_sessions(this->s()).empty());
}

TYPED_TEST_P(store_conformance, reads_append_to_out) {
    this->apply({put_subscription{"c", sample_subscription("f")},
                 put_queue_entry{"c", sample_entry(5)}, put_inbound_qos2{"c", 9}});
    std::vector<subscription_record> subs{sample_subscription("already-there")};
    ASSERT_TRUE(this->s().load_subscriptions("c", subs).is_ok());
    ASSERT_EQ(subs.size(), 2u);
    EXPECT_EQ(subs[0].filter, "already-there");
    EXPECT_EQ(subs[1].filter, "f");
    std::vector<queue_entry> q{sample_entry(100)};
    ASSERT_TRUE(this->s().load_queue("c", 0, 10, q).is_ok());
    ASSERT_EQ(q.size(), 2u);
    EXPECT_EQ(q[0].seq, 100u);
    EXPECT_EQ(q[1], sample_entry(5));
    std::vector<std::uint16_t> ids{1};
    ASSERT_TRUE(this->s().load_inbound_qos2("c", ids).is_ok());
    EXPECT_EQ(ids, (std::vector<std::uint16_t>{1, 9}));
}

// ---- sessions ---------------------------------------------------------------------------------

TYPED_TEST_P(store_conformance, put_session_and_read_back) {
    session_record full = sample_session("client-1");
    session_record bare;
    bare.client_id = "client-2";
    bare.protocol_version = 3;
    bare.username.reset();
    bare.will.reset();
    bare.expiry_interval_s = never_expires;
    session_record empty_user = sample_session("client-3", false);
    empty_user.username = "";  // present but empty is not the same as absent
    empty_user.disconnected_at_ms = -1;
    empty_user.clean_disconnect = true;
    this->apply({put_session{full}, put_session{bare}, put_session{empty_user}});
    this->verify([&] {
        const auto sessions = read_sessions(this->s());
        ASSERT_EQ(sessions.size(), 3u);
        EXPECT_EQ(sessions.at("client-1"), full);
        EXPECT_EQ(sessions.at("client-2"), bare);
        EXPECT_EQ(sessions.at("client-3"), empty_user);
        EXPECT_TRUE(sessions.at("client-3").username.has_value());
        EXPECT_FALSE(sessions.at("client-2").username.has_value());
    });
}

TYPED_TEST_P(store_conformance, put_session_replaces_record_only) {
    this->put_full_client("c");
    session_record changed = sample_session("c", false);
    changed.disconnected_at_ms = 1'700'000'009'999;
    changed.clean_disconnect = true;
    this->apply({put_session{changed}});
    this->verify([&] {
        const auto sessions = read_sessions(this->s());
        ASSERT_EQ(sessions.size(), 1u);
        EXPECT_EQ(sessions.at("c"), changed);
        EXPECT_EQ(read_subscriptions(this->s(), "c").size(), 2u);
        EXPECT_EQ(read_queue(this->s(), "c").size(), 3u);
        EXPECT_EQ(read_inbound_qos2(this->s(), "c").size(), 2u);
    });
}

TYPED_TEST_P(store_conformance, session_with_binary_and_long_fields) {
    session_record s = sample_session(all_bytes());
    s.username = all_bytes();
    s.listener = std::string(1000, 'l');
    s.will->message.payload = std::string(100'000, '\0') + all_bytes();
    s.will->message.properties = all_bytes();
    s.will->message.expiry_at_ms = std::numeric_limits<std::int64_t>::max();
    s.created_at_ms = std::numeric_limits<std::int64_t>::min();
    s.maximum_packet_size = 0xFFFFFFFF;
    s.receive_maximum = 0xFFFF;
    s.topic_alias_maximum = 0xFFFF;
    this->apply({put_session{s}});
    this->verify([&] {
        const auto sessions = read_sessions(this->s());
        ASSERT_EQ(sessions.size(), 1u);
        EXPECT_EQ(sessions.begin()->second, s);
    });
}

TYPED_TEST_P(store_conformance, for_each_session_lists_each_once_and_stops_early) {
    std::vector<operation> ops;
    for (int i = 0; i < 300; ++i)
        ops.push_back(put_session{sample_session(numbered("s", i))});
    this->apply(std::move(ops));
    this->verify([&] {
        EXPECT_EQ(read_sessions(this->s()).size(), 300u);
        int calls = 0;
        const status st = this->s().for_each_session([&](session_record&&) { return ++calls < 5; });
        EXPECT_TRUE(st.is_ok()) << st.to_string();
        EXPECT_EQ(calls, 5);
    });
}

// ---- subscriptions ----------------------------------------------------------------------------

TYPED_TEST_P(store_conformance, subscriptions_put_replace_delete) {
    this->apply({put_subscription{"c", sample_subscription("a/b", 0)},
                 put_subscription{"c", sample_subscription("a/#", 1)},
                 put_subscription{"c", sample_subscription("+", 2)},
                 put_subscription{"d", sample_subscription("a/b", 2)}});
    subscription_record replaced = sample_subscription("a/#", 2);
    replaced.no_local = false;
    replaced.retain_as_published = false;
    replaced.retain_handling = 0;
    replaced.subscription_id = 0;
    this->apply({put_subscription{"c", replaced}, delete_subscription{"c", "+"},
                 delete_subscription{"c", "missing/filter"}, delete_subscription{"x", "a/b"}});
    this->verify([&] {
        const std::vector<subscription_record> c = {replaced, sample_subscription("a/b", 0)};
        EXPECT_EQ(read_subscriptions(this->s(), "c"), c);
        EXPECT_EQ(read_subscriptions(this->s(), "d"),
                  std::vector<subscription_record>{sample_subscription("a/b", 2)});
        EXPECT_TRUE(read_subscriptions(this->s(), "x").empty());
        EXPECT_TRUE(read_sessions(this->s()).empty()) << "a subscription creates no session";
    });
}

TYPED_TEST_P(store_conformance, subscription_filters_with_odd_bytes) {
    const std::vector<std::string> filters = {"",
                                              "/",
                                              "#",
                                              "$share/group/a/+/#",
                                              "$SYS/#",
                                              std::string("a\0b", 3),
                                              "{tag}",
                                              all_bytes(),
                                              std::string(65535, 'f')};
    std::vector<operation> ops;
    for (const auto& f : filters)
        ops.push_back(put_subscription{"c", sample_subscription(f)});
    this->apply(std::move(ops));
    this->verify([&] {
        const auto subs = read_subscriptions(this->s(), "c");
        ASSERT_EQ(subs.size(), filters.size());
        std::vector<std::string> got;
        for (const auto& r : subs)
            got.push_back(r.filter);
        std::vector<std::string> want = filters;
        std::sort(want.begin(), want.end());
        EXPECT_EQ(got, want);
    });
    this->apply({delete_subscription{"c", std::string("a\0b", 3)}, delete_subscription{"c", ""}});
    EXPECT_EQ(read_subscriptions(this->s(), "c").size(), filters.size() - 2);
}

// ---- outbound queue ---------------------------------------------------------------------------

TYPED_TEST_P(store_conformance, queue_entries_load_in_seq_order) {
    const std::vector<std::uint64_t> seqs = {300, 1, 256, 2, 65536, 255, 0x1'0000'0000ull, 70};
    std::vector<operation> ops;
    for (auto seq : seqs)
        ops.push_back(put_queue_entry{"c", sample_entry(seq)});
    this->apply(std::move(ops));
    this->verify([&] {
        const auto q = read_queue(this->s(), "c");
        std::vector<std::uint64_t> sorted = seqs;
        std::sort(sorted.begin(), sorted.end());
        ASSERT_EQ(q.size(), sorted.size());
        for (std::size_t i = 0; i < q.size(); ++i)
            EXPECT_EQ(q[i], sample_entry(sorted[i]));
        const auto b = read_bounds(this->s(), "c");
        ASSERT_TRUE(b.has_value());
        EXPECT_EQ(b->first_seq, 1u);
        EXPECT_EQ(b->last_seq, 0x1'0000'0000ull);
    });
}

TYPED_TEST_P(store_conformance, queue_paging) {
    std::vector<operation> ops;
    for (std::uint64_t seq = 10; seq <= 1000; seq += 10) {
        ops.push_back(put_queue_entry{"c", sample_entry(seq)});
    }
    this->apply(std::move(ops));
    this->verify([&] {
        auto q = read_queue(this->s(), "c", 0, 5);
        ASSERT_EQ(q.size(), 5u);
        EXPECT_EQ(q.front().seq, 10u);
        EXPECT_EQ(q.back().seq, 50u);
        q = read_queue(this->s(), "c", 55, 3);  // from_seq between entries
        ASSERT_EQ(q.size(), 3u);
        EXPECT_EQ(q[0].seq, 60u);
        EXPECT_EQ(q[2].seq, 80u);
        q = read_queue(this->s(), "c", 990, 100);  // from_seq on an entry, limit past the end
        ASSERT_EQ(q.size(), 2u);
        EXPECT_EQ(q[0].seq, 990u);
        EXPECT_EQ(q[1].seq, 1000u);
        EXPECT_TRUE(read_queue(this->s(), "c", 1001, 100).empty());
        EXPECT_TRUE(read_queue(this->s(), "c", 0, 0).empty());
        // Page through everything the way a reconnecting session does.
        std::vector<std::uint64_t> seen;
        std::uint64_t from = 0;
        for (int page = 0; page < 100; ++page) {
            auto part = read_queue(this->s(), "c", from, 7);
            if (part.empty()) break;
            for (const auto& e : part)
                seen.push_back(e.seq);
            from = part.back().seq + 1;
        }
        ASSERT_EQ(seen.size(), 100u);
        for (std::size_t i = 0; i < seen.size(); ++i)
            EXPECT_EQ(seen[i], (i + 1) * 10);
    });
}

TYPED_TEST_P(store_conformance, queue_bounds_follow_deletes) {
    this->verify([&] { EXPECT_FALSE(read_bounds(this->s(), "c").has_value()); });
    this->apply({put_queue_entry{"c", sample_entry(0)}, put_queue_entry{"c", sample_entry(5)},
                 put_queue_entry{"c", sample_entry(~0ull)}});
    this->verify([&] {
        auto b = read_bounds(this->s(), "c");
        ASSERT_TRUE(b.has_value());
        EXPECT_EQ(b->first_seq, 0u);
        EXPECT_EQ(b->last_seq, ~0ull);
    });
    this->apply({delete_queue_entry{"c", 0}, delete_queue_entry{"c", ~0ull}});
    this->verify([&] {
        auto b = read_bounds(this->s(), "c");
        ASSERT_TRUE(b.has_value());
        EXPECT_EQ(b->first_seq, 5u);
        EXPECT_EQ(b->last_seq, 5u);
    });
    this->apply({delete_queue_entry{"c", 5}});
    this->verify([&] {
        EXPECT_FALSE(read_bounds(this->s(), "c").has_value());
        EXPECT_TRUE(read_queue(this->s(), "c").empty());
    });
}

TYPED_TEST_P(store_conformance, queue_put_replaces_entry) {
    queue_entry first = sample_entry(7, "one");
    queue_entry second = sample_entry(7, "two");
    second.subscription_ids.clear();
    second.qos = 1;
    second.retain = true;
    second.state = queue_state::sent;
    second.packet_id = 42;
    this->apply({put_queue_entry{"c", first}});
    this->apply({put_queue_entry{"c", second}});
    this->verify([&] {
        const auto q = read_queue(this->s(), "c");
        ASSERT_EQ(q.size(), 1u);
        EXPECT_EQ(q[0], second);
    });
}

TYPED_TEST_P(store_conformance, queue_update_changes_state_and_packet_id_only) {
    this->apply({put_queue_entry{"c", sample_entry(1)}, put_queue_entry{"c", sample_entry(2)}});
    this->apply({update_queue_entry{"c", 1, queue_state::sent, 17}});
    this->verify([&] {
        const auto q = read_queue(this->s(), "c");
        ASSERT_EQ(q.size(), 2u);
        queue_entry want = sample_entry(1);
        want.state = queue_state::sent;
        want.packet_id = 17;
        EXPECT_EQ(q[0], want);
        EXPECT_EQ(q[1], sample_entry(2));
    });
    this->apply({update_queue_entry{"c", 1, queue_state::pubrec_received, 17}});
    this->apply({update_queue_entry{"c", 2, queue_state::sent, 65535}});
    this->verify([&] {
        const auto q = read_queue(this->s(), "c");
        ASSERT_EQ(q.size(), 2u);
        EXPECT_EQ(q[0].state, queue_state::pubrec_received);
        EXPECT_EQ(q[0].packet_id, 17);
        EXPECT_EQ(q[0].message, sample_entry(1).message);
        EXPECT_EQ(q[1].state, queue_state::sent);
        EXPECT_EQ(q[1].packet_id, 65535);
    });
    // A put after an update replaces the entry with exactly what was put.
    this->apply({put_queue_entry{"c", sample_entry(1, "fresh")}});
    this->verify([&] {
        const auto q = read_queue(this->s(), "c", 1, 1);
        ASSERT_EQ(q.size(), 1u);
        EXPECT_EQ(q[0], sample_entry(1, "fresh"));
    });
}

TYPED_TEST_P(store_conformance, queue_update_on_missing_entry_creates_nothing) {
    this->apply({update_queue_entry{"c", 1, queue_state::sent, 1}});
    this->apply({put_queue_entry{"d", sample_entry(2)}, delete_queue_entry{"d", 2},
                 update_queue_entry{"d", 2, queue_state::sent, 2}});
    this->apply({put_queue_entry{"e", sample_entry(3)}});
    this->apply({delete_queue_entry{"e", 3}});
    this->apply({update_queue_entry{"e", 3, queue_state::pubrec_received, 3},
                 update_queue_entry{"e", 4, queue_state::sent, 4}});
    this->apply({put_queue_entry{"f", sample_entry(5)}, delete_session{"f"},
                 update_queue_entry{"f", 5, queue_state::sent, 5}});
    this->verify([&] {
        for (const char* id : {"c", "d", "e", "f"}) {
            EXPECT_TRUE(read_queue(this->s(), id).empty()) << id;
            EXPECT_FALSE(read_bounds(this->s(), id).has_value()) << id;
        }
        EXPECT_TRUE(read_sessions(this->s()).empty());
    });
    // A later put of the same seq starts from what is put, not from the lost update.
    this->apply({put_queue_entry{"e", sample_entry(3)}});
    this->verify([&] {
        const auto q = read_queue(this->s(), "e");
        ASSERT_EQ(q.size(), 1u);
        EXPECT_EQ(q[0], sample_entry(3));
    });
}

TYPED_TEST_P(store_conformance, queue_operations_apply_in_batch_order) {
    queue_entry a = sample_entry(1, "a");
    this->apply({put_queue_entry{"c", a}, update_queue_entry{"c", 1, queue_state::sent, 9},
                 delete_queue_entry{"c", 1}, put_queue_entry{"c", sample_entry(1, "b")},
                 put_queue_entry{"c", sample_entry(2)},
                 update_queue_entry{"c", 2, queue_state::pubrec_received, 10},
                 delete_queue_entry{"c", 404}});
    this->verify([&] {
        const auto q = read_queue(this->s(), "c");
        ASSERT_EQ(q.size(), 2u);
        EXPECT_EQ(q[0], sample_entry(1, "b"));
        queue_entry want = sample_entry(2);
        want.state = queue_state::pubrec_received;
        want.packet_id = 10;
        EXPECT_EQ(q[1], want);
    });
}

TYPED_TEST_P(store_conformance, queue_entry_with_binary_payload) {
    queue_entry big = sample_entry(1, std::string(1 << 20, '\xAB') + all_bytes());
    queue_entry bin = sample_entry(2, all_bytes());
    bin.message.topic = std::string("t\0/\xff{}", 6);
    bin.message.publisher = all_bytes();
    bin.message.properties.clear();
    bin.subscription_ids.assign(1000, 0xFFFFFFFF);
    queue_entry empty = sample_entry(3, "");
    empty.message.topic.clear();
    this->apply(
        {put_queue_entry{"c", big}, put_queue_entry{"c", bin}, put_queue_entry{"c", empty}});
    this->verify([&] {
        const auto q = read_queue(this->s(), "c");
        ASSERT_EQ(q.size(), 3u);
        EXPECT_EQ(q[0], big);
        EXPECT_EQ(q[1], bin);
        EXPECT_EQ(q[2], empty);
    });
}

// ---- inbound QoS 2 ----------------------------------------------------------------------------

TYPED_TEST_P(store_conformance, inbound_qos2_put_delete) {
    this->apply({put_inbound_qos2{"c", 1}, put_inbound_qos2{"c", 256}, put_inbound_qos2{"c", 65535},
                 put_inbound_qos2{"c", 256}, put_inbound_qos2{"d", 1}});
    this->verify([&] {
        EXPECT_EQ(read_inbound_qos2(this->s(), "c"), (std::vector<std::uint16_t>{1, 256, 65535}));
        EXPECT_EQ(read_inbound_qos2(this->s(), "d"), (std::vector<std::uint16_t>{1}));
    });
    this->apply(
        {delete_inbound_qos2{"c", 256}, delete_inbound_qos2{"c", 2}, delete_inbound_qos2{"x", 1}});
    this->verify([&] {
        EXPECT_EQ(read_inbound_qos2(this->s(), "c"), (std::vector<std::uint16_t>{1, 65535}));
        EXPECT_EQ(read_inbound_qos2(this->s(), "d"), (std::vector<std::uint16_t>{1}));
        EXPECT_TRUE(read_inbound_qos2(this->s(), "x").empty());
        EXPECT_TRUE(read_sessions(this->s()).empty());
    });
}

// ---- retained ---------------------------------------------------------------------------------

TYPED_TEST_P(store_conformance, retained_put_replace_delete) {
    message_record a = sample_message("a/b", "one");
    a.retain = true;
    message_record bin = sample_message(std::string("t\0\xff/{x}", 7), all_bytes());
    message_record empty = sample_message("", "");
    this->apply({put_retained{a}, put_retained{bin}, put_retained{empty}});
    message_record a2 = sample_message("a/b", "two");
    a2.qos = 0;
    a2.expiry_at_ms = 1'800'000'000'000;
    this->apply({put_retained{a2}, delete_retained{""}, delete_retained{"missing"}});
    this->verify([&] {
        const auto r = read_retained(this->s());
        ASSERT_EQ(r.size(), 2u);
        EXPECT_EQ(r.at("a/b"), a2);
        EXPECT_EQ(r.at(bin.topic), bin);
        EXPECT_TRUE(read_sessions(this->s()).empty());
    });
}

TYPED_TEST_P(store_conformance, for_each_retained_stops_early) {
    std::vector<operation> ops;
    for (int i = 0; i < 50; ++i)
        ops.push_back(put_retained{sample_message(numbered("r/", i), "p")});
    this->apply(std::move(ops));
    this->verify([&] {
        EXPECT_EQ(read_retained(this->s()).size(), 50u);
        int calls = 0;
        const status st =
            this->s().for_each_retained([&](message_record&&) { return ++calls < 3; });
        EXPECT_TRUE(st.is_ok()) << st.to_string();
        EXPECT_EQ(calls, 3);
    });
}

// ---- meta -------------------------------------------------------------------------------------

TYPED_TEST_P(store_conformance, meta_put_get_replace) {
    this->apply({put_meta{"node_id", "1"}, put_meta{"last_alive_ms", "123"}, put_meta{"empty", ""},
                 put_meta{std::string("bin\0", 4), all_bytes()}});
    this->apply({put_meta{"last_alive_ms", "456"}});
    this->verify([&] {
        EXPECT_EQ(read_meta(this->s(), "node_id"), std::optional<std::string>("1"));
        EXPECT_EQ(read_meta(this->s(), "last_alive_ms"), std::optional<std::string>("456"));
        EXPECT_EQ(read_meta(this->s(), "empty"), std::optional<std::string>(""));
        EXPECT_EQ(read_meta(this->s(), std::string("bin\0", 4)),
                  std::optional<std::string>(all_bytes()));
        EXPECT_FALSE(read_meta(this->s(), "bin").has_value());
        EXPECT_FALSE(read_meta(this->s(), "missing").has_value());
        EXPECT_TRUE(read_sessions(this->s()).empty());
        EXPECT_TRUE(read_retained(this->s()).empty());
    });
}

// ---- delete_session ---------------------------------------------------------------------------

TYPED_TEST_P(store_conformance, delete_session_removes_only_that_session) {
    const auto ids = tricky_client_ids();
    for (const auto& id : ids) {
        this->put_full_client(id);
        if (this->HasFatalFailure()) return;
    }
    this->apply({put_retained{sample_message("keep/me", "r")}, put_meta{"node_id", "7"}});
    this->verify([&] {
        EXPECT_EQ(read_sessions(this->s()).size(), ids.size());
        for (const auto& id : ids)
            this->expect_full_client(id);
    });
    // Delete them one at a time; every other id keeps all of its records.
    for (std::size_t i = 0; i < ids.size(); ++i) {
        this->apply({delete_session{ids[i]}});
        if (this->HasFatalFailure()) return;
        for (std::size_t j = 0; j < ids.size(); ++j) {
            if (j <= i) {
                this->expect_client_empty(ids[j]);
            } else {
                this->expect_full_client(ids[j]);
            }
            if (this->HasFailure()) {
                ADD_FAILURE() << "after deleting " << printable(ids[i]) << ", checking "
                              << printable(ids[j]);
                return;
            }
        }
    }
    this->verify([&] {
        EXPECT_TRUE(read_sessions(this->s()).empty());
        for (const auto& id : ids)
            this->expect_client_empty(id);
        EXPECT_EQ(read_retained(this->s()).size(), 1u) << "delete_session keeps retained";
        EXPECT_EQ(read_meta(this->s(), "node_id"), std::optional<std::string>("7"));
    });
}

// The batched recovery read returns, per client id and in the order asked, exactly what the
// per-session reads return: tricky ids side by side, a client with nothing stored, an id asked
// twice.
TYPED_TEST_P(store_conformance, load_recovery_state_matches_per_session_reads) {
    auto ids = tricky_client_ids();
    for (const auto& id : ids) {
        this->put_full_client(id);
        if (this->HasFatalFailure()) return;
    }
    this->apply({put_queue_entry{ids.front(), sample_entry(42)},
                 put_inbound_qos2{ids.front(), 65535}, delete_queue_entry{ids.back(), 1}});
    ids.push_back("nothing-stored");
    ids.push_back(ids.front());
    this->verify([&] {
        std::vector<recovery_state> states;
        ASSERT_TRUE(this->s().load_recovery_state(ids, states).is_ok());
        ASSERT_EQ(states.size(), ids.size());
        for (std::size_t i = 0; i < ids.size(); ++i) {
            SCOPED_TRACE(printable(ids[i]));
            auto subs = read_subscriptions(this->s(), ids[i]);
            auto by_filter = [](const subscription_record& a, const subscription_record& b) {
                return a.filter < b.filter;
            };
            std::sort(subs.begin(), subs.end(), by_filter);
            auto got = states[i].subscriptions;
            std::sort(got.begin(), got.end(), by_filter);
            EXPECT_EQ(got, subs);
            std::optional<queue_bounds> b;
            ASSERT_TRUE(this->s().load_queue_bounds(ids[i], b).is_ok());
            ASSERT_EQ(states[i].bounds.has_value(), b.has_value());
            if (b) {
                EXPECT_EQ(states[i].bounds->first_seq, b->first_seq);
                EXPECT_EQ(states[i].bounds->last_seq, b->last_seq);
            }
            std::vector<std::uint16_t> q2;
            ASSERT_TRUE(this->s().load_inbound_qos2(ids[i], q2).is_ok());
            auto got_q2 = states[i].inbound_qos2;
            std::sort(q2.begin(), q2.end());
            std::sort(got_q2.begin(), got_q2.end());
            EXPECT_EQ(got_q2, q2);
        }
        EXPECT_FALSE(states[ids.size() - 2].bounds.has_value());
        EXPECT_TRUE(states[ids.size() - 2].subscriptions.empty());
        EXPECT_EQ(states[0].bounds->last_seq, 42u);
    });
}

TYPED_TEST_P(store_conformance, delete_session_without_session_record) {
    this->apply({put_subscription{"c", sample_subscription("f")},
                 put_queue_entry{"c", sample_entry(1)}, put_inbound_qos2{"c", 3},
                 put_subscription{"c2", sample_subscription("f")}});
    this->apply({delete_session{"c"}, delete_session{"never-existed"}});
    this->verify([&] {
        this->expect_client_empty("c");
        EXPECT_EQ(read_subscriptions(this->s(), "c2").size(), 1u);
    });
}

TYPED_TEST_P(store_conformance, delete_session_in_batch_order) {
    this->put_full_client("c");
    // Records put after the delete in the same batch survive; those before do not.
    this->apply({put_queue_entry{"c", sample_entry(10)}, delete_session{"c"},
                 put_subscription{"c", sample_subscription("after")},
                 put_queue_entry{"c", sample_entry(20)}});
    this->verify([&] {
        EXPECT_TRUE(read_sessions(this->s()).empty());
        EXPECT_EQ(read_subscriptions(this->s(), "c"),
                  std::vector<subscription_record>{sample_subscription("after")});
        const auto q = read_queue(this->s(), "c");
        ASSERT_EQ(q.size(), 1u);
        EXPECT_EQ(q[0], sample_entry(20));
        EXPECT_TRUE(read_inbound_qos2(this->s(), "c").empty());
    });
    // Session deleted and created again in one batch (a clean start).
    this->put_full_client("d");
    this->apply({delete_session{"d"}, put_session{sample_session("d", false)}});
    this->verify([&] {
        const auto sessions = read_sessions(this->s());
        ASSERT_EQ(sessions.count("d"), 1u);
        EXPECT_EQ(sessions.at("d"), sample_session("d", false));
        EXPECT_TRUE(read_subscriptions(this->s(), "d").empty());
        EXPECT_TRUE(read_queue(this->s(), "d").empty());
        EXPECT_TRUE(read_inbound_qos2(this->s(), "d").empty());
    });
}

// ---- batches ----------------------------------------------------------------------------------

TYPED_TEST_P(store_conformance, batch_with_many_operations) {
    std::vector<operation> ops;
    for (int c = 0; c < 20; ++c) {
        const std::string id = numbered("client/", c);
        ops.push_back(put_session{sample_session(id, c % 2 == 0)});
        ops.push_back(put_subscription{id, sample_subscription(numbered("t/", c))});
        for (std::uint64_t seq = 1; seq <= 250; ++seq) {
            ops.push_back(put_queue_entry{id, sample_entry(seq, std::string(seq % 50, 'p'))});
        }
        ops.push_back(put_inbound_qos2{id, static_cast<std::uint16_t>(c + 1)});
    }
    ops.push_back(put_meta{"k", "v"});
    ASSERT_GT(ops.size(), 5000u);
    this->apply(std::move(ops));
    this->verify([&] {
        EXPECT_EQ(read_sessions(this->s()).size(), 20u);
        for (int c = 0; c < 20; ++c) {
            const std::string id = numbered("client/", c);
            const auto q = read_queue(this->s(), id);
            ASSERT_EQ(q.size(), 250u);
            EXPECT_EQ(q[249], sample_entry(250, std::string(0, 'p')));
            EXPECT_EQ(read_inbound_qos2(this->s(), id),
                      std::vector<std::uint16_t>{static_cast<std::uint16_t>(c + 1)});
        }
    });
}

TYPED_TEST_P(store_conformance, oversized_client_id_rejects_whole_batch) {
    const std::string too_long(65536, 'x');
    for (operation op : std::vector<operation>{
             put_session{sample_session(too_long)}, delete_session{too_long},
             put_subscription{too_long, sample_subscription("f")},
             put_queue_entry{too_long, sample_entry(1)}, put_inbound_qos2{too_long, 1}}) {
        const status st = write_ops(this->s(), {put_meta{"before", "x"}, std::move(op)});
        EXPECT_EQ(st.error_code(), status::code::invalid_argument) << st.to_string();
    }
    this->verify([&] {
        EXPECT_FALSE(read_meta(this->s(), "before").has_value()) << "batch partly applied";
        EXPECT_TRUE(read_sessions(this->s()).empty());
    });
}

// ---- lifecycle --------------------------------------------------------------------------------

TYPED_TEST_P(store_conformance, data_survives_reopen_and_writes_continue) {
    this->put_full_client("c", 5);
    this->apply({put_retained{sample_message("r", "p")}, put_meta{"node_id", "3"}});
    for (int round = 0; round < 3; ++round) {
        this->reopen();
        if (this->HasFatalFailure()) return;
        if (!this->persistent()) break;
        this->expect_full_client("c", 5);
        EXPECT_EQ(read_retained(this->s()).size(), 1u);
        EXPECT_EQ(read_meta(this->s(), "node_id"), std::optional<std::string>("3"));
    }
    this->apply({put_queue_entry{"c", sample_entry(6)}, delete_queue_entry{"c", 1}});
    this->verify([&] {
        const auto b = read_bounds(this->s(), "c");
        ASSERT_TRUE(b.has_value());
        EXPECT_EQ(b->first_seq, 2u);
        EXPECT_EQ(b->last_seq, 6u);
    });
}

TYPED_TEST_P(store_conformance, close_is_idempotent_and_later_calls_fail) {
    this->apply({put_meta{"k", "v"}});
    EXPECT_TRUE(this->s().check().is_ok());
    EXPECT_TRUE(this->s().close().is_ok());
    EXPECT_TRUE(this->s().close().is_ok());
    const auto invalid = status::code::invalid_argument;
    EXPECT_EQ(write_ops(this->s(), {put_meta{"k", "w"}}).error_code(), invalid);
    expect_every_read_fails(this->s(), invalid);
    EXPECT_EQ(this->s().check().error_code(), invalid);
}

// The one-pass recovery read gives every session once, whatever the parts and chunks: the union
// of the parts is every stored session, each with exactly what the per-session reads return
// (records without a session record are not sessions; a queue longer than a walk is bounded
// right); stopping after the first chunk stops.
TYPED_TEST_P(store_conformance, recovered_sessions_in_parts_and_chunks) {
    auto ids = tricky_client_ids();
    for (int i = 0; i < 40; ++i)
        ids.push_back(numbered("n", i));
    for (std::size_t i = 0; i < ids.size(); ++i) {
        this->put_full_client(ids[i], i == 3 ? 70 : static_cast<int>(i % 4));
        if (this->HasFatalFailure()) return;
    }
    // Records of a client id without a session record, and a session with nothing else.
    this->apply({put_subscription{"orphan", sample_subscription("o/#")},
                 put_queue_entry{"orphan", sample_entry(5)}, put_inbound_qos2{"orphan", 3},
                 put_session{sample_session("bare")}});
    ids.push_back("bare");
    this->verify([&] {
        for (const std::size_t parts : {std::size_t{1}, std::size_t{3}}) {
            for (const std::size_t chunk : {std::size_t{1}, std::size_t{4}, std::size_t{1000}}) {
                SCOPED_TRACE(numbered("parts ", parts) + numbered(", chunk ", chunk));
                std::map<std::string, recovered_session> got;
                for (std::size_t part = 0; part < parts; ++part) {
                    const status st = this->s().for_each_recovered_session(
                        part, parts, chunk, [&](std::vector<recovered_session>& batch) {
                            EXPECT_LE(batch.size(), chunk);
                            EXPECT_FALSE(batch.empty());
                            for (auto& r : batch) {
                                const std::string id = r.record.client_id;
                                EXPECT_TRUE(got.emplace(id, std::move(r)).second)
                                    << "twice: " << printable(id);
                            }
                            return true;
                        });
                    ASSERT_TRUE(st.is_ok()) << st.to_string();
                }
                ASSERT_EQ(got.size(), ids.size());
                const auto sessions = read_sessions(this->s());
                for (const auto& id : ids) {
                    SCOPED_TRACE(printable(id));
                    auto it = got.find(id);
                    ASSERT_NE(it, got.end());
                    EXPECT_EQ(it->second.record, sessions.at(id));
                    auto subs = read_subscriptions(this->s(), id);
                    auto by_filter = [](const subscription_record& a,
                                        const subscription_record& b) {
                        return a.filter < b.filter;
                    };
                    std::sort(subs.begin(), subs.end(), by_filter);
                    auto got_subs = it->second.state.subscriptions;
                    std::sort(got_subs.begin(), got_subs.end(), by_filter);
                    EXPECT_EQ(got_subs, subs);
                    std::optional<queue_bounds> b;
                    ASSERT_TRUE(this->s().load_queue_bounds(id, b).is_ok());
                    ASSERT_EQ(it->second.state.bounds.has_value(), b.has_value());
                    if (b) {
                        EXPECT_EQ(it->second.state.bounds->first_seq, b->first_seq);
                        EXPECT_EQ(it->second.state.bounds->last_seq, b->last_seq);
                    }
                    std::vector<std::uint16_t> q2;
                    ASSERT_TRUE(this->s().load_inbound_qos2(id, q2).is_ok());
                    auto got_q2 = it->second.state.inbound_qos2;
                    std::sort(q2.begin(), q2.end());
                    std::sort(got_q2.begin(), got_q2.end());
                    EXPECT_EQ(got_q2, q2);
                }
            }
        }
        std::size_t calls = 0;
        ASSERT_TRUE(this->s()
                        .for_each_recovered_session(0, 1, 2,
                                                    [&](std::vector<recovered_session>&) {
                                                        ++calls;
                                                        return false;
                                                    })
                        .is_ok());
        EXPECT_EQ(calls, 1u);
        EXPECT_EQ(this->s()
                      .for_each_recovered_session(
                          1, 1, 2, [](std::vector<recovered_session>&) { return true; })
                      .error_code(),
                  status::code::invalid_argument);
    });
}

// ---- readers (store::open_reader) -------------------------------------------------------------

TYPED_TEST_P(store_conformance, reader_sees_committed_data) {
    this->put_full_client("c", 4);
    this->put_full_client(std::string(65535, 'x'), 1);
    this->apply({put_retained{sample_message("r/1", "p")}, put_meta{"node_id", "7"}});
    std::unique_ptr<store_reader> reader;
    ASSERT_TRUE(this->s().open_reader(reader).is_ok());
    ASSERT_NE(reader, nullptr);
    const std::vector<std::string> ids = {"c", std::string(65535, 'x'), "missing"};
    const std::vector<std::string> meta = {"node_id", "missing"};
    const store_snapshot from_store = take_snapshot(this->s(), ids, meta);
    EXPECT_EQ(from_store.sessions.size(), 2u);
    EXPECT_EQ(snapshot_difference(from_store, take_snapshot(*reader, ids, meta)), "");
    std::vector<recovery_state> a;
    std::vector<recovery_state> b;
    ASSERT_TRUE(this->s().load_recovery_state(ids, a).is_ok());
    ASSERT_TRUE(reader->load_recovery_state(ids, b).is_ok());
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i) {
        EXPECT_EQ(a[i].subscriptions.size(), b[i].subscriptions.size());
        EXPECT_EQ(a[i].bounds.has_value(), b[i].bounds.has_value());
        EXPECT_EQ(a[i].inbound_qos2.size(), b[i].inbound_qos2.size());
    }

    // Writes that return later are seen by the same reader, also from another thread.
    this->apply({put_queue_entry{"c", sample_entry(9)}, delete_session{std::string(65535, 'x')},
                 put_meta{"node_id", "8"}, delete_retained{"r/1"}});
    std::thread other([&] {
        const auto q = read_queue(*reader, "c");
        ASSERT_EQ(q.size(), 5u);
        EXPECT_EQ(q.back(), sample_entry(9));
        EXPECT_EQ(read_meta(*reader, "node_id"), std::optional<std::string>("8"));
        EXPECT_TRUE(read_retained(*reader).empty());
        EXPECT_EQ(read_sessions(*reader).size(), 1u);
    });
    other.join();
}

// Two readers on two threads read while the store writes on a third. Every reader call must
// succeed and show whole records; a reader never goes back in time (the counter it reads never
// decreases); when the writer is done, the readers see its last write. No timing: the readers
// loop until the writer has finished, then read once more.
TYPED_TEST_P(store_conformance, readers_read_while_the_store_writes) {
    this->put_full_client("stable", 3);
    std::unique_ptr<store_reader> readers[2];
    for (auto& r : readers)
        ASSERT_TRUE(this->s().open_reader(r).is_ok());
    constexpr std::uint64_t rounds = 151;  // odd: the last round puts session "s"
    auto packet_id = [](std::uint64_t seq) { return static_cast<std::uint16_t>(seq % 60000 + 1); };
    std::atomic<bool> writing{true};
    std::string write_error;
    std::thread writer([&] {
        for (std::uint64_t i = 1; i <= rounds && write_error.empty(); ++i) {
            std::vector<operation> ops;
            ops.push_back(put_queue_entry{"w", sample_entry(i)});
            if (i > 1)
                ops.push_back(update_queue_entry{"w", i - 1, queue_state::sent, packet_id(i - 1)});
            if (i > 4) ops.push_back(delete_queue_entry{"w", i - 4});
            ops.push_back(put_retained{sample_message(numbered("r/", i), "p")});
            if (i > 3) ops.push_back(delete_retained{numbered("r/", i - 3)});
            if (i % 2 == 1) {
                ops.push_back(put_session{sample_session("s")});
                ops.push_back(put_subscription{"s", sample_subscription("s/#")});
            } else {
                ops.push_back(delete_session{"s"});
            }
            ops.push_back(put_meta{"counter", std::to_string(i)});
            const status st = write_ops(this->s(), std::move(ops));
            if (!st.is_ok()) write_error = "round " + std::to_string(i) + ": " + st.to_string();
        }
        writing = false;
    });

    auto read_loop = [&](store_reader& r, std::string& error, std::uint64_t& passes) {
        std::uint64_t last_counter = 0;
        bool more = true;
        while (more && error.empty()) {
            more = writing.load();
            ++passes;
            std::optional<std::string> counter;
            if (status st = r.get_meta("counter", counter); !st) {
                error = "get_meta: " + st.to_string();
                break;
            }
            const std::uint64_t c = counter ? std::stoull(*counter) : 0;
            if (c < last_counter) {
                error = "counter went back from " + std::to_string(last_counter) + " to " +
                        std::to_string(c);
                break;
            }
            last_counter = c;
            std::vector<queue_entry> q;
            if (status st = r.load_queue("w", 0, 100, q); !st) {
                error = "load_queue: " + st.to_string();
                break;
            }
            for (std::size_t i = 0; i < q.size() && error.empty(); ++i) {
                queue_entry e = q[i];
                if (i > 0 && e.seq <= q[i - 1].seq) error = "queue out of order";
                if (e.state == queue_state::sent) {
                    if (e.packet_id != packet_id(e.seq)) error = "torn state";
                    e.state = queue_state::queued;
                    e.packet_id = 0;
                }
                if (!(e == sample_entry(e.seq)))
                    error = "torn queue entry " + std::to_string(e.seq);
            }
            std::optional<queue_bounds> bounds;
            if (status st = r.load_queue_bounds("w", bounds); !st) {
                error = "load_queue_bounds: " + st.to_string();
                break;
            }
            if (bounds && bounds->first_seq > bounds->last_seq) error = "bounds out of order";
            status st = r.for_each_session([&](session_record&& rec) {
                if (!(rec == sample_session(rec.client_id))) error = "torn session record";
                return true;
            });
            if (!st) error = "for_each_session: " + st.to_string();
            st = r.for_each_retained([&](message_record&& m) {
                if (!(m == sample_message(m.topic, "p"))) error = "torn retained message";
                return true;
            });
            if (!st) error = "for_each_retained: " + st.to_string();
            std::vector<subscription_record> subs;
            if (st = r.load_subscriptions("stable", subs); !st || subs.size() != 2) {
                error = "stable subscriptions: " + st.to_string();
            }
            std::vector<recovery_state> rec;
            if (st = r.load_recovery_state({"stable", "s", "w"}, rec); !st || rec.size() != 3) {
                error = "load_recovery_state: " + st.to_string();
            } else if (!rec[0].bounds || rec[0].bounds->first_seq != 1 ||
                       rec[0].bounds->last_seq != 3 || rec[0].inbound_qos2.size() != 2) {
                error = "stable recovery state changed";
            }
        }
    };
    std::string errors[2];
    std::uint64_t passes[2] = {0, 0};
    std::thread t0([&] { read_loop(*readers[0], errors[0], passes[0]); });
    std::thread t1([&] { read_loop(*readers[1], errors[1], passes[1]); });
    writer.join();
    t0.join();
    t1.join();
    ASSERT_EQ(write_error, "");
    EXPECT_EQ(errors[0], "");
    EXPECT_EQ(errors[1], "");
    EXPECT_GE(passes[0], 1u);
    for (auto& r : readers) {
        EXPECT_EQ(read_meta(*r, "counter"), std::optional<std::string>(std::to_string(rounds)));
        const auto q = read_queue(*r, "w");
        ASSERT_EQ(q.size(), 4u);
        EXPECT_EQ(q.front().seq, rounds - 3);
        const auto sessions = read_sessions(*r);
        EXPECT_EQ(sessions.size(), 2u) << "a reader must not remove a session written meanwhile";
        EXPECT_EQ(sessions.count("s"), 1u);
        EXPECT_EQ(read_retained(*r).size(), 3u);
    }
    this->expect_full_client("stable", 3);
}

TYPED_TEST_P(store_conformance, reader_after_close_fails_cleanly) {
    this->apply({put_meta{"k", "v"}});
    std::unique_ptr<store_reader> reader;
    ASSERT_TRUE(this->s().open_reader(reader).is_ok());
    EXPECT_EQ(read_meta(*reader, "k"), std::optional<std::string>("v"));
    std::unique_ptr<store_reader> unused;  // never read from: destroyed after the store
    ASSERT_TRUE(this->s().open_reader(unused).is_ok());
    EXPECT_TRUE(this->s().close().is_ok());
    const auto invalid = status::code::invalid_argument;
    expect_every_read_fails(*reader, invalid);
    std::unique_ptr<store_reader> late;
    EXPECT_EQ(this->s().open_reader(late).error_code(), invalid);
    EXPECT_EQ(late, nullptr);
    // The reader outlives the store object itself.
    this->store_.reset();
    expect_every_read_fails(*reader, invalid);
    reader.reset();
    unused.reset();
}

// close() waits for a reader call in progress: the engine is not torn down under it.
TYPED_TEST_P(store_conformance, close_waits_for_reader_calls_in_progress) {
    this->put_full_client("a", 1);
    this->put_full_client("b", 1);
    std::unique_ptr<store_reader> reader;
    ASSERT_TRUE(this->s().open_reader(reader).is_ok());
    std::mutex m;
    std::condition_variable cv;
    bool inside = false;
    bool release = false;
    std::atomic<bool> closed{false};
    bool closed_while_inside = false;
    std::size_t seen = 0;
    status scan;
    std::thread scanner([&] {
        scan = reader->for_each_session([&](session_record&&) {
            ++seen;
            if (seen == 1) {
                std::unique_lock lock(m);
                inside = true;
                cv.notify_all();
                cv.wait(lock, [&] { return release; });
                closed_while_inside = closed.load();
            }
            return true;
        });
    });
    {
        std::unique_lock lock(m);
        cv.wait(lock, [&] { return inside; });
    }
    std::thread closer([&] {
        EXPECT_TRUE(this->s().close().is_ok());
        closed = true;
    });
    {
        // Give close() a chance to return early if it did not wait (a bug shows as a failure
        // only sometimes; a correct engine never fails here).
        std::unique_lock lock(m);
        cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return closed.load(); });
        release = true;
        cv.notify_all();
    }
    scanner.join();
    closer.join();
    EXPECT_FALSE(closed_while_inside);
    EXPECT_TRUE(scan.is_ok()) << scan.to_string();
    EXPECT_EQ(seen, 2u);
    expect_every_read_fails(*reader, status::code::invalid_argument);
}

// ---- shared messages (put_message) ------------------------------------------------------------

// Every engine stores shared messages (memory, RocksDB, Redis).
#define RMQTT_REQUIRE_SHARED_MESSAGES() ASSERT_TRUE(this->s().supports_shared_messages())

inline queue_entry shared_entry(std::uint64_t seq, std::uint64_t message_id) {
    queue_entry e = sample_entry(seq);
    e.message = {};
    e.message_id = message_id;
    return e;
}
// The entry as load_queue gives it: the reference resolved.
inline queue_entry resolved(queue_entry e, const message_record& m) {
    e.message = m;
    return e;
}
inline std::map<std::uint64_t, message_record> read_messages(store_reader& s) {
    std::map<std::uint64_t, message_record> out;
    const status st = s.for_each_message([&](std::uint64_t id, message_record&& m) {
        EXPECT_TRUE(out.emplace(id, std::move(m)).second) << "message " << id << " listed twice";
        return true;
    });
    EXPECT_TRUE(st.is_ok()) << st.to_string();
    return out;
}

TYPED_TEST_P(store_conformance, shared_message_resolves_in_every_queue) {
    RMQTT_REQUIRE_SHARED_MESSAGES();
    const message_record m = sample_message("fan/out", all_bytes());
    this->apply({put_message{5, m}, put_queue_entry{"a", shared_entry(1, 5)},
                 put_queue_entry{"b", shared_entry(7, 5)}, put_queue_entry{"c", shared_entry(9, 5)},
                 put_queue_entry{"c", sample_entry(10)}});
    this->verify([&] {
        EXPECT_EQ(read_queue(this->s(), "a"),
                  (std::vector<queue_entry>{resolved(shared_entry(1, 5), m)}));
        EXPECT_EQ(read_queue(this->s(), "b"),
                  (std::vector<queue_entry>{resolved(shared_entry(7, 5), m)}));
        EXPECT_EQ(read_queue(this->s(), "c"),
                  (std::vector<queue_entry>{resolved(shared_entry(9, 5), m), sample_entry(10)}));
        const auto messages = read_messages(this->s());
        ASSERT_EQ(messages.size(), 1u);
        EXPECT_EQ(messages.at(5), m);
        std::uint64_t max_id = 0;
        ASSERT_TRUE(this->s().max_message_id(max_id).is_ok());
        EXPECT_EQ(max_id, 5u);
    });
}

TYPED_TEST_P(store_conformance, shared_message_goes_with_its_last_reference) {
    RMQTT_REQUIRE_SHARED_MESSAGES();
    const message_record m = sample_message("fan/out", "payload");
    this->apply({put_message{3, m}, put_queue_entry{"a", shared_entry(1, 3)},
                 put_queue_entry{"a", shared_entry(2, 3)}, put_queue_entry{"b", shared_entry(1, 3)},
                 put_queue_entry{"c", shared_entry(1, 3)}});
    this->apply({delete_queue_entry{"a", 1}});
    this->apply({delete_queue_entry{"a", 1}});  // again: nothing more is released
    this->verify([&] { EXPECT_EQ(read_messages(this->s()).size(), 1u); });
    this->apply({delete_session{"c"}, delete_queue_entry{"b", 1}});
    this->verify([&] {
        EXPECT_EQ(read_messages(this->s()).size(), 1u);
        EXPECT_EQ(read_queue(this->s(), "a"),
                  (std::vector<queue_entry>{resolved(shared_entry(2, 3), m)}));
    });
    // Deleted and put again, holding its message: the last reference is gone.
    this->apply({delete_queue_entry{"a", 2}, put_queue_entry{"a", sample_entry(2)}});
    this->verify([&] {
        EXPECT_TRUE(read_messages(this->s()).empty());
        EXPECT_EQ(read_queue(this->s(), "a"), (std::vector<queue_entry>{sample_entry(2)}));
        std::uint64_t max_id = 9;
        ASSERT_TRUE(this->s().max_message_id(max_id).is_ok());
        EXPECT_EQ(max_id, 0u);
    });
}

TYPED_TEST_P(store_conformance, shared_message_unreferenced_at_batch_end_is_not_kept) {
    RMQTT_REQUIRE_SHARED_MESSAGES();
    const message_record m = sample_message("t", "p");
    this->apply({put_message{1, m}});
    this->apply(
        {put_message{2, m}, put_queue_entry{"a", shared_entry(1, 2)}, delete_queue_entry{"a", 1}});
    this->apply({put_message{3, m}, put_queue_entry{"a", shared_entry(2, 3)},
                 put_queue_entry{"b", shared_entry(2, 3)}, delete_session{"a"},
                 delete_session{"b"}});
    this->verify([&] {
        EXPECT_TRUE(read_messages(this->s()).empty());
        EXPECT_TRUE(read_queue(this->s(), "a").empty());
    });
}

TYPED_TEST_P(store_conformance, shared_message_references_across_batches) {
    RMQTT_REQUIRE_SHARED_MESSAGES();
    const message_record m = sample_message("t", "p");
    // Entries put after the message's own write, and a session deleted then put again.
    this->apply({put_message{8, m}, put_queue_entry{"a", shared_entry(1, 8)}});
    this->apply({put_queue_entry{"b", shared_entry(1, 8)}});
    this->apply({delete_session{"a"}, put_queue_entry{"a", shared_entry(5, 8)}});
    this->apply({delete_queue_entry{"b", 1}});
    this->verify([&] {
        EXPECT_EQ(read_messages(this->s()).size(), 1u);
        EXPECT_EQ(read_queue(this->s(), "a"),
                  (std::vector<queue_entry>{resolved(shared_entry(5, 8), m)}));
    });
    this->apply({delete_queue_entry{"a", 5}});
    this->verify([&] { EXPECT_TRUE(read_messages(this->s()).empty()); });
}

TYPED_TEST_P(store_conformance, reference_to_a_missing_message_rejects_the_batch) {
    RMQTT_REQUIRE_SHARED_MESSAGES();
    const status st = write_ops(
        this->s(), {put_session{sample_session("a")}, put_queue_entry{"a", shared_entry(1, 42)}});
    EXPECT_EQ(st.error_code(), status::code::invalid_argument) << st.to_string();
    const status deleted =
        write_ops(this->s(), {put_message{42, sample_message("t", "p")}, delete_message{42},
                              put_queue_entry{"a", shared_entry(1, 42)}});
    EXPECT_EQ(deleted.error_code(), status::code::invalid_argument) << deleted.to_string();
    this->verify([&] {
        this->expect_client_empty("a");
        EXPECT_TRUE(read_messages(this->s()).empty());
    });
}

TYPED_TEST_P(store_conformance, shared_entry_state_updates_and_paging) {
    RMQTT_REQUIRE_SHARED_MESSAGES();
    const message_record m1 = sample_message("t/1", "one");
    const message_record m2 = sample_message("t/2", "two");
    std::vector<operation> ops{put_message{1, m1}, put_message{2, m2}};
    std::vector<queue_entry> expected;
    for (std::uint64_t seq = 1; seq <= 6; ++seq) {
        queue_entry e = seq % 3 == 0 ? sample_entry(seq) : shared_entry(seq, seq % 2 + 1);
        ops.push_back(put_queue_entry{"a", e});
        ops.push_back(put_queue_entry{"b", e});
        expected.push_back(e.message_id == 0 ? e : resolved(e, e.message_id == 1 ? m1 : m2));
    }
    ops.push_back(update_queue_entry{"a", 2, queue_state::pubrec_received, 77});
    expected[1].state = queue_state::pubrec_received;
    expected[1].packet_id = 77;
    this->apply(std::move(ops));
    this->verify([&] {
        std::vector<queue_entry> paged;
        for (std::uint64_t from = 0; from <= 6;) {
            std::vector<queue_entry> page;
            ASSERT_TRUE(this->s().load_queue("a", from, 4, page).is_ok());
            if (page.empty()) break;
            from = page.back().seq + 1;
            paged.insert(paged.end(), page.begin(), page.end());
        }
        EXPECT_EQ(paged, expected);
    });
}

REGISTER_TYPED_TEST_SUITE_P(
    store_conformance, engine_name_and_location, empty_store_reads_nothing, empty_batch_is_ok,
    reads_append_to_out, put_session_and_read_back, put_session_replaces_record_only,
    session_with_binary_and_long_fields, for_each_session_lists_each_once_and_stops_early,
    subscriptions_put_replace_delete, subscription_filters_with_odd_bytes,
    queue_entries_load_in_seq_order, queue_paging, queue_bounds_follow_deletes,
    queue_put_replaces_entry, queue_update_changes_state_and_packet_id_only,
    queue_update_on_missing_entry_creates_nothing, queue_operations_apply_in_batch_order,
    queue_entry_with_binary_payload, inbound_qos2_put_delete, retained_put_replace_delete,
    for_each_retained_stops_early, meta_put_get_replace, delete_session_removes_only_that_session,
    load_recovery_state_matches_per_session_reads, recovered_sessions_in_parts_and_chunks,
    delete_session_without_session_record, delete_session_in_batch_order,
    batch_with_many_operations, oversized_client_id_rejects_whole_batch,
    data_survives_reopen_and_writes_continue, close_is_idempotent_and_later_calls_fail,
    reader_sees_committed_data, readers_read_while_the_store_writes,
    reader_after_close_fails_cleanly, close_waits_for_reader_calls_in_progress,
    shared_message_resolves_in_every_queue, shared_message_goes_with_its_last_reference,
    shared_message_unreferenced_at_batch_end_is_not_kept, shared_message_references_across_batches,
    reference_to_a_missing_message_rejects_the_batch, shared_entry_state_updates_and_paging);

}  // namespace rmqtt::storage::test
