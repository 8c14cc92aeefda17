#include "rmqtt/broker/events.hpp"

namespace rmqtt::broker::events {

const char* to_string(disconnect_reason r) noexcept {
    switch (r) {
        case disconnect_reason::client_disconnect:
            return "client_disconnect";
        case disconnect_reason::connection_lost:
            return "connection_lost";
        case disconnect_reason::keep_alive_timeout:
            return "keep_alive_timeout";
        case disconnect_reason::protocol_error:
            return "protocol_error";
        case disconnect_reason::taken_over:
            return "taken_over";
        case disconnect_reason::kicked:
            return "kicked";
        case disconnect_reason::server_shutdown:
            return "server_shutdown";
        case disconnect_reason::not_authorized:
            return "not_authorized";
    }
    return "unknown";
}

const char* to_string(session_end_reason r) noexcept {
    switch (r) {
        case session_end_reason::connection_closed:
            return "connection_closed";
        case session_end_reason::clean_start:
            return "clean_start";
        case session_end_reason::expired:
            return "expired";
        case session_end_reason::discarded:
            return "discarded";
    }
    return "unknown";
}

const char* to_string(drop_reason r) noexcept {
    switch (r) {
        case drop_reason::queue_full:
            return "queue_full";
        case drop_reason::expired:
            return "expired";
        case drop_reason::no_subscribers:
            return "no_subscribers";
        case drop_reason::not_authorized:
            return "not_authorized";
        case drop_reason::publish_hook:
            return "publish_hook";
        case drop_reason::too_large:
            return "too_large";
        case drop_reason::slow_consumer:
            return "slow_consumer";
        case drop_reason::store_failed:
            return "store_failed";
    }
    return "unknown";
}

}  // namespace rmqtt::broker::events
