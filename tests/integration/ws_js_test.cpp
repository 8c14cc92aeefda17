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
#include <filesystem>
#include <string>

#include "integration_util.hpp"
#include "npm_install.hpp"
#include "tls_util.hpp"

#ifndef RMQTT_NPM_DIR
#error "RMQTT_NPM_DIR (where the tests install npm packages) must be defined by the build"
#endif

namespace rmqtt::test::integ {
namespace {

namespace fs = std::filesystem;

std::string js_dir() {
    return source_dir() + "/tests/integration/ws_js";
}

const npm_install& mqttjs() {
    static const npm_install install = install_npm_packages(
        RMQTT_NPM_DIR, js_dir() + "/package.json", {"mqtt/dist/mqtt.min.js", "ws/package.json"});
    return install;
}

broker_ptr start_ws_broker() {
    broker_process::options o;
    o.ws = true;
    return start_broker_with(std::move(o));
}

TEST(WebSocketMqttJs, NodeClientsOverWebSocket) {
    if (skip_js_tests()) GTEST_SKIP() << "RMQTT_SKIP_JS_TESTS=1";
    const auto& js = mqttjs();
    ASSERT_TRUE(js.error.empty()) << js.error;
    auto b = start_ws_broker();
    temp_dir out("rmqtt-mqttjs");
    const std::string log = out.file("node.log");
    const int rc = run_to_end(
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
    const int rc = run_to_end({"node", js_dir() + "/mqttjs_roundtrip.js", js.modules, t.ssl_uri(),
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
    const int rc = run_to_end({"node", js_dir() + "/browser_roundtrip.js", js.modules, b->ws_uri(),
                               chromium, out.file("profile")},
                              log, std::chrono::seconds(150));
    EXPECT_EQ(rc, 0) << read_file(log);
}

}  // namespace
}  // namespace rmqtt::test::integ
