// The broker's handle on the session store (persist/persistence.hpp) over a fault-injecting
// memory engine: read_async reads on its own thread after the writes submitted before it, and
// writes that fail with nobody waiting are logged and counted.
#include "persist/persistence.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "../../storage/fault_store.hpp"
#include "../../storage/store_test_util.hpp"

namespace rmqtt::broker {
namespace {

using namespace std::chrono_literals;
using storage::test::fault_store;
using storage::test::read_meta;
using storage::test::read_queue;
using storage::test::sample_entry;

// Sends the default logger's output to a string for the lifetime of the object.
class captured_log {
  public:
    captured_log() : previous_(spdlog::default_logger()) {
        auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
        auto logger = std::make_shared<spdlog::logger>("captured", sink);
        logger->set_level(spdlog::level::trace);
        spdlog::set_default_logger(logger);
    }
    ~captured_log() { spdlog::set_default_logger(previous_); }
    captured_log(const captured_log&) = delete;
    captured_log& operator=(const captured_log&) = delete;

    std::string text() {
        spdlog::default_logger()->flush();
        return out_.str();
    }

  private:
    std::ostringstream out_;
    std::shared_ptr<spdlog::logger> previous_;
};

session_storage_config test_config(session_storage_config::ack_mode ack) {
    session_storage_config cfg;
    cfg.ack = ack;
    cfg.commit_window = 0us;
    cfg.backend_timeout = 30ms;
    return cfg;
}

storage::write_batch meta_batch(std::string key) {
    storage::write_batch b;
    b.ops.push_back(storage::put_meta{std::move(key), "v"});
    return b;
}

TEST(persistence, failed_writes_nobody_waits_for_are_logged_and_counted) {
    captured_log log;
    auto owned = std::make_unique<fault_store>();
    fault_store& engine = *owned;
    persistence p(std::move(owned), test_config(session_storage_config::ack_mode::async));
    p.submit(meta_batch("ok"));
    p.flush();
    EXPECT_EQ(p.unobserved_failures(), 0u);

    engine.fail_always(true, storage::status::code::io_error);
    // With ack = "async" the caller is told ok at once; the write fails later.
    bool acknowledged = false;
    p.submit(meta_batch("lost-1"), [&](const storage::status& st) { acknowledged = st.is_ok(); });
    EXPECT_TRUE(acknowledged);
    p.flush();
    p.submit(storage::put_meta{"lost-2", "v"});
    p.flush();
    EXPECT_EQ(p.unobserved_failures(), 2u);
    EXPECT_EQ(p.unobserved_failed_ops(), 2u);
    const std::string text = log.text();
    EXPECT_NE(text.find("[error]"), std::string::npos) << text;
    EXPECT_NE(text.find("were not stored"), std::string::npos) << text;
    EXPECT_NE(text.find("injected outage"), std::string::npos) << text;

    engine.fail_always(false);
    p.submit(meta_batch("ok-again"));
    p.flush();
    EXPECT_EQ(p.unobserved_failures(), 2u);
    EXPECT_TRUE(p.close().is_ok());
}

TEST(persistence, failed_durable_writes_go_to_their_completion_not_the_counter) {
    auto owned = std::make_unique<fault_store>();
    fault_store& engine = *owned;
    persistence p(std::move(owned), test_config(session_storage_config::ack_mode::durable));
    engine.fail_always(true, storage::status::code::io_error);
    storage::status result;
    p.submit(meta_batch("k"), [&](const storage::status& st) { result = st; });
    p.flush();
    EXPECT_EQ(result.error_code(), storage::status::code::io_error);
    EXPECT_EQ(p.unobserved_failures(), 0u);
    engine.fail_always(false);
    EXPECT_TRUE(p.close().is_ok());
}

// The committer's thread, as seen from a completion.
std::thread::id committer_thread(persistence& p) {
    std::promise<std::thread::id> id;
    p.submit(meta_batch("probe"),
             [&](const storage::status&) { id.set_value(std::this_thread::get_id()); });
    return id.get_future().get();
}

// Bounded wait for a future (10 s): a bound, not a timing assertion.
template <class T>
bool ready(std::future<T>& f) {
    return f.wait_for(10s) == std::future_status::ready;
}

TEST(persistence, read_async_sees_earlier_writes_on_its_own_thread) {
    for (auto ack :
         {session_storage_config::ack_mode::durable, session_storage_config::ack_mode::async}) {
        persistence p(storage::make_memory_store(), test_config(ack));
        const std::thread::id writer = committer_thread(p);
        for (std::uint64_t i = 1; i <= 100; ++i) {
            storage::write_batch b;
            b.ops.push_back(storage::put_queue_entry{"c", sample_entry(i)});
            p.submit(std::move(b));  // nothing waits for these
        }
        std::promise<std::size_t> loaded;
        std::thread::id reader;
        p.read_async([&](storage::store_reader& r) {
            reader = std::this_thread::get_id();
            loaded.set_value(read_queue(r, "c").size());
        });
        auto f = loaded.get_future();
        ASSERT_TRUE(ready(f));
        EXPECT_EQ(f.get(), 100u);
        EXPECT_NE(reader, writer);
        EXPECT_NE(reader, std::this_thread::get_id());
        EXPECT_TRUE(p.close().is_ok());
    }
}

// The barrier: a read waits for a write submitted before it even while that write is held
// inside the engine.
TEST(persistence, read_async_waits_for_writes_in_progress) {
    auto owned = std::make_unique<fault_store>();
    fault_store& engine = *owned;
    persistence p(std::move(owned), test_config(session_storage_config::ack_mode::durable));
    engine.hold();
    p.submit(meta_batch("k"), {});
    ASSERT_TRUE(engine.wait_attempts(1));
    std::promise<std::optional<std::string>> seen;
    p.read_async([&](storage::store_reader& r) { seen.set_value(read_meta(r, "k")); });
    engine.release();
    auto f = seen.get_future();
    ASSERT_TRUE(ready(f));
    EXPECT_EQ(f.get(), std::optional<std::string>("v"));
    EXPECT_TRUE(p.close().is_ok());
}

// A read in progress does not hold up commits (it would deadlock here if reads ran on the
// committer's thread), and reads run one at a time in call order.
TEST(persistence, commits_go_on_while_a_read_runs) {
    persistence p(storage::make_memory_store(),
                  test_config(session_storage_config::ack_mode::durable));
    std::promise<void> reading;
    std::promise<void> finish_read;
    // Ends the held read on every way out of the test, or close() would wait for it forever.
    struct release_at_exit {
        std::promise<void>& promise;
        bool released = false;
        void release() {
            if (!released) promise.set_value();
            released = true;
        }
        ~release_at_exit() { release(); }
    } guard{finish_read};
    std::mutex m;
    std::vector<int> order;
    p.read_async([&](storage::store_reader&) {
        reading.set_value();
        finish_read.get_future().wait();
        std::lock_guard lock(m);
        order.push_back(1);
    });
    auto r = reading.get_future();
    ASSERT_TRUE(ready(r));
    std::promise<storage::status> committed;
    p.submit(meta_batch("during"), [&](const storage::status& st) { committed.set_value(st); });
    auto c = committed.get_future();
    ASSERT_TRUE(ready(c)) << "a commit waited for a read";
    EXPECT_TRUE(c.get().is_ok());
    std::promise<std::optional<std::string>> second;
    p.read_async([&](storage::store_reader& reader) {
        {
            std::lock_guard lock(m);
            order.push_back(2);
        }
        second.set_value(read_meta(reader, "during"));
    });
    guard.release();
    auto s2 = second.get_future();
    ASSERT_TRUE(ready(s2));
    EXPECT_EQ(s2.get(), std::optional<std::string>("v"));
    std::lock_guard lock(m);
    EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

TEST(persistence, close_runs_pending_reads_then_later_reads_fail_on_the_caller) {
    auto owned = std::make_unique<fault_store>();
    fault_store& engine = *owned;
    persistence p(std::move(owned), test_config(session_storage_config::ack_mode::durable));
    engine.hold();
    p.submit(meta_batch("k"), {});
    ASSERT_TRUE(engine.wait_attempts(1));
    std::atomic<int> ran{0};
    std::optional<std::string> value;
    for (int i = 0; i < 5; ++i) {
        p.read_async([&](storage::store_reader& r) {
            value = read_meta(r, "k");
            ++ran;
        });
    }
    std::thread closer([&] { EXPECT_TRUE(p.close().is_ok()); });
    engine.release();
    closer.join();
    EXPECT_EQ(ran.load(), 5) << "close() runs the reads waiting for its last writes";
    EXPECT_EQ(value, std::optional<std::string>("v"));

    std::thread::id where;
    storage::status st;
    p.read_async([&](storage::store_reader& r) {
        where = std::this_thread::get_id();
        std::optional<std::string> v;
        st = r.get_meta("k", v);
    });
    EXPECT_EQ(where, std::this_thread::get_id());
    EXPECT_EQ(st.error_code(), storage::status::code::invalid_argument);
    EXPECT_TRUE(p.close().is_ok());
}

// read() keeps its contract: on the committer's thread, after the writes before it.
TEST(persistence, read_runs_on_the_committer_thread_after_earlier_writes) {
    persistence p(storage::make_memory_store(),
                  test_config(session_storage_config::ack_mode::durable));
    const std::thread::id writer = committer_thread(p);
    p.submit(storage::put_meta{"k", "v"});
    std::promise<std::optional<std::string>> seen;
    std::thread::id where;
    p.read([&](storage::store& engine) {
        where = std::this_thread::get_id();
        seen.set_value(read_meta(engine, "k"));
    });
    auto f = seen.get_future();
    ASSERT_TRUE(ready(f));
    EXPECT_EQ(f.get(), std::optional<std::string>("v"));
    EXPECT_EQ(where, writer);
}

}  // namespace
}  // namespace rmqtt::broker
