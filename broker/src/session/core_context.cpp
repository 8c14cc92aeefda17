#include "session/core_context.hpp"

#include <spdlog/spdlog.h>

#include <string>

namespace rmqtt::broker {

namespace {
// Generations reserved in the store per write: one meta write per this many sessions.
constexpr std::uint32_t generation_block = 1024;
}  // namespace

std::uint32_t core_context::take_generation() {
    std::lock_guard lock(generation_mutex_);
    if (next_generation_ == 0xFFFFFFFF) {
        // 4 billion persistent sessions created on this node: start again at 1. Only an entry
        // left by a session of the same client id 4 billion sessions ago could be mistaken.
        spdlog::warn("session generation numbers wrapped around");
        next_generation_ = 1;
        reserved_until_ = 0;
    }
    const std::uint32_t g = next_generation_++;
    if (g >= reserved_until_) {
        reserved_until_ = g + generation_block;
        // Submitted under the lock: the store sees the reservations in increasing order, and
        // before any write of the caller that uses `g`.
        if (auto* st = store())
            st->submit(
                storage::put_meta{generation_reserved_meta, std::to_string(reserved_until_)});
    }
    return g;
}

void core_context::set_generation_floor(std::uint32_t next) noexcept {
    std::lock_guard lock(generation_mutex_);
    next_generation_ = next == 0 ? 1 : next;
    reserved_until_ = 0;  // reserve again from the floor on the first take
}

}  // namespace rmqtt::broker
