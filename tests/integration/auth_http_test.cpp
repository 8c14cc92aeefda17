// rmqtt-auth-http against a real rmqttd with raw MQTT clients and an HTTP server inside the test
// (cpp-httplib on 127.0.0.1) that allows, denies or ignores by rule, counts the requests it gets,
// and can hold a request until the test releases it. A second kind of "server" is a free port
// nobody listens on (connection refused).
//
// Independence from a stalled server is shown without timing: while the server provably holds
// one client's request, other clients (uncached, or answered from the cache) connect.
#include <httplib.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "integration_util.hpp"

namespace rmqtt::test::integ {
namespace {

using nlohmann::json;
constexpr auto v5 = proto::version::v5;
constexpr auto v311 = proto::version::v3_1_1;

std::int64_t now_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The authentication / ACL service. Rules by user name (authentication) and by topic (ACL).
class auth_server {
  public:
    auth_server() {
        server_.Post("/mqtt/auth",
                     [this](const httplib::Request& q, httplib::Response& r) { on_auth(q, r); });
        server_.Post("/mqtt/acl",
                     [this](const httplib::Request& q, httplib::Response& r) { on_acl(q, r); });
        port_ = server_.bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
    }
    ~auth_server() {
        release();
        server_.stop();
        thread_.join();
    }
    auth_server(const auth_server&) = delete;
    auth_server& operator=(const auth_server&) = delete;

    int port() const { return port_; }
    std::string url(const std::string& path) const {
        return "http://127.0.0.1:" + std::to_string(port_) + path;
    }

    int auth_requests(const std::string& user) {
        std::lock_guard lock(mutex_);
        return auth_count_[user];
    }
    int acl_requests(const std::string& topic) {
        std::lock_guard lock(mutex_);
        return acl_count_[topic];
    }
    std::map<std::string, std::string> last_acl_params() {
        std::lock_guard lock(mutex_);
        return last_acl_;
    }
    // True once `n` requests are being held (bounded wait).
    bool wait_holding(int n) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, std::chrono::seconds(20), [&] { return holding_ >= n; });
    }
    int holding() {
        std::lock_guard lock(mutex_);
        return holding_;
    }
    void release() {
        std::lock_guard lock(mutex_);
        released_ = true;
        changed_.notify_all();
    }

  private:
    void on_auth(const httplib::Request& q, httplib::Response& r) {
        const std::string user = q.get_param_value("username");
        const std::string password = q.get_param_value("password");
        {
            std::lock_guard lock(mutex_);
            ++auth_count_[user];
        }
        if (user == "stall") {
            std::unique_lock lock(mutex_);
            ++holding_;
            changed_.notify_all();
            changed_.wait_for(lock, std::chrono::seconds(60), [this] { return released_; });
            --holding_;
            r.set_content("allow", "text/plain");
            return;
        }
        if (user == "alice") {
            r.set_content(password == "secret" ? "allow" : "deny", "text/plain");
        } else if (user == "bob") {
            r.set_content("deny", "text/plain");
        } else if (user == "carol") {
            r.set_content("ignore", "text/plain");
        } else if (user == "err500") {
            r.status = 500;
            r.set_content("deny", "text/plain");
        } else if (user == "cached") {
            r.set_header("X-Cache", "600000");
            r.set_content("allow", "text/plain");
        } else if (user == "boss") {
            r.set_header("X-Superuser", "true");
            r.set_content("allow", "text/plain");
        } else if (user == "limited") {
            r.set_content(json{{"result", "allow"},
                               {"acl",
                                {{{"permission", "allow"},
                                  {"action", "publish"},
                                  {"topic", "lim/${clientid}"}},
                                 {{"permission", "deny"}, {"action", "all"}, {"topic", "lim/#"}}}}}
                              .dump(),
                          "application/json");
        } else if (user == "expiring") {
            r.set_content(json{{"result", "allow"}, {"expire_at", now_s() - 10}}.dump(),
                          "application/json");
        } else {
            r.set_content("deny", "text/plain");
        }
    }

