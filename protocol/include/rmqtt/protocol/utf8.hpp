#pragma once

#include <string_view>

namespace rmqtt::protocol {

// Well-formed UTF-8 as MQTT requires: no ill-formed sequences, no overlong forms, no surrogates
// U+D800..U+DFFF [MQTT-1.5.4-1] (3.1.1: [MQTT-1.5.3-1]) and no U+0000 [MQTT-1.5.4-2]
// ([MQTT-1.5.3-2]). Control characters and non-characters are allowed (the spec lets a receiver
// refuse them but does not require it).
bool is_valid_utf8(std::string_view s) noexcept;

}  // namespace rmqtt::protocol
