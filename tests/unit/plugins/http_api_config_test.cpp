// rmqtt-http-api.toml as parse_http_api_config reads it.
#include "http_api/http_api_config.hpp"

#include <gtest/gtest.h>

#include <string>

#include "plugin_config_test_util.hpp"

namespace {

using rmqtt::broker::config_section;
using rmqtt::plugins::http_api::parse_http_api_config;
using rmqtt::test::plugin_file;

TEST(http_api_config, DefaultsWithoutAFile) {
    const auto c = parse_http_api_config(config_section{});
    EXPECT_EQ(c.host, "0.0.0.0");
    EXPECT_EQ(c.port, 6060);
    EXPECT_EQ(c.max_row_limit, 10000u);
    EXPECT_FALSE(c.http_request_log);
    EXPECT_EQ(c.message_expiry_interval, std::chrono::minutes(5));
    EXPECT_EQ(c.prometheus_metrics_cache_interval, std::chrono::seconds(5));
    EXPECT_FALSE(c.http_bearer_token);
    EXPECT_FALSE(c.http_basic_auth_user);
    EXPECT_FALSE(c.dashboard_static_dir);
}

TEST(http_api_config, ShippedFileLoadsWithoutWarnings) {
    const plugin_file f(rmqtt::test::source_dir() + "/etc/plugins/rmqtt-http-api.toml");
    const auto c = f.parse(parse_http_api_config);
    EXPECT_TRUE(f.warnings().empty()) << f.all_warnings();
    EXPECT_EQ(c.port, 6060);
}

TEST(http_api_config, Addresses) {
    const auto parse = [](const std::string& laddr) {
        const plugin_file f("rmqtt-http-api", "http_laddr = \"" + laddr + "\"\n");
        return f.parse(parse_http_api_config);
    };
    EXPECT_EQ(parse("127.0.0.1:8080").host, "127.0.0.1");
    EXPECT_EQ(parse("127.0.0.1:8080").port, 8080);
    EXPECT_EQ(parse("[::1]:7000").host, "::1");
    EXPECT_EQ(parse(":7001").host, "0.0.0.0");
    for (const char* bad : {"6060", "::1:6060", "host:port", "host:70000", "[::1:80", ""}) {
        const plugin_file f("rmqtt-http-api", std::string("http_laddr = \"") + bad + "\"\n");
        EXPECT_NE(f.error(parse_http_api_config).find("http_laddr: expected an address"),
                  std::string::npos)
            << bad;
    }
}

TEST(http_api_config, BasicAuthNeedsUserAndPassword) {
    const plugin_file user_only("rmqtt-http-api", "http_basic_auth_user = \"a\"\n");
    EXPECT_NE(user_only.error(parse_http_api_config).find("http_basic_auth_password"),
              std::string::npos);
    const plugin_file colon("rmqtt-http-api",
                            "http_basic_auth_user = \"a:b\"\nhttp_basic_auth_password = \"p\"\n");
    EXPECT_NE(colon.error(parse_http_api_config).find("http_basic_auth_user: expected"),
              std::string::npos);
    const plugin_file empty_token("rmqtt-http-api", "http_bearer_token = \"\"\n");
    EXPECT_NE(empty_token.error(parse_http_api_config).find("http_bearer_token: expected"),
              std::string::npos);
    const plugin_file zero_rows("rmqtt-http-api", "max_row_limit = 0\n");
    EXPECT_NE(zero_rows.error(parse_http_api_config).find("max_row_limit"), std::string::npos);
}

TEST(http_api_config, RmqttKeysNotUsedAreReported) {
    const plugin_file f("rmqtt-http-api",
                        "metrics_sample_interval = \"5s\"\nmessage_type = 99\n"
                        "[storage]\nenable = true\ntype = \"sled\"\n");
    (void)f.parse(parse_http_api_config);
    EXPECT_TRUE(f.has_warning("metrics_sample_interval: accepted for RMQTT compatibility"))
        << f.all_warnings();
    EXPECT_TRUE(f.has_warning("storage: accepted for RMQTT compatibility")) << f.all_warnings();
    EXPECT_FALSE(f.has_warning("unknown")) << f.all_warnings();
}

}  // namespace
