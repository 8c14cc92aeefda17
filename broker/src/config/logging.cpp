#include "config/logging.hpp"

#include <fmt/format.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/rotating_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rmqtt::broker {
namespace {

// Time with milliseconds, level, short (OS) thread id, the line's fields (%*), message.
constexpr const char* log_pattern = "%Y-%m-%d %H:%M:%S.%e %^%-7l%$ [%t] %*%v";

// %*: "peer (client id): " from the fields log_with() attached, nothing without them.
class fields_flag final : public spdlog::custom_flag_formatter {
  public:
    void format(const spdlog::details::log_msg&, const std::tm&,
                spdlog::memory_buf_t& dest) override {
        const auto* f = detail::current_log_fields;
        if (f == nullptr || (f->peer.empty() && f->client_id.empty())) return;
        auto out = std::back_inserter(dest);
        if (!f->peer.empty()) fmt::format_to(out, "{}", f->peer);
        if (!f->peer.empty() && !f->client_id.empty()) dest.push_back(' ');
        if (!f->client_id.empty()) fmt::format_to(out, "({})", f->client_id);
        fmt::format_to(out, ": ");
    }
    std::unique_ptr<spdlog::custom_flag_formatter> clone() const override {
        return std::make_unique<fields_flag>();
    }
};

std::unique_ptr<spdlog::formatter> text_formatter() {
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<fields_flag>('*').set_pattern(log_pattern);
    return f;
}

// One JSON object per line for log shippers: {"time":"2026-12-05T08:36:47.123Z","level":"info",
// "thread":1234,"message":"...","peer":"...","client_id":"..."} (peer and client_id when known).
// nlohmann::json escapes quotes and control characters; bytes that are not UTF-8 are replaced
// (U+FFFD), so every line parses.
class json_formatter final : public spdlog::formatter {
  public:
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        using namespace std::chrono;
        const auto since_epoch = msg.time.time_since_epoch();
        const auto secs = duration_cast<seconds>(since_epoch);
        const auto millis = duration_cast<milliseconds>(since_epoch - secs).count();
        const std::time_t t = static_cast<std::time_t>(secs.count());
        std::tm utc{};
        gmtime_r(&t, &utc);
        nlohmann::ordered_json line{
            {"time",
             fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", utc.tm_year + 1900,
                         utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, millis)},
            {"level", std::string(spdlog::level::to_string_view(msg.level).data(),
                                  spdlog::level::to_string_view(msg.level).size())},
            {"thread", msg.thread_id},
            {"message", std::string(msg.payload.data(), msg.payload.size())},
        };
        if (const auto* f = detail::current_log_fields) {
            if (!f->peer.empty()) line["peer"] = std::string(f->peer);
            if (!f->client_id.empty()) line["client_id"] = std::string(f->client_id);
        }
        const std::string text =
            line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
        dest.append(text.data(), text.data() + text.size());
        dest.push_back('\n');
    }
    std::unique_ptr<spdlog::formatter> clone() const override {
        return std::make_unique<json_formatter>();
    }
};

std::unique_ptr<spdlog::formatter> make_formatter(log_format f) {
    if (f == log_format::json) return std::make_unique<json_formatter>();
    return text_formatter();
}

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
            if (cfg.max_file_size == 0) {
                sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(path, false));
            } else {
                sinks.push_back(std::make_shared<spdlog::sinks::rotating_file_sink_mt>(
                    path, static_cast<std::size_t>(cfg.max_file_size), cfg.max_files));
            }
        } catch (const std::exception& e) {
            notes.push_back(fmt::format(
                "cannot open the log file {} ({}); logging to the console instead (check log.dir "
                "and log.file)",
                path, e.what()));
            to_console = true;
        }
    }
    if (to_console) {
        // No colour codes inside JSON lines.
        sinks.push_back(cfg.format == log_format::json
                            ? std::static_pointer_cast<spdlog::sinks::sink>(
                                  std::make_shared<spdlog::sinks::stderr_sink_mt>())
                            : std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    }

    auto logger = std::make_shared<spdlog::logger>("rmqttd", sinks.begin(), sinks.end());
    logger->set_formatter(make_formatter(cfg.format));
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
    console->set_formatter(text_formatter());
    spdlog::set_default_logger(console);
}

}  // namespace rmqtt::broker
