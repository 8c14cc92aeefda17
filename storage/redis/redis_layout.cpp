#include "redis_layout.hpp"

namespace rmqtt::storage::redis_detail {

std::string escape_client_id(std::string_view client_id) {
    // An empty tag "{}" would make Redis Cluster hash the whole key, splitting the session over
    // slots; "%" alone is never produced for a non-empty id ('%' always has two hex digits).
    if (client_id.empty()) return "%";
    std::string out;
    out.reserve(client_id.size() + 8);
    for (const char c : client_id) {
        switch (c) {
            case '%':
                out += "%25";
                break;
            case '{':
                out += "%7B";
                break;
            case '}':
                out += "%7D";
                break;
            default:
                out += c;
        }
    }
    return out;
}

session_keys make_session_keys(std::string_view prefix, std::string_view client_id) {
    std::string base;
    const std::string escaped = escape_client_id(client_id);
    base.reserve(prefix.size() + escaped.size() + 4);
    base += prefix;
    base += ":{";
    base += escaped;
    base += "}:";
    session_keys k;
    k.session = base + "s";
    k.subscriptions = base + "sub";
    k.queue = base + "q";
    k.queue_index = base + "qi";
    k.inbound_qos2 = base + "q2";
    return k;
}

global_keys make_global_keys(std::string_view prefix) {
    const std::string p(prefix);
    return global_keys{
        p + ":sessions",       p + ":retained:{r}:idx", p + ":retained:{r}:msg", p + ":meta",
        p + ":shared:{m}:msg", p + ":shared:{m}:refs",  p + ":shared:{m}:freed"};
}

std::string seq_field(std::uint64_t seq) {
    std::string out(8, '\0');
    for (int i = 7; i >= 0; --i) {
        out[static_cast<std::size_t>(i)] = static_cast<char>(seq & 0xFF);
        seq >>= 8;
    }
    return out;
}

std::string state_field(std::uint64_t seq) {
    return seq_field(seq) + 's';
}

std::string ref_field(std::uint64_t seq) {
    return seq_field(seq) + 'm';
}

std::optional<std::uint64_t> parse_seq_field(std::string_view field) {
    if (field.size() != 8) return std::nullopt;
    std::uint64_t seq = 0;
    for (const char c : field)
        seq = (seq << 8) | static_cast<unsigned char>(c);
    return seq;
}

std::string encode_state(queue_state state, std::uint16_t packet_id) {
    std::string out(3, '\0');
    out[0] = static_cast<char>(state);
    out[1] = static_cast<char>(packet_id >> 8);
    out[2] = static_cast<char>(packet_id & 0xFF);
    return out;
}

bool decode_state(std::string_view bytes, queue_state& state, std::uint16_t& packet_id) {
    if (bytes.size() != 3) return false;
    const auto s = static_cast<unsigned char>(bytes[0]);
    if (s > static_cast<unsigned char>(queue_state::pubrec_received)) return false;
    state = static_cast<queue_state>(s);
    packet_id = static_cast<std::uint16_t>((static_cast<unsigned char>(bytes[1]) << 8) |
                                           static_cast<unsigned char>(bytes[2]));
    return true;
}

}  // namespace rmqtt::storage::redis_detail
