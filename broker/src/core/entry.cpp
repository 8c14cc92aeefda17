#include "core/entry.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <optional>
#include <string_view>
#include <vector>

#include "config/cli.hpp"
#include "config/logging.hpp"
#include "core/server.hpp"
#include "net/descriptor_table.hpp"
#include "rmqtt/broker/config.hpp"

namespace rmqtt::broker {

int rmqttd_main(int argc, char** argv, std::span<const plugin_entry> plugins) {
    command_line cl;
    if (auto code = parse_command_line(argc, argv, cl)) return *code;
    std::vector<std::string_view> plugin_files;
    for (const auto& p : plugins)
        if (p.make) plugin_files.push_back(p.name);
    std::optional<server> srv;
    try {
        // The plugins read their own files here: a bad value stops the start like any other.
        srv.emplace(load_config(cl, plugin_files), plugins);
    } catch (const config_error& e) {
        std::fprintf(stderr, "rmqttd: configuration error: %s\n", e.what());
        return 2;
    }
    init_logging(srv->cfg().log);
    log_config_warnings(srv->cfg());
    // Before the workers start (net/descriptor_table.hpp: later, each doubling of the table
    // stalls the thread that accepts).
    const auto reserved = reserve_descriptor_table(default_descriptor_reserve);
    spdlog::debug("file descriptor table reserved for {} descriptors", reserved);
    try {
        return srv->run();
    } catch (const std::exception& e) {
        spdlog::critical("rmqttd: {}", e.what());
        return 1;
    }
}

}  // namespace rmqtt::broker
