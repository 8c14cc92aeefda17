#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "process.hpp"

namespace rmqtt::test {

// A redis-server of the test's own on 127.0.0.1 and a free port, with its data in a temp dir
// (appendonly yes, appendfsync everysec, no RDB snapshots). Stopped by the destructor.
class redis_server {
  public:
    struct options {
        bool appendonly = true;
        std::string maxmemory_policy = "noeviction";
    };
    redis_server();
    explicit redis_server(options opts);
    ~redis_server();

    std::uint16_t port() const noexcept { return port_; }
    std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_) + "/"; }
    const std::string& dir() const noexcept { return dir_->path(); }
    pid_t pid() const noexcept { return proc_.pid(); }

    void kill_hard() { proc_.kill_hard(); }  // crash it (kill -9)
    void restart();                          // start again on the same port and data
    bool running() { return proc_.running(); }

    // Runs redis-cli against this server and returns its stdout (for test assertions).
    std::string cli(const std::string& args) const;

  private:
    void start();
    void launch();
    options opts_;
    std::unique_ptr<temp_dir> dir_;
    std::uint16_t port_ = 0;
    child_process proc_;
};

}  // namespace rmqtt::test
