// rmqtt-retainer.toml: retained messages.
#include "retainer/retainer_config.hpp"

#include <fmt/format.h>

#include <string>

namespace rmqtt::plugins {

using broker::config_section;

namespace {

constexpr std::string_view unused_note = "not used by rmqttd, ignored";

}  // namespace

retainer_config parse_retainer_config(const config_section& s) {
    retainer_config c;
    for (const char* table : {"storage", "storage.rocksdb", "storage.sled", "storage.redis"})
        (void)s.get_table(table);
    const std::string type =
        s.get_choice("storage.type", {"ram", "rocksdb", "sled", "redis"}).value_or("ram");
    const auto path = [&s](std::string_view key) {
        auto p = s.get_string(key);
        if (p && p->empty()) {
            s.fail_value(key, "a directory path such as \"./data/session/{node}\"");
        }
        return p;
    };
    const auto rocksdb_path = path("storage.rocksdb.path");
    const auto rocksdb_cache = s.get_size("storage.rocksdb.cache_capacity");
    const auto sled_path = path("storage.sled.path");
    const auto sled_cache = s.get_size("storage.sled.cache_capacity");
    if (auto url = s.get_string("storage.redis.url")) {
        if (url->rfind("redis://", 0) != 0) {
            s.fail_value("storage.redis.url", "a URL such as \"redis://127.0.0.1:6379/\"");
        }
        c.redis_url = *url;
    }
    if (auto prefix = s.get_string("storage.redis.prefix")) c.redis_prefix = *prefix;

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
    const auto& p = c.type_was_sled ? sled_path : rocksdb_path;
    const auto& cache = c.type_was_sled ? sled_cache : rocksdb_cache;
    if (p) c.rocksdb_path = *p;
    if (cache) c.rocksdb_cache_capacity = static_cast<std::size_t>(*cache);
    return c;
}

}  // namespace rmqtt::plugins
