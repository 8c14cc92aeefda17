#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "rmqtt/storage/records.hpp"
#include "rmqtt/storage/status.hpp"

namespace rmqtt::storage {

// ---- write operations
// ----------------------------------------------------------------------------

struct put_session {
    session_record record;  // inserts or replaces the session record (not its other records)
};
struct delete_session {
    std::string
        client_id;  // removes the session and ALL its records: subscriptions, queue, inbound QoS 2
};
struct put_subscription {
    std::string client_id;
    subscription_record record;  // inserts or replaces the record for record.filter
};
struct delete_subscription {
    std::string client_id;
    std::string filter;
};
// With entry.message_id != 0 the entry references a shared message record (put_message) that
// must exist when the batch is applied (put earlier in the batch or in an earlier write), else
// the write fails with invalid_argument; entry.message is then not stored. A put over an existing
// entry that references a message does not release that reference (the engine does not read the
// entry it replaces, so a put costs no read): the broker never puts an existing entry, and the
// store tools delete one first. `rmqttd store check` reports a count left too high.
struct put_queue_entry {
    std::string client_id;
    queue_entry entry;
};
// Changes state and packet id of an existing entry. On a missing entry it must not create one.
struct update_queue_entry {
    std::string client_id;
    std::uint64_t seq = 0;
    queue_state state = queue_state::sent;
    std::uint16_t packet_id = 0;
};
// Releases the entry's message reference, if it has one (see put_message).
struct delete_queue_entry {
    std::string client_id;
    std::uint64_t seq = 0;
};
// Inbound QoS 2 packet ids: PUBREC sent, PUBREL not yet received ("Method B", 4.3.3).
struct put_inbound_qos2 {
    std::string client_id;
    std::uint16_t packet_id = 0;
};
struct delete_inbound_qos2 {
    std::string client_id;
    std::uint16_t packet_id = 0;
};
struct put_retained {
    message_record message;  // keyed by message.topic
};
struct delete_retained {
    std::string topic;
};
struct put_meta {
    std::string key;
    std::string value;
};
// A message stored once for several queue entries (fan-out to persistent sessions). The engine
// counts the queue entries that reference it (put_queue_entry with entry.message_id == id) and
// removes the record in the write whose operations take that count to zero: when a batch ends,
// a message no entry references is gone (so a put_message whose entries were all cancelled, or
// deleted in the same batch, leaves nothing). delete_session releases the references of the
// session's entries. Ids are unique per store (store::max_message_id); putting an existing id
// replaces the message and keeps its references. Engines without
// supports_shared_messages() refuse it (invalid_argument).
struct put_message {
    std::uint64_t id = 0;  // not 0
    message_record message;
};
// Removes a message record whatever references it, for `rmqttd store check --repair` (an
// unreferenced message); the broker never sends it.
struct delete_message {
    std::uint64_t id = 0;
};

using operation = std::variant<put_session, delete_session, put_subscription, delete_subscription,
                               put_queue_entry, update_queue_entry, delete_queue_entry,
                               put_inbound_qos2, delete_inbound_qos2, put_retained, delete_retained,
                               put_meta, put_message, delete_message>;

struct write_batch {
    std::vector<operation> ops;
    bool empty() const noexcept { return ops.empty(); }
    // Rough byte size, for back-pressure accounting.
    std::size_t approximate_size() const noexcept;
};

// ---- the engine interface ----------------------------------------------------------------------

struct queue_bounds {
    std::uint64_t first_seq = 0;
    std::uint64_t last_seq = 0;
};

// What recovery needs of one session besides its record.
struct recovery_state {
    std::vector<subscription_record> subscriptions;
    std::optional<queue_bounds> bounds;
    std::vector<std::uint16_t> inbound_qos2;
};

// A stored session with what recovery needs of it (for_each_recovered_session).
struct recovered_session {
    session_record record;
    recovery_state state;
};

// The read half of a store: what the broker reads at start-up and when a client returns.
// Implemented by every store (for reads on its own thread) and by the readers open_reader()
// gives (for reads on another thread while the store writes).
class store_reader {
  public:
    virtual ~store_reader() = default;

