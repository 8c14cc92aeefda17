// rmqtt-acl's hooks on a hook bus (no broker): connect decisions with plain and hashed
// passwords, superuser and proofs in the connection's auth state, the work an unknown user
// costs, publish / subscribe decisions with disconnect_if_pub_rejected, restored sessions, and
// reloading the file (valid, invalid, removed).
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <asio/thread_pool.hpp>

#include <filesystem>
#include <future>
#include <sstream>
#include <thread>

#include "acl/acl_plugin.hpp"
#include "log_capture.hpp"
#include "plugin_config_test_util.hpp"
#include "raw_helpers.hpp"
#include "rmqtt/broker/config.hpp"

namespace rmqtt::test {
namespace {

using namespace rmqtt::plugins::acl;
using broker::acl_action;
using broker::auth_state;
using broker::client_info;
using broker::hook_bus;
using broker::hook_result;
using broker::pending;

// "bcrypt-pw", cost 4 (made with Python's crypt module).
constexpr const char* bcrypt4 = "$2b$04$X0ufRAfbHLyWbll82ErDZ.psE1eBJPu12dGFGdPK.CKKYuuNG7Sxm";

acl_config rules_from(const std::string& toml) {
    return parse_acl_config(broker::parse_config_text(toml, "rmqtt-acl.toml", nullptr));
}

// A connection as the hooks see it.
struct conn {
    std::string id = "c1";
    std::optional<std::string> user{};
    std::optional<std::string> password{};
    std::string peer = "192.168.1.1:40000";
    protocol::version version = protocol::version::v3_1_1;
    bool restored = false;
    auth_state auth{};

    client_info info() {
        client_info c;
        c.client_id = id;
        c.username = &user;
        c.peer = peer;
        c.listener = "tcp.external";
        c.version = version;
        c.auth = restored ? nullptr : &auth;
        c.restored = restored;
        return c;
    }
};

// The decision, waiting for a deferred one.
hook_result authenticate(const hook_bus& bus, conn& c) {
    pending<hook_result> wait;
    const auto info = c.info();
    const auto r = bus.authenticate(info, c.password, &wait);
    if (r != hook_result::pending) return r;
    std::promise<hook_result> answer;
    wait.then([&](hook_result v) { answer.set_value(v); });
    return answer.get_future().get();
}

hook_result acl(const hook_bus& bus, conn& c, acl_action a, const std::string& topic) {
    return bus.check_acl(c.info(), a, topic);
}

struct bus_with_rules {
    explicit bus_with_rules(const std::string& toml,
                            std::optional<asio::any_io_executor> pool = std::nullopt)
        : rules(std::make_shared<rule_store>(rules_from(toml))) {
        register_hooks(bus, rules, pool, rules->get()->priority);
    }
    hook_bus bus;
    std::shared_ptr<rule_store> rules;
};

const std::string connect_rules = std::string(R"(rules = [
    ["deny", { clientid = "banned" }, "connect"],
    ["allow", { user = "admin", password = ")") +
                                  bcrypt4 +
                                  R"(", superuser = true }, "connect"],
    ["allow", { user = "alice", password = "wonderland" }, "connect"],
    ["deny", { user = "alice" }, "connect"],
    ["allow", { ipaddr = "10.0.0.0/8" }, "connect"],
    ["allow", { user = "bob" }],
    ["allow", { user = "alice", password = "wonderland" }, "publish", ["alice/#"]]
])";

TEST(acl_plugin, ConnectDecisions) {
    bus_with_rules b(connect_rules);

    conn banned{.id = "banned", .user = "bob"};
    EXPECT_EQ(authenticate(b.bus, banned), hook_result::deny);

    conn admin{.user = "admin", .password = "bcrypt-pw"};
    EXPECT_EQ(authenticate(b.bus, admin), hook_result::allow) << "a checked password authenticates";
    EXPECT_TRUE(admin.auth.superuser);
    ASSERT_EQ(admin.auth.proofs.size(), 1u);
    EXPECT_EQ(admin.auth.proofs[0], b.rules->get()->rules[1].who.password->proof());

    conn wrong{.user = "admin", .password = "guess"};
    EXPECT_EQ(authenticate(b.bus, wrong), hook_result::deny) << "no rule matches";
    EXPECT_FALSE(wrong.auth.superuser);
    EXPECT_TRUE(wrong.auth.proofs.empty());

    conn alice{.user = "alice", .password = "wonderland"};
    EXPECT_EQ(authenticate(b.bus, alice), hook_result::allow);
    EXPECT_FALSE(alice.auth.superuser);
    conn alice_wrong{.user = "alice", .password = "looking-glass"};
    EXPECT_EQ(authenticate(b.bus, alice_wrong), hook_result::deny) << "the deny rule after it";

    // Allow rules without a password do not authenticate: the chain goes on (next).
    conn anonymous{.peer = "10.1.1.1:5"};
    EXPECT_EQ(authenticate(b.bus, anonymous), hook_result::next);
    conn bob{.user = "bob"};
    EXPECT_EQ(authenticate(b.bus, bob), hook_result::next);
    conn nobody{};
    EXPECT_EQ(authenticate(b.bus, nobody), hook_result::deny) << "no rule matches: deny";

    // The proofs serve the publish rules with a password.
    EXPECT_EQ(acl(b.bus, alice, acl_action::publish, "alice/x"), hook_result::allow);
    EXPECT_EQ(acl(b.bus, alice_wrong, acl_action::publish, "alice/x"),
              hook_result::deny_disconnect);
}

