// Names of enum values for logs, and the 5.0 -> 3.x CONNACK code mapping.
#include "rmqtt/protocol/types.hpp"

namespace rmqtt::protocol {

connect_return_code to_v3_connack(reason_code rc) noexcept {
    switch (rc) {
        case reason_code::success:
            return connect_return_code::accepted;
        case reason_code::unsupported_protocol_version:
            return connect_return_code::unacceptable_protocol_version;
        case reason_code::client_identifier_not_valid:
            return connect_return_code::identifier_rejected;
        case reason_code::bad_user_name_or_password:
            return connect_return_code::bad_user_name_or_password;
        case reason_code::not_authorized:
        case reason_code::banned:
        case reason_code::bad_authentication_method:
            return connect_return_code::not_authorized;
        default:
            // Every other refusal (busy, shutting down, quota, malformed, ...) has no 3.x code of
            // its own; "Server unavailable" is the one a 3.x client treats as "retry later".
            return connect_return_code::server_unavailable;
    }
}

std::string_view to_string(packet_type t) noexcept {
    switch (t) {
        case packet_type::connect:
            return "CONNECT";
        case packet_type::connack:
            return "CONNACK";
        case packet_type::publish:
            return "PUBLISH";
        case packet_type::puback:
            return "PUBACK";
        case packet_type::pubrec:
            return "PUBREC";
        case packet_type::pubrel:
            return "PUBREL";
        case packet_type::pubcomp:
            return "PUBCOMP";
        case packet_type::subscribe:
            return "SUBSCRIBE";
        case packet_type::suback:
            return "SUBACK";
        case packet_type::unsubscribe:
            return "UNSUBSCRIBE";
        case packet_type::unsuback:
            return "UNSUBACK";
        case packet_type::pingreq:
            return "PINGREQ";
        case packet_type::pingresp:
            return "PINGRESP";
        case packet_type::disconnect:
            return "DISCONNECT";
        case packet_type::auth:
            return "AUTH";
    }
    return "reserved";
}

std::string_view to_string(reason_code rc) noexcept {
    // Values shared by several names (0x00, 0x01, 0x02) print their most general name.
    switch (rc) {
        case reason_code::success:
            return "Success";
        case reason_code::granted_qos1:
            return "Granted QoS 1";
        case reason_code::granted_qos2:
            return "Granted QoS 2";
        case reason_code::disconnect_with_will_message:
            return "Disconnect with Will Message";
        case reason_code::no_matching_subscribers:
            return "No matching subscribers";
        case reason_code::no_subscription_existed:
            return "No subscription existed";
        case reason_code::continue_authentication:
            return "Continue authentication";
        case reason_code::re_authenticate:
            return "Re-authenticate";
        case reason_code::unspecified_error:
            return "Unspecified error";
        case reason_code::malformed_packet:
            return "Malformed Packet";
        case reason_code::protocol_error:
            return "Protocol Error";
        case reason_code::implementation_specific_error:
            return "Implementation specific error";
        case reason_code::unsupported_protocol_version:
            return "Unsupported Protocol Version";
        case reason_code::client_identifier_not_valid:
            return "Client Identifier not valid";
        case reason_code::bad_user_name_or_password:
            return "Bad User Name or Password";
        case reason_code::not_authorized:
            return "Not authorized";
        case reason_code::server_unavailable:
            return "Server unavailable";
        case reason_code::server_busy:
            return "Server busy";
        case reason_code::banned:
            return "Banned";
        case reason_code::server_shutting_down:
            return "Server shutting down";
        case reason_code::bad_authentication_method:
            return "Bad authentication method";
        case reason_code::keep_alive_timeout:
            return "Keep Alive timeout";
        case reason_code::session_taken_over:
            return "Session taken over";
        case reason_code::topic_filter_invalid:
            return "Topic Filter invalid";
        case reason_code::topic_name_invalid:
            return "Topic Name invalid";
        case reason_code::packet_identifier_in_use:
            return "Packet Identifier in use";
        case reason_code::packet_identifier_not_found:
            return "Packet Identifier not found";
        case reason_code::receive_maximum_exceeded:
            return "Receive Maximum exceeded";
        case reason_code::topic_alias_invalid:
            return "Topic Alias invalid";
        case reason_code::packet_too_large:
            return "Packet too large";
        case reason_code::message_rate_too_high:
            return "Message rate too high";
        case reason_code::quota_exceeded:
            return "Quota exceeded";
        case reason_code::administrative_action:
            return "Administrative action";
        case reason_code::payload_format_invalid:
            return "Payload format invalid";
        case reason_code::retain_not_supported:
            return "Retain not supported";
        case reason_code::qos_not_supported:
            return "QoS not supported";
        case reason_code::use_another_server:
            return "Use another server";
        case reason_code::server_moved:
            return "Server moved";
        case reason_code::shared_subscriptions_not_supported:
            return "Shared Subscriptions not supported";
        case reason_code::connection_rate_exceeded:
            return "Connection rate exceeded";
        case reason_code::maximum_connect_time:
            return "Maximum connect time";
        case reason_code::subscription_identifiers_not_supported:
            return "Subscription Identifiers not supported";
        case reason_code::wildcard_subscriptions_not_supported:
            return "Wildcard Subscriptions not supported";
    }
    return "unknown reason code";
}

std::string_view to_string(version v) noexcept {
    switch (v) {
        case version::v3_1:
            return "3.1";
        case version::v3_1_1:
            return "3.1.1";
        case version::v5:
            return "5.0";
    }
    return "unknown version";
}

}  // namespace rmqtt::protocol
