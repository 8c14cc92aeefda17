#include "config/cli.hpp"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdint>
#include <iostream>
#include <ostream>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

namespace rmqtt::broker {

std::string version_text() {
    return fmt::format("rmqttd {}\nbuilt with {} {} (C++ {})\n", RMQTT_VERSION,
#if defined(__clang__)
                       "clang",
#elif defined(__GNUC__)
                       "gcc",
#else
                       "compiler",
#endif
                       __VERSION__, __cplusplus);
}

std::optional<int> parse_command_line(int argc, const char* const* argv, command_line& out) {
    return parse_command_line(argc, argv, out, std::cout, std::cerr);
}

std::optional<int> parse_command_line(int argc, const char* const* argv, command_line& out,
                                      std::ostream& out_stream, std::ostream& err_stream) {
    CLI::App app{
        "rmqttd - an MQTT 3.1, 3.1.1 and 5.0 broker with built-in session persistence.\n"
        "Configured like RMQTT: rmqtt.toml plus one file per plugin in plugins.dir\n"
        "(rmqtt-session-storage.toml, rmqtt-retainer.toml, rmqtt-shared-subscription.toml).",
        "rmqttd"};
    app.set_help_flag("-h,--help", "Print this help and exit");

    std::string config_file;
    app.add_option("-f,--config", config_file,
                   "Configuration file. Without it: the first of ./etc/rmqtt.toml, ./rmqtt.toml, "
                   "/etc/rmqtt/rmqtt.toml that exists, else built-in defaults")
        ->type_name("FILE");
    std::string node_id_text;  // parsed below: CLI11 would wrap "-1" around into a uint64
    app.add_option("--id", node_id_text,
                   "Node id; replaces node.id when > 0 (and {node} in storage paths/prefixes)")
        ->type_name("N");
    std::vector<std::string> startups;
    auto* startups_opt =
        app.add_option("--plugins-default-startups", startups,
                       "Plugins to start; replaces plugins.default_startups (none given: start "
                       "no plugin)")
            ->type_name("NAME")
            ->expected(0, CLI::detail::expected_max_vector_size);
    bool version = false;
    app.add_flag("-V,--version", version, "Print the version and the compiler, and exit");

    // RMQTT's cluster flags: rmqttd runs one node, so these are accepted and ignored.
    std::vector<std::string> grpc_addrs;
    std::vector<std::string> raft_addrs;
    std::string raft_leader;
    auto* grpc_opt = app.add_option("--node-grpc-addrs", grpc_addrs,
                                    "RMQTT cluster flag: accepted and ignored (single node)")
                         ->type_name("ID@ADDR");
    auto* raft_opt = app.add_option("--raft-peer-addrs", raft_addrs,
                                    "RMQTT cluster flag: accepted and ignored (single node)")
                         ->type_name("ID@ADDR");
    auto* leader_opt = app.add_option("--raft-leader-id", raft_leader,
                                      "RMQTT cluster flag: accepted and ignored (single node)")
                           ->type_name("N");

    app.footer(
        "Environment:\n"
        "  RMQTT_LOG=LEVEL                       overrides log.level (trace, debug, info, warn,\n"
        "                                        error, off)\n"
        "  RMQTT_PLUGINS_DEFAULT_STARTUPS=\"a b\"  overrides plugins.default_startups\n"
        "                                        (--plugins-default-startups wins over it)\n"
        "\n"
        "Examples:\n"
        "  rmqttd -f etc/rmqtt.toml\n"
        "  rmqttd -f etc/rmqtt.toml --id 2 --plugins-default-startups rmqtt-session-storage\n"
        "\n"
        "Store tools (run them on a stopped broker's session store):\n"
        "  rmqttd store <inspect|export|import|check|compact> [options]\n"
        "  rmqttd store --help, rmqttd store inspect --help, ...\n"
        "\n"
        "Every key is described in docs/configuration.md.");

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e, out_stream, err_stream);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e, out_stream, err_stream);
    } catch (const CLI::ParseError& e) {
        err_stream << "rmqttd: " << e.what() << "\nRun 'rmqttd --help' for the options.\n";
        return 2;
    }
    if (version) {
        out_stream << version_text();
        return 0;
    }

    std::uint64_t node_id = 0;
    if (!node_id_text.empty()) {
        const char* end = node_id_text.data() + node_id_text.size();
        const auto [ptr, ec] = std::from_chars(node_id_text.data(), end, node_id);
        if (ec != std::errc() || ptr != end) {
            err_stream << "rmqttd: --id: expected a node id (an integer >= 0), got \""
                       << node_id_text << "\"\nRun 'rmqttd --help' for the options.\n";
            return 2;
        }
    }

    out.config_file = config_file;
    out.node_id = node_id;
    if (startups_opt->count() > 0) {
        // Each value may hold several names ("a b"); CLI11 yields one "" when none is given.
        std::vector<std::string> names;
        for (const auto& arg : startups) {
            std::istringstream words(arg);
            for (std::string w; words >> w;)
                names.push_back(w);
        }
        out.plugins_default_startups = std::move(names);
    }
    for (const auto* opt : {grpc_opt, raft_opt, leader_opt}) {
        if (opt->count() > 0) {
            out.warnings.push_back(fmt::format(
                "command line: {}: RMQTT cluster option, accepted and ignored (rmqttd runs as a "
                "single node)",
                opt->get_name()));
        }
    }
    return std::nullopt;
}

}  // namespace rmqtt::broker
