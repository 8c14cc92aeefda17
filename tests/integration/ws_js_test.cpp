// MQTT.js and a real browser against rmqttd's WebSocket listeners: MQTT.js on Node.js over ws://
// and wss:// (ws_js/mqttjs_roundtrip.js) and MQTT.js in headless Chromium
// (ws_js/browser_roundtrip.js, page.html).
//
// MQTT.js (the npm package `mqtt`, version pinned in ws_js/package.json) is installed with npm from
// the npm registry, once per build tree, into <build>/tests/npm; tests running at the same time
// wait on a lock. Without npm, the registry or Chromium these tests FAIL with a message saying
// what is missing: this project's machines have all three (scripts/install-deps.sh), and a client
// test that skips itself quietly would hide a regression. On a machine that cannot have them, set
// RMQTT_SKIP_JS_TESTS=1 to skip them instead.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "integration_util.hpp"
#include "tls_util.hpp"

#ifndef RMQTT_NPM_DIR
#error "RMQTT_NPM_DIR (where the tests install npm packages) must be defined by the build"
#endif

namespace rmqtt::test::integ {
namespace {

namespace fs = std::filesystem;

bool skip_js_tests() {
    const char* v = std::getenv("RMQTT_SKIP_JS_TESTS");
    return v && std::string(v) == "1";
}

std::string js_dir() {
    const char* src = std::getenv("RMQTT_SOURCE_DIR");
    return std::string(src && *src ? src : ".") + "/tests/integration/ws_js";
}

std::string tail(const std::string& text, std::size_t n = 3000) {
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

// The node_modules directory holding MQTT.js, or why it could not be installed.
struct mqttjs_install {
    std::string modules;
    std::string error;
};

mqttjs_install install_mqttjs() {
    const std::string dir = RMQTT_NPM_DIR;
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) return {{}, "cannot create " + dir + ": " + ec.message()};
    file_lock lock(dir + "/.install-lock");
    const std::string wanted = read_file(js_dir() + "/package.json");
    if (wanted.empty()) return {{}, "cannot read " + js_dir() + "/package.json"};
    const std::string modules = dir + "/node_modules";
    const bool installed = read_file(dir + "/package.json") == wanted &&
                           fs::exists(modules + "/mqtt/dist/mqtt.min.js") &&
                           fs::exists(modules + "/ws/package.json");
    if (installed) return {modules, {}};
    write_file(dir + "/package.json", wanted);
    const std::string log = dir + "/npm-install.log";
    write_file(log, "");
    child_process npm(
        {"npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel=error"}, log);
    const auto status = npm.wait_for(std::chrono::minutes(5));
    if (!status) return {{}, "npm install of MQTT.js did not finish within 5 minutes"};
    if (!WIFEXITED(*status) || WEXITSTATUS(*status) != 0 ||
        !fs::exists(modules + "/mqtt/dist/mqtt.min.js")) {
        fs::remove(dir + "/package.json", ec);  // try again next time
        std::string why = WIFEXITED(*status) && WEXITSTATUS(*status) == 127
                              ? "npm is not installed (run scripts/install-deps.sh)"
                              : "npm could not install MQTT.js (is the npm registry reachable?)";
        return {{},
                why + "; set RMQTT_SKIP_JS_TESTS=1 to skip these tests. npm said:\n" +
                    tail(read_file(log))};
    }
    return {modules, {}};
}

const mqttjs_install& mqttjs() {
    static const mqttjs_install install = install_mqttjs();
    return install;
}

broker_ptr start_ws_broker() {
    broker_process::options o;
    o.ws = true;
    return start_broker_with(std::move(o));
}

// Runs `argv` to its end (at most `timeout`); its exit code, or -1 with the output on timeout.
int run(const std::vector<std::string>& argv, const std::string& log_file,
        std::chrono::seconds timeout) {
    child_process p(argv, log_file);
    const auto status = p.wait_for(timeout);
    if (!status) return -1;  // the destructor kills it
    return WIFEXITED(*status) ? WEXITSTATUS(*status) : 128 + WTERMSIG(*status);
}

TEST(WebSocketMqttJs, NodeClientsOverWebSocket) {
    if (skip_js_tests()) GTEST_SKIP() << "RMQTT_SKIP_JS_TESTS=1";
    const auto& js = mqttjs();
    ASSERT_TRUE(js.error.empty()) << js.error;
    auto b = start_ws_broker();
    temp_dir out("rmqtt-mqttjs");
    const std::string log = out.file("node.log");
    const int rc = run(
        {"node", js_dir() + "/mqttjs_roundtrip.js", js.modules, b->ws_uri(), b->ws_uri("/wrong")},
        log, std::chrono::seconds(150));
    EXPECT_EQ(rc, 0) << read_file(log);
}

// The same over wss:// (a wss listener: WebSocket over TLS), MQTT.js verifying the server's
// certificate against the test CA.
TEST(WebSocketMqttJs, NodeClientsOverSecureWebSocket) {
    if (skip_js_tests()) GTEST_SKIP() << "RMQTT_SKIP_JS_TESTS=1";
    const auto& js = mqttjs();
    ASSERT_TRUE(js.error.empty()) << js.error;
    tls_broker t;
    t.kind = "wss";
    t.start();
    const std::string log = t.dir.file("node.log");
    const int rc = run({"node", js_dir() + "/mqttjs_roundtrip.js", js.modules, t.ssl_uri(),
                        cat("wss://127.0.0.1:", t.tls_port, "/wrong"), t.certs.ca},
                       log, std::chrono::seconds(150));
    EXPECT_EQ(rc, 0) << read_file(log);
    EXPECT_NE(read_file(log).find("PASS MQTT 5.0 over wss"), std::string::npos) << read_file(log);
}

TEST(WebSocketBrowser, ChromiumRoundTripWithMqttJs) {
    if (skip_js_tests()) GTEST_SKIP() << "RMQTT_SKIP_JS_TESTS=1";
    const char* env_chromium = std::getenv("RMQTT_CHROMIUM");
    const std::string chromium = env_chromium && *env_chromium ? env_chromium : "/usr/bin/chromium";
    ASSERT_TRUE(fs::exists(chromium))
        << chromium << " not found: run scripts/install-deps.sh (Debian package chromium), "
        << "point RMQTT_CHROMIUM at a Chromium, or set RMQTT_SKIP_JS_TESTS=1";
    const auto& js = mqttjs();
    ASSERT_TRUE(js.error.empty()) << js.error;
    auto b = start_ws_broker();
    temp_dir out("rmqtt-browser");
    const std::string log = out.file("node.log");
    const int rc = run({"node", js_dir() + "/browser_roundtrip.js", js.modules, b->ws_uri(),
                        chromium, out.file("profile")},
                       log, std::chrono::seconds(150));
    EXPECT_EQ(rc, 0) << read_file(log);
}

}  // namespace
}  // namespace rmqtt::test::integ
