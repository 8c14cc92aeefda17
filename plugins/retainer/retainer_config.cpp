// rmqtt-retainer.toml: retained messages.
#include "retainer/retainer_config.hpp"

#include <fmt/format.h>

#include <string>
#include <vector>

namespace rmqtt::plugins {

using broker::config_section;

namespace {

constexpr std::string_view unused_note = "not used by rmqttd, ignored";

// RMQTT's own store for retained messages. rmqttd keeps them in the session store instead, so
// these keys have no effect: refused when they would be expected to work, noted otherwise.
void engine_keys(const config_section& s, const std::string& type) {
    if (auto p = s.get_string("storage.sled.path"); p && p->empty()) {
        s.fail_value("storage.sled.path", "a directory path such as \"./data/retain/{node}\"");
    }
    (void)s.get_size("storage.sled.cache_capacity");
    if (auto url = s.get_string("storage.redis.url"); url && url->rfind("redis://", 0) != 0) {
        s.fail_value("storage.redis.url", "a URL such as \"redis://127.0.0.1:6379/\"");
    }
    (void)s.get_string("storage.redis.prefix");
    // RMQTT keeps retained messages in a store of their own; rmqttd keeps them in the session
    // store (or in memory with "ram"), so RMQTT's location keys load but are not used.
    for (const char* key : {"storage.sled.path", "storage.sled.cache_capacity", "storage.redis.url",
                            "storage.redis.prefix"}) {
        if (!s.has(key)) continue;
        s.warn(key, type == "ram"
                        ? "accepted for RMQTT compatibility, not used: with storage.type = \"ram\" "
                          "retained messages are kept in memory"
                        : "accepted for RMQTT compatibility, not used: retained messages are kept "
                          "in the session store (see rmqtt-session-storage.toml)");
    }
}

}  // namespace

retainer_config parse_retainer_config(const config_section& s) {
    retainer_config c;
    for (const char* table : {"storage", "storage.sled", "storage.redis"})
        (void)s.get_table(table);
    const std::string type =
        s.get_choice("storage.type", {"ram", "rocksdb", "sled", "redis"}).value_or("ram");
    engine_keys(s, type);
    if (auto n = s.get_int("max_retained_messages")) {
        c.max_retained_messages = static_cast<std::size_t>(*n);
    }
    if (auto n = s.get_size("max_payload_size")) c.max_payload_size = static_cast<std::size_t>(*n);
    if (auto ttl = s.get_duration("retained_message_ttl")) c.retained_message_ttl = *ttl;
    (void)s.get_int("batch_messages_limit", 1);
    s.accept_unused("batch_messages_limit", unused_note);
    (void)s.get_duration_us("backend_timeout");
    s.accept_unused("backend_timeout", unused_note);
    broker::accept_rmqtt_circuit_breaker(s);

    c.type_was_sled = type == "sled";
    c.type = type == "ram"     ? retainer_config::engine::ram
             : type == "redis" ? retainer_config::engine::redis
                               : retainer_config::engine::rocksdb;
    return c;
}

std::span<const std::string_view> retainer_config_keys() {
    static const std::vector<std::string_view> keys = [] {
        std::vector<std::string_view> k{
            "storage.type",      "storage.sled.path",    "storage.sled.cache_capacity",
            "storage.redis.url", "storage.redis.prefix", "max_retained_messages",
            "max_payload_size",  "retained_message_ttl", "batch_messages_limit",
            "backend_timeout",
        };
        const auto cb = broker::rmqtt_circuit_breaker_keys();
        k.insert(k.end(), cb.begin(), cb.end());
        return k;
    }();
    return keys;
}

}  // namespace rmqtt::plugins
