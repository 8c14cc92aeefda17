#include "broker_process.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <stdexcept>

namespace rmqtt::test {

std::string rmqttd_binary() {
    const char* bin = std::getenv("RMQTTD_BIN");
    if (!bin || !*bin) throw std::runtime_error("RMQTTD_BIN is not set (run the tests with ctest)");
    return bin;
}

broker_process::broker_process() : broker_process(options{}) {}

broker_process::broker_process(options o)
    : opts_(std::move(o)), dir_(std::make_unique<temp_dir>("rmqttd-test")) {
    port_ = free_port();
    if (opts_.ws) {
        do {
            ws_port_ = free_port();
        } while (ws_port_ == port_);
    }
    write_config();
}

broker_process::~broker_process() {
    proc_.kill_hard();
    // A sanitizer build of rmqttd reports into its log (stderr): any report fails the test that
    // ran it (make asan-test, make tsan-test).
    const std::string text = log();
    for (const char* mark : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                             "runtime error:", "WARNING: ThreadSanitizer"}) {
        const auto at = text.find(mark);
        if (at == std::string::npos) continue;
        ADD_FAILURE() << "rmqttd reported a sanitizer finding (" << dir_->file("rmqttd.log")
                      << "):\n"
                      << text.substr(at, 4000);
        break;
    }
}

void broker_process::write_config() {
    std::filesystem::create_directories(dir_->file("plugins"));
    std::ostringstream main;
    main << "[node]\nid = 1\nworkers = " << opts_.workers << "\n\n"
         << "[log]\nlevel = \"" << opts_.log_level << "\"\n";
    const bool log_target = std::any_of(opts_.log.begin(), opts_.log.end(), [](const auto& l) {
        return l.rfind("to ", 0) == 0 || l.rfind("to=", 0) == 0;
    });
    if (!log_target) main << "to = \"console\"\n";
    for (const auto& l : opts_.log)
        main << l << "\n";
    main << "\n"
         << "[plugins]\ndir = \"" << dir_->file("plugins/") << "\"\n"
         << "default_startups = [\"rmqtt-retainer\", \"rmqtt-shared-subscription\""
         << (opts_.session_storage ? ", \"rmqtt-session-storage\"" : "");
    for (const auto& p : opts_.extra_plugins)
        main << ", \"" << p << "\"";
    main << "]\n\n"
         << "[listener.tcp.external]\n"
         << "addr = \"127.0.0.1:" << port_ << "\"\n"
         << "allow_anonymous = true\n";
    for (const auto& l : opts_.listener)
        main << l << "\n";
    main << "\n";
    if (opts_.ws) {
        main << "[listener.ws.external]\n"
             << "addr = \"127.0.0.1:" << ws_port_ << "\"\n"
             << "allow_anonymous = true\n";
        for (const auto& l : opts_.ws_listener)
            main << l << "\n";
        main << "\n";
    }
    for (const auto& l : opts_.main_config)
        main << l << "\n";
    write_file(dir_->file("rmqtt.toml"), main.str());

    std::ostringstream st;
    st << "storage.type = \"" << opts_.storage_type << "\"\n"
       << "storage.rocksdb.path = \"" << dir_->file("data/session/{node}") << "\"\n";
    if (!opts_.redis_url.empty()) st << "storage.redis.url = \"" << opts_.redis_url << "\"\n";
    st << "storage.redis.prefix = \"" << opts_.redis_prefix << "\"\n"
       << "ack = \"" << opts_.ack << "\"\n";
    for (const auto& l : opts_.storage_config)
        st << l << "\n";
    write_file(dir_->file("plugins/rmqtt-session-storage.toml"), st.str());

    write_file(dir_->file("plugins/rmqtt-retainer.toml"),
               "storage.type = \"" + opts_.retainer_type + "\"\n");
    for (const auto& [name, content] : opts_.plugin_files)
        write_file(dir_->file("plugins/" + name + ".toml"), content);
}

void broker_process::start() {
    if (proc_.running()) throw std::runtime_error("rmqttd already running");
    proc_ =
        child_process({opts_.binary.empty() ? rmqttd_binary() : opts_.binary, "-f", config_file()},
                      dir_->file("rmqttd.log"));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
        if (wait_for_port(port_, std::chrono::milliseconds(200)) &&
            (ws_port_ == 0 || wait_for_port(ws_port_, std::chrono::milliseconds(200))))
            return;
        if (!proc_.running()) throw std::runtime_error("rmqttd exited during start-up:\n" + log());
    }
    throw std::runtime_error("rmqttd did not start listening:\n" + log());
}

int broker_process::stop(std::chrono::milliseconds timeout) {
    return proc_.terminate(timeout);
}

void broker_process::kill9() {
    proc_.kill_hard();
}

std::string broker_process::log() const {
    return read_file(dir_->file("rmqttd.log"));
}

}  // namespace rmqtt::test
