#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "process.hpp"

namespace rmqtt::test {

// A real rmqttd process ($RMQTTD_BIN) on 127.0.0.1 and a free port, with its own config files
// and data directory in a temp dir. The destructor kills it if it still runs.
class broker_process {
  public:
    struct options {
        bool session_storage = true;
        std::string storage_type = "rocksdb";  // "rocksdb" or "redis"
        std::string redis_url;                 // for storage_type = "redis"
        std::string redis_prefix = "session-{node}";
        std::string ack = "durable";        // "durable" or "async"
        std::string retainer_type = "ram";  // "ram" or "rocksdb" (kept in the session store)
        // Extra lines in [listener.tcp.external] (e.g. "max_inflight = 4").
        std::vector<std::string> listener;
        // A second listener, [listener.ws.external] on its own free port, with these extra lines
        // (e.g. "ws_path = \"\""), when `ws` is set.
        bool ws = false;
        std::vector<std::string> ws_listener;
        // Extra lines appended to rmqtt.toml and to rmqtt-session-storage.toml.
        std::vector<std::string> main_config;
        std::vector<std::string> storage_config;
        // More names for plugins.default_startups (e.g. "rmqtt-auth-scram"), and plugin files
        // written to <dir>/plugins/<name>.toml (e.g. {"rmqtt-shared-subscription",
        // "strategy = \"sticky\"\n"}); a file given here replaces the generated one.
        std::vector<std::string> extra_plugins;
        std::map<std::string, std::string> plugin_files;
        std::string log_level = "info";
        // Extra lines in [log] (e.g. "format = \"json\""); "to" replaces the console target.
        std::vector<std::string> log;
        int workers = 2;
        // The binary to run; empty: rmqttd_binary().
        std::string binary;
    };

    broker_process();
    explicit broker_process(options o);
    ~broker_process();
    broker_process(const broker_process&) = delete;
    broker_process& operator=(const broker_process&) = delete;

    // Starts rmqttd and waits until it accepts connections (throws if it does not).
    void start();
    // SIGTERM, waits; returns the exit code.
    int stop(std::chrono::milliseconds timeout = std::chrono::seconds(20));
    // kill -9.
    void kill9();
    // Starts again with the same configuration and data.
    void restart() { start(); }
    bool running() { return proc_.running(); }
    pid_t pid() const noexcept { return proc_.pid(); }

    std::uint16_t port() const noexcept { return port_; }
    std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
    // The WebSocket listener (options.ws): its port and its URI with the default path.
    std::uint16_t ws_port() const noexcept { return ws_port_; }
    std::string ws_uri(const std::string& path = "/mqtt") const {
        return "ws://127.0.0.1:" + std::to_string(ws_port_) + path;
    }
    std::string log() const;
    const std::string& dir() const noexcept { return dir_->path(); }
    std::string config_file() const { return dir_->file("rmqtt.toml"); }

  private:
    void write_config();
    options opts_;
    std::unique_ptr<temp_dir> dir_;
    std::uint16_t port_ = 0;
    std::uint16_t ws_port_ = 0;
    child_process proc_;
};

// Path of the rmqttd binary under test ($RMQTTD_BIN, set by ctest).
std::string rmqttd_binary();

}  // namespace rmqtt::test
