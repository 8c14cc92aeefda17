#include "store_image.hpp"

#include <cstdlib>
#include <string>

namespace rmqtt::store_tool {

const char* to_string(record_kind k) noexcept {
    switch (k) {
        case record_kind::session:
            return "sessions";
        case record_kind::subscription:
            return "subscriptions";
        case record_kind::message:
            return "queued messages";
        case record_kind::inflight:
            return "inflight messages";
        case record_kind::queue_state:
            return "queue states";
        case record_kind::inbound_qos2:
            return "inbound QoS 2 ids";
        case record_kind::retained:
            return "retained messages";
        case record_kind::meta:
            return "meta";
        case record_kind::index:
            return "index entries";
        case record_kind::other:
            return "other";
        case record_kind::shared_message:
            return "shared messages";
        case record_kind::message_refs:
            return "shared message counts";
    }
    return "?";
}

const char* to_string(finding::type t) noexcept {
    switch (t) {
        case finding::type::undecodable:
            return "undecodable";
        case finding::type::orphan:
            return "orphan";
        case finding::type::dangling:
            return "dangling";
        case finding::type::stale:
            return "stale";
        case finding::type::unknown:
            return "unknown";
    }
    return "?";
}

std::size_t store_image::data_records() const {
    std::size_t n = 0;
    for (auto k : {record_kind::session, record_kind::subscription, record_kind::message,
                   record_kind::inflight, record_kind::queue_state, record_kind::inbound_qos2,
                   record_kind::retained, record_kind::shared_message})
        n += counts[static_cast<std::size_t>(k)];
    return n;
}

void store_image::resolve_shared() {
    for (auto& [id, c] : clients) {
        for (auto& [seq, e] : c.queue) {
            if (e.message_id == 0) continue;
            if (auto it = shared.find(e.message_id); it != shared.end()) e.message = it->second;
        }
    }
}

void store_image::find_references() {
    const bool redis = engine == "redis";
    std::map<std::uint64_t, std::uint64_t> refs;  // shared message id -> entries referencing it
    for (const auto& [id, c] : clients) {
        for (const auto& [seq, e] : c.queue) {
            if (e.message_id == 0) continue;
            ++refs[e.message_id];
            if (!shared.contains(e.message_id)) {
                findings.push_back({finding::type::dangling, id, "queue",
                                    "entry " + std::to_string(seq) + " references message " +
                                        std::to_string(e.message_id) + ", which is not stored",
                                    seq, e.message_id});
            }
        }
    }
    for (const auto& [mid, m] : shared) {
        const auto used = refs.find(mid);
        const std::uint64_t n = used == refs.end() ? 0 : used->second;
        const auto stored = shared_refs.find(mid);
        if (n == 0) {
            findings.push_back({finding::type::orphan, "", "shared message " + std::to_string(mid),
                                "no queue entry references it", std::nullopt, mid});
        } else if (stored == shared_refs.end() || stored->second != n) {
            findings.push_back({finding::type::dangling, "",
                                "shared message " + std::to_string(mid),
                                "its count says " +
                                    (stored == shared_refs.end() ? std::string("nothing")
                                                                 : std::to_string(stored->second)) +
                                    ", " + std::to_string(n) + " queue entries reference it",
                                std::nullopt, mid});
        }
    }
    for (const auto& [mid, n] : shared_refs) {
        if (!shared.contains(mid)) {
            findings.push_back({finding::type::dangling, "",
                                "shared message " + std::to_string(mid),
                                "a count without its message", std::nullopt, mid});
        }
    }
    for (const auto& [id, c] : clients) {
        if (!c.session) {
            if (c.has_records()) {
                findings.push_back({finding::type::orphan, id, "client id '" + id + "'",
                                    std::to_string(c.subscriptions.size()) + " subscriptions, " +
                                        std::to_string(c.queue.size()) + " queue entries, " +
                                        std::to_string(c.inbound_qos2.size()) +
                                        " inbound QoS 2 ids without a session record",
                                    std::nullopt, std::nullopt});
            } else if (c.indexed) {
                findings.push_back({finding::type::dangling, id, "sessions index",
                                    "member '" + id + "' has no session record", std::nullopt,
                                    std::nullopt});
            }
            continue;
        }
        if (redis && !c.indexed) {
            findings.push_back({finding::type::dangling, id, "sessions index",
                                "the session record of '" + id +
                                    "' is not in the sessions index (recovery does not see it)",
                                std::nullopt, std::nullopt});
        }
        for (const auto seq : c.states) {
            if (!c.queue.contains(seq))
                findings.push_back({finding::type::dangling, id, "queue state",
                                    "a state for missing queue entry " + std::to_string(seq), seq,
                                    std::nullopt});
        }
        if (redis) {
            for (const auto seq : c.queue_index) {
                if (!c.queue.contains(seq))
                    findings.push_back({finding::type::dangling, id, "queue index",
                                        "member for missing queue entry " + std::to_string(seq),
                                        seq, std::nullopt});
            }
            for (const auto& [seq, e] : c.queue) {
                if (!c.queue_index.contains(seq))
                    findings.push_back(
                        {finding::type::dangling, id, "queue index",
                         "queue entry " + std::to_string(seq) + " is missing from the queue index",
                         seq, std::nullopt});
            }
        }
        const std::uint32_t first = c.session->first_generation;
        if (first != 0) {
            const std::uint64_t floor = std::uint64_t{first} << 32;
            for (const auto& [seq, e] : c.queue) {
                if (seq < floor)
                    findings.push_back({finding::type::stale, id, "queue",
                                        "entry " + std::to_string(seq) +
                                            " belongs to an earlier session of the client id",
                                        seq, std::nullopt});
            }
        }
    }
}

bool session_expired(const storage::session_record& s, std::int64_t last_alive_ms,
                     std::int64_t now_ms) {
    if (s.expiry_interval_s == storage::never_expires) return false;
    const std::int64_t from = s.disconnected_at_ms == 0 ? last_alive_ms : s.disconnected_at_ms;
    return from + std::int64_t{s.expiry_interval_s} * 1000 <= now_ms;
}

std::int64_t last_alive_of(const store_image& image, std::int64_t now_ms) {
    const auto it = image.meta.find(last_alive_key);
    if (it == image.meta.end()) return now_ms;
    return std::strtoll(it->second.c_str(), nullptr, 10);
}

}  // namespace rmqtt::store_tool
