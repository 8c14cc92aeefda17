// Encoding of MQTT control packets. Every encoder measures first, grows the output once, then
// writes in place; encoded_size() runs the same measurement.
#include <type_traits>

#include "rmqtt/protocol/codec.hpp"
#include "wire.hpp"

namespace rmqtt::protocol {

namespace {

using detail::varint_len;
using detail::writer;

// The Remaining Length and the sizes of the property lists it includes.
struct layout {
    std::size_t remaining = 0;
    std::size_t props = 0;       // properties::encoded_size() of the packet's properties
    std::size_t will_props = 0;  // CONNECT only
};

std::size_t props_block(std::size_t body) noexcept {
    return varint_len(static_cast<std::uint32_t>(body)) + body;
}
std::size_t str_block(std::string_view s) noexcept {
    return 2 + s.size();
}

std::uint8_t header_byte(packet_type t, std::uint8_t flags) noexcept {
    return static_cast<std::uint8_t>(static_cast<std::uint8_t>(t) << 4 | flags);
}

void write_props(writer& w, const properties& p, std::size_t body) noexcept {
    detail::write_properties(w, p, body);
}

// ---- CONNECT ---------------------------------------------------------------------------------

std::string_view protocol_name(version v) noexcept {
    return v == version::v3_1 ? "MQIsdp" : "MQTT";
}

layout measure(const connect& c) {
    layout l;
    const version v = c.protocol_version;
    const bool v5 = v == version::v5;
    l.remaining = str_block(protocol_name(v)) + 1 + 1 + 2 + str_block(c.client_id);
    if (v5) {
        l.props = c.props.encoded_size();
        l.remaining += props_block(l.props);
    }
    if (c.will) {
        if (v5) {
            l.will_props = c.will->props.encoded_size();
            l.remaining += props_block(l.will_props);
        }
        l.remaining += str_block(c.will->topic) + str_block(c.will->payload);
    }
    if (c.username) l.remaining += str_block(*c.username);
    if (c.password) l.remaining += str_block(*c.password);
    return l;
}

void write(writer& w, const connect& c, const layout& l) {
    const version v = c.protocol_version;
    w.u8(header_byte(packet_type::connect, 0));
    w.varint(static_cast<std::uint32_t>(l.remaining));
    w.prefixed(protocol_name(v));
    w.u8(static_cast<std::uint8_t>(v));
    std::uint8_t flags = c.clean_start ? 0x02 : 0x00;
    if (c.will) {
        flags |=
            static_cast<std::uint8_t>(0x04 | static_cast<std::uint8_t>(c.will->qos_level) << 3);
        if (c.will->retain) flags |= 0x20;
    }
    if (c.password) flags |= 0x40;
    if (c.username) flags |= 0x80;
    w.u8(flags);
    w.u16(c.keep_alive);
    if (v == version::v5) write_props(w, c.props, l.props);
    w.prefixed(c.client_id);
    if (c.will) {
        if (v == version::v5) write_props(w, c.will->props, l.will_props);
        w.prefixed(c.will->topic);
        w.prefixed(c.will->payload);
    }
    if (c.username) w.prefixed(*c.username);
    if (c.password) w.prefixed(*c.password);
}

// ---- CONNACK ---------------------------------------------------------------------------------

layout measure(version v, const connack& c) {
    layout l;
    l.remaining = 2;
    if (v == version::v5) {
        l.props = c.props.encoded_size();
        l.remaining += props_block(l.props);
    }
    return l;
}

void write(writer& w, version v, const connack& c, const layout& l) {
    w.u8(header_byte(packet_type::connack, 0));
    w.varint(static_cast<std::uint32_t>(l.remaining));
    // 3.1 has no Session Present flag: the byte is reserved.
    w.u8(c.session_present && v != version::v3_1 ? 0x01 : 0x00);
    w.u8(c.code);
    if (v == version::v5) write_props(w, c.props, l.props);
}

// ---- PUBLISH ---------------------------------------------------------------------------------

layout measure(version v, const publish_view& p) noexcept {
    layout l;
    l.remaining =
        str_block(p.topic) + (p.qos_level != qos::at_most_once ? 2 : 0) + p.payload.size();
    if (v == version::v5) {
        l.props = p.props != nullptr ? p.props->encoded_size() : 0;
        l.remaining += props_block(l.props);
    }
    return l;
}

void write(writer& w, version v, const publish_view& p, const layout& l) noexcept {
    std::uint8_t flags = static_cast<std::uint8_t>(static_cast<std::uint8_t>(p.qos_level) << 1);
    if (p.dup) flags |= 0x08;
    if (p.retain) flags |= 0x01;
    w.u8(header_byte(packet_type::publish, flags));
    w.varint(static_cast<std::uint32_t>(l.remaining));
    w.prefixed(p.topic);
    if (p.qos_level != qos::at_most_once) w.u16(p.packet_id);
    if (v == version::v5) {
        if (p.props != nullptr) {
            write_props(w, *p.props, l.props);
        } else {
            w.u8(0);
        }
    }
    w.raw(p.payload);
}

publish_view view_of(const publish& p) noexcept {
    return publish_view{p.dup, p.qos_level, p.retain, p.topic, p.packet_id, &p.props, p.payload};
}

// ---- PUBACK, PUBREC, PUBREL, PUBCOMP --------------------------------------------------------

template <typename Ack>
constexpr packet_type ack_type() noexcept {
    if constexpr (std::is_same_v<Ack, puback>) return packet_type::puback;
    if constexpr (std::is_same_v<Ack, pubrec>) return packet_type::pubrec;
    if constexpr (std::is_same_v<Ack, pubrel>) return packet_type::pubrel;
    return packet_type::pubcomp;
}

template <typename Ack>
layout measure_ack(version v, const Ack& a) {
    layout l;
    l.remaining = 2;
    if (v != version::v5) return l;
    // 5.0 section 3.4.2.1: reason and properties are omitted for Success without properties,
    // and the property length is omitted when there are no properties.
    l.props = a.props.encoded_size();
    if (l.props != 0) {
        l.remaining += 1 + props_block(l.props);
    } else if (a.code != reason_code::success) {
        l.remaining += 1;
    }
    return l;
}

template <typename Ack>
void write_ack(writer& w, version v, const Ack& a, const layout& l) {
    constexpr packet_type t = ack_type<Ack>();
    w.u8(header_byte(t, t == packet_type::pubrel ? 0x02 : 0x00));
    w.varint(static_cast<std::uint32_t>(l.remaining));
    w.u16(a.packet_id);
    if (v != version::v5 || l.remaining == 2) return;
    w.u8(static_cast<std::uint8_t>(a.code));
    if (l.remaining > 3) write_props(w, a.props, l.props);
}

// ---- SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK -----------------------------------------------

layout measure(version v, const subscribe& s) {
    layout l;
    l.remaining = 2;
    if (v == version::v5) {
        l.props = s.props.encoded_size();
        l.remaining += props_block(l.props);
    }
    for (const auto& t : s.topics)
        l.remaining += str_block(t.filter) + 1;
    return l;
}

void write(writer& w, version v, const subscribe& s, const layout& l) {
    w.u8(header_byte(packet_type::subscribe, 0x02));
    w.varint(static_cast<std::uint32_t>(l.remaining));
    w.u16(s.packet_id);
    if (v == version::v5) write_props(w, s.props, l.props);
    for (const auto& t : s.topics) {
        w.prefixed(t.filter);
        auto opts = static_cast<std::uint8_t>(t.options.max_qos);
        if (v == version::v5) {
            if (t.options.no_local) opts |= 0x04;
            if (t.options.retain_as_published) opts |= 0x08;
            opts |= static_cast<std::uint8_t>((t.options.retain_handling & 0x03) << 4);
        }
        w.u8(opts);
    }
}

layout measure(version v, const suback& s) {
    layout l;
    l.remaining = 2 + s.codes.size();
    if (v == version::v5) {
        l.props = s.props.encoded_size();
        l.remaining += props_block(l.props);
    }
    return l;
}

void write(writer& w, version v, const suback& s, const layout& l) {
    w.u8(header_byte(packet_type::suback, 0));
    w.varint(static_cast<std::uint32_t>(l.remaining));
    w.u16(s.packet_id);
    if (v == version::v5) write_props(w, s.props, l.props);
    for (std::uint8_t c : s.codes)
        w.u8(c);
}

layout measure(version v, const unsubscribe& u) {
    layout l;
    l.remaining = 2;
    if (v == version::v5) {
        l.props = u.props.encoded_size();
        l.remaining += props_block(l.props);
    }
    for (const auto& f : u.filters)
        l.remaining += str_block(f);
    return l;
}

void write(writer& w, version v, const unsubscribe& u, const layout& l) {
    w.u8(header_byte(packet_type::unsubscribe, 0x02));
    w.varint(static_cast<std::uint32_t>(l.remaining));
    w.u16(u.packet_id);
    if (v == version::v5) write_props(w, u.props, l.props);
    for (const auto& f : u.filters)
        w.prefixed(f);
}

layout measure(version v, const unsuback& u) {
    layout l;
    l.remaining = 2;
    if (v == version::v5) {
        l.props = u.props.encoded_size();
        l.remaining += props_block(l.props) + u.codes.size();
    }
    return l;
}

void write(writer& w, version v, const unsuback& u, const layout& l) {
    w.u8(header_byte(packet_type::unsuback, 0));
    w.varint(static_cast<std::uint32_t>(l.remaining));
    w.u16(u.packet_id);
    if (v != version::v5) return;  // 3.x UNSUBACK has no payload
    write_props(w, u.props, l.props);
    for (reason_code c : u.codes)
        w.u8(static_cast<std::uint8_t>(c));
}

// ---- PINGREQ, PINGRESP, DISCONNECT, AUTH ----------------------------------------------------

layout measure(version, const pingreq&) noexcept {
    return {};
}
layout measure(version, const pingresp&) noexcept {
    return {};
}
void write(writer& w, version, const pingreq&, const layout&) noexcept {
    w.u8(header_byte(packet_type::pingreq, 0));
    w.u8(0);
}
void write(writer& w, version, const pingresp&, const layout&) noexcept {
    w.u8(header_byte(packet_type::pingresp, 0));
    w.u8(0);
}

layout measure(version v, const disconnect& d) {
    layout l;
    if (v != version::v5) return l;
    // 5.0 section 3.14.2.1: Remaining Length 0 for Normal disconnection without properties;
    // the property length may be omitted when there are no properties.
    l.props = d.props.encoded_size();
    if (l.props != 0) {
        l.remaining = 1 + props_block(l.props);
    } else if (d.code != reason_code::normal_disconnection) {
        l.remaining = 1;
    }
    return l;
}

void write(writer& w, version, const disconnect& d, const layout& l) {
    w.u8(header_byte(packet_type::disconnect, 0));
    w.varint(static_cast<std::uint32_t>(l.remaining));
    if (l.remaining == 0) return;
    w.u8(static_cast<std::uint8_t>(d.code));
    if (l.remaining > 1) write_props(w, d.props, l.props);
}

layout measure(version, const auth& a) {
    // 5.0 section 3.15.2.1: everything omitted for Success without properties. Otherwise the
    // property length is always written (only DISCONNECT and the acks define its omission).
    layout l;
    l.props = a.props.encoded_size();
    if (l.props != 0 || a.code != reason_code::success) l.remaining = 1 + props_block(l.props);
    return l;
}

void write(writer& w, version, const auth& a, const layout& l) {
    w.u8(header_byte(packet_type::auth, 0));
    w.varint(static_cast<std::uint32_t>(l.remaining));
    if (l.remaining == 0) return;
    w.u8(static_cast<std::uint8_t>(a.code));
    write_props(w, a.props, l.props);
}

// ---- dispatch --------------------------------------------------------------------------------

layout measure_any(version v, const packet& p) {
    return std::visit(
        [v](const auto& x) -> layout {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, connect>) {
                return measure(x);
            } else if constexpr (std::is_same_v<T, publish>) {
                return measure(v, view_of(x));
            } else if constexpr (std::is_same_v<T, puback> || std::is_same_v<T, pubrec> ||
                                 std::is_same_v<T, pubrel> || std::is_same_v<T, pubcomp>) {
                return measure_ack(v, x);
            } else {
                return measure(v, x);
            }
        },
        p);
}

void write_any(writer& w, version v, const packet& p, const layout& l) {
    std::visit(
        [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, connect>) {
                write(w, x, l);
            } else if constexpr (std::is_same_v<T, publish>) {
                write(w, v, view_of(x), l);
            } else if constexpr (std::is_same_v<T, puback> || std::is_same_v<T, pubrec> ||
                                 std::is_same_v<T, pubrel> || std::is_same_v<T, pubcomp>) {
                write_ack(w, v, x, l);
            } else {
                write(w, v, x, l);
            }
        },
        p);
}

std::size_t total_size(const layout& l) noexcept {
    return 1 + varint_len(static_cast<std::uint32_t>(l.remaining)) + l.remaining;
}

}  // namespace

void encode(version v, const packet& p, std::vector<std::uint8_t>& out) {
    const layout l = measure_any(v, p);
    const std::size_t at = out.size();
    out.resize(at + total_size(l));
    writer w(out.data() + at);
    write_any(w, v, p, l);
}

void encode(version v, const publish_view& p, std::vector<std::uint8_t>& out) {
    const layout l = measure(v, p);
    const std::size_t at = out.size();
    out.resize(at + total_size(l));  // the only allocation, if any
    writer w(out.data() + at);
    write(w, v, p, l);
}

std::size_t encoded_size(version v, const publish_view& p) noexcept {
    return total_size(measure(v, p));
}

std::size_t encoded_size(version v, const packet& p) {
    return total_size(measure_any(v, p));
}

}  // namespace rmqtt::protocol
