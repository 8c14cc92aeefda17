#pragma once

#include <asio/any_io_executor.hpp>

#include <cstddef>
#include <functional>
#include <string_view>
#include <vector>

#include "persist/recovery.hpp"
#include "rmqtt/broker/config.hpp"
#include "session/session.hpp"

namespace rmqtt::broker {

class core_context;

struct restore_counts {
    std::size_t sessions = 0;
    std::size_t subscriptions = 0;
    std::size_t with_queue = 0;  // sessions with stored messages (loaded on reconnect)
    std::size_t expired = 0;
    std::size_t revoked_subscriptions = 0;  // no longer allowed by the ACL: removed
    std::size_t revoked_wills = 0;          // will topic no longer allowed: dropped
};

// Rebuilds the sessions read back at start-up, before the listeners open: registry, router,
// queue limits of the listener each client used, expiry and delayed-will timers. Expired
// sessions are deleted and their wills published [MQTT-3.1.2-8].
//
// With ACL hooks registered, each stored subscription is checked again (subscribe action) and
// each will topic (publish action), as the rules stand now, with a client_info built from the
// stored record (restored = true). A subscription the hooks deny is not restored and is deleted
// from the store; a denied will is dropped. A deferred decision is waited for (this runs on the
// starting thread, before anything is served). CVE-2021-34434: a revoked permission does not
// survive in a stored session.
// restore_sessions in steps, for sessions that arrive in chunks while the store is still read:
// add() builds each session (registry, router, limits, inbound QoS 2 ids); finish() gives them
// their generations once every session has been seen (the floor is above all of them), deletes
// the expired sessions, publishes their wills, and starts the expiry and will timers.
class session_restorer {
  public:
    session_restorer(core_context& core, std::function<asio::any_io_executor()> next_worker,
                     std::function<const listener_config*(std::string_view id)> find_listener);
    // About `n` sessions will be added: reserves room for them.
    void expect(std::size_t n);
    void add(recovered_state::session&& r);
    // `state`: generation_reserved, now_ms and the expired sessions (out.sessions is not read).
    restore_counts finish(recovered_state& state);

  private:
    struct restored {
        session_ptr s;
        std::uint32_t first_generation;
        bool with_queue;
        bool rewrite;
    };
    core_context& core_;
    std::function<asio::any_io_executor()> next_worker_;
    std::function<const listener_config*(std::string_view id)> find_listener_;
    bool check_acl_;
    std::uint64_t floor_ = 0;  // above every generation seen
    std::vector<restored> created_;
    storage::write_batch cleanup_;
    restore_counts counts_;
};

restore_counts restore_sessions(
    core_context& core, recovered_state& state,
    const std::function<asio::any_io_executor()>& next_worker,
    const std::function<const listener_config*(std::string_view id)>& find_listener);

}  // namespace rmqtt::broker
