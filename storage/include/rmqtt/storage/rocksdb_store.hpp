#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

// The on-disk layout of the RocksDB engine (open_rocksdb_store in store.hpp), for tools and for
// tests that inspect or damage a store with raw RocksDB calls. Changing any of this changes the
// stored format: bump rocksdb_layout::schema_version and migrate.
//
// Column families and keys. P(client_id) = <8-byte BE FNV-1a 64 hash of client_id>
// <2-byte BE length><client_id>. P is prefix-free: no P(a) is a prefix of P(b) for a != b, so
// the keys of one client id are exactly the range [P, successor(P)), whatever bytes the id holds.
//
//   default   "rmqttd.schema" -> decimal schema version (written at creation, checked at open)
//   meta      meta key -> value as given (put_meta)
//   sessions  P -> encode_value(session_record)
//   subs      P | filter -> encode_value(subscription_record)
//   queue     P | seq (8-byte BE) -> encode_value(queue_entry)
//   qstate    P | seq (8-byte BE) -> <version 1><state u8><packet_id u16 LE>: the state set by
//             update_queue_entry, overriding the entry's; deleted by every put of the entry
//   inq2      P | packet_id (2-byte BE) -> empty
//   retained  topic -> encode_value(message_record)
//   messages  message id (8-byte BE) -> encode_value(message_record): a shared message
//             (put_message), referenced by queue entries written in value schema version 3
//   msgrefs   message id (8-byte BE) -> <refs u64 LE>: how many queue entries reference it;
//             written in the same RocksDB write as every change of that number, and deleted with
//             the message when it reaches 0
// The two shared-message families are created when a store without them is opened (stores made
// before them hold no references).
namespace rmqtt::storage::rocksdb_layout {

inline constexpr std::uint32_t schema_version = 1;
inline constexpr std::string_view schema_key = "rmqttd.schema";

inline constexpr std::string_view cf_meta = "meta";
inline constexpr std::string_view cf_sessions = "sessions";
inline constexpr std::string_view cf_subs = "subs";
inline constexpr std::string_view cf_queue = "queue";
inline constexpr std::string_view cf_qstate = "qstate";
inline constexpr std::string_view cf_inq2 = "inq2";
inline constexpr std::string_view cf_retained = "retained";
inline constexpr std::string_view cf_messages = "messages";
inline constexpr std::string_view cf_msgrefs = "msgrefs";
inline constexpr std::array<std::string_view, 9> column_families = {
    cf_meta, cf_sessions, cf_subs,     cf_queue,  cf_qstate,
    cf_inq2, cf_retained, cf_messages, cf_msgrefs};

// FNV-1a 64: stable across builds and platforms (it is part of the key format).
inline std::uint64_t client_hash(std::string_view client_id) noexcept {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (char c : client_id) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ull;
    }
    return h;
}

// Appends P(client_id) to `out`. client_id.size() must be <= 65535.
inline void append_client_prefix(std::string& out, std::string_view client_id) {
    const std::uint64_t h = client_hash(client_id);
    for (int i = 7; i >= 0; --i)
        out.push_back(static_cast<char>((h >> (8 * i)) & 0xFF));
    const auto n = static_cast<std::uint16_t>(client_id.size());
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n & 0xFF));
    out.append(client_id);
}

inline std::string message_key(std::uint64_t id) {
    std::string k;
    for (int i = 7; i >= 0; --i)
        k.push_back(static_cast<char>((id >> (8 * i)) & 0xFF));
    return k;
}

inline void append_seq(std::string& out, std::uint64_t seq) {
    for (int i = 7; i >= 0; --i)
        out.push_back(static_cast<char>((seq >> (8 * i)) & 0xFF));
}

inline std::string session_key(std::string_view client_id) {
    std::string k;
    append_client_prefix(k, client_id);
    return k;
}
inline std::string subscription_key(std::string_view client_id, std::string_view filter) {
    std::string k = session_key(client_id);
    k.append(filter);
    return k;
}
inline std::string queue_key(std::string_view client_id, std::uint64_t seq) {
    std::string k = session_key(client_id);
    append_seq(k, seq);
    return k;
}
inline std::string inbound_qos2_key(std::string_view client_id, std::uint16_t packet_id) {
    std::string k = session_key(client_id);
    k.push_back(static_cast<char>(packet_id >> 8));
    k.push_back(static_cast<char>(packet_id & 0xFF));
    return k;
}

}  // namespace rmqtt::storage::rocksdb_layout
