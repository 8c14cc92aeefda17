#include "config/logging.hpp"

#include <fmt/format.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rmqtt::broker {
namespace {

// Time with milliseconds, level, short (OS) thread id, message.
constexpr const char* log_pattern = "%Y-%m-%d %H:%M:%S.%e %^%-7l%$ [%t] %v";

std::optional<spdlog::level::level_enum> parse_level(std::string_view text) {
    std::string s(text);
    for (auto& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (s == "trace") return spdlog::level::trace;
    if (s == "debug") return spdlog::level::debug;
    if (s == "info") return spdlog::level::info;
    if (s == "warn" || s == "warning") return spdlog::level::warn;
    if (s == "error") return spdlog::level::err;
    if (s == "off") return spdlog::level::off;
    return std::nullopt;
}

std::string log_file_path(const log_config& cfg) {
    if (cfg.dir.empty()) return cfg.file;
    return (std::filesystem::path(cfg.dir) / cfg.file).string();
}

}  // namespace

void init_logging(const log_config& cfg) {
    std::vector<std::string> notes;  // logged once the logger exists
    auto level = parse_level(cfg.level);
    if (!level) {
        notes.push_back(fmt::format(
            "log.level \"{}\" is not a level (trace, debug, info, warn, error, off); using info",
            cfg.level));
        level = spdlog::level::info;
    }
    if (const char* env = std::getenv("RMQTT_LOG"); env != nullptr && *env != '\0') {
        if (auto l = parse_level(env)) {
            level = *l;
        } else {
            notes.push_back(fmt::format(
                "RMQTT_LOG=\"{}\" is not a level (trace, debug, info, warn, error, off); ignored",
                env));
        }
    }

    const bool off = cfg.to == log_target::off;
    bool to_console = cfg.to == log_target::console || cfg.to == log_target::both;
    const bool to_file = cfg.to == log_target::file || cfg.to == log_target::both;
    std::vector<spdlog::sink_ptr> sinks;
    if (to_file) {
        const std::string path = log_file_path(cfg);
        try {
            if (!cfg.dir.empty()) std::filesystem::create_directories(cfg.dir);
            sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, false));
        } catch (const std::exception& e) {
            notes.push_back(fmt::format(
                "cannot open the log file {} ({}); logging to the console instead (check log.dir "
                "and log.file)",
                path, e.what()));
            to_console = true;
        }
    }
    if (to_console) sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());

    auto logger = std::make_shared<spdlog::logger>("rmqttd", sinks.begin(), sinks.end());
    logger->set_pattern(log_pattern);
    logger->set_level(off ? spdlog::level::off : *level);
    logger->flush_on(spdlog::level::warn);
    spdlog::set_default_logger(logger);
    if (!off) spdlog::flush_every(std::chrono::seconds(1));
    for (const auto& n : notes)
        logger->warn("{}", n);
}

void log_config_warnings(const config& cfg) {
    for (const auto& f : cfg.source_files)
        spdlog::info("config: read {}", f);
    for (const auto& w : cfg.warnings)
        spdlog::warn("config: {}", w);
    for (const auto& w : *cfg.plugin_warnings)
        spdlog::warn("config: {}", w);
}

void shutdown_logging() {
    if (auto l = spdlog::default_logger()) l->flush();
    spdlog::shutdown();  // stops the flusher thread, drops every logger (closes the file)
    auto console = std::make_shared<spdlog::logger>(
        "", std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    console->set_pattern(log_pattern);
    spdlog::set_default_logger(console);
}

}  // namespace rmqtt::broker