// With a pool, a password check that costs a hash runs there: the decision is deferred.
TEST(acl_plugin, HashedPasswordsAreCheckedOnThePool) {
    asio::thread_pool pool(1);
    bus_with_rules b(connect_rules, pool.get_executor());
    std::promise<std::thread::id> ran_on;
    b.bus.on_authenticate(-100,
                          [&](const client_info&, const std::optional<std::string>&, hook_result) {
                              ran_on.set_value(std::this_thread::get_id());
                              return hook_result::next;
                          });
    conn admin{.user = "admin", .password = "bcrypt-pw"};
    pending<hook_result> wait;
    const auto info = admin.info();
    ASSERT_EQ(b.bus.authenticate(info, admin.password, &wait), hook_result::pending);
    std::promise<hook_result> answer;
    wait.then([&](hook_result v) { answer.set_value(v); });
    EXPECT_EQ(answer.get_future().get(), hook_result::allow);
    EXPECT_TRUE(admin.auth.superuser);
    // Without a password to check nothing is deferred: the chain goes on at once, on the
    // calling thread, to the next handler.
    conn bob{.user = "bob"};
    pending<hook_result> wait2;
    const auto info2 = bob.info();
    EXPECT_EQ(b.bus.authenticate(info2, bob.password, &wait2), hook_result::next);
    EXPECT_EQ(ran_on.get_future().get(), std::this_thread::get_id());
    pool.join();
}

// Every CONNECT with a username and a password costs the same hash work when the file has a
// hashed password: known user, wrong password, unknown user, user with a plain password.
TEST(acl_plugin, UnknownUserCostsTheSame) {
    bus_with_rules b(connect_rules);
    const auto cost = [&](conn c) {
        const auto before = hash_computations();
        (void)authenticate(b.bus, c);
        return hash_computations() - before;
    };
    EXPECT_EQ(cost(conn{.user = "admin", .password = "bcrypt-pw"}), 1u);
    EXPECT_EQ(cost(conn{.user = "admin", .password = "wrong"}), 1u);
    EXPECT_EQ(cost(conn{.user = "mallory", .password = "anything"}), 1u);
    EXPECT_EQ(cost(conn{.user = "alice", .password = "wonderland"}), 1u);
    // Nothing to check: no hash at all, whoever it is.
    EXPECT_EQ(cost(conn{.user = "admin"}), 0u);
    EXPECT_EQ(cost(conn{.password = "p"}), 0u);
    // A file with plain passwords only costs no hash.
    bus_with_rules plain(R"(rules = [["allow", { user = "u", password = "p" }, "connect"]])");
    const auto before = hash_computations();
    conn u{.user = "u", .password = "p"};
    EXPECT_EQ(authenticate(plain.bus, u), hook_result::allow);
    conn v{.user = "v", .password = "p"};
    EXPECT_EQ(authenticate(plain.bus, v), hook_result::deny);
    EXPECT_EQ(hash_computations(), before);
}

TEST(acl_plugin, PublishAndSubscribeDecisions) {
    const std::string rules = R"(rules = [
    ["allow", "all", "pubsub", ["open/#"]],
    ["deny", "all", "publish", ["closed/#"]]
])";
    for (const bool disconnect : {true, false}) {
        bus_with_rules b(std::string("disconnect_if_pub_rejected = ") +
                         (disconnect ? "true" : "false") + "\n" + rules);
        conn c;
        EXPECT_EQ(acl(b.bus, c, acl_action::publish, "open/x"), hook_result::allow);
        EXPECT_EQ(acl(b.bus, c, acl_action::subscribe, "open/+"), hook_result::allow);
        const auto refused = disconnect ? hook_result::deny_disconnect : hook_result::deny;
        EXPECT_EQ(acl(b.bus, c, acl_action::publish, "closed/x"), refused);
        EXPECT_EQ(acl(b.bus, c, acl_action::publish, "elsewhere"), refused) << "no rule matches";
        EXPECT_EQ(acl(b.bus, c, acl_action::subscribe, "elsewhere"), hook_result::deny)
            << "a refused SUBSCRIBE never disconnects";
    }
}

