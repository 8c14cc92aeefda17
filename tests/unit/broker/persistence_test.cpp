// The broker's handle on the session store (persist/persistence.hpp) over a fault-injecting
// memory engine: writes that fail with nobody waiting are logged and counted.
#include "persist/persistence.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <memory>
#include <sstream>
#include <string>

#include "../../storage/fault_store.hpp"
#include "../../storage/store_test_util.hpp"

namespace rmqtt::broker {
namespace {

using namespace std::chrono_literals;
using storage::test::fault_store;

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

}  // namespace
}  // namespace rmqtt::broker
