// rmqtt-http-api over real HTTP (cpp-httplib as the client) against the real rmqttd, with real
// MQTT clients (Paho): every route at least once, the JSON checked against what the broker has,
// authentication, errors, the Prometheus exposition, the dashboard's files, and a bounded loop
// of malformed requests the broker survives.
#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "integration_util.hpp"

namespace rmqtt::test::integ {
namespace {

using json = nlohmann::json;

// The repository root: RMQTT_SOURCE_DIR (ctest sets it), else from this file's place.
std::string source_dir() {
    if (const char* dir = std::getenv("RMQTT_SOURCE_DIR"); dir != nullptr && *dir != '\0')
        return dir;
    const std::string here = __FILE__;
    return here.substr(
        0, here.size() - std::string_view("/tests/integration/http_api_test.cpp").size());
}

struct api_broker {
    broker_ptr broker;
    std::uint16_t http_port = 0;

    // Polls GET `path` until `ok(json)` holds (bounded); returns the last answer.
    json wait_json(const std::string& path, const std::function<bool(const json&)>& ok) const {
        json last;
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < deadline) {
            auto r = client().Get(path.c_str());
            if (r && r->status == 200) {
                last = json::parse(r->body);
                if (ok(last)) return last;
            }
            std::this_thread::sleep_for(20ms);
        }
        ADD_FAILURE() << "condition not met for " << path << "; last answer: " << last.dump();
        return last;
    }
    httplib::Client client() const {
        httplib::Client c("127.0.0.1", http_port);
        c.set_read_timeout(15, 0);
        return c;
    }
};

api_broker start_api(const std::string& extra = {}, std::vector<std::string> plugins = {},
                     std::map<std::string, std::string> files = {}) {
    api_broker out;
    out.http_port = free_port();
    broker_process::options o;
    o.extra_plugins = std::move(plugins);
    o.plugin_files = std::move(files);
    o.extra_plugins.push_back("rmqtt-http-api");
    // Answers computed per request unless the test sets the cache itself.
    const std::string cache = extra.find("prometheus_metrics_cache_interval") == std::string::npos
                                  ? "prometheus_metrics_cache_interval = \"0s\"\n"
                                  : "";
    o.plugin_files["rmqtt-http-api"] =
        "http_laddr = \"127.0.0.1:" + std::to_string(out.http_port) + "\"\n" + cache + extra;
    out.broker = start_broker_with(std::move(o));
    return out;
}

// The answer as JSON, checking the status and that the body is JSON.
json expect_json(const httplib::Result& r, int status) {
    EXPECT_TRUE(r) << "no answer";
    if (!r) return {};
    EXPECT_EQ(r->status, status) << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json") << r->body;
    auto j = json::parse(r->body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r->body;
    return j;
}

// An error answer: the status and a JSON body {"code": status, "message": "..."}.
void expect_error(const httplib::Result& r, int status) {
    const auto j = expect_json(r, status);
    ASSERT_TRUE(j.is_object()) << j.dump();
    EXPECT_EQ(j.value("code", 0), status) << j.dump();
    EXPECT_FALSE(j.value("message", std::string()).empty()) << j.dump();
}

const json* find_by(const json& list, const std::string& key, const std::string& value) {
    for (const auto& e : list)
        if (e.contains(key) && e[key] == value) return &e;
    return nullptr;
}

httplib::Result post(const api_broker& b, const std::string& path, const json& body) {
    return b.client().Post(path.c_str(), body.dump(), "application/json");
}

// ---- brokers, nodes, health ---------------------------------------------------------------------

TEST(http_api, RouteListBrokersNodesAndHealth) {
    auto b = start_api();
    mqtt_client c(b.broker->uri(), "node-probe");
    c.connect();

    const auto routes = expect_json(b.client().Get("/api/v1"), 200);
    std::set<std::string> paths;
    for (const auto& r : routes)
        paths.insert(r["method"].get<std::string>() + " " + r["path"].get<std::string>());
    for (const char* p :
         {"GET /api/v1/brokers", "GET /api/v1/clients", "DELETE /api/v1/clients/{clientid}",
          "POST /api/v1/mqtt/publish", "GET /api/v1/metrics/prometheus",
          "PUT /api/v1/plugins/{node}/{plugin}/config/reload"})
        EXPECT_TRUE(paths.contains(p)) << p;

    const auto brokers = expect_json(b.client().Get("/api/v1/brokers"), 200);
    ASSERT_EQ(brokers.size(), 1u);
    EXPECT_EQ(brokers[0]["node_id"], 1);
    EXPECT_EQ(brokers[0]["running"], true);
    EXPECT_TRUE(brokers[0]["version"].get<std::string>().starts_with("rmqttd/"));
    EXPECT_EQ(expect_json(b.client().Get("/api/v1/brokers/1"), 200)["node_id"], 1);
    expect_error(b.client().Get("/api/v1/brokers/7"), 404);

    const auto nodes = b.wait_json(
        "/api/v1/nodes", [](const json& j) { return j.size() == 1 && j[0]["connections"] == 1; });
    EXPECT_GT(nodes[0]["memory_rss"].get<std::int64_t>(), 0);
    EXPECT_GE(nodes[0]["uptime_seconds"].get<std::int64_t>(), 0);
    EXPECT_EQ(nodes[0]["node_status"], "Running");
    const auto node = expect_json(b.client().Get("/api/v1/nodes/1"), 200);
    EXPECT_EQ(node["sessions"], 1);
    expect_error(b.client().Get("/api/v1/nodes/2"), 404);

    const auto health = expect_json(b.client().Get("/api/v1/health/check"), 200);
    EXPECT_EQ(health["running"], true);
    EXPECT_EQ(expect_json(b.client().Get("/api/v1/health/check/1"), 200)["running"], true);
    expect_error(b.client().Get("/api/v1/health/check/3"), 404);
}

// ---- clients
// --------------------------------------------------------------------------------------

TEST(http_api, ClientsSearchOneOnlineAndOfflines) {
    auto b = start_api();
    mqtt_client one(b.broker->uri(), "cli-one", 4);
    one.connect(paho_options(/*clean*/ false));
    mqtt_client two(b.broker->uri(), "cli-two", 5);
    mqtt_client::connect_options o;
    o.username = "alice";
    o.password = "pw";
    two.connect(o);
    mqtt_client three(b.broker->uri(), "other-3", 4);
    three.connect();
    three.subscribe("q/#", 1);

    const auto all = b.wait_json("/api/v1/clients", [](const json& j) { return j.size() == 3; });
    const json* c1 = find_by(all, "clientid", "cli-one");
    ASSERT_NE(c1, nullptr);
    EXPECT_EQ((*c1)["proto_ver"], 4);
    EXPECT_EQ((*c1)["connected"], true);
    EXPECT_EQ((*c1)["clean_start"], false);
    EXPECT_EQ((*c1)["ip_address"], "127.0.0.1");
    EXPECT_EQ((*c1)["username"], nullptr);
    const json* c2 = find_by(all, "clientid", "cli-two");
    ASSERT_NE(c2, nullptr);
    EXPECT_EQ((*c2)["username"], "alice");
    EXPECT_EQ((*c2)["proto_ver"], 5);
    EXPECT_EQ((*find_by(all, "clientid", "other-3"))["subscriptions_cnt"], 1);

    const auto ids = [&](const std::string& query) {
        std::set<std::string> out;
        for (const auto& c : expect_json(b.client().Get(("/api/v1/clients?" + query).c_str()), 200))
            out.insert(c["clientid"].get<std::string>());
        return out;
    };
    using ids_t = std::set<std::string>;
    EXPECT_EQ(ids("clientid=cli-one"), (ids_t{"cli-one"}));
    EXPECT_EQ(ids("username=alice"), (ids_t{"cli-two"}));
    EXPECT_EQ(ids("_like_clientid=cli-"), (ids_t{"cli-one", "cli-two"}));
    EXPECT_EQ(ids("_like_username=lic"), (ids_t{"cli-two"}));
    EXPECT_EQ(ids("proto_ver=5"), (ids_t{"cli-two"}));
    EXPECT_EQ(ids("clean_start=false"), (ids_t{"cli-one"}));
    EXPECT_EQ(ids("ip_address=127.0.0.1").size(), 3u);
    EXPECT_EQ(ids("ip_address=10.0.0.1").size(), 0u);
    EXPECT_EQ(ids("connected=true").size(), 3u);
    EXPECT_EQ(ids("_gte_created_at=0").size(), 3u);
    EXPECT_EQ(ids("_lte_created_at=1").size(), 0u);
    EXPECT_EQ(ids("_gte_connected_at=4000000000").size(), 0u);
    EXPECT_EQ(ids("_lte_mqueue_len=0").size(), 3u);
    EXPECT_EQ(ids("_gte_mqueue_len=1").size(), 0u);
    EXPECT_EQ(ids("_limit=2").size(), 2u);
    expect_error(b.client().Get("/api/v1/clients?_limit=10001"), 400);  // above max_row_limit
    expect_error(b.client().Get("/api/v1/clients?connected=maybe"), 400);
    expect_error(b.client().Get("/api/v1/clients?proto_ver=9"), 400);

    const auto single = expect_json(b.client().Get("/api/v1/clients/cli-two"), 200);
    EXPECT_EQ(single["clientid"], "cli-two");
    expect_error(b.client().Get("/api/v1/clients/nobody"), 404);
    EXPECT_EQ(expect_json(b.client().Get("/api/v1/clients/cli-one/online"), 200), true);
    EXPECT_EQ(expect_json(b.client().Get("/api/v1/clients/nobody/online"), 200), false);

    // cli-one keeps its session when it disconnects: an offline session.
    one.disconnect();
    b.wait_json("/api/v1/clients/cli-one/online", [](const json& j) { return j == false; });
    const auto offline = expect_json(b.client().Get("/api/v1/clients/offlines"), 200);
    ASSERT_EQ(offline.size(), 1u);
    EXPECT_EQ(offline[0]["clientid"], "cli-one");
    EXPECT_EQ(offline[0]["connected"], false);
    EXPECT_FALSE(offline[0]["disconnected_at"].get<std::string>().empty());
    EXPECT_EQ(ids("connected=false"), (ids_t{"cli-one"}));
    const auto removed = expect_json(b.client().Delete("/api/v1/clients/offlines"), 200);
    EXPECT_EQ(removed["count"], 1);
    b.wait_json("/api/v1/clients", [](const json& j) { return j.size() == 2; });
    expect_error(b.client().Get("/api/v1/clients/cli-one"), 404);
}

TEST(http_api, KickDisconnectsTheClientAndEndsItsSession) {
    auto b = start_api();
    mqtt_client c(b.broker->uri(), "kick-me", 5);
    mqtt_client::connect_options o;
    o.clean = false;
    o.session_expiry = 3600;
    c.connect(o);
    b.wait_json("/api/v1/clients/kick-me/online", [](const json& j) { return j == true; });
    const auto r = expect_json(b.client().Delete("/api/v1/clients/kick-me"), 200);
    EXPECT_EQ(r["kicked"], true);
    EXPECT_TRUE(c.wait_disconnected());
    // The admin kick also discards the session (RMQTT).
    b.wait_json("/api/v1/clients", [](const json& j) { return j.empty(); });
    expect_error(b.client().Delete("/api/v1/clients/kick-me"), 404);
}

// ---- subscriptions, routes
// ------------------------------------------------------------------------

TEST(http_api, SubscriptionsAndRoutes) {
    auto b = start_api();
    mqtt_client s1(b.broker->uri(), "subs-1", 5);
    s1.connect();
    s1.subscribe("s/+/x", 1);
    s1.subscribe("$share/g1/s/#", 0);
    mqtt_client s2(b.broker->uri(), "subs-2", 4);
    s2.connect();
    s2.subscribe("s/+/x", 2);

    const auto all =
        b.wait_json("/api/v1/subscriptions", [](const json& j) { return j.size() == 3; });
    std::multiset<std::string> seen;
    for (const auto& s : all)
        seen.insert(s["clientid"].get<std::string>() + " " + s["topic"].get<std::string>() + " " +
                    std::to_string(s["qos"].get<int>()) + " " +
                    (s["share"].is_null() ? "-" : s["share"].get<std::string>()));
    EXPECT_EQ(seen, (std::multiset<std::string>{"subs-1 s/+/x 1 -", "subs-1 s/# 0 g1",
                                                "subs-2 s/+/x 2 -"}));
    const auto count = [&](const std::string& q) {
        return expect_json(b.client().Get(("/api/v1/subscriptions" + q).c_str()), 200).size();
    };
    EXPECT_EQ(count("?clientid=subs-2"), 1u);
    EXPECT_EQ(count("?topic=s/%2B/x"), 2u);
    EXPECT_EQ(count("?qos=2"), 1u);
    EXPECT_EQ(count("?share=g1"), 1u);
    EXPECT_EQ(count("?_match_topic=s/a/x"), 3u);
    EXPECT_EQ(count("?_match_topic=s/a/y"), 1u);
    EXPECT_EQ(count("?_limit=1"), 1u);
    EXPECT_EQ(count("/subs-1"), 2u);
    expect_error(b.client().Get("/api/v1/subscriptions/nobody"), 404);
    expect_error(b.client().Get("/api/v1/subscriptions?qos=3"), 400);
    expect_error(b.client().Get("/api/v1/subscriptions?_match_topic=s/%23"), 400);

    const auto routes = expect_json(b.client().Get("/api/v1/routes"), 200);
    ASSERT_EQ(routes.size(), 2u);
    const json* plain = find_by(routes, "topic", "s/+/x");
    ASSERT_NE(plain, nullptr);
    EXPECT_EQ((*plain)["subscribers"], 2);
    ASSERT_NE(find_by(routes, "topic", "$share/g1/s/#"), nullptr);
    EXPECT_EQ(expect_json(b.client().Get("/api/v1/routes/s/a/x"), 200).size(), 2u);
    EXPECT_EQ(expect_json(b.client().Get("/api/v1/routes/s/a/y"), 200).size(), 1u);
    EXPECT_EQ(expect_json(b.client().Get("/api/v1/routes/t"), 200).size(), 0u);
    expect_error(b.client().Get("/api/v1/routes/s/%2B"), 400);
}

// ---- publish, subscribe, unsubscribe
// ----------------------------------------------------------------

TEST(http_api, PublishIsReceivedByRealSubscribers) {
    auto b = start_api();
    mqtt_client sub(b.broker->uri(), "pub-sub", 5);
    sub.connect();
    sub.subscribe("p/#", 1);

    auto r = expect_json(
        post(b, "/api/v1/mqtt/publish", {{"topic", "p/1"}, {"payload", "plain text"}, {"qos", 1}}),
        200);
    EXPECT_EQ(r[0]["subscribers"], 1);
    auto m = sub.next();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->topic, "p/1");
    EXPECT_EQ(m->payload, "plain text");
    EXPECT_EQ(m->qos, 1);

    expect_json(post(b, "/api/v1/mqtt/publish",
                     {{"topics", "p/2,p/3"}, {"payload", "AAEC/w=="}, {"encoding", "base64"}}),
                200);
    const auto got = sub.take(2);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[0].payload, std::string("\x00\x01\x02\xff", 4));
    std::set<std::string> topics{got[0].topic, got[1].topic};
    EXPECT_EQ(topics, (std::set<std::string>{"p/2", "p/3"}));

