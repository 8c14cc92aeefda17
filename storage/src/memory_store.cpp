// The memory engine: the test oracle. Deliberately simple: ordered std::maps behind one mutex,
// whole-batch validation before any change, nothing clever.
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "reader_gate.hpp"
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

// The records, shared by the store and its readers. Every access holds `mutex`; every call
// holds a pass of `gate`, so close() can wait for the readers.
struct memory_data {
    struct client {
        std::optional<session_record> session;
        std::map<std::string, subscription_record> subscriptions;
        std::map<std::uint64_t, queue_entry> queue;
        std::set<std::uint16_t> inbound_qos2;
    };

    const client* find(std::string_view id) const {
        auto it = clients.find(id);
        return it == clients.end() ? nullptr : &it->second;
    }
    client* find(std::string_view id) {
        auto it = clients.find(id);
        return it == clients.end() ? nullptr : &it->second;
    }

    detail::reader_gate gate;
    std::mutex mutex;
    std::map<std::string, client, std::less<>> clients;
    std::map<std::string, message_record, std::less<>> retained;
    std::map<std::string, std::string, std::less<>> meta;
    struct shared_message {
        message_record message;
        std::uint64_t refs = 0;  // queue entries with this message_id
    };
    std::map<std::uint64_t, shared_message> messages;

    // An entry as load_queue gives it: a reference resolved.
    queue_entry resolved(const queue_entry& e) const {
        queue_entry out = e;
        if (e.message_id != 0) {
            auto it = messages.find(e.message_id);
            if (it != messages.end()) out.message = it->second.message;
        }
        return out;
    }
};

status closed_error() {
    return status::error(status::code::invalid_argument, "the memory store is closed");
}

class memory_reader final : public store_reader {
  public:
    explicit memory_reader(std::shared_ptr<memory_data> data) : data_(std::move(data)) {}

    // The for_each_* callbacks run on copies, without the lock: they may call the reader again.
    status for_each_session(const std::function<bool(session_record&&)>& fn) override {
        const detail::reader_gate::pass pass(data_->gate);
        if (!pass) return closed_error();
        std::vector<session_record> copies;
        {
            std::lock_guard lock(data_->mutex);
            for (const auto& [id, c] : data_->clients) {
                if (c.session) copies.push_back(*c.session);
            }
        }
        for (session_record& r : copies) {
            if (!fn(std::move(r))) break;
        }
        return status::ok();
    }

    status load_subscriptions(std::string_view client_id,
                              std::vector<subscription_record>& out) override {
        const detail::reader_gate::pass pass(data_->gate);
        if (!pass) return closed_error();
        std::lock_guard lock(data_->mutex);
        if (const auto* c = data_->find(client_id)) {
            for (const auto& [filter, r] : c->subscriptions)
                out.push_back(r);
        }
        return status::ok();
    }

    status load_queue(std::string_view client_id, std::uint64_t from_seq, std::size_t limit,
                      std::vector<queue_entry>& out) override {
        const detail::reader_gate::pass pass(data_->gate);
        if (!pass) return closed_error();
        std::lock_guard lock(data_->mutex);
        if (const auto* c = data_->find(client_id)) {
            for (auto it = c->queue.lower_bound(from_seq); it != c->queue.end() && limit > 0;
                 ++it, --limit) {
                out.push_back(data_->resolved(it->second));
            }
        }
        return status::ok();
    }

    status load_queue_bounds(std::string_view client_id,
                             std::optional<queue_bounds>& out) override {
        const detail::reader_gate::pass pass(data_->gate);
        if (!pass) return closed_error();
        std::lock_guard lock(data_->mutex);
        out.reset();
        const auto* c = data_->find(client_id);
        if (c && !c->queue.empty()) {
            out = queue_bounds{c->queue.begin()->first, c->queue.rbegin()->first};
        }
        return status::ok();
    }

    status load_inbound_qos2(std::string_view client_id, std::vector<std::uint16_t>& out) override {
        const detail::reader_gate::pass pass(data_->gate);
        if (!pass) return closed_error();
        std::lock_guard lock(data_->mutex);
        if (const auto* c = data_->find(client_id)) {
            out.insert(out.end(), c->inbound_qos2.begin(), c->inbound_qos2.end());
        }
        return status::ok();
    }

