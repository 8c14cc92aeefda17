#include "plugins.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>

namespace rmqtt::broker {

namespace {
constexpr std::array<plugin_info, 12> plugins{{
    {"rmqtt-session-storage",
     "stores sessions, subscriptions, offline and inflight messages (RocksDB or Redis)", true},
    {"rmqtt-retainer", "keeps retained messages (in memory, or in the session store)", true},
    {"rmqtt-shared-subscription", "$share/{group}/{filter} subscriptions and their strategy", true},
    {"rmqtt-acl", "access control lists", false},
    {"rmqtt-http-api", "HTTP management API", false},
    {"rmqtt-sys-topic", "$SYS topics", false},
    {"rmqtt-web-hook", "HTTP web hooks", false},
    {"rmqtt-auth-http", "HTTP authentication", false},
    {"rmqtt-auth-jwt", "JWT authentication", false},
    {"rmqtt-counter", "counters", false},
    {"rmqtt-message-storage", "stores unexpired messages for later subscribers", false},
    {"rmqtt-cluster-raft", "RMQTT raft cluster", false},
}};
}  // namespace

std::span<const plugin_info> known_plugins() noexcept {
    return plugins;
}

void check_plugins(const config& cfg) {
    for (const auto& name : cfg.plugins_default_startups) {
        auto it = std::find_if(plugins.begin(), plugins.end(),
                               [&](const plugin_info& p) { return p.name == name; });
        if (it == plugins.end())
            spdlog::warn("plugins.default_startups: unknown plugin '{}' ignored", name);
        else if (!it->available)
            spdlog::warn("plugins.default_startups: '{}' ({}) is not available in rmqttd; ignored",
                         name, it->description);
        else
            spdlog::info("plugin {} started", name);
    }
}

}  // namespace rmqtt::broker
