#pragma once

// Opening a session store for `rmqttd store`: the engine found from the broker's configuration or
// given on the command line, a raw scan of every record into a store_image, the engine's store
// interface for writes, and RocksDB compaction.
//
// A store a running broker holds is refused: RocksDB through its LOCK file (the tool opens the
// store read-write, as the broker does, so the open fails while a broker holds it); Redis
// through the broker's heartbeat (meta last_alive_ms, written every heartbeat_interval): younger
// than 3 intervals and not followed by a clean stop (meta stopped_at_ms) means a broker is
// running. `live` (inspect, export) reads alongside a running broker instead: RocksDB opened
// read-only (a consistent view as of the open; it never writes or deletes a file), Redis read
// while it changes.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "rmqtt/storage/store.hpp"
#include "store_image.hpp"

namespace rmqtt::store_tool {

// Exit codes of `rmqttd store` (documented in docs/store-format.md).
inline constexpr int exit_ok = 0;
inline constexpr int exit_problems = 1;  // check found problems (not all repaired)
inline constexpr int exit_usage = 2;     // bad arguments or configuration
inline constexpr int exit_refused = 3;   // a running broker holds the store; not empty (import)
inline constexpr int exit_error = 4;     // the store or the file cannot be read or written

// A failure that ends the command: the message goes to stderr, the code is the exit status.
class tool_error : public std::runtime_error {
  public:
    tool_error(int code, const std::string& message) : std::runtime_error(message), code_(code) {}
    int code() const noexcept { return code_; }

  private:
    int code_;
};

struct store_target {
    enum class engine { rocksdb, redis };
    engine type = engine::rocksdb;
    std::string rocksdb_path;
    std::string redis_url;
    std::string redis_prefix;
    std::chrono::milliseconds heartbeat_interval{2000};
    std::uint64_t node_id = 1;
};

enum class access {
    read,     // inspect, export, check
    write,    // import, check --repair (RocksDB: created when missing, for import)
    compact,  // compact (RocksDB only)
};

// Progress lines on stderr every `every` records (0: none).
struct progress {
    std::size_t every = 100000;
    const char* what = "read";
    std::size_t done = 0;
    void tick() {
        ++done;
        if (every != 0 && done % every == 0)
            std::fprintf(stderr, "%s %zu records...\n", what, done);
    }
};

class store_source {
  public:
    virtual ~store_source() = default;
    // Reads every record. Records that do not decode become findings; an engine failure (I/O,
    // Redis gone) throws tool_error.
    virtual void scan(store_image& out, progress& p) = 0;
    // The engine's store for writes (access::write only).
    virtual storage::store& writer() = 0;
    // Redis: removes client ids from the sessions index (dangling members). RocksDB: no index.
    virtual void remove_index_members(const std::vector<std::string>& client_ids) = 0;
    // RocksDB: CompactRange over every column family; the directory's bytes before and after.
    virtual void compact(std::uint64_t& bytes_before, std::uint64_t& bytes_after) = 0;
};

// `live`: see above (access::read only). `force`: Redis, ignore a fresh heartbeat. RocksDB is
// opened through the engine module (rmqtt/storage/rocksdb_module.hpp): tool_error(exit_error)
// when it cannot be loaded.
std::unique_ptr<store_source> open_source(const store_target& target, access a, bool live,
                                          bool force);

// The RocksDB source itself: in the engine module (rocksdb_source.cpp).
std::unique_ptr<store_source> open_rocksdb_source(const store_target& t, access a, bool live);

}  // namespace rmqtt::store_tool
