// rmqttd: parse the command line, load the configuration, run the server.
#include <spdlog/spdlog.h>

#include <cstdio>

#include "config/cli.hpp"
#include "config/logging.hpp"
#include "core/server.hpp"
#include "rmqtt/broker/config.hpp"

int main(int argc, char** argv) {
    using namespace rmqtt::broker;
    command_line cl;
    if (auto code = parse_command_line(argc, argv, cl)) return *code;
    config cfg;
    try {
        cfg = load_config(cl);
    } catch (const config_error& e) {
        std::fprintf(stderr, "rmqttd: configuration error: %s\n", e.what());
        return 2;
    }
    init_logging(cfg.log);
    log_config_warnings(cfg);
    try {
        server srv(std::move(cfg));
        return srv.run();
    } catch (const std::exception& e) {
        spdlog::critical("rmqttd: {}", e.what());
        return 1;
    }
}
