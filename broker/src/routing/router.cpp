#include "routing/router.hpp"

#include <algorithm>
#include <atomic>
#include <cassert>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <type_traits>
#include <unordered_map>
#include <utility>

namespace rmqtt::broker {

namespace {

// Not noexcept, so libstdc++ caches hash codes in the nodes (see level_hash in topic_tree.cpp).
struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// "$share/{group}/{filter}" -> group and filter; a plain filter -> empty group. The caller has
// validated the filter [MQTT-4.8.2-1, 4.8.2-2]; a "$share/" filter without a second '/' is not
// a valid shared subscription and is kept as a plain filter.
std::pair<std::string_view, std::string_view> split_shared(std::string_view filter) noexcept {
    constexpr std::string_view prefix = "$share/";
    if (filter.substr(0, prefix.size()) != prefix) return {{}, filter};
    const std::string_view rest = filter.substr(prefix.size());
    const std::size_t slash = rest.find('/');
    if (slash == std::string_view::npos || slash == 0) return {{}, filter};
    return {rest.substr(0, slash), rest.substr(slash + 1)};
}

// A vector that keeps its first item inline: most lists here hold one (a filter with one
// subscriber), which then needs no allocation of its own. Items move when it grows (their move
// must not throw). The heap block goes when the last item does.
template <class T>
class small_vector {
    static_assert(std::is_nothrow_move_constructible_v<T>);

  public:
    small_vector() noexcept {}
    small_vector(const small_vector&) = delete;
    small_vector& operator=(const small_vector&) = delete;
    ~small_vector() {
        while (size_ != 0)
            pop_back();
    }

    T* begin() noexcept { return data(); }
    T* end() noexcept { return data() + size_; }
    const T* begin() const noexcept { return data(); }
    const T* end() const noexcept { return data() + size_; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    T& operator[](std::size_t i) noexcept { return data()[i]; }
    const T& operator[](std::size_t i) const noexcept { return data()[i]; }
    T& back() noexcept { return data()[size_ - 1]; }

    void push_back(T v) {
        if (size_ == capacity_) grow();
        new (data() + size_) T(std::move(v));
        ++size_;
    }
    void pop_back() noexcept {
        data()[--size_].~T();
        if (size_ == 0 && capacity_ > 1) {
            std::allocator<T>{}.deallocate(heap_, capacity_);
            capacity_ = 1;
        }
    }

  private:
    T* data() noexcept {
        return capacity_ == 1 ? std::launder(reinterpret_cast<T*>(inline_)) : heap_;
    }
    const T* data() const noexcept {
        return capacity_ == 1 ? std::launder(reinterpret_cast<const T*>(inline_)) : heap_;
    }
    void grow() {
        const std::size_t capacity = std::size_t{capacity_} * 2;
        if (capacity > std::numeric_limits<std::uint32_t>::max()) throw std::bad_alloc();
        T* fresh = std::allocator<T>{}.allocate(capacity);
        T* old = data();
        for (std::size_t i = 0; i < size_; ++i) {
            new (fresh + i) T(std::move(old[i]));
            old[i].~T();
        }
        if (capacity_ > 1) std::allocator<T>{}.deallocate(heap_, capacity_);
        heap_ = fresh;
        capacity_ = static_cast<std::uint32_t>(capacity);
    }

    union {
        alignas(T) unsigned char inline_[sizeof(T)];  // capacity_ == 1
        T* heap_;                                     // capacity_ > 1
    };
    std::uint32_t size_ = 0;
    std::uint32_t capacity_ = 1;
};

// A list for fast iteration on the publish path, plus a hash index for O(1) lookup and removal
// that is only built once the list is long (most lists hold a handful of items; the index is
// behind a pointer so that a short list is small: a route per filter holds one). Removal swaps
// the last item into the hole. KeyOf maps an item to its key.
template <class T, class Key, class KeyOf, class Hash = std::hash<Key>, class Eq = std::equal_to<>>
class indexed_list {
  public:
    const small_vector<T>& items() const noexcept { return items_; }
    bool empty() const noexcept { return items_.empty(); }
    std::size_t size() const noexcept { return items_.size(); }

    template <class K>
    T* find(const K& key) noexcept {
        const std::size_t i = index_of(key);
        return i == npos ? nullptr : &items_[i];
    }
    template <class K>
    const T* find(const K& key) const noexcept {
        const std::size_t i = index_of(key);
        return i == npos ? nullptr : &items_[i];
    }

