// rmqtt-auth-http without sockets: requests built from a client (placeholders, encodings,
// headers), answers read as RMQTT reads them, and the authenticator's deferred decisions over a
// fake transport: cache, deadline, full queue, deny_if_error, the answer's acl and superuser.
#include <gtest/gtest.h>

#include <asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "auth_http/auth_http_plugin.hpp"
#include "auth_http/http_exchange.hpp"
#include "fake_plugin_context.hpp"
#include "plugin_config_test_util.hpp"

namespace rmqtt::test {
namespace {

using broker::acl_action;
using broker::hook_result;
using namespace plugins::auth_http;
using plugins::auth_http_config;
using plugins::http_endpoint;

request_facts facts() {
    request_facts f;
    f.client_id = "dev 1";
    f.username = "alice";
    f.peer = "10.0.0.7:40000";
    f.listener = "tcp.external";
    f.version = protocol::version::v5;
    return f;
}

http_endpoint endpoint(http_endpoint::http_method m, http_endpoint::body_format b,
                       plugins::header_list params) {
    http_endpoint e;
    e.url = "http://127.0.0.1:9090/mqtt/auth";
    e.host = "127.0.0.1";
    e.port = 9090;
    e.target = "/mqtt/auth";
    e.method = m;
    e.body = b;
    e.params = std::move(params);
    return e;
}

// ---- requests ----------------------------------------------------------------------------------

TEST(http_exchange, PlaceholdersInOnePass) {
    auto f = facts();
    f.password = "p%c";  // a value is never scanned again
    f.access = acl_action::subscribe;
    f.topic = "a/b";
    EXPECT_EQ(substitute("%u|%c|%a|%p|%r|%P|%t|%A", f), "alice|dev 1|10.0.0.7|40000|5|p%c|a/b|1");
    f.access = acl_action::publish;
    EXPECT_EQ(substitute("%A %x %% %", f), "2 %x %% %");
    f.username.reset();
    f.password.reset();
    EXPECT_EQ(substitute("[%u][%P]", f), "[][]");
}

TEST(http_exchange, FormQueryAndJsonBodies) {
    auth_http_config cfg;
    cfg.http_headers = {{"User-Agent", "RMQTT/0.4.0"}, {"accept", "*/*"}};
    auto f = facts();
    f.password = "pa ss&=";
    const plugins::header_list params{{"clientid", "%c"}, {"password", "%P"}};

    auto post =
        endpoint(http_endpoint::http_method::post, http_endpoint::body_format::form, params);
    post.headers = {{"Accept", "application/json"}};
    const auto r1 = build_request(cfg, post, f);
    EXPECT_EQ(r1.content_type, "application/x-www-form-urlencoded");
    EXPECT_EQ(r1.body, "clientid=dev%201&password=pa%20ss%26%3D");
    EXPECT_EQ(r1.target, "/mqtt/auth");
    EXPECT_EQ(r1.headers,
              (plugins::header_list{{"User-Agent", "RMQTT/0.4.0"}, {"Accept", "application/json"}}))
        << "the request's own header replaces http_headers' (names compared without case)";

    auto get = endpoint(http_endpoint::http_method::get, http_endpoint::body_format::json, params);
    get.target = "/auth?v=1";
    const auto r2 = build_request(cfg, get, f);
    EXPECT_EQ(r2.target, "/auth?v=1&clientid=dev%201&password=pa%20ss%26%3D");
    EXPECT_TRUE(r2.body.empty());
    EXPECT_TRUE(r2.content_type.empty());

    auto json = endpoint(http_endpoint::http_method::put, http_endpoint::body_format::json, params);
    f.password = std::string("\xff", 1);  // not UTF-8
    const auto r3 = build_request(cfg, json, f);
    EXPECT_EQ(r3.content_type, "application/json");
    EXPECT_EQ(nlohmann::json::parse(r3.body),
              (nlohmann::json{{"clientid", "dev 1"}, {"password", "\xef\xbf\xbd"}}));
}

TEST(http_exchange, CacheKeysFollowTheSubstitutedRequest) {
    auth_http_config cfg;
    const auto e = endpoint(http_endpoint::http_method::post, http_endpoint::body_format::form,
                            {{"u", "%u"}, {"p", "%P"}});
    auto f = facts();
    f.password = "one";
    const auto k1 = cache_key("auth", build_request(cfg, e, f));
    EXPECT_EQ(k1, cache_key("auth", build_request(cfg, e, f)));
    EXPECT_EQ(k1.size(), 32u);
    EXPECT_NE(k1, cache_key("acl", build_request(cfg, e, f)));
    f.password = "two";
    EXPECT_NE(k1, cache_key("auth", build_request(cfg, e, f)));
}

// ---- answers -----------------------------------------------------------------------------------

http_response text(int status, std::string body) {
    http_response r;
    r.status = status;
    r.content_type = "text/plain";
    r.body = std::move(body);
    return r;
}

http_response json_answer(const nlohmann::json& j) {
    http_response r;
    r.status = 200;
    r.content_type = "application/json; charset=utf-8";
    r.body = j.dump();
    return r;
}

TEST(http_exchange, RmqttsReadingOfAnswers) {
    std::string why;
    using v = http_answer::verdict;
    EXPECT_EQ(read_answer(text(200, "allow"), why)->result, v::allow);
    EXPECT_EQ(read_answer(text(200, "deny\n"), why)->result, v::deny);
    EXPECT_EQ(read_answer(text(204, " ignore "), why)->result, v::ignore);
    EXPECT_EQ(read_answer(text(200, "ok"), why)->result, v::allow) << "RMQTT: any other body";
    EXPECT_EQ(read_answer(text(200, ""), why)->result, v::allow);
    EXPECT_EQ(read_answer(text(500, "deny"), why)->result, v::ignore) << "non-2xx: ignore";
    EXPECT_EQ(read_answer(text(404, "allow"), why)->result, v::ignore);

    auto su = text(200, "allow");
    su.x_superuser = "true";
    su.x_cache = "60000";
    const auto a = read_answer(su, why);
    EXPECT_TRUE(a->superuser);
    EXPECT_EQ(a->cache_ms, 60000);
    su.x_superuser = "false";
    su.x_cache = "0";
    EXPECT_FALSE(read_answer(su, why)->superuser);
    EXPECT_FALSE(read_answer(su, why)->cache_ms);
    su.x_cache = "-1";
    EXPECT_EQ(read_answer(su, why)->cache_ms, -1);
    su.x_cache = "soon";
    EXPECT_FALSE(read_answer(su, why)->cache_ms);

    const auto j = read_answer(json_answer({{"result", "allow"},
                                            {"superuser", true},
                                            {"expire_at", 1827143027},
                                            {"acl", {{{"action", "all"}}}}}),
                               why);
    ASSERT_TRUE(j);
    EXPECT_EQ(j->result, v::allow);
    EXPECT_TRUE(j->superuser);
    EXPECT_EQ(j->expire_at_s, 1827143027);
    EXPECT_EQ(j->acl_json, R"([{"action":"all"}])");
    EXPECT_FALSE(
        read_answer(json_answer({{"result", "deny"}, {"superuser", true}}), why)->superuser)
        << "only an allow makes a superuser";

    EXPECT_FALSE(read_answer(json_answer({{"superuser", true}}), why)) << "no result";
    EXPECT_FALSE(read_answer(json_answer({{"result", "maybe"}}), why));
    auto broken = json_answer({});
    broken.body = "{";
    EXPECT_FALSE(read_answer(broken, why));
    http_response none;
    none.error = "Connection";
    EXPECT_FALSE(read_answer(none, why));
    EXPECT_EQ(why, "Connection");
}

// ---- the authenticator over a fake transport ---------------------------------------------------

// A transport whose answers the test decides; calls for "/stall" wait until released.
class fake_server {
  public:
    http_response operator()(const http_request& r, std::chrono::milliseconds) {
        std::unique_lock lock(mutex_);
        ++calls_;
        requests_.push_back(r);
        if (r.body.find("username=stall") != std::string::npos) {
            ++stalled_;
            changed_.notify_all();
            changed_.wait_for(lock, std::chrono::seconds(30), [this] { return released_; });
            return text(200, "allow");
        }
        if (r.body.find("username=down") != std::string::npos) {
            http_response e;
            e.error = "Connection";
            return e;
        }
        return answer_;
    }
    void answer(http_response a) {
        std::lock_guard lock(mutex_);
        answer_ = std::move(a);
    }
    bool wait_stalled(int n) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return stalled_ >= n; });
    }
    void release() {
        std::lock_guard lock(mutex_);
        released_ = true;
        changed_.notify_all();
    }
    int calls() {
        std::lock_guard lock(mutex_);
        return calls_;
    }
    http_request last() {
        std::lock_guard lock(mutex_);
        return requests_.back();
    }

  private:
    std::mutex mutex_;
    std::condition_variable changed_;
    http_response answer_ = text(200, "allow");
    std::vector<http_request> requests_;
    int calls_ = 0;
    int stalled_ = 0;
    bool released_ = false;
};