    void on_acl(const httplib::Request& q, httplib::Response& r) {
        const std::string topic = q.get_param_value("topic");
        {
            std::lock_guard lock(mutex_);
            ++acl_count_[topic];
            last_acl_.clear();
            for (const auto& [k, v] : q.params)
                last_acl_[k] = v;
        }
        if (topic.starts_with("allowed/")) {
            r.set_content("allow", "text/plain");
        } else if (topic.starts_with("cachedacl/")) {
            r.set_header("X-Cache", "-1");
            r.set_content("allow", "text/plain");
        } else if (topic.starts_with("denied/")) {
            r.set_content("deny", "text/plain");
        } else {
            r.set_content("ignore", "text/plain");
        }
    }

    httplib::Server server_;
    int port_ = 0;
    std::thread thread_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::map<std::string, int> auth_count_;
    std::map<std::string, int> acl_count_;
    std::map<std::string, std::string> last_acl_;
    int holding_ = 0;
    bool released_ = false;
};

std::string plugin_file(const std::string& auth_url, const std::string& acl_url,
                        const std::string& extra = "") {
    const std::string timeout =
        extra.find("http_timeout") == std::string::npos ? "http_timeout = \"30s\"\n" : "";
    return timeout + extra + "[http_auth_req]\nurl = \"" + auth_url +
           "\"\nmethod = \"post\"\n"
           "params = { clientid = \"%c\", username = \"%u\", password = \"%P\", protocol = "
           "\"%r\" }\n"
           "[http_acl_req]\nurl = \"" +
           acl_url +
           "\"\nmethod = \"post\"\n"
           "params = { access = \"%A\", username = \"%u\", clientid = \"%c\", topic = \"%t\" }\n";
}

broker_ptr start_http_broker(const auth_server& s, const std::string& extra = "") {
    broker_process::options o;
    o.session_storage = false;
    o.extra_plugins = {"rmqtt-auth-http"};
    o.plugin_files = {
        {"rmqtt-auth-http", plugin_file(s.url("/mqtt/auth"), s.url("/mqtt/acl"), extra)}};
    return start_broker_with(std::move(o));
}

proto::connect user_connect(const std::string& id, const std::string& user,
                            const std::string& password = "pw", proto::version v = v311) {
    auto c = make_connect(id, true, 60, v);
    c.username = user;
    c.password = password;
    return c;
}

std::optional<proto::connack> try_connect(const broker_process& b, const proto::connect& c) {
    raw_client r(b.port(), c.protocol_version);
    return r.connect(c);
}

std::uint8_t connack_code(const broker_process& b, const proto::connect& c) {
    const auto ack = try_connect(b, c);
    EXPECT_TRUE(ack) << "no CONNACK for " << c.client_id;
    return ack ? ack->code : 0xFF;
}

bool still_connected(raw_client& c) {
    c.send(proto::pingreq{});
    return expect<proto::pingresp>(c).has_value();
}

TEST(auth_http, ConnectAllowedDeniedIgnored) {
    auth_server s;
    auto b = start_http_broker(s);
    EXPECT_EQ(connack_code(*b, user_connect("a1", "alice", "secret")), 0);
    EXPECT_EQ(connack_code(*b, user_connect("a2", "alice", "wrong")), 4);
    EXPECT_EQ(connack_code(*b, user_connect("a3", "alice", "wrong", v5)), 0x86);
    EXPECT_EQ(connack_code(*b, user_connect("b1", "bob")), 4);
    // "ignore" and a non-2xx answer leave the decision to the rest of the chain; with a User
    // Name and no other plugin, the CONNECT is accepted (as in RMQTT).
    EXPECT_EQ(connack_code(*b, user_connect("c1", "carol")), 0);
    EXPECT_EQ(connack_code(*b, user_connect("e1", "err500")), 0);
    EXPECT_EQ(s.auth_requests("alice"), 3);
}

