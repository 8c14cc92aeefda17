#include "session/outbound_queue.hpp"

#include <algorithm>

namespace rmqtt::broker {

std::optional<outbound_entry> outbound_queue::push(outbound_entry e, bool enforce_limit) {
    auto& queued = body().queued;
    if (enforce_limit && limits_.max_queued != 0 && queued.size() >= limits_.max_queued) {
        if (limits_.overflow == overflow_policy::drop_new) return e;
        outbound_entry oldest = std::move(queued.front());
        queued.pop_front();
        queued.push_back(std::move(e));
        return oldest;
    }
    queued.push_back(std::move(e));
    return std::nullopt;
}

void outbound_queue::restore(std::vector<outbound_entry> entries) {
    if (entries.empty()) return;
    auto& [queued, inflight, send_counter] = body();
    std::sort(entries.begin(), entries.end(),
              [](const outbound_entry& a, const outbound_entry& b) { return a.seq < b.seq; });
    std::vector<outbound_entry> back_to_queue;
    for (auto& e : entries) {
        const auto pid = packet_id_for(e.seq);
        if (e.state != delivery_state::queued && !inflight.contains(pid)) {
            e.ever_sent = true;
            e.send_order = ++send_counter;
            inflight.emplace(pid, std::move(e));
        } else {
            e.state = delivery_state::queued;
            back_to_queue.push_back(std::move(e));
        }
    }
    queued.insert_front(std::make_move_iterator(back_to_queue.begin()),
                        std::make_move_iterator(back_to_queue.end()));
}

std::size_t outbound_queue::fill(std::int64_t now_ms, steady_clock::time_point now,
                                 const std::function<void(outbound_entry&)>& send,
                                 const std::function<void(outbound_entry&&)>& expired,
                                 std::size_t max_sends) {
    if (!s_) return 0;
    auto& [queued, inflight, send_counter] = *s_;
    std::size_t sent = 0;
    while (!queued.empty() && inflight.size() < limits_.max_inflight && sent < max_sends) {
        outbound_entry& front = queued.front();
        if (front.msg->expired(now_ms)) {
            outbound_entry gone = std::move(front);
            queued.pop_front();
            expired(std::move(gone));
            continue;
        }
        const auto pid = packet_id_for(front.seq);
        // The identifier is still held by an older unacknowledged message 65535 seqs back: wait
        // for it rather than reuse it [MQTT-2.2.1-3].
        if (inflight.contains(pid)) break;
        outbound_entry e = std::move(front);
        queued.pop_front();
        e.state = delivery_state::sent;
        e.sent_at = now;
        e.send_order = ++send_counter;
        auto [it, inserted] = inflight.emplace(pid, std::move(e));
        send(it->second);
        ++sent;
        it->second.ever_sent = true;
    }
    return sent;
}

void outbound_queue::for_each_inflight(const std::function<void(outbound_entry&)>& fn) {
    if (!s_) return;
    auto& inflight = s_->inflight;
    std::vector<outbound_entry*> order;
    order.reserve(inflight.size());
    for (auto& [pid, e] : inflight)
        order.push_back(&e);
    std::sort(order.begin(), order.end(), [](const outbound_entry* a, const outbound_entry* b) {
        return a->send_order < b->send_order;
    });
    for (auto* e : order)
        fn(*e);
}

void outbound_queue::for_each_due(steady_clock::time_point older_than,
                                  const std::function<void(outbound_entry&)>& fn) {
    if (!s_) return;
    auto& inflight = s_->inflight;
    std::vector<outbound_entry*> due;
    for (auto& [pid, e] : inflight) {
        if (e.state == delivery_state::sent && e.sent_at <= older_than) due.push_back(&e);
    }
    std::sort(due.begin(), due.end(), [](const outbound_entry* a, const outbound_entry* b) {
        return a->send_order < b->send_order;
    });
    for (auto* e : due)
        fn(*e);
}

outbound_queue::ack_result outbound_queue::on_puback(std::uint16_t packet_id,
                                                     outbound_entry& removed) {
    if (!s_) return ack_result::unknown_packet_id;
    auto& inflight = s_->inflight;
    auto it = inflight.find(packet_id);
    if (it == inflight.end()) return ack_result::unknown_packet_id;
    if (it->second.qos != protocol::qos::at_least_once) return ack_result::wrong_state;
    removed = std::move(it->second);
    inflight.erase(it);
    return ack_result::ok;
}

outbound_queue::ack_result outbound_queue::on_pubrec(std::uint16_t packet_id,
                                                     outbound_entry*& entry) {
    if (!s_) return ack_result::unknown_packet_id;
    auto& inflight = s_->inflight;
    auto it = inflight.find(packet_id);
    if (it == inflight.end()) return ack_result::unknown_packet_id;
    if (it->second.qos != protocol::qos::exactly_once) return ack_result::wrong_state;
    it->second.state = delivery_state::pubrec_received;
    entry = &it->second;
    return ack_result::ok;
}

outbound_queue::ack_result outbound_queue::on_pubrec_error(std::uint16_t packet_id,
                                                           outbound_entry& removed) {
    if (!s_) return ack_result::unknown_packet_id;
    auto& inflight = s_->inflight;
    auto it = inflight.find(packet_id);
    if (it == inflight.end()) return ack_result::unknown_packet_id;
    if (it->second.qos != protocol::qos::exactly_once || it->second.state != delivery_state::sent)
        return ack_result::wrong_state;
    removed = std::move(it->second);
    inflight.erase(it);
    return ack_result::ok;
}

void outbound_queue::revert_pubrec(std::uint16_t packet_id) {
    if (!s_) return;
    auto& inflight = s_->inflight;
    auto it = inflight.find(packet_id);
    if (it != inflight.end() && it->second.state == delivery_state::pubrec_received)
        it->second.state = delivery_state::sent;
}

const outbound_entry* outbound_queue::find_inflight(std::uint16_t packet_id) const {
    if (!s_) return nullptr;
    auto it = s_->inflight.find(packet_id);
    return it == s_->inflight.end() ? nullptr : &it->second;
}

outbound_queue::ack_result outbound_queue::on_pubcomp(std::uint16_t packet_id,
                                                      outbound_entry& removed) {
    if (!s_) return ack_result::unknown_packet_id;
    auto& inflight = s_->inflight;
    auto it = inflight.find(packet_id);
    if (it == inflight.end()) return ack_result::unknown_packet_id;
    if (it->second.state != delivery_state::pubrec_received) return ack_result::wrong_state;
    removed = std::move(it->second);
    inflight.erase(it);
    return ack_result::ok;
}

bool outbound_queue::remove_inflight(std::uint16_t packet_id, outbound_entry& removed) {
    if (!s_) return false;
    auto& inflight = s_->inflight;
    auto it = inflight.find(packet_id);
    if (it == inflight.end()) return false;
    removed = std::move(it->second);
    inflight.erase(it);
    return true;
}

std::vector<outbound_entry> outbound_queue::clear() {
    if (!s_) return {};
    auto& queued = s_->queued;
    auto& inflight = s_->inflight;
    std::vector<outbound_entry> all;
    all.reserve(size());
    for (auto& [pid, e] : inflight)
        all.push_back(std::move(e));
    for (auto& e : queued)
        all.push_back(std::move(e));
    inflight.clear();
    queued.clear();
    return all;
}

std::vector<outbound_entry> outbound_queue::take_queued() {
    if (!s_) return {};
    auto& queued = s_->queued;
    std::vector<outbound_entry> out(std::make_move_iterator(queued.begin()),
                                    std::make_move_iterator(queued.end()));
    queued.clear();
    return out;
}

}  // namespace rmqtt::broker
