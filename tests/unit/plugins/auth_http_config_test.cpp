// rmqtt-auth-http.toml as parse_auth_http_config reads it: defaults, the shipped file, RMQTT's
// files, the URL and its parts, the body format, and the messages of bad values.
#include "auth_http/auth_http_config.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "plugin_config_test_util.hpp"

namespace {

using rmqtt::broker::config_section;
using rmqtt::plugins::auth_http_config;
using rmqtt::plugins::header_list;
using rmqtt::plugins::http_endpoint;
using rmqtt::plugins::parse_auth_http_config;
using rmqtt::test::plugin_file;

TEST(http_config, DefaultsWithoutAFile) {
    const auto c = parse_auth_http_config(config_section{});
    EXPECT_EQ(c.http_timeout.count(), 5000);
    EXPECT_TRUE(c.deny_if_error);
    EXPECT_TRUE(c.disconnect_if_pub_rejected);
    EXPECT_FALSE(c.disconnect_if_expiry);
    EXPECT_EQ(c.priority, 100);
    EXPECT_FALSE(c.auth_req);
    EXPECT_FALSE(c.acl_req);
    EXPECT_EQ(c.http_concurrency, 8u);
    EXPECT_EQ(c.http_queue_max, 1000u);
}

void expect_rmqtt_sample(const auth_http_config& c) {
    EXPECT_EQ(c.http_timeout.count(), 5000);
    EXPECT_EQ(c.http_headers, (header_list{{"Cache-Control", "no-cache"},
                                           {"Connection", "keep-alive"},
                                           {"User-Agent", c.http_headers[2].second},
                                           {"accept", "*/*"}}));
    ASSERT_TRUE(c.auth_req);
    EXPECT_EQ(c.auth_req->url, "http://127.0.0.1:9090/mqtt/auth");
    EXPECT_EQ(c.auth_req->host, "127.0.0.1");
    EXPECT_EQ(c.auth_req->port, 9090);
    EXPECT_EQ(c.auth_req->target, "/mqtt/auth");
    EXPECT_EQ(c.auth_req->method, http_endpoint::http_method::post);
    EXPECT_EQ(c.auth_req->body, http_endpoint::body_format::form);
    EXPECT_TRUE(c.auth_req->headers.empty()) << "content-type is taken out";
    ASSERT_TRUE(c.acl_req);
    EXPECT_EQ(c.acl_req->target, "/mqtt/acl");
    EXPECT_EQ(c.acl_req->params.front(), (std::pair<std::string, std::string>{"access", "%A"}));
}

TEST(http_config, ShippedFileLoadsCleanly) {
    const plugin_file f(rmqtt::test::source_dir() + "/etc/plugins/rmqtt-auth-http.toml");
    const auto c = f.parse(parse_auth_http_config);
    expect_rmqtt_sample(c);
    EXPECT_EQ(c.auth_req->params.size(), 4u);
    EXPECT_TRUE(f.warnings().empty()) << f.all_warnings();
}

TEST(http_config, RmqttsOwnFilesLoadCleanly) {
    for (const char* file : {"/rmqtt/rmqtt-plugins/rmqtt-auth-http.toml",
                             "/rmqtt-docs/rmqtt-plugins/rmqtt-auth-http.toml"}) {
        const plugin_file f(rmqtt::test::config_data_dir() + file);
        expect_rmqtt_sample(f.parse(parse_auth_http_config));
        EXPECT_TRUE(f.warnings().empty()) << file << "\n" << f.all_warnings();
    }
}

TEST(http_config, UrlsMethodsAndBodyFormat) {
    const plugin_file f(
        "rmqtt-auth-http",
        "http_timeout = \"250ms\"\nhttp_headers.content-type = \"application/json\"\n"
        "http_concurrency = 2\nhttp_queue_max = 0\npriority = -3\n"
        "http_auth_req = { url = \"HTTPS://auth.example:8443\", method = \"GET\", params = {} }\n"
        "[http_acl_req]\nurl = \"http://[::1]:81/acl?v=1\"\nmethod = \"put\"\n"
        "headers = { X-Token = \"t\" }\nparams = { t = \"%t\" }\n");
    const auto c = f.parse(parse_auth_http_config);
    EXPECT_TRUE(f.warnings().empty()) << f.all_warnings();
    EXPECT_EQ(c.http_timeout.count(), 250);
    EXPECT_TRUE(c.http_headers.empty());
    EXPECT_EQ(c.content_type, "application/json");
    EXPECT_EQ(c.http_concurrency, 2u);
    EXPECT_EQ(c.http_queue_max, 0u);
    EXPECT_EQ(c.priority, -3);
    ASSERT_TRUE(c.auth_req && c.acl_req);
    EXPECT_TRUE(c.auth_req->https);
    EXPECT_EQ(c.auth_req->host, "auth.example");
    EXPECT_EQ(c.auth_req->port, 8443);
    EXPECT_EQ(c.auth_req->target, "/");
    EXPECT_EQ(c.auth_req->method, http_endpoint::http_method::get);
    EXPECT_TRUE(c.auth_req->params.empty());
    EXPECT_FALSE(c.acl_req->https);
    EXPECT_EQ(c.acl_req->host, "::1");
    EXPECT_EQ(c.acl_req->port, 81);
    EXPECT_EQ(c.acl_req->target, "/acl?v=1");
    EXPECT_EQ(c.acl_req->method, http_endpoint::http_method::put);
    EXPECT_EQ(c.acl_req->body, http_endpoint::body_format::json) << "from http_headers";
    EXPECT_EQ(c.acl_req->headers, (header_list{{"X-Token", "t"}}));
}

TEST(http_config, RmqttKeysWithoutUseAreReportedOnce) {
    const plugin_file f("rmqtt-auth-http",
                        "break_if_allow = true\n"
                        "http_retry = { times = 3, interval = \"1s\", backoff = 2.0 }\n"
                        "[http_super_req]\nurl = \"http://127.0.0.1:9090/mqtt/superuser\"\n"
                        "method = \"post\"\nparams = { clientid = \"%c\" }\n");
    (void)f.parse(parse_auth_http_config);
    for (const char* key : {"http_retry", "http_super_req", "break_if_allow"})
        EXPECT_TRUE(f.has_warning(std::string(key) + ": accepted for RMQTT compatibility"))
            << key << "\n"
            << f.all_warnings();
    EXPECT_EQ(f.warnings().size(), 3u) << f.all_warnings();
}

TEST(http_config, ErrorsNameTheFileTheKeyAndTheForm) {
    struct bad_case {
        std::string body;
        std::string expected;
    };
    const std::vector<bad_case> cases = {
        {"http_timeout = \"0s\"\n", "http_timeout: expected"},
        {"http_concurrency = 0\n", "http_concurrency: expected an integer from 1 to 256"},
        {"deny_if_error = 1\n", "deny_if_error: expected true or false"},
        {"http_headers = \"x\"\n", "http_headers: expected a table"},
        {"http_headers.\"bad name\" = \"x\"\n", "http_headers.bad name: expected a header name"},
        {"http_headers.X = 5\n", "http_headers.X: expected a string"},
        {"[http_auth_req]\nmethod = \"post\"\nparams = {}\n", "http_auth_req.url: missing"},
        {"[http_auth_req]\nurl = \"ftp://x/\"\nmethod = \"post\"\nparams = {}\n",
         "http_auth_req.url: expected an http:// or https:// URL"},
        {"[http_auth_req]\nurl = \"http://u:p@x/\"\nmethod = \"post\"\nparams = {}\n",
         "http_auth_req.url: expected"},
        {"[http_auth_req]\nurl = \"http://x:99999/\"\nmethod = \"post\"\nparams = {}\n",
         "http_auth_req.url: expected"},
        {"[http_auth_req]\nurl = \"http://x/\"\nparams = {}\n", "http_auth_req.method: missing"},
        {"[http_auth_req]\nurl = \"http://x/\"\nmethod = \"delete\"\nparams = {}\n",
         "http_auth_req.method: expected one of"},
        {"[http_auth_req]\nurl = \"http://x/\"\nmethod = \"post\"\n",
         "http_auth_req.params: missing"},
        {"[http_acl_req]\nurl = \"http://x/\"\nmethod = \"post\"\nparams = { a = 1 }\n",
         "http_acl_req.params.a: expected a string"},
        {"http_retry = 3\n", "http_retry: expected a table"},
    };
    for (const auto& c : cases) {
        const plugin_file f("rmqtt-auth-http", c.body);
        const std::string msg = f.error(parse_auth_http_config);
        EXPECT_NE(msg.find(f.path() + ": " + c.expected), std::string::npos)
            << c.body << " -> " << msg;
    }
}

}  // namespace