    // 5.0 properties reach a 5.0 subscriber [MQTT-3.3.2-17] [MQTT-3.3.2-20].
    expect_json(post(b, "/api/v1/mqtt/publish",
                     {{"topic", "p/props"},
                      {"payload", "{}"},
                      {"properties",
                       {{"content_type", "application/json"},
                        {"user_properties", {{"k", "v"}}},
                        {"message_expiry_interval", 60}}}}),
                200);
    m = sub.next();
    ASSERT_TRUE(m);
    EXPECT_EQ(mqtt::get<std::string>(m->props, mqtt::property::CONTENT_TYPE), "application/json");
    ASSERT_TRUE(m->props.contains(mqtt::property::USER_PROPERTY));
    const auto up = mqtt::get<mqtt::string_pair>(m->props, mqtt::property::USER_PROPERTY);
    EXPECT_EQ(std::get<0>(up), "k");
    EXPECT_EQ(std::get<1>(up), "v");
    EXPECT_TRUE(m->props.contains(mqtt::property::MESSAGE_EXPIRY_INTERVAL));

    // Retained through the API: a later subscriber gets it.
    expect_json(post(b, "/api/v1/mqtt/publish",
                     {{"topic", "keep/1"}, {"payload", "kept"}, {"retain", true}}),
                200);
    mqtt_client late(b.broker->uri(), "pub-late", 4);
    late.connect();
    late.subscribe("keep/#", 0);
    m = late.next();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->payload, "kept");
    EXPECT_TRUE(m->retained);

    // Bad requests: JSON errors, nothing published.
    expect_error(post(b, "/api/v1/mqtt/publish", {{"payload", "x"}}), 400);
    expect_error(post(b, "/api/v1/mqtt/publish", {{"topic", "p/#"}}), 400);
    expect_error(post(b, "/api/v1/mqtt/publish", {{"topic", "p/1"}, {"qos", 3}}), 400);
    expect_error(post(b, "/api/v1/mqtt/publish", {{"topic", "p/1"}, {"qos", "1"}}), 400);
    expect_error(post(b, "/api/v1/mqtt/publish",
                      {{"topic", "p/1"}, {"payload", "%%%"}, {"encoding", "base64"}}),
                 400);
    expect_error(post(b, "/api/v1/mqtt/publish", {{"topic", "p/1"}, {"encoding", "hex"}}), 400);
    expect_error(
        post(b, "/api/v1/mqtt/publish", {{"topic", "p/1"}, {"properties", {{"topic_alias", 3}}}}),
        400);
    expect_error(b.client().Post("/api/v1/mqtt/publish", "{not json", "application/json"), 400);
    expect_error(b.client().Post("/api/v1/mqtt/publish", "[1,2]", "application/json"), 400);
    EXPECT_TRUE(sub.drain().empty());
}

