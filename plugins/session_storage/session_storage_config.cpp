// rmqtt-session-storage.toml: where and how sessions are stored.
#include "session_storage/session_storage_config.hpp"

#include <fmt/format.h>

#include <optional>
#include <string>
#include <vector>

namespace rmqtt::plugins {

using broker::config_section;
using broker::session_storage_config;

namespace {

constexpr std::string_view unused_note = "not used by rmqttd, ignored";

std::string line_text(const config_section& s, std::string_view key) {
    const auto* n = s.get_node(key);
    return n != nullptr && n->line > 0 ? fmt::format(" (line {})", n->line) : std::string();
}

}  // namespace

session_storage_config parse_session_storage_config(const config_section& s) {
    session_storage_config c;
    for (const char* table : {"storage", "storage.rocksdb", "storage.sled", "storage.redis"})
        (void)s.get_table(table);
    const std::string type =
        s.get_choice("storage.type", {"rocksdb", "sled", "redis", "redis-cluster"})
            .value_or("rocksdb");

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
    (void)s.get_int("storage.sled.gc_at_hour", 0, 23);
    s.accept_unused("storage.sled.gc_at_hour", unused_note);
    (void)s.get_int("storage.sled.gc_at_minute", 0, 59);
    s.accept_unused("storage.sled.gc_at_minute", unused_note);
    if (auto url = s.get_string("storage.redis.url")) {
        if (url->rfind("redis://", 0) != 0) {
            s.fail_value("storage.redis.url", "a URL such as \"redis://127.0.0.1:6379/\"");
        }
        c.redis_url = *url;
    }
    if (auto prefix = s.get_string("storage.redis.prefix")) c.redis_prefix = *prefix;
    if (const auto cluster = s.get_table("storage.redis-cluster")) {
        (void)cluster->get_strings("urls");
        (void)cluster->get_string("prefix");
        s.warn("storage.redis-cluster",
               "not used by rmqttd (Redis Cluster is not supported yet), ignored");
    }

    if (auto ack = s.get_choice("ack", {"durable", "async"})) {
        c.ack = *ack == "durable" ? session_storage_config::ack_mode::durable
                                  : session_storage_config::ack_mode::async;
    }
    if (auto sync = s.get_choice("sync", {"none", "always"})) {
        c.sync = *sync == "none" ? session_storage_config::sync_mode::none
                                 : session_storage_config::sync_mode::always;
    }
    if (auto w = s.get_duration_us("commit_window")) {
        if (*w > std::chrono::seconds(1)) {
            s.fail_value("commit_window", fmt::format("{}, at most 1s", broker::duration_form));
        }
        c.commit_window = *w;
    }
    if (auto n = s.get_int("commit_max_ops", 1, 1'000'000)) {
        c.commit_max_ops = static_cast<std::size_t>(*n);
    }
    if (auto t = s.get_duration("backend_timeout")) c.backend_timeout = *t;
    if (auto b = s.get_size("max_pending_bytes", 1)) {
        c.max_pending_bytes = static_cast<std::size_t>(*b);
    }
    if (auto h = s.get_positive_duration("heartbeat_interval")) c.heartbeat_interval = *h;
    broker::accept_rmqtt_circuit_breaker(s);

    if (type == "redis-cluster") {
        s.fail("storage.type",
               fmt::format("\"redis-cluster\" is not supported yet{}; use \"rocksdb\" (embedded, "
                           "the default) or \"redis\" (one server that several nodes can "
                           "share, each with its own storage.redis.prefix); accepted: "
                           "\"rocksdb\", \"sled\" (served by RocksDB), \"redis\"",
                           line_text(s, "storage.type")));
    }
    if (type == "redis") {
        c.type = session_storage_config::engine::redis;
    } else {
        c.type = session_storage_config::engine::rocksdb;
        c.type_was_sled = type == "sled";
        const auto& p = c.type_was_sled ? sled_path : rocksdb_path;
        const auto& cache = c.type_was_sled ? sled_cache : rocksdb_cache;
        if (p) c.rocksdb_path = *p;
        if (cache) c.rocksdb_cache_capacity = static_cast<std::size_t>(*cache);
    }
    // Each node keeps its own data: {node} is the node id, as in RMQTT.
    c.rocksdb_path = s.with_node(std::move(c.rocksdb_path));
    c.redis_prefix = s.with_node(std::move(c.redis_prefix));
    return c;
}

std::span<const std::string_view> session_storage_config_keys() {
    static const std::vector<std::string_view> keys = [] {
        std::vector<std::string_view> k{
            "storage.type",
            "storage.rocksdb.path",
            "storage.rocksdb.cache_capacity",
            "storage.sled.path",
            "storage.sled.cache_capacity",
            "storage.sled.gc_at_hour",
            "storage.sled.gc_at_minute",
            "storage.redis.url",
            "storage.redis.prefix",
            "storage.redis-cluster.urls",
            "storage.redis-cluster.prefix",
            "ack",
            "sync",
            "commit_window",
            "commit_max_ops",
            "backend_timeout",
            "max_pending_bytes",
            "heartbeat_interval",
        };
        const auto cb = broker::rmqtt_circuit_breaker_keys();
        k.insert(k.end(), cb.begin(), cb.end());
        return k;
    }();
    return keys;
}

}  // namespace rmqtt::plugins