struct client {
    std::string id = "c1";
    std::optional<std::string> username = std::string("alice");
    std::string peer = "127.0.0.1:5000";
    broker::client_info info() const {
        broker::client_info c;
        c.client_id = id;
        c.username = &username;
        c.peer = peer;
        c.listener = "tcp.external";
        c.version = protocol::version::v3_1_1;
        return c;
    }
};

auth_http_config config() {
    auth_http_config c;
    c.http_timeout = std::chrono::seconds(20);
    c.auth_req = endpoint(http_endpoint::http_method::post, http_endpoint::body_format::form,
                          {{"password", "%P"}, {"username", "%u"}});
    c.acl_req = endpoint(http_endpoint::http_method::post, http_endpoint::body_format::form,
                         {{"access", "%A"}, {"topic", "%t"}, {"username", "%u"}});
    c.acl_req->target = "/mqtt/acl";
    return c;
}

class http_auth : public ::testing::Test {
  protected:
    std::shared_ptr<http_authenticator> make(auth_http_config c) {
        auto a = std::make_shared<http_authenticator>(
            std::move(c), timers_.get_executor(),
            [this](const http_request& r, std::chrono::milliseconds t) { return server_(r, t); },
            [this](const request_facts& who, std::string) {
                std::lock_guard lock(kicks_mutex_);
                kicks_.push_back(who.client_id);
            });
        made_.push_back(a);
        return a;
    }
    void TearDown() override {
        server_.release();
        for (auto& a : made_)
            a->stop();
        timers_.join();
    }