    // Calls `fn` for every stored session, in no particular order. `fn` returns false to stop.
    virtual status for_each_session(const std::function<bool(session_record&&)>& fn) = 0;
    virtual status load_subscriptions(std::string_view client_id,
                                      std::vector<subscription_record>& out) = 0;
    // Entries with seq >= from_seq, ascending, at most `limit` of them (appended to `out`).
    virtual status load_queue(std::string_view client_id, std::uint64_t from_seq, std::size_t limit,
                              std::vector<queue_entry>& out) = 0;
    // Lowest and highest seq in the session's queue, nullopt if it is empty.
    virtual status load_queue_bounds(std::string_view client_id,
                                     std::optional<queue_bounds>& out) = 0;
    virtual status load_inbound_qos2(std::string_view client_id,
                                     std::vector<std::uint16_t>& out) = 0;
    // Subscriptions, queue bounds and inbound QoS 2 ids of many sessions at once, for recovery:
    // out[i] belongs to client_ids[i]. The default calls the per-session functions; engines
    // override it to batch the reads.
    virtual status load_recovery_state(const std::vector<std::string>& client_ids,
                                       std::vector<recovery_state>& out);
    // Every stored session with its recovery state, handed to `fn` in chunks of at most `chunk`
    // sessions (at least 1), in no particular order; `fn` may move out of the chunk, and returns
    // false to stop. The sessions are split into `parts` disjoint parts (parts >= 1) that
    // together hold every session once; this call reads part `part` (< parts), so several
    // readers can read the parts on their own threads. An engine that cannot split
    // (splits_recovery() false) puts every session in part 0. The default reads
    // for_each_session and load_recovery_state; engines override it to read in one pass.
    virtual status for_each_recovered_session(
        std::size_t part, std::size_t parts, std::size_t chunk,
        const std::function<bool(std::vector<recovered_session>&)>& fn);
    // A rough count of the stored sessions, for reserving memory ahead of recovery; 0 when the
    // engine does not know.
    virtual std::size_t estimate_session_count() { return 0; }
    // Whether for_each_recovered_session splits the sessions into parts (worth reading them on
    // several threads).
    virtual bool splits_recovery() const noexcept { return false; }
    virtual status for_each_retained(const std::function<bool(message_record&&)>& fn) = 0;
    // Every shared message record (put_message) with its id, ascending by id; `fn` returns false
    // to stop. Engines without shared messages have none.
    virtual status for_each_message(
        const std::function<bool(std::uint64_t id, message_record&&)>& fn) {
        (void)fn;
        return status::ok();
    }
    virtual status get_meta(std::string_view key, std::optional<std::string>& out) = 0;
};

// A session store engine: memory (the test oracle), RocksDB (embedded default) or Redis.
//
// Thread safety:
//  - The store itself is used by one thread at a time: the committer's thread for writes, and
//    the same or another thread for reads while no write runs. Calls block.
//  - open_reader() may be called from any thread, also while write() runs. The reader it gives
//    is used by one thread at a time, and its calls may run while the store's write() runs and
//    while other readers read (RocksDB: the same database; Redis: a connection of its own;
//    memory: a mutex).
//  - A reader call sees every write() that returned before the call started (so a reader never
//    goes back in time). A write() running during the call may be partly visible to it: RocksDB
//    reads each call from one snapshot and memory applies a batch all at once, but a Redis call
//    that needs several round trips (for_each_session, load_queue, for_each_retained, the
//    recovery reads) may see some of a concurrent batch's sessions and not others; it never
//    sees a torn record, and never reports an entry deleted under it as corruption.
//  - A `fn` given to a reader's for_each_* may call the same reader again.
//  - After close() (or the store's destruction) a reader's calls fail with invalid_argument;
//    close() waits for reader calls in progress. Destroying a reader is always safe.
// Every engine passes tests/storage/store_conformance.hpp.
class store : public store_reader {
  public:
    // "memory", "rocksdb" or "redis".
    virtual std::string_view engine_name() const noexcept = 0;
    // Where the data lives, for logs: a directory or a redis URL + prefix.
    virtual std::string location() const = 0;

    // Applies every operation of `batch`, in order, and returns once they are committed
    // (RocksDB: in the WAL, fsynced when the engine was opened with sync; Redis: replied).
    // Every engine applies a batch atomically (Redis: one MULTI/EXEC).
    virtual status write(const write_batch& batch) = 0;

    // Shared message records (put_message): RocksDB, Redis and memory.
    virtual bool supports_shared_messages() const noexcept { return false; }
    // The highest shared message id stored (0: none), for the broker to number new ones above
    // it. Called before anything is written (start-up).
    virtual status max_message_id(std::uint64_t& out) {
        out = 0;
        return status::ok();
    }

    // Bytes that write() calls which succeeded handed to the engine, for metrics: RocksDB the
    // write batches' data (what its log receives), Redis the commands sent. 0 where an engine
    // does not count (memory). Called on the writing thread.
    virtual std::uint64_t bytes_written() const noexcept { return 0; }

    // A reader for another thread (see above). Fails with invalid_argument after close().
    // Redis: connects on first use, so a server that is down shows in the reader's calls
    // (unavailable), not here.
    virtual status open_reader(std::unique_ptr<store_reader>& out) = 0;

    // Cheap liveness check (Redis: PING, reconnecting if needed; RocksDB: background error state).
    virtual status check() = 0;

    // Rewrites the stored data without what deletes left behind, for `rmqttd store compact`
    // (RocksDB: CompactRange over every column family, with the engine's own options). Blocks
    // until done; not while write() runs. Engines with nothing to compact: invalid_argument.
    virtual status compact() {
        return status::error(status::code::invalid_argument,
                             std::string(engine_name()) + ": nothing to compact");
    }

    // Flushes and releases the engine; later calls fail with invalid_argument. Idempotent.
    virtual status close() = 0;
};

// ---- engines
// -------------------------------------------------------------------------------------

std::unique_ptr<store> make_memory_store();

struct rocksdb_options {
    std::string path;                               // directory; created if missing
    std::size_t cache_capacity = 64 * 1024 * 1024;  // block cache bytes
    bool sync = false;                              // fsync the WAL on every write()
};
// Opens (or creates) the database. A corrupt or unreadable directory gives `corruption` /
// `io_error` with a message that names the path and what to do; it never starts empty silently.
// Defined in the RocksDB engine (storage/rocksdb): linked into the engine module and into
// rmqtt_storage_rocksdb. rmqttd itself opens RocksDB through rocksdb_module::open_store
// (rocksdb_module.hpp), which loads the module first.
status open_rocksdb_store(const rocksdb_options& options, std::unique_ptr<store>& out);

struct redis_options {
    std::string url = "redis://127.0.0.1:6379/";  // redis://[:password@]host[:port][/db]
    std::string prefix = "session-1";             // key namespace ({node} already replaced)
    int connect_timeout_ms = 3000;
    int command_timeout_ms = 15000;
};
// Connects and checks the server (version, appendonly/appendfsync, maxmemory-policy). A
// maxmemory-policy that evicts keys is refused (invalid_argument). `warnings` receives lines the
// caller should log (for example: "appendonly is off: a Redis crash loses sessions").
status open_redis_store(const redis_options& options, std::unique_ptr<store>& out,
                        std::vector<std::string>& warnings);

}  // namespace rmqtt::storage
