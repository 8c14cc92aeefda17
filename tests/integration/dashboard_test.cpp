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

TEST(Dashboard, ShowsTheBrokerAndKicksAClient) {
    if (skip_js_tests()) GTEST_SKIP() << "RMQTT_SKIP_JS_TESTS=1";
    const char* env_chromium = std::getenv("RMQTT_CHROMIUM");
    const std::string chromium = env_chromium && *env_chromium ? env_chromium : "/usr/bin/chromium";
    if (::access(chromium.c_str(), X_OK) != 0)
        GTEST_SKIP() << "Chromium not installed at " << chromium
                     << " (Debian package chromium, scripts/install-deps.sh; or set "
                        "RMQTT_CHROMIUM): the dashboard test needs a browser";
    if (find_in_path("node").empty())
        GTEST_SKIP() << "Node.js not installed (Debian package nodejs, scripts/install-deps.sh): "
                        "the dashboard test needs it";
    static const npm_install js = install_npm_packages(
        std::string(RMQTT_NPM_DIR) + "-dashboard", check_dir() + "/package.json",
        {"mqtt/package.json", "playwright-core/package.json"});
    ASSERT_TRUE(js.error.empty()) << js.error;

    const std::uint16_t http_port = free_port();
    const std::string token = "dashboard-test-token";
    broker_process::options o;
    o.extra_plugins = {"rmqtt-http-api"};
    o.plugin_files["rmqtt-http-api"] =
        cat("http_laddr = \"127.0.0.1:", http_port, "\"\nhttp_bearer_token = \"", token, "\"\n");
    auto b = start_broker_with(std::move(o));
    ASSERT_TRUE(wait_for_port(http_port, std::chrono::seconds(10)))
        << "the HTTP API did not listen on " << http_port << "\n"
        << b->log();

    temp_dir out("rmqtt-dashboard");
    const std::string log = out.file("node.log");
    const std::string screenshot = out.file("dashboard.png");
    const int rc = run_to_end(
        {"node", check_dir() + "/dashboard_check.js", js.modules,
         cat("http://127.0.0.1:", http_port, "/"), b->uri(), chromium, token, screenshot},
        log, std::chrono::seconds(200));
    const std::string output = read_file(log);
    EXPECT_EQ(rc, 0) << output << "\nbroker log (tail):\n" << tail(b->log());
    EXPECT_NE(output.find(" passed, 0 failed"), std::string::npos) << output;
    // The screenshot of the overview: a PNG file.
    EXPECT_EQ(read_file(screenshot).substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << output;
    // RMQTT_DASHBOARD_SCREENSHOT=<path> keeps it (docs/img/dashboard.png is taken this way).
    if (const char* keep = std::getenv("RMQTT_DASHBOARD_SCREENSHOT"); keep && *keep) {
        std::error_code ec;
        fs::copy_file(screenshot, keep, fs::copy_options::overwrite_existing, ec);
        EXPECT_FALSE(ec) << "cannot copy the screenshot to " << keep << ": " << ec.message();
    }
}

}  // namespace
}  // namespace rmqtt::test::integ
