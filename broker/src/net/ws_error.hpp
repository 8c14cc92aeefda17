#pragma once

#include <system_error>
#include <type_traits>

namespace rmqtt::broker {

// Why a WebSocket upgrade was refused or a WebSocket stream was ended by the broker. Returned as
// std::error_code by ws_transport (its messages end up in the connection's log line).
enum class ws_error {
    // the HTTP upgrade request
    request_too_large = 1,  // headers past the size limit (431)
    malformed_request,      // not parseable as HTTP/1.x (400)
    method_not_allowed,     // not GET (405)
    http_version,           // older than HTTP/1.1 (400)
    missing_host,           // no Host header, or more than one (400)
    wrong_path,             // the path is not the listener's ws_path (404)
    not_websocket,          // no "Upgrade: websocket" or no "Connection: upgrade" (426)
    websocket_version,      // Sec-WebSocket-Version is not 13 (426)
    bad_key,                // Sec-WebSocket-Key missing, repeated or not 16 bytes of base64 (400)
    body_not_allowed,       // the upgrade request has a body (400)
    no_mqtt_subprotocol,    // the client offers neither "mqtt" nor "mqttv3.1" (400)
    // the frames after the upgrade
    protocol_error,   // RFC 6455 violation: unmasked frame, bad opcode, RSV bits, ... (close 1002)
    text_frame,       // a text data frame [MQTT-6.0.0-1] (close 1003)
    frame_too_large,  // a frame above the listener's limit (close 1009)
    invalid_payload,  // a close frame with a reason that is not UTF-8 (close 1007)
};

const std::error_category& ws_category() noexcept;

inline std::error_code make_error_code(ws_error e) noexcept {
    return {static_cast<int>(e), ws_category()};
}

}  // namespace rmqtt::broker

template <>
struct std::is_error_code_enum<rmqtt::broker::ws_error> : std::true_type {};