TEST(auth_http, PublishAndSubscribeByAclRequests) {
    auth_server s;
    auto b = start_http_broker(s, "disconnect_if_pub_rejected = false\n");
    auto boss = raw_connect(*b, user_connect("boss", "boss", "pw", v5));
    subscribe_ok(*boss, {{"allowed/#", 1}, {"denied/#", 1}});
    EXPECT_EQ(s.acl_requests("allowed/#"), 0) << "a superuser is not asked about";

    auto alice = raw_connect(*b, user_connect("alice1", "alice", "secret", v5));
    EXPECT_EQ(raw_subscribe(*alice, 1, {{"allowed/in", 1}, {"denied/in", 1}}),
              (std::vector<std::uint8_t>{1, 0x87}));
    EXPECT_EQ(s.last_acl_params(), (std::map<std::string, std::string>{{"access", "1"},
                                                                       {"clientid", "alice1"},
                                                                       {"topic", "denied/in"},
                                                                       {"username", "alice"}}));
    alice->send(make_publish("allowed/out", "yes", 1, 1));
    auto ok = expect<proto::puback>(*alice);
    ASSERT_TRUE(ok);
    EXPECT_EQ(code_of(ok->code), 0x00);
    alice->send(make_publish("denied/out", "no", 1, 2));
    auto no = expect<proto::puback>(*alice);
    ASSERT_TRUE(no);
    EXPECT_EQ(code_of(no->code), 0x87);
    EXPECT_EQ(s.last_acl_params().at("access"), "2");

    std::vector<std::string> got;
    for (const auto& p : drain_raw(*boss)) {
        if (const auto* pub = std::get_if<proto::publish>(&p)) {
            got.push_back(pub->topic);
            raw_ack(*boss, *pub);
        }
    }
    EXPECT_EQ(got, (std::vector<std::string>{"allowed/out"}));
    EXPECT_TRUE(still_connected(*alice));
}

TEST(auth_http, RefusedPublishDisconnectsByDefault) {
    auth_server s;
    auto b = start_http_broker(s);
    auto alice = raw_connect(*b, user_connect("alice1", "alice", "secret"));
    alice->send(make_publish("allowed/x", "yes", 1, 1));
    EXPECT_TRUE(expect<proto::puback>(*alice));
    alice->send(make_publish("denied/x", "no", 1, 2));
    EXPECT_TRUE(alice->wait_closed(std::chrono::seconds(10)));
    EXPECT_TRUE(log_shows(*b, "disconnect_if_pub_rejected"));
}

TEST(auth_http, CachedAnswersSpareTheServer) {
    auth_server s;
    auto b = start_http_broker(s);
    EXPECT_EQ(connack_code(*b, user_connect("k1", "cached")), 0);
    EXPECT_EQ(connack_code(*b, user_connect("k1", "cached")), 0);
    EXPECT_EQ(s.auth_requests("cached"), 1) << "X-Cache: the second CONNECT used the answer";
    EXPECT_EQ(connack_code(*b, user_connect("k2", "cached")), 0);
    EXPECT_EQ(s.auth_requests("cached"), 2) << "another client id is another request";

    // X-Cache: -1 on an ACL answer: kept while the client stays connected.
    auto alice = raw_connect(*b, user_connect("alice1", "alice", "secret"));
    for (std::uint16_t id = 1; id <= 3; ++id)
        EXPECT_TRUE(raw_publish(*alice, "cachedacl/t", "x", 1, id));
    EXPECT_EQ(s.acl_requests("cachedacl/t"), 1);
}

TEST(auth_http, AStalledServerHoldsOnlyItsOwnClient) {
    auth_server s;
    auto b = start_http_broker(s);
    EXPECT_EQ(connack_code(*b, user_connect("warm", "cached")), 0);  // fills the cache

    raw_client stalled(b->port(), v311);
    stalled.send(user_connect("st", "stall"));
    ASSERT_TRUE(s.wait_holding(1)) << "the server holds the stalled client's request";

    // While it does: a client the server answers, and one answered from the cache, connect.
    EXPECT_EQ(connack_code(*b, user_connect("a1", "alice", "secret")), 0);
    EXPECT_EQ(connack_code(*b, user_connect("warm", "cached")), 0);
    EXPECT_EQ(s.holding(), 1) << "the stalled request was still held";

    s.release();
    auto ack = expect<proto::connack>(stalled, std::chrono::seconds(20));
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->code, 0) << "its answer, once it came";
}