    status for_each_retained(const std::function<bool(message_record&&)>& fn) override {
        const detail::reader_gate::pass pass(data_->gate);
        if (!pass) return closed_error();
        std::vector<message_record> copies;
        {
            std::lock_guard lock(data_->mutex);
            for (const auto& [topic, m] : data_->retained)
                copies.push_back(m);
        }
        for (message_record& m : copies) {
            if (!fn(std::move(m))) break;
        }
        return status::ok();
    }

    status for_each_message(
        const std::function<bool(std::uint64_t, message_record&&)>& fn) override {
        const detail::reader_gate::pass pass(data_->gate);
        if (!pass) return closed_error();
        std::vector<std::pair<std::uint64_t, message_record>> copies;
        {
            std::lock_guard lock(data_->mutex);
            for (const auto& [id, m] : data_->messages)
                copies.emplace_back(id, m.message);
        }
        for (auto& [id, m] : copies) {
            if (!fn(id, std::move(m))) break;
        }
        return status::ok();
    }

    status get_meta(std::string_view key, std::optional<std::string>& out) override {
        const detail::reader_gate::pass pass(data_->gate);
        if (!pass) return closed_error();
        std::lock_guard lock(data_->mutex);
        out.reset();
        auto it = data_->meta.find(key);
        if (it != data_->meta.end()) out = it->second;
        return status::ok();
    }

  private:
    std::shared_ptr<memory_data> data_;
};

class memory_store final : public store {
  public:
    memory_store() : data_(std::make_shared<memory_data>()), reads_(data_) {}

    std::string_view engine_name() const noexcept override { return "memory"; }
    std::string location() const override { return "memory"; }

    status write(const write_batch& batch) override {
        const detail::reader_gate::pass pass(data_->gate);
        if (!pass) return closed_error();
        for (const operation& op : batch.ops) {
            const std::string* id = client_id_of(op);
            if (id && id->size() > max_client_id) {
                return status::error(
                    status::code::invalid_argument,
                    "client id longer than 65535 bytes (" + std::to_string(id->size()) + ")");
            }
        }
        std::lock_guard lock(data_->mutex);  // readers see all of the batch or none of it
        if (status st = check_references(batch); !st.is_ok()) return st;
        touched_.clear();
        for (const operation& op : batch.ops)
            std::visit([this](const auto& o) { apply(o); }, op);
        for (std::uint64_t id : touched_) {  // a message nothing references is gone
            auto it = data_->messages.find(id);
            if (it != data_->messages.end() && it->second.refs == 0) data_->messages.erase(it);
        }
        return status::ok();
    }

    bool supports_shared_messages() const noexcept override { return true; }
    status max_message_id(std::uint64_t& out) override {
        const detail::reader_gate::pass pass(data_->gate);
        if (!pass) return closed_error();
        std::lock_guard lock(data_->mutex);
        out = data_->messages.empty() ? 0 : data_->messages.rbegin()->first;
        return status::ok();
    }
    status for_each_message(
        const std::function<bool(std::uint64_t, message_record&&)>& fn) override {
        return reads_.for_each_message(fn);
    }

    status for_each_session(const std::function<bool(session_record&&)>& fn) override {
        return reads_.for_each_session(fn);
    }
    status load_subscriptions(std::string_view client_id,
                              std::vector<subscription_record>& out) override {
        return reads_.load_subscriptions(client_id, out);
    }
    status load_queue(std::string_view client_id, std::uint64_t from_seq, std::size_t limit,
                      std::vector<queue_entry>& out) override {
        return reads_.load_queue(client_id, from_seq, limit, out);
    }
    status load_queue_bounds(std::string_view client_id,
                             std::optional<queue_bounds>& out) override {
        return reads_.load_queue_bounds(client_id, out);
    }
    status load_inbound_qos2(std::string_view client_id, std::vector<std::uint16_t>& out) override {
        return reads_.load_inbound_qos2(client_id, out);
    }
    status for_each_retained(const std::function<bool(message_record&&)>& fn) override {
        return reads_.for_each_retained(fn);
    }
    status get_meta(std::string_view key, std::optional<std::string>& out) override {
        return reads_.get_meta(key, out);
    }

    status open_reader(std::unique_ptr<store_reader>& out) override {
        const detail::reader_gate::pass pass(data_->gate);
        if (!pass) return closed_error();
        out = std::make_unique<memory_reader>(data_);
        return status::ok();
    }

    status check() override {
        const detail::reader_gate::pass pass(data_->gate);
        return pass ? status::ok() : closed_error();
    }

    status close() override {
        data_->gate.close();
        return status::ok();
    }

  private:
    using client = memory_data::client;

