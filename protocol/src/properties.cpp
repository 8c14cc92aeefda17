// MQTT 5.0 properties (section 2.2.2): size, encoding, and decoding with the per-packet rules.
#include "rmqtt/protocol/properties.hpp"

#include <array>

#include "rmqtt/protocol/codec.hpp"
#include "rmqtt/protocol/topic.hpp"
#include "rmqtt/protocol/utf8.hpp"
#include "wire.hpp"

namespace rmqtt::protocol {

namespace {

using id = property_id;

std::size_t str_size(const std::optional<std::string>& s) noexcept {
    return s ? 1 + 2 + s->size() : 0;
}
template <typename T>
std::size_t int_size(const std::optional<T>& v) noexcept {
    return v ? 1 + sizeof(T) : 0;
}

// Which packets may carry each property (5.0 section 2.2.2.2): bit n is packet type n, bit 0 the
// Will Properties of CONNECT. 0 means the identifier is unknown.
constexpr std::uint16_t bit(packet_type t) noexcept {
    return static_cast<std::uint16_t>(1u << static_cast<unsigned>(t));
}
constexpr std::uint16_t will_bit = 1;

constexpr std::array<std::uint16_t, 0x80> allowed_table() noexcept {
    using pt = packet_type;
    std::array<std::uint16_t, 0x80> a{};
    const std::uint16_t pub_will = bit(pt::publish) | will_bit;
    a[0x01] = pub_will;  // Payload Format Indicator
    a[0x02] = pub_will;  // Message Expiry Interval
    a[0x03] = pub_will;  // Content Type
    a[0x08] = pub_will;  // Response Topic
    a[0x09] = pub_will;  // Correlation Data
    a[0x0B] = bit(pt::publish) | bit(pt::subscribe);
    a[0x11] = bit(pt::connect) | bit(pt::connack) | bit(pt::disconnect);
    a[0x12] = bit(pt::connack);
    a[0x13] = bit(pt::connack);
    a[0x15] = bit(pt::connect) | bit(pt::connack) | bit(pt::auth);
    a[0x16] = bit(pt::connect) | bit(pt::connack) | bit(pt::auth);
    a[0x17] = bit(pt::connect);
    a[0x18] = will_bit;  // Will Delay Interval
    a[0x19] = bit(pt::connect);
    a[0x1A] = bit(pt::connack);
    a[0x1C] = bit(pt::connack) | bit(pt::disconnect);
    a[0x1F] = bit(pt::connack) | bit(pt::puback) | bit(pt::pubrec) | bit(pt::pubrel) |
              bit(pt::pubcomp) | bit(pt::suback) | bit(pt::unsuback) | bit(pt::disconnect) |
              bit(pt::auth);
    a[0x21] = bit(pt::connect) | bit(pt::connack);
    a[0x22] = bit(pt::connect) | bit(pt::connack);
    a[0x23] = bit(pt::publish);
    a[0x24] = bit(pt::connack);
    a[0x25] = bit(pt::connack);
    // User Property: every packet that has properties, and the will.
    a[0x26] =
        static_cast<std::uint16_t>(0xFFFE & ~bit(pt::pingreq) & ~bit(pt::pingresp)) | will_bit;
    a[0x27] = bit(pt::connect) | bit(pt::connack);
    a[0x28] = bit(pt::connack);
    a[0x29] = bit(pt::connack);
    a[0x2A] = bit(pt::connack);
    return a;
}
constexpr auto allowed = allowed_table();

decode_result fail(reason_code rc, const char* detail) noexcept {
    return {rc, detail};
}

// The property reader: each returns a failure result or success.
struct prop_reader {
    detail::reader& r;

