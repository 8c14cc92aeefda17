#pragma once

// Private to the Redis engine: the key layout. Operators and tests rely on it, so a change here
// is a schema change.
//
//   <prefix>:sessions                 ZSET   every score 0, member = client id: the recovery
//                                            index (no KEYS / SCAN), paged with ZRANGEBYLEX
//   <prefix>:{<cid'>}:s               STRING encode_value(session_record)
//   <prefix>:{<cid'>}:sub             HASH   filter -> encode_value(subscription_record)
//   <prefix>:{<cid'>}:q               HASH   seq8 -> encode_value(queue_entry)
//                                            seq8 + "s" -> state byte + packet id (2 bytes BE),
//                                            the mutable part, authoritative over the value's
//                                            seq8 + "m" -> id8: only for an entry that references
//                                            a shared message (its value holds the id too); the
//                                            engine's scripts read it to release the reference
//   <prefix>:{<cid'>}:qi              ZSET   every score 0, member = seq8: queue order (lex)
//   <prefix>:{<cid'>}:q2              SET    inbound QoS 2 packet ids, decimal
//   <prefix>:retained:{r}:idx         ZSET   every score 0, member = topic
//   <prefix>:retained:{r}:msg         HASH   topic -> encode_value(message_record)
//   <prefix>:meta                     HASH   key -> value
//   <prefix>:shared:{m}:msg           HASH   id8 -> encode_value(message_record): shared messages
//   <prefix>:shared:{m}:refs          HASH   id8 -> decimal count of the queue entries (seq8 "m"
//                                            fields) that reference it
//   <prefix>:shared:{m}:freed         SET    id8 whose count reached 0 in the running
//                                            transaction; emptied by the transaction's last
//                                            script, so it never outlives an EXEC
//
// id8 is a shared message id as 8 bytes big-endian (as seq8).
// seq8 is the sequence number as 8 bytes big-endian, so byte order is numeric order over the
// full 64-bit range (a ZSET score, a double, is exact only up to 2^53).
// cid' is the client id with '%', '{' and '}' percent-encoded, and "%" for the empty id: the
// braces form a Redis Cluster hash tag, so all keys of one session hash to one slot and one
// MULTI/EXEC or script can touch them; the encoding is injective and keeps the client id's own
// braces out of the tag. The prefix must not contain '{' or '}' (it would move the tag).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "rmqtt/storage/records.hpp"

namespace rmqtt::storage::redis_detail {

std::string escape_client_id(std::string_view client_id);

struct session_keys {
    std::string session;
    std::string subscriptions;
    std::string queue;
    std::string queue_index;
    std::string inbound_qos2;
};
session_keys make_session_keys(std::string_view prefix, std::string_view client_id);

struct global_keys {
    std::string sessions_index;
    std::string retained_index;
    std::string retained_messages;
    std::string meta;
    std::string shared_messages;  // shared:{m}:msg
    std::string shared_refs;      // shared:{m}:refs
    std::string shared_freed;     // shared:{m}:freed
};
global_keys make_global_keys(std::string_view prefix);

std::string seq_field(std::uint64_t seq);    // 8 bytes big-endian
std::string state_field(std::uint64_t seq);  // seq_field + 's'
std::string ref_field(std::uint64_t seq);    // seq_field + 'm'
std::optional<std::uint64_t> parse_seq_field(std::string_view field);

std::string encode_state(queue_state state, std::uint16_t packet_id);
bool decode_state(std::string_view bytes, queue_state& state, std::uint16_t& packet_id);

}  // namespace rmqtt::storage::redis_detail
