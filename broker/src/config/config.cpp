// The configuration loader: the only file that sees toml11. Reads an RMQTT-shaped rmqtt.toml and
// the plugin files, type-checks every key it knows, warns about keys it does not use, and throws
// config_error (file, key, accepted form, bad value) for anything it cannot use.
#include "rmqtt/broker/config.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <span>
#include <sstream>
#include <toml.hpp>
#include <utility>

namespace rmqtt::broker {

using plugins::auth_scram_config;
using plugins::retainer_config;
using plugins::shared_subscription_config;

std::string_view to_string(listener_kind k) noexcept {
    switch (k) {
        case listener_kind::tcp:
            return "tcp";
        case listener_kind::tls:
            return "tls";
        case listener_kind::ws:
            return "ws";
        case listener_kind::wss:
            return "wss";
    }
    return "?";
}

std::string listener_config::id() const {
    return fmt::format("{}.{}", to_string(kind), name);
}

bool config::plugin_enabled(std::string_view name) const {
    return std::find(plugins_default_startups.begin(), plugins_default_startups.end(), name) !=
           plugins_default_startups.end();
}

namespace {

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
        s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
        s.remove_suffix(1);
    return s;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}

// Reads the digits at the front of `s` into `value`; false on none or on overflow.
bool take_number(std::string_view& s, std::uint64_t& value) noexcept {
    std::size_t i = 0;
    value = 0;
    while (i < s.size() && is_digit(s[i])) {
        const auto d = static_cast<std::uint64_t>(s[i] - '0');
        if (value > (std::numeric_limits<std::uint64_t>::max() - d) / 10) return false;
        value = value * 10 + d;
        ++i;
    }
    if (i == 0) return false;
    s.remove_prefix(i);
    return true;
}

bool checked_mul_add(std::uint64_t& total, std::uint64_t value, std::uint64_t unit,
                     std::uint64_t limit) noexcept {
    if (value != 0 && unit > limit / value) return false;
    const std::uint64_t part = value * unit;
    if (part > limit - total) return false;
    total += part;
    return true;
}

}  // namespace

std::optional<std::chrono::microseconds> parse_duration_us(std::string_view text) noexcept {
    constexpr auto limit = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    text = trim(text);
    if (text.empty()) return std::nullopt;
    std::uint64_t total = 0;
    if (std::all_of(text.begin(), text.end(), is_digit)) {  // a bare number means seconds
        std::uint64_t secs = 0;
        if (!take_number(text, secs) || !checked_mul_add(total, secs, 1'000'000, limit)) {
            return std::nullopt;
        }
        return std::chrono::microseconds(static_cast<std::int64_t>(total));
    }
    while (!text.empty()) {  // one or more <number><unit>, e.g. "1h30m", "1h 30m", "500us"
        std::uint64_t value = 0;
        if (!take_number(text, value)) return std::nullopt;
        text = trim(text);
        std::size_t n = 0;
        while (n < text.size() && std::isalpha(static_cast<unsigned char>(text[n])))
            ++n;
        const std::string unit = lower(text.substr(0, n));
        text = trim(text.substr(n));
        std::uint64_t mult = 0;
        if (unit == "us") {
            mult = 1;
        } else if (unit == "ms") {
            mult = 1'000;
        } else if (unit == "s") {
            mult = 1'000'000;
        } else if (unit == "m") {
            mult = 60'000'000;
        } else if (unit == "h") {
            mult = 3'600'000'000;
        } else if (unit == "d") {
            mult = 86'400'000'000;
        } else {
            return std::nullopt;
        }
        if (!checked_mul_add(total, value, mult, limit)) return std::nullopt;
    }
    return std::chrono::microseconds(static_cast<std::int64_t>(total));
}

std::optional<duration> parse_duration(std::string_view text) noexcept {
    const auto us = parse_duration_us(text);
    if (!us || us->count() % 1000 != 0) return std::nullopt;
    return std::chrono::duration_cast<duration>(*us);
}

std::optional<std::uint64_t> parse_size(std::string_view text) noexcept {
    text = trim(text);
    std::uint64_t value = 0;
    if (!take_number(text, value)) return std::nullopt;
    const std::string unit = lower(trim(text));
    std::uint64_t mult = 0;
    if (unit.empty() || unit == "b") {
        mult = 1;
    } else if (unit == "k" || unit == "kb" || unit == "kib") {
        mult = 1ULL << 10;
    } else if (unit == "m" || unit == "mb" || unit == "mib") {
        mult = 1ULL << 20;
    } else if (unit == "g" || unit == "gb" || unit == "gib") {
        mult = 1ULL << 30;
    } else {
        return std::nullopt;
    }
    std::uint64_t total = 0;
    if (!checked_mul_add(total, value, mult, std::numeric_limits<std::uint64_t>::max())) {
        return std::nullopt;
    }
    return total;
}

namespace {

// std::map keeps keys sorted, so warnings come out in a stable order.
using tvalue = toml::basic_value<toml::discard_comments, std::map, std::vector>;
using ttable = tvalue::table_type;

constexpr std::string_view duration_form =
    "a duration such as \"30s\", \"500ms\", \"2h\" or \"1h30m\" (units us, ms, s, m, h, d; a "
    "bare number means seconds)";
constexpr std::string_view size_form =
    "a size such as \"1MB\", \"512KB\", \"3G\" or 1048576 (units B, K/KB, M/MB, G/GB; 1K = 1024)";
constexpr std::string_view addr_form =
    "\"host:port\" such as \"0.0.0.0:1883\" or \"[::]:1883\" (port 1 to 65535)";
constexpr std::string_view rate_form =
    "\"burst,period\" such as \"1000,1s\" (burst 1 to 4294967295, period at least 1ms)";
constexpr std::string_view unused_note = "not used by rmqttd, ignored";
constexpr std::string_view unknown_note = "unknown key, ignored";
constexpr std::string_view compat_note = "accepted for RMQTT compatibility, not used";

std::string join(std::string_view prefix, std::string_view key) {
    return prefix.empty() ? std::string(key) : fmt::format("{}.{}", prefix, key);
}

std::string describe(const tvalue& v) {
    switch (v.type()) {
        case toml::value_t::boolean:
            return v.as_boolean() ? "true" : "false";
        case toml::value_t::integer:
            return std::to_string(v.as_integer());
        case toml::value_t::floating:
            return fmt::format("{}", v.as_floating());
        case toml::value_t::string:
            return fmt::format("\"{}\"", v.as_string().str);
        case toml::value_t::array:
            return "an array";
        case toml::value_t::table:
            return "a table";
        default:
            return "a date/time";
    }
}

std::string range_text(std::int64_t lo, std::int64_t hi) {
    if (hi == std::numeric_limits<std::int64_t>::max()) return fmt::format("an integer >= {}", lo);
    return fmt::format("an integer from {} to {}", lo, hi);
}

struct host_port {
    std::string host;
    std::uint16_t port = 0;
};

bool valid_hostname(std::string_view h) {
    if (h.empty() || h.size() > 253 || h.front() == '-' || h.front() == '.') return false;
    return std::all_of(h.begin(), h.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.';
    });
}

