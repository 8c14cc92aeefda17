#pragma once

// What `rmqttd store` reads from a session store: every record decoded, grouped by client id,
// with what could not be decoded and what points nowhere kept aside for `check`. Both engines'
// raw scanners (store_source.hpp) fill one of these; inspect, export and check read it.

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "rmqtt/storage/records.hpp"

namespace rmqtt::store_tool {

// The kinds of stored record, for counts and sizes. `index` is the Redis engine's ordering and
// lookup sets (sessions index, queue index, retained index), `other` the schema marker and keys
// the layout does not know.
enum class record_kind {
    session,
    subscription,
    message,   // a queue entry not yet sent
    inflight,  // a queue entry sent and not yet acknowledged
    queue_state,
    inbound_qos2,
    retained,
    meta,
    index,
    other,
    shared_message,  // a message stored once for several queue entries (RocksDB "messages")
    message_refs,    // its reference count (RocksDB "msgrefs")
};
inline constexpr std::size_t record_kind_count = 12;
const char* to_string(record_kind k) noexcept;

// A record that could not be decoded, or one that refers to a missing record.
struct finding {
    enum class type {
        undecodable,  // bytes that do not decode (key or value)
        orphan,       // a subscription / queue entry / inbound id whose session record is missing
        dangling,     // a reference to a missing record (queue state, index member)
        stale,        // a queue entry of an earlier session of the client id
        unknown,      // a key under the store's prefix the layout does not know
    };
    type what = type::undecodable;
    std::string client_id;  // when the record belongs to one
    std::string where;      // "column family queue, key 0a1b..", "redis key session-1:{c}:q"
    std::string detail;     // what is wrong
    // What --repair removes: for an orphan, every record of the client id; for a dangling queue
    // state or a stale entry, the entry `seq`; for a dangling Redis index member, the member.
    std::optional<std::uint64_t> seq;
    // Shared messages: with `seq`, queue entry `seq` references this missing message (repair:
    // the entry is deleted); an orphan with no client id is a message no entry references
    // (repair: deleted); a dangling one without `seq` has a stored count that differs from the
    // entries that reference it (repair: the count is written again).
    std::optional<std::uint64_t> message_id;
};
const char* to_string(finding::type t) noexcept;

struct client_records {
    std::optional<storage::session_record> session;
    std::map<std::string, storage::subscription_record> subscriptions;  // by filter
    std::map<std::uint64_t, storage::queue_entry> queue;  // by seq, the stored state applied
    std::set<std::uint16_t> inbound_qos2;
    std::size_t bytes = 0;  // keys and values of every record of the client id
    // Engine bookkeeping, for check.
    std::set<std::uint64_t> states;       // seqs with a separate state record
    std::set<std::uint64_t> queue_index;  // Redis: members of the queue order set
    bool indexed = false;                 // Redis: a member of the sessions index
    bool has_records() const {
        return !subscriptions.empty() || !queue.empty() || !inbound_qos2.empty() ||
               !states.empty() || !queue_index.empty();
    }
};

struct store_image {
    std::string engine;    // "rocksdb" or "redis"
    std::string location;  // directory, or redis URL (without password) and prefix
    std::map<std::string, client_records> clients;
    std::map<std::string, storage::message_record> retained;  // by topic
    std::map<std::string, std::string> meta;
    std::map<std::uint64_t, storage::message_record> shared;  // shared messages, by id
    std::map<std::uint64_t, std::uint64_t> shared_refs;       // their stored counts
    std::vector<finding> findings;
    std::array<std::size_t, record_kind_count> counts{};
    std::array<std::size_t, record_kind_count> bytes{};
    std::size_t records = 0;  // everything scanned

    void count(record_kind k, std::size_t n_bytes) {
        counts[static_cast<std::size_t>(k)] += 1;
        bytes[static_cast<std::size_t>(k)] += n_bytes;
        ++records;
    }
    // Records other than meta, the schema marker and indexes: what makes a store non-empty.
    std::size_t data_records() const;
    // Adds the orphan, dangling and stale findings that follow from the records read.
    void find_references();
    // Fills the message of every queue entry that references a stored shared message.
    void resolve_shared();
};

// The meta keys the broker writes (broker/src/persist/recovery.hpp, core/server.cpp): the
// heartbeat, the time of a clean stop (written with the last heartbeat), and the heartbeat
// interval the broker runs with (written at its start).
inline constexpr const char* last_alive_key = "last_alive_ms";
inline constexpr const char* stopped_key = "stopped_at_ms";
inline constexpr const char* heartbeat_interval_key = "heartbeat_interval_ms";

// A session counts as expired as recovery judges it: a session online at the last heartbeat
// counts its expiry from that heartbeat (from `now` when there is none).
bool session_expired(const storage::session_record& s, std::int64_t last_alive_ms,
                     std::int64_t now_ms);
std::int64_t last_alive_of(const store_image& image, std::int64_t now_ms);

}  // namespace rmqtt::store_tool
