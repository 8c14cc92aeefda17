#pragma once

#include <span>
#include <string_view>

#include "rmqtt/broker/config.hpp"

namespace rmqtt::broker {

class server;

// The plugins rmqttd knows, in one explicit list (plugins.cpp). They are built in; the names in
// plugins.default_startups switch them on, as in RMQTT.
struct plugin_info {
    std::string_view name;
    std::string_view description;
    bool available;  // false: an RMQTT plugin rmqttd does not offer yet
};

std::span<const plugin_info> known_plugins() noexcept;

// Logs a warning for every name in plugins.default_startups that rmqttd does not offer.
void check_plugins(const config& cfg);

// Starts the plugins of plugins.default_startups that register on the hook bus (today:
// rmqtt-auth-scram). Called once by server::run() before the workers start; throws on a
// start-up failure.
void start_plugins(server& srv);

}  // namespace rmqtt::broker
