#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "persist/persistence.hpp"
#include "rmqtt/storage/records.hpp"
#include "rmqtt/storage/status.hpp"
#include "rmqtt/storage/store.hpp"

namespace rmqtt::broker {

// What a restart reads back from the session store, before any listener opens.
struct recovered_state {
    struct session {
        storage::session_record record;  // disconnected_at_ms set for sessions online at a crash
        std::vector<storage::subscription_record> subscriptions;
        std::optional<storage::queue_bounds> bounds;  // stored queue entries, loaded on reconnect
        std::vector<std::uint16_t> inbound_qos2;
        // The stored record changed here (the disconnect time of a session online at a crash):
        // it is written back; the others are stored as they are.
        bool rewrite = false;
    };
    std::vector<session> sessions;                  // unexpired
    std::vector<storage::session_record> expired;   // to delete (their wills go out)
    std::vector<storage::message_record> retained;  // when `with_retained`
    std::int64_t now_ms = 0;                        // the wall clock the expiry was judged at
    std::uint32_t generation_reserved = 0;          // meta "generation_reserved" (0: none)
};

// The meta keys of the last proof of life (the heartbeat) and of the reserved session
// generations (core_context::take_generation).
inline constexpr const char* last_alive_key = "last_alive_ms";
// Written with the last heartbeat of a clean stop: `rmqttd store` (tools/store) tells a stopped
// broker's fresh heartbeat from a running one's by it.
inline constexpr const char* stopped_key = "stopped_at_ms";
// The heartbeat interval in use (written at start), so the tool judges a heartbeat's age by the
// running broker's interval, whatever configuration it was given.
inline constexpr const char* heartbeat_interval_key = "heartbeat_interval_ms";
inline constexpr const char* generation_reserved_meta = "generation_reserved";

struct recovery_options {
    // Sessions per chunk handed from a reader to the caller. Small chunks, and few waiting, bound
    // what the readers' records take at once: they are allocated on the reader threads, whose
    // malloc arenas keep that peak after recovery (glibc's malloc_trim does not shrink them).
    std::size_t chunk = 64;
    // Reader threads, for engines that split the sessions into parts (RocksDB: hash ranges of
    // the keys); 0: one per core, at most 4. Engines that do not split read on one thread.
    std::size_t readers = 0;
    // Chunks read ahead of the caller, at most (bounds the memory of a fast reader).
    std::size_t max_waiting = 2;
    // Called on the calling thread before the first chunk with the store's estimate of the
    // session count (0: unknown), to reserve memory.
    std::function<void(std::size_t)> on_estimate;
};

// Reads every session (subscriptions, queue bounds and inbound QoS 2 ids with it) and, with
// `with_retained`, the retained messages. A session that was online at a crash counts its expiry
// from the last heartbeat. Unexpired sessions are handed to `on_chunk` on the calling thread,
// chunk by chunk, while the store is still being read (the caller builds sessions meanwhile);
// `out` receives everything else (out.sessions stays empty). Logs progress every few seconds
// on a large store. Blocks. On failure, some chunks may have been handed over.
storage::status read_recovery_state(
    persistence& store, bool with_retained, const recovery_options& options,
    const std::function<void(std::vector<recovered_state::session>&)>& on_chunk,
    recovered_state& out);
// The same, collecting the sessions in out.sessions.
storage::status read_recovery_state(persistence& store, bool with_retained, recovered_state& out);

}  // namespace rmqtt::broker
