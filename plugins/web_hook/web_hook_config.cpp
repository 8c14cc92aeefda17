// rmqtt-web-hook.toml: queue, senders, default URLs, retries and the per-event rules.
#include "web_hook/web_hook_config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "rmqtt/protocol/topic.hpp"

namespace rmqtt::plugins::web_hook {

using broker::config_section;

namespace {

constexpr std::array<std::string_view, event_kinds> names{
    "session_created",  "session_terminated", "session_subscribed", "session_unsubscribed",
    "client_connect",   "client_connack",     "client_connected",   "client_disconnected",
    "client_subscribe", "client_unsubscribe", "message_publish",    "message_delivered",
    "message_acked",    "message_dropped",    "offline_message",
};

constexpr std::string_view url_form =
    "an http://, https:// or file:// URL such as \"http://127.0.0.1:5656/mqtt/webhook\" or "
    "\"file:///var/log/rmqtt/hook.log\"";

std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

std::vector<target> read_urls(const config_section& s, std::string_view key) {
    std::vector<target> out;
    const auto urls = s.get_strings(key);
    if (!urls) return out;
    for (const auto& u : *urls) {
        auto t = parse_target(u);
        if (!t) s.fail(key, fmt::format("expected {}, got \"{}\"", url_form, u));
        out.push_back(std::move(*t));
    }
    return out;
}

}  // namespace

std::string_view to_string(event_kind k) noexcept {
    return names[static_cast<std::size_t>(k)];
}

std::optional<event_kind> event_from_name(std::string_view name) noexcept {
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (names[i] == name) return static_cast<event_kind>(i);
    }
    return std::nullopt;
}

std::optional<target> parse_target(std::string_view url) {
    while (!url.empty() && std::isspace(static_cast<unsigned char>(url.front())))
        url.remove_prefix(1);
    while (!url.empty() && std::isspace(static_cast<unsigned char>(url.back())))
        url.remove_suffix(1);
    const auto scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos) return std::nullopt;
    const std::string scheme = lower(url.substr(0, scheme_end));
    std::string_view rest = url.substr(scheme_end + 3);
    target t;
    t.url = std::string(url);
    if (scheme == "file") {
        // file:///abs/path (empty authority) or file://localhost/abs/path.
        if (rest.starts_with("localhost/")) rest.remove_prefix(9);
        if (!rest.starts_with("/") || rest.size() < 2) return std::nullopt;
        t.type = target::kind::file;
        t.path = std::string(rest);
        return t;
    }
    if (scheme != "http" && scheme != "https") return std::nullopt;
    t.https = scheme == "https";
    t.port = t.https ? 443 : 80;
    if (rest.find('#') != std::string_view::npos) return std::nullopt;
    const auto path_at = rest.find_first_of("/?");
    std::string_view authority = rest.substr(0, path_at);
    t.path = path_at == std::string_view::npos ? "/" : std::string(rest.substr(path_at));
    if (t.path.starts_with("?")) t.path = "/" + t.path;
    if (authority.empty() || authority.find('@') != std::string_view::npos) return std::nullopt;
    std::string_view port_text;
    if (authority.front() == '[') {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        t.host = std::string(authority.substr(1, close - 1));
        const auto after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return std::nullopt;
            port_text = after.substr(1);
        }
    } else {
        const auto colon = authority.find(':');
        t.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
    }
    if (t.host.empty()) return std::nullopt;
    if (!port_text.empty() || authority.ends_with(":")) {
        unsigned p = 0;
        const auto [end, ec] =
            std::from_chars(port_text.data(), port_text.data() + port_text.size(), p);
        if (ec != std::errc{} || end != port_text.data() + port_text.size() || p == 0 || p > 65535)
            return std::nullopt;
        t.port = static_cast<std::uint16_t>(p);
    }
    return t;
}

bool rule_matches(const std::vector<std::string>& topics, std::string_view topic) noexcept {
    if (topics.empty()) return true;
    return std::any_of(topics.begin(), topics.end(), [&](const std::string& f) {
        return f == topic || protocol::topic_matches(f, topic);
    });
}

std::optional<std::chrono::milliseconds> retry_delay(const web_hook_config& c, int attempt,
                                                     std::chrono::milliseconds elapsed) {
    constexpr double max_interval_ms = 60'000;
    double d = static_cast<double>(c.retry_initial_interval.count());
    for (int i = 1; i < attempt && d < max_interval_ms; ++i)
        d *= c.retry_multiplier;
    const auto delay =
        std::chrono::milliseconds(static_cast<std::int64_t>(std::min(d, max_interval_ms)));
    if (elapsed + delay > c.retry_max_elapsed_time) return std::nullopt;
    return delay;
}

web_hook_config parse_web_hook_config(const config_section& s) {
    web_hook_config c;
    if (auto n = s.get_int("queue_capacity", 1, 100'000'000))
        c.queue_capacity = static_cast<std::size_t>(*n);
    if (auto n = s.get_int("concurrency_limit", 1, 1024))
        c.concurrency_limit = static_cast<std::size_t>(*n);
    if (s.get_int("worker_threads", 1, 1024)) {
        s.accept_unused("worker_threads",
                        "accepted for RMQTT compatibility, not used: requests run on "
                        "concurrency_limit threads of the plugin");
    }
    c.urls = read_urls(s, "urls");
    // RMQTT's deprecated name, merged into `urls` as RMQTT does.
    for (auto& t : read_urls(s, "http_urls"))
        c.urls.push_back(std::move(t));
    if (auto d = s.get_positive_duration("http_timeout")) c.http_timeout = *d;
    if (auto d = s.get_duration("retry_max_elapsed_time")) c.retry_max_elapsed_time = *d;
    if (auto m = s.get_number("retry_multiplier")) {
        if (!(*m >= 1.0 && *m <= 100.0)) s.fail_value("retry_multiplier", "a number from 1 to 100");
        c.retry_multiplier = *m;
    }
    if (auto rules = s.get_table("rule")) {
        for (const auto& event : rules->keys()) {
            const auto kind = event_from_name(event);
            if (!kind) {
                rules->fail(event, fmt::format("unknown event; expected one of {}",
                                               fmt::join(names, ", ")));
            }
            auto& out = c.rules[static_cast<std::size_t>(*kind)];
            const auto* node = rules->get_node(event);
            if (node->type != broker::config_node::kind::array)
                rules->fail_value(event, "an array of rules such as [{action = \"...\"}]");
            for (const auto& r : rules->get_tables(event)) {
                rule one;
                one.action = r.get_string("action").value_or(std::string(event));
                if (one.action.empty()) r.fail_value("action", "a non-empty string");
                one.urls = read_urls(r, "urls");
                if (one.urls.empty() && c.urls.empty())
                    r.fail("urls", "the rule has no urls and the file has no default `urls`");
                if (auto topics = r.get_strings("topics")) {
                    for (const auto& f : *topics) {
                        if (!protocol::is_valid_topic_filter(f))
                            r.fail("topics", fmt::format("\"{}\" is not a valid topic filter", f));
                    }
                    one.topics = std::move(*topics);
                }
                out.push_back(std::move(one));
            }
        }
    }
    return c;
}

std::span<const std::string_view> web_hook_config_keys() {
    static constexpr std::array<std::string_view, 9> keys{
        "queue_capacity", "concurrency_limit",      "worker_threads",   "urls", "http_urls",
        "http_timeout",   "retry_max_elapsed_time", "retry_multiplier", "rule",
    };
    return keys;
}

}  // namespace rmqtt::plugins::web_hook
