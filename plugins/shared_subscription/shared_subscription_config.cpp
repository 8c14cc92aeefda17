// rmqtt-shared-subscription.toml: how a shared subscription picks one member.
#include "shared_subscription/shared_subscription_config.hpp"

#include <array>
#include <string_view>
#include <utility>

namespace rmqtt::plugins {

shared_subscription_config parse_shared_subscription_config(const broker::config_section& s) {
    using st = shared_subscription_config::strategy;
    static constexpr std::array<std::pair<std::string_view, st>, 7> names{{
        {"random", st::random},
        {"round_robin", st::round_robin},
        {"round_robin_per_group", st::round_robin_per_group},
        {"sticky", st::sticky},
        {"hash_clientid", st::hash_clientid},
        {"hash_topic", st::hash_topic},
        {"local", st::local},
    }};
    shared_subscription_config c;
    if (const auto name =
            s.get_choice("strategy", {"random", "round_robin", "round_robin_per_group", "sticky",
                                      "hash_clientid", "hash_topic", "local"})) {
        for (const auto& [n, strat] : names) {
            if (n == *name) c.strat = strat;
        }
    }
    if (auto n = s.get_int("sticky_cache_size", 1))
        c.sticky_cache_size = static_cast<std::size_t>(*n);
    return c;
}

std::span<const std::string_view> shared_subscription_config_keys() {
    static constexpr std::array<std::string_view, 2> keys{
        "strategy",
        "sticky_cache_size",
    };
    return keys;
}

}  // namespace rmqtt::plugins