TEST(http_api, SubscribeAndUnsubscribeOnBehalfOfAClient) {
    auto b = start_api();
    mqtt_client pub(b.broker->uri(), "sb-pub", 4);
    pub.connect();
    pub.publish("r/old", "retained before", 1, /*retain*/ true);
    mqtt_client c(b.broker->uri(), "sb-client", 5);
    c.connect();

    const auto r = expect_json(post(b, "/api/v1/mqtt/subscribe",
                                    {{"clientid", "sb-client"}, {"topics", "t/1,r/+"}, {"qos", 1}}),
                               200);
    EXPECT_EQ(r["t/1"], true);
    EXPECT_EQ(r["r/+"], true);
    // The retained message, as after a SUBSCRIBE [MQTT-3.3.1-9].
    auto m = c.next();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->topic, "r/old");
    EXPECT_TRUE(m->retained);
    pub.publish("t/1", "via api subscription", 1);
    m = c.next();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->payload, "via api subscription");
    EXPECT_EQ(m->qos, 1);
    const auto subs = expect_json(b.client().Get("/api/v1/subscriptions/sb-client"), 200);
    EXPECT_EQ(subs.size(), 2u);

    expect_json(post(b, "/api/v1/mqtt/unsubscribe", {{"clientid", "sb-client"}, {"topic", "t/1"}}),
                200);
    pub.publish("t/1", "not any more", 1);
    EXPECT_TRUE(c.drain().empty());
    expect_error(post(b, "/api/v1/mqtt/unsubscribe", {{"clientid", "sb-client"}, {"topic", "t/1"}}),
                 404);

    expect_error(post(b, "/api/v1/mqtt/subscribe", {{"clientid", "nobody"}, {"topic", "a"}}), 404);
    expect_error(
        post(b, "/api/v1/mqtt/subscribe", {{"clientid", "sb-client"}, {"topic", "$share//x"}}),
        400);
    expect_error(post(b, "/api/v1/mqtt/subscribe", {{"clientid", "sb-client"}, {"topic", "a/#/b"}}),
                 400);
    expect_error(post(b, "/api/v1/mqtt/subscribe", {{"topic", "a"}}), 400);
    expect_error(post(b, "/api/v1/mqtt/subscribe", {{"clientid", "sb-client"}}), 400);
    expect_error(
        post(b, "/api/v1/mqtt/subscribe", {{"clientid", "sb-client"}, {"topic", "a"}, {"qos", 5}}),
        400);
    expect_error(post(b, "/api/v1/mqtt/unsubscribe", {{"clientid", "nobody"}, {"topic", "a"}}),
                 404);
}

