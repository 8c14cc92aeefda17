#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rmqtt/broker/config_section.hpp"

// rmqtt-web-hook's settings, read from its own file (etc/plugins/rmqtt-web-hook.toml) with
// RMQTT's keys, and the rule matching. Pure: no I/O.
namespace rmqtt::plugins::web_hook {

// RMQTT's event names, in RMQTT's order. offline_message is accepted in a file but has no
// source in rmqttd (docs/configuration.md says so).
enum class event_kind : std::uint8_t {
    session_created,
    session_terminated,
    session_subscribed,
    session_unsubscribed,
    client_connect,
    client_connack,
    client_connected,
    client_disconnected,
    client_subscribe,
    client_unsubscribe,
    message_publish,
    message_delivered,
    message_acked,
    message_dropped,
    offline_message,
};
inline constexpr std::size_t event_kinds = 15;

std::string_view to_string(event_kind k) noexcept;
std::optional<event_kind> event_from_name(std::string_view name) noexcept;

// Where a body goes: "http://host:port/path", "https://...", or "file:///path" (one JSON
// object per line, appended).
struct target {
    enum class kind { http, file };
    kind type = kind::http;
    std::string url;  // as written
    bool https = false;
    std::string host;  // http: without brackets for IPv6
    std::uint16_t port = 80;
    std::string path;  // http: path and query ("/" when empty); file: the file's path
};

// "http://...", "https://..." or "file:///..."; nullopt for anything else.
std::optional<target> parse_target(std::string_view url);

struct rule {
    std::string action;               // the body's "action"; the event's name by default
    std::vector<target> urls;         // empty: the file's `urls`
    std::vector<std::string> topics;  // topic filters; empty: every topic
};

// Does a rule with `topics` apply to `topic` (a message's topic, or a subscription's filter,
// compared as if it were a topic name)? Always true for events without a topic.
bool rule_matches(const std::vector<std::string>& topics, std::string_view topic) noexcept;

struct web_hook_config {
    std::size_t queue_capacity = 300'000;
    std::size_t concurrency_limit = 128;
    std::vector<target> urls;
    std::chrono::milliseconds http_timeout{8000};
    std::chrono::milliseconds retry_max_elapsed_time{60'000};
    double retry_multiplier = 2.5;
    // First retry delay; each next one is retry_multiplier times longer (at most 60 s).
    std::chrono::milliseconds retry_initial_interval{500};
    std::array<std::vector<rule>, event_kinds> rules;  // by event_kind

    const std::vector<rule>& rules_for(event_kind k) const noexcept {
        return rules[static_cast<std::size_t>(k)];
    }
};

// The wait before retry number `attempt` (1 for the first retry) of a delivery that started
// `elapsed` ago: retry_initial_interval x retry_multiplier^(attempt-1), at most 60 s; nullopt
// when the retry would start after retry_max_elapsed_time (give up).
std::optional<std::chrono::milliseconds> retry_delay(const web_hook_config& c, int attempt,
                                                     std::chrono::milliseconds elapsed);

// Reads rmqtt-web-hook.toml. Throws broker::config_error (bad URL scheme, unknown event, a rule
// whose action is not a string, a topic filter that is not valid, ...).
web_hook_config parse_web_hook_config(const broker::config_section& s);

// The keys parse_web_hook_config knows, in full. docs/configuration.md documents each of them.
std::span<const std::string_view> web_hook_config_keys();

}  // namespace rmqtt::plugins::web_hook
