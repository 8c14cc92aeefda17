#include "rmqtt/storage/store.hpp"

#include <algorithm>
#include <type_traits>

namespace rmqtt::storage {

namespace {

std::size_t message_size(const message_record& m) noexcept {
    return m.topic.size() + m.payload.size() + m.properties.size() + m.publisher.size();
}

// Bytes an operation holds beyond its fixed part (strings and vectors).
struct dynamic_size {
    std::size_t operator()(const put_session& op) const noexcept {
        const session_record& r = op.record;
        std::size_t n = r.client_id.size() + r.listener.size() + r.peer_address.size();
        if (r.username) n += r.username->size();
        if (r.will) n += message_size(r.will->message);
        return n;
    }
    std::size_t operator()(const delete_session& op) const noexcept { return op.client_id.size(); }
    std::size_t operator()(const put_subscription& op) const noexcept {
        return op.client_id.size() + op.record.filter.size();
    }
    std::size_t operator()(const delete_subscription& op) const noexcept {
        return op.client_id.size() + op.filter.size();
    }
    std::size_t operator()(const put_queue_entry& op) const noexcept {
        return op.client_id.size() + message_size(op.entry.message) +
               op.entry.subscription_ids.size() * sizeof(std::uint32_t);
    }
    std::size_t operator()(const update_queue_entry& op) const noexcept {
        return op.client_id.size();
    }
    std::size_t operator()(const delete_queue_entry& op) const noexcept {
        return op.client_id.size();
    }
    std::size_t operator()(const put_inbound_qos2& op) const noexcept {
        return op.client_id.size();
    }
    std::size_t operator()(const delete_inbound_qos2& op) const noexcept {
        return op.client_id.size();
    }
    std::size_t operator()(const put_retained& op) const noexcept {
        return message_size(op.message);
    }
    std::size_t operator()(const delete_retained& op) const noexcept { return op.topic.size(); }
    std::size_t operator()(const put_meta& op) const noexcept {
        return op.key.size() + op.value.size();
    }
    std::size_t operator()(const put_message& op) const noexcept {
        return message_size(op.message);
    }
    std::size_t operator()(const delete_message&) const noexcept { return 0; }
};

}  // namespace

std::size_t write_batch::approximate_size() const noexcept {
    std::size_t n = sizeof(write_batch);
    for (const operation& op : ops)
        n += sizeof(operation) + std::visit(dynamic_size{}, op);
    return n;
}

status store_reader::load_recovery_state(const std::vector<std::string>& client_ids,
                                         std::vector<recovery_state>& out) {
    out.assign(client_ids.size(), recovery_state{});
    for (std::size_t i = 0; i < client_ids.size(); ++i) {
        const auto& cid = client_ids[i];
        if (status st = load_subscriptions(cid, out[i].subscriptions); !st) return st;
        if (status st = load_queue_bounds(cid, out[i].bounds); !st) return st;
        if (status st = load_inbound_qos2(cid, out[i].inbound_qos2); !st) return st;
    }
    return status::ok();
}

status store_reader::for_each_recovered_session(
    std::size_t part, std::size_t parts, std::size_t chunk,
    const std::function<bool(std::vector<recovered_session>&)>& fn) {
    if (parts == 0 || part >= parts)
        return status::error(status::code::invalid_argument, "no such part of the sessions");
    if (part != 0) return status::ok();  // not split: every session is in part 0
    chunk = std::max<std::size_t>(chunk, 1);
    std::vector<recovered_session> batch;
    std::vector<std::string> ids;
    std::vector<recovery_state> states;
    bool stopped = false;
    auto hand_over = [&]() -> status {
        ids.clear();
        for (const auto& r : batch)
            ids.push_back(r.record.client_id);
        if (status st = load_recovery_state(ids, states); !st) return st;
        for (std::size_t i = 0; i < batch.size(); ++i)
            batch[i].state = std::move(states[i]);
        if (!fn(batch)) stopped = true;
        batch.clear();
        return status::ok();
    };
    status failure;
    status st = for_each_session([&](session_record&& r) {
        batch.push_back({std::move(r), {}});
        if (batch.size() < chunk) return true;
        failure = hand_over();
        return failure.is_ok() && !stopped;
    });
    if (!st) return st;
    if (!failure) return failure;
    if (!stopped && !batch.empty()) return hand_over();
    return status::ok();
}

}  // namespace rmqtt::storage
