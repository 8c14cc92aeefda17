#include "rmqtt/broker/hooks.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>

namespace rmqtt::broker {

namespace {

template <typename V>
void insert_sorted(V& v, typename V::value_type e) {
    // Higher priority first; among equals, the earlier registration first.
    auto pos =
        std::find_if(v.begin(), v.end(), [&](const auto& x) { return x.priority < e.priority; });
    v.insert(pos, std::move(e));
}

// Runs chain[first..] with `call(handler, so_far, scope)`. Returns the result when no handler
// deferred. Otherwise returns pending and resolves `final_state` (created on the first deferral
// and handed to `wait`) when the chain has finished, on the thread that resolved the last
// deferred decision. `call` refers to the caller's arguments, which the caller keeps alive.
template <class Chain, class Call>
hook_result run_chain(const Chain& chain, std::size_t first, hook_result so_far, Call call,
                      std::shared_ptr<detail::deferred_state<hook_result>> final_state,
                      pending<hook_result>* wait) {
    for (std::size_t i = first; i < chain.size(); ++i) {
        decision_scope<hook_result> scope(hook_result::deny);
        const hook_result r = call(chain[i].handler, so_far, scope);
        if (r == hook_result::pending) {
            auto state = scope.take_state();
            if (!state || (!final_state && !wait)) {
                // A handler that returns pending without deferring, or a caller that cannot wait:
                // refuse rather than let the request through.
                spdlog::error("hook handler returned pending {}; treated as deny",
                              state ? "where the caller cannot wait" : "without deferring");
                return hook_result::deny;
            }
            if (!final_state) {
                final_state =
                    std::make_shared<detail::deferred_state<hook_result>>(hook_result::deny);
                wait->state() = final_state;
            }
            state->then([&chain, i, call, final_state](hook_result answer) {
                if (answer == hook_result::pending) answer = hook_result::deny;
                if (answer != hook_result::next) {
                    final_state->resolve(answer);
                    return;
                }
                const hook_result rest =
                    run_chain(chain, i + 1, answer, call, final_state, nullptr);
                if (rest != hook_result::pending) final_state->resolve(rest);
            });
            return hook_result::pending;
        }
        if (r != hook_result::next) return r;
        so_far = r;
    }
    return so_far;
}

}  // namespace

void hook_bus::on_authenticate(int priority, authenticate_handler h) {
    on_authenticate(
        priority,
        async_authenticate_handler(
            [h = std::move(h)](const client_info& c, const std::optional<std::string>& password,
                               hook_result so_far,
                               decision_scope<hook_result>&) { return h(c, password, so_far); }));
}

void hook_bus::on_authenticate(int priority, async_authenticate_handler h) {
    insert_sorted(authenticate_, {priority, order_++, std::move(h)});
}

void hook_bus::on_acl(int priority, acl_handler h) {
    on_acl(priority,
           async_acl_handler([h = std::move(h)](const client_info& c, acl_action a,
                                                std::string_view topic, hook_result so_far,
                                                decision_scope<hook_result>&) {
               return h(c, a, topic, so_far);
           }));
}

void hook_bus::on_acl(int priority, async_acl_handler h) {
    insert_sorted(acl_, {priority, order_++, std::move(h)});
}

void hook_bus::on_message_publish(int priority, publish_handler h) {
    insert_sorted(publish_, {priority, order_++, std::move(h)});
}

void hook_bus::add_auth_method(std::shared_ptr<auth_method> m) {
    std::string name(m->name());
    if (methods_.contains(name))
        throw std::invalid_argument("authentication method " + name + " is registered twice");
    methods_.emplace(std::move(name), std::move(m));
}

hook_result hook_bus::authenticate(const client_info& c, const std::optional<std::string>& password,
                                   pending<hook_result>* wait) const {
    return run_chain(
        authenticate_, 0, hook_result::next,
        [&c, &password](const async_authenticate_handler& h, hook_result so_far,
                        decision_scope<hook_result>& scope) {
            return h(c, password, so_far, scope);
        },
        nullptr, wait);
}

hook_result hook_bus::check_acl(const client_info& c, acl_action a, std::string_view topic,
                                pending<hook_result>* wait) const {
    return run_chain(
        acl_, 0, hook_result::next,
        [&c, a, topic](const async_acl_handler& h, hook_result so_far,
                       decision_scope<hook_result>& scope) {
            return h(c, a, topic, so_far, scope);
        },
        nullptr, wait);
}

hook_result hook_bus::message_publish(message& msg, const client_info& from,
                                      pending<hook_result>* wait) const {
    return run_chain(
        publish_, 0, hook_result::next,
        [&msg, &from](const publish_handler& h, hook_result so_far,
                      decision_scope<hook_result>& scope) { return h(msg, from, so_far, scope); },
        nullptr, wait);
}

auth_method* hook_bus::find_auth_method(std::string_view name) const {
    auto it = methods_.find(name);
    return it == methods_.end() ? nullptr : it->second.get();
}

}  // namespace rmqtt::broker