TEST(http_api, SubscriptionOfAPersistentSessionSurvivesARestart) {
    auto b = start_api();
    {
        mqtt_client c(b.broker->uri(), "persist-sub", 4);
        c.connect(paho_options(/*clean*/ false));
        expect_json(post(b, "/api/v1/mqtt/subscribe",
                         {{"clientid", "persist-sub"}, {"topic", "stored/#"}, {"qos", 1}}),
                    200);
        c.disconnect();
    }
    ASSERT_EQ(b.broker->stop(), 0);
    b.broker->restart();
    const auto subs = b.wait_json("/api/v1/subscriptions/persist-sub",
                                  [](const json& j) { return j.size() == 1; });
    EXPECT_EQ(subs[0]["topic"], "stored/#");
    EXPECT_EQ(subs[0]["qos"], 1);
}

// ---- retained messages
// ------------------------------------------------------------------------------

TEST(http_api, RetainsListAndDelete) {
    auto b = start_api();
    mqtt_client pub(b.broker->uri(), "ret-pub", 4);
    pub.connect();
    pub.publish("ret/1", "one", 1, true);
    pub.publish("ret/2", std::string("\x00two", 4), 1, true);
    pub.publish("other", "x", 1, true);

    const auto all = b.wait_json("/api/v1/retains", [](const json& j) { return j.size() == 3; });
    const json* two = find_by(all, "topic", "ret/2");
    ASSERT_NE(two, nullptr);
    EXPECT_EQ((*two)["payload"], "AHR3bw==");  // base64 of "\0two"
    EXPECT_EQ((*two)["qos"], 1);
    const auto filtered = expect_json(b.client().Get("/api/v1/retains?topic_filter=ret/%2B"), 200);
    ASSERT_EQ(filtered.size(), 2u);
    EXPECT_EQ(filtered[0]["topic"], "ret/1");  // sorted by topic
    const auto page =
        expect_json(b.client().Get("/api/v1/retains?topic_filter=ret/%23&offset=1&limit=1"), 200);
    ASSERT_EQ(page.size(), 1u);
    EXPECT_EQ(page[0]["topic"], "ret/2");
    expect_error(b.client().Get("/api/v1/retains?topic_filter=a/%23/b"), 400);
    expect_error(b.client().Get("/api/v1/retains?limit=0"), 400);

    expect_json(b.client().Delete("/api/v1/retains?topic=ret/1"), 200);
    expect_error(b.client().Delete("/api/v1/retains?topic=ret/1"), 404);
    expect_error(b.client().Delete("/api/v1/retains?topic=ret/%2B"), 400);
    expect_error(b.client().Delete("/api/v1/retains"), 400);
    EXPECT_EQ(expect_json(b.client().Get("/api/v1/retains"), 200).size(), 2u);
    mqtt_client late(b.broker->uri(), "ret-late", 4);
    late.connect();
    late.subscribe("ret/#", 1);
    const auto got = late.take(2, 2s);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].topic, "ret/2");
}