// "host:port", "[v6]:port", ":port" (all addresses). The host is an IP literal or a host name.
std::optional<host_port> parse_host_port(std::string_view s) {
    s = trim(s);
    host_port out;
    std::string_view port_text;
    if (!s.empty() && s.front() == '[') {
        const auto close = s.find(']');
        if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':') {
            return std::nullopt;
        }
        out.host = std::string(s.substr(1, close - 1));
        port_text = s.substr(close + 2);
        in6_addr a6{};
        if (inet_pton(AF_INET6, out.host.c_str(), &a6) != 1) return std::nullopt;
    } else {
        const auto colon = s.rfind(':');
        if (colon == std::string_view::npos) return std::nullopt;
        out.host = std::string(s.substr(0, colon));
        port_text = s.substr(colon + 1);
        if (out.host.empty()) out.host = "0.0.0.0";
        const bool numeric = std::all_of(out.host.begin(), out.host.end(),
                                         [](char c) { return is_digit(c) || c == '.'; });
        in_addr a4{};
        if (numeric ? inet_pton(AF_INET, out.host.c_str(), &a4) != 1 : !valid_hostname(out.host)) {
            return std::nullopt;
        }
    }
    std::uint64_t port = 0;
    if (!take_number(port_text, port) || !port_text.empty() || port == 0 || port > 65535) {
        return std::nullopt;
    }
    out.port = static_cast<std::uint16_t>(port);
    return out;
}

// Typed access to the values of one file. Every failure names the file, the full key, the
// accepted form and the value found (with its line).
class reader {
  public:
    reader(std::string file, std::vector<std::string>& warnings)
        : file_(std::move(file)), warnings_(warnings) {}

    const std::string& file() const noexcept { return file_; }

    [[noreturn]] void fail(std::string_view key, const tvalue& v, std::string_view expected) const {
        throw config_error(
            fmt::format("{}: {}: expected {}, got {}{}", file_, key, expected, describe(v), at(v)));
    }
    [[noreturn]] void fail_msg(std::string_view key, std::string_view msg) const {
        throw config_error(fmt::format("{}: {}: {}", file_, key, msg));
    }
    void warn(std::string_view key, std::string_view msg) {
        warnings_.push_back(fmt::format("{}: {}: {}", file_, key, msg));
    }

    static std::string at(const tvalue& v) {
        const auto line = v.location().line();
        return line > 0 ? fmt::format(" (line {})", line) : std::string();
    }

    const ttable& table(std::string_view key, const tvalue& v) const {
        if (!v.is_table()) fail(key, v, "a table");
        return v.as_table();
    }
    bool boolean(std::string_view key, const tvalue& v) const {
        if (!v.is_boolean()) fail(key, v, "true or false");
        return v.as_boolean();
    }
    std::int64_t integer(std::string_view key, const tvalue& v, std::int64_t lo = 0,
                         std::int64_t hi = std::numeric_limits<std::int64_t>::max()) const {
        if (!v.is_integer() || v.as_integer() < lo || v.as_integer() > hi) {
            fail(key, v, range_text(lo, hi));
        }
        return v.as_integer();
    }
    std::size_t count(std::string_view key, const tvalue& v, std::int64_t lo = 0) const {
        return static_cast<std::size_t>(integer(key, v, lo));
    }
    double number(std::string_view key, const tvalue& v) const {
        if (v.is_integer()) return static_cast<double>(v.as_integer());
        if (!v.is_floating()) fail(key, v, "a number");
        return v.as_floating();
    }
    std::string string(std::string_view key, const tvalue& v) const {
        if (!v.is_string()) fail(key, v, "a string");
        return v.as_string().str;
    }
    // One of `choices`, compared case-insensitively; returns the choice as written there.
    std::string one_of(std::string_view key, const tvalue& v,
                       std::initializer_list<std::string_view> choices) const {
        std::string form = "one of";
        for (auto c : choices)
            form += fmt::format(" \"{}\"", c);
        if (!v.is_string()) fail(key, v, form);
        const std::string got = lower(v.as_string().str);
        for (auto c : choices) {
            if (got == c) return std::string(c);
        }
        fail(key, v, form);
    }
    std::vector<std::string> string_array(std::string_view key, const tvalue& v) const {
        if (!v.is_array()) fail(key, v, "an array of strings such as [\"a\", \"b\"]");
        std::vector<std::string> out;
        for (const auto& e : v.as_array()) {
            if (!e.is_string()) fail(key, e, "an array of strings such as [\"a\", \"b\"]");
            out.push_back(e.as_string().str);
        }
        return out;
    }
    std::chrono::microseconds duration_us(std::string_view key, const tvalue& v) const {
        if (v.is_integer() && v.as_integer() >= 0 &&
            v.as_integer() <= std::numeric_limits<std::int64_t>::max() / 1'000'000) {
            return std::chrono::seconds(v.as_integer());
        }
        if (v.is_string()) {
            if (auto d = parse_duration_us(v.as_string().str)) return *d;
        }
        fail(key, v, duration_form);
    }
    duration duration_ms(std::string_view key, const tvalue& v) const {
        const auto us = duration_us(key, v);
        if (us.count() % 1000 != 0) {
            fail(key, v, fmt::format("{}, in whole milliseconds", duration_form));
        }
        return std::chrono::duration_cast<duration>(us);
    }
    duration positive_duration_ms(std::string_view key, const tvalue& v) const {
        const auto d = duration_ms(key, v);
        if (d.count() == 0) fail(key, v, fmt::format("{}, greater than 0", duration_form));
        return d;
    }
    std::uint64_t size(std::string_view key, const tvalue& v, std::uint64_t lo = 0,
                       std::uint64_t hi = std::numeric_limits<std::uint64_t>::max()) const {
        std::optional<std::uint64_t> n;
        if (v.is_integer() && v.as_integer() >= 0) n = static_cast<std::uint64_t>(v.as_integer());
        if (v.is_string()) n = parse_size(v.as_string().str);
        if (!n) fail(key, v, size_form);
        if (*n < lo || *n > hi) {
            fail(key, v,
                 hi == std::numeric_limits<std::uint64_t>::max()
                     ? fmt::format("{}, at least {} bytes", size_form, lo)
                     : fmt::format("{}, from {} to {} bytes", size_form, lo, hi));
        }
        return *n;
    }
    host_port addr(std::string_view key, const tvalue& v) const {
        if (v.is_string()) {
            if (auto a = parse_host_port(v.as_string().str)) return *a;
        }
        fail(key, v, addr_form);
    }
    std::pair<std::uint32_t, duration> rate_limit(std::string_view key, const tvalue& v) const {
        if (v.is_string()) {
            const std::string_view s = v.as_string().str;
            const auto comma = s.find(',');
            if (comma != std::string_view::npos) {
                std::string_view burst_text = trim(s.substr(0, comma));
                std::uint64_t burst = 0;
                const auto period = parse_duration(s.substr(comma + 1));
                if (take_number(burst_text, burst) && burst_text.empty() && burst >= 1 &&
                    burst <= std::numeric_limits<std::uint32_t>::max() && period &&
                    period->count() > 0) {
                    return {static_cast<std::uint32_t>(burst), *period};
                }
            }
        }
        fail(key, v, rate_form);
    }