    // The decision, waiting for a deferred one (bounded).
    static hook_result settle(hook_result r, broker::decision_scope<hook_result>& scope) {
        if (r != hook_result::pending) return r;
        auto state = scope.take_state();
        std::promise<hook_result> p;
        auto got = p.get_future();
        state->then([&p](hook_result v) { p.set_value(v); });
        if (got.wait_for(std::chrono::seconds(30)) != std::future_status::ready)
            return hook_result::pending;
        return got.get();
    }
    static hook_result login(http_authenticator& a, const client& c, std::string password) {
        broker::decision_scope<hook_result> scope(hook_result::deny);
        const auto r = a.authenticate(c.info(), std::optional<std::string>(password), scope);
        return settle(r, scope);
    }
    static hook_result acl(http_authenticator& a, const client& c, acl_action act,
                           std::string topic) {
        broker::decision_scope<hook_result> scope(hook_result::deny);
        return settle(a.check_acl(c.info(), act, topic, scope), scope);
    }

    fake_server server_;
    asio::thread_pool timers_{1};
    std::vector<std::shared_ptr<http_authenticator>> made_;
    std::mutex kicks_mutex_;
    std::vector<std::string> kicks_;
};

TEST_F(http_auth, AllowDenyIgnoreAndErrors) {
    auto a = make(config());
    server_.answer(text(200, "allow"));
    EXPECT_EQ(login(*a, client{}, "pw"), hook_result::allow);
    EXPECT_EQ(server_.last().body, "password=pw&username=alice");
    server_.answer(text(200, "deny"));
    EXPECT_EQ(login(*a, client{}, "pw"), hook_result::deny);
    server_.answer(text(200, "ignore"));
    EXPECT_EQ(login(*a, client{}, "pw"), hook_result::next);
    server_.answer(text(503, "deny"));
    EXPECT_EQ(login(*a, client{}, "pw"), hook_result::next) << "non-2xx: ignore";
    client down;
    down.username = "down";
    EXPECT_EQ(login(*a, down, "pw"), hook_result::deny) << "deny_if_error = true";
    EXPECT_EQ(a->stats().failures, 1u);

    auto lenient_cfg = config();
    lenient_cfg.deny_if_error = false;
    auto lenient = make(lenient_cfg);
    EXPECT_EQ(login(*lenient, down, "pw"), hook_result::next) << "deny_if_error = false";
}