    client& get(const std::string& id) { return data_->clients[id]; }
    // Forgets a client id once nothing is stored for it.
    void prune(const std::string& id) {
        auto it = data_->clients.find(id);
        if (it == data_->clients.end()) return;
        const client& c = it->second;
        if (!c.session && c.subscriptions.empty() && c.queue.empty() && c.inbound_qos2.empty()) {
            data_->clients.erase(it);
        }
    }

    void apply(const put_session& o) { get(o.record.client_id).session = o.record; }
    void apply(const delete_session& o) {
        if (const client* c = data_->find(o.client_id)) release_all(*c);
        data_->clients.erase(o.client_id);
    }
    void apply(const put_subscription& o) {
        get(o.client_id).subscriptions[o.record.filter] = o.record;
    }
    void apply(const delete_subscription& o) {
        if (client* c = data_->find(o.client_id)) c->subscriptions.erase(o.filter);
        prune(o.client_id);
    }
    // Whole-batch validation: every referenced message exists when its entry is put.
    status check_references(const write_batch& batch) const {
        std::set<std::uint64_t> put, deleted;
        for (const operation& op : batch.ops) {
            if (const auto* m = std::get_if<put_message>(&op)) {
                if (m->id == 0) {
                    return status::error(status::code::invalid_argument, "message id 0");
                }
                put.insert(m->id);
                deleted.erase(m->id);
            } else if (const auto* d = std::get_if<delete_message>(&op)) {
                put.erase(d->id);
                deleted.insert(d->id);
            } else if (const auto* q = std::get_if<put_queue_entry>(&op)) {
                const std::uint64_t id = q->entry.message_id;
                if (id == 0 || put.contains(id)) continue;
                if (deleted.contains(id) || !data_->messages.contains(id)) {
                    return status::error(status::code::invalid_argument,
                                         "queue entry " + std::to_string(q->entry.seq) +
                                             " references message " + std::to_string(id) +
                                             ", which is not stored");
                }
            }
        }
        return status::ok();
    }
    void release(const queue_entry& e) {
        if (e.message_id == 0) return;
        auto it = data_->messages.find(e.message_id);
        if (it != data_->messages.end() && it->second.refs > 0) --it->second.refs;
        touched_.push_back(e.message_id);
    }
    void release_all(const client& c) {
        for (const auto& [seq, e] : c.queue)
            release(e);
    }

    void apply(const put_queue_entry& o) {
        // A replaced entry's reference stays counted, as in the other engines (store.hpp).
        queue_entry& slot = get(o.client_id).queue[o.entry.seq];
        slot = o.entry;
        if (slot.message_id != 0) {
            slot.message = message_record{};
            ++data_->messages[slot.message_id].refs;
            touched_.push_back(slot.message_id);
        }
    }
    void apply(const put_message& o) {
        data_->messages[o.id].message = o.message;
        touched_.push_back(o.id);
    }
    void apply(const delete_message& o) { data_->messages.erase(o.id); }
    void apply(const update_queue_entry& o) {
        client* c = data_->find(o.client_id);
        if (!c) return;
        auto it = c->queue.find(o.seq);
        if (it == c->queue.end()) return;  // never creates an entry
        it->second.state = o.state;
        it->second.packet_id = o.packet_id;
    }
    void apply(const delete_queue_entry& o) {
        if (client* c = data_->find(o.client_id)) {
            if (auto it = c->queue.find(o.seq); it != c->queue.end()) {
                release(it->second);
                c->queue.erase(it);
            }
        }
        prune(o.client_id);
    }
    void apply(const put_inbound_qos2& o) { get(o.client_id).inbound_qos2.insert(o.packet_id); }
    void apply(const delete_inbound_qos2& o) {
        if (client* c = data_->find(o.client_id)) c->inbound_qos2.erase(o.packet_id);
        prune(o.client_id);
    }
    void apply(const put_retained& o) { data_->retained[o.message.topic] = o.message; }
    void apply(const delete_retained& o) { data_->retained.erase(o.topic); }
    void apply(const put_meta& o) { data_->meta[o.key] = o.value; }

    std::shared_ptr<memory_data> data_;
    memory_reader reads_;                 // the store's own reads: the same code as its readers'
    std::vector<std::uint64_t> touched_;  // message ids whose references a write changed
};

}  // namespace

std::unique_ptr<store> make_memory_store() {
    return std::make_unique<memory_store>();
}

}  // namespace rmqtt::storage
