// The Redis engine against the engine-neutral conformance suite and the differential test
// (memory oracle). Tests share one redis-server per test process (ctest runs each test in its own
// process); each test uses its own key prefix, so they never see each other's keys.

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "differential.hpp"
#include "redis_server.hpp"
#include "store_conformance.hpp"

namespace rmqtt::storage::test {
namespace {

rmqtt::test::redis_server& shared_server() {
    static rmqtt::test::redis_server server;
    return server;
}

std::string next_prefix(const std::string& base) {
    static std::atomic<int> counter{0};
    return base + "-" + std::to_string(counter++);
}

std::unique_ptr<store> open_redis(const std::string& prefix) {
    redis_options opts;
    opts.url = shared_server().url();
    opts.prefix = prefix;
    opts.connect_timeout_ms = 2000;
    opts.command_timeout_ms = 10000;
    std::unique_ptr<store> s;
    std::vector<std::string> warnings;  // the test server runs appendfsync everysec: expected
    const status st = open_redis_store(opts, s, warnings);
    EXPECT_TRUE(st.is_ok()) << st.to_string();
    return s;
}

}  // namespace

struct redis_trait {
    static constexpr bool persistent = true;
    std::string prefix = next_prefix("conformance");
    std::unique_ptr<store> open() { return open_redis(prefix); }
    // The data lives in Redis: a new engine on the same server and prefix sees it.
    std::unique_ptr<store> reopen(std::unique_ptr<store> current) {
        EXPECT_TRUE(current->close().is_ok());
        current.reset();
        return open_redis(prefix);
    }
};

INSTANTIATE_TYPED_TEST_SUITE_P(redis, store_conformance, ::testing::Types<redis_trait>);

class redis_differential : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(redis_differential, matches_memory_oracle) {
    const std::string prefix = next_prefix("differential");
    auto oracle = make_memory_store();
    std::unique_ptr<store> subject = open_redis(prefix);
    ASSERT_NE(subject, nullptr);
    differential_options opts;
    opts.seed = GetParam();
    opts.operations = 3000;
    run_differential(
        *oracle, *subject,
        [&]() -> store& {
            EXPECT_TRUE(subject->close().is_ok());
            subject = open_redis(prefix);
            if (!subject) throw std::runtime_error("cannot reopen the redis store");
            return *subject;
        },
        opts);
}

INSTANTIATE_TEST_SUITE_P(seeds, redis_differential, ::testing::Values(1u, 2u, 3u, 42u));

}  // namespace rmqtt::storage::test