TEST_F(http_auth, CachedAnswersAreReusedForTheSameRequest) {
    auto a = make(config());
    auto cached = text(200, "allow");
    cached.x_cache = "600000";
    server_.answer(cached);
    EXPECT_EQ(login(*a, client{}, "pw"), hook_result::allow);
    server_.answer(text(200, "deny"));
    broker::decision_scope<hook_result> scope(hook_result::deny);
    EXPECT_EQ(a->authenticate(client{}.info(), std::optional<std::string>("pw"), scope),
              hook_result::allow)
        << "answered at once from the cache, without deferring";
    EXPECT_EQ(server_.calls(), 1);
    EXPECT_EQ(a->stats().cache_hits, 1u);
    EXPECT_EQ(login(*a, client{}, "other"), hook_result::deny) << "another password, another key";
    EXPECT_EQ(server_.calls(), 2);
}

TEST_F(http_auth, ConnectionScopedCacheEndsWithTheConnection) {
    auto a = make(config());
    auto cached = text(200, "allow");
    cached.x_cache = "-1";
    server_.answer(cached);
    const client c;
    EXPECT_EQ(acl(*a, c, acl_action::publish, "t"), hook_result::allow);
    EXPECT_EQ(acl(*a, c, acl_action::publish, "t"), hook_result::allow);
    EXPECT_EQ(server_.calls(), 1);
    a->gone(broker::events::client{c.id, c.username, c.peer, "tcp.external", {}});
    EXPECT_EQ(a->cache().size(), 0u);
    EXPECT_EQ(acl(*a, c, acl_action::publish, "t"), hook_result::allow);
    EXPECT_EQ(server_.calls(), 2);
}

TEST_F(http_auth, DeadlineAnswersWhileTheServerStalls) {
    auto cfg = config();
    cfg.http_timeout = std::chrono::seconds(3);
    auto a = make(cfg);
    client staller;
    staller.username = "stall";
    broker::decision_scope<hook_result> scope(hook_result::deny);
    ASSERT_EQ(a->authenticate(staller.info(), std::optional<std::string>("pw"), scope),
              hook_result::pending);
    ASSERT_TRUE(server_.wait_stalled(1)) << "the server holds the request";
    EXPECT_EQ(settle(hook_result::pending, scope), hook_result::deny)
        << "no answer within http_timeout: a failed request (deny_if_error)";
    EXPECT_EQ(a->stats().failures, 1u);
    EXPECT_EQ(a->grants().size(), 0u);
    server_.release();  // the late "allow" changes nothing
}

TEST_F(http_auth, AFullQueueAnswersAtOnceAndOthersGoOn) {
    auto cfg = config();
    cfg.http_concurrency = 1;
    cfg.http_queue_max = 0;
    auto a = make(cfg);

    // A cached answer first, so a client can be decided while the only HTTP thread is stuck.
    auto cached = text(200, "allow");
    cached.x_cache = "600000";
    server_.answer(cached);
    EXPECT_EQ(login(*a, client{}, "pw"), hook_result::allow);

    client staller;
    staller.username = "stall";
    broker::decision_scope<hook_result> stalled(hook_result::deny);
    ASSERT_EQ(a->authenticate(staller.info(), std::optional<std::string>("pw"), stalled),
              hook_result::pending);
    ASSERT_TRUE(server_.wait_stalled(1));

    client other;
    other.username = "bob";
    broker::decision_scope<hook_result> full(hook_result::deny);
    EXPECT_EQ(a->authenticate(other.info(), std::optional<std::string>("pw"), full),
              hook_result::deny)
        << "no room: a failed request at once, not a wait";
    EXPECT_EQ(a->stats().queue_full, 1u);

    broker::decision_scope<hook_result> hit(hook_result::deny);
    EXPECT_EQ(a->authenticate(client{}.info(), std::optional<std::string>("pw"), hit),
              hook_result::allow)
        << "a cached client is decided while the server stalls";

    server_.release();
    EXPECT_EQ(settle(hook_result::pending, stalled), hook_result::allow);
}

