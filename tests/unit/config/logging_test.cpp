// init_logging / log_config_warnings / shutdown_logging with spdlog.
#include <gtest/gtest.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <memory>
#include <string>

#include "config/logging.hpp"
#include "config_test_util.hpp"
#include "rmqtt/broker/config.hpp"

namespace {

using rmqtt::broker::init_logging;
using rmqtt::broker::log_config;
using rmqtt::broker::log_target;
using rmqtt::broker::shutdown_logging;
using rmqtt::test::read_file;
using rmqtt::test::scoped_env;
using rmqtt::test::temp_dir;

// Resets spdlog after each test so tests do not see each other's loggers or files.
class config_logging : public ::testing::Test {
  protected:
    void TearDown() override { shutdown_logging(); }
};

bool has_file_sink(const std::shared_ptr<spdlog::logger>& l) {
    for (const auto& s : l->sinks()) {
        if (std::dynamic_pointer_cast<spdlog::sinks::basic_file_sink_mt>(s)) return true;
    }
    return false;
}

TEST_F(config_logging, FileTargetCreatesTheDirectoryAndWrites) {
    scoped_env env("RMQTT_LOG", std::nullopt);
    const temp_dir dir("rmqtt-log-test");
    log_config cfg;
    cfg.to = log_target::file;
    cfg.dir = dir.file("nested/logs");
    cfg.file = "broker.log";
    init_logging(cfg);
    spdlog::info("hello from the test {}", 42);
    spdlog::debug("not at info");
    shutdown_logging();  // flushes and closes the file

    const std::string text = read_file(dir.file("nested/logs/broker.log"));
    EXPECT_NE(text.find("hello from the test 42"), std::string::npos) << text;
    EXPECT_NE(text.find("info"), std::string::npos) << text;
    EXPECT_EQ(text.find("not at info"), std::string::npos) << text;
}

TEST_F(config_logging, UnopenableFileFallsBackToTheConsole) {
    scoped_env env("RMQTT_LOG", std::nullopt);
    const temp_dir dir("rmqtt-log-test");
    rmqtt::test::write_file(dir.file("not-a-dir"), "x");
    log_config cfg;
    cfg.to = log_target::file;
    cfg.dir = dir.file("not-a-dir/sub");  // a directory cannot be created under a file
    EXPECT_NO_THROW(init_logging(cfg));
    const auto logger = spdlog::default_logger();
    ASSERT_NE(logger, nullptr);
    EXPECT_EQ(logger->sinks().size(), 1u);
    EXPECT_FALSE(has_file_sink(logger));
    EXPECT_TRUE(logger->should_log(spdlog::level::info));
}

TEST_F(config_logging, BothTargetsHaveTwoSinks) {
    scoped_env env("RMQTT_LOG", std::nullopt);
    const temp_dir dir("rmqtt-log-test");
    log_config cfg;
    cfg.to = log_target::both;
    cfg.dir = dir.path();
    init_logging(cfg);
    EXPECT_EQ(spdlog::default_logger()->sinks().size(), 2u);
    EXPECT_TRUE(has_file_sink(spdlog::default_logger()));
}

TEST_F(config_logging, LevelsAndOff) {
    scoped_env env("RMQTT_LOG", std::nullopt);
    log_config cfg;
    cfg.level = "warn";
    init_logging(cfg);
    EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::warn);
    cfg.level = "trace";
    init_logging(cfg);
    EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::trace);
    cfg.to = log_target::off;
    init_logging(cfg);
    EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::off);
    EXPECT_TRUE(spdlog::default_logger()->sinks().empty());
}

TEST_F(config_logging, RmqttLogOverridesTheLevel) {
    log_config cfg;
    cfg.level = "info";
    {
        scoped_env env("RMQTT_LOG", "debug");
        init_logging(cfg);
        EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::debug);
    }
    {
        scoped_env env("RMQTT_LOG", "ERROR");
        init_logging(cfg);
        EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::err);
    }
    {
        scoped_env env("RMQTT_LOG", "chatty");  // not a level: ignored, with a warning
        init_logging(cfg);
        EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::info);
    }
}

TEST_F(config_logging, ConfigWarningsAreLogged) {
    scoped_env env("RMQTT_LOG", std::nullopt);
    const temp_dir dir("rmqtt-log-test");
    log_config lc;
    lc.to = log_target::file;
    lc.dir = dir.path();
    init_logging(lc);
    rmqtt::broker::config cfg;
    cfg.source_files.push_back("etc/rmqtt.toml");
    cfg.warnings.push_back("etc/rmqtt.toml: colour: unknown key, ignored");
    cfg.plugin_warnings->push_back("etc/plugins/rmqtt-retainer.toml: tint: unknown key, ignored");
    rmqtt::broker::log_config_warnings(cfg);
    shutdown_logging();
    const std::string text = read_file(dir.file("rmqtt.log"));
    EXPECT_NE(text.find("config: read etc/rmqtt.toml"), std::string::npos) << text;
    EXPECT_NE(text.find("colour: unknown key"), std::string::npos) << text;
    EXPECT_NE(text.find("tint: unknown key"), std::string::npos) << text;
}

TEST_F(config_logging, LoggingAfterShutdownStillWorks) {
    shutdown_logging();
    ASSERT_NE(spdlog::default_logger(), nullptr);
    EXPECT_NO_THROW(spdlog::info("after shutdown"));
}

}  // namespace
