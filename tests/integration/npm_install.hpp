#pragma once

// npm packages for the tests that drive Node.js and Chromium (ws_js_test.cpp,
// dashboard_test.cpp): installed with npm from the npm registry into a directory of the build
// tree, once per package.json (versions pinned there); tests running at the same time wait on a
// lock. RMQTT_SKIP_JS_TESTS=1 skips these tests on a machine that cannot have npm, the registry
// or Chromium.

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "integration_util.hpp"

namespace rmqtt::test::integ {

inline bool skip_js_tests() {
    const char* v = std::getenv("RMQTT_SKIP_JS_TESTS");
    return v && std::string(v) == "1";
}

inline std::string source_dir() {
    const char* src = std::getenv("RMQTT_SOURCE_DIR");
    return std::string(src && *src ? src : ".");
}

inline std::string tail(const std::string& text, std::size_t n = 3000) {
    return text.size() > n ? "..." + text.substr(text.size() - n) : text;
}

// Holds an exclusive flock on `path` for its lifetime.
class file_lock {
  public:
    explicit file_lock(const std::string& path)
        : fd_(::open(path.c_str(), O_CREAT | O_RDWR, 0644)) {
        if (fd_ >= 0) ::flock(fd_, LOCK_EX);
    }
    ~file_lock() {
        if (fd_ >= 0) ::close(fd_);  // releases the lock
    }
    file_lock(const file_lock&) = delete;
    file_lock& operator=(const file_lock&) = delete;

  private:
    int fd_;
};

// The node_modules directory holding the packages, or why they could not be installed.
struct npm_install {
    std::string modules;
    std::string error;
};

// Installs the packages of `package_json` into `dir` unless that was done already: `dir` holds a
// copy of the same package.json and every file of `required` (relative to node_modules) exists.
inline npm_install install_npm_packages(const std::string& dir, const std::string& package_json,
                                        const std::vector<std::string>& required) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return {{}, "cannot create " + dir + ": " + ec.message()};
    file_lock lock(dir + "/.install-lock");
    const std::string wanted = read_file(package_json);
    if (wanted.empty()) return {{}, "cannot read " + package_json};
    const std::string modules = dir + "/node_modules";
    const auto complete = [&] {
        for (const auto& f : required)
            if (!fs::exists(modules + "/" + f)) return false;
        return true;
    };
    if (read_file(dir + "/package.json") == wanted && complete()) return {modules, {}};
    write_file(dir + "/package.json", wanted);
    const std::string log = dir + "/npm-install.log";
    write_file(log, "");
    child_process npm(
        {"npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel=error"}, log);
    const auto status = npm.wait_for(std::chrono::minutes(5));
    if (!status) return {{}, "npm install into " + dir + " did not finish within 5 minutes"};
    if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0 || !complete()) {
        fs::remove(dir + "/package.json", ec);  // try again next time
        std::string why =
            WIFEXITED(*status) && WEXITSTATUS(*status) == 127
                ? "npm is not installed (run scripts/install-deps.sh)"
                : "npm could not install " + package_json + " (is the npm registry reachable?)";
        return {{},
                why + "; set RMQTT_SKIP_JS_TESTS=1 to skip these tests. npm said:\n" +
                    tail(read_file(log))};
    }
    return {modules, {}};
}

// Runs `argv` to its end (at most `timeout`); its exit code, or -1 on timeout (the process is
// killed then).
inline int run_to_end(const std::vector<std::string>& argv, const std::string& log_file,
                      std::chrono::seconds timeout) {
    child_process p(argv, log_file);
    const auto status = p.wait_for(timeout);
    if (!status) return -1;  // the destructor kills it
    return WIFEXITED(*status) ? WEXITSTATUS(*status) : 128 + WTERMSIG(*status);
}

}  // namespace rmqtt::test::integ