  private:
    std::string file_;
    std::vector<std::string>& warnings_;
};

// Type-checks the keys of sections rmqttd accepts but does not use.
enum class kind { boolean, integer, number, string, duration, size, addr, strings, rate, table };

struct field {
    std::string_view name;
    kind k;
};

void check_kind(const reader& r, std::string_view key, const tvalue& v, kind k) {
    switch (k) {
        case kind::boolean:
            (void)r.boolean(key, v);
            break;
        case kind::integer:
            (void)r.integer(key, v);
            break;
        case kind::number:
            (void)r.number(key, v);
            break;
        case kind::string:
            (void)r.string(key, v);
            break;
        case kind::duration:
            (void)r.duration_us(key, v);
            break;
        case kind::size:
            (void)r.size(key, v);
            break;
        case kind::addr:
            (void)r.addr(key, v);
            break;
        case kind::strings:
            (void)r.string_array(key, v);
            break;
        case kind::rate:
            (void)r.rate_limit(key, v);
            break;
        case kind::table:
            (void)r.table(key, v);
            break;
    }
}

const field* find_field(std::span<const field> fields, std::string_view name) {
    for (const auto& f : fields) {
        if (f.name == name) return &f;
    }
    return nullptr;
}

// A whole section kept only so RMQTT files load: type-checked, one warning for the section,
// plus one per key RMQTT does not have either.
void compat_section(reader& r, std::string_view key, const tvalue& v,
                    std::span<const field> fields) {
    for (const auto& [k, val] : r.table(key, v)) {
        const auto sub = join(key, k);
        if (const auto* f = find_field(fields, k)) {
            check_kind(r, sub, val, f->k);
        } else {
            r.warn(sub, unknown_note);
        }
    }
    r.warn(key, compat_note);
}

constexpr std::array task_fields{
    field{"exec_workers", kind::integer},       field{"exec_queue_max", kind::integer},
    field{"local_exec_workers", kind::integer}, field{"local_exec_queue_max", kind::integer},
    field{"local_exec_rate_limit", kind::rate},
};
constexpr std::array busy_fields{
    field{"check_enable", kind::boolean}, field{"update_interval", kind::duration},
    field{"loadavg", kind::number},       field{"cpuloadavg", kind::number},
    field{"handshaking", kind::integer},
};
constexpr std::array rpc_fields{
    field{"server_addr", kind::addr},        field{"server_workers", kind::integer},
    field{"batch_size", kind::integer},      field{"client_concurrency_limit", kind::integer},
    field{"client_timeout", kind::duration}, field{"timeout", kind::duration},
    field{"reuseaddr", kind::boolean},       field{"reuseport", kind::boolean},
};
constexpr std::array circuit_breaker_fields{
    field{"failure_rate_threshold", kind::number},
    field{"sliding_window_type", kind::string},
    field{"sliding_window_size", kind::integer},
    field{"sliding_window_duration", kind::duration},
    field{"minimum_number_of_calls", kind::integer},
    field{"wait_duration_in_open", kind::duration},
    field{"slow_call_duration_threshold", kind::duration},
    field{"slow_call_rate_threshold", kind::number},
    field{"operation_timeout", kind::duration},
    field{"permitted_calls_in_half_open", kind::integer},
};
// RMQTT listener keys rmqttd has no use for (some were removed from RMQTT itself).
constexpr std::array unused_listener_fields{
    field{"workers", kind::integer},
    field{"idle_timeout", kind::duration},
    field{"retain_available", kind::boolean},
    field{"max_awaiting_rel", kind::integer},
    field{"await_rel_timeout", kind::duration},
    field{"max_handshake_rate", kind::integer},
    field{"cert_subject_dn_as_username", kind::boolean},
    field{"collect_cert_info", kind::boolean},
};

bool is_tls(listener_kind k) {
    return k == listener_kind::tls || k == listener_kind::wss;
}
bool is_ws(listener_kind k) {
    return k == listener_kind::ws || k == listener_kind::wss;
}

