#include "rmqtt/storage/store.hpp"

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

}  // namespace rmqtt::storage
