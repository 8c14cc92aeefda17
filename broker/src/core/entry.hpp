#pragma once

#include <span>

#include "rmqtt/broker/plugin.hpp"

namespace rmqtt::broker {

// What rmqttd's main() does, with the plugin list as a parameter: parse the command line, load
// the configuration (the plugins read their own files), set up logging, run the server. A
// binary with other plugins (tests, an embedder) calls it with its own list. Returns the exit
// code: 0, 1 (start-up failure), 2 (bad command line or configuration).
int rmqttd_main(int argc, char** argv, std::span<const plugin_entry> plugins);

}  // namespace rmqtt::broker
