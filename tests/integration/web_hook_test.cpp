// rmqtt-web-hook against a real rmqttd and an HTTP receiver inside the test (cpp-httplib on
// 127.0.0.1, a free port): RMQTT's event names and bodies for a real client, topic filters in
// rules, retries of a receiver that fails with 500 and then answers, a receiver that stalls
// (MQTT traffic completes; the full queue drops and counts), file:// targets, and bad files
// refused at start-up. No timing assertion: every wait is for a condition, bounded.
#include <httplib.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "integration_util.hpp"

namespace rmqtt::test::integ {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

// Records every POST body by path. "/fail2" answers 500 twice, then 200; "/stall" holds each
// request until release().
class receiver {
  public:
    receiver() {
        server_.Post(".*",
                     [this](const httplib::Request& q, httplib::Response& r) { handle(q, r); });
        port_ = server_.bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
    }
    ~receiver() {
        release();
        server_.stop();
        thread_.join();
    }
    receiver(const receiver&) = delete;
    receiver& operator=(const receiver&) = delete;

    std::string url(const std::string& path) const {
        return "http://127.0.0.1:" + std::to_string(port_) + path;
    }

    // The bodies with a 2xx answer at `path`, as parsed JSON.
    std::vector<json> bodies(const std::string& path) {
        std::lock_guard lock(mutex_);
        return accepted_[path];
    }
    int requests(const std::string& path) {
        std::lock_guard lock(mutex_);
        return requests_[path];
    }
    // Waits (bounded) until `pred(bodies at path)` holds.
    template <class Pred>
    bool wait(const std::string& path, Pred pred, std::chrono::seconds limit = 30s) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, limit, [&] { return pred(accepted_[path]); });
    }
    bool wait_holding() {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, 30s, [&] { return holding_ > 0; });
    }
    void release() {
        std::lock_guard lock(mutex_);
        released_ = true;
        changed_.notify_all();
    }

  private:
    void handle(const httplib::Request& q, httplib::Response& r) {
        std::unique_lock lock(mutex_);
        const int n = ++requests_[q.path];
        if (q.path == "/fail2" && n <= 2) {
            r.status = 500;
            return;
        }
        if (q.path == "/stall") {
            ++holding_;
            changed_.notify_all();
            changed_.wait_for(lock, 60s, [this] { return released_; });
            --holding_;
        }
        accepted_[q.path].push_back(json::parse(q.body, nullptr, false));
        changed_.notify_all();
        r.status = 200;
    }

    httplib::Server server_;
    int port_ = 0;
    std::thread thread_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::map<std::string, int> requests_;
    std::map<std::string, std::vector<json>> accepted_;
    int holding_ = 0;
    bool released_ = false;
};

broker_ptr start_with_hook(const std::string& file) {
    broker_process::options o;
    o.extra_plugins = {"rmqtt-web-hook"};
    o.plugin_files = {{"rmqtt-web-hook", file}};
    return start_broker_with(std::move(o));
}

std::vector<json> with_action(const std::vector<json>& v, const std::string& action) {
    std::vector<json> out;
    for (const auto& b : v) {
        if (b.is_object() && b.value("action", "") == action) out.push_back(b);
    }
    return out;
}

bool has_action(const std::vector<json>& v, const std::string& action) {
    return !with_action(v, action).empty();
}

// The broker's log once it stopped (the plugin logs its counters at stop).
std::string log_after_stop(broker_ptr& b) {
    EXPECT_EQ(b->stop(), 0);
    return b->log();
}

