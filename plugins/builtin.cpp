#include "builtin.hpp"

#include <array>

#include "acl/acl_plugin.hpp"
#include "auth_http/auth_http_plugin.hpp"
#include "auth_jwt/auth_jwt_plugin.hpp"
#include "auth_scram/auth_scram.hpp"
#include "http_api/http_api_plugin.hpp"
#include "retainer/retainer_plugin.hpp"
#include "session_storage/session_storage_plugin.hpp"
#include "shared_subscription/shared_subscription_plugin.hpp"

namespace rmqtt::plugins {

std::span<const broker::plugin_entry> builtin_plugins() {
    static const std::array<broker::plugin_entry, 13> list{{
        // First: the others ask whether there is a session store.
        {"rmqtt-session-storage",
         "stores sessions, subscriptions, offline and inflight messages (RocksDB or Redis)",
         make_session_storage_plugin},
        {"rmqtt-retainer", "keeps retained messages (in memory, or in the session store)",
         make_retainer_plugin},
        {"rmqtt-shared-subscription", "$share/{group}/{filter} subscriptions and their strategy",
         make_shared_subscription_plugin},
        {"rmqtt-auth-scram", "MQTT 5.0 enhanced authentication with SCRAM-SHA-256",
         auth_scram::make_plugin},
        {"rmqtt-acl", "access control lists: who may connect, publish and subscribe",
         acl::make_plugin},
        {"rmqtt-http-api", "HTTP management API", http_api::make_plugin},
        {"rmqtt-sys-topic", "$SYS topics", nullptr},
        {"rmqtt-web-hook", "HTTP web hooks", nullptr},
        {"rmqtt-auth-http", "authentication and ACL by an HTTP server", auth_http::make_plugin},
        {"rmqtt-auth-jwt", "JWT authentication (token in the password or user name)",
         auth_jwt::make_plugin},
        {"rmqtt-counter", "counters", nullptr},
        {"rmqtt-message-storage", "stores unexpired messages for later subscribers", nullptr},
        {"rmqtt-cluster-raft", "RMQTT raft cluster", nullptr},
    }};
    return list;
}

}  // namespace rmqtt::plugins