// ---- plugins
// ---------------------------------------------------------------------------------------

TEST(http_api, PluginsListConfigReloadLoadUnload) {
    auto b = start_api("# a comment kept in the file\n");
    const auto nodes = expect_json(b.client().Get("/api/v1/plugins"), 200);
    ASSERT_EQ(nodes.size(), 1u);
    EXPECT_EQ(nodes[0]["node"], 1);
    const auto& list = nodes[0]["plugins"];
    const json* self = find_by(list, "name", "rmqtt-http-api");
    ASSERT_NE(self, nullptr);
    EXPECT_EQ((*self)["active"], true);
    const json* jwt = find_by(list, "name", "rmqtt-auth-jwt");
    ASSERT_NE(jwt, nullptr);
    EXPECT_EQ((*jwt)["active"], false);
    EXPECT_EQ((*jwt)["inited"], true);
    const json* counter = find_by(list, "name", "rmqtt-counter");
    ASSERT_NE(counter, nullptr);
    EXPECT_EQ((*counter)["inited"], false);  // not offered by rmqttd
    EXPECT_EQ(expect_json(b.client().Get("/api/v1/plugins/1"), 200).size(), list.size());
    EXPECT_EQ(expect_json(b.client().Get("/api/v1/plugins/1/rmqtt-retainer"), 200)["active"], true);
    expect_error(b.client().Get("/api/v1/plugins/1/rmqtt-nothing"), 404);
    expect_error(b.client().Get("/api/v1/plugins/2"), 404);

    const auto cfg = expect_json(b.client().Get("/api/v1/plugins/1/rmqtt-http-api/config"), 200);
    EXPECT_EQ(cfg["exists"], true);
    EXPECT_EQ(cfg["content"], read_file(b.broker->dir() + "/plugins/rmqtt-http-api.toml"));

    expect_error(b.client().Put("/api/v1/plugins/1/rmqtt-retainer/config/reload", "", "text/plain"),
                 409);
    expect_error(b.client().Put("/api/v1/plugins/1/rmqtt-auth-jwt/load", "", "text/plain"), 409);
    expect_error(b.client().Put("/api/v1/plugins/1/rmqtt-retainer/unload", "", "text/plain"), 409);
    expect_error(b.client().Put("/api/v1/plugins/1/rmqtt-counter/load", "", "text/plain"), 409);
    EXPECT_EQ(expect_json(b.client().Put("/api/v1/plugins/1/rmqtt-retainer/load", "", "text/plain"),
                          200)["active"],
              true);
    EXPECT_EQ(
        expect_json(b.client().Put("/api/v1/plugins/1/rmqtt-auth-jwt/unload", "", "text/plain"),
                    200)["active"],
        false);
    // The retainer still works: unload was refused.
    mqtt_client pub(b.broker->uri(), "plug-pub", 4);
    pub.connect();
    pub.publish("still/kept", "x", 1, true);
    b.wait_json("/api/v1/retains", [](const json& j) { return j.size() == 1; });
}

// rmqtt-acl reloads its file when asked (here it is not watched: reload_interval = "0s"); a file
// it cannot use is a 400 and the rules in use stay.
TEST(http_api, AclConfigReloadThroughTheApi) {
    const std::string v1 = R"(reload_interval = "0s"
rules = [["allow", "all", "connect"], ["allow", "all", "subscribe", ["v1/#"]]]
)";
    const std::string v2 = R"(reload_interval = "0s"
rules = [["allow", "all", "connect"], ["allow", "all", "subscribe", ["v2/#"]]]
)";
    auto b = start_api({}, {"rmqtt-acl"}, {{"rmqtt-acl", v1}});
    const std::string file = b.broker->dir() + "/plugins/rmqtt-acl.toml";
    mqtt_client client(b.broker->uri(), "acl-reload", 5);
    client.connect();
    // The SUBACK code (Paho may report a refusal as an exception).
    struct {
        mqtt_client& c;
        int subscribe(const std::string& filter, int qos) {
            try {
                return c.subscribe(filter, qos);
            } catch (const mqtt::exception& e) {
                return e.get_reason_code();
            }
        }
    } c{client};
    const int granted = 1;
    EXPECT_EQ(c.subscribe("v1/a", 1), granted);
    EXPECT_GE(c.subscribe("v2/a", 1), 0x80);  // not authorized [MQTT-3.9.3-1]

    const auto info = expect_json(b.client().Get("/api/v1/plugins/1/rmqtt-acl"), 200);
    EXPECT_EQ(info["reloadable"], true);
    write_file(file, v2);
    const auto r = expect_json(
        b.client().Put("/api/v1/plugins/1/rmqtt-acl/config/reload", "", "text/plain"), 200);
    EXPECT_EQ(r["reloaded"], true);
    EXPECT_EQ(c.subscribe("v2/b", 1), granted);
    EXPECT_GE(c.subscribe("v1/b", 1), 0x80);

    write_file(file, "rules = [[\"allow\", { ipaddr = \"not-an-address\" }]]\n");
    const auto bad = b.client().Put("/api/v1/plugins/1/rmqtt-acl/config/reload", "", "text/plain");
    expect_error(bad, 400);
    ASSERT_TRUE(bad);
    EXPECT_NE(bad->body.find("ipaddr"), std::string::npos) << bad->body;
    EXPECT_EQ(c.subscribe("v2/c", 1), granted) << "the rules in use stay";
}

// ---- stats, metrics, Prometheus
// ---------------------------------------------------------------------

