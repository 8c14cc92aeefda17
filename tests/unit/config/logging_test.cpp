// init_logging / log_config_warnings / shutdown_logging with spdlog.
#include <gtest/gtest.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "config/logging.hpp"
#include "config_test_util.hpp"
#include "rmqtt/broker/config.hpp"

namespace {

using rmqtt::broker::init_logging;
using rmqtt::broker::log_config;
using rmqtt::broker::log_fields;
using rmqtt::broker::log_format;
using rmqtt::broker::log_target;
using rmqtt::broker::log_with;
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

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        out.push_back(line);
    return out;
}

TEST_F(config_logging, TextLinesShowPeerAndClientId) {
    scoped_env env("RMQTT_LOG", std::nullopt);
    const temp_dir dir("rmqtt-log-test");
    log_config cfg;
    cfg.to = log_target::file;
    cfg.dir = dir.path();
    init_logging(cfg);
    log_with(log_fields{"127.0.0.1:5000", "sensor-1"}, spdlog::level::info, "keep alive {}", 1);
    log_with(log_fields{"127.0.0.1:5001", ""}, spdlog::level::info, "no CONNECT");
    spdlog::info("plain");
    shutdown_logging();
    const auto lines = lines_of(read_file(dir.file("rmqtt.log")));
    ASSERT_EQ(lines.size(), 3u);
    EXPECT_NE(lines[0].find("] 127.0.0.1:5000 (sensor-1): keep alive 1"), std::string::npos);
    EXPECT_NE(lines[1].find("] 127.0.0.1:5001: no CONNECT"), std::string::npos);
    EXPECT_NE(lines[2].find("] plain"), std::string::npos);  // no fields outside log_with
}

TEST_F(config_logging, JsonLinesParseWhateverTheMessageHolds) {
    scoped_env env("RMQTT_LOG", std::nullopt);
    const temp_dir dir("rmqtt-log-test");
    log_config cfg;
    cfg.to = log_target::file;
    cfg.dir = dir.path();
    cfg.format = log_format::json;
    init_logging(cfg);
    const std::string id = "he said \"hi\"\n\t\\";
    log_with(log_fields{"[::1]:5000", id}, spdlog::level::warn, "quote \" newline \n end");
    spdlog::error("not UTF-8: \xff\xfe");
    spdlog::info("{}", "{\"looks\": \"like json\"}");
    shutdown_logging();

    const auto lines = lines_of(read_file(dir.file("rmqtt.log")));
    ASSERT_EQ(lines.size(), 3u);
    std::vector<nlohmann::json> parsed;
    for (const auto& l : lines) {
        SCOPED_TRACE(l);
        auto j = nlohmann::json::parse(l, nullptr, /*allow_exceptions*/ false);
        ASSERT_TRUE(j.is_object());
        ASSERT_TRUE(j.contains("time") && j["time"].is_string());
        ASSERT_TRUE(j.contains("level") && j["level"].is_string());
        ASSERT_TRUE(j.contains("thread") && j["thread"].is_number_unsigned());
        ASSERT_TRUE(j.contains("message") && j["message"].is_string());
        parsed.push_back(std::move(j));
    }
    EXPECT_EQ(parsed[0]["level"], "warning");
    EXPECT_EQ(parsed[0]["message"], "quote \" newline \n end");
    EXPECT_EQ(parsed[0]["peer"], "[::1]:5000");
    EXPECT_EQ(parsed[0]["client_id"], id);
    EXPECT_FALSE(parsed[1].contains("peer"));
    EXPECT_EQ(parsed[1]["message"], "not UTF-8: \xef\xbf\xbd\xef\xbf\xbd");  // U+FFFD each
    EXPECT_EQ(parsed[2]["message"], "{\"looks\": \"like json\"}");
    const std::string time = parsed[0]["time"];
    EXPECT_EQ(time.size(), std::string("2026-01-01T00:00:00.000Z").size()) << time;
    EXPECT_EQ(time.back(), 'Z');
}

TEST_F(config_logging, RotationKeepsMaxFilesOfBoundedSize) {
    scoped_env env("RMQTT_LOG", std::nullopt);
    const temp_dir dir("rmqtt-log-test");
    log_config cfg;
    cfg.to = log_target::file;
    cfg.dir = dir.path();
    cfg.max_file_size = 2048;
    cfg.max_files = 2;
    init_logging(cfg);
    const auto& sinks = spdlog::default_logger()->sinks();
    ASSERT_EQ(sinks.size(), 1u);
    EXPECT_TRUE(std::dynamic_pointer_cast<spdlog::sinks::rotating_file_sink_mt>(sinks[0]));
    const std::string filler(100, 'x');
    for (int i = 0; i < 500; ++i)  // about 75KB: many rotations
        spdlog::info("line {} {}", i, filler);
    shutdown_logging();

    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
        names.push_back(e.path().filename().string());
        EXPECT_LE(e.file_size(), 2048u) << e.path();
    }
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{"rmqtt.1.log", "rmqtt.2.log", "rmqtt.log"}));
    EXPECT_NE(read_file(dir.file("rmqtt.log")).find("line 499 "), std::string::npos);
}

TEST_F(config_logging, LoggingAfterShutdownStillWorks) {
    shutdown_logging();
    ASSERT_NE(spdlog::default_logger(), nullptr);
    EXPECT_NO_THROW(spdlog::info("after shutdown"));
}

}  // namespace