// Keys every listener kind may carry but only some use: warn where they have no effect.
void only_for(reader& r, const std::string& key, const listener_config& l, bool applies,
              std::string_view kinds) {
    if (!applies) {
        r.warn(key, fmt::format("used only by {} listeners, ignored on a {} listener", kinds,
                                to_string(l.kind)));
    }
}

std::optional<listener_config> parse_listener(reader& r, listener_kind kind,
                                              const std::string& name, const std::string& prefix,
                                              const tvalue& v) {
    listener_config l;
    l.kind = kind;
    l.name = name;
    bool has_addr = false;
    for (const auto& [k, val] : r.table(prefix, v)) {
        const std::string key = join(prefix, k);
        if (k == "enable") {
            l.enable = r.boolean(key, val);
        } else if (k == "addr") {
            const auto a = r.addr(key, val);
            l.host = a.host;
            l.port = a.port;
            has_addr = true;
        } else if (k == "max_connections") {
            l.max_connections = r.count(key, val, 1);
        } else if (k == "max_handshaking_limit") {
            l.max_handshaking_limit = r.count(key, val, 1);
        } else if (k == "handshake_timeout") {
            l.handshake_timeout = r.positive_duration_ms(key, val);
        } else if (k == "max_packet_size") {
            l.max_packet_size = static_cast<std::uint32_t>(
                r.size(key, val, 0, std::numeric_limits<std::uint32_t>::max()));
        } else if (k == "backlog") {
            l.backlog = static_cast<int>(r.integer(key, val, 1, std::numeric_limits<int>::max()));
        } else if (k == "nodelay") {
            l.nodelay = r.boolean(key, val);
        } else if (k == "reuseaddr") {
            l.reuseaddr = r.boolean(key, val);
        } else if (k == "reuseport") {
            l.reuseport = r.boolean(key, val);
        } else if (k == "tcp_keepalive") {
            l.tcp_keepalive = r.boolean(key, val);
        } else if (k == "allow_anonymous") {
            l.allow_anonymous = r.boolean(key, val);
        } else if (k == "allow_zero_keepalive") {
            l.allow_zero_keepalive = r.boolean(key, val);
        } else if (k == "min_keepalive") {
            l.min_keepalive = static_cast<std::uint16_t>(r.integer(key, val, 0, 65535));
        } else if (k == "max_keepalive") {
            l.max_keepalive = static_cast<std::uint16_t>(r.integer(key, val, 0, 65535));
        } else if (k == "keepalive_backoff") {
            l.keepalive_backoff = r.number(key, val);
            if (!(l.keepalive_backoff > 0.0) || l.keepalive_backoff > 1000.0) {
                r.fail(key, val,
                       "a number greater than 0 such as 0.75 (timeout = keepalive x "
                       "backoff x 2)");
            }
        } else if (k == "max_inflight") {
            l.max_inflight = static_cast<std::uint16_t>(r.integer(key, val, 1, 65535));
        } else if (k == "max_mqueue_len") {
            l.max_mqueue_len = r.count(key, val);
        } else if (k == "mqueue_rate_limit") {
            std::tie(l.mqueue_rate_limit_burst, l.mqueue_rate_limit_period) =
                r.rate_limit(key, val);
        } else if (k == "max_clientid_len") {
            l.max_clientid_len = static_cast<std::size_t>(r.integer(key, val, 1, 65535));
        } else if (k == "max_qos_allowed") {
            l.max_qos_allowed = static_cast<std::uint8_t>(r.integer(key, val, 0, 2));
        } else if (k == "max_topic_levels") {
            l.max_topic_levels = r.count(key, val);
        } else if (k == "session_expiry_interval") {
            l.session_expiry_interval = r.duration_ms(key, val);
        } else if (k == "max_session_expiry_interval") {
            l.max_session_expiry_interval = r.duration_ms(key, val);
        } else if (k == "message_retry_interval") {
            l.message_retry_interval = r.duration_ms(key, val);
        } else if (k == "message_expiry_interval") {
            l.message_expiry_interval = r.duration_ms(key, val);
        } else if (k == "max_subscriptions") {
            l.max_subscriptions = r.count(key, val);
        } else if (k == "shared_subscription") {
            l.shared_subscription = r.boolean(key, val);
        } else if (k == "max_topic_aliases") {
            l.max_topic_aliases = static_cast<std::uint16_t>(r.integer(key, val, 0, 65535));
        } else if (k == "limit_subscription") {
            l.limit_subscription = r.boolean(key, val);
        } else if (k == "delayed_publish") {
            l.delayed_publish = r.boolean(key, val);
        } else if (k == "proxy_protocol") {
            l.proxy_protocol = r.boolean(key, val);
        } else if (k == "proxy_protocol_timeout") {
            l.proxy_protocol_timeout = r.positive_duration_ms(key, val);
        } else if (k == "cross_certificate") {
            l.cross_certificate = r.boolean(key, val);
            only_for(r, key, l, is_tls(kind), "tls and wss");
        } else if (k == "cert") {
            l.cert = r.string(key, val);
            only_for(r, key, l, is_tls(kind), "tls and wss");
        } else if (k == "key") {
            l.key = r.string(key, val);
            only_for(r, key, l, is_tls(kind), "tls and wss");
        } else if (k == "client_ca_certs") {
            l.client_ca_certs = r.string(key, val);
            only_for(r, key, l, is_tls(kind), "tls and wss");
        } else if (k == "cert_cn_as_username") {
            l.cert_cn_as_username = r.boolean(key, val);
            only_for(r, key, l, is_tls(kind), "tls and wss");
        } else if (k == "ws_path") {
            l.ws_path = r.string(key, val);
            if (!l.ws_path.empty() && l.ws_path.front() != '/') {
                r.fail(key, val, "a path starting with \"/\" such as \"/mqtt\", or \"\" for any");
            }
            only_for(r, key, l, is_ws(kind), "ws and wss");
        } else if (const auto* f = find_field(unused_listener_fields, k)) {
            check_kind(r, key, val, f->k);
            r.warn(key, unused_note);
        } else {
            r.warn(key, unknown_note);
        }
    }
    if (!l.enable) return std::nullopt;  // RMQTT drops disabled listeners before anything else
    if (!has_addr) {
        r.fail_msg(join(prefix, "addr"), fmt::format("missing; expected {}", addr_form));
    }
    if (l.min_keepalive > l.max_keepalive) {
        r.fail_msg(join(prefix, "min_keepalive"),
                   fmt::format("expected a value <= max_keepalive ({}), got {}", l.max_keepalive,
                               l.min_keepalive));
    }
    if (is_tls(kind)) {
        for (auto [field_name, value] :
             {std::pair<std::string_view, const std::string*>{"cert", &l.cert}, {"key", &l.key}}) {
            if (value->empty()) {
                r.fail_msg(join(prefix, field_name),
                           fmt::format("missing; a {} listener needs cert and key: expected the "
                                       "path of a PEM file such as \"./etc/rmqtt.pem\"",
                                       to_string(kind)));
            }
        }
    }
    return l;
}

