#pragma once

#include <spdlog/spdlog.h>

#include <string_view>
#include <utility>

#include "rmqtt/broker/config.hpp"

// Logging setup: spdlog's default logger, configured from log.* (RMQTT's keys). Code elsewhere
// logs with spdlog::info(...) etc.
namespace rmqtt::broker {

// Installs the default logger: console (stderr, coloured when it is a terminal), file
// (log.dir/log.file, the directory created; rotated by size when log.max_file_size is set), both,
// or off; lines as text or one JSON object each (log.format). The env var RMQTT_LOG (a level)
// overrides log.level. A log file that cannot be opened falls back to the console with a
// warning; this function does not throw. May be called again to reconfigure.
void init_logging(const log_config& cfg);

// What a line is about, beyond its message: the connection's peer address and client id (either
// may be empty). Text lines show them before the message ("127.0.0.1:50312 (sensor-1): ..."),
// JSON lines as the fields "peer" and "client_id".
struct log_fields {
    std::string_view peer;
    std::string_view client_id;
};

namespace detail {
// The fields of the line being written by this thread; the loggers are synchronous, so the
// formatters run on the thread that logs, inside log_with().
inline thread_local const log_fields* current_log_fields = nullptr;
}  // namespace detail

// spdlog::log with `fields` attached to the line.
template <typename... Args>
void log_with(const log_fields& fields, spdlog::level::level_enum level,
              spdlog::format_string_t<Args...> fmt, Args&&... args) {
    if (!spdlog::should_log(level)) return;
    struct scope {
        const log_fields* outer = detail::current_log_fields;
        explicit scope(const log_fields& f) { detail::current_log_fields = &f; }
        ~scope() { detail::current_log_fields = outer; }
    } fields_in_scope(fields);
    spdlog::log(level, fmt, std::forward<Args>(args)...);
}

// Logs what load_config read and each of its warnings (unused and unknown keys, ...).
void log_config_warnings(const config& cfg);

// Flushes and closes every sink (the log file included) and stops the periodic flusher, then
// installs a plain stderr logger at info, so logging after it still works. For tests and exit.
void shutdown_logging();

}  // namespace rmqtt::broker
