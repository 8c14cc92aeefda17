// restore_sessions asks the ACL hooks again about what a stored session may do, before the
// listeners open (hostile-input #55, CVE-2021-34434): a subscription the rules no longer allow
// is neither routed nor kept in the store, a will whose topic is no longer allowed is dropped.
#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "harness.hpp"
#include "session/restore.hpp"

namespace rmqtt::broker::test {
namespace {

std::unique_ptr<persistence> memory_persistence() {
    return std::make_unique<persistence>(storage::make_memory_store(), session_storage_config{});
}

storage::subscription_record sub(const std::string& filter) {
    storage::subscription_record r;
    r.filter = filter;
    r.qos = 1;
    return r;
}

std::vector<std::string> stored_filters(persistence& p, const std::string& client_id) {
    std::vector<storage::subscription_record> subs;
    p.flush();
    std::promise<void> done;
    p.read([&](storage::store& s) {
        EXPECT_TRUE(s.load_subscriptions(client_id, subs));
        done.set_value();
    });
    done.get_future().wait();
    std::vector<std::string> out;
    for (const auto& s : subs)
        out.push_back(s.filter);
    return out;
}

TEST(RestoreAcl, RevokedSubscriptionsAndWillsAreRemovedBeforeServing) {
    harness h;
    h.core.set_store(memory_persistence());

    recovered_state state;
    state.now_ms = wall_now_ms();
    recovered_state::session r;
    r.record.client_id = "restored";
    r.record.username = "alice";
    r.record.listener = "tcp.test";
    r.record.peer_address = "10.1.2.3:4567";
    r.record.protocol_version = 5;
    r.record.expiry_interval_s = storage::never_expires;
    r.record.disconnected_at_ms = state.now_ms;
    storage::will_record w;
    w.message.topic = "will/denied";
    w.delay_interval_s = 3600;  // not due: it would be published at once otherwise
    r.record.will = w;
    r.subscriptions = {sub("ok/#"), sub("secret/#"), sub("$share/g/secret/x")};
    storage::write_batch stored;
    stored.ops.push_back(storage::put_session{r.record});
    for (const auto& s : r.subscriptions)
        stored.ops.push_back(storage::put_subscription{"restored", s});
    h.core.store()->submit(std::move(stored));
    state.sessions.push_back(r);

    // Decisions deferred to other threads, as a plugin with a pool gives them.
    std::mutex m;
    std::vector<std::thread> workers;
    std::vector<std::string> asked;
    h.core.hooks.on_acl(
        0,
        hook_bus::async_acl_handler([&](const client_info& c, acl_action a, std::string_view topic,
                                        hook_result, decision_scope<hook_result>& scope) {
            EXPECT_TRUE(c.restored);
            EXPECT_EQ(c.auth, nullptr);
            EXPECT_EQ(c.client_id, "restored");
            EXPECT_TRUE(c.username && *c.username == std::optional<std::string>("alice"));
            EXPECT_EQ(c.peer, "10.1.2.3:4567");
            EXPECT_EQ(c.listener, "tcp.test");
            EXPECT_EQ(c.version, protocol::version::v5);
            const bool deny = topic.find("secret") != std::string_view::npos ||
                              (a == acl_action::publish && topic == "will/denied");
            std::lock_guard lock(m);
            asked.push_back(std::string(a == acl_action::publish ? "pub " : "sub ") +
                            std::string(topic));
            workers.emplace_back([d = scope.defer(), deny]() mutable {
                d.resolve(deny ? hook_result::deny : hook_result::allow);
            });
            return hook_result::pending;
        }));

    const auto counts = restore_sessions(
        h.core, state, [&] { return asio::any_io_executor(h.io.get_executor()); },
        [&](std::string_view) { return &h.lc; });
    for (auto& t : workers)
        t.join();
    EXPECT_EQ(asked, (std::vector<std::string>{"pub will/denied", "sub ok/#", "sub secret/#",
                                               "sub $share/g/secret/x"}));
    EXPECT_EQ(counts.sessions, 1u);
    EXPECT_EQ(counts.subscriptions, 1u);
    EXPECT_EQ(counts.revoked_subscriptions, 2u);
    EXPECT_EQ(counts.revoked_wills, 1u);

    auto s = h.core.sessions.find("restored");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->subscriptions().size(), 1u);
    EXPECT_TRUE(s->subscriptions().contains("ok/#"));
    EXPECT_FALSE(s->will()) << "the denied will is dropped";
    EXPECT_EQ(stored_filters(*h.core.store(), "restored"), (std::vector<std::string>{"ok/#"}));
}

// Without ACL hooks nothing is asked and everything is restored.
TEST(RestoreAcl, WithoutAclHooksEverythingIsRestored) {
    harness h;
    recovered_state state;
    state.now_ms = wall_now_ms();
    recovered_state::session r;
    r.record.client_id = "plain";
    r.record.expiry_interval_s = storage::never_expires;
    r.record.disconnected_at_ms = state.now_ms;
    r.subscriptions = {sub("a/#"), sub("secret/#")};
    state.sessions.push_back(r);
    const auto counts = restore_sessions(
        h.core, state, [&] { return asio::any_io_executor(h.io.get_executor()); },
        [&](std::string_view) { return &h.lc; });
    EXPECT_EQ(counts.subscriptions, 2u);
    EXPECT_EQ(counts.revoked_subscriptions, 0u);
}

}  // namespace
}  // namespace rmqtt::broker::test
