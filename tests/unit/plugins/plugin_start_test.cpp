// The built-in plugins on a fake plugin context (no broker, no sockets): what each provides and
// registers when it starts.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <asio/thread_pool.hpp>

#include <future>
#include <sstream>

#include "builtin.hpp"
#include "fake_plugin_context.hpp"
#include "log_capture.hpp"
#include "plugin_config_test_util.hpp"
#include "raw_helpers.hpp"
#include "rmqtt/broker/plugin.hpp"

namespace rmqtt::test {
namespace {

using namespace rmqtt::broker;

std::unique_ptr<plugin> make(std::string_view name) {
    for (const auto& e : plugins::builtin_plugins())
        if (e.name == name && e.make) return e.make();
    ADD_FAILURE() << name << " is not a built-in plugin";
    return nullptr;
}

TEST(plugin_start, SessionStorageProvidesItsSettingsWithTheNodeId) {
    const plugin_file f("rmqtt-session-storage",
                        "storage.type = \"sled\"\nstorage.sled.path = \"/var/lib/x/{node}\"\n");
    fake_plugin_context ctx;
    auto p = make("rmqtt-session-storage");
    auto section = read_config_file(f.path(), nullptr);
    section.set_node_id(3);
    p->configure(section);
    log_capture log;
    p->start(ctx);
    ASSERT_TRUE(ctx.storage);
    EXPECT_EQ(ctx.storage->type, session_storage_config::engine::rocksdb);
    EXPECT_EQ(ctx.storage->rocksdb_path, "/var/lib/x/3");
    // (moved from config_logging.ConfigWarningsAreLogged)
    EXPECT_NE(log.text().find("served by RocksDB at /var/lib/x/3"), std::string::npos)
        << log.text();
}

TEST(plugin_start, RetainerKeepsMessagesInTheSessionStoreOnlyWhenThereIsOne) {
    const plugin_file f("rmqtt-retainer", "storage.type = \"sled\"\n");
    for (const bool with_store : {false, true}) {
        fake_plugin_context ctx;
        auto p = make("rmqtt-retainer");
        p->configure(read_config_file(f.path(), nullptr));
        if (with_store) ctx.storage = session_storage_config{};
        p->start(ctx);
        ASSERT_TRUE(ctx.retained);
        EXPECT_EQ(ctx.retained->persistent(), with_store);
    }
}

TEST(plugin_start, SharedSubscriptionProvidesItsStrategy) {
    const plugin_file f("rmqtt-shared-subscription", "strategy = \"sticky\"\n");
    fake_plugin_context ctx;
    auto p = make("rmqtt-shared-subscription");
    p->configure(read_config_file(f.path(), nullptr));
    p->start(ctx);
    ASSERT_TRUE(ctx.strategy);
    EXPECT_TRUE(ctx.strategy->sticky());
}

// With allow_plain_password_connect the PBKDF2 check runs on the plugin pool: the decision is
// deferred, not computed on the io thread.
TEST(plugin_start, AuthScramChecksPlainPasswordsOffTheCallingThread) {
    const plugin_file f("rmqtt-auth-scram",
                        "allow_plain_password_connect = true\n"
                        "[[users]]\nusername = \"alice\"\npassword = \"wonderland\"\n");
    fake_plugin_context ctx;
    auto p = make("rmqtt-auth-scram");
    p->configure(read_config_file(f.path(), nullptr));
    p->start(ctx);
    EXPECT_NE(ctx.hooks_.find_auth_method("SCRAM-SHA-256"), nullptr);

    const std::optional<std::string> user = "alice";
    client_info c;
    c.client_id = "c";
    c.username = &user;
    for (const auto& [password, expected] :
         {std::pair{"wonderland", hook_result::allow}, std::pair{"nope", hook_result::deny}}) {
        const std::optional<std::string> pw = std::string(password);
        pending<hook_result> wait;
        const auto first = ctx.hooks_.authenticate(c, pw, &wait);
        ASSERT_EQ(first, hook_result::pending) << "decided on the calling thread";
        std::promise<hook_result> answer;
        wait.then([&](hook_result r) { answer.set_value(r); });
        EXPECT_EQ(answer.get_future().get(), expected) << password;
    }
}

// rmqtt-acl registers its authenticate and ACL hooks and watches its file on the plugin pool
// until it stops.
TEST(plugin_start, AclRegistersItsHooksAndWatchesItsFile) {
    const plugin_file f("rmqtt-acl",
                        "reload_interval = \"20ms\"\n"
                        "rules = [[\"allow\", \"all\", \"publish\", [\"a/#\"]]]\n");
    fake_plugin_context ctx;
    auto p = make("rmqtt-acl");
    p->configure(read_config_file(f.path(), nullptr));
    log_capture log;
    p->start(ctx);
    EXPECT_TRUE(ctx.hooks_.has_acl());
    EXPECT_TRUE(ctx.hooks_.has_authenticate());
    client_info c;
    c.client_id = "c";
    EXPECT_EQ(ctx.hooks_.check_acl(c, acl_action::publish, "a/b"), hook_result::allow);
    EXPECT_EQ(ctx.hooks_.check_acl(c, acl_action::publish, "b"), hook_result::deny_disconnect);
    write_file(f.path(), "rules = [[\"allow\", \"all\", \"publish\", [\"b\"]]]\n");
    EXPECT_TRUE(eventually([&] {
        return ctx.hooks_.check_acl(c, acl_action::publish, "b") == hook_result::allow;
    })) << log.text();
    p->stop();
    ctx.pool_.join();  // the watch has ended
    EXPECT_NE(log.text().find("rmqtt-acl: 1 rules from " + f.path()), std::string::npos)
        << log.text();
    EXPECT_NE(log.text().find("reloaded, 1 rules"), std::string::npos) << log.text();
}

}  // namespace
}  // namespace rmqtt::test