TEST_F(http_auth, AnswerGrantsSuperuserAndRules) {
    auto a = make(config());
    client boss;
    boss.id = "boss";
    auto su = text(200, "allow");
    su.x_superuser = "true";
    server_.answer(su);
    ASSERT_EQ(login(*a, boss, "pw"), hook_result::allow);
    const int after_login = server_.calls();
    EXPECT_EQ(acl(*a, boss, acl_action::subscribe, "#"), hook_result::allow);
    EXPECT_EQ(server_.calls(), after_login) << "a superuser's ACL needs no request";

    client dev;
    dev.id = "dev";
    server_.answer(
        json_answer({{"result", "allow"},
                     {"acl",
                      {{{"permission", "allow"}, {"action", "publish"}, {"topic", "d/${clientid}"}},
                       {{"permission", "deny"}, {"action", "publish"}, {"topic", "d/#"}}}}}));
    ASSERT_EQ(login(*a, dev, "pw"), hook_result::allow);
    const int calls = server_.calls();
    EXPECT_EQ(acl(*a, dev, acl_action::publish, "d/dev"), hook_result::allow);
    EXPECT_EQ(acl(*a, dev, acl_action::publish, "d/other"), hook_result::deny);
    EXPECT_EQ(server_.calls(), calls) << "decided by the answer's rules";
    {
        std::lock_guard lock(kicks_mutex_);
        EXPECT_EQ(kicks_, (std::vector<std::string>{"dev"})) << "disconnect_if_pub_rejected";
    }
    server_.answer(text(200, "deny"));
    EXPECT_EQ(acl(*a, dev, acl_action::subscribe, "x"), hook_result::deny)
        << "no rule applies: the ACL request decides";
    EXPECT_EQ(server_.last().body, "access=1&topic=x&username=alice");

    server_.answer(json_answer({{"result", "allow"}, {"acl", "not a list"}}));
    client bad;
    bad.id = "bad";
    EXPECT_EQ(login(*a, bad, "pw"), hook_result::deny) << "a malformed acl refuses";
}

// ---- the plugin on a fake context --------------------------------------------------------------

TEST(http_plugin, RegistersWhatItsFileAsksFor) {
    const plugin_file only_acl("rmqtt-auth-http",
                               "disconnect_if_expiry = true\n[http_acl_req]\n"
                               "url = \"http://127.0.0.1:1/acl\"\nmethod = \"get\"\nparams = {}\n");
    fake_plugin_context ctx;
    auto p = make_plugin();
    p->configure(broker::read_config_file(only_acl.path(), nullptr));
    p->start(ctx);
    EXPECT_FALSE(ctx.hooks_.has_authenticate());
    EXPECT_TRUE(ctx.hooks_.has_acl());
    EXPECT_FALSE(ctx.hooks_.has_message_publish());
    p->stop();
    ctx.pool_.join();  // no timer is left behind

    const plugin_file shipped(source_dir() + "/etc/plugins/rmqtt-auth-http.toml");
    fake_plugin_context ctx2;
    auto q = make_plugin();
    q->configure(broker::read_config_file(shipped.path(), nullptr));
    q->start(ctx2);
    EXPECT_TRUE(ctx2.hooks_.has_authenticate());
    EXPECT_TRUE(ctx2.hooks_.has_acl());
    EXPECT_TRUE(ctx2.hooks_.has_message_publish());
    q->stop();
    ctx2.pool_.join();
}

}  // namespace
}  // namespace rmqtt::test