    T& add(T item) {
        items_.push_back(std::move(item));
        if (index_) {
            index_->emplace(KeyOf{}(items_.back()), items_.size() - 1);
        } else if (items_.size() > index_threshold) {
            auto index = std::make_unique<index_map>();
            for (std::size_t i = 0; i < items_.size(); ++i)
                index->emplace(KeyOf{}(items_[i]), i);
            index_ = std::move(index);
        }
        return items_.back();
    }

    template <class K>
    bool remove(const K& key) {
        const std::size_t i = index_of(key);
        if (i == npos) return false;
        if (index_) index_->erase(index_->find(key));
        if (i + 1 != items_.size()) {
            items_[i] = std::move(items_.back());
            if (index_) index_->find(KeyOf{}(items_[i]))->second = i;
        }
        items_.pop_back();
        if (items_.size() <= index_threshold / 2) index_.reset();
        return true;
    }

  private:
    static constexpr std::size_t index_threshold = 16;
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    template <class K>
    std::size_t index_of(const K& key) const noexcept {
        if (index_) {
            auto it = index_->find(key);
            return it == index_->end() ? npos : it->second;
        }
        for (std::size_t i = 0; i < items_.size(); ++i) {
            if (Eq{}(KeyOf{}(items_[i]), key)) return i;
        }
        return npos;
    }

    using index_map = std::unordered_map<Key, std::size_t, Hash, Eq>;
    small_vector<T> items_;
    std::unique_ptr<index_map> index_;  // made past index_threshold items
};

// One subscription of one delivery_target to one filter.
struct member {
    std::shared_ptr<delivery_target> sub;
    protocol::subscription_options options;
    std::uint32_t id = 0;
};
struct member_key {
    const delivery_target* operator()(const member& m) const noexcept { return m.sub.get(); }
};
using member_list = indexed_list<member, const delivery_target*, member_key>;

// State shared by every filter of one group name: the round_robin_per_group counter.
struct group_state {
    std::atomic<std::uint64_t> next{0};
    std::size_t filters = 0;  // (group, filter) pairs using it; changed under the exclusive lock
};

// The members of one shared subscription "$share/{name}/{filter}". The member list changes
// only under the exclusive lock; the strategy's counters are atomic because match() runs under
// the shared lock on many threads.
struct shared_group {
    std::string name;
    std::string filter;  // the filter after "$share/{name}/"
    member_list members;
    group_state* per_group = nullptr;            // owned by router::impl::group_states
    mutable std::atomic<std::uint64_t> next{0};  // the strategy's per-(group, filter) counter
};
struct group_key {
    std::string_view operator()(const std::unique_ptr<shared_group>& g) const noexcept {
        return g->name;
    }
};
using group_list =
    indexed_list<std::unique_ptr<shared_group>, std::string_view, group_key, string_hash>;

// Everything subscribed to one topic filter: 56 bytes (64 as malloc hands them out) with its first
// plain member inline; the group list is made with the first shared group (most filters have
// none). It took 72 bytes and a 24-byte block for the member (80 + 32).
struct route final : topic_tree::entry {
    member_list plain;
    std::unique_ptr<group_list> groups;  // null while empty
    bool empty() const noexcept { return plain.empty() && !groups; }
    std::unique_ptr<shared_group>* find_group(std::string_view name) const noexcept {
        return groups ? groups->find(name) : nullptr;
    }
};

const route& as_route(const topic_tree::entry& e) noexcept {
    return static_cast<const route&>(e);
}

// The built-in choice when no strategy is provided: each (group, filter) in turn.
class round_robin final : public share_strategy {
  public:
    std::uint64_t start(const request& r) override {
        return r.counter.fetch_add(1, std::memory_order_relaxed);
    }
};

// Chooses one member of `g` for a message, never `except`. Online members first; an offline
// one only when no other is online. Returns null when there is no candidate.
const member* pick(const shared_group& g, share_strategy& strat, std::string_view topic,
                   std::string_view publisher_id, const delivery_target* except) {
    const auto& items = g.members.items();
    const std::size_t n = items.size();
    if (n == 0) return nullptr;

    // sticky: the previous choice while it is still a member and online.
    const member* previous = nullptr;
    if (strat.sticky()) {
        const std::string id = strat.remembered(g.name, g.filter);
        if (!id.empty()) {
            for (const member& m : items) {
                if (m.sub.get() != except && m.sub->client_id() == id) {
                    previous = &m;
                    break;
                }
            }
        }
        if (previous != nullptr && previous->sub->is_online()) return previous;
    }

    const std::uint64_t start = strat.start(share_strategy::request{
        g.name, g.filter, topic, publisher_id, n, g.next, g.per_group->next});

    // From the strategy's choice, the first online member; the choice itself when none is.
    const member* chosen = nullptr;
    const member* offline = nullptr;
    for (std::size_t i = 0; i < n; ++i) {
        const member& m = items[static_cast<std::size_t>((start + i) % n)];
        if (m.sub.get() == except) continue;
        if (m.sub->is_online()) {
            chosen = &m;
            break;
        }
        if (offline == nullptr) offline = &m;
    }
    if (chosen == nullptr) chosen = previous != nullptr ? previous : offline;
    if (strat.sticky() && chosen != nullptr && chosen != previous)
        strat.remember(g.name, g.filter, chosen->sub->client_id());
    return chosen;
}

void add_target(std::vector<route_target>& out, const member& m) {
    route_target& t = out.emplace_back();
    t.sub = m.sub;
    t.max_qos = m.options.max_qos;
    t.retain_as_published = m.options.retain_as_published;
    if (m.id != 0) t.subscription_ids.push_back(m.id);
}

// Merges the plain targets of one delivery_target found in out[first..] into one: the highest QoS
// [MQTT-3.3.5-1] (3.1.1), [MQTT-3.3.4-2] (5.0), and every subscription identifier
// [MQTT-3.3.4-4]. Needed only when more than one filter contributed plain targets.
void merge_plain_targets(std::vector<route_target>& out, std::size_t first) {
    // Plain targets first, grouped by delivery_target.
    std::sort(out.begin() + static_cast<std::ptrdiff_t>(first), out.end(),
              [](const route_target& a, const route_target& b) {
                  const bool a_shared = !a.share_group.empty();
                  const bool b_shared = !b.share_group.empty();
                  if (a_shared != b_shared) return b_shared;
                  return std::less<const delivery_target*>{}(a.sub.get(), b.sub.get());
              });
    std::size_t w = first;
    for (std::size_t i = first; i < out.size(); ++i) {
        route_target& t = out[i];
        if (w > first && t.share_group.empty() && out[w - 1].share_group.empty() &&
            out[w - 1].sub == t.sub) {
            route_target& into = out[w - 1];
            into.max_qos = std::max(into.max_qos, t.max_qos);
            into.retain_as_published = into.retain_as_published || t.retain_as_published;
            into.subscription_ids.insert(into.subscription_ids.end(), t.subscription_ids.begin(),
                                         t.subscription_ids.end());
            continue;
        }
        if (w != i) out[w] = std::move(t);
        ++w;
    }
    out.erase(out.begin() + static_cast<std::ptrdiff_t>(w), out.end());
    for (std::size_t i = first; i < out.size(); ++i) {
        auto& ids = out[i].subscription_ids;
        if (ids.size() > 1) {
            std::sort(ids.begin(), ids.end());
            ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
        }
    }
}

}  // namespace

struct router::impl {
    explicit impl(std::shared_ptr<share_strategy> s)
        : strat(s ? std::move(s) : std::make_shared<round_robin>()) {}

