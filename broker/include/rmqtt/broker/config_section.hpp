#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

// Configuration values as plugins see them. Part of the plugin API.
//
// The core reads each file (rmqtt.toml, <plugins.dir>/rmqtt-<plugin>.toml) into a tree of
// config_node values; a plugin gets the section of its own file and reads it with the typed
// getters below, which accept RMQTT's forms ("30s", "1MB", ...) and fail with a config_error that
// names the file, the full key, the accepted form and the value found with its line. Keys a
// plugin never reads are reported afterwards as unknown, so a misspelt key never passes
// silently. TOML itself (toml11) stays inside the core's loader.
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

// Value forms shared by the core and the plugins. Accept what RMQTT accepts: durations "30s",
// "2h", "5m", "100ms", "1h30m", "0", bare integers (seconds); sizes "1MB", "3G", "512KB", "1024",
// "1mb" (1 KB = 1024 B). parse_duration fails on a value that is not a whole number of
// milliseconds ("500us"); parse_duration_us takes those too ("500us", "1ms", "2s").
std::optional<duration> parse_duration(std::string_view text) noexcept;
std::optional<std::chrono::microseconds> parse_duration_us(std::string_view text) noexcept;
std::optional<std::uint64_t> parse_size(std::string_view text) noexcept;

// The accepted forms as error messages name them ("expected <form>, got ...").
inline constexpr std::string_view duration_form =
    "a duration such as \"30s\", \"500ms\", \"2h\" or \"1h30m\" (units us, ms, s, m, h, d; a "
    "bare number means seconds)";
inline constexpr std::string_view size_form =
    "a size such as \"1MB\", \"512KB\", \"3G\" or 1048576 (units B, K/KB, M/MB, G/GB; 1K = 1024)";

// One value of a configuration file.
struct config_node {
    enum class kind { boolean, integer, floating, string, array, table, other };
    kind type = kind::table;
    bool boolean = false;
    std::int64_t integer = 0;
    double floating = 0;
    std::string string;
    std::vector<config_node> items;                         // kind::array
    std::map<std::string, config_node, std::less<>> table;  // kind::table (sorted: stable output)
    int line = 0;                                           // 0 when unknown

    std::string describe() const;  // "\"30 s\"", "true", "an array", ... for error messages
};

// A table of one file, read by key. Keys are relative to the section ("storage.type" is the key
// "type" of the table "storage"); messages show them in full. A step of a dotted key that holds
// something other than a table ("storage = 5" when "storage.type" is read) is a config_error.
//
// Copies share the record of which keys were read. Not thread-safe: used while configuring.
class config_section {
  public:
    // An empty section (the file does not exist): every getter returns nullopt.
    config_section();
    // `root` is the file's top-level table; `warnings` receives "file: key: message" lines.
    config_section(std::string file, std::shared_ptr<const config_node> root,
                   std::shared_ptr<std::vector<std::string>> warnings);

    const std::string& file() const noexcept { return file_; }
    // The node id (node.id, or --id): "{node}" in paths and prefixes stands for it, as in RMQTT.
    std::uint64_t node_id() const noexcept { return node_id_; }
    void set_node_id(std::uint64_t id) noexcept { node_id_ = id; }
    // `text` with every "{node}" replaced by the node id.
    std::string with_node(std::string text) const;
    bool exists() const noexcept { return root_ != nullptr; }
    bool has(std::string_view key) const;
    // Direct keys of this table, sorted.
    std::vector<std::string> keys() const;