void parse_listeners(reader& r, const tvalue& v, std::vector<listener_config>& out) {
    static constexpr std::array<std::pair<std::string_view, listener_kind>, 4> kinds{{
        {"tcp", listener_kind::tcp},
        {"tls", listener_kind::tls},
        {"ws", listener_kind::ws},
        {"wss", listener_kind::wss},
    }};
    const auto& t = r.table("listener", v);
    // In kind order first (tcp, tls, ws, wss), then by name: a stable, readable order.
    for (const auto& [kind_name, kind] : kinds) {
        const auto it = t.find(std::string(kind_name));
        if (it == t.end()) continue;
        const std::string kind_key = join("listener", kind_name);
        for (const auto& [name, lv] : r.table(kind_key, it->second)) {
            if (auto l = parse_listener(r, kind, name, join(kind_key, name), lv)) {
                out.push_back(std::move(*l));
            }
        }
    }
    for (const auto& [kind_name, kv] : t) {
        const std::string kind_key = join("listener", kind_name);
        if (kind_name == "quic") {
            for (const auto& [name, lv] : r.table(kind_key, kv)) {
                (void)r.table(join(kind_key, name), lv);
                r.warn(join(kind_key, name), "QUIC listeners are not used by rmqttd, ignored");
            }
        } else if (std::none_of(kinds.begin(), kinds.end(), [&kind_key](const auto& p) {
                       return kind_key == join("listener", p.first);
                   })) {
            r.warn(kind_key, "unknown listener type (accepted: tcp, tls, ws, wss), ignored");
        }
    }
}

struct main_extras {
    std::vector<std::string> disabled_default_startups;
};

void parse_main(reader& r, const tvalue& root, config& cfg, main_extras& extras) {
    for (const auto& [section, v] : r.table("(top level)", root)) {
        if (section == "node") {
            for (const auto& [k, val] : r.table(section, v)) {
                const auto key = join(section, k);
                if (k == "id") {
                    cfg.node_id = static_cast<std::uint64_t>(r.integer(key, val, 0));
                } else if (k == "workers") {
                    cfg.worker_threads = r.count(key, val);
                    if (cfg.worker_threads > 1024) {
                        r.fail(key, val, "an integer from 0 (number of cores) to 1024");
                    }
                } else if (k == "busy") {
                    compat_section(r, key, val, busy_fields);
                } else if (k == "cookie" || k == "crash_dump") {
                    (void)r.string(key, val);
                    r.warn(key, unused_note);
                } else {
                    r.warn(key, unknown_note);
                }
            }
        } else if (section == "log") {
            for (const auto& [k, val] : r.table(section, v)) {
                const auto key = join(section, k);
                if (k == "to") {
                    const auto to = r.one_of(key, val, {"off", "file", "console", "both"});
                    cfg.log.to = to == "off"       ? log_target::off
                                 : to == "file"    ? log_target::file
                                 : to == "console" ? log_target::console
                                                   : log_target::both;
                } else if (k == "level") {
                    cfg.log.level =
                        r.one_of(key, val, {"trace", "debug", "info", "warn", "error", "off"});
                } else if (k == "dir") {
                    cfg.log.dir = r.string(key, val);
                } else if (k == "file") {
                    cfg.log.file = r.string(key, val);
                    if (cfg.log.file.empty()) r.fail(key, val, "a file name such as \"rmqtt.log\"");
                } else {
                    r.warn(key, unknown_note);
                }
            }
        } else if (section == "plugins") {
            for (const auto& [k, val] : r.table(section, v)) {
                const auto key = join(section, k);
                if (k == "dir") {
                    cfg.plugins_dir = r.string(key, val);
                } else if (k == "default_startups") {
                    cfg.plugins_default_startups = r.string_array(key, val);
                } else if (k == "disabled_default_startups") {
                    extras.disabled_default_startups = r.string_array(key, val);
                } else {
                    r.warn(key, unknown_note);
                }
            }
        } else if (section == "mqtt") {
            for (const auto& [k, val] : r.table(section, v)) {
                const auto key = join(section, k);
                if (k == "max_sessions") {
                    cfg.max_sessions = r.count(key, val);
                } else if (k == "delayed_publish_max") {
                    (void)r.integer(key, val);
                    r.warn(key, compat_note);
                } else if (k == "delayed_publish_immediate") {
                    (void)r.boolean(key, val);
                    r.warn(key, compat_note);
                } else {
                    r.warn(key, unknown_note);
                }
            }
        } else if (section == "listener") {
            parse_listeners(r, v, cfg.listeners);
        } else if (section == "task") {
            compat_section(r, section, v, task_fields);
        } else if (section == "rpc") {
            compat_section(r, section, v, rpc_fields);
        } else if (section == "circuit_breaker") {
            compat_section(r, section, v, circuit_breaker_fields);
        } else if (section == "inner_api_addr") {  // RMQTT before 0.3
            (void)r.addr(section, v);
            r.warn(section, unused_note);
        } else {
            r.warn(section, unknown_note);
        }
    }
}

// The storage.* table shared by the session-storage and retainer files.
struct storage_keys {
    std::optional<std::string> type;
    const tvalue* type_value = nullptr;
    std::optional<std::string> sled_path, rocksdb_path, redis_url, redis_prefix;
    std::optional<std::uint64_t> sled_cache, rocksdb_cache;
};

