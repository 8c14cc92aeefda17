// parse_command_line: RMQTT's flags, help and version, bad arguments.
#include <gtest/gtest.h>

#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "config/cli.hpp"
#include "rmqtt/broker/config.hpp"

namespace {

using rmqtt::broker::command_line;

struct cli_result {
    std::optional<int> exit_code;
    command_line cl;
    std::string out;
    std::string err;
};

cli_result run(std::vector<std::string> args) {
    args.insert(args.begin(), "rmqttd");
    std::vector<const char*> argv;
    for (const auto& a : args)
        argv.push_back(a.c_str());
    cli_result r;
    std::ostringstream out;
    std::ostringstream err;
    r.exit_code = rmqtt::broker::parse_command_line(static_cast<int>(argv.size()), argv.data(),
                                                    r.cl, out, err);
    r.out = out.str();
    r.err = err.str();
    return r;
}

TEST(config_cli, NoArgumentsGoesOnWithDefaults) {
    const auto r = run({});
    EXPECT_EQ(r.exit_code, std::nullopt);
    EXPECT_EQ(r.cl.config_file, "");
    EXPECT_EQ(r.cl.node_id, 0u);
    EXPECT_FALSE(r.cl.plugins_default_startups.has_value());
    EXPECT_TRUE(r.cl.warnings.empty());
}

TEST(config_cli, HelpExitsZeroAndDescribesTheOptions) {
    for (const char* flag : {"--help", "-h"}) {
        const auto r = run({flag});
        EXPECT_EQ(r.exit_code, 0) << flag;
        for (const char* text : {"-f,--config", "--id", "--plugins-default-startups", "--version",
                                 "RMQTT_LOG", "session persistence", "rmqttd store"}) {
            EXPECT_NE(r.out.find(text), std::string::npos) << text << "\n" << r.out;
        }
    }
}

TEST(config_cli, VersionExitsZeroWithTheVersionAndCompiler) {
    for (const char* flag : {"-V", "--version"}) {
        const auto r = run({flag});
        EXPECT_EQ(r.exit_code, 0) << flag;
        EXPECT_EQ(r.out.rfind(std::string("rmqttd ") + RMQTT_VERSION + "\n", 0), 0u) << r.out;
        EXPECT_NE(r.out.find("built with"), std::string::npos) << r.out;
    }
}

TEST(config_cli, BadArgumentsExitTwoWithTheMessageOnStderr) {
    const std::vector<std::vector<std::string>> cases{
        {"--bogus"}, {"-x"}, {"--id", "abc"}, {"--id", "-1"},
        {"--id"},    {"-f"}, {"stray"},       {"--id", "99999999999999999999"},
    };
    for (const auto& args : cases) {
        const auto r = run(args);
        EXPECT_EQ(r.exit_code, 2) << args.front();
        EXPECT_NE(r.err.find("rmqttd: "), std::string::npos) << r.err;
        EXPECT_NE(r.err.find("--help"), std::string::npos) << r.err;
        EXPECT_TRUE(r.out.empty());
    }
    EXPECT_NE(run({"--bogus"}).err.find("--bogus"), std::string::npos);
}

TEST(config_cli, RmqttFlagsAreParsed) {
    const auto r = run({"-f", "etc/rmqtt.toml", "--id", "3", "--plugins-default-startups",
                        "rmqtt-retainer", "rmqtt-session-storage"});
    EXPECT_EQ(r.exit_code, std::nullopt) << r.err;
    EXPECT_EQ(r.cl.config_file, "etc/rmqtt.toml");
    EXPECT_EQ(r.cl.node_id, 3u);
    ASSERT_TRUE(r.cl.plugins_default_startups.has_value());
    EXPECT_EQ(*r.cl.plugins_default_startups,
              (std::vector<std::string>{"rmqtt-retainer", "rmqtt-session-storage"}));

    const auto long_form = run({"--config=x.toml", "--id=9"});
    EXPECT_EQ(long_form.exit_code, std::nullopt) << long_form.err;
    EXPECT_EQ(long_form.cl.config_file, "x.toml");
    EXPECT_EQ(long_form.cl.node_id, 9u);
}

TEST(config_cli, EmptyPluginListMeansNoPlugins) {
    const auto r = run({"--plugins-default-startups", "-f", "a.toml"});
    EXPECT_EQ(r.exit_code, std::nullopt) << r.err;
    ASSERT_TRUE(r.cl.plugins_default_startups.has_value());
    EXPECT_TRUE(r.cl.plugins_default_startups->empty());
    EXPECT_EQ(r.cl.config_file, "a.toml");
}

TEST(config_cli, RmqttClusterFlagsAreAcceptedWithAWarning) {
    const auto r =
        run({"--id", "1", "--plugins-default-startups", "rmqtt-cluster-raft", "--node-grpc-addrs",
             "1@127.0.0.1:5363", "2@127.0.0.1:5364", "--raft-peer-addrs", "1@127.0.0.1:6003",
             "2@127.0.0.1:6004", "--raft-leader-id", "1"});
    EXPECT_EQ(r.exit_code, std::nullopt) << r.err;
    EXPECT_EQ(r.cl.node_id, 1u);
    EXPECT_EQ(*r.cl.plugins_default_startups, (std::vector<std::string>{"rmqtt-cluster-raft"}));
    ASSERT_EQ(r.cl.warnings.size(), 3u);
    EXPECT_NE(r.cl.warnings[0].find("--node-grpc-addrs"), std::string::npos) << r.cl.warnings[0];
    EXPECT_NE(r.cl.warnings[1].find("--raft-peer-addrs"), std::string::npos) << r.cl.warnings[1];
    EXPECT_NE(r.cl.warnings[2].find("--raft-leader-id"), std::string::npos) << r.cl.warnings[2];
    EXPECT_NE(r.cl.warnings[0].find("ignored"), std::string::npos);
}

}  // namespace
