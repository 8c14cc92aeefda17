#include "store_source.hpp"

#include <cstdio>

namespace rmqtt::store_tool {

std::unique_ptr<store_source> open_rocksdb_source(const store_target& t, access a, bool live);
std::unique_ptr<store_source> open_redis_source(const store_target& t, access a, bool live,
                                                bool force);

void progress::tick() {
    ++done;
    if (every != 0 && done % every == 0) std::fprintf(stderr, "%s %zu records...\n", what, done);
}

std::unique_ptr<store_source> open_source(const store_target& target, access a, bool live,
                                          bool force) {
    if (target.type == store_target::engine::rocksdb) return open_rocksdb_source(target, a, live);
    return open_redis_source(target, a, live, force);
}

}  // namespace rmqtt::store_tool
