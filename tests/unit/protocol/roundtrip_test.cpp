// decode(encode(x)) == x for seeded random valid packets of every type in 3.1, 3.1.1 and 5.0,
// with encoded_size() equal to the bytes written and publish_view encoding the same bytes.
#include <gtest/gtest.h>

#include <random>

#include "codec_test_util.hpp"

namespace rmqtt::protocol {
namespace {

using test::bytes;

class generator {
  public:
    explicit generator(std::uint64_t seed) : rng_(seed) {}

    std::uint32_t below(std::uint32_t n) { return static_cast<std::uint32_t>(rng_() % n); }
    bool coin() { return below(2) == 0; }

    // Valid UTF-8 without U+0000, mixing 1- to 4-byte characters and '/'.
    std::string utf8(std::size_t max_chars) {
        static const char* const pieces[] = {
            "a", "Z", "0", "/", " ", "$", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "\x7F"};
        std::string s;
        const std::size_t n = below(static_cast<std::uint32_t>(max_chars + 1));
        for (std::size_t i = 0; i < n; ++i)
            s += pieces[below(10)];
        return s;
    }
    std::string binary(std::size_t max_len) {
        std::string s(below(static_cast<std::uint32_t>(max_len + 1)), '\0');
        for (char& c : s)
            c = static_cast<char>(below(256));
        return s;
    }
    std::string topic_name() {
        std::string t = utf8(6);
        for (char& c : t) {
            if (c == '+' || c == '#') c = 'x';
        }
        return t.empty() ? "t" : t;
    }
    std::string filter() {
        // Well-formed filters only: a misplaced wildcard makes SUBSCRIBE / UNSUBSCRIBE malformed.
        static const char* const filters[] = {"#", "+", "a/+/b", "sport/#", "+/x/#", "a/#"};
        return coin() ? std::string(filters[below(6)]) : topic_name();
    }
    std::uint16_t packet_id() { return static_cast<std::uint16_t>(1 + below(65535)); }
    qos any_qos() { return static_cast<qos>(below(3)); }

    template <typename T>
    std::optional<T> maybe(T v) {
        return coin() ? std::optional<T>(v) : std::nullopt;
    }

    // Properties valid for packet type `t` (or a will).
    properties props(packet_type t, bool will) {
        properties p;
        const auto u8flag = [&] {
            return maybe<std::uint8_t>(static_cast<std::uint8_t>(below(2)));
        };
        const auto u16nz = [&] {
            return maybe<std::uint16_t>(static_cast<std::uint16_t>(1 + below(65535)));
        };
        const auto u32 = [&] { return maybe<std::uint32_t>(static_cast<std::uint32_t>(rng_())); };
        const auto str = [&] {
            return coin() ? std::optional<std::string>(utf8(5)) : std::nullopt;
        };
        const bool pub = t == packet_type::publish || will;
        if (pub) {
            p.payload_format_indicator = u8flag();
            p.message_expiry_interval = u32();
            p.content_type = str();
            if (coin()) p.response_topic = topic_name();
            if (coin()) p.correlation_data = binary(8);
        }
        if (!will && (t == packet_type::publish || t == packet_type::subscribe)) {
            const std::uint32_t n = t == packet_type::publish ? below(3) : below(2);
            for (std::uint32_t i = 0; i < n; ++i) {
                p.subscription_identifiers.push_back(1 + below(268435455));
            }
        }
        if (will) p.will_delay_interval = u32();
        if (!will && (t == packet_type::connect || t == packet_type::connack ||
                      t == packet_type::disconnect)) {
            p.session_expiry_interval = u32();
        }
        if (!will &&
            (t == packet_type::connect || t == packet_type::connack || t == packet_type::auth)) {
            if (coin() || t == packet_type::auth) {
                p.authentication_method = utf8(4);
                if (coin()) p.authentication_data = binary(6);
            }
        }
        if (!will && t == packet_type::connect) {
            p.request_problem_information = u8flag();
            p.request_response_information = u8flag();
        }
        if (!will && (t == packet_type::connect || t == packet_type::connack)) {
            p.receive_maximum = u16nz();
            p.topic_alias_maximum = maybe<std::uint16_t>(static_cast<std::uint16_t>(below(65536)));
            if (coin()) p.maximum_packet_size = 1 + below(0xFFFFFFFE);
        }
        if (!will && t == packet_type::connack) {
            p.assigned_client_identifier = str();
            p.server_keep_alive = maybe<std::uint16_t>(static_cast<std::uint16_t>(below(65536)));
            p.response_information = str();
            p.maximum_qos = u8flag();
            p.retain_available = u8flag();
            p.wildcard_subscription_available = u8flag();
            p.subscription_identifier_available = u8flag();
            p.shared_subscription_available = u8flag();
        }
        if (!will && (t == packet_type::connack || t == packet_type::disconnect)) {
            p.server_reference = str();
        }
        const bool reason_string = !will && t != packet_type::connect &&
                                   t != packet_type::publish && t != packet_type::subscribe &&
                                   t != packet_type::unsubscribe;
        if (reason_string) p.reason_string = str();
        if (!will && t == packet_type::publish) p.topic_alias = u16nz();
        const std::uint32_t users = below(3);
        for (std::uint32_t i = 0; i < users; ++i)
            p.user_properties.push_back({utf8(3), utf8(3)});
        return p;
    }