    group_state* acquire_group_state(std::string_view name) {
        auto it = group_states.find(name);
        if (it == group_states.end()) {
            it = group_states.emplace(std::string(name), std::make_unique<group_state>()).first;
        }
        ++it->second->filters;
        return it->second.get();
    }
    void release_group_state(std::string_view name) {
        auto it = group_states.find(name);
        if (it != group_states.end() && --it->second->filters == 0) group_states.erase(it);
    }

    std::shared_ptr<share_strategy> strat;
    topic_tree tree;  // filter (without "$share/{group}/") -> route
    std::unordered_map<std::string, std::unique_ptr<group_state>, string_hash, std::equal_to<>>
        group_states;
    std::size_t subscriptions = 0;  // plain + shared memberships
    std::size_t shared = 0;         // shared memberships
};

router::router(std::shared_ptr<share_strategy> strategy)
    : impl_(std::make_unique<impl>(std::move(strategy))) {}

router::~router() = default;

void router::set_strategy(std::shared_ptr<share_strategy> strategy) {
    std::unique_lock lock(mutex_);
    impl_->strat = strategy ? std::move(strategy) : std::make_shared<round_robin>();
}

bool router::subscribe(const std::shared_ptr<delivery_target>& sub, std::string_view filter,
                       const protocol::subscription_options& options,
                       std::uint32_t subscription_id) {
    assert(sub);
    const auto [group, topic_filter] = split_shared(filter);
    std::unique_lock lock(mutex_);
    impl& d = *impl_;
    topic_tree::entry* e = d.tree.find(topic_filter);
    route& r = e != nullptr
                   ? static_cast<route&>(*e)
                   : static_cast<route&>(d.tree.insert(topic_filter, std::make_unique<route>()));
    member_list* members = &r.plain;
    if (!group.empty()) {
        std::unique_ptr<shared_group>* g = r.find_group(group);
        if (g == nullptr) {
            auto fresh = std::make_unique<shared_group>();
            fresh->name = std::string(group);
            fresh->filter = std::string(topic_filter);
            fresh->per_group = d.acquire_group_state(group);
            if (!r.groups) r.groups = std::make_unique<group_list>();
            g = &r.groups->add(std::move(fresh));
        }
        members = &(*g)->members;
    }
    if (member* m = members->find(sub.get())) {
        m->options = options;
        m->id = subscription_id;
        return false;
    }
    members->add(member{sub, options, subscription_id});
    ++d.subscriptions;
    if (!group.empty()) ++d.shared;
    return true;
}

bool router::unsubscribe(const delivery_target& sub, std::string_view filter) {
    const auto [group, topic_filter] = split_shared(filter);
    std::unique_lock lock(mutex_);
    impl& d = *impl_;
    topic_tree::entry* e = d.tree.find(topic_filter);
    if (e == nullptr) return false;
    route& r = static_cast<route&>(*e);
    if (group.empty()) {
        if (!r.plain.remove(&sub)) return false;
    } else {
        std::unique_ptr<shared_group>* gp = r.find_group(group);
        if (gp == nullptr) return false;
        shared_group& g = **gp;
        if (!g.members.remove(&sub)) return false;
        --d.shared;
        if (g.members.empty()) {
            d.release_group_state(group);
            r.groups->remove(group);
            if (r.groups->empty()) r.groups.reset();
        }
    }
    --d.subscriptions;
    if (r.empty()) d.tree.erase(topic_filter);
    return true;
}

void router::match(std::string_view topic, std::string_view publisher_id,
                   std::vector<route_target>& out) const {
    std::shared_lock lock(mutex_);
    const impl& d = *impl_;
    const std::size_t first = out.size();
    std::size_t plain_routes = 0;
    d.tree.match(topic, [&](const topic_tree::entry& e) {
        const route& r = as_route(e);
        if (!r.plain.empty()) {
            ++plain_routes;
            for (const member& m : r.plain.items()) {
                // [MQTT-3.8.3-3] No Local: not back to the publishing connection.
                if (m.options.no_local && m.sub->client_id() == publisher_id) continue;
                add_target(out, m);
            }
        }
        // Each shared subscription delivers to one member (MQTT 5.0 section 4.8.2), at that
        // member's granted QoS [MQTT-4.8.2-3].
        if (!r.groups) return;
        for (const auto& g : r.groups->items()) {
            if (const member* m = pick(*g, *d.strat, topic, publisher_id, nullptr)) {
                add_target(out, *m);
                out.back().share_group = g->name;
                out.back().share_filter = g->filter;
            }
        }
    });
    if (plain_routes > 1) merge_plain_targets(out, first);
}

bool router::pick_other_member(std::string_view group, std::string_view filter,
                               const delivery_target& except, std::string_view topic,
                               route_target& out) const {
    std::shared_lock lock(mutex_);
    const impl& d = *impl_;
    const topic_tree::entry* e = d.tree.find(filter);
    if (e == nullptr) return false;
    const std::unique_ptr<shared_group>* g = as_route(*e).find_group(group);
    if (g == nullptr) return false;
    // The original publisher is not known here; hash_clientid hashes the leaving member's id,
    // which keeps its messages together on one successor.
    const member* m = pick(**g, *d.strat, topic, except.client_id(), &except);
    if (m == nullptr) return false;
    std::vector<route_target> one;
    add_target(one, *m);
    out = std::move(one.front());
    out.share_group = (*g)->name;
    out.share_filter = (*g)->filter;
    return true;
}

std::size_t router::subscription_count() const {
    std::shared_lock lock(mutex_);
    return impl_->subscriptions;
}

std::size_t router::shared_subscription_count() const {
    std::shared_lock lock(mutex_);
    return impl_->shared;
}

std::size_t router::topic_filter_count() const {
    std::shared_lock lock(mutex_);
    return impl_->tree.size();
}

}  // namespace rmqtt::broker
