#include "net/ws_error.hpp"

#include <string>

namespace rmqtt::broker {

namespace {

class ws_category_impl final : public std::error_category {
  public:
    const char* name() const noexcept override { return "websocket"; }
    std::string message(int v) const override {
        switch (static_cast<ws_error>(v)) {
            case ws_error::request_too_large:
                return "WebSocket upgrade request headers too large";
            case ws_error::malformed_request:
                return "malformed HTTP upgrade request";
            case ws_error::method_not_allowed:
                return "WebSocket upgrade request is not a GET";
            case ws_error::http_version:
                return "WebSocket upgrade request older than HTTP/1.1";
            case ws_error::missing_host:
                return "WebSocket upgrade request without exactly one Host header";
            case ws_error::wrong_path:
                return "WebSocket upgrade request for another path than ws_path";
            case ws_error::not_websocket:
                return "HTTP request is not a WebSocket upgrade";
            case ws_error::websocket_version:
                return "unsupported Sec-WebSocket-Version (13 is required)";
            case ws_error::bad_key:
                return "missing or invalid Sec-WebSocket-Key";
            case ws_error::body_not_allowed:
                return "WebSocket upgrade request with a body";
            case ws_error::no_mqtt_subprotocol:
                return "WebSocket client does not offer the subprotocol mqtt";
            case ws_error::protocol_error:
                return "WebSocket protocol error";
            case ws_error::text_frame:
                return "WebSocket text frame (MQTT needs binary frames)";
            case ws_error::frame_too_large:
                return "WebSocket frame larger than the listener allows";
            case ws_error::invalid_payload:
                return "WebSocket close frame with a reason that is not UTF-8";
        }
        return "unknown WebSocket error " + std::to_string(v);
    }
};

}  // namespace

const std::error_category& ws_category() noexcept {
    static const ws_category_impl category;
    return category;
}

}  // namespace rmqtt::broker