    template <typename Ack>
    Ack ack(version v, std::initializer_list<std::uint8_t> codes, packet_type t) {
        Ack a;
        a.packet_id = packet_id();
        if (v == version::v5) {
            a.code = static_cast<reason_code>(
                *(codes.begin() + below(static_cast<std::uint32_t>(codes.size()))));
            if (coin()) a.props = props(t, false);
        }
        return a;
    }

    packet make(version v, int type) {
        const bool v5 = v == version::v5;
        switch (type) {
            case 1: {
                connect c;
                c.protocol_version = v;
                c.clean_start = coin();
                c.keep_alive = static_cast<std::uint16_t>(below(65536));
                c.client_id = utf8(10);
                if (c.client_id.empty() && v != version::v5) c.client_id = "id";
                if (coin()) {
                    will_message w;
                    w.topic = topic_name();
                    w.qos_level = any_qos();
                    w.retain = coin();
                    if (v5) w.props = props(packet_type::connect, true);
                    w.payload = w.props.payload_format_indicator == 1 ? utf8(10) : binary(10);
                    c.will = w;
                }
                if (coin()) c.username = utf8(5);
                if (coin() && (v5 || c.username)) c.password = binary(5);
                if (v5) c.props = props(packet_type::connect, false);
                return c;
            }
            case 2: {
                connack a;
                if (v5) {
                    static const std::uint8_t codes[] = {0x00, 0x80, 0x84, 0x85, 0x86, 0x87,
                                                         0x88, 0x8C, 0x95, 0x9C, 0x9F};
                    a.code = codes[below(11)];
                    a.props = props(packet_type::connack, false);
                } else {
                    a.code = static_cast<std::uint8_t>(below(6));
                }
                a.session_present = a.code == 0 && v != version::v3_1 && coin();
                return a;
            }
            case 3: {
                publish p;
                p.qos_level = any_qos();
                p.dup = p.qos_level != qos::at_most_once && coin();
                p.retain = coin();
                p.topic = topic_name();
                if (p.qos_level != qos::at_most_once) p.packet_id = packet_id();
                if (v5) {
                    p.props = props(packet_type::publish, false);
                    if (p.props.topic_alias && coin()) p.topic.clear();
                }
                p.payload = p.props.payload_format_indicator == 1 ? utf8(20) : binary(20);
                return p;
            }
            case 4:
                return ack<puback>(v, {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99},
                                   packet_type::puback);
            case 5:
                return ack<pubrec>(v, {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99},
                                   packet_type::pubrec);
            case 6:
                return ack<pubrel>(v, {0x00, 0x92}, packet_type::pubrel);
            case 7:
                return ack<pubcomp>(v, {0x00, 0x92}, packet_type::pubcomp);
            case 8: {
                subscribe s;
                s.packet_id = packet_id();
                const std::uint32_t n = 1 + below(4);
                for (std::uint32_t i = 0; i < n; ++i) {
                    topic_subscription ts;
                    ts.filter = filter();
                    ts.options.max_qos = any_qos();
                    if (v5) {
                        ts.options.no_local = coin();
                        ts.options.retain_as_published = coin();
                        ts.options.retain_handling = static_cast<std::uint8_t>(below(3));
                    }
                    s.topics.push_back(ts);
                }
                if (v5) s.props = props(packet_type::subscribe, false);
                return s;
            }
            case 9: {
                suback s;
                s.packet_id = packet_id();
                const std::uint32_t n = 1 + below(4);
                for (std::uint32_t i = 0; i < n; ++i) {
                    static const std::uint8_t v3codes[] = {0, 1, 2, 0x80};
                    static const std::uint8_t v5codes[] = {0,    1,    2,    0x80, 0x83, 0x87,
                                                           0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2};
                    s.codes.push_back(v5 ? v5codes[below(12)] : v3codes[below(4)]);
                }
                if (v5) s.props = props(packet_type::suback, false);
                return s;
            }
            case 10: {
                unsubscribe u;
                u.packet_id = packet_id();
                const std::uint32_t n = 1 + below(4);
                for (std::uint32_t i = 0; i < n; ++i)
                    u.filters.push_back(filter());
                if (v5) u.props = props(packet_type::unsubscribe, false);
                return u;
            }
            case 11: {
                unsuback u;
                u.packet_id = packet_id();
                if (v5) {
                    static const std::uint8_t codes[] = {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91};
                    const std::uint32_t n = 1 + below(4);
                    for (std::uint32_t i = 0; i < n; ++i) {
                        u.codes.push_back(static_cast<reason_code>(codes[below(7)]));
                    }
                    u.props = props(packet_type::unsuback, false);
                }
                return u;
            }
            case 12:
                return pingreq{};
            case 13:
                return pingresp{};
            case 14: {
                disconnect d;
                if (v5) {
                    static const std::uint8_t codes[] = {0x00, 0x04, 0x80, 0x81, 0x82, 0x8B,
                                                         0x8E, 0x93, 0x98, 0x9C, 0xA2};
                    d.code = static_cast<reason_code>(codes[below(11)]);
                    if (coin()) d.props = props(packet_type::disconnect, false);
                }
                return d;
            }
            default: {
                auth a;
                static const std::uint8_t codes[] = {0x00, 0x18, 0x19};
                a.code = static_cast<reason_code>(codes[below(3)]);
                if (a.code != reason_code::success || coin())
                    a.props = props(packet_type::auth, false);
                return a;
            }
        }
    }