void parse_storage(reader& r, const tvalue& v, storage_keys& s,
                   std::initializer_list<std::string_view> types, bool has_redis_cluster) {
    for (const auto& [k, val] : r.table("storage", v)) {
        const auto key = join("storage", k);
        if (k == "type") {
            s.type = r.one_of(key, val, types);
            s.type_value = &val;
        } else if (k == "sled" || k == "rocksdb") {
            const bool sled = k == "sled";
            for (const auto& [sk, sv] : r.table(key, val)) {
                const auto skey = join(key, sk);
                if (sk == "path") {
                    (sled ? s.sled_path : s.rocksdb_path) = r.string(skey, sv);
                    if ((sled ? s.sled_path : s.rocksdb_path)->empty()) {
                        r.fail(skey, sv, "a directory path such as \"./data/session/{node}\"");
                    }
                } else if (sk == "cache_capacity") {
                    (sled ? s.sled_cache : s.rocksdb_cache) = r.size(skey, sv);
                } else if (sled && (sk == "gc_at_hour" || sk == "gc_at_minute")) {
                    (void)r.integer(skey, sv, 0, sk == "gc_at_hour" ? 23 : 59);
                    r.warn(skey, unused_note);
                } else {
                    r.warn(skey, unknown_note);
                }
            }
        } else if (k == "redis") {
            for (const auto& [sk, sv] : r.table(key, val)) {
                const auto skey = join(key, sk);
                if (sk == "url") {
                    s.redis_url = r.string(skey, sv);
                    if (s.redis_url->rfind("redis://", 0) != 0) {
                        r.fail(skey, sv, "a URL such as \"redis://127.0.0.1:6379/\"");
                    }
                } else if (sk == "prefix") {
                    s.redis_prefix = r.string(skey, sv);
                } else {
                    r.warn(skey, unknown_note);
                }
            }
        } else if (k == "redis-cluster" && has_redis_cluster) {
            for (const auto& [sk, sv] : r.table(key, val)) {
                const auto skey = join(key, sk);
                if (sk == "urls") {
                    (void)r.string_array(skey, sv);
                } else if (sk == "prefix") {
                    (void)r.string(skey, sv);
                } else {
                    r.warn(skey, unknown_note);
                }
            }
            r.warn(key, "not used by rmqttd (Redis Cluster is not supported yet), ignored");
        } else {
            r.warn(key, unknown_note);
        }
    }
}

void parse_session_storage(reader& r, const tvalue& root, session_storage_config& s) {
    storage_keys st;
    for (const auto& [k, v] : r.table("(top level)", root)) {
        if (k == "storage") {
            parse_storage(r, v, st, {"rocksdb", "sled", "redis", "redis-cluster"}, true);
        } else if (k == "ack") {
            s.ack = r.one_of(k, v, {"durable", "async"}) == "durable"
                        ? session_storage_config::ack_mode::durable
                        : session_storage_config::ack_mode::async;
        } else if (k == "sync") {
            s.sync = r.one_of(k, v, {"none", "always"}) == "none"
                         ? session_storage_config::sync_mode::none
                         : session_storage_config::sync_mode::always;
        } else if (k == "commit_window") {
            s.commit_window = r.duration_us(k, v);
            if (s.commit_window > std::chrono::seconds(1)) {
                r.fail(k, v, fmt::format("{}, at most 1s", duration_form));
            }
        } else if (k == "commit_max_ops") {
            s.commit_max_ops = static_cast<std::size_t>(r.integer(k, v, 1, 1'000'000));
        } else if (k == "backend_timeout") {
            s.backend_timeout = r.duration_ms(k, v);
        } else if (k == "max_pending_bytes") {
            s.max_pending_bytes = static_cast<std::size_t>(r.size(k, v, 1));
        } else if (k == "circuit_breaker") {
            compat_section(r, k, v, circuit_breaker_fields);
        } else {
            r.warn(k, unknown_note);
        }
    }
    const std::string type = st.type.value_or("rocksdb");
    if (type == "redis-cluster") {
        r.fail_msg(
            "storage.type",
            fmt::format("\"redis-cluster\" is not supported yet{}; use \"rocksdb\" (embedded, "
                        "the default) or \"redis\" (one server that several nodes can "
                        "share, each with its own storage.redis.prefix); accepted: "
                        "\"rocksdb\", \"sled\" (served by RocksDB), \"redis\"",
                        reader::at(*st.type_value)));
    }
    if (type == "redis") {
        s.type = session_storage_config::engine::redis;
    } else {
        s.type = session_storage_config::engine::rocksdb;
        s.type_was_sled = type == "sled";
        const auto& path = s.type_was_sled ? st.sled_path : st.rocksdb_path;
        const auto& cache = s.type_was_sled ? st.sled_cache : st.rocksdb_cache;
        if (path) s.rocksdb_path = *path;
        if (cache) s.rocksdb_cache_capacity = static_cast<std::size_t>(*cache);
    }
    if (st.redis_url) s.redis_url = *st.redis_url;
    if (st.redis_prefix) s.redis_prefix = *st.redis_prefix;
}

void parse_retainer(reader& r, const tvalue& root, retainer_config& c) {
    storage_keys st;
    for (const auto& [k, v] : r.table("(top level)", root)) {
        if (k == "storage") {
            parse_storage(r, v, st, {"ram", "rocksdb", "sled", "redis"}, false);
        } else if (k == "max_retained_messages") {
            c.max_retained_messages = r.count(k, v);
        } else if (k == "max_payload_size") {
            c.max_payload_size = static_cast<std::size_t>(r.size(k, v));
        } else if (k == "retained_message_ttl") {
            c.retained_message_ttl = r.duration_ms(k, v);
        } else if (k == "batch_messages_limit") {
            (void)r.integer(k, v, 1);
            r.warn(k, unused_note);
        } else if (k == "backend_timeout") {
            (void)r.duration_us(k, v);
            r.warn(k, unused_note);
        } else if (k == "circuit_breaker") {
            compat_section(r, k, v, circuit_breaker_fields);
        } else {
            r.warn(k, unknown_note);
        }
    }
    const std::string type = st.type.value_or("ram");
    c.type_was_sled = type == "sled";
    c.type = type == "ram"     ? retainer_config::engine::ram
             : type == "redis" ? retainer_config::engine::redis
                               : retainer_config::engine::rocksdb;
    const auto& path = c.type_was_sled ? st.sled_path : st.rocksdb_path;
    const auto& cache = c.type_was_sled ? st.sled_cache : st.rocksdb_cache;
    if (path) c.rocksdb_path = *path;
    if (cache) c.rocksdb_cache_capacity = static_cast<std::size_t>(*cache);
    if (st.redis_url) c.redis_url = *st.redis_url;
    if (st.redis_prefix) c.redis_prefix = *st.redis_prefix;
}

