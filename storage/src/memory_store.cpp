// The memory engine: the test oracle. Deliberately simple: ordered std::maps, whole-batch
// validation before any change, nothing clever.
#include <map>
#include <set>
#include <string>
#include <type_traits>

#include "rmqtt/storage/store.hpp"

namespace rmqtt::storage {

namespace {

constexpr std::size_t max_client_id = 65535;

const std::string* client_id_of(const operation& op) {
    return std::visit(
        [](const auto& o) -> const std::string* {
            using T = std::decay_t<decltype(o)>;
            if constexpr (std::is_same_v<T, put_session>) {
                return &o.record.client_id;
            } else if constexpr (requires { o.client_id; }) {
                return &o.client_id;
            } else {
                return nullptr;
            }
        },
        op);
}

class memory_store final : public store {
  public:
    std::string_view engine_name() const noexcept override { return "memory"; }
    std::string location() const override { return "memory"; }

    status write(const write_batch& batch) override {
        if (closed_) return closed_error();
        for (const operation& op : batch.ops) {
            const std::string* id = client_id_of(op);
            if (id && id->size() > max_client_id) {
                return status::error(
                    status::code::invalid_argument,
                    "client id longer than 65535 bytes (" + std::to_string(id->size()) + ")");
            }
        }
        for (const operation& op : batch.ops)
            std::visit([this](const auto& o) { apply(o); }, op);
        return status::ok();
    }

    status for_each_session(const std::function<bool(session_record&&)>& fn) override {
        if (closed_) return closed_error();
        for (const auto& [id, c] : clients_) {
            if (!c.session) continue;
            session_record copy = *c.session;
            if (!fn(std::move(copy))) break;
        }
        return status::ok();
    }

    status load_subscriptions(std::string_view client_id,
                              std::vector<subscription_record>& out) override {
        if (closed_) return closed_error();
        if (const client* c = find(client_id)) {
            for (const auto& [filter, r] : c->subscriptions)
                out.push_back(r);
        }
        return status::ok();
    }

    status load_queue(std::string_view client_id, std::uint64_t from_seq, std::size_t limit,
                      std::vector<queue_entry>& out) override {
        if (closed_) return closed_error();
        if (const client* c = find(client_id)) {
            for (auto it = c->queue.lower_bound(from_seq); it != c->queue.end() && limit > 0;
                 ++it, --limit) {
                out.push_back(it->second);
            }
        }
        return status::ok();
    }

    status load_queue_bounds(std::string_view client_id,
                             std::optional<queue_bounds>& out) override {
        if (closed_) return closed_error();
        out.reset();
        const client* c = find(client_id);
        if (c && !c->queue.empty()) {
            out = queue_bounds{c->queue.begin()->first, c->queue.rbegin()->first};
        }
        return status::ok();
    }

    status load_inbound_qos2(std::string_view client_id, std::vector<std::uint16_t>& out) override {
        if (closed_) return closed_error();
        if (const client* c = find(client_id)) {
            out.insert(out.end(), c->inbound_qos2.begin(), c->inbound_qos2.end());
        }
        return status::ok();
    }

    status for_each_retained(const std::function<bool(message_record&&)>& fn) override {
        if (closed_) return closed_error();
        for (const auto& [topic, m] : retained_) {
            message_record copy = m;
            if (!fn(std::move(copy))) break;
        }
        return status::ok();
    }

    status get_meta(std::string_view key, std::optional<std::string>& out) override {
        if (closed_) return closed_error();
        out.reset();
        auto it = meta_.find(key);
        if (it != meta_.end()) out = it->second;
        return status::ok();
    }

    status check() override { return closed_ ? closed_error() : status::ok(); }

    status close() override {
        closed_ = true;
        return status::ok();
    }

  private:
    struct client {
        std::optional<session_record> session;
        std::map<std::string, subscription_record> subscriptions;
        std::map<std::uint64_t, queue_entry> queue;
        std::set<std::uint16_t> inbound_qos2;
    };

    static status closed_error() {
        return status::error(status::code::invalid_argument, "the memory store is closed");
    }

    const client* find(std::string_view id) const {
        auto it = clients_.find(id);
        return it == clients_.end() ? nullptr : &it->second;
    }
    client* find(std::string_view id) {
        auto it = clients_.find(id);
        return it == clients_.end() ? nullptr : &it->second;
    }
    client& get(const std::string& id) { return clients_[id]; }
    // Forgets a client id once nothing is stored for it.
    void prune(const std::string& id) {
        auto it = clients_.find(id);
        if (it == clients_.end()) return;
        const client& c = it->second;
        if (!c.session && c.subscriptions.empty() && c.queue.empty() && c.inbound_qos2.empty()) {
            clients_.erase(it);
        }
    }

    void apply(const put_session& o) { get(o.record.client_id).session = o.record; }
    void apply(const delete_session& o) { clients_.erase(o.client_id); }
    void apply(const put_subscription& o) {
        get(o.client_id).subscriptions[o.record.filter] = o.record;
    }
    void apply(const delete_subscription& o) {
        if (client* c = find(o.client_id)) c->subscriptions.erase(o.filter);
        prune(o.client_id);
    }
    void apply(const put_queue_entry& o) { get(o.client_id).queue[o.entry.seq] = o.entry; }
    void apply(const update_queue_entry& o) {
        client* c = find(o.client_id);
        if (!c) return;
        auto it = c->queue.find(o.seq);
        if (it == c->queue.end()) return;  // never creates an entry
        it->second.state = o.state;
        it->second.packet_id = o.packet_id;
    }
    void apply(const delete_queue_entry& o) {
        if (client* c = find(o.client_id)) c->queue.erase(o.seq);
        prune(o.client_id);
    }
    void apply(const put_inbound_qos2& o) { get(o.client_id).inbound_qos2.insert(o.packet_id); }
    void apply(const delete_inbound_qos2& o) {
        if (client* c = find(o.client_id)) c->inbound_qos2.erase(o.packet_id);
        prune(o.client_id);
    }
    void apply(const put_retained& o) { retained_[o.message.topic] = o.message; }
    void apply(const delete_retained& o) { retained_.erase(o.topic); }
    void apply(const put_meta& o) { meta_[o.key] = o.value; }

    std::map<std::string, client, std::less<>> clients_;
    std::map<std::string, message_record, std::less<>> retained_;
    std::map<std::string, std::string, std::less<>> meta_;
    bool closed_ = false;
};

}  // namespace

std::unique_ptr<store> make_memory_store() {
    return std::make_unique<memory_store>();
}

}  // namespace rmqtt::storage