    // Typed getters: nullopt when the key is absent, config_error when it holds something else.
    std::optional<bool> get_bool(std::string_view key) const;
    std::optional<std::int64_t> get_int(
        std::string_view key, std::int64_t lo = 0,
        std::int64_t hi = std::numeric_limits<std::int64_t>::max()) const;
    std::optional<double> get_number(std::string_view key) const;  // integer or float
    std::optional<std::string> get_string(std::string_view key) const;
    // One of `choices`, compared case-insensitively; returns the choice as written there.
    std::optional<std::string> get_choice(std::string_view key,
                                          std::initializer_list<std::string_view> choices) const;
    std::optional<std::vector<std::string>> get_strings(std::string_view key) const;
    // A duration in whole milliseconds ("30s", 15 = seconds).
    std::optional<duration> get_duration(std::string_view key) const;
    // The same, greater than zero.
    std::optional<duration> get_positive_duration(std::string_view key) const;
    // A duration that may be below a millisecond ("500us").
    std::optional<std::chrono::microseconds> get_duration_us(std::string_view key) const;
    std::optional<std::uint64_t> get_size(
        std::string_view key, std::uint64_t lo = 0,
        std::uint64_t hi = std::numeric_limits<std::uint64_t>::max()) const;
    // A sub-table ("storage.redis") as a section; nullopt when absent.
    std::optional<config_section> get_table(std::string_view key) const;
    // An array of tables ([[users]]); empty when absent. The sections' keys show as
    // "users[0].username".
    std::vector<config_section> get_tables(std::string_view key) const;
    // The raw value, for forms the getters above do not cover (the caller checks it and calls
    // fail_value); nullptr when absent. Marks `key` as read, like the getters.
    const config_node* get_node(std::string_view key) const;

    // Marks `key` as read without using it: for keys kept only so RMQTT files load. Its value is
    // still type-checked by the caller's getter if it wants; reported as `note` ("accepted for
    // RMQTT compatibility, not used") when present (no report when `note` is empty). A table
    // accepted this way is accepted whole: keys inside it are not reported as unknown.
    void accept_unused(std::string_view key, std::string_view note) const;

    // "file: key: message".
    [[noreturn]] void fail(std::string_view key, std::string_view message) const;
    // "file: key: expected <expected>, got <value> (line N)", for the value present at `key`.
    [[noreturn]] void fail_value(std::string_view key, std::string_view expected) const;
    void warn(std::string_view key, std::string_view message) const;

    // Adds an "unknown key, ignored" warning for every key present in this section (and its
    // sub-tables) that no getter read. Call once, after the owner has read everything (the core
    // does, for each file, once its parser has read it).
    void report_unknown() const;

    // The full key of `key` ("listener.tcp.external.addr"); full_key("") is the section's own
    // key ("users[0]"), so fail("", ...) names the section.
    std::string full_key(std::string_view key) const;

  private:
    config_section(const config_section& parent, std::string prefix, const config_node* node);
    const config_node* find(std::string_view key) const;
    const config_node& require(std::string_view key) const;
    void mark(std::string_view key) const;
    const config_node* take(std::string_view key) const;  // find, and mark when present
    [[noreturn]] void fail_node(std::string_view full_key, const config_node& n,
                                std::string_view expected) const;

    std::string file_;
    std::shared_ptr<const config_node> root_;
    const config_node* node_ = nullptr;  // this section's table inside root_
    std::string prefix_;                 // "" or "storage.redis"
    std::uint64_t node_id_ = 1;
    std::shared_ptr<std::vector<std::string>> warnings_;
    std::shared_ptr<std::set<std::string, std::less<>>> read_;  // full keys read
};

// RMQTT's `circuit_breaker` table (rmqtt.toml, rmqtt-session-storage.toml, rmqtt-retainer.toml),
// which rmqttd does not use: type-checks the keys RMQTT defines and reports the table once as
// accepted for RMQTT compatibility; other keys in it are left to report_unknown().
void accept_rmqtt_circuit_breaker(const config_section& s);
// The keys it knows, in full ("circuit_breaker.failure_rate_threshold", ...), for the key lists
// of the files that have the table.
std::span<const std::string_view> rmqtt_circuit_breaker_keys() noexcept;

}  // namespace rmqtt::broker
