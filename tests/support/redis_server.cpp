#include "redis_server.hpp"

#include <array>
#include <cstdio>
#include <stdexcept>

namespace rmqtt::test {

redis_server::redis_server() : redis_server(options{}) {}

redis_server::redis_server(options opts)
    : opts_(std::move(opts)), dir_(std::make_unique<temp_dir>("rmqtt-redis")) {
    start();
}

redis_server::~redis_server() {
    proc_.terminate(std::chrono::seconds(5));
}

void redis_server::launch() {
    proc_ = child_process(
        {"redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1", "--dir",
         dir_->path(), "--save", "", "--appendonly", opts_.appendonly ? "yes" : "no",
         "--appendfsync", "everysec", "--maxmemory-policy", opts_.maxmemory_policy, "--daemonize",
         "no", "--protected-mode", "yes"},
        dir_->file("redis.log"));
}

void redis_server::start() {
    // Retry on a port race: another process may take the port between free_port() and bind.
    for (int attempt = 0; attempt < 5; ++attempt) {
        if (port_ == 0 || attempt > 0) port_ = free_port();
        launch();
        if (wait_for_port(port_, std::chrono::seconds(10))) return;
        proc_.kill_hard();
    }
    throw std::runtime_error("redis-server did not start; see " + dir_->file("redis.log"));
}

void redis_server::restart() {
    proc_.kill_hard();
    for (int attempt = 0; attempt < 50; ++attempt) {
        launch();
        if (wait_for_port(port_, std::chrono::seconds(5))) return;
        proc_.kill_hard();
    }
    throw std::runtime_error("redis-server did not restart on port " + std::to_string(port_));
}

std::string redis_server::cli(const std::string& args) const {
    std::string cmd = "redis-cli -h 127.0.0.1 -p " + std::to_string(port_) + " " + args;
    std::string out;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return out;
    std::array<char, 4096> buf{};
    while (std::size_t n = std::fread(buf.data(), 1, buf.size(), p))
        out.append(buf.data(), n);
    ::pclose(p);
    return out;
}

}  // namespace rmqtt::test
