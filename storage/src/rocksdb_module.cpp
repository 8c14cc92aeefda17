#include "rmqtt/storage/rocksdb_module.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

#ifndef RMQTT_ENGINE_BUILD
#error "RMQTT_ENGINE_BUILD must be defined (CMakeLists.txt)"
#endif

namespace rmqtt::storage::rocksdb_module {

namespace {

struct loaded {
    status result;
    const entry_points* entry = nullptr;
};

status unavailable(const std::string& path, const std::string& why) {
    return status::error(status::code::unavailable,
                         "the RocksDB engine module '" + path + "' " + why +
                             " (storage.type = \"rocksdb\" needs it: it is installed next to "
                             "the rmqttd binary, or named by $" +
                             path_variable + ")");
}

loaded load_once() {
    const std::string path = module_path();
    // RTLD_NOW: a missing symbol fails here, not at the first call. Never closed.
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        const char* e = ::dlerror();
        return {unavailable(path, std::string("cannot be loaded: ") + (e ? e : "unknown error")),
                nullptr};
    }
    auto fn = reinterpret_cast<entry_function>(::dlsym(handle, entry_symbol));
    if (!fn) {
        return {unavailable(
                    path, std::string("is not an rmqttd RocksDB module (no ") + entry_symbol + ")"),
                nullptr};
    }
    const entry_points* e = fn();
    if (!e || e->abi != abi_version || !e->build ||
        std::strcmp(e->build, RMQTT_ENGINE_BUILD) != 0 || !e->open_store || !e->open_source) {
        return {unavailable(path, std::string("comes from another build (module: ") +
                                      (e && e->build ? e->build : "?") +
                                      ", rmqttd: " RMQTT_ENGINE_BUILD ")"),
                nullptr};
    }
    return {status::ok(), e};
}

}  // namespace

std::string module_path() {
    if (const char* p = std::getenv(path_variable); p && *p) return p;
    std::error_code ec;
    const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (ec) return file_name;  // the loader's search path, as a last resort
    return (exe.parent_path() / file_name).string();
}

status load(const entry_points*& out) {
    static const loaded once = load_once();
    out = once.entry;
    return once.result;
}

status open_store(const rocksdb_options& options, std::unique_ptr<store>& out) {
    const entry_points* e = nullptr;
    if (status st = load(e); !st) return st;
    return e->open_store(options, out);
}

}  // namespace rmqtt::storage::rocksdb_module