TEST(web_hook, RmqttEventNamesAndBodiesForARealClient) {
    receiver rx;
    const std::vector<std::string> events = {
        "client_connect",     "client_connack",     "client_connected",     "session_created",
        "client_subscribe",   "session_subscribed", "message_publish",      "message_delivered",
        "message_acked",      "client_unsubscribe", "session_unsubscribed", "client_disconnected",
        "session_terminated",
    };
    std::string file = "urls = [\"" + rx.url("/hook") + "\"]\n";
    for (const auto& e : events)
        file += "rule." + e + " = [{action = \"" + e + "\"}]\n";
    auto b = start_with_hook(file);
    {
        mqtt_client::connect_options o = paho_options(true, 30);
        o.username = "alice";
        mqtt_client c(b->uri(), "hook-dev");
        c.connect(o);
        c.subscribe("t/#", 1);
        c.publish("t/1", "hello", 1);
        ASSERT_TRUE(c.next());
        c.unsubscribe("t/#");
        c.disconnect();
    }
    ASSERT_TRUE(rx.wait("/hook", [&](const std::vector<json>& v) {
        return std::all_of(events.begin(), events.end(),
                           [&](const std::string& e) { return has_action(v, e); });
    })) << json(rx.bodies("/hook")).dump(1);
    const auto all = rx.bodies("/hook");
    const auto one = [&](const std::string& action) { return with_action(all, action).front(); };

    const json connect = one("client_connect");
    EXPECT_EQ(connect["clientid"], "hook-dev");
    EXPECT_EQ(connect["username"], "alice");
    EXPECT_EQ(connect["keepalive"], 30);
    EXPECT_EQ(connect["proto_ver"], 4);
    EXPECT_EQ(connect["clean_session"], true);
    EXPECT_EQ(connect["node"], 1);
    EXPECT_TRUE(connect["ipaddress"].get<std::string>().starts_with("127.0.0.1:"));
    EXPECT_EQ(one("client_connack")["conn_ack"], "Success");
    EXPECT_EQ(one("client_connected")["session_present"], false);
    EXPECT_TRUE(one("client_connected")["connected_at"].is_number_integer());
    EXPECT_EQ(one("session_created")["username"], "alice");
    EXPECT_EQ(one("session_subscribed")["topic"], "t/#");
    EXPECT_EQ(one("session_subscribed")["opts"], (json{{"qos", 1}}));
    EXPECT_EQ(one("client_subscribe")["topic"], "t/#");
    EXPECT_EQ(one("client_unsubscribe")["topic"], "t/#");
    EXPECT_EQ(one("session_unsubscribed")["clientid"], "hook-dev");

    const json publish = one("message_publish");
    EXPECT_EQ(publish["from_clientid"], "hook-dev");
    EXPECT_EQ(publish["from_username"], "alice");
    EXPECT_EQ(publish["topic"], "t/1");
    EXPECT_EQ(publish["qos"], 1);
    EXPECT_EQ(publish["retain"], false);
    EXPECT_EQ(publish["payload"], "aGVsbG8=");  // base64("hello"), as RMQTT
    EXPECT_TRUE(publish["ts"].is_number_integer());

    for (const auto* action : {"message_delivered", "message_acked"}) {
        const json m = one(action);
        SCOPED_TRACE(action);
        EXPECT_EQ(m["clientid"], "hook-dev");
        EXPECT_EQ(m["from_clientid"], "hook-dev");
        EXPECT_EQ(m["topic"], "t/1");
        EXPECT_EQ(m["payload"], "aGVsbG8=");
        EXPECT_TRUE(m["pts"].is_number_integer());
    }
    EXPECT_EQ(one("client_disconnected")["reason"], "client_disconnect");
    EXPECT_EQ(one("session_terminated")["reason"], "connection_closed");
    for (const auto& body : all)
        EXPECT_EQ(body["time"].get<std::string>().size(), 23u) << body;
}

TEST(web_hook, RulesFilterMessageEventsByTopic) {
    receiver rx;
    auto b = start_with_hook(
        "concurrency_limit = 1\n"
        "urls = [\"" +
        rx.url("/a") +
        "\"]\n"
        "rule.message_publish = [{action = \"pub_a\", topics = [\"a/#\"]},\n"
        "  {action = \"pub_b\", topics = [\"b/+\"], urls = [\"" +
        rx.url("/b") + "\"]}]\n");
    mqtt_client c(b->uri(), "filter-pub");
    c.connect();
    for (const auto* topic : {"a/x", "b/y", "c/z", "b/y/deep", "a/end"})
        c.publish(topic, "p", 1);
    // One sender thread delivers in order: once a/end is in, everything before it was decided.
    ASSERT_TRUE(rx.wait("/a", [](const std::vector<json>& v) {
        return !v.empty() && v.back()["topic"] == "a/end";
    }));
    ASSERT_TRUE(rx.wait("/b", [](const std::vector<json>& v) { return !v.empty(); }));
    std::vector<std::string> a_topics, b_topics;
    for (const auto& body : rx.bodies("/a")) {
        EXPECT_EQ(body["action"], "pub_a");
        a_topics.push_back(body["topic"]);
    }
    for (const auto& body : rx.bodies("/b")) {
        EXPECT_EQ(body["action"], "pub_b");
        b_topics.push_back(body["topic"]);
    }
    EXPECT_EQ(a_topics, (std::vector<std::string>{"a/x", "a/end"}));
    EXPECT_EQ(b_topics, (std::vector<std::string>{"b/y"}));
}