TEST(http_api, StatsAndMetricsMatchTheBroker) {
    auto b = start_api();
    mqtt_client c(b.broker->uri(), "stats-1", 4);
    c.connect();
    c.subscribe("st/#", 1);
    c.publish("st/1", "x", 1, /*retain*/ true);
    ASSERT_TRUE(c.next());

    // Also the client's PUBACK of the retained copy: until the broker has read it, the copy
    // counts as in flight and a later reading would differ.
    const auto stats = b.wait_json("/api/v1/stats", [](const json& j) {
        return j.size() == 1 && j[0]["stats"]["retaineds.count"] == 1 &&
               j[0]["stats"]["out_inflights.count"] == 0;
    });
    const auto& s = stats[0]["stats"];
    EXPECT_EQ(stats[0]["node"]["id"], 1);
    EXPECT_EQ(s["connections.count"], 1);
    EXPECT_EQ(s["sessions.count"], 1);
    EXPECT_EQ(s["subscriptions.count"], 1);
    EXPECT_EQ(s["subscriptions_shared.count"], 0);
    EXPECT_EQ(s["routes.count"], 1);
    EXPECT_EQ(expect_json(b.client().Get("/api/v1/stats/1"), 200)["stats"], s);
    EXPECT_EQ(expect_json(b.client().Get("/api/v1/stats/sum"), 200)["stats"], s);
    expect_error(b.client().Get("/api/v1/stats/5"), 404);

    const auto metrics = expect_json(b.client().Get("/api/v1/metrics"), 200);
    ASSERT_EQ(metrics.size(), 1u);
    const auto& m = metrics[0]["metrics"];
    EXPECT_EQ(m["messages.received"], 1);
    EXPECT_EQ(m["client.connect"], 1);
    EXPECT_EQ(m["connections"], 1);
    EXPECT_TRUE(m.contains("recovery.duration_ms"));
    EXPECT_EQ(expect_json(b.client().Get("/api/v1/metrics/sum"), 200)["messages.received"], 1);
    EXPECT_EQ(expect_json(b.client().Get("/api/v1/metrics/1"), 200)["metrics"]["messages.sent"],
              m["messages.sent"]);
    expect_error(b.client().Get("/api/v1/metrics/9"), 404);
}

struct prom_sample {
    std::string name;
    std::map<std::string, std::string> labels;
    double value = 0;
};

