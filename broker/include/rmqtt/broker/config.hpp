#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "rmqtt/broker/config_section.hpp"

// rmqttd's configuration, read from an RMQTT-style `rmqtt.toml` plus one file per plugin in
// `plugins.dir` (`rmqtt-<plugin>.toml`). Key names, meanings and defaults follow RMQTT
// (shared/reference/rmqtt-surface.md); the loader (config.cpp) is the only place that sees toml11.
namespace rmqtt::broker {

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
    // The window of outbound QoS 1/2 messages awaiting acknowledgement. The default leaves it to
    // the client: a 5.0 client's Receive Maximum caps it [MQTT-3.3.4-7].
    std::uint16_t max_inflight = 65535;
    // Inbound QoS 2 messages awaiting PUBREL per session (3.1.1 has no Receive Maximum); 0 = only
    // the 65,535 packet identifiers bound it.
    std::uint16_t max_awaiting_rel = 1000;
    std::size_t max_mqueue_len = 1000;
    // What happens to a QoS 1/2 message for a connected subscriber whose queue holds
    // max_mqueue_len messages: backpressure (the publishers' acknowledgements wait until the queue
    // drains; nothing is dropped) or drop (the oldest queued message goes, as RMQTT does). Offline
    // sessions and QoS 0 always drop.
    bool mqueue_backpressure = true;
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
enum class log_format { text, json };

struct log_config {
    log_target to = log_target::console;
    std::string level = "info";  // trace, debug, info, warn, error, off
    std::string dir = "/var/log/rmqtt";
    std::string file = "rmqtt.log";
    log_format format = log_format::text;  // log.format (rmqttd key)
    // log.max_file_size / log.max_files (rmqttd keys): the file is rotated when it would grow past
    // max_file_size bytes, keeping max_files older files (rmqtt.1.log is the newest). 0 = one
    // file that never rotates, as RMQTT.
    std::uint64_t max_file_size = 0;
    std::size_t max_files = 5;
};

struct config {
    std::vector<std::string> source_files;  // what was read, in order
    std::uint64_t node_id = 1;
    std::size_t worker_threads = 0;  // node.workers (rmqttd key); 0 = number of cores
    // node.busy_poll (rmqttd key): how long a worker polls for more events before it sleeps
    // (net/worker_loop.hpp); 0 = never.
    std::chrono::microseconds worker_busy_poll{50};
    log_config log;
    std::string plugins_dir = "etc/plugins/";
    std::vector<std::string> plugins_default_startups;
    std::size_t max_sessions = 0;  // mqtt.max_sessions; 0 = unlimited
    std::vector<listener_config> listeners;

    // The section of each plugin file read, by plugin name ("rmqtt-retainer"): an empty section
    // when the file does not exist. The plugins read them (plugin::configure); warnings they
    // report go to `plugin_warnings`, which the sections share.
    std::map<std::string, config_section, std::less<>> plugin_sections;
    std::shared_ptr<std::vector<std::string>> plugin_warnings =
        std::make_shared<std::vector<std::string>>();

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
// ./rmqtt.toml, /etc/rmqtt/rmqtt.toml), applies the command line, reads
// <plugins.dir>/<name>.toml for each of `plugin_files` into config::plugin_sections (the
// plugins parse them), and adds tcp.external on 0.0.0.0:1883 when no tcp and no tls listener is
// enabled (as RMQTT does). Env: RMQTT_PLUGINS_DEFAULT_STARTUPS ("a b") replaces
// plugins.default_startups; cl.plugins_default_startups replaces it again. Throws config_error.
// Every key is described in docs/configuration.md.
config load_config(const command_line& cl, std::span<const std::string_view> plugin_files = {});

// The keys load_config knows in rmqtt.toml, in full ("node.id", "task.exec_workers", ...), and
// those of a listener, relative to listener.<type>.<name> ("addr", "max_inflight", ...); both
// include the keys kept only for RMQTT compatibility ("listener.quic" stands for every QUIC
// listener). docs/configuration.md documents each of them (tests/unit/config checks both ways).
std::span<const std::string_view> main_config_keys();
std::span<const std::string_view> listener_config_keys();

// Reads one TOML file into a section (the whole file); `warnings` receives what its readers
// report. Throws config_error when the file cannot be read or is not valid TOML.
config_section read_config_file(const std::string& path,
                                std::shared_ptr<std::vector<std::string>> warnings);
// The same for TOML text held in memory (tests, fuzz targets); `name` stands for the file in
// messages.
config_section parse_config_text(std::string_view text, std::string name,
                                 std::shared_ptr<std::vector<std::string>> warnings);

}  // namespace rmqtt::broker
