#pragma once

#include "rmqtt/broker/config.hpp"

// Logging setup: spdlog's default logger, configured from log.* (RMQTT's keys). Code elsewhere
// logs with spdlog::info(...) etc.
namespace rmqtt::broker {

// Installs the default logger: console (stderr, coloured when it is a terminal), file
// (log.dir/log.file, the directory created), both, or off. The env var RMQTT_LOG (a level)
// overrides log.level. A log file that cannot be opened falls back to the console with a
// warning; this function does not throw. May be called again to reconfigure.
void init_logging(const log_config& cfg);

// Logs what load_config read and each of its warnings (unused and unknown keys, ...).
void log_config_warnings(const config& cfg);

// Flushes and closes every sink (the log file included) and stops the periodic flusher, then
// installs a plain stderr logger at info, so logging after it still works. For tests and exit.
void shutdown_logging();

}  // namespace rmqtt::broker
