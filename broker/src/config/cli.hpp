#pragma once

#include <iosfwd>
#include <optional>
#include <string>

#include "rmqtt/broker/config.hpp"

// rmqttd's command line (CLI11), compatible with RMQTT's: -f/--config, --id,
// --plugins-default-startups, -V/--version, -h/--help; RMQTT's cluster flags are accepted and
// ignored with a warning so RMQTT command lines still start.
namespace rmqtt::broker {

// Fills `out` from argv. Returns an exit code when the process should exit now (help or version
// printed: 0; bad arguments: 2, with the message on stderr), nullopt to go on.
std::optional<int> parse_command_line(int argc, const char* const* argv, command_line& out);

// The same, writing help/version to `out_stream` and errors to `err_stream` (for tests).
std::optional<int> parse_command_line(int argc, const char* const* argv, command_line& out,
                                      std::ostream& out_stream, std::ostream& err_stream);

// "rmqttd <version>\n<compiler>\n", as printed by -V.
std::string version_text();

}  // namespace rmqtt::broker