    decode_result u8(std::optional<std::uint8_t>& v) {
        std::uint8_t x = 0;
        if (!r.u8(x)) return fail(reason_code::malformed_packet, "property value truncated");
        v = x;
        return {};
    }
    // A Byte property whose only values are 0 and 1 ("It is a Protocol Error to include ... a
    // value other than 0 or 1", 5.0 section 3.1.2.11 / 3.2.2.3).
    decode_result flag(std::optional<std::uint8_t>& v) {
        if (auto res = u8(v); !res) return res;
        if (*v > 1) return fail(reason_code::protocol_error, "property value other than 0 or 1");
        return {};
    }
    decode_result u16(std::optional<std::uint16_t>& v) {
        std::uint16_t x = 0;
        if (!r.u16(x)) return fail(reason_code::malformed_packet, "property value truncated");
        v = x;
        return {};
    }
    decode_result u32(std::optional<std::uint32_t>& v) {
        std::uint32_t x = 0;
        if (!r.u32(x)) return fail(reason_code::malformed_packet, "property value truncated");
        v = x;
        return {};
    }
    decode_result binary(std::optional<std::string>& v) {
        std::string_view s;
        if (!r.prefixed(s)) return fail(reason_code::malformed_packet, "property value truncated");
        v.emplace(s);
        return {};
    }
    decode_result utf8(std::string& v) {
        std::string_view s;
        if (!r.prefixed(s)) return fail(reason_code::malformed_packet, "property value truncated");
        if (!is_valid_utf8(s)) {
            return fail(reason_code::malformed_packet,  // [MQTT-1.5.4-1] [MQTT-1.5.4-2]
                        "property string is not valid UTF-8");
        }
        v.assign(s);
        return {};
    }
    decode_result utf8(std::optional<std::string>& v) {
        std::string s;
        if (auto res = utf8(s); !res) return res;
        v = std::move(s);
        return {};
    }
};

}  // namespace

bool properties::empty() const noexcept {
    return !payload_format_indicator && !message_expiry_interval && !content_type &&
           !response_topic && !correlation_data && subscription_identifiers.empty() &&
           !session_expiry_interval && !assigned_client_identifier && !server_keep_alive &&
           !authentication_method && !authentication_data && !request_problem_information &&
           !will_delay_interval && !request_response_information && !response_information &&
           !server_reference && !reason_string && !receive_maximum && !topic_alias_maximum &&
           !topic_alias && !maximum_qos && !retain_available && user_properties.empty() &&
           !maximum_packet_size && !wildcard_subscription_available &&
           !subscription_identifier_available && !shared_subscription_available;
}

std::size_t properties::encoded_size() const noexcept {
    std::size_t n = int_size(payload_format_indicator) + int_size(message_expiry_interval) +
                    str_size(content_type) + str_size(response_topic) + str_size(correlation_data);
    for (std::uint32_t s : subscription_identifiers)
        n += 1 + detail::varint_len(s);
    n += int_size(session_expiry_interval) + str_size(assigned_client_identifier) +
         int_size(server_keep_alive) + str_size(authentication_method) +
         str_size(authentication_data) + int_size(request_problem_information) +
         int_size(will_delay_interval) + int_size(request_response_information) +
         str_size(response_information) + str_size(server_reference) + str_size(reason_string) +
         int_size(receive_maximum) + int_size(topic_alias_maximum) + int_size(topic_alias) +
         int_size(maximum_qos) + int_size(retain_available);
    for (const auto& u : user_properties)
        n += 1 + 2 + u.key.size() + 2 + u.value.size();
    n += int_size(maximum_packet_size) + int_size(wildcard_subscription_available) +
         int_size(subscription_identifier_available) + int_size(shared_subscription_available);
    return n;
}

namespace detail {

void write_properties(writer& w, const properties& p, std::size_t body_size) noexcept {
    w.varint(static_cast<std::uint32_t>(body_size));
    const auto id8 = [&](property_id i) { w.u8(static_cast<std::uint8_t>(i)); };
    const auto put8 = [&](property_id i, const std::optional<std::uint8_t>& v) {
        if (!v) return;
        id8(i);
        w.u8(*v);
    };
    const auto put16 = [&](property_id i, const std::optional<std::uint16_t>& v) {
        if (!v) return;
        id8(i);
        w.u16(*v);
    };
    const auto put32 = [&](property_id i, const std::optional<std::uint32_t>& v) {
        if (!v) return;
        id8(i);
        w.u32(*v);
    };
    const auto puts = [&](property_id i, const std::optional<std::string>& v) {
        if (!v) return;
        id8(i);
        w.prefixed(*v);
    };
    put8(id::payload_format_indicator, p.payload_format_indicator);
    put32(id::message_expiry_interval, p.message_expiry_interval);
    puts(id::content_type, p.content_type);
    puts(id::response_topic, p.response_topic);
    puts(id::correlation_data, p.correlation_data);
    for (std::uint32_t s : p.subscription_identifiers) {
        id8(id::subscription_identifier);
        w.varint(s);
    }
    put32(id::session_expiry_interval, p.session_expiry_interval);
    puts(id::assigned_client_identifier, p.assigned_client_identifier);
    put16(id::server_keep_alive, p.server_keep_alive);
    puts(id::authentication_method, p.authentication_method);
    puts(id::authentication_data, p.authentication_data);
    put8(id::request_problem_information, p.request_problem_information);
    put32(id::will_delay_interval, p.will_delay_interval);
    put8(id::request_response_information, p.request_response_information);
    puts(id::response_information, p.response_information);
    puts(id::server_reference, p.server_reference);
    puts(id::reason_string, p.reason_string);
    put16(id::receive_maximum, p.receive_maximum);
    put16(id::topic_alias_maximum, p.topic_alias_maximum);
    put16(id::topic_alias, p.topic_alias);
    put8(id::maximum_qos, p.maximum_qos);
    put8(id::retain_available, p.retain_available);
    for (const auto& u : p.user_properties) {
        id8(id::user_property);
        w.prefixed(u.key);
        w.prefixed(u.value);
    }
    put32(id::maximum_packet_size, p.maximum_packet_size);
    put8(id::wildcard_subscription_available, p.wildcard_subscription_available);
    put8(id::subscription_identifier_available, p.subscription_identifier_available);
    put8(id::shared_subscription_available, p.shared_subscription_available);
}

}  // namespace detail

void encode_properties(const properties& props, std::vector<std::uint8_t>& out) {
    const std::size_t body = props.encoded_size();
    const std::size_t at = out.size();
    out.resize(at + detail::varint_len(static_cast<std::uint32_t>(body)) + body);
    detail::writer w(out.data() + at);
    detail::write_properties(w, props, body);
}

decode_result decode_properties(std::span<const std::uint8_t> in, packet_type t, bool for_will,
                                properties& out, std::size_t& consumed) {
    out = properties{};
    consumed = 0;
    std::uint32_t len = 0;
    const int n = decode_varint(in, len);
    if (n == 0) return fail(reason_code::malformed_packet, "property length truncated");
    if (n < 0) {
        return fail(reason_code::malformed_packet,  // [MQTT-1.5.5-1]
                    "property length is not a valid Variable Byte Integer");
    }
    const auto header = static_cast<std::size_t>(n);
    if (len > in.size() - header) {
        return fail(reason_code::malformed_packet, "property length beyond the packet");
    }
    detail::reader r(in.data() + header, in.data() + header + len);
    prop_reader pr{r};
    const std::uint16_t mask = for_will ? will_bit : bit(t);
    std::uint64_t seen = 0;

    while (!r.empty()) {
        std::uint8_t code = 0;
        (void)r.u8(code);
        // Identifiers are Variable Byte Integers, but every defined one is a single byte below
        // 0x80, so any other first byte is an unknown property.
        const std::uint16_t where = code < allowed.size() ? allowed[code] : 0;
        if (where == 0) return fail(reason_code::malformed_packet, "unknown property identifier");
        if ((where & mask) == 0) {
            // A property the packet does not define makes it malformed (5.0 section 2.2.2.2).
            return fail(reason_code::malformed_packet, "property not allowed in this packet");
        }
        // Only User Property, and Subscription Identifier in PUBLISH, may repeat (2.2.2.2).
        const auto pid = static_cast<property_id>(code);
        const bool repeatable =
            pid == id::user_property ||
            (pid == id::subscription_identifier && t == packet_type::publish && !for_will);
        const std::uint64_t seen_bit = std::uint64_t{1} << code;
        if (!repeatable && (seen & seen_bit) != 0) {
            return fail(reason_code::protocol_error, "duplicate property");
        }
        seen |= seen_bit;

        decode_result res;
        switch (pid) {
            case id::payload_format_indicator:
                res = pr.flag(out.payload_format_indicator);
                break;
            case id::message_expiry_interval:
                res = pr.u32(out.message_expiry_interval);
                break;
            case id::content_type:
                res = pr.utf8(out.content_type);
                break;
            case id::response_topic:
                res = pr.utf8(out.response_topic);
                if (res && !is_valid_topic_name(*out.response_topic)) {
                    // [MQTT-3.3.2-14] (and the will's, 5.0 section 3.1.3.2.5)
                    res = fail(reason_code::protocol_error, "Response Topic is not a Topic Name");
                }
                break;
            case id::correlation_data:
                res = pr.binary(out.correlation_data);
                break;
            case id::subscription_identifier: {
                std::uint32_t v = 0;
                const int k =
                    decode_varint(std::span<const std::uint8_t>(r.position(), r.remaining()), v);
                if (k <= 0) {
                    res = fail(reason_code::malformed_packet,
                               "Subscription Identifier is not a valid Variable Byte Integer");
                } else if (v == 0) {
                    // 5.0 section 3.8.2.1.2 / 3.3.2.3.8: 0 is a Protocol Error.
                    res = fail(reason_code::protocol_error, "Subscription Identifier 0");
                } else {
                    r.skip(static_cast<std::size_t>(k));
                    out.subscription_identifiers.push_back(v);
                }
                break;
            }
            case id::session_expiry_interval:
                res = pr.u32(out.session_expiry_interval);
                break;
            case id::assigned_client_identifier:
                res = pr.utf8(out.assigned_client_identifier);
                break;
            case id::server_keep_alive:
                res = pr.u16(out.server_keep_alive);
                break;
            case id::authentication_method:
                res = pr.utf8(out.authentication_method);
                break;
            case id::authentication_data:
                res = pr.binary(out.authentication_data);
                break;
            case id::request_problem_information:
                res = pr.flag(out.request_problem_information);
                break;
            case id::will_delay_interval:
                res = pr.u32(out.will_delay_interval);
                break;
            case id::request_response_information:
                res = pr.flag(out.request_response_information);
                break;
            case id::response_information:
                res = pr.utf8(out.response_information);
                break;
            case id::server_reference:
                res = pr.utf8(out.server_reference);
                break;
            case id::reason_string:
                res = pr.utf8(out.reason_string);
                break;
            case id::receive_maximum:
                res = pr.u16(out.receive_maximum);
                if (res && *out.receive_maximum == 0) {
                    res = fail(reason_code::protocol_error, "Receive Maximum 0");
                }
                break;
            case id::topic_alias_maximum:
                res = pr.u16(out.topic_alias_maximum);
                break;
            case id::topic_alias:
                // Alias 0 [MQTT-3.3.2-8] is refused by the broker with the other out-of-range
                // values: DISCONNECT 0x94 Topic Alias invalid.
                res = pr.u16(out.topic_alias);
                break;
            case id::maximum_qos:
                res = pr.flag(out.maximum_qos);
                break;
            case id::retain_available:
                res = pr.flag(out.retain_available);
                break;
            case id::user_property: {
                user_property u;
                res = pr.utf8(u.key);
                if (res) res = pr.utf8(u.value);
                if (res) out.user_properties.push_back(std::move(u));
                break;
            }
            case id::maximum_packet_size:
                res = pr.u32(out.maximum_packet_size);
                if (res && *out.maximum_packet_size == 0) {
                    res = fail(reason_code::protocol_error, "Maximum Packet Size 0");
                }
                break;
            case id::wildcard_subscription_available:
                res = pr.flag(out.wildcard_subscription_available);
                break;
            case id::subscription_identifier_available:
                res = pr.flag(out.subscription_identifier_available);
                break;
            case id::shared_subscription_available:
                res = pr.flag(out.shared_subscription_available);
                break;
        }
        if (!res) return res;
    }
    // 5.0 section 3.1.2.11.10 / 3.2.2.3.18 / 3.15.2.2.3
    if (out.authentication_data && !out.authentication_method) {
        return fail(reason_code::protocol_error,
                    "Authentication Data without Authentication Method");
    }
    consumed = header + len;
    return {};
}

}  // namespace rmqtt::protocol
