#include "retainer/retained_index.hpp"

#include <cassert>
#include <mutex>
#include <utility>

#include "rmqtt/broker/topic_tree.hpp"

namespace rmqtt::plugins {

using broker::topic_tree;

namespace {

struct retained_entry final : topic_tree::entry {
    explicit retained_entry(message_ptr m) : msg(std::move(m)) {}
    message_ptr msg;
};

}  // namespace

struct retained_index::impl {
    explicit impl(std::size_t max) : max_messages(max) {}

    const std::size_t max_messages;
    topic_tree tree;  // topic name -> retained_entry
};

retained_index::retained_index(std::size_t max_messages)
    : impl_(std::make_unique<impl>(max_messages)) {}

retained_index::~retained_index() = default;

retained_index::set_result retained_index::set(message_ptr msg) {
    assert(msg);
    std::unique_lock lock(mutex_);
    impl& d = *impl_;
    // A retained message with an empty payload removes the retained message for the topic and is
    // not itself retained [MQTT-3.3.1-10, 3.3.1-11].
    if (msg->payload.empty()) {
        return d.tree.erase(msg->topic) ? set_result::deleted : set_result::not_found;
    }
    if (topic_tree::entry* e = d.tree.find(msg->topic)) {
        static_cast<retained_entry&>(*e).msg = std::move(msg);
        return set_result::replaced;
    }
    if (d.max_messages != 0 && d.tree.size() >= d.max_messages) return set_result::full;
    const std::string_view topic = msg->topic;  // stays valid: the entry keeps the message
    d.tree.insert(topic, std::make_unique<retained_entry>(std::move(msg)));
    return set_result::stored;
}

bool retained_index::erase(std::string_view topic) {
    std::unique_lock lock(mutex_);
    return impl_->tree.erase(topic);
}

void retained_index::match(std::string_view filter, std::int64_t now_ms,
                           std::vector<message_ptr>& out) const {
    std::shared_lock lock(mutex_);
    impl_->tree.match_filter(filter, [&](const topic_tree::entry& e) {
        const message_ptr& m = static_cast<const retained_entry&>(e).msg;
        if (!m->expired(now_ms)) out.push_back(m);
    });
}

std::size_t retained_index::size() const {
    std::shared_lock lock(mutex_);
    return impl_->tree.size();
}

}  // namespace rmqtt::plugins
