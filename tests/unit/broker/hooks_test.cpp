// The hook bus: the order handlers run in and how a chain ends.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "rmqtt/broker/hooks.hpp"

namespace rmqtt::broker {
namespace {

client_info anyone() {
    static const std::optional<std::string> user = "u";
    client_info c;
    c.client_id = "c";
    c.username = &user;
    return c;
}

TEST(HookBus, HigherPriorityFirstThenRegistrationOrder) {
    hook_bus bus;
    std::vector<std::string> calls;
    auto record = [&](std::string name) {
        return [&calls, name](const client_info&, const std::optional<std::string>&, hook_result) {
            calls.push_back(name);
            return hook_result::next;
        };
    };
    bus.on_authenticate(0, record("low-a"));
    bus.on_authenticate(10, record("high"));
    bus.on_authenticate(0, record("low-b"));
    bus.on_authenticate(5, record("mid"));
    EXPECT_EQ(bus.authenticate(anyone(), std::nullopt), hook_result::next);
    EXPECT_EQ(calls, (std::vector<std::string>{"high", "mid", "low-a", "low-b"}));
}

TEST(HookBus, FirstDecisionEndsTheChainAndLaterHandlersSeeTheResultSoFar) {
    hook_bus bus;
    std::vector<hook_result> seen;
    bus.on_acl(3, [&](const client_info&, acl_action, std::string_view, hook_result so_far) {
        seen.push_back(so_far);
        return hook_result::next;
    });
    bus.on_acl(
        2, [&](const client_info&, acl_action a, std::string_view topic, hook_result so_far) {
            seen.push_back(so_far);
            return a == acl_action::publish && topic.starts_with("secret/") ? hook_result::deny
                                                                            : hook_result::next;
        });
    bool last_called = false;
    bus.on_acl(1, [&](const client_info&, acl_action, std::string_view, hook_result) {
        last_called = true;
        return hook_result::allow;
    });
    EXPECT_EQ(bus.check_acl(anyone(), acl_action::publish, "secret/x"), hook_result::deny);
    EXPECT_FALSE(last_called);
    EXPECT_EQ(seen, (std::vector<hook_result>{hook_result::next, hook_result::next}));
    EXPECT_EQ(bus.check_acl(anyone(), acl_action::subscribe, "secret/x"), hook_result::allow);
    EXPECT_TRUE(last_called);
}

// deny_disconnect is a deny that also asks for the connection to close: it ends the chain, also
// when it comes from a deferred decision, and denied() sees both denials.
TEST(HookBus, DenyDisconnectEndsTheChainLikeDeny) {
    hook_bus bus;
    std::optional<deferred<hook_result>> later;
    bus.on_acl(2, hook_bus::async_acl_handler([&](const client_info&, acl_action, std::string_view,
                                                  hook_result, decision_scope<hook_result>& s) {
                   later = s.defer();
                   return hook_result::pending;
               }));
    bool last_called = false;
    bus.on_acl(1, [&](const client_info&, acl_action, std::string_view, hook_result) {
        last_called = true;
        return hook_result::allow;
    });
    pending<hook_result> wait;
    EXPECT_EQ(bus.check_acl(anyone(), acl_action::publish, "t", &wait), hook_result::pending);
    std::optional<hook_result> got;
    wait.then([&](hook_result r) { got = r; });
    later->resolve(hook_result::deny_disconnect);
    ASSERT_TRUE(got);
    EXPECT_EQ(*got, hook_result::deny_disconnect);
    EXPECT_FALSE(last_called);
    EXPECT_TRUE(denied(hook_result::deny));
    EXPECT_TRUE(denied(hook_result::deny_disconnect));
    EXPECT_FALSE(denied(hook_result::allow));
    EXPECT_FALSE(denied(hook_result::next));
}

TEST(HookBus, NoHandlersMeansNoOpinion) {
    hook_bus bus;
    EXPECT_FALSE(bus.has_acl());
    EXPECT_EQ(bus.authenticate(anyone(), std::string("pw")), hook_result::next);
    EXPECT_EQ(bus.check_acl(anyone(), acl_action::publish, "t"), hook_result::next);
    EXPECT_EQ(bus.find_auth_method("SCRAM-SHA-256"), nullptr);
}

struct fake_method final : auth_method {
    std::string_view name() const noexcept override { return "X-TEST"; }
    std::unique_ptr<auth_exchange> start(const client_info&) override { return nullptr; }
};

TEST(HookBus, AuthMethodsAreFoundByExactName) {
    hook_bus bus;
    auto m = std::make_shared<fake_method>();
    bus.add_auth_method(m);
    EXPECT_EQ(bus.find_auth_method("X-TEST"), m.get());
    EXPECT_EQ(bus.find_auth_method("x-test"), nullptr);  // method names are case-sensitive
}

}  // namespace
}  // namespace rmqtt::broker
