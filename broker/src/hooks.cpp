#include "rmqtt/broker/hooks.hpp"

#include <algorithm>

namespace rmqtt::broker {

namespace {
template <typename V>
void insert_sorted(V& v, typename V::value_type e) {
    // Higher priority first; among equals, the earlier registration first.
    auto pos =
        std::find_if(v.begin(), v.end(), [&](const auto& x) { return x.priority < e.priority; });
    v.insert(pos, std::move(e));
}
}  // namespace

void hook_bus::on_authenticate(int priority, authenticate_handler h) {
    insert_sorted(authenticate_, {priority, order_++, std::move(h)});
}

void hook_bus::on_acl(int priority, acl_handler h) {
    insert_sorted(acl_, {priority, order_++, std::move(h)});
}

void hook_bus::add_auth_method(std::shared_ptr<auth_method> m) {
    std::string name(m->name());
    methods_[std::move(name)] = std::move(m);
}

hook_result hook_bus::authenticate(const client_info& c,
                                   const std::optional<std::string>& password) const {
    hook_result r = hook_result::next;
    for (const auto& e : authenticate_) {
        r = e.handler(c, password, r);
        if (r != hook_result::next) return r;
    }
    return r;
}

hook_result hook_bus::check_acl(const client_info& c, acl_action a, std::string_view topic) const {
    hook_result r = hook_result::next;
    for (const auto& e : acl_) {
        r = e.handler(c, a, topic, r);
        if (r != hook_result::next) return r;
    }
    return r;
}

auth_method* hook_bus::find_auth_method(std::string_view name) const {
    auto it = methods_.find(name);
    return it == methods_.end() ? nullptr : it->second.get();
}

}  // namespace rmqtt::broker
