#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

// rmqttd's configuration, read from an RMQTT-style `rmqtt.toml` plus one file per plugin in
// `plugins.dir` (`rmqtt-<plugin>.toml`). Key names, meanings and defaults follow RMQTT
// (shared/reference/rmqtt-surface.md); the loader (config.cpp) is the only place that sees toml11.
namespace rmqtt::broker {

using duration = std::chrono::milliseconds;

// Thrown for a configuration that cannot be used. what() names the file, the key and the
// accepted form, e.g.
//   etc/rmqtt.toml: listener.tcp.external.max_packet_size: expected a size such as "1MB" or
//   1048576, got "1 megabyte"
class config_error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

enum class listener_kind { tcp, tls, ws, wss };
std::string_view to_string(listener_kind k) noexcept;

struct listener_config {
    listener_kind kind = listener_kind::tcp;
    std::string name;  // "external" in listener.tcp.external
    bool enable = true;
    std::string host = "0.0.0.0";
    std::uint16_t port = 1883;  // addr = "host:port"; the port is the listener's id (RMQTT)
    std::size_t max_connections = 1024000;
    std::size_t max_handshaking_limit = 500;
    duration handshake_timeout = std::chrono::seconds(15);
    std::uint32_t max_packet_size = 1024 * 1024;  // 0 = protocol maximum
    int backlog = 1024;
    bool nodelay = false;
    bool reuseaddr = true;
    bool reuseport = false;
    bool tcp_keepalive = true;
    bool allow_anonymous = false;
    bool allow_zero_keepalive = true;
    std::uint16_t min_keepalive = 0;
    std::uint16_t max_keepalive = 65535;
    double keepalive_backoff = 0.75;
    std::uint16_t max_inflight = 16;
    std::size_t max_mqueue_len = 1000;
    std::uint32_t mqueue_rate_limit_burst = 0xFFFFFFFF;  // "burst,period"
    duration mqueue_rate_limit_period = std::chrono::seconds(1);
    std::size_t max_clientid_len = 65535;
    std::uint8_t max_qos_allowed = 2;
    std::size_t max_topic_levels = 0;                            // 0 = unlimited
    duration session_expiry_interval = std::chrono::hours(2);    // for 3.x persistent sessions
    duration max_session_expiry_interval = duration::zero();     // cap; 0 = none
    duration message_retry_interval = std::chrono::seconds(30);  // 0 = no resend while connected
    duration message_expiry_interval = std::chrono::minutes(5);  // default expiry; 0 = never
    std::size_t max_subscriptions = 0;                           // per client; 0 = unlimited
    bool shared_subscription = true;      // $share/ filters accepted (v5: advertised in CONNACK)
    std::uint16_t max_topic_aliases = 0;  // 0 = topic aliases disabled
    bool limit_subscription = false;
    bool delayed_publish = false;
    bool proxy_protocol = false;
    duration proxy_protocol_timeout = std::chrono::seconds(5);
    // TLS / WSS
    bool cross_certificate = false;  // require and verify a client certificate
    std::string cert;                // PEM certificate chain file
    std::string key;                 // PEM private key file
    std::string client_ca_certs;     // PEM CA file for client certificates
    bool cert_cn_as_username = false;
    // WS / WSS
    std::string ws_path = "/mqtt";  // rmqttd extension; "" accepts any path

