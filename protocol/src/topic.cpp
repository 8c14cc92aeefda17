// Topic names, topic filters, matching and shared subscriptions (5.0 sections 4.7, 4.8.2).
#include "rmqtt/protocol/topic.hpp"

#include <algorithm>

namespace rmqtt::protocol {

namespace {

constexpr std::size_t max_topic_bytes = 65535;  // a two-byte length prefix
constexpr std::string_view share_prefix = "$share/";

}  // namespace

bool is_valid_topic_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > max_topic_bytes) return false;  // [MQTT-4.7.3-1]
    return name.find_first_of("+#") == std::string_view::npos;        // [MQTT-3.3.2-2]
}

bool is_valid_topic_filter(std::string_view filter) noexcept {
    if (filter.empty() || filter.size() > max_topic_bytes) return false;  // [MQTT-4.7.3-1]
    const std::size_t n = filter.size();
    for (std::size_t i = 0; i < n; ++i) {
        const char c = filter[i];
        if (c != '+' && c != '#') continue;
        // A wildcard must be a whole level: preceded by '/' or the start ...
        if (i > 0 && filter[i - 1] != '/') return false;  // [MQTT-4.7.1-2] [MQTT-4.7.1-3]
        if (c == '#') {
            if (i + 1 != n) return false;  // '#' is the last character [MQTT-4.7.1-2]
        } else if (i + 1 < n && filter[i + 1] != '/') {
            return false;  // ... and followed by '/' or the end [MQTT-4.7.1-3]
        }
    }
    return true;
}

bool has_wildcard(std::string_view filter) noexcept {
    return filter.find_first_of("+#") != std::string_view::npos;
}

bool topic_matches(std::string_view filter, std::string_view name) noexcept {
    const std::size_t fn = filter.size();
    const std::size_t nn = name.size();
    // [MQTT-4.7.2-1] a filter starting with a wildcard does not match a '$' topic.
    if (nn > 0 && name[0] == '$' && fn > 0 && (filter[0] == '+' || filter[0] == '#')) return false;

    std::size_t i = 0;  // position in filter, at the start of a level
    std::size_t j = 0;  // position in name, at the start of a level
    for (;;) {
        if (i < fn && filter[i] == '#') return true;  // matches this level and all below
        if (i < fn && filter[i] == '+') {
            while (j < nn && name[j] != '/')
                ++j;  // '+' matches exactly one level
            ++i;
        } else {
            while (i < fn && filter[i] != '/') {
                if (j >= nn || name[j] != filter[i]) return false;
                ++i;
                ++j;
            }
            if (j < nn && name[j] != '/') return false;
        }
        // Both are at the end or at a '/'.
        if (i == fn) return j == nn;
        if (j == nn) {
            // "sport/#" also matches "sport": '#' includes the parent level [MQTT-4.7.1-2].
            return fn - i == 2 && filter[i + 1] == '#';
        }
        ++i;
        ++j;
    }
}

std::size_t topic_levels(std::string_view topic) noexcept {
    return static_cast<std::size_t>(std::count(topic.begin(), topic.end(), '/')) + 1;
}

std::optional<shared_subscription> parse_shared_subscription(std::string_view filter,
                                                             bool& valid) noexcept {
    valid = true;
    if (!filter.starts_with(share_prefix)) return std::nullopt;
    shared_subscription out;
    const std::string_view rest = filter.substr(share_prefix.size());
    const std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos) {
        // "$share/group" with no filter [MQTT-4.8.2-1]
        out.group = rest;
        valid = false;
        return out;
    }
    out.group = rest.substr(0, slash);
    out.filter = rest.substr(slash + 1);
    // ShareName: at least one character, no '/', '+' or '#' [MQTT-4.8.2-1] [MQTT-4.8.2-2]
    if (out.group.empty() || has_wildcard(out.group)) valid = false;
    if (!is_valid_topic_filter(out.filter)) valid = false;
    return out;
}

}  // namespace rmqtt::protocol
