#include "core/plugins.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>

#include "auth_scram/auth_scram.hpp"
#include "core/server.hpp"

namespace rmqtt::broker {

namespace {
constexpr std::array<plugin_info, 13> plugins{{
    {"rmqtt-session-storage",
     "stores sessions, subscriptions, offline and inflight messages (RocksDB or Redis)", true},
    {"rmqtt-retainer", "keeps retained messages (in memory, or in the session store)", true},
    {"rmqtt-shared-subscription", "$share/{group}/{filter} subscriptions and their strategy", true},
    {"rmqtt-auth-scram", "MQTT 5.0 enhanced authentication with SCRAM-SHA-256", true},
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

void start_plugins(server& srv) {
    if (srv.cfg().plugin_enabled("rmqtt-auth-scram")) {
        (void)plugins::auth_scram::register_plugin(srv.core().hooks, srv.cfg().auth_scram);
    }
}

}  // namespace rmqtt::broker