// Parses the text exposition format line by line; fails the test on any malformed line, a sample
// of an undeclared family, or a family declared twice.
std::vector<prom_sample> parse_prometheus(const std::string& text) {
    static const std::regex help(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .*)");
    static const std::regex type(
        R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
    static const std::regex sample(
        R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (-?[0-9.e+-]+|\+Inf|NaN))");
    static const std::regex label(R"re(([a-zA-Z_][a-zA-Z0-9_]*)="([^"\\]*)")re");
    std::vector<prom_sample> out;
    std::map<std::string, std::string> types;
    std::istringstream in(text);
    EXPECT_TRUE(text.ends_with("\n"));
    for (std::string line; std::getline(in, line);) {
        std::smatch m;
        if (std::regex_match(line, m, help)) continue;
        if (std::regex_match(line, m, type)) {
            EXPECT_TRUE(types.emplace(m[1], m[2]).second) << "declared twice: " << line;
            continue;
        }
        if (!std::regex_match(line, m, sample)) {
            ADD_FAILURE() << "malformed line: '" << line << "'";
            continue;
        }
        prom_sample s;
        s.name = m[1];
        const std::string labels = m[3];
        for (auto it = std::sregex_iterator(labels.begin(), labels.end(), label);
             it != std::sregex_iterator(); ++it)
            s.labels[(*it)[1]] = (*it)[2];
        s.value = std::stod(m[4]);
        std::string family = s.name;
        for (const char* suffix : {"_bucket", "_sum", "_count"})
            if (!types.contains(family) && family.ends_with(suffix))
                family = family.substr(0, family.size() - std::string_view(suffix).size());
        EXPECT_TRUE(types.contains(family)) << "sample of an undeclared family: " << line;
        out.push_back(std::move(s));
    }
    return out;
}

double value_of(const std::vector<prom_sample>& samples, const std::string& name,
                const std::map<std::string, std::string>& labels) {
    for (const auto& s : samples)
        if (s.name == name && s.labels == labels) return s.value;
    ADD_FAILURE() << "no sample " << name;
    return -1;
}

TEST(http_api, PrometheusExpositionIsValidAndMatches) {
    auto b = start_api();
    mqtt_client c(b.broker->uri(), "prom-1", 4);
    c.connect(paho_options(/*clean*/ false));  // persistent: its records go through the store
    c.subscribe("pr/#", 1);
    c.publish("pr/1", "x", 1, true);
    ASSERT_TRUE(c.next());
    b.wait_json("/api/v1/metrics/sum", [](const json& j) { return j["messages.sent"] == 1; });

    const auto r = b.client().Get("/api/v1/metrics/prometheus");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    const auto samples = parse_prometheus(r->body);
    const auto metrics = expect_json(b.client().Get("/api/v1/metrics/sum"), 200);
    const std::map<std::string, std::string> node{{"node", "1"}};
    EXPECT_EQ(value_of(samples, "rmqtt_connections", node), 1);
    EXPECT_EQ(value_of(samples, "rmqtt_sessions", node), 1);
    EXPECT_EQ(value_of(samples, "rmqtt_subscriptions", node), 1);
    EXPECT_EQ(value_of(samples, "rmqtt_retained_messages", node), 1);
    EXPECT_EQ(value_of(samples, "rmqtt_messages_received_total", node),
              metrics["messages.received"].get<double>());
    EXPECT_EQ(value_of(samples, "rmqtt_messages_sent_total", node),
              metrics["messages.sent"].get<double>());
    EXPECT_EQ(value_of(samples, "rmqtt_bytes_received_total", node),
              metrics["bytes.received"].get<double>());
    EXPECT_EQ(value_of(samples, "rmqtt_messages_dropped_total",
                       {{"node", "1"}, {"reason", "no_subscribers"}}),
              metrics["messages.dropped.no_subscribers"].get<double>());
    EXPECT_EQ(value_of(samples, "rmqtt_queued_messages", node), 0);
    EXPECT_GE(value_of(samples, "rmqtt_recovery_duration_seconds", node), 0);
    // The commit latency histogram: cumulative buckets ending at +Inf = _count, which counts the
    // batches of the persistent session's writes.
    double last = 0;
    std::size_t buckets = 0;
    for (const auto& s : samples) {
        if (s.name != "rmqtt_store_commit_latency_seconds_bucket") continue;
        EXPECT_GE(s.value, last) << s.labels.at("le");
        last = s.value;
        ++buckets;
    }
    EXPECT_GT(buckets, 2u);
    const double count = value_of(samples, "rmqtt_store_commit_latency_seconds_count", node);
    EXPECT_EQ(value_of(samples, "rmqtt_store_commit_latency_seconds_bucket",
                       {{"node", "1"}, {"le", "+Inf"}}),
              count);
    EXPECT_GT(count, 0);

    const auto sum = b.client().Get("/api/v1/metrics/prometheus/sum");
    ASSERT_TRUE(sum);
    ASSERT_EQ(sum->status, 200);
    const auto sum_samples = parse_prometheus(sum->body);
    EXPECT_EQ(value_of(sum_samples, "rmqtt_connections", {}), 1);
    const auto one = b.client().Get("/api/v1/metrics/prometheus/1");
    ASSERT_TRUE(one);
    EXPECT_EQ(one->status, 200);
    expect_error(b.client().Get("/api/v1/metrics/prometheus/2"), 404);
}

// prometheus_metrics_cache_interval: an answer is reused while it is fresh.
TEST(http_api, PrometheusAnswerIsCached) {
    auto b = start_api("prometheus_metrics_cache_interval = \"1h\"\n");
    const auto first = b.client().Get("/api/v1/metrics/prometheus");
    ASSERT_TRUE(first);
    EXPECT_EQ(value_of(parse_prometheus(first->body), "rmqtt_connections", {{"node", "1"}}), 0);
    mqtt_client c(b.broker->uri(), "cached", 4);
    c.connect();
    b.wait_json("/api/v1/metrics/sum", [](const json& j) { return j["connections"] == 1; });
    const auto again = b.client().Get("/api/v1/metrics/prometheus");
    ASSERT_TRUE(again);
    EXPECT_EQ(again->body, first->body);
}

// message_expiry_interval: messages published through the API without their own expiry expire
// after it (here a retained one, which then leaves the list) [MQTT-3.3.2-5].
TEST(http_api, ApiPublishesExpireAfterMessageExpiryInterval) {
    auto b = start_api("message_expiry_interval = \"1s\"\n");
    expect_json(post(b, "/api/v1/mqtt/publish",
                     {{"topic", "exp/default"}, {"payload", "x"}, {"retain", true}}),
                200);
    expect_json(post(b, "/api/v1/mqtt/publish",
                     {{"topic", "exp/never"},
                      {"payload", "y"},
                      {"retain", true},
                      {"properties", {{"message_expiry_interval", 0}}}}),
                200);
    const auto listed = expect_json(b.client().Get("/api/v1/retains"), 200);
    const json* d = find_by(listed, "topic", "exp/default");
    ASSERT_NE(d, nullptr);
    EXPECT_FALSE((*d)["expiry_at"].get<std::string>().empty());
    const json* n = find_by(listed, "topic", "exp/never");
    ASSERT_NE(n, nullptr);
    EXPECT_EQ((*n)["expiry_at"], "");
    const auto left = b.wait_json("/api/v1/retains", [](const json& j) { return j.size() == 1; });
    EXPECT_EQ(left[0]["topic"], "exp/never");
}

// ---- authentication
// ----------------------------------------------------------------------------------

TEST(http_api, BearerTokenIsRequiredWhenSet) {
    auto b = start_api("http_bearer_token = \"s3cret-token\"\n");
    const auto missing = b.client().Get("/api/v1/brokers");
    expect_error(missing, 401);
    ASSERT_TRUE(missing);
    EXPECT_NE(missing->get_header_value("WWW-Authenticate").find("Bearer"), std::string::npos);
    auto c = b.client();
    c.set_bearer_token_auth("wrong");
    expect_error(c.Get("/api/v1/brokers"), 401);
    c.set_bearer_token_auth("s3cret-token");
    expect_json(c.Get("/api/v1/brokers"), 200);
    expect_json(c.Post("/api/v1/mqtt/publish", R"({"topic":"a"})", "application/json"), 200);
    // The health check stays open for probes; nothing else does.
    expect_json(b.client().Get("/api/v1/health/check"), 200);
    expect_json(b.client().Get("/api/v1/health/check/1"), 200);
    expect_error(b.client().Get("/api/v1/health/checks"), 401);
    expect_error(b.client().Get("/api/v1/health/check/1/../../clients"), 401);
}

TEST(http_api, BasicAuthIsRequiredWhenSet) {
    auto b = start_api("http_basic_auth_user = \"admin\"\nhttp_basic_auth_password = \"pa:ss\"\n");
    const auto missing = b.client().Get("/api/v1/clients");
    expect_error(missing, 401);
    ASSERT_TRUE(missing);
    EXPECT_NE(missing->get_header_value("WWW-Authenticate").find("Basic"), std::string::npos);
    auto c = b.client();
    c.set_basic_auth("admin", "wrong");
    expect_error(c.Get("/api/v1/clients"), 401);
    c.set_basic_auth("someone", "pa:ss");
    expect_error(c.Get("/api/v1/clients"), 401);
    c.set_basic_auth("admin", "pa:ss");
    expect_json(c.Get("/api/v1/clients"), 200);
    httplib::Headers bad{{"Authorization", "Basic !!notbase64"}};
    expect_error(b.client().Get("/api/v1/clients", bad), 401);
}

// ---- errors, robustness
// ---------------------------------------------------------------------------------

TEST(http_api, BadRequestsGetJsonErrors) {
    auto b = start_api();
    expect_error(b.client().Get("/api/v1/no/such/route"), 404);
    const auto wrong = b.client().Put("/api/v1/brokers", "", "text/plain");
    expect_error(wrong, 405);
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->get_header_value("Allow"), "GET");
    expect_error(b.client().Delete("/api/v1/mqtt/publish"), 405);
    expect_error(b.client().Get("/api/v1/mqtt/publish"), 405);
    expect_error(b.client().Post("/api/v1/mqtt/subscribe", "", "application/json"), 400);
    expect_error(b.client().Get("/api/v1/retains?offset=-1"), 400);
}

// Sends `bytes` on a new connection and reads until the server closes it (bounded by a receive
// timeout).
void send_raw(std::uint16_t port, const std::string& bytes) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
        (void)::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        ::shutdown(fd, SHUT_WR);
        char buf[4096];
        while (::recv(fd, buf, sizeof buf, 0) > 0) {
        }
    }
    ::close(fd);
}

