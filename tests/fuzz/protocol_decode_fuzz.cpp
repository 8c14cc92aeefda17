// Fuzz target for the MQTT codec: frames the input, decodes every frame under 3.1, 3.1.1 and 5.0,
// and for every packet that decodes (including those refused with a soft reason such as
// topic_name_invalid) checks that encoding it and decoding the bytes again gives the same packet
// and the same result. Any difference aborts.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <variant>
#include <vector>

#include "rmqtt/protocol/codec.hpp"
#include "rmqtt/protocol/topic.hpp"
#include "rmqtt/protocol/utf8.hpp"

namespace {

using namespace rmqtt::protocol;

void check(bool ok) {
    if (!ok) std::abort();
}

bool is_soft(reason_code rc) {
    return rc == reason_code::topic_name_invalid || rc == reason_code::payload_format_invalid ||
           rc == reason_code::client_identifier_not_valid;
}

// Exercises the topic functions on decoded names and filters; they must not crash and must agree
// with each other.
void check_topics(const packet& p) {
    if (const auto* pub = std::get_if<publish>(&p)) {
        if (is_valid_topic_name(pub->topic)) {
            check(topic_matches(pub->topic, pub->topic));
            check(!pub->topic.starts_with('$') || !topic_matches("#", pub->topic));
            check(pub->topic.starts_with('$') || topic_matches("#", pub->topic));
        }
        check(topic_levels(pub->topic) >= 1);
    } else if (const auto* sub = std::get_if<subscribe>(&p)) {
        for (const auto& t : sub->topics) {
            bool valid = false;
            auto shared = parse_shared_subscription(t.filter, valid);
            if (shared && valid) check(is_valid_topic_filter(shared->filter));
            if (is_valid_topic_filter(t.filter)) {
                (void)topic_matches(t.filter, "a/b/c");
                (void)topic_matches(t.filter, "$SYS/x");
                if (!has_wildcard(t.filter)) check(topic_matches(t.filter, t.filter));
            }
        }
    }
}

void roundtrip(version v, const packet& p, const decode_result& first) {
    const version ev =
        std::holds_alternative<connect>(p) ? std::get<connect>(p).protocol_version : v;
    std::vector<std::uint8_t> bytes;
    encode(ev, p, bytes);
    check(bytes.size() == encoded_size(ev, p));

    frame f;
    const frame_result fr = parse_frame(bytes, 0, f);
    check(fr.status == frame_status::complete && fr.consumed == bytes.size());
    packet again;
    const decode_result second = decode(ev, f, again);
    check(second.code == first.code);
    check(again == p);

    if (const auto* pub = std::get_if<publish>(&p)) {
        const publish_view view{pub->dup,       pub->qos_level, pub->retain, pub->topic,
                                pub->packet_id, &pub->props,    pub->payload};
        std::vector<std::uint8_t> fast{0xAA};  // appends after existing content
        encode(ev, view, fast);
        check(fast.size() == bytes.size() + 1 && encoded_size(ev, view) == bytes.size());
        check(std::equal(bytes.begin(), bytes.end(), fast.begin() + 1));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> input(data, size);
    (void)is_valid_utf8(std::string_view(reinterpret_cast<const char*>(data), size));

    for (version v : {version::v3_1, version::v3_1_1, version::v5}) {
        std::span<const std::uint8_t> rest = input;
        for (int n = 0; n < 64 && !rest.empty(); ++n) {
            frame f;
            const frame_result fr = parse_frame(rest, 0, f);
            if (fr.status != frame_status::complete) {
                check(fr.consumed == 0);
                check(fr.status != frame_status::too_large);  // no limit given
                if (fr.status == frame_status::need_more && fr.needed != 0) {
                    check(fr.needed > rest.size());
                }
                break;
            }
            check(fr.consumed == f.size && f.size <= rest.size());
            // The limit is decided on the whole packet size, with or without the body present.
            frame g;
            check(parse_frame(rest, static_cast<std::uint32_t>(f.size), g).status ==
                  frame_status::complete);
            if (f.size > 2) {
                const auto lim = static_cast<std::uint32_t>(f.size - 1);
                check(parse_frame(rest, lim, g).status == frame_status::too_large);
                check(parse_frame(rest.first(f.size - f.body.size()), lim, g).status ==
                      frame_status::too_large);
            }

            packet p;
            const decode_result res = decode(v, f, p);
            if (res || is_soft(res.code)) {
                roundtrip(v, p, res);
                check_topics(p);
            }
            rest = rest.subspan(fr.consumed);
        }
    }
    return 0;
}