void parse_shared_subscription(reader& r, const tvalue& root, shared_subscription_config& c) {
    using s = plugins::shared_subscription_config::strategy;
    static constexpr std::array<std::pair<std::string_view, s>, 7> names{{
        {"random", s::random},
        {"round_robin", s::round_robin},
        {"round_robin_per_group", s::round_robin_per_group},
        {"sticky", s::sticky},
        {"hash_clientid", s::hash_clientid},
        {"hash_topic", s::hash_topic},
        {"local", s::local},
    }};
    for (const auto& [k, v] : r.table("(top level)", root)) {
        if (k == "strategy") {
            const auto name = r.one_of(k, v,
                                       {"random", "round_robin", "round_robin_per_group", "sticky",
                                        "hash_clientid", "hash_topic", "local"});
            for (const auto& [n, st] : names) {
                if (n == name) c.strat = st;
            }
        } else if (k == "sticky_cache_size") {
            c.sticky_cache_size = r.count(k, v, 1);
        } else {
            r.warn(k, unknown_note);
        }
    }
}

// Decoded length of strict base64 (RFC 4648 section 4: standard alphabet, padded to a multiple
// of 4 characters); nullopt for anything else.
std::optional<std::size_t> base64_size(std::string_view s) {
    if (s.empty() || s.size() % 4 != 0) return std::nullopt;
    std::size_t pad = 0;
    while (pad < 2 && s[s.size() - 1 - pad] == '=')
        ++pad;
    for (std::size_t i = 0; i + pad < s.size(); ++i) {
        const char c = s[i];
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/') {
            return std::nullopt;
        }
    }
    return s.size() / 4 * 3 - pad;
}

constexpr std::string_view scram_user_form =
    "a [[users]] table with username and either password = \"...\" or all of salt, iterations, "
    "stored_key and server_key (the stored form of RFC 5802 section 3, base64)";

std::uint32_t scram_iterations(const reader& r, std::string_view key, const tvalue& v) {
    return static_cast<std::uint32_t>(
        r.integer(key, v, auth_scram_config::min_iterations, auth_scram_config::max_iterations));
}

// One [[users]] entry. Password errors never quote the value.
auth_scram_config::user parse_scram_user(reader& r, const std::string& key, const tvalue& v,
                                         std::optional<std::uint32_t>& iterations) {
    auth_scram_config::user u;
    bool has_username = false;
    for (const auto& [k, val] : r.table(key, v)) {
        const auto sub = join(key, k);
        if (k == "username") {
            u.username = r.string(sub, val);
            if (u.username.empty() || u.username.find('\0') != std::string::npos) {
                r.fail(sub, val, "a non-empty string without NUL characters");
            }
            has_username = true;
        } else if (k == "password") {
            if (!val.is_string() || val.as_string().str.empty()) {
                r.fail_msg(sub, fmt::format("expected a non-empty string{}", reader::at(val)));
            }
            u.password = val.as_string().str;
        } else if (k == "salt") {
            u.salt = r.string(sub, val);
            if (!base64_size(u.salt)) {
                r.fail(sub, val, "non-empty base64 such as \"W22ZaJ0SNY7soEsUEjb6gQ==\"");
            }
        } else if (k == "stored_key" || k == "server_key") {
            auto& target = k == "stored_key" ? u.stored_key : u.server_key;
            target = r.string(sub, val);
            if (base64_size(target) != 32) {
                r.fail(sub, val,
                       "base64 of 32 bytes (a SHA-256 value, 44 characters ending in '=')");
            }
        } else if (k == "iterations") {
            iterations = scram_iterations(r, sub, val);
        } else {
            r.warn(sub, unknown_note);
        }
    }
    if (!has_username) {
        r.fail_msg(join(key, "username"), fmt::format("missing; expected {}", scram_user_form));
    }
    const bool any_stored = !u.salt.empty() || !u.stored_key.empty() || !u.server_key.empty();
    if (u.password && any_stored) {
        r.fail_msg(key, fmt::format("user \"{}\" has both a password and stored keys; expected {}",
                                    u.username, scram_user_form));
    }
    if (!u.password) {
        for (const auto& [name, present] :
             {std::pair<std::string_view, bool>{"salt", !u.salt.empty()},
              {"iterations", iterations.has_value()},
              {"stored_key", !u.stored_key.empty()},
              {"server_key", !u.server_key.empty()}}) {
            if (!present) {
                r.fail_msg(join(key, name), fmt::format("missing for user \"{}\"; expected {}",
                                                        u.username, scram_user_form));
            }
        }
    }
    return u;
}

void parse_auth_scram(reader& r, const tvalue& root, auth_scram_config& c) {
    const tvalue* users = nullptr;
    for (const auto& [k, v] : r.table("(top level)", root)) {
        if (k == "users") {
            users = &v;
        } else if (k == "iterations") {
            c.iterations = scram_iterations(r, k, v);
        } else if (k == "allow_plain_password_connect") {
            c.allow_plain_password_connect = r.boolean(k, v);
        } else {
            r.warn(k, unknown_note);
        }
    }
    if (users == nullptr) return;
    if (!users->is_array()) r.fail("users", *users, scram_user_form);
    std::size_t i = 0;
    for (const auto& e : users->as_array()) {
        const auto key = fmt::format("users[{}]", i++);
        std::optional<std::uint32_t> iterations;
        auto u = parse_scram_user(r, key, e, iterations);
        u.iterations = iterations.value_or(c.iterations);
        for (const auto& other : c.users) {
            if (other.username == u.username) {
                r.fail_msg(
                    join(key, "username"),
                    fmt::format("\"{}\" is listed twice; expected each username once", u.username));
            }
        }
        c.users.push_back(std::move(u));
    }
}

