#include "persist/recovery.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <future>

#include "rmqtt/broker/clock.hpp"

namespace rmqtt::broker {

storage::status read_recovery_state(persistence& store, bool with_retained, recovered_state& out) {
    out = recovered_state{};
    const auto now = wall_now_ms();
    out.now_ms = now;
    storage::status failure;
    std::promise<void> done;
    store.read([&](storage::store& engine) {
        std::optional<std::string> alive;
        if (auto s = engine.get_meta(last_alive_key, alive); !s) {
            failure = s;
            done.set_value();
            return;
        }
        std::int64_t last_alive = now;
        if (alive) last_alive = std::strtoll(alive->c_str(), nullptr, 10);
        std::optional<std::string> reserved;
        if (auto s = engine.get_meta(generation_reserved_meta, reserved); !s) {
            failure = s;
            done.set_value();
            return;
        }
        if (reserved)
            out.generation_reserved =
                static_cast<std::uint32_t>(std::strtoull(reserved->c_str(), nullptr, 10));
        auto last_progress = steady_clock::now();
        std::size_t seen = 0;
        auto s = engine.for_each_session([&](storage::session_record&& rec) {
            ++seen;
            if (steady_clock::now() - last_progress > std::chrono::seconds(2)) {
                last_progress = steady_clock::now();
                spdlog::info("recovering sessions: {} read so far...", seen);
            }
            // A session that was connected at a crash counts from the last proof of life.
            const bool was_online = rec.disconnected_at_ms == 0;
            if (was_online) rec.disconnected_at_ms = last_alive;
            if (rec.expiry_interval_s != storage::never_expires &&
                rec.disconnected_at_ms + std::int64_t{rec.expiry_interval_s} * 1000 <= now) {
                out.expired.push_back(std::move(rec));
                return true;
            }
            out.sessions.push_back({std::move(rec), {}, {}, {}, was_online});
            return true;
        });
        if (!s) failure = s;
        // Subscriptions, queue bounds and inbound QoS 2 ids, in chunks (engines batch them).
        constexpr std::size_t chunk = 4096;
        std::vector<std::string> ids;
        std::vector<storage::recovery_state> states;
        auto& sessions = out.sessions;
        for (std::size_t first = 0; first < sessions.size() && failure.is_ok(); first += chunk) {
            const std::size_t last = std::min(sessions.size(), first + chunk);
            ids.clear();
            for (std::size_t i = first; i < last; ++i)
                ids.push_back(sessions[i].record.client_id);
            if (auto e = engine.load_recovery_state(ids, states); !e) {
                failure = e;
                break;
            }
            for (std::size_t i = first; i < last; ++i) {
                auto& st = states[i - first];
                sessions[i].subscriptions = std::move(st.subscriptions);
                sessions[i].bounds = st.bounds;
                sessions[i].inbound_qos2 = std::move(st.inbound_qos2);
            }
            if (steady_clock::now() - last_progress > std::chrono::seconds(2)) {
                last_progress = steady_clock::now();
                spdlog::info("recovering sessions: subscriptions and queues of {} of {} loaded...",
                             last, sessions.size());
            }
        }
        if (failure.is_ok() && with_retained) {
            auto e = engine.for_each_retained([&](storage::message_record&& m) {
                out.retained.push_back(std::move(m));
                return true;
            });
            if (!e) failure = e;
        }
        done.set_value();
    });
    done.get_future().wait();
    return failure;
}

}  // namespace rmqtt::broker
