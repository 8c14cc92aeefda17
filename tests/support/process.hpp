#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace rmqtt::test {

// A child process started by a test. The destructor kills it (SIGKILL) if it still runs, so a
// failing test never leaves a server behind. Only processes started here are ever signalled.
class child_process {
  public:
    child_process() = default;
    // Starts `argv[0]` with the given arguments; stdout and stderr go to `log_file` (appended).
    child_process(const std::vector<std::string>& argv, const std::string& log_file);
    ~child_process();
    child_process(child_process&& other) noexcept;
    child_process& operator=(child_process&& other) noexcept;
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    pid_t pid() const noexcept { return pid_; }
    bool running();
    void signal(int sig);
    // Waits up to `timeout` for the process to exit; returns its wait status, or nullopt on
    // timeout.
    std::optional<int> wait_for(std::chrono::milliseconds timeout);
    // SIGKILL and reap.
    void kill_hard();
    // SIGTERM, wait up to `timeout`, then SIGKILL; returns the exit code (or 128+signal).
    int terminate(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  private:
    pid_t pid_ = -1;
    std::optional<int> status_;
};

// A TCP port on 127.0.0.1 that was free a moment ago (bound with port 0, then released).
std::uint16_t free_port();

// True once something accepts TCP connections on 127.0.0.1:port, polling until `timeout`.
bool wait_for_port(std::uint16_t port, std::chrono::milliseconds timeout);

// A fresh directory under $TMPDIR (or /tmp), removed with its contents by the destructor.
class temp_dir {
  public:
    explicit temp_dir(const std::string& prefix = "rmqtt-test");
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    const std::string& path() const noexcept { return path_; }
    std::string file(const std::string& name) const { return path_ + "/" + name; }

  private:
    std::string path_;
};

std::string read_file(const std::string& path);
void write_file(const std::string& path, const std::string& content);

}  // namespace rmqtt::test
