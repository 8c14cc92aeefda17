#include "routing/publish_pipeline.hpp"

#include <algorithm>

#include "persist/persistence.hpp"

namespace rmqtt::broker {

namespace {

storage::queue_entry to_queue_entry(const delivery& d) {
    storage::queue_entry e;
    e.seq = d.seq;
    e.state = storage::queue_state::queued;
    e.packet_id = packet_id_for(d.seq);
    e.qos = static_cast<std::uint8_t>(d.qos);
    e.retain = d.retain;
    e.subscription_ids = d.subscription_ids;
    e.message = to_record(*d.msg);
    return e;
}

}  // namespace

publish_pipeline::publish_pipeline(router& routes, metrics& stats, const hook_bus& hooks)
    : routes_(routes), stats_(stats), hooks_(hooks) {}

void publish_pipeline::add_copy(publication& p, std::shared_ptr<delivery_target> target,
                                delivery d) const {
    if (d.qos != protocol::qos::at_most_once) {
        d.seq = target->take_seq();
        if (store() != nullptr && target->stores_messages()) {
            d.persisted = true;
            p.writes.ops.push_back(
                storage::put_queue_entry{target->client_id(), to_queue_entry(d)});
        }
    }
    p.copies.push_back({std::move(target), std::move(d)});
}

std::size_t publish_pipeline::route(const message_ptr& msg, publication& p) const {
    // [MQTT-3.3.1-5] store, [MQTT-3.3.1-10/11] an empty payload removes.
    if (msg->retain && retained_) retained_->retain(msg, p.writes);
    thread_local std::vector<route_target> targets;
    targets.clear();
    routes_.match(msg->topic, msg->publisher, targets);
    const std::size_t first_put = p.writes.ops.size();
    for (auto& t : targets) {
        delivery d;
        d.msg = msg;
        d.qos = std::min(msg->qos, t.max_qos);  // [MQTT-3.8.4-8] downgrade to the subscription
        // [MQTT-3.3.1-9]: RETAIN is 0 for an established subscription unless Retain As Published.
        d.retain = t.retain_as_published && msg->retain;
        d.subscription_ids = std::move(t.subscription_ids);
        d.share_group = std::move(t.share_group);
        d.share_filter = std::move(t.share_filter);
        add_copy(p, std::move(t.sub), std::move(d));
    }
    p.matched = targets.size();
    share_message(p, first_put);
    return p.matched;
}

void publish_pipeline::share_message(publication& p, std::size_t first) const {
    auto* st = store();
    if (!st || !st->shared_messages()) return;
    auto& ops = p.writes.ops;
    std::size_t puts = 0;
    for (std::size_t i = first; i < ops.size() && puts < 2; ++i) {
        if (std::holds_alternative<storage::put_queue_entry>(ops[i])) ++puts;
    }
    if (puts < 2) return;  // one stored copy keeps its message inline
    // The message goes in front of the entries that reference it, in the same batch (the
    // committer never splits one), so no commit holds a reference without its message.
    storage::put_message m{st->next_message_id(), {}};
    bool have_message = false;
    for (std::size_t i = first; i < ops.size(); ++i) {
        auto* put = std::get_if<storage::put_queue_entry>(&ops[i]);
        if (!put) continue;
        if (!have_message) {
            m.message = std::move(put->entry.message);
            have_message = true;
        }
        put->entry.message = storage::message_record{};
        put->entry.message_id = m.id;
    }
    ops.insert(ops.begin() + static_cast<std::ptrdiff_t>(first), storage::operation(std::move(m)));
}

void publish_pipeline::hand_over(std::vector<copy>& copies,
                                 std::vector<std::weak_ptr<delivery_target>>* backlogged) {
    for (auto& c : copies) {
        c.target->deliver(std::move(c.d));
        if (backlogged && c.target->backlogged()) backlogged->push_back(c.target);
    }
    copies.clear();
}

bool publish_pipeline::submit(publication& p, completion done, bool hold_all,
                              bool drop_held_on_failure,
                              std::vector<std::weak_ptr<delivery_target>>* backlogged) const {
    auto* st = store();
    if (!st || !st->durable_acks()) {
        if (st && !p.writes.empty()) st->submit(std::move(p.writes));
        p.writes.ops.clear();
        hand_over(p.copies, backlogged);
        p.matched = 0;
        if (done) done(storage::status::ok());
        return false;
    }
    std::vector<copy> held;
    std::size_t w = 0;
    for (std::size_t i = 0; i < p.copies.size(); ++i) {
        auto& c = p.copies[i];
        if (hold_all || c.held_for_commit()) {
            held.push_back(std::move(c));
        } else {
            if (w != i) p.copies[w] = std::move(c);  // never move onto itself
            ++w;
        }
    }
    p.copies.resize(w);
    storage::write_batch writes = std::move(p.writes);
    p.writes.ops.clear();
    p.matched = 0;
    if (held.empty() && !hold_all) {
        if (!writes.empty())
            st->submit(std::move(writes), std::move(done));
        else if (done)
            done(storage::status::ok());
        hand_over(p.copies, backlogged);
        return false;
    }
    // Even an empty batch goes through the committer, to keep its place in the order. Targets
    // accept copies from any thread, so the completion hands them over directly.
    st->submit(std::move(writes), [held = std::move(held), done = std::move(done),
                                   drop_held_on_failure](const storage::status& s) mutable {
        if (s || !drop_held_on_failure) hand_over(held);
        if (done) done(s);
    });
    hand_over(p.copies, backlogged);
    return true;
}

std::size_t publish_pipeline::publish(message_ptr msg) const {
    publication p;
    const auto matched = route(msg, p);
    if (matched == 0) metrics::add(stats_.messages_no_subscribers);
    if (hooks_.wants<events::message_published>())
        hooks_.emit(events::message_published{std::nullopt, msg, matched});
    submit(p);
    return matched;
}

}  // namespace rmqtt::broker