tvalue parse_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw config_error(fmt::format("{}: cannot read the file: {}", path, std::strerror(errno)));
    }
    try {
        return toml::parse<toml::discard_comments, std::map, std::vector>(in, path);
    } catch (const std::exception& e) {
        throw config_error(fmt::format("{}: not valid TOML: {}", path, e.what()));
    }
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
    for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
        s.replace(pos, from.size(), to);
    }
}

std::vector<std::string> split_words(std::string_view s) {
    std::vector<std::string> out;
    std::istringstream in{std::string(s)};
    for (std::string w; in >> w;)
        out.push_back(w);
    return out;
}

void remove_duplicates(std::vector<std::string>& v) {
    std::vector<std::string> out;
    for (auto& s : v) {
        if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(std::move(s));
    }
    v = std::move(out);
}

std::string plugin_file(const std::string& dir, std::string_view plugin) {
    // As RMQTT: trailing separators trimmed, relative to the current directory.
    if (dir.empty()) return fmt::format("{}.toml", plugin);
    std::string d = dir;
    while (!d.empty() && (d.back() == '/' || d.back() == '\\'))
        d.pop_back();
    return fmt::format("{}/{}.toml", d, plugin);
}

template <class Parse, class Target>
void load_plugin(config& cfg, std::string_view plugin, Parse parse, Target& target) {
    const std::string path = plugin_file(cfg.plugins_dir, plugin);
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
        if (cfg.plugin_enabled(plugin)) {
            cfg.warnings.push_back(
                fmt::format("{}: not found, {} uses its default settings", path, plugin));
        }
        return;
    }
    const auto root = parse_file(path);
    reader r(path, cfg.warnings);
    parse(r, root, target);
    cfg.source_files.push_back(path);
}

}  // namespace

config load_config(const command_line& cl) {
    config cfg;
    main_extras extras;
    std::string main_file = cl.config_file;
    if (main_file.empty()) {
        for (const char* candidate :
             {"./etc/rmqtt.toml", "./rmqtt.toml", "/etc/rmqtt/rmqtt.toml"}) {
            std::error_code ec;
            if (std::filesystem::is_regular_file(candidate, ec)) {
                main_file = candidate;
                break;
            }
        }
    }
    if (main_file.empty()) {
        cfg.warnings.push_back(
            "no configuration file given (-f) and none found at ./etc/rmqtt.toml, ./rmqtt.toml or "
            "/etc/rmqtt/rmqtt.toml: using the defaults");
    } else {
        const auto root = parse_file(main_file);
        reader r(main_file, cfg.warnings);
        parse_main(r, root, cfg, extras);
        cfg.source_files.push_back(main_file);
    }

    // Plugin list: file, then the environment (as RMQTT's RMQTT_PLUGINS_DEFAULT_STARTUPS), then
    // the command line, which replaces the list.
    if (const char* env = std::getenv("RMQTT_PLUGINS_DEFAULT_STARTUPS")) {
        cfg.plugins_default_startups = split_words(env);
    }
    std::erase_if(cfg.plugins_default_startups, [&](const std::string& p) {
        return std::find(extras.disabled_default_startups.begin(),
                         extras.disabled_default_startups.end(),
                         p) != extras.disabled_default_startups.end();
    });
    if (cl.plugins_default_startups) {
        cfg.plugins_default_startups.clear();
        for (const auto& arg : *cl.plugins_default_startups) {
            for (auto& w : split_words(arg))
                cfg.plugins_default_startups.push_back(std::move(w));
        }
    }
    remove_duplicates(cfg.plugins_default_startups);
    if (cl.node_id > 0) cfg.node_id = cl.node_id;
    cfg.warnings.insert(cfg.warnings.end(), cl.warnings.begin(), cl.warnings.end());

    load_plugin(cfg, "rmqtt-session-storage", parse_session_storage, cfg.session_storage);
    load_plugin(cfg, "rmqtt-retainer", parse_retainer, cfg.retainer);
    load_plugin(cfg, "rmqtt-shared-subscription", parse_shared_subscription,
                cfg.shared_subscription);
    load_plugin(cfg, "rmqtt-auth-scram", parse_auth_scram, cfg.auth_scram);

    const std::string node = std::to_string(cfg.node_id);
    for (auto* s : {&cfg.session_storage.rocksdb_path, &cfg.session_storage.redis_prefix,
                    &cfg.retainer.rocksdb_path, &cfg.retainer.redis_prefix}) {
        replace_all(*s, "{node}", node);
    }

    const std::string listener_file = main_file.empty() ? "(defaults)" : main_file;
    const bool has_tcp_or_tls = std::any_of(
        cfg.listeners.begin(), cfg.listeners.end(),
        [](auto& l) { return l.kind == listener_kind::tcp || l.kind == listener_kind::tls; });
    if (!has_tcp_or_tls) {  // as RMQTT: a broker always listens for plain MQTT somewhere
        listener_config l;
        l.name = "external";
        cfg.listeners.insert(cfg.listeners.begin(), l);
    }
    for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
        for (std::size_t j = 0; j < i; ++j) {
            const auto& a = cfg.listeners[j];
            const auto& b = cfg.listeners[i];
            if (a.port != b.port) continue;
            const std::string why =
                has_tcp_or_tls ? std::string()
                               : " (no tcp or tls listener is enabled, so rmqttd adds "
                                 "tcp.external on 0.0.0.0:1883 as RMQTT does; add a tcp listener)";
            throw config_error(fmt::format(
                "{}: listener.{}.addr: port {} is already used by listener {}{}; expected a port "
                "no other listener uses (the port is the listener's id)",
                listener_file, b.id(), b.port, a.id(), why));
        }
    }
    return cfg;
}

}  // namespace rmqtt::broker