  private:
    std::mt19937_64 rng_;
};

TEST(RoundTrip, SeededRandomPacketsOfEveryTypeAndVersion) {
    generator gen(0xC0FFEE);
    int checked = 0;
    for (version v : {version::v3_1, version::v3_1_1, version::v5}) {
        for (int i = 0; i < 1500; ++i) {
            const int type = 1 + static_cast<int>(gen.below(v == version::v5 ? 15 : 14));
            const packet p = gen.make(v, type);
            const bytes wire = test::encode_bytes(v, p);
            const auto d = test::decode_bytes(v, wire);
            ASSERT_TRUE(d.result) << to_string(type_of(p)) << " v" << to_string(v) << ": "
                                  << d.result.detail;
            ASSERT_TRUE(d.p == p) << to_string(type_of(p)) << " v" << to_string(v);
            if (const auto* pub = std::get_if<publish>(&p)) {
                const publish_view view{pub->dup,       pub->qos_level, pub->retain, pub->topic,
                                        pub->packet_id, &pub->props,    pub->payload};
                bytes fast;
                encode(v, view, fast);
                ASSERT_EQ(fast, wire);
                ASSERT_EQ(encoded_size(v, view), wire.size());
            }
            ++checked;
        }
    }
    EXPECT_EQ(checked, 4500);
}

TEST(RoundTrip, LargestTopicAndMultiByteRemainingLengths) {
    // A 65,535-byte topic and a payload crossing the 2-, 3- and 4-byte Remaining Length bounds.
    for (std::size_t payload :
         {std::size_t{0}, std::size_t{16383}, std::size_t{2097151}, std::size_t{2097152}}) {
        publish p;
        p.qos_level = qos::exactly_once;
        p.packet_id = 65535;
        p.topic = std::string(65535, 'a');
        p.payload = std::string(payload, 'p');
        for (version v : {version::v3_1_1, version::v5}) {
            const bytes wire = test::encode_bytes(v, p);
            const auto d = test::decode_bytes(v, wire);
            ASSERT_TRUE(d.result) << d.result.detail;
            EXPECT_TRUE(d.p == packet{p});
        }
    }
}

}  // namespace
}  // namespace rmqtt::protocol
