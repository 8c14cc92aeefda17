// rmqtt-auth-scram.toml as parse_auth_scram_config reads it: defaults, the shipped file, unknown
// keys, and every rule with its message.
#include "auth_scram/auth_scram_config.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "plugin_config_test_util.hpp"

namespace {

using rmqtt::broker::config_section;
using rmqtt::plugins::parse_auth_scram_config;
using rmqtt::test::plugin_file;

std::string scram_error(const std::string& body) {
    return plugin_file("rmqtt-auth-scram", body).error(parse_auth_scram_config);
}

TEST(scram_config, DefaultsWithoutAFile) {
    const auto c = parse_auth_scram_config(config_section{});
    EXPECT_TRUE(c.users.empty());
    EXPECT_EQ(c.iterations, 4096u);
    EXPECT_FALSE(c.allow_plain_password_connect);
}

TEST(scram_config, ShippedFileLoadsCleanlyWithNoUsers) {
    const plugin_file f(rmqtt::test::source_dir() + "/etc/plugins/rmqtt-auth-scram.toml");
    const auto c = f.parse(parse_auth_scram_config);
    EXPECT_TRUE(c.users.empty());  // no default account is shipped
    EXPECT_EQ(c.iterations, 4096u);
    EXPECT_FALSE(c.allow_plain_password_connect);
    EXPECT_FALSE(f.has_warning("rmqtt-auth-scram")) << f.all_warnings();
}

TEST(scram_config, UnknownKeysAreReported) {
    const plugin_file f("rmqtt-auth-scram",
                        "iteration = 5000\n[[users]]\nusername = \"a\"\npassword = \"p\"\n"
                        "pasword = \"typo\"\n");
    (void)f.parse(parse_auth_scram_config);
    EXPECT_TRUE(f.has_warning("rmqtt-auth-scram.toml: iteration: unknown key")) << f.all_warnings();
    EXPECT_TRUE(f.has_warning("rmqtt-auth-scram.toml: users[0].pasword: unknown key"))
        << f.all_warnings();
}

TEST(scram_config, ErrorsNameTheFileTheKeyAndTheForm) {
    struct bad_case {
        std::string body;
        std::string expected;  // fragment of the message after the file name
    };
    const std::string stored =
        "salt = \"W22ZaJ0SNY7soEsUEjb6gQ==\"\niterations = 4096\n"
        "stored_key = \"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=\"\n"
        "server_key = \"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=\"\n";
    const std::vector<bad_case> cases = {
        {"iterations = 1000\n", "iterations: expected an integer from 4096 to 10000000, got 1000"},
        {"allow_plain_password_connect = \"yes\"\n",
         "allow_plain_password_connect: expected true or false"},
        {"users = \"alice\"\n", "users: expected a [[users]] table"},
        {"[[users]]\npassword = \"p\"\n", "users[0].username: missing"},
        {"[[users]]\nusername = \"\"\npassword = \"p\"\n",
         "users[0].username: expected a non-empty string"},
        {"[[users]]\nusername = \"a\"\n", "users[0].salt: missing for user \"a\""},
        {"[[users]]\nusername = \"a\"\npassword = \"p\"\n" + stored,
         "users[0]: user \"a\" has both a password and stored keys"},
        {"[[users]]\nusername = \"a\"\nsalt = \"W22ZaJ0SNY7soEsUEjb6gQ==\"\niterations = 4096\n"
         "stored_key = \"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=\"\n",
         "users[0].server_key: missing for user \"a\""},
        {"[[users]]\nusername = \"a\"\nsalt = \"W22ZaJ0SNY7soEsUEjb6gQ==\"\n"
         "stored_key = \"WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=\"\n"
         "server_key = \"wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=\"\n",
         "users[0].iterations: missing for user \"a\""},
        {"[[users]]\nusername = \"a\"\nsalt = \"not base64!\"\n",
         "users[0].salt: expected non-empty base64"},
        {"[[users]]\nusername = \"a\"\nstored_key = \"c2hvcnQ=\"\n",
         "users[0].stored_key: expected base64 of 32 bytes"},
        {"[[users]]\nusername = \"a\"\npassword = \"p\"\niterations = 10\n",
         "users[0].iterations: expected an integer from 4096 to 10000000, got 10"},
        {"[[users]]\nusername = \"a\"\npassword = \"p\"\n[[users]]\nusername = \"a\"\n"
         "password = \"q\"\n",
         "users[1].username: \"a\" is listed twice"},
    };
    for (const auto& c : cases) {
        const std::string msg = scram_error(c.body);
        EXPECT_NE(msg.find("rmqtt-auth-scram.toml: " + c.expected), std::string::npos)
            << "body:\n"
            << c.body << "message: " << msg;
    }
}

TEST(scram_config, PasswordErrorsDoNotQuoteThePassword) {
    const std::string msg = scram_error("[[users]]\nusername = \"a\"\npassword = 123456\n");
    EXPECT_NE(msg.find("users[0].password: expected a non-empty string"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("123456"), std::string::npos) << msg;
}

}  // namespace