TEST(http_api, MalformedRequestsDoNotHurtTheBroker) {
    auto b = start_api();
    mqtt_client sub(b.broker->uri(), "robust-sub", 4);
    sub.connect();
    sub.subscribe("robust", 0);
    const std::vector<std::string> raw{
        "GARBAGE\r\n\r\n",
        "GET /api/v1/brokers HTTP/9.9\r\n\r\n",
        "POST /api/v1/mqtt/publish HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n{",
        "POST /api/v1/mqtt/publish HTTP/1.1\r\nContent-Length: 5\r\n\r\n{",
        "POST /api/v1/mqtt/publish HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "GET /api/v1/clients/%ZZ HTTP/1.1\r\n\r\n",
        "GET /../../etc/passwd HTTP/1.1\r\n\r\n",
        std::string("GET /api/v1/clients/\0x HTTP/1.1\r\n\r\n", 34),
        "GET /" + std::string(20000, 'a') + " HTTP/1.1\r\n\r\n",
        "\xff\xfe\xfd\r\n\r\n",
    };
    const std::vector<std::string> bodies{
        "",
        "null",
        "1",
        "\"s\"",
        "{\"topic\":1}",
        "{\"topic\":\"\"}",
        "{\"topic\":\"a\",\"qos\":-1}",
        "{\"topic\":\"a\",\"payload\":{}}",
        "{\"topic\":\"a\",\"properties\":[]}",
        "{\"topic\":\"a\",\"properties\":{\"user_properties\":{\"k\":1}}}",
        "{\"clientid\":\"robust-sub\",\"topics\":\"a,+/#/\"}",
        "{\"topic\":\"\\ud800\"}",
        std::string(1000, '['),
    };
    for (int round = 0; round < 3; ++round) {
        for (const auto& r : raw)
            send_raw(b.http_port, r);
        for (const auto& body : bodies) {
            for (const char* path :
                 {"/api/v1/mqtt/publish", "/api/v1/mqtt/subscribe", "/api/v1/mqtt/unsubscribe"}) {
                const auto res = b.client().Post(path, body, "application/json");
                ASSERT_TRUE(res) << path << " " << body;
                EXPECT_GE(res->status, 400) << path << " " << body << " -> " << res->body;
                EXPECT_LT(res->status, 500) << path << " " << body << " -> " << res->body;
            }
        }
    }
    // Still serving both HTTP and MQTT.
    expect_json(b.client().Get("/api/v1/health/check"), 200);
    expect_json(post(b, "/api/v1/mqtt/publish", {{"topic", "robust"}, {"payload", "alive"}}), 200);
    const auto m = sub.next();
    ASSERT_TRUE(m);
    EXPECT_EQ(m->payload, "alive");
    EXPECT_TRUE(b.broker->running());
}

// ---- dashboard
// ----------------------------------------------------------------------------------------

TEST(http_api, DashboardFilesAreEmbedded) {
    auto b = start_api();
    for (const char* path : {"/", "/dashboard/", "/index.html", "/dashboard/index.html"}) {
        const auto r = b.client().Get(path);
        ASSERT_TRUE(r) << path;
        EXPECT_EQ(r->status, 200) << path;
        EXPECT_EQ(r->get_header_value("Content-Type"), "text/html; charset=utf-8") << path;
        EXPECT_EQ(r->body, read_file(source_dir() + "/plugins/http_api/dashboard/index.html"));
    }
    const auto redirect = b.client().Get("/dashboard");
    ASSERT_TRUE(redirect);
    EXPECT_EQ(redirect->status, 301);
    expect_error(b.client().Get("/no-such-file.js"), 404);
    expect_error(b.client().Get("/dashboard/../CMakeLists.txt"), 404);
    expect_error(b.client().Get("/dashboard/%2e%2e/%2e%2e/etc/passwd"), 404);
    expect_error(b.client().Get("/.hidden"), 404);
}

TEST(http_api, DashboardStaticDirReplacesTheEmbeddedFiles) {
    const temp_dir dir("rmqtt-dashboard");
    std::filesystem::create_directories(dir.file("www/css"));
    write_file(dir.file("www/index.html"), "<p>from the directory</p>");
    write_file(dir.file("www/css/site.css"), "p { color: red }");
    write_file(dir.file("secret.txt"), "outside");
    auto b = start_api("dashboard_static_dir = \"" + dir.file("www") + "\"\n");
    auto r = b.client().Get("/");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "<p>from the directory</p>");
    r = b.client().Get("/dashboard/css/site.css");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->get_header_value("Content-Type"), "text/css; charset=utf-8");
    EXPECT_EQ(r->body, "p { color: red }");
    expect_error(b.client().Get("/../secret.txt"), 404);
    expect_error(b.client().Get("/dashboard/%2e%2e/secret.txt"), 404);
    expect_error(b.client().Get("/css"), 404);  // a directory
}

}  // namespace
}  // namespace rmqtt::test::integ
