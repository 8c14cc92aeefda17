// The configuration loader: the only file that sees toml11. Reads each file (an RMQTT-shaped
// rmqtt.toml, the plugin files) into a config_node tree, reads rmqtt.toml through config_section
// (the listener keys from one table), hands each plugin file to its plugin's parser, and throws
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
#include <type_traits>
#include <utility>

#include "rmqtt/protocol/utf8.hpp"

namespace rmqtt::broker {

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

// ---------------------------------------------------------------------------------------------
// TOML to config_node: the only toml11 code of the broker.

// std::map keeps keys sorted, so warnings come out in a stable order.
using tvalue = toml::basic_value<toml::discard_comments, std::map, std::vector>;

config_node to_node(const tvalue& v) {
    config_node n;
    n.line = static_cast<int>(v.location().line());
    switch (v.type()) {
        case toml::value_t::boolean:
            n.type = config_node::kind::boolean;
            n.boolean = v.as_boolean();
            break;
        case toml::value_t::integer:
            n.type = config_node::kind::integer;
            n.integer = v.as_integer();
            break;
        case toml::value_t::floating:
            n.type = config_node::kind::floating;
            n.floating = v.as_floating();
            break;
        case toml::value_t::string:
            n.type = config_node::kind::string;
            n.string = v.as_string().str;
            break;
        case toml::value_t::array:
            n.type = config_node::kind::array;
            for (const auto& e : v.as_array())
                n.items.push_back(to_node(e));
            break;
        case toml::value_t::table:
            n.type = config_node::kind::table;
            for (const auto& [k, e] : v.as_table())
                n.table.emplace(k, to_node(e));
            break;
        default:
            n.type = config_node::kind::other;
            break;
    }
    return n;
}

// The deepest nesting of arrays and inline tables in TOML text, strings and comments skipped.
// It never counts less than a TOML parser nests: a bracket it takes for string content is one a
// parser would refuse or also take for content.
std::size_t toml_nesting(std::string_view t) {
    std::size_t depth = 0;
    std::size_t deepest = 0;
    for (std::size_t i = 0; i < t.size(); ++i) {
        const char c = t[i];
        if (c == '#') {
            const auto nl = t.find('\n', i);
            if (nl == std::string_view::npos) break;
            i = nl;
        } else if (c == '"' || c == '\'') {
            const bool multi = t.substr(i, 3) == std::string_view(c == '"' ? "\"\"\"" : "\'\'\'");
            const std::string_view close = multi ? t.substr(i, 3) : t.substr(i, 1);
            std::size_t j = i + close.size();
            for (; j < t.size(); ++j) {
                if (c == '"' && t[j] == '\\') {
                    ++j;  // an escaped character
                } else if (t.substr(j, close.size()) == close) {
                    break;
                } else if (!multi && t[j] == '\n') {
                    break;  // a one-line string ends at the line (or is an error)
                }
            }
            i = j + close.size() - 1;
        } else if (c == '[' || c == '{') {
            deepest = std::max(deepest, ++depth);
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return deepest;
}

// Nesting allowed in a configuration file: far more than any uses (rmqtt-acl's rules need 4),
// far less than what overflows the stack of toml11's recursive parser.
constexpr std::size_t max_toml_nesting = 64;

tvalue parse_text(std::string_view text, const std::string& name) {
    // TOML is UTF-8. Checked first: toml11 3.7 reads out of bounds on some invalid UTF-8 in
    // literal strings (toml11 issue #199), which the rmqtt-acl fuzz target found; it also
    // recurses once per nesting level.
    if (!protocol::is_valid_utf8(text)) {
        throw config_error(fmt::format("{}: not valid TOML: not UTF-8 text (or a NUL byte)", name));
    }
    if (toml_nesting(text) > max_toml_nesting) {
        throw config_error(fmt::format(
            "{}: arrays and inline tables nested deeper than {} levels are not accepted", name,
            max_toml_nesting));
    }
    std::istringstream in{std::string(text)};
    try {
        return toml::parse<toml::discard_comments, std::map, std::vector>(in, name);
    } catch (const std::exception& e) {
        throw config_error(fmt::format("{}: not valid TOML: {}", name, e.what()));
    }
}

tvalue parse_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw config_error(fmt::format("{}: cannot read the file: {}", path, std::strerror(errno)));
    }
    std::ostringstream content;
    content << in.rdbuf();
    if (in.bad()) {
        throw config_error(fmt::format("{}: cannot read the file: {}", path, std::strerror(errno)));
    }
    return parse_text(content.str(), path);
}

// ---------------------------------------------------------------------------------------------
// Value forms of the main file

constexpr std::string_view addr_form =
    "\"host:port\" such as \"0.0.0.0:1883\" or \"[::]:1883\" (port 1 to 65535)";
constexpr std::string_view rate_form =
    "\"burst,period\" such as \"1000,1s\" (burst 1 to 4294967295, period at least 1ms)";
constexpr std::string_view unused_note = "not used by rmqttd, ignored";
constexpr std::string_view compat_note = "accepted for RMQTT compatibility, not used";

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

std::optional<host_port> get_addr(const config_section& s, std::string_view key) {
    const auto* n = s.get_node(key);
    if (n == nullptr) return std::nullopt;
    if (n->type == config_node::kind::string) {
        if (auto a = parse_host_port(n->string)) return a;
    }
    s.fail_value(key, addr_form);
}

std::optional<std::pair<std::uint32_t, duration>> get_rate(const config_section& s,
                                                           std::string_view key) {
    const auto* n = s.get_node(key);
    if (n == nullptr) return std::nullopt;
    if (n->type == config_node::kind::string) {
        const std::string_view text = n->string;
        const auto comma = text.find(',');
        if (comma != std::string_view::npos) {
            std::string_view burst_text = trim(text.substr(0, comma));
            std::uint64_t burst = 0;
            const auto period = parse_duration(text.substr(comma + 1));
            if (take_number(burst_text, burst) && burst_text.empty() && burst >= 1 &&
                burst <= std::numeric_limits<std::uint32_t>::max() && period &&
                period->count() > 0) {
                return std::pair{static_cast<std::uint32_t>(burst), *period};
            }
        }
    }
    s.fail_value(key, rate_form);
}

// ---------------------------------------------------------------------------------------------
// Sections rmqttd accepts but does not use: type-checked, one warning for the section; keys
// RMQTT does not have either are reported as unknown.

enum class value_kind { boolean, integer, number, string, duration, addr, rate };

struct field {
    std::string_view name;
    value_kind kind;
};

void check_kind(const config_section& s, std::string_view key, value_kind k) {
    switch (k) {
        case value_kind::boolean:
            (void)s.get_bool(key);
            break;
        case value_kind::integer:
            (void)s.get_int(key);
            break;
        case value_kind::number:
            (void)s.get_number(key);
            break;
        case value_kind::string:
            (void)s.get_string(key);
            break;
        case value_kind::duration:
            (void)s.get_duration_us(key);
            break;
        case value_kind::addr:
            (void)get_addr(s, key);
            break;
        case value_kind::rate:
            (void)get_rate(s, key);
            break;
    }
}

void accept_compat_table(const config_section& s, std::string_view key,
                         std::span<const field> fields) {
    const auto t = s.get_table(key);
    if (!t) return;
    for (const auto& f : fields)
        check_kind(*t, f.name, f.kind);
    s.warn(key, compat_note);
}

constexpr std::array task_fields{
    field{"exec_workers", value_kind::integer},
    field{"exec_queue_max", value_kind::integer},
    field{"local_exec_workers", value_kind::integer},
    field{"local_exec_queue_max", value_kind::integer},
    field{"local_exec_rate_limit", value_kind::rate},
};
constexpr std::array busy_fields{
    field{"check_enable", value_kind::boolean}, field{"update_interval", value_kind::duration},
    field{"loadavg", value_kind::number},       field{"cpuloadavg", value_kind::number},
    field{"handshaking", value_kind::integer},
};
constexpr std::array rpc_fields{
    field{"server_addr", value_kind::addr},
    field{"server_workers", value_kind::integer},
    field{"batch_size", value_kind::integer},
    field{"client_concurrency_limit", value_kind::integer},
    field{"client_timeout", value_kind::duration},
    field{"timeout", value_kind::duration},
    field{"reuseaddr", value_kind::boolean},
    field{"reuseport", value_kind::boolean},
};

// ---------------------------------------------------------------------------------------------
// Listener keys: one row per key, naming the listener_config member it sets (or the function
// that sets several) and how its value is read.

bool is_tls(listener_kind k) {
    return k == listener_kind::tls || k == listener_kind::wss;
}
bool is_ws(listener_kind k) {
    return k == listener_kind::ws || k == listener_kind::wss;
}

enum class listener_kinds { all, tls_wss, ws_wss };

using listener_reader = void (*)(const config_section& s, std::string_view key, listener_config& l);

struct listener_key {
    std::string_view name;
    listener_reader read;  // where the value goes and how it is parsed
    std::string_view doc;
    listener_kinds kinds = listener_kinds::all;  // on other kinds: a warning, no effect
    // For RMQTT switches rmqttd does not implement: `true` on an enabled listener stops the
    // start with this message (false is accepted: RMQTT's shipped files write it).
    std::string_view refused_when_true = {};
};

template <auto Member>
void flag(const config_section& s, std::string_view key, listener_config& l) {
    if (const auto v = s.get_bool(key)) l.*Member = *v;
}

template <auto Member, std::int64_t Lo, std::int64_t Hi = std::numeric_limits<std::int64_t>::max()>
void integer(const config_section& s, std::string_view key, listener_config& l) {
    using type = std::remove_cvref_t<decltype(l.*Member)>;
    if (const auto v = s.get_int(key, Lo, Hi)) l.*Member = static_cast<type>(*v);
}

template <auto Member>
void millis(const config_section& s, std::string_view key, listener_config& l) {
    if (const auto v = s.get_duration(key)) l.*Member = *v;
}

template <auto Member>
void positive_millis(const config_section& s, std::string_view key, listener_config& l) {
    if (const auto v = s.get_positive_duration(key)) l.*Member = *v;
}

template <auto Member, std::uint64_t Hi>
void size(const config_section& s, std::string_view key, listener_config& l) {
    using type = std::remove_cvref_t<decltype(l.*Member)>;
    if (const auto v = s.get_size(key, 0, Hi)) l.*Member = static_cast<type>(*v);
}

template <auto Member>
void text(const config_section& s, std::string_view key, listener_config& l) {
    if (auto v = s.get_string(key)) l.*Member = std::move(*v);
}

// RMQTT keys rmqttd has no use for (some were removed from RMQTT itself).
template <value_kind Kind>
void unused(const config_section& s, std::string_view key, listener_config&) {
    check_kind(s, key, Kind);
    s.accept_unused(key, unused_note);
}

void addr(const config_section& s, std::string_view key, listener_config& l) {
    if (const auto a = get_addr(s, key)) {
        l.host = a->host;
        l.port = a->port;
    }
}

void keepalive_backoff(const config_section& s, std::string_view key, listener_config& l) {
    const auto v = s.get_number(key);
    if (!v) return;
    if (!(*v > 0.0) || *v > 1000.0) {
        s.fail_value(key,
                     "a number greater than 0 such as 0.75 (timeout = keepalive x backoff x 2)");
    }
    l.keepalive_backoff = *v;
}

void mqueue_rate_limit(const config_section& s, std::string_view key, listener_config& l) {
    if (const auto r = get_rate(s, key)) {
        std::tie(l.mqueue_rate_limit_burst, l.mqueue_rate_limit_period) = *r;
    }
}

void mqueue_overflow(const config_section& s, std::string_view key, listener_config& l) {
    if (const auto v = s.get_choice(key, {"backpressure", "drop"}))
        l.mqueue_backpressure = *v == "backpressure";
}

void ws_path(const config_section& s, std::string_view key, listener_config& l) {
    auto v = s.get_string(key);
    if (!v) return;
    if (!v->empty() && v->front() != '/') {
        s.fail_value(key, "a path starting with \"/\" such as \"/mqtt\", or \"\" for any");
    }
    l.ws_path = std::move(*v);
}

using lc = listener_config;
constexpr auto u16_max = std::numeric_limits<std::uint16_t>::max();
constexpr auto u32_max = std::numeric_limits<std::uint32_t>::max();

// `enable` comes first: the rows after it may depend on it.
constexpr std::array listener_keys{
    listener_key{"enable", flag<&lc::enable>, "false drops the listener"},
    listener_key{"addr", addr, "host:port to listen on (required)"},
    listener_key{"max_connections", integer<&lc::max_connections, 1>,
                 "concurrent connections on this listener"},
    listener_key{"max_handshaking_limit", integer<&lc::max_handshaking_limit, 1>,
                 "connections accepted but not yet through CONNECT/CONNACK"},
    listener_key{"handshake_timeout", positive_millis<&lc::handshake_timeout>,
                 "time from accept to CONNECT"},
    listener_key{"max_packet_size", size<&lc::max_packet_size, u32_max>,
                 "largest MQTT packet accepted; 0 = protocol maximum"},
    listener_key{"backlog", integer<&lc::backlog, 1, std::numeric_limits<int>::max()>,
                 "listen backlog"},
    listener_key{"nodelay", flag<&lc::nodelay>, "TCP_NODELAY"},
    listener_key{"reuseaddr", flag<&lc::reuseaddr>, "SO_REUSEADDR"},
    listener_key{"reuseport", flag<&lc::reuseport>, "SO_REUSEPORT"},
    listener_key{"tcp_keepalive", flag<&lc::tcp_keepalive>, "SO_KEEPALIVE on accepted sockets"},
    listener_key{"allow_anonymous", flag<&lc::allow_anonymous>,
                 "accept CONNECT without a username"},
    listener_key{"allow_zero_keepalive", flag<&lc::allow_zero_keepalive>, "accept keep alive 0"},
    listener_key{"min_keepalive", integer<&lc::min_keepalive, 0, u16_max>,
                 "lowest keep alive accepted (seconds)"},
    listener_key{"max_keepalive", integer<&lc::max_keepalive, 0, u16_max>,
                 "highest keep alive accepted (seconds)"},
    listener_key{"keepalive_backoff", keepalive_backoff, "timeout = keep alive x backoff x 2"},
    listener_key{"max_inflight", integer<&lc::max_inflight, 1, u16_max>,
                 "outbound QoS 1/2 messages awaiting acknowledgement per session"},
    listener_key{"max_awaiting_rel", integer<&lc::max_awaiting_rel, 0, u16_max>,
                 "inbound QoS 2 messages awaiting PUBREL per session; 0 = no limit"},
    listener_key{"max_mqueue_len", integer<&lc::max_mqueue_len, 0>, "messages queued per session"},
    listener_key{"mqueue_overflow", mqueue_overflow,
                 "a connected subscriber's full queue: \"backpressure\" (publishers' QoS 1/2 "
                 "acknowledgements wait) or \"drop\" (the oldest queued message is dropped)"},
    listener_key{"mqueue_rate_limit", mqueue_rate_limit,
                 "\"burst,period\": how fast queued messages are sent"},
    listener_key{"max_clientid_len", integer<&lc::max_clientid_len, 1, u16_max>,
                 "longest client id accepted"},
    listener_key{"max_qos_allowed", integer<&lc::max_qos_allowed, 0, 2>,
                 "highest QoS a client may publish with"},
    listener_key{"max_topic_levels", integer<&lc::max_topic_levels, 0>,
                 "most levels in a topic filter; 0 = unlimited"},
    listener_key{"session_expiry_interval", millis<&lc::session_expiry_interval>,
                 "expiry of an MQTT 3.x persistent session"},
    listener_key{"max_session_expiry_interval", millis<&lc::max_session_expiry_interval>,
                 "cap on the session expiry an MQTT 5 client asks for; 0 = none"},
    listener_key{"message_retry_interval", millis<&lc::message_retry_interval>,
                 "resend an unacknowledged message after this; 0 = never while connected"},
    listener_key{"message_expiry_interval", millis<&lc::message_expiry_interval>,
                 "expiry of messages published without one; 0 = never"},
    listener_key{"max_subscriptions", integer<&lc::max_subscriptions, 0>,
                 "subscriptions per client; 0 = unlimited"},
    listener_key{"shared_subscription", flag<&lc::shared_subscription>,
                 "$share/ subscriptions allowed"},
    listener_key{"max_topic_aliases", integer<&lc::max_topic_aliases, 0, u16_max>,
                 "MQTT 5 Topic Alias Maximum; 0 = disabled"},
    listener_key{"limit_subscription", flag<&lc::limit_subscription>,
                 "$limit/ and $exclusive/ subscriptions (only false)", listener_kinds::all,
                 "true is not supported by rmqttd ($limit/ and $exclusive/ subscriptions are not "
                 "available); expected false"},
    listener_key{"delayed_publish", flag<&lc::delayed_publish>, "$delayed/ publishes (only false)",
                 listener_kinds::all,
                 "true is not supported by rmqttd ($delayed/ publishes are not available); "
                 "expected false"},
    listener_key{"proxy_protocol", flag<&lc::proxy_protocol>,
                 "expect a PROXY protocol (v1/v2) header before anything else"},
    listener_key{"proxy_protocol_timeout", positive_millis<&lc::proxy_protocol_timeout>,
                 "time allowed for the PROXY header"},
    listener_key{"cross_certificate", flag<&lc::cross_certificate>,
                 "require and verify a client certificate", listener_kinds::tls_wss},
    listener_key{"cert", text<&lc::cert>, "PEM certificate chain (required for tls, wss)",
                 listener_kinds::tls_wss},
    listener_key{"key", text<&lc::key>, "PEM private key (required for tls, wss)",
                 listener_kinds::tls_wss},
    listener_key{"client_ca_certs", text<&lc::client_ca_certs>,
                 "PEM CA file for client certificates", listener_kinds::tls_wss},
    listener_key{"cert_cn_as_username", flag<&lc::cert_cn_as_username>,
                 "the client certificate's CN is the username", listener_kinds::tls_wss},
    listener_key{"ws_path", ws_path, "HTTP path of the WebSocket upgrade; \"\" = any",
                 listener_kinds::ws_wss},
    listener_key{"workers", unused<value_kind::integer>, "RMQTT: not used"},
    listener_key{"idle_timeout", unused<value_kind::duration>, "RMQTT: not used"},
    listener_key{"retain_available", unused<value_kind::boolean>, "RMQTT: not used"},
    listener_key{"await_rel_timeout", unused<value_kind::duration>, "RMQTT: not used"},
    listener_key{"max_handshake_rate", unused<value_kind::integer>, "RMQTT: not used"},
    listener_key{"cert_subject_dn_as_username", unused<value_kind::boolean>, "RMQTT: not used"},
    listener_key{"collect_cert_info", unused<value_kind::boolean>, "RMQTT: not used"},
};

bool applies(listener_kinds kinds, listener_kind k) {
    switch (kinds) {
        case listener_kinds::all:
            return true;
        case listener_kinds::tls_wss:
            return is_tls(k);
        case listener_kinds::ws_wss:
            return is_ws(k);
    }
    return true;
}

std::string_view kinds_text(listener_kinds kinds) {
    return kinds == listener_kinds::tls_wss ? "tls and wss" : "ws and wss";
}

std::optional<listener_config> parse_listener(const config_section& s, listener_kind kind,
                                              const std::string& name) {
    listener_config l;
    l.kind = kind;
    l.name = name;
    for (const auto& row : listener_keys) {
        if (!s.has(row.name)) continue;
        row.read(s, row.name, l);
        if (!applies(row.kinds, kind)) {
            s.warn(row.name, fmt::format("used only by {} listeners, ignored on a {} listener",
                                         kinds_text(row.kinds), to_string(kind)));
        }
    }
    if (!l.enable) return std::nullopt;  // RMQTT drops disabled listeners before anything else
    for (const auto& row : listener_keys) {
        if (!row.refused_when_true.empty() && s.get_bool(row.name).value_or(false)) {
            s.fail(row.name, row.refused_when_true);
        }
    }
    if (!s.has("addr")) s.fail("addr", fmt::format("missing; expected {}", addr_form));
    if (l.min_keepalive > l.max_keepalive) {
        s.fail("min_keepalive", fmt::format("expected a value <= max_keepalive ({}), got {}",
                                            l.max_keepalive, l.min_keepalive));
    }
    if (is_tls(kind) && l.cert_cn_as_username && !l.cross_certificate) {
        s.warn("cert_cn_as_username",
               "has no effect without cross_certificate = true (the Common Name comes from the "
               "verified client certificate; without it the CONNECT's username is used)");
    }
    if (is_tls(kind)) {
        for (auto [field_name, value] :
             {std::pair<std::string_view, const std::string*>{"cert", &l.cert}, {"key", &l.key}}) {
            if (value->empty()) {
                s.fail(field_name, fmt::format("missing; a {} listener needs cert and key: "
                                               "expected the path of a PEM file such as "
                                               "\"./etc/rmqtt.pem\"",
                                               to_string(kind)));
            }
        }
    }
    return l;
}

void parse_listeners(const config_section& s, std::vector<listener_config>& out) {
    static constexpr std::array<std::pair<std::string_view, listener_kind>, 4> kinds{{
        {"tcp", listener_kind::tcp},
        {"tls", listener_kind::tls},
        {"ws", listener_kind::ws},
        {"wss", listener_kind::wss},
    }};
    const auto t = s.get_table("listener");
    if (!t) return;
    // In kind order first (tcp, tls, ws, wss), then by name: a stable, readable order.
    for (const auto& [kind_name, kind] : kinds) {
        const auto named = t->get_table(kind_name);
        if (!named) continue;
        for (const auto& name : named->keys()) {
            // Keys are dotted paths: a quoted name with a dot in it cannot be addressed.
            if (name.find('.') != std::string::npos) {
                named->fail(name, "expected a listener name without \".\"");
            }
            if (auto l = parse_listener(*named->get_table(name), kind, name)) {
                out.push_back(std::move(*l));
            }
        }
    }
    for (const auto& kind_name : t->keys()) {
        if (kind_name == "quic") {
            const auto quic = t->get_table(kind_name);
            for (const auto& name : quic->keys()) {
                (void)quic->get_table(name);
                quic->accept_unused(name, "QUIC listeners are not used by rmqttd, ignored");
            }
        } else if (std::none_of(kinds.begin(), kinds.end(),
                                [&kind_name](const auto& p) { return p.first == kind_name; })) {
            t->accept_unused(kind_name,
                             "unknown listener type (accepted: tcp, tls, ws, wss), ignored");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The main file

constexpr std::uint64_t min_log_file_size = 1024;
// Longer polls would keep a core busy through gaps that a sleep serves as well.
constexpr std::chrono::microseconds max_busy_poll = std::chrono::milliseconds(1);
constexpr std::int64_t max_log_files = 1000;

struct main_extras {
    std::vector<std::string> disabled_default_startups;
};

void parse_main(const config_section& s, config& cfg, main_extras& extras) {
    if (const auto node = s.get_table("node")) {
        if (const auto id = node->get_int("id", 0)) cfg.node_id = static_cast<std::uint64_t>(*id);
        if (const auto workers = node->get_int("workers", 0)) {
            if (*workers > 1024) {
                node->fail_value("workers", "an integer from 0 (number of cores) to 1024");
            }
            cfg.worker_threads = static_cast<std::size_t>(*workers);
        }
        if (const auto poll = node->get_duration_us("busy_poll")) {
            if (*poll > max_busy_poll) node->fail_value("busy_poll", "a duration from 0 to 1ms");
            cfg.worker_busy_poll = *poll;
        }
        accept_compat_table(*node, "busy", busy_fields);
        for (const char* key : {"cookie", "crash_dump"}) {
            (void)node->get_string(key);
            node->accept_unused(key, unused_note);
        }
    }
    if (const auto log = s.get_table("log")) {
        if (const auto to = log->get_choice("to", {"off", "file", "console", "both"})) {
            cfg.log.to = *to == "off"       ? log_target::off
                         : *to == "file"    ? log_target::file
                         : *to == "console" ? log_target::console
                                            : log_target::both;
        }
        if (auto level =
                log->get_choice("level", {"trace", "debug", "info", "warn", "error", "off"})) {
            cfg.log.level = std::move(*level);
        }
        if (auto dir = log->get_string("dir")) cfg.log.dir = std::move(*dir);
        if (auto file = log->get_string("file")) {
            if (file->empty()) log->fail_value("file", "a file name such as \"rmqtt.log\"");
            cfg.log.file = std::move(*file);
        }
        if (const auto format = log->get_choice("format", {"text", "json"})) {
            cfg.log.format = *format == "json" ? log_format::json : log_format::text;
        }
        // 0 keeps one file that never rotates; below 1KB a file would hold a line or two.
        if (const auto size = log->get_size("max_file_size")) {
            if (*size != 0 && *size < min_log_file_size) {
                log->fail_value("max_file_size",
                                "0 (no rotation) or a size of at least 1KB such as \"100MB\"");
            }
            cfg.log.max_file_size = *size;
        }
        if (const auto files = log->get_int("max_files", 1, max_log_files)) {
            cfg.log.max_files = static_cast<std::size_t>(*files);
        }
    }
    if (const auto plugins = s.get_table("plugins")) {
        if (auto dir = plugins->get_string("dir")) cfg.plugins_dir = std::move(*dir);
        if (auto list = plugins->get_strings("default_startups")) {
            cfg.plugins_default_startups = std::move(*list);
        }
        if (auto list = plugins->get_strings("disabled_default_startups")) {
            extras.disabled_default_startups = std::move(*list);
        }
    }
    if (const auto mqtt = s.get_table("mqtt")) {
        if (const auto n = mqtt->get_int("max_sessions", 0)) {
            cfg.max_sessions = static_cast<std::size_t>(*n);
        }
        (void)mqtt->get_int("delayed_publish_max");
        mqtt->accept_unused("delayed_publish_max", compat_note);
        (void)mqtt->get_bool("delayed_publish_immediate");
        mqtt->accept_unused("delayed_publish_immediate", compat_note);
    }
    parse_listeners(s, cfg.listeners);
    accept_compat_table(s, "task", task_fields);
    accept_compat_table(s, "rpc", rpc_fields);
    accept_rmqtt_circuit_breaker(s);
    (void)get_addr(s, "inner_api_addr");  // RMQTT before 0.3
    s.accept_unused("inner_api_addr", unused_note);
}

// ---------------------------------------------------------------------------------------------
// Loading

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

// Reads <plugins.dir>/<plugin>.toml into cfg.plugin_sections (an empty section when the file
// does not exist); the plugin parses it.
void load_plugin(config& cfg, std::string_view plugin) {
    const std::string path = plugin_file(cfg.plugins_dir, plugin);
    // Without the file: an empty section that still names it (a plugin may watch for it).
    config_section section(path, nullptr, cfg.plugin_warnings);
    std::error_code ec;
    if (std::filesystem::exists(path, ec)) {
        section = read_config_file(path, cfg.plugin_warnings);
        cfg.source_files.push_back(path);
    } else if (cfg.plugin_enabled(plugin)) {
        cfg.plugin_warnings->push_back(
            fmt::format("{}: not found, {} uses its default settings", path, plugin));
    }
    section.set_node_id(cfg.node_id);
    cfg.plugin_sections.emplace(std::string(plugin), std::move(section));
}

}  // namespace

std::span<const std::string_view> main_config_keys() {
    static const std::vector<std::string> names = [] {
        std::vector<std::string> k{
            "node.id",
            "node.workers",
            "node.busy_poll",
            "node.cookie",
            "node.crash_dump",
            "log.to",
            "log.level",
            "log.dir",
            "log.file",
            "log.format",
            "log.max_file_size",
            "log.max_files",
            "plugins.dir",
            "plugins.default_startups",
            "plugins.disabled_default_startups",
            "mqtt.max_sessions",
            "mqtt.delayed_publish_max",
            "mqtt.delayed_publish_immediate",
            "inner_api_addr",
            "listener.quic",
        };
        const auto add = [&k](std::string_view table, std::span<const field> fields) {
            for (const auto& f : fields)
                k.push_back(fmt::format("{}.{}", table, f.name));
        };
        add("node.busy", busy_fields);
        add("task", task_fields);
        add("rpc", rpc_fields);
        for (const auto cb : rmqtt_circuit_breaker_keys())
            k.emplace_back(cb);
        return k;
    }();
    static const std::vector<std::string_view> keys(names.begin(), names.end());
    return keys;
}

std::span<const std::string_view> listener_config_keys() {
    static constexpr auto names = [] {
        std::array<std::string_view, listener_keys.size()> out{};
        for (std::size_t i = 0; i < out.size(); ++i)
            out[i] = listener_keys[i].name;
        return out;
    }();
    return names;
}

config_section read_config_file(const std::string& path,
                                std::shared_ptr<std::vector<std::string>> warnings) {
    auto root = std::make_shared<const config_node>(to_node(parse_file(path)));
    return config_section(path, std::move(root), std::move(warnings));
}

config_section parse_config_text(std::string_view text, std::string name,
                                 std::shared_ptr<std::vector<std::string>> warnings) {
    auto root = std::make_shared<const config_node>(to_node(parse_text(text, name)));
    return config_section(std::move(name), std::move(root), std::move(warnings));
}

config load_config(const command_line& cl, std::span<const std::string_view> plugin_files) {
    config cfg;
    main_extras extras;
    auto warnings = std::make_shared<std::vector<std::string>>();
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
        warnings->push_back(
            "no configuration file given (-f) and none found at ./etc/rmqtt.toml, ./rmqtt.toml or "
            "/etc/rmqtt/rmqtt.toml: using the defaults");
    } else {
        const auto s = read_config_file(main_file, warnings);
        parse_main(s, cfg, extras);
        s.report_unknown();
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
    warnings->insert(warnings->end(), cl.warnings.begin(), cl.warnings.end());

    for (const auto name : plugin_files)
        load_plugin(cfg, name);

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
    cfg.warnings = *warnings;
    return cfg;
}

}  // namespace rmqtt::broker
