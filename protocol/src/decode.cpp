// Decoding of MQTT control packets with every check that needs the packet alone.
//
// Errors come in two kinds. A hard error (malformed_packet, protocol_error,
// unsupported_protocol_version) stops decoding at once. A soft error (topic_name_invalid,
// payload_format_invalid, client_identifier_not_valid) describes a packet whose structure is
// sound; it is reported only after the whole packet decoded, so `out` is complete and the broker
// can answer it (PUBACK 0x90 / 0x99 with the packet identifier, CONNACK 0x02 / 0x85 / 0x90).
#include <initializer_list>

#include "rmqtt/protocol/codec.hpp"
#include "rmqtt/protocol/topic.hpp"
#include "rmqtt/protocol/utf8.hpp"
#include "wire.hpp"

namespace rmqtt::protocol {

namespace {

using detail::reader;

constexpr decode_result ok{};

decode_result malformed(const char* detail) noexcept {
    return {reason_code::malformed_packet, detail};
}
decode_result protocol_error(const char* detail) noexcept {
    return {reason_code::protocol_error, detail};
}

bool one_of(std::uint8_t c, std::initializer_list<std::uint8_t> codes) noexcept {
    for (std::uint8_t x : codes) {
        if (x == c) return true;
    }
    return false;
}

// The reason codes each 5.0 packet may carry (5.0 sections 3.2.2.2, 3.4.2.1, 3.5.2.1, 3.6.2.1,
// 3.7.2.1, 3.9.3, 3.11.3, 3.14.2.1, 3.15.2.1).
bool valid_v5_code(packet_type t, std::uint8_t c) noexcept {
    switch (t) {
        case packet_type::connack:
            return one_of(c, {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
                              0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F});
        case packet_type::puback:
        case packet_type::pubrec:
            return one_of(c, {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99});
        case packet_type::pubrel:
        case packet_type::pubcomp:
            return one_of(c, {0x00, 0x92});
        case packet_type::suback:
            return one_of(c,
                          {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2});
        case packet_type::unsuback:
            return one_of(c, {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91});
        case packet_type::disconnect:
            return one_of(c, {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D,
                              0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
                              0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2});
        case packet_type::auth:
            return one_of(c, {0x00, 0x18, 0x19});
        default:
            return false;
    }
}

// Fixed header flags [MQTT-2.2.2-1] [MQTT-2.2.2-2]. PUBLISH flags are checked by its decoder.
// MQTT 3.1 had QoS 1 and DUP on the retransmittable PUBREL, SUBSCRIBE and UNSUBSCRIBE, so DUP is
// tolerated there for 3.1 clients.
bool flags_valid(version v, packet_type t, std::uint8_t flags) noexcept {
    switch (t) {
        case packet_type::publish:
            return true;
        case packet_type::pubrel:
        case packet_type::subscribe:
        case packet_type::unsubscribe:
            return flags == 0x02 || (v == version::v3_1 && flags == 0x0A);
        default:
            return flags == 0;
    }
}

// Reads the 5.0 property list at the reader's position.
decode_result read_props(reader& r, packet_type t, bool for_will, properties& out) {
    std::size_t consumed = 0;
    auto res = decode_properties(std::span<const std::uint8_t>(r.position(), r.remaining()), t,
                                 for_will, out, consumed);
    if (res) r.skip(consumed);
    return res;
}

// Wildcards occupy whole levels and '#' comes last [MQTT-4.7.1-2] [MQTT-4.7.1-3]; a filter that
// breaks this is malformed. In "$share/{group}/{filter}" the rule applies to {filter}; a share name
// that is missing or holds a wildcard is well formed but refused by the server (5.0: 0x8F).
bool wildcards_well_placed(std::string_view filter) noexcept {
    bool valid = true;
    if (auto shared = parse_shared_subscription(filter, valid)) {
        if (shared->group.empty() || has_wildcard(shared->group) || shared->filter.empty())
            return true;
        return is_valid_topic_filter(shared->filter);
    }
    return is_valid_topic_filter(filter);
}

// Reads a UTF-8 Encoded String; invalid UTF-8 is a Malformed Packet [MQTT-1.5.4-1/2].
bool read_utf8(reader& r, std::string& out, decode_result& err, const char* truncated,
               const char* invalid) {
    std::string_view s;
    if (!r.prefixed(s)) {
        err = malformed(truncated);
        return false;
    }
    if (!is_valid_utf8(s)) {
        err = malformed(invalid);
        return false;
    }
    out.assign(s);
    return true;
}

// ---- CONNECT ---------------------------------------------------------------------------------

decode_result decode_connect(const frame& f, reader& r, connect& c) {
    std::string_view name;
    std::uint8_t level = 0;
    if (!r.prefixed(name) || !r.u8(level)) return malformed("CONNECT: truncated variable header");
    const bool mqtt = name == "MQTT";
    const bool mqisdp = name == "MQIsdp";
    if (!mqtt && !mqisdp) return malformed("CONNECT: unknown protocol name");  // [MQTT-3.1.2-1]
    if (mqtt && (level == 4 || level == 5)) {
        c.protocol_version = static_cast<version>(level);
    } else if (mqisdp && level == 3) {
        c.protocol_version = version::v3_1;
    } else {
        // [MQTT-3.1.2-2] answered with CONNACK 0x01 / 0x84 in the version set here.
        // The 3.1.1 form (20 02 00 01) is the one every client can read; a 5.0 client never
        // sends such a level.
        c.protocol_version = version::v3_1_1;
        return {reason_code::unsupported_protocol_version, "CONNECT: unsupported protocol level"};
    }
    const version v = c.protocol_version;
    const bool v5 = v == version::v5;
    if (f.flags() != 0) return malformed("CONNECT: fixed header flags not 0");  // [MQTT-2.2.2-2]

    std::uint8_t flags = 0;
    if (!r.u8(flags) || !r.u16(c.keep_alive))
        return malformed("CONNECT: truncated variable header");
    if ((flags & 0x01) != 0) return malformed("CONNECT: reserved flag set");  // [MQTT-3.1.2-3]
    c.clean_start = (flags & 0x02) != 0;
    const bool will_flag = (flags & 0x04) != 0;
    const auto will_qos = static_cast<std::uint8_t>((flags >> 3) & 0x03);
    const bool will_retain = (flags & 0x20) != 0;
    const bool password_flag = (flags & 0x40) != 0;
    const bool username_flag = (flags & 0x80) != 0;
    if (!will_flag && will_qos != 0) {
        // 5.0 [MQTT-3.1.2-11], 3.1.1 [MQTT-3.1.2-13]
        return malformed("CONNECT: Will QoS without Will Flag");
    }
    if (!will_flag && will_retain) {
        // 5.0 [MQTT-3.1.2-13], 3.1.1 [MQTT-3.1.2-15]
        return malformed("CONNECT: Will Retain without Will Flag");
    }
    if (will_qos == 3) return malformed("CONNECT: Will QoS 3");  // 5.0 [MQTT-3.1.2-12]
    if (!v5 && password_flag && !username_flag) {
        return malformed("CONNECT: password without user name");  // [MQTT-3.1.2-22]
    }
    if (v5) {
        if (auto res = read_props(r, packet_type::connect, false, c.props); !res) return res;
    }

    decode_result err;
    // The first soft error, reported once the whole packet decoded; `soft` converts to true while
    // there is none yet.
    decode_result soft;
    // [MQTT-3.1.3-4] the Client Identifier is a UTF-8 Encoded String
    if (!read_utf8(r, c.client_id, err, "CONNECT: truncated Client Identifier",
                   "CONNECT: Client Identifier is not valid UTF-8"))
        return err;
    if (c.client_id.empty() && (v == version::v3_1 || (v == version::v3_1_1 && !c.clean_start))) {
        // 3.1.1 [MQTT-3.1.3-8]: a zero-byte ClientId needs CleanSession 1; 3.1 requires 1..23
        // characters. (5.0 lets the server assign one: the broker's decision.)
        soft = {reason_code::client_identifier_not_valid, "CONNECT: empty Client Identifier"};
    }
    if (will_flag) {
        will_message& w = c.will.emplace();
        w.qos_level = static_cast<qos>(will_qos);
        w.retain = will_retain;
        if (v5) {
            if (auto res = read_props(r, packet_type::connect, true, w.props); !res) return res;
        }
        if (!read_utf8(r, w.topic, err, "CONNECT: truncated Will Topic",
                       "CONNECT: Will Topic is not valid UTF-8"))
            return err;
        std::string_view payload;
        if (!r.prefixed(payload)) return malformed("CONNECT: truncated Will Payload");
        w.payload.assign(payload);
        if (soft && !is_valid_topic_name(w.topic)) {
            // [MQTT-3.3.2-2] [MQTT-4.7.3-1] the will is published to a Topic Name
            soft = {reason_code::topic_name_invalid, "CONNECT: Will Topic is not a Topic Name"};
        }
        if (soft && w.props.payload_format_indicator == 1 && !is_valid_utf8(w.payload)) {
            // 5.0 section 3.1.3.2.3
            soft = {reason_code::payload_format_invalid,
                    "CONNECT: Will Payload is not UTF-8 as its Payload Format Indicator says"};
        }
    }
    if (username_flag) {
        // 5.0 [MQTT-3.1.2-17], 3.1.1 [MQTT-3.1.2-19]
        std::string user;
        if (!read_utf8(r, user, err, "CONNECT: truncated User Name",
                       "CONNECT: User Name is not valid UTF-8"))
            return err;
        c.username = std::move(user);
    }
    if (password_flag) {
        // 5.0 [MQTT-3.1.2-19], 3.1.1 [MQTT-3.1.2-21]
        std::string_view pass;
        if (!r.prefixed(pass)) return malformed("CONNECT: truncated Password");
        c.password.emplace(pass);
    }
    if (!r.empty()) return malformed("CONNECT: bytes after the payload");
    return soft;
}

// ---- CONNACK ---------------------------------------------------------------------------------

decode_result decode_connack(version v, reader& r, connack& c) {
    std::uint8_t flags = 0;
    if (!r.u8(flags) || !r.u8(c.code)) return malformed("CONNACK: truncated");
    if (v == version::v3_1) {
        if (flags != 0) return malformed("CONNACK: reserved byte not 0");  // 3.1 has no flags
    } else if ((flags & 0xFE) != 0) {
        return malformed("CONNACK: reserved acknowledge flags set");  // 5.0 [MQTT-3.2.2-1]
    }
    c.session_present = (flags & 0x01) != 0;
    if (v == version::v5) {
        if (!valid_v5_code(packet_type::connack, c.code)) {
            return malformed("CONNACK: reason code not allowed");
        }
        if (auto res = read_props(r, packet_type::connack, false, c.props); !res) return res;
    } else if (c.code > static_cast<std::uint8_t>(connect_return_code::not_authorized)) {
        return malformed("CONNACK: reserved return code");  // 3.1.1 section 3.2.2.3
    }
    if (c.session_present && c.code != 0) {
        // 5.0 [MQTT-3.2.2-6], 3.1.1 [MQTT-3.2.2-4]
        return malformed("CONNACK: Session Present with a refusal");
    }
    if (!r.empty()) return malformed("CONNACK: bytes after the variable header");
    return ok;
}

// ---- PUBLISH ---------------------------------------------------------------------------------

decode_result decode_publish(version v, const frame& f, reader& r, publish& p) {
    const std::uint8_t flags = f.flags();
    p.dup = (flags & 0x08) != 0;
    p.retain = (flags & 0x01) != 0;
    const auto q = static_cast<std::uint8_t>((flags >> 1) & 0x03);
    if (q == 3) return malformed("PUBLISH: QoS 3");                    // [MQTT-3.3.1-4]
    if (p.dup && q == 0) return malformed("PUBLISH: DUP with QoS 0");  // [MQTT-3.3.1-2]
    p.qos_level = static_cast<qos>(q);

    decode_result err;
    // [MQTT-3.3.2-1] the Topic Name is a UTF-8 Encoded String
    if (!read_utf8(r, p.topic, err, "PUBLISH: truncated Topic Name",
                   "PUBLISH: Topic Name is not valid UTF-8"))
        return err;
    if (q > 0) {
        if (!r.u16(p.packet_id)) return malformed("PUBLISH: truncated Packet Identifier");
        if (p.packet_id == 0)
            return protocol_error("PUBLISH: Packet Identifier 0");  // [MQTT-2.2.1-3]
    }
    const bool v5 = v == version::v5;
    if (v5) {
        if (auto res = read_props(r, packet_type::publish, false, p.props); !res) return res;
    }
    p.payload.assign(r.rest());

    if (p.topic.empty()) {
        // 5.0 section 3.3.2.3.4: an empty Topic Name needs a Topic Alias; 3.x [MQTT-4.7.3-1]
        if (v5) {
            if (!p.props.topic_alias)
                return protocol_error("PUBLISH: empty Topic Name, no Topic Alias");
        } else {
            return {reason_code::topic_name_invalid, "PUBLISH: empty Topic Name"};
        }
    } else if (has_wildcard(p.topic)) {
        return {reason_code::topic_name_invalid,
                "PUBLISH: wildcard in Topic Name"};  // [MQTT-3.3.2-2]
    }
    if (p.props.payload_format_indicator == 1 && !is_valid_utf8(p.payload)) {
        // 5.0 section 3.3.2.3.2
        return {reason_code::payload_format_invalid,
                "PUBLISH: payload is not UTF-8 as its Payload Format Indicator says"};
    }
    return ok;
}

// ---- PUBACK, PUBREC, PUBREL, PUBCOMP --------------------------------------------------------

template <typename Ack>
decode_result decode_ack(version v, packet_type t, reader& r, Ack& a) {
    if (!r.u16(a.packet_id)) return malformed("acknowledgement: truncated Packet Identifier");
    if (a.packet_id == 0) return protocol_error("acknowledgement: Packet Identifier 0");
    if (v != version::v5) {
        if (!r.empty()) return malformed("acknowledgement: Remaining Length not 2");
        return ok;
    }
    // 5.0: Remaining Length 2 means Success and no properties; 3 means no properties.
    if (r.empty()) return ok;
    std::uint8_t code = 0;
    (void)r.u8(code);
    if (!valid_v5_code(t, code)) return malformed("acknowledgement: reason code not allowed");
    a.code = static_cast<reason_code>(code);
    if (r.empty()) return ok;
    if (auto res = read_props(r, t, false, a.props); !res) return res;
    if (!r.empty()) return malformed("acknowledgement: bytes after the properties");
    return ok;
}

// ---- SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK -----------------------------------------------

decode_result decode_subscribe(version v, reader& r, subscribe& s) {
    if (!r.u16(s.packet_id)) return malformed("SUBSCRIBE: truncated Packet Identifier");
    if (s.packet_id == 0) return malformed("SUBSCRIBE: Packet Identifier 0");  // [MQTT-2.2.1-3]
    const bool v5 = v == version::v5;
    if (v5) {
        if (auto res = read_props(r, packet_type::subscribe, false, s.props); !res) return res;
    }
    if (r.empty()) {
        // 5.0 [MQTT-3.8.3-2] (a Protocol Error), 3.1.1 [MQTT-3.8.3-3]
        return v5 ? protocol_error("SUBSCRIBE: no Topic Filter")
                  : malformed("SUBSCRIBE: no Topic Filter");
    }
    decode_result err;
    while (!r.empty()) {
        topic_subscription& ts = s.topics.emplace_back();
        // 3.1.1 [MQTT-3.8.3-1] Topic Filters are UTF-8 Encoded Strings
        if (!read_utf8(r, ts.filter, err, "SUBSCRIBE: truncated Topic Filter",
                       "SUBSCRIBE: Topic Filter is not valid UTF-8"))
            return err;
        if (ts.filter.empty()) return malformed("SUBSCRIBE: empty Topic Filter");  // [MQTT-4.7.3-1]
        if (!wildcards_well_placed(ts.filter))
            return malformed("SUBSCRIBE: wildcard not a whole level");  // [MQTT-4.7.1-2/3]
        std::uint8_t opts = 0;
        if (!r.u8(opts)) return malformed("SUBSCRIBE: missing Subscription Options");
        const auto q = static_cast<std::uint8_t>(opts & 0x03);
        if (q == 3)
            return malformed("SUBSCRIBE: QoS 3");  // 5.0 [MQTT-3.8.3-5], 3.1.1 [MQTT-3-8.3-4]
        ts.options.max_qos = static_cast<qos>(q);
        if (!v5) {
            if ((opts & 0xFC) != 0) {
                return malformed("SUBSCRIBE: reserved option bits set");  // 3.1.1 [MQTT-3-8.3-4]
            }
            continue;
        }
        if ((opts & 0xC0) != 0)
            return malformed("SUBSCRIBE: reserved option bits set");  // [MQTT-3.8.3-5]
        ts.options.no_local = (opts & 0x04) != 0;
        ts.options.retain_as_published = (opts & 0x08) != 0;
        ts.options.retain_handling = static_cast<std::uint8_t>((opts >> 4) & 0x03);
        if (ts.options.retain_handling == 3) {
            return malformed("SUBSCRIBE: Retain Handling 3");  // 5.0 section 3.8.3.1
        }
        if (ts.options.no_local && ts.filter.starts_with("$share/")) {
            return protocol_error(
                "SUBSCRIBE: No Local on a Shared Subscription");  // [MQTT-3.8.3-4]
        }
    }
    return ok;
}

decode_result decode_suback(version v, reader& r, suback& s) {
    if (!r.u16(s.packet_id)) return malformed("SUBACK: truncated Packet Identifier");
    if (s.packet_id == 0) return protocol_error("SUBACK: Packet Identifier 0");
    const bool v5 = v == version::v5;
    if (v5) {
        if (auto res = read_props(r, packet_type::suback, false, s.props); !res) return res;
    }
    // One code per Topic Filter of the SUBSCRIBE, which has at least one.
    if (r.empty()) return malformed("SUBACK: no return codes");
    const std::string_view codes = r.rest();
    s.codes.assign(codes.begin(), codes.end());
    for (std::uint8_t c : s.codes) {
        const bool valid = v5 ? valid_v5_code(packet_type::suback, c)
                              : (c <= 2 || c == suback_failure_v3);  // 3.1.1 [MQTT-3.9.3-2]
        if (!valid) return malformed("SUBACK: return code not allowed");
    }
    return ok;
}

decode_result decode_unsubscribe(version v, reader& r, unsubscribe& u) {
    if (!r.u16(u.packet_id)) return malformed("UNSUBSCRIBE: truncated Packet Identifier");
    if (u.packet_id == 0) return malformed("UNSUBSCRIBE: Packet Identifier 0");  // [MQTT-2.2.1-3]
    const bool v5 = v == version::v5;
    if (v5) {
        if (auto res = read_props(r, packet_type::unsubscribe, false, u.props); !res) return res;
    }
    if (r.empty()) {
        // 5.0 section 3.10.3 (a Protocol Error), 3.1.1 [MQTT-3.10.3-2]
        return v5 ? protocol_error("UNSUBSCRIBE: no Topic Filter")
                  : malformed("UNSUBSCRIBE: no Topic Filter");
    }
    decode_result err;
    while (!r.empty()) {
        std::string& filter = u.filters.emplace_back();
        // 3.1.1 [MQTT-3.10.3-1] Topic Filters are UTF-8 Encoded Strings
        if (!read_utf8(r, filter, err, "UNSUBSCRIBE: truncated Topic Filter",
                       "UNSUBSCRIBE: Topic Filter is not valid UTF-8"))
            return err;
        if (filter.empty()) return malformed("UNSUBSCRIBE: empty Topic Filter");  // [MQTT-4.7.3-1]
        if (!wildcards_well_placed(filter))
            return malformed("UNSUBSCRIBE: wildcard not a whole level");  // [MQTT-4.7.1-2/3]
    }
    return ok;
}

decode_result decode_unsuback(version v, reader& r, unsuback& u) {
    if (!r.u16(u.packet_id)) return malformed("UNSUBACK: truncated Packet Identifier");
    if (u.packet_id == 0) return protocol_error("UNSUBACK: Packet Identifier 0");
    if (v != version::v5) {
        if (!r.empty()) return malformed("UNSUBACK: Remaining Length not 2");
        return ok;
    }
    if (auto res = read_props(r, packet_type::unsuback, false, u.props); !res) return res;
    if (r.empty()) return malformed("UNSUBACK: no reason codes");
    while (!r.empty()) {
        std::uint8_t c = 0;
        (void)r.u8(c);
        if (!valid_v5_code(packet_type::unsuback, c)) {
            return malformed("UNSUBACK: reason code not allowed");
        }
        u.codes.push_back(static_cast<reason_code>(c));
    }
    return ok;
}

// ---- DISCONNECT, AUTH ------------------------------------------------------------------------

template <typename P>
decode_result decode_reason_and_props(packet_type t, reader& r, P& p, const char* bad_code,
                                      const char* trailing) {
    // Remaining Length 0: reason 0x00 and no properties; 1: no properties (5.0 3.14.2.1, 3.15.2.1)
    if (r.empty()) return ok;
    std::uint8_t code = 0;
    (void)r.u8(code);
    if (!valid_v5_code(t, code)) return malformed(bad_code);
    p.code = static_cast<reason_code>(code);
    if (r.empty()) return ok;
    if (auto res = read_props(r, t, false, p.props); !res) return res;
    if (!r.empty()) return malformed(trailing);
    return ok;
}

}  // namespace

decode_result decode(version v, const frame& f, packet& out) {
    reader r(f.body.data(), f.body.data() + f.body.size());
    const packet_type t = f.type();
    if (t != packet_type::connect && !flags_valid(v, t, f.flags())) {
        return malformed("fixed header flags not valid for the packet type");  // [MQTT-2.2.2-2]
    }
    switch (t) {
        case packet_type::connect:
            return decode_connect(f, r, out.emplace<connect>());
        case packet_type::connack:
            return decode_connack(v, r, out.emplace<connack>());
        case packet_type::publish:
            return decode_publish(v, f, r, out.emplace<publish>());
        case packet_type::puback:
            return decode_ack(v, t, r, out.emplace<puback>());
        case packet_type::pubrec:
            return decode_ack(v, t, r, out.emplace<pubrec>());
        case packet_type::pubrel:
            return decode_ack(v, t, r, out.emplace<pubrel>());
        case packet_type::pubcomp:
            return decode_ack(v, t, r, out.emplace<pubcomp>());
        case packet_type::subscribe:
            return decode_subscribe(v, r, out.emplace<subscribe>());
        case packet_type::suback:
            return decode_suback(v, r, out.emplace<suback>());
        case packet_type::unsubscribe:
            return decode_unsubscribe(v, r, out.emplace<unsubscribe>());
        case packet_type::unsuback:
            return decode_unsuback(v, r, out.emplace<unsuback>());
        case packet_type::pingreq:
            out.emplace<pingreq>();
            return r.empty() ? ok : malformed("PINGREQ: Remaining Length not 0");
        case packet_type::pingresp:
            out.emplace<pingresp>();
            return r.empty() ? ok : malformed("PINGRESP: Remaining Length not 0");
        case packet_type::disconnect: {
            auto& d = out.emplace<disconnect>();
            if (v != version::v5) {
                return r.empty() ? ok : malformed("DISCONNECT: Remaining Length not 0");
            }
            return decode_reason_and_props(packet_type::disconnect, r, d,
                                           "DISCONNECT: reason code not allowed",
                                           "DISCONNECT: bytes after the properties");
        }
        case packet_type::auth: {
            auto& a = out.emplace<auth>();
            if (v != version::v5) return malformed("AUTH: packet type 15 is reserved before 5.0");
            const bool omitted = r.empty();
            auto res = decode_reason_and_props(packet_type::auth, r, a,
                                               "AUTH: reason code not allowed",  // [MQTT-3.15.2-1]
                                               "AUTH: bytes after the properties");
            if (res && !omitted && !a.props.authentication_method) {
                // 5.0 section 3.15.2.2.2: only the all-omitted form may leave out the method.
                return protocol_error("AUTH: no Authentication Method");
            }
            return res;
        }
    }
    return malformed("reserved packet type 0");  // 5.0 section 2.1.2: forbidden
}

}  // namespace rmqtt::protocol