TEST(web_hook, AReceiverThatFailsIsRetriedUntilItAnswers) {
    receiver rx;
    auto b = start_with_hook("urls = [\"" + rx.url("/fail2") +
                             "\"]\n"
                             "retry_multiplier = 1.5\nretry_max_elapsed_time = \"60s\"\n"
                             "rule.client_connected = [{action = \"client_connected\"}]\n");
    mqtt_client c(b->uri(), "retry-dev");
    c.connect();
    ASSERT_TRUE(rx.wait("/fail2", [](const std::vector<json>& v) { return !v.empty(); }));
    const auto got = rx.bodies("/fail2");
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0]["clientid"], "retry-dev");
    EXPECT_EQ(rx.requests("/fail2"), 3);  // 500, 500, then 200
    c.disconnect();
    const std::string log = log_after_stop(b);
    EXPECT_NE(log.find("sent 1, failed 0, retried 2"), std::string::npos) << log;
}

TEST(web_hook, AStalledReceiverCostsCountedDropsNotMqttTraffic) {
    receiver rx;
    auto b = start_with_hook(
        "concurrency_limit = 1\nqueue_capacity = 4\nhttp_timeout = \"30s\"\n"
        "urls = [\"" +
        rx.url("/stall") +
        "\"]\n"
        "rule.message_publish = [{action = \"message_publish\"}]\n");
    mqtt_client sub(b->uri(), "stall-sub");
    sub.connect();
    sub.subscribe("load/#", 1);
    mqtt_client pub(b->uri(), "stall-pub");
    pub.connect();
    pub.publish("load/first", "0", 1);
    ASSERT_TRUE(rx.wait_holding());  // the only sender is now stuck in the receiver
    constexpr int count = 200;
    for (int i = 0; i < count; ++i)
        pub.publish("load/" + std::to_string(i), std::to_string(i), 1);  // each waits for PUBACK
    const auto got = sub.take(count + 1, 30s);
    EXPECT_EQ(got.size(), static_cast<std::size_t>(count + 1));
    rx.release();
    pub.disconnect();
    sub.disconnect();
    const std::string log = log_after_stop(b);
    EXPECT_NE(log.find("queue full"), std::string::npos) << log;
    const auto at = log.find("dropped_queue_full ");
    ASSERT_NE(at, std::string::npos) << log;
    const long dropped = std::stol(log.substr(at + 19));
    EXPECT_GE(dropped, count - 4 - 1) << log;  // all but the queue's room and the one stuck
}

TEST(web_hook, FileUrlAppendsJsonLines) {
    temp_dir dir("rmqtt-web-hook-file");
    const std::string path = dir.file("hook.log");
    auto b = start_with_hook("urls = [\"file://" + path +
                             "\"]\n"
                             "rule.client_connected = [{action = \"client_connected\"}]\n"
                             "rule.message_publish = [{action = \"message_publish\"}]\n");
    mqtt_client c(b->uri(), "file-dev");
    c.connect();
    c.publish("f/1", "abc", 1);
    c.disconnect();
    std::vector<json> lines;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (lines.size() < 2 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(50ms);
        lines.clear();
        std::ifstream in(path);
        for (std::string line; std::getline(in, line);)
            lines.push_back(json::parse(line, nullptr, false));
    }
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0]["action"], "client_connected");
    EXPECT_EQ(lines[0]["clientid"], "file-dev");
    EXPECT_EQ(lines[1]["action"], "message_publish");
    EXPECT_EQ(lines[1]["payload"], "YWJj");  // base64("abc")
}

TEST(web_hook, BadFilesAreRefusedAtStartUp) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"urls = [\"ftp://127.0.0.1/hook\"]\n", "rmqtt-web-hook.toml: urls: expected an http://"},
        {"urls = [\"http://127.0.0.1:1/h\"]\nrule.client_explode = [{action = \"x\"}]\n",
         "rmqtt-web-hook.toml: rule.client_explode: unknown event"},
        {"rule.client_connected = [{action = \"x\"}]\n", "no default `urls`"},
        {"urls = [\"http://127.0.0.1:1/h\"]\nrule.message_publish = [{topics = [\"a/#/b\"]}]\n",
         "rule.message_publish[0].topics"},
        {"urls = [\"file:///nonexistent-rmqttd-dir/hook.log\"]\n"
         "rule.client_connected = [{}]\n",
         "cannot open file:///nonexistent-rmqttd-dir/hook.log for appending"},
    };
    for (const auto& [file, expected] : cases) {
        SCOPED_TRACE(file);
        broker_process::options o;
        o.extra_plugins = {"rmqtt-web-hook"};
        o.plugin_files = {{"rmqtt-web-hook", file}};
        broker_process b(std::move(o));
        try {
            b.start();
            ADD_FAILURE() << "rmqttd started";
        } catch (const std::exception& e) {
            EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
        }
    }
}

}  // namespace
}  // namespace rmqtt::test::integ
