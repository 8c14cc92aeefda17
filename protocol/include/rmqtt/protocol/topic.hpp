#pragma once

#include <optional>
#include <string_view>

// Topic names and filters (MQTT 3.1.1 section 4.7, 5.0 section 4.7 and 4.8.2).
namespace rmqtt::protocol {

// A Topic Name: at least one character [MQTT-4.7.3-1], no '+' or '#' [MQTT-3.3.2-2], valid
// UTF-8 (checked separately), at most 65535 bytes.
bool is_valid_topic_name(std::string_view name) noexcept;

// A Topic Filter: at least one character; '#' only as the whole last level [MQTT-4.7.1-2];
// '+' only as a whole level [MQTT-4.7.1-3]. `$share/...` filters are checked with
// parse_shared_subscription.
bool is_valid_topic_filter(std::string_view filter) noexcept;

bool has_wildcard(std::string_view filter) noexcept;

// Does `filter` match `name`? A filter starting with '+' or '#' never matches a name starting
// with '$' [MQTT-4.7.2-1]. Both arguments are assumed valid.
bool topic_matches(std::string_view filter, std::string_view name) noexcept;

// Number of levels ('/' count + 1).
std::size_t topic_levels(std::string_view topic) noexcept;

struct shared_subscription {
    std::string_view group;   // ShareName: non-empty, no '/', '+' or '#' [MQTT-4.8.2-1, 4.8.2-2]
    std::string_view filter;  // the filter after "$share/{group}/", non-empty, valid
};

// "$share/{group}/{filter}" -> its parts. Returns nullopt when `filter` does not start with
// "$share/". Sets `valid` to false when it does but is malformed (empty group, group with
// wildcards, missing or invalid filter).
std::optional<shared_subscription> parse_shared_subscription(std::string_view filter,
                                                             bool& valid) noexcept;

}  // namespace rmqtt::protocol
