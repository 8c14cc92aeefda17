// The dashboard of rmqtt-http-api (plugins/http_api/dashboard/) in headless Chromium against the
// real rmqttd: dashboard/dashboard_check.js connects MQTT.js clients, opens the page the plugin
// serves, and checks what it shows and that its Kick button disconnects a client for real.
//
// MQTT.js and playwright-core (versions pinned in dashboard/package.json; Playwright drives the
// system Chromium, it downloads no browser) are installed with npm into
// <build>/tests/npm-dashboard. The test skips, saying why, when Node.js or Chromium is not
// installed, or with RMQTT_SKIP_JS_TESTS=1; when npm cannot install the packages it fails.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

#include "integration_util.hpp"
#include "npm_install.hpp"

#ifndef RMQTT_NPM_DIR
#error "RMQTT_NPM_DIR (where the tests install npm packages) must be defined by the build"
#endif

namespace rmqtt::test::integ {
namespace {

namespace fs = std::filesystem;

std::string check_dir() {
    return source_dir() + "/tests/integration/dashboard";
}

// `name` found as an executable file in $PATH; empty when it is not.
std::string find_in_path(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::string dirs = path ? path : "";
    std::size_t start = 0;
    while (start <= dirs.size()) {
        const std::size_t end = std::min(dirs.find(':', start), dirs.size());
        const std::string candidate = dirs.substr(start, end - start) + "/" + name;
        if (end > start && ::access(candidate.c_str(), X_OK) == 0) return candidate;
        start = end + 1;
    }
    return {};
}

std::string chromium_path() {
    const char* env = std::getenv("RMQTT_CHROMIUM");
    return env && *env ? env : "/usr/bin/chromium";
}

// Why the dashboard is not tested here (asked to skip, Chromium or Node.js missing), or "".
std::string skip_reason() {
    if (skip_js_tests()) return "RMQTT_SKIP_JS_TESTS=1";
    const std::string chromium = chromium_path();
    if (::access(chromium.c_str(), X_OK) != 0)
        return "Chromium not installed at " + chromium +
               " (Debian package chromium, scripts/install-deps.sh; or set RMQTT_CHROMIUM): the "
               "dashboard test needs a browser";
    if (find_in_path("node").empty())
        return "Node.js not installed (Debian package nodejs, scripts/install-deps.sh): the "
               "dashboard test needs it";
    return {};
}

const npm_install& dashboard_packages() {
    static const npm_install install = install_npm_packages(
        std::string(RMQTT_NPM_DIR) + "-dashboard", check_dir() + "/package.json",
        {"mqtt/package.json", "playwright-core/package.json"});
    return install;
}

// rmqttd with rmqtt-http-api on a free port, its file holding `auth_lines`.
struct api_broker {
    std::uint16_t http_port = free_port();
    broker_ptr broker;

    explicit api_broker(const std::string& auth_lines) {
        broker_process::options o;
        o.extra_plugins = {"rmqtt-http-api"};
        o.plugin_files["rmqtt-http-api"] =
            cat("http_laddr = \"127.0.0.1:", http_port, "\"\n", auth_lines);
        broker = start_broker_with(std::move(o));
    }
    std::string url() const { return cat("http://127.0.0.1:", http_port, "/"); }
};

// Runs dashboard_check.js with `args` after its common ones and prints its output (one line per
// check, for ctest -V). Fails the test unless every check passed.
void run_check(const api_broker& b, const npm_install& js, const std::vector<std::string>& args) {
    temp_dir out("rmqtt-dashboard");
    const std::string log = out.file("node.log");
    std::vector<std::string> argv{"node",          check_dir() + "/dashboard_check.js",
                                  js.modules,      b.url(),
                                  b.broker->uri(), chromium_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    const int rc = run_to_end(argv, log, std::chrono::seconds(200));
    const std::string output = read_file(log);
    std::cout << "dashboard_check.js:\n" << output;
    EXPECT_EQ(rc, 0) << output << "\nbroker log (tail):\n" << tail(b.broker->log());
    EXPECT_NE(output.find(" passed, 0 failed"), std::string::npos) << output;
}

// The whole page with a bearer token: overview, clients, search, kick, subscriptions, retained
// messages, plugins; and a screenshot of the overview.
TEST(Dashboard, ShowsTheBrokerAndKicksAClient) {
    if (const auto why = skip_reason(); !why.empty()) GTEST_SKIP() << why;
    const auto& js = dashboard_packages();
    ASSERT_TRUE(js.error.empty()) << js.error;
    api_broker b("http_bearer_token = \"dashboard-test-token\"\n");
    ASSERT_TRUE(wait_for_port(b.http_port, std::chrono::seconds(10)))
        << "the HTTP API did not listen on " << b.http_port << "\n"
        << b.broker->log();
    temp_dir shots("rmqtt-dashboard-png");
    const std::string screenshot = shots.file("dashboard.png");
    run_check(b, js, {"bearer", "dashboard-test-token", screenshot});
    EXPECT_EQ(read_file(screenshot).substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8))
        << "no PNG screenshot at " << screenshot;
    // RMQTT_DASHBOARD_SCREENSHOT=<path> keeps it (docs/img/dashboard.png is taken this way).
    if (const char* keep = std::getenv("RMQTT_DASHBOARD_SCREENSHOT"); keep && *keep) {
        std::error_code ec;
        fs::copy_file(screenshot, keep, fs::copy_options::overwrite_existing, ec);
        EXPECT_FALSE(ec) << "cannot copy the screenshot to " << keep << ": " << ec.message();
    }
}

// HTTP basic authentication (user:password in the token field), the page opened at /dashboard/.
TEST(Dashboard, SignsInWithBasicCredentials) {
    if (const auto why = skip_reason(); !why.empty()) GTEST_SKIP() << why;
    const auto& js = dashboard_packages();
    ASSERT_TRUE(js.error.empty()) << js.error;
    api_broker b("http_basic_auth_user = \"admin\"\nhttp_basic_auth_password = \"s3cret pass\"\n");
    ASSERT_TRUE(wait_for_port(b.http_port, std::chrono::seconds(10)))
        << "the HTTP API did not listen on " << b.http_port << "\n"
        << b.broker->log();
    run_check(b, js, {"basic", "admin:s3cret pass"});
}

}  // namespace
}  // namespace rmqtt::test::integ
