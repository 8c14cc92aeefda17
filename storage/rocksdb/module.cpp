// The entry point of librmqtt_rocksdb.so (rmqtt/storage/rocksdb_module.hpp): the only symbol the
// module exports; everything else in it has hidden visibility.
#include "rmqtt/storage/rocksdb_module.hpp"
#include "store_source.hpp"

#ifndef RMQTT_ENGINE_BUILD
#error "RMQTT_ENGINE_BUILD must be defined (CMakeLists.txt)"
#endif

extern "C" __attribute__((visibility("default")))
const rmqtt::storage::rocksdb_module::entry_points*
rmqtt_rocksdb_module() {
    static const rmqtt::storage::rocksdb_module::entry_points entry{
        rmqtt::storage::rocksdb_module::abi_version, RMQTT_ENGINE_BUILD,
        &rmqtt::storage::open_rocksdb_store, &rmqtt::store_tool::open_rocksdb_source};
    return &entry;
}
