// rmqtt-auth-jwt.toml as parse_auth_jwt_config reads it: defaults, the shipped file, RMQTT's own
// file, the claims table, and the messages of bad values (which never quote the secret).
#include "auth_jwt/auth_jwt_config.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "plugin_config_test_util.hpp"

namespace {

using rmqtt::broker::config_section;
using rmqtt::plugins::auth_jwt_config;
using rmqtt::plugins::parse_auth_jwt_config;
using rmqtt::test::plugin_file;

TEST(jwt_config, DefaultsWithoutAFile) {
    const auto c = parse_auth_jwt_config(config_section{});
    EXPECT_TRUE(c.disconnect_if_pub_rejected);
    EXPECT_FALSE(c.disconnect_if_expiry);
    EXPECT_EQ(c.priority, 50);
    EXPECT_EQ(c.from, auth_jwt_config::token_source::password);
    EXPECT_EQ(c.encrypt, auth_jwt_config::key_type::hmac_based);
    EXPECT_TRUE(c.hmac_secret.empty());
    EXPECT_FALSE(c.validate_claims.exp);
    EXPECT_EQ(c.validate_claims.leeway.count(), 60);
}

void expect_rmqtt_sample(const auth_jwt_config& c) {
    EXPECT_TRUE(c.disconnect_if_pub_rejected);
    EXPECT_EQ(c.from, auth_jwt_config::token_source::password);
    EXPECT_EQ(c.encrypt, auth_jwt_config::key_type::hmac_based);
    EXPECT_EQ(c.hmac_secret, "rmqttsecret");
    EXPECT_EQ(c.public_key, "./rmqtt-bin/jwt_public_key_rsa.pem");
    EXPECT_FALSE(c.disconnect_if_expiry);
    EXPECT_TRUE(c.validate_claims.exp);
    EXPECT_FALSE(c.validate_claims.nbf);
    EXPECT_TRUE(c.validate_claims.custom.empty());
}

TEST(jwt_config, ShippedFileLoadsCleanly) {
    const plugin_file f(rmqtt::test::source_dir() + "/etc/plugins/rmqtt-auth-jwt.toml");
    expect_rmqtt_sample(f.parse(parse_auth_jwt_config));
    EXPECT_TRUE(f.warnings().empty()) << f.all_warnings();
}

TEST(jwt_config, RmqttsOwnFileLoadsCleanly) {
    const plugin_file f(rmqtt::test::config_data_dir() +
                        "/rmqtt/rmqtt-plugins/rmqtt-auth-jwt.toml");
    expect_rmqtt_sample(f.parse(parse_auth_jwt_config));
    EXPECT_TRUE(f.warnings().empty()) << f.all_warnings();
}

TEST(jwt_config, ClaimsTable) {
    const plugin_file f("rmqtt-auth-jwt",
                        "from = \"username\"\nencrypt = \"public-key\"\npublic_key = \"k.pem\"\n"
                        "priority = 7\ndisconnect_if_expiry = true\n"
                        "validate_claims.exp = false\nvalidate_claims.nbf = true\n"
                        "validate_claims.sub = \"user@rmqtt.com\"\n"
                        "validate_claims.iss = [\"https://a\", \"https://b\"]\n"
                        "validate_claims.aud = \"mqtt\"\n"
                        "validate_claims.clientid = \"${clientid}\"\n"
                        "validate_claims.group = [\"g1\", \"g2\"]\n"
                        "validate_claims.empty = []\n");
    const auto c = f.parse(parse_auth_jwt_config);
    EXPECT_TRUE(f.warnings().empty()) << f.all_warnings();
    EXPECT_EQ(c.from, auth_jwt_config::token_source::username);
    EXPECT_EQ(c.encrypt, auth_jwt_config::key_type::public_key);
    EXPECT_EQ(c.public_key, "k.pem");
    EXPECT_EQ(c.priority, 7);
    EXPECT_TRUE(c.disconnect_if_expiry);
    EXPECT_FALSE(c.validate_claims.exp);
    EXPECT_TRUE(c.validate_claims.nbf);
    EXPECT_EQ(c.validate_claims.sub, "user@rmqtt.com");
    EXPECT_EQ(c.validate_claims.iss, (std::vector<std::string>{"https://a", "https://b"}));
    EXPECT_EQ(c.validate_claims.aud, (std::vector<std::string>{"mqtt"}));
    ASSERT_EQ(c.validate_claims.custom.size(), 2u);  // "empty" checks nothing, as in RMQTT
    EXPECT_EQ(c.validate_claims.custom[0].first, "clientid");
    EXPECT_EQ(c.validate_claims.custom[1].first, "group");
    EXPECT_EQ(c.validate_claims.custom[1].second, (std::vector<std::string>{"g1", "g2"}));
}

TEST(jwt_config, Base64SecretIsDecodedAndNeverShown) {
    const plugin_file good("rmqtt-auth-jwt",
                           "hmac_secret = \"cm1xdHRzZWNyZXQ=\"\nhmac_base64 = true\n");
    EXPECT_EQ(good.parse(parse_auth_jwt_config).hmac_secret, "rmqttsecret");
    const plugin_file bad("rmqtt-auth-jwt", "hmac_secret = \"top-secret!\"\nhmac_base64 = true\n");
    const std::string msg = bad.error(parse_auth_jwt_config);
    EXPECT_NE(msg.find("hmac_secret: expected base64"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("top-secret"), std::string::npos) << msg;
    // A public-key configuration does not decode the (unused) secret.
    const plugin_file unused("rmqtt-auth-jwt",
                             "encrypt = \"public-key\"\nhmac_secret = \"x\"\nhmac_base64 = true\n");
    EXPECT_EQ(unused.parse(parse_auth_jwt_config).hmac_secret, "x");
}

TEST(jwt_config, ErrorsNameTheFileTheKeyAndTheForm) {
    struct bad_case {
        std::string body;
        std::string expected;
    };
    const std::vector<bad_case> cases = {
        {"from = \"header\"\n", "from: expected one of"},
        {"encrypt = \"rsa\"\n", "encrypt: expected one of"},
        {"hmac_secret = 5\n", "hmac_secret: expected a string (line 1)"},
        {"hmac_base64 = \"no\"\n", "hmac_base64: expected true or false"},
        {"priority = \"high\"\n", "priority: expected an integer"},
        {"validate_claims = true\n", "validate_claims: expected a table"},
        {"validate_claims.exp = \"yes\"\n", "validate_claims.exp: expected true or false"},
        {"validate_claims.iss = 5\n", "validate_claims.iss: expected a string or an array"},
        {"validate_claims.aud = [\"a\", 1]\n",
         "validate_claims.aud: expected a string or an array"},
        {"validate_claims.sub = [\"a\", \"b\"]\n", "validate_claims.sub: expected one value"},
        {"validate_claims.\"a.b\" = \"x\"\n", "validate_claims.a.b: claim names containing '.'"},
    };
    for (const auto& c : cases) {
        const plugin_file f("rmqtt-auth-jwt", c.body);
        const std::string msg = f.error(parse_auth_jwt_config);
        EXPECT_NE(msg.find(f.path() + ": " + c.expected), std::string::npos)
            << c.body << " -> " << msg;
    }
}

}  // namespace