// A restored session has no connection: password rules match by the name, the superuser status
// comes from the connect rules, and nothing asks for a disconnect.
TEST(acl_plugin, RestoredSessions) {
    bus_with_rules b(std::string(R"(rules = [
    ["allow", { user = "admin", password = ")") +
                     bcrypt4 + R"(", superuser = true }, "connect"],
    ["allow", { user = "u", password = "p" }, "subscribe", ["u/#"]],
    ["allow", "all", "subscribe", ["public/#"]]
])");
    conn admin{.user = "admin", .restored = true};
    EXPECT_EQ(acl(b.bus, admin, acl_action::subscribe, "$SYS/#"), hook_result::allow);
    conn u{.user = "u", .restored = true};
    EXPECT_EQ(acl(b.bus, u, acl_action::subscribe, "u/x"), hook_result::allow);
    EXPECT_EQ(acl(b.bus, u, acl_action::subscribe, "secret/x"), hook_result::deny);
    EXPECT_EQ(acl(b.bus, u, acl_action::publish, "will/topic"), hook_result::deny)
        << "no disconnect for a session without a connection";
    conn other{.user = "other", .restored = true};
    EXPECT_EQ(acl(b.bus, other, acl_action::subscribe, "u/x"), hook_result::deny);
    EXPECT_EQ(acl(b.bus, other, acl_action::subscribe, "public/x"), hook_result::allow);
    // A live connection of "u" without the proof gets nothing from the password rule.
    conn live{.user = "u"};
    EXPECT_EQ(acl(b.bus, live, acl_action::subscribe, "u/x"), hook_result::deny);
}

// ---- reload -----------------------------------------------------------------------------------

file_watcher::reader core_reader() {
    return [](const std::string& path, std::shared_ptr<std::vector<std::string>> w) {
        return broker::read_config_file(path, std::move(w));
    };
}

const std::string rules_v1 = R"(rules = [["allow", "all", "publish", ["v1/#"]]]
)";
const std::string rules_v2 = R"(disconnect_if_pub_rejected = false
rules = [["allow", "all", "publish", ["v2/#"]], ["allow", "all", "subscribe", ["v2/#"]]]
)";

TEST(acl_plugin, ReloadReplacesTheRulesAndKeepsThemOnAnInvalidFile) {
    const temp_dir dir("rmqtt-acl-reload");
    const std::string path = dir.file("rmqtt-acl.toml");
    write_file(path, rules_v1);
    asio::thread_pool pool(1);
    bus_with_rules b(rules_v1);
    auto w = std::make_shared<file_watcher>(path, b.rules, core_reader(), pool.get_executor(),
                                            std::chrono::seconds(60));
    conn c;
    EXPECT_EQ(w->check(), file_watcher::outcome::unchanged);
    EXPECT_EQ(acl(b.bus, c, acl_action::publish, "v1/x"), hook_result::allow);

    write_file(path, rules_v2);
    EXPECT_EQ(w->check(), file_watcher::outcome::reloaded);
    EXPECT_EQ(acl(b.bus, c, acl_action::publish, "v1/x"), hook_result::deny)
        << "disconnect_if_pub_rejected is reloaded too";
    EXPECT_EQ(acl(b.bus, c, acl_action::publish, "v2/x"), hook_result::allow);
    EXPECT_EQ(w->check(), file_watcher::outcome::unchanged);

    {
        log_capture log;
        write_file(path, "rules = [\n  [\"allow\", { usr = \"x\" }]]\n");
        EXPECT_EQ(w->check(), file_watcher::outcome::failed);
        EXPECT_NE(log.text().find(path + ": rules[0][1].usr: unknown key (line 2)"),
                  std::string::npos)
            << log.text();
        EXPECT_NE(log.text().find("the rules in use stay"), std::string::npos) << log.text();
        EXPECT_EQ(w->check(), file_watcher::outcome::unchanged) << "logged once per change";
        write_file(path, "rules = [[\"allow\"");
        EXPECT_EQ(w->check(), file_watcher::outcome::failed);
        EXPECT_NE(log.text().find("not valid TOML"), std::string::npos) << log.text();
    }
    EXPECT_EQ(acl(b.bus, c, acl_action::publish, "v2/x"), hook_result::allow) << "kept";

    std::filesystem::remove(path);
    EXPECT_EQ(w->check(), file_watcher::outcome::missing);
    EXPECT_EQ(acl(b.bus, c, acl_action::publish, "v2/x"), hook_result::allow) << "kept";
    write_file(path, rules_v1);
    EXPECT_EQ(w->check(), file_watcher::outcome::reloaded);
    EXPECT_EQ(acl(b.bus, c, acl_action::publish, "v1/x"), hook_result::allow);
    EXPECT_EQ(acl(b.bus, c, acl_action::publish, "v2/x"), hook_result::deny_disconnect);
    pool.join();
}

// The watch runs by itself on the executor; stop() ends it.
TEST(acl_plugin, TheWatchReloadsOnItsOwn) {
    const temp_dir dir("rmqtt-acl-watch");
    const std::string path = dir.file("rmqtt-acl.toml");
    write_file(path, rules_v1);
    asio::thread_pool pool(2);
    bus_with_rules b(rules_v1);
    auto w = std::make_shared<file_watcher>(path, b.rules, core_reader(), pool.get_executor(),
                                            std::chrono::milliseconds(20));
    w->start();
    write_file(path, rules_v2);
    EXPECT_TRUE(eventually([&] { return b.rules->get()->rules.size() == 2; }))
        << "the changed file was not picked up";
    w->stop();
    pool.join();  // returns: the timer is cancelled
}

}  // namespace
}  // namespace rmqtt::test