TEST(auth_http, StallLongerThanTheTimeoutIsAFailedRequest) {
    auth_server s;
    auto b = start_http_broker(s, "http_timeout = \"1s\"\n");
    raw_client stalled(b->port(), v311);
    stalled.send(user_connect("st", "stall"));
    auto ack = expect<proto::connack>(stalled, std::chrono::seconds(20));
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->code, 4) << "no answer within http_timeout, deny_if_error = true";
    EXPECT_EQ(s.holding(), 1) << "refused while the server still held the request";
    s.release();
}

TEST(auth_http, AFullQueueRefusesAtOnceWhileCachedClientsConnect) {
    auth_server s;
    auto b = start_http_broker(s, "http_concurrency = 1\nhttp_queue_max = 0\n");
    EXPECT_EQ(connack_code(*b, user_connect("warm", "cached")), 0);
    raw_client stalled(b->port(), v311);
    stalled.send(user_connect("st", "stall"));
    ASSERT_TRUE(s.wait_holding(1));
    EXPECT_EQ(connack_code(*b, user_connect("a1", "alice", "secret")), 4)
        << "the only HTTP thread is busy and nothing may wait: a failed request";
    EXPECT_EQ(connack_code(*b, user_connect("warm", "cached")), 0);
    EXPECT_TRUE(log_shows(*b, "too many requests waiting"));
    s.release();
    auto ack = expect<proto::connack>(stalled, std::chrono::seconds(20));
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->code, 0);
}

TEST(auth_http, ServerDownIsAFailedRequest) {
    const auto dead = free_port();  // nothing listens there: connection refused
    const std::string url = "http://127.0.0.1:" + std::to_string(dead);
    for (const bool deny : {true, false}) {
        broker_process::options o;
        o.session_storage = false;
        o.extra_plugins = {"rmqtt-auth-http"};
        o.plugin_files = {{"rmqtt-auth-http", plugin_file(url + "/mqtt/auth", url + "/mqtt/acl",
                                                          std::string("deny_if_error = ") +
                                                              (deny ? "true" : "false") + "\n")}};
        auto b = start_broker_with(std::move(o));
        EXPECT_EQ(connack_code(*b, user_connect("a1", "alice", "secret")), deny ? 4 : 0)
            << "deny_if_error = " << deny;
        EXPECT_TRUE(log_shows(*b, "request failed"));
    }
}

TEST(auth_http, AnswersCarryRulesAndExpiry) {
    auth_server s;
    auto b =
        start_http_broker(s, "disconnect_if_expiry = true\ndisconnect_if_pub_rejected = false\n");
    auto lim = raw_connect(*b, user_connect("dev9", "limited", "pw", v5));
    lim->send(make_publish("lim/dev9", "mine", 1, 1));
    auto ok = expect<proto::puback>(*lim);
    ASSERT_TRUE(ok);
    EXPECT_EQ(code_of(ok->code), 0x10) << "allowed by the answer's rules (no subscriber)";
    lim->send(make_publish("lim/dev8", "not mine", 1, 2));
    auto no = expect<proto::puback>(*lim);
    ASSERT_TRUE(no);
    EXPECT_EQ(code_of(no->code), 0x87);
    EXPECT_EQ(s.acl_requests("lim/dev9") + s.acl_requests("lim/dev8"), 0)
        << "decided by the rules, not by ACL requests";

    // expire_at in the past: connected, then disconnected (5.0: DISCONNECT 0x98).
    auto exp = raw_connect(*b, user_connect("x1", "expiring", "pw", v5));
    auto d = expect<proto::disconnect>(*exp, std::chrono::seconds(10));
    ASSERT_TRUE(d);
    EXPECT_EQ(code_of(d->code), 0x98);
    EXPECT_TRUE(still_connected(*lim));
}

}  // namespace
}  // namespace rmqtt::test::integ