    std::string id() const;  // "tcp.external"
};
// Only enabled listeners appear in config::listeners (as in RMQTT, `enable = false` drops one).
// Ports are unique across all of them; cert/key are non-empty for tls and wss (their files are
// opened by the listener at startup, not by the loader).

enum class log_target { off, file, console, both };

struct log_config {
    log_target to = log_target::console;
    std::string level = "info";  // trace, debug, info, warn, error, off
    std::string dir = "/var/log/rmqtt";
    std::string file = "rmqtt.log";
};

// etc/plugins/rmqtt-session-storage.toml
struct session_storage_config {
    enum class engine { rocksdb, redis };
    enum class ack_mode { durable, async };
    enum class sync_mode { none, always };
    engine type = engine::rocksdb;
    bool type_was_sled = false;  // "sled" in an RMQTT file: served by RocksDB (logged)
    std::string rocksdb_path = "./data/session/{node}";  // {node} already replaced after load
    std::size_t rocksdb_cache_capacity = 64 * 1024 * 1024;
    std::string redis_url = "redis://127.0.0.1:6379/";
    std::string redis_prefix = "session-{node}";  // {node} already replaced after load
    ack_mode ack = ack_mode::durable;
    sync_mode sync = sync_mode::none;
    std::chrono::microseconds commit_window{500};  // group-commit window
    std::size_t commit_max_ops = 4096;
    duration backend_timeout = std::chrono::seconds(15);
    std::size_t max_pending_bytes = 64 * 1024 * 1024;  // back-pressure threshold
};

// etc/plugins/rmqtt-retainer.toml
struct retainer_config {
    enum class engine { ram, rocksdb, redis };
    engine type = engine::ram;
    bool type_was_sled = false;  // "sled" in an RMQTT file: served by RocksDB
    std::string rocksdb_path = "./data/retain/{node}";  // {node} already replaced after load
    std::size_t rocksdb_cache_capacity = 64 * 1024 * 1024;
    std::string redis_url = "redis://127.0.0.1:6379/";
    std::string redis_prefix = "retain-{node}";    // {node} already replaced after load
    std::size_t max_retained_messages = 0;         // 0 = unlimited
    std::size_t max_payload_size = 1024 * 1024;    // bigger: not retained
    std::optional<duration> retained_message_ttl;  // unset: message expiry applies; 0 = never
};

// etc/plugins/rmqtt-shared-subscription.toml
struct shared_subscription_config {
    enum class strategy {
        random,
        round_robin,
        round_robin_per_group,
        sticky,
        hash_clientid,
        hash_topic,
        local
    };
    strategy strat = strategy::round_robin;
    std::size_t sticky_cache_size = 100000;  // LRU bindings kept by the sticky strategy
};

// etc/plugins/rmqtt-auth-scram.toml: MQTT 5.0 enhanced authentication with SCRAM-SHA-256
// (RFC 5802, RFC 7677). The loader checks the forms below; the plugin derives the keys of users
// given with a password when it starts.
struct auth_scram_config {
    static constexpr std::uint32_t min_iterations = 4096;  // RFC 7677 section 4
    static constexpr std::uint32_t max_iterations = 10'000'000;
    struct user {
        std::string username;  // as the client means it, before SCRAM's "=2C" / "=3D" escaping
        // Either a password (salted and hashed at start-up) ...
        std::optional<std::string> password;
        // ... or the stored form of RFC 5802 section 3 (set when `password` is not): base64 as
        // written in the file, validated by the loader; stored_key and server_key are 32 bytes.
        std::string salt;
        std::string stored_key;
        std::string server_key;
        std::uint32_t iterations = 4096;  // with a password: the file's `iterations` unless set
    };
    std::vector<user> users;          // usernames are unique
    std::uint32_t iterations = 4096;  // default for users given with a password
    // Also check CONNECT User Name / Password against `users` (simple authentication).
    bool allow_plain_password_connect = false;
};

struct config {
    std::vector<std::string> source_files;  // what was read, in order
    std::uint64_t node_id = 1;
    std::size_t worker_threads = 0;  // node.workers (rmqttd key); 0 = number of cores
    log_config log;
    std::string plugins_dir = "etc/plugins/";
    std::vector<std::string> plugins_default_startups;
    std::size_t max_sessions = 0;  // mqtt.max_sessions; 0 = unlimited
    std::vector<listener_config> listeners;

    // Plugin settings; read from plugins_dir whether or not the plugin is started.
    session_storage_config session_storage;
    retainer_config retainer;
    shared_subscription_config shared_subscription;
    auth_scram_config auth_scram;

    bool plugin_enabled(std::string_view name) const;  // listed in plugins_default_startups

    // Keys that were present but are not used by rmqttd (RMQTT cluster, rpc, task, ...), and keys
    // nobody knows. The caller logs them; neither is fatal.
    std::vector<std::string> warnings;
};

struct command_line {
    std::string config_file;    // -f / --config
    std::uint64_t node_id = 0;  // --id; 0 = keep node.id
    std::optional<std::vector<std::string>> plugins_default_startups;
    // Accepted-but-ignored flags (RMQTT's cluster flags); load_config copies them into
    // config::warnings so they are logged with the others.
    std::vector<std::string> warnings;
};

// Loads `cl.config_file` (or the default search path when empty: ./etc/rmqtt.toml,
// ./rmqtt.toml, /etc/rmqtt/rmqtt.toml) and the plugin files, applies the command line, replaces
// {node} in paths and prefixes, and adds tcp.external on 0.0.0.0:1883 when no tcp and no tls
// listener is enabled (as RMQTT does). Env: RMQTT_PLUGINS_DEFAULT_STARTUPS ("a b") replaces
// plugins.default_startups; cl.plugins_default_startups replaces it again. Throws config_error.
// Every key is described in docs/configuration.md.
config load_config(const command_line& cl);

// Parsers shared with tests. Accept what RMQTT accepts: durations "30s", "2h", "5m", "100ms",
// "1h30m", "0", bare integers (seconds); sizes "1MB", "3G", "512KB", "1024", "1mb" (1 KB = 1024 B).
// parse_duration fails on a value that is not a whole number of milliseconds ("500us");
// parse_duration_us takes those too ("500us", "1ms", "2s").
std::optional<duration> parse_duration(std::string_view text) noexcept;
std::optional<std::chrono::microseconds> parse_duration_us(std::string_view text) noexcept;
std::optional<std::uint64_t> parse_size(std::string_view text) noexcept;

}  // namespace rmqtt::broker
