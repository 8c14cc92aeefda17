#include "store_source.hpp"

#include "rmqtt/storage/rocksdb_module.hpp"

namespace rmqtt::store_tool {

std::unique_ptr<store_source> open_redis_source(const store_target& t, access a, bool live,
                                                bool force);

std::unique_ptr<store_source> open_source(const store_target& target, access a, bool live,
                                          bool force) {
    if (target.type == store_target::engine::rocksdb) {
        const storage::rocksdb_module::entry_points* engine = nullptr;
        if (auto st = storage::rocksdb_module::load(engine); !st)
            throw tool_error(exit_error, st.message());
        return engine->open_source(target, a, live);
    }
    return open_redis_source(target, a, live, force);
}

}  // namespace rmqtt::store_tool
