// rmqtt-sys-topic.toml: QoS, period and expiry of the $SYS messages.
#include "sys_topic/sys_topic_config.hpp"

#include <array>

namespace rmqtt::plugins::sys_topic {

sys_topic_config parse_sys_topic_config(const broker::config_section& s) {
    sys_topic_config c;
    if (auto q = s.get_int("publish_qos", 0, 2)) c.publish_qos = static_cast<protocol::qos>(*q);
    if (auto d = s.get_duration("publish_interval")) {
        if (*d < std::chrono::seconds(1))
            s.fail_value("publish_interval", "a duration of at least 1 second such as \"1m\"");
        c.publish_interval = *d;
    }
    if (auto d = s.get_duration("message_expiry_interval")) c.message_expiry_interval = *d;
    // Older RMQTT files have these two; RMQTT's current plugin ignores them too.
    for (const auto key : {"message_retain_available", "message_storage_available"}) {
        if (s.get_bool(key))
            s.accept_unused(key,
                            "accepted for RMQTT compatibility, not used ($SYS messages are "
                            "never retained or stored)");
    }
    return c;
}

std::span<const std::string_view> sys_topic_config_keys() {
    static constexpr std::array<std::string_view, 5> keys{
        "publish_qos",
        "publish_interval",
        "message_expiry_interval",
        "message_retain_available",
        "message_storage_available",
    };
    return keys;
}

}  // namespace rmqtt::plugins::sys_topic
