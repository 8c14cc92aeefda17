// The key lists (main_config_keys, listener_config_keys, <plugin>_config_keys) against the
// parsers: every listed key is one the parser reads. Each key in turn is set to a TOML
// date-time, a value no key accepts: a key the parser reads fails with "<key>: expected ...",
// a key it does not read would only be reported as unknown.
#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "../plugins/plugin_config_test_util.hpp"
#include "auth_http/auth_http_config.hpp"
#include "auth_jwt/auth_jwt_config.hpp"
#include "auth_scram/auth_scram_config.hpp"
#include "config_test_util.hpp"
#include "http_api/http_api_config.hpp"
#include "retainer/retainer_config.hpp"
#include "rmqtt/broker/config.hpp"
#include "session_storage/session_storage_config.hpp"
#include "shared_subscription/shared_subscription_config.hpp"

namespace {

using rmqtt::test::config_error_of;
using rmqtt::test::config_tree;
using rmqtt::test::plugin_file;

constexpr std::string_view never_valid = "1979-05-27T07:32:00Z";

// The TOML that sets `key` (as the lists write it: "users[].username" is a key of each
// [[users]] table) and the key as messages name it.
struct probe {
    std::string toml;
    std::string full_key;
};

probe probe_for(std::string_view key, std::string_view prefix = {}) {
    const std::string k = std::string(prefix) + std::string(key);
    if (const auto p = k.find("[]."); p != std::string::npos) {
        const std::string table = k.substr(0, p);
        const std::string sub = k.substr(p + 3);
        return {"[[" + table + "]]\n" + sub + " = " + std::string(never_valid) + "\n",
                table + "[0]." + sub};
    }
    return {k + " = " + std::string(never_valid) + "\n", k};
}

TEST(config_keys, EveryMainFileKeyIsRead) {
    ASSERT_FALSE(rmqtt::broker::main_config_keys().empty());
    for (const auto key : rmqtt::broker::main_config_keys()) {
        const auto p = probe_for(key);
        const config_tree tree(p.toml);
        const std::string msg = config_error_of([&] { (void)tree.load(); });
        EXPECT_NE(msg.find(tree.main_file() + ": " + p.full_key + ": expected"), std::string::npos)
            << key << ": " << msg;
    }
}

TEST(config_keys, EveryListenerKeyIsRead) {
    ASSERT_FALSE(rmqtt::broker::listener_config_keys().empty());
    for (const auto key : rmqtt::broker::listener_config_keys()) {
        const auto p = probe_for(key, "listener.tcp.a.");
        const config_tree tree(p.toml);
        const std::string msg = config_error_of([&] { (void)tree.load(); });
        EXPECT_NE(msg.find(p.full_key + ": expected"), std::string::npos) << key << ": " << msg;
    }
}

template <class Keys, class Parse>
void every_plugin_key_is_read(const std::string& plugin, Keys keys, Parse parse) {
    ASSERT_FALSE(keys.empty()) << plugin;
    for (const auto key : keys) {
        const auto p = probe_for(key);
        const plugin_file f(plugin, p.toml);
        const std::string msg = f.error(parse);
        EXPECT_NE(msg.find(f.path() + ": " + p.full_key + ": expected"), std::string::npos)
            << plugin << ": " << key << ": " << msg;
    }
}

TEST(config_keys, EveryPluginKeyIsRead) {
    using namespace rmqtt::plugins;
    every_plugin_key_is_read("rmqtt-session-storage", session_storage_config_keys(),
                             parse_session_storage_config);
    every_plugin_key_is_read("rmqtt-retainer", retainer_config_keys(), parse_retainer_config);
    every_plugin_key_is_read("rmqtt-shared-subscription", shared_subscription_config_keys(),
                             parse_shared_subscription_config);
    every_plugin_key_is_read("rmqtt-auth-scram", auth_scram_config_keys(), parse_auth_scram_config);
    every_plugin_key_is_read("rmqtt-auth-jwt", auth_jwt_config_keys(), parse_auth_jwt_config);
    every_plugin_key_is_read("rmqtt-auth-http", auth_http_config_keys(), parse_auth_http_config);
    every_plugin_key_is_read("rmqtt-http-api", http_api::http_api_config_keys(),
                             http_api::parse_http_api_config);
}

// The probe itself: a key nobody reads is only reported.
TEST(config_keys, AnUnreadKeyIsOnlyReported) {
    const auto p = probe_for("no_such.key");
    const plugin_file f("rmqtt-retainer", p.toml);
    (void)f.parse(rmqtt::plugins::parse_retainer_config);
    EXPECT_TRUE(f.has_warning("no_such: unknown key")) << f.all_warnings();
}

}  // namespace
