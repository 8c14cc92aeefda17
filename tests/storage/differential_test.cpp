// Random operation sequences on RocksDB and on the memory oracle, with reopens of RocksDB at
// random points: every read function must answer the same on both (differential.hpp).
#include <memory>

#include <gtest/gtest.h>

#include "differential.hpp"
#include "process.hpp"

namespace rmqtt::storage::test {
namespace {

class storage_differential : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(storage_differential, matches_memory_oracle) {
    rmqtt::test::temp_dir dir("rmqtt-diff");
    rocksdb_options o;
    o.path = dir.file("db");
    o.cache_capacity = 4 << 20;
    std::unique_ptr<store> subject;
    ASSERT_TRUE(open_rocksdb_store(o, subject).is_ok());
    auto oracle = make_memory_store();
    differential_options d;
    d.seed = GetParam();
    d.operations = 2000;
    std::size_t reopens = 0;
    run_differential(
        *oracle, *subject,
        [&]() -> store& {
            const status closed = subject->close();
            EXPECT_TRUE(closed.is_ok()) << closed.to_string();
            subject.reset();
            const status st = open_rocksdb_store(o, subject);
            EXPECT_TRUE(st.is_ok()) << st.to_string();
            ++reopens;
            return *subject;
        },
        d);
    EXPECT_GT(reopens, 1u) << "the sequence should reopen the store along the way";
}

INSTANTIATE_TEST_SUITE_P(seeds, storage_differential, ::testing::Values(1, 2, 3, 0xC0FFEE));

// The same with shared messages: their reference counts (and so when each goes) must agree.
class storage_differential_shared : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(storage_differential_shared, matches_memory_oracle) {
    rmqtt::test::temp_dir dir("rmqtt-diff");
    rocksdb_options o;
    o.path = dir.file("db");
    o.cache_capacity = 4 << 20;
    std::unique_ptr<store> subject;
    ASSERT_TRUE(open_rocksdb_store(o, subject).is_ok());
    auto oracle = make_memory_store();
    differential_options d;
    d.seed = GetParam();
    d.operations = 3000;
    d.shared_messages = true;
    run_differential(
        *oracle, *subject,
        [&]() -> store& {
            const status closed = subject->close();
            EXPECT_TRUE(closed.is_ok()) << closed.to_string();
            subject.reset();
            const status st = open_rocksdb_store(o, subject);
            EXPECT_TRUE(st.is_ok()) << st.to_string();
            return *subject;
        },
        d);
}

INSTANTIATE_TEST_SUITE_P(seeds, storage_differential_shared,
                         ::testing::Values(11, 12, 13, 0xFA40u));

}  // namespace
}  // namespace rmqtt::storage::test
