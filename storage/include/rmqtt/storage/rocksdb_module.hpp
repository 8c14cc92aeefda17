#pragma once

// The RocksDB engine lives in a module of its own, librmqtt_rocksdb.so, which rmqttd loads
// (dlopen) the first time it opens a RocksDB store: the session-storage plugin with
// storage.type = "rocksdb" (the retainer's persistent storage uses that store), and
// `rmqttd store ...` on a RocksDB store. A broker without it (storage off, or Redis) never maps
// RocksDB: its code and its static initialisers cost several MB of resident memory otherwise.
//
// Where: $RMQTTD_ROCKSDB_MODULE when set (a path to the file), else librmqtt_rocksdb.so in the
// directory of the running executable (/proc/self/exe). A missing or unloadable module, or one
// from another build, gives an `unavailable` status that names the path and the reason.
//
// What crosses: one C function (entry_symbol) returning the entry points below; the engine is
// used only through the abstract interfaces (storage::store, store_tool::store_source). The
// module links its own copies of the storage code it needs (status, value codec, the store
// interface's defaults) with hidden visibility, and RocksDB as a shared library.
// Tests that exercise the engine itself link it directly (the rmqtt_storage_rocksdb library).

#include <cstdint>
#include <memory>
#include <string>

#include "rmqtt/storage/store.hpp"

namespace rmqtt::store_tool {
class store_source;
struct store_target;
enum class access;
}  // namespace rmqtt::store_tool

namespace rmqtt::storage::rocksdb_module {

// Bump when entry_points or anything that crosses it changes.
inline constexpr std::uint32_t abi_version = 1;
inline constexpr const char* file_name = "librmqtt_rocksdb.so";
inline constexpr const char* entry_symbol = "rmqtt_rocksdb_module";
inline constexpr const char* path_variable = "RMQTTD_ROCKSDB_MODULE";

struct entry_points {
    std::uint32_t abi = 0;
    // The build the module comes from (version, compiler, sanitizer): it must equal rmqttd's.
    const char* build = "";
    status (*open_store)(const rocksdb_options& options, std::unique_ptr<store>& out) = nullptr;
    // `rmqttd store`: the RocksDB store_source (throws store_tool::tool_error).
    std::unique_ptr<store_tool::store_source> (*open_source)(const store_tool::store_target& t,
                                                             store_tool::access a,
                                                             bool live) = nullptr;
};
using entry_function = const entry_points* (*)();

// The path the module is loaded from.
std::string module_path();
// Loads the module once (thread-safe); every later call returns the first call's result.
status load(const entry_points*& out);
// load(), then the module's open_store.
status open_store(const rocksdb_options& options, std::unique_ptr<store>& out);

}  // namespace rmqtt::storage::rocksdb_module
