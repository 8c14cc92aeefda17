#include "rmqtt/broker/topic_tree.hpp"

#include <array>
#include <cassert>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace rmqtt::broker {

namespace {

std::size_t hash_level(std::string_view level) noexcept {
    return std::hash<std::string_view>{}(level);
}

// The level of `s` starting at `pos` (pos <= s.size()). Sets `next` to where the following level
// starts, or to s.size() + 1 when this was the last level.
std::string_view level_at(std::string_view s, std::size_t pos, std::size_t& next) noexcept {
    std::size_t end = s.find('/', pos);
    if (end == std::string_view::npos) end = s.size();
    next = end + 1;
    return s.substr(pos, end - pos);
}

bool is_plus(std::string_view level) noexcept {
    return level.size() == 1 && level[0] == '+';
}
bool is_hash(std::string_view level) noexcept {
    return level.size() == 1 && level[0] == '#';
}

// A LIFO work list that lives on the stack until it holds more than N items, so the usual walk
// does not allocate; hostile inputs spill to the heap instead of growing the call stack.
template <class T, std::size_t N>
class work_stack {
  public:
    bool empty() const noexcept { return size_ == 0 && spill_.empty(); }
    void push(const T& v) {
        if (spill_.empty() && size_ < N) {
            inline_[size_++] = v;
        } else {
            spill_.push_back(v);
        }
    }
    // Spilled items are the newest: spill_ is only used once inline_ is full.
    T pop() noexcept {
        if (!spill_.empty()) {
            T v = spill_.back();
            spill_.pop_back();
            return v;
        }
        return inline_[--size_];
    }

  private:
    std::array<T, N> inline_;
    std::size_t size_ = 0;
    std::vector<T> spill_;
};

}  // namespace

struct topic_tree::node {
    // A node and its level's characters are one allocation, the characters after the node:
    // 80 bytes and the level (96 as malloc hands them out for a level of up to 8 characters,
    // 112 up to 24); a std::string key took 120 (128), and more past 15 characters.
    static std::unique_ptr<node> make(std::string_view level) {
        if (level.size() > std::numeric_limits<std::uint32_t>::max())
            throw std::length_error("topic_tree: level too long");
        void* raw = ::operator new(sizeof(node) + level.size());
        node* n = ::new (raw) node(static_cast<std::uint32_t>(level.size()));
        if (!level.empty()) std::memcpy(reinterpret_cast<char*>(n + 1), level.data(), level.size());
        return std::unique_ptr<node>(n);
    }
    static void operator delete(void* p) noexcept { ::operator delete(p); }
    node(const node&) = delete;
    node& operator=(const node&) = delete;

    // This node's level ("" for the root, and for an empty level).
    std::string_view key() const noexcept {
        return {reinterpret_cast<const char*>(this + 1), key_size};
    }

    // The children other than '+' and '#', by level.
    //
    // Matching is bound by memory latency, so the layout minimises dependent loads: up to two
    // children live inline in the node (most nodes have one); more go to an open-addressing
    // table (linear probing, load <= 3/4) of {hash, child}, where a lookup costs one probe
    // sequence and then the child itself, which is needed next anyway. The table shrinks as
    // children leave, so churn does not keep memory. A node keeps no hash of its own key (the
    // entries for it do): 104 bytes, 112 as malloc hands them out.
    class kid_set {
      public:
        bool empty() const noexcept { return size_ == 0; }

        node* find(std::string_view level, std::size_t h) const noexcept {
            if (!table_) {
                for (std::size_t i = 0; i < size_; ++i) {
                    if (few_[i].hash == h && few_[i].n->key() == level) return few_[i].n.get();
                }
                return nullptr;
            }
            for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
                const kid& k = table_[i];
                if (!k.n) return nullptr;
                if (k.hash == h && k.n->key() == level) return k.n.get();
            }
        }

        // Adds child `c`, whose key hashes to `h`.
        node& add(std::unique_ptr<node> c, std::size_t h) {
            node& added = *c;
            if (!table_ && size_ < few_.size()) {
                few_[size_] = {h, std::move(c)};
            } else {
                if (!table_ || (std::size_t{size_} + 1) * 4 > (std::size_t{mask_} + 1) * 3)
                    rehash(table_ ? (std::size_t{mask_} + 1) * 2 : 8);
                place({h, std::move(c)});
            }
            ++size_;
            return added;
        }

        // Removes child `c` and returns it.
        std::unique_ptr<node> take(const node& c) noexcept {
            std::unique_ptr<node> out;
            if (!table_) {
                for (std::size_t i = 0; i < size_; ++i) {
                    if (few_[i].n.get() != &c) continue;
                    out = std::move(few_[i].n);
                    few_[i] = std::move(few_[size_ - 1]);
                    --size_;
                    return out;
                }
                return out;
            }
            std::size_t i = hash_level(c.key()) & mask_;
            while (table_[i].n.get() != &c) {
                if (!table_[i].n) return out;
                i = (i + 1) & mask_;
            }
            out = std::move(table_[i].n);
            // Backward-shift deletion: pull later entries of the probe run into the hole unless
            // their home slot lies cyclically in (hole, j].
            for (std::size_t j = (i + 1) & mask_; table_[j].n; j = (j + 1) & mask_) {
                const std::size_t home = table_[j].hash & mask_;
                const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
                if (stays) continue;
                table_[i] = std::move(table_[j]);
                i = j;
            }
            --size_;
            if (size_ <= few_.size()) {
                to_few();
            } else if (mask_ + 1 > 8 && std::size_t{size_} * 8 <= std::size_t{mask_} + 1) {
                try {
                    rehash((std::size_t{mask_} + 1) / 2);
                } catch (const std::bad_alloc&) {
                    // Shrinking is an optimisation; the current table stays valid.
                }
            }
            return out;
        }

        template <class F>
        void for_each(F&& f) const {
            if (!table_) {
                for (std::size_t i = 0; i < size_; ++i)
                    f(*few_[i].n);
                return;
            }
            for (std::size_t i = 0; i <= mask_; ++i) {
                if (table_[i].n) f(*table_[i].n);
            }
        }

        // Moves every child out (for the iterative teardown).
        void drain(std::vector<std::unique_ptr<node>>& out) {
            if (!table_) {
                for (std::size_t i = 0; i < size_; ++i)
                    out.push_back(std::move(few_[i].n));
            } else {
                for (std::size_t i = 0; i <= mask_; ++i) {
                    if (table_[i].n) out.push_back(std::move(table_[i].n));
                }
                table_.reset();
                mask_ = 0;
            }
            size_ = 0;
        }

      private:
        struct kid {
            std::size_t hash = 0;
            std::unique_ptr<node> n;  // null: an empty table slot
        };

        void place(kid k) noexcept {
            std::size_t i = k.hash & mask_;
            while (table_[i].n)
                i = (i + 1) & mask_;
            table_[i] = std::move(k);
        }

        // Allocates first, so a failure leaves the set as it was.
        void rehash(std::size_t capacity) {
            auto fresh = std::make_unique<kid[]>(capacity);
            auto old = std::move(table_);
            const std::size_t old_capacity = old ? std::size_t{mask_} + 1 : 0;
            table_ = std::move(fresh);
            mask_ = static_cast<std::uint32_t>(capacity - 1);
            if (old) {
                for (std::size_t i = 0; i < old_capacity; ++i) {
                    if (old[i].n) place(std::move(old[i]));
                }
            } else {
                for (std::size_t i = 0; i < size_; ++i)
                    place(std::move(few_[i]));
            }
        }

        void to_few() noexcept {
            std::size_t n = 0;
            for (std::size_t i = 0; i <= mask_; ++i) {
                if (table_[i].n) few_[n++] = std::move(table_[i]);
            }
            table_.reset();
            mask_ = 0;
        }

        std::array<kid, 2> few_;        // used while table_ is null
        std::unique_ptr<kid[]> table_;  // capacity mask_ + 1, a power of two
        std::uint32_t mask_ = 0;
        std::uint32_t size_ = 0;
    };

    std::uint32_t key_size;  // the level's characters follow the node
    std::unique_ptr<entry> value;
    std::unique_ptr<node> plus;  // the "+" level, kept apart so matching needs no lookup for it
    std::unique_ptr<node> hash;  // the "#" level
    kid_set kids;

    bool removable() const noexcept { return !value && !plus && !hash && kids.empty(); }

  private:
    explicit node(std::uint32_t size) noexcept : key_size(size) {}

  public:
    // The child for `level`, '+' and '#' included; null when absent.
    node* child(std::string_view level) const noexcept {
        if (is_plus(level)) return plus.get();
        if (is_hash(level)) return hash.get();
        if (kids.empty()) return nullptr;
        return kids.find(level, hash_level(level));
    }
};

topic_tree::topic_tree() : root_(node::make({})) {}

topic_tree::~topic_tree() {
    destroy(std::move(root_));
}

topic_tree::entry* topic_tree::find(std::string_view key) const noexcept {
    const node* n = root_.get();
    std::size_t pos = 0;
    while (n != nullptr && pos <= key.size()) {
        std::size_t next = 0;
        n = n->child(level_at(key, pos, next));
        pos = next;
    }
    return n == nullptr ? nullptr : n->value.get();
}

topic_tree::entry& topic_tree::insert(std::string_view key, std::unique_ptr<entry> value) {
    assert(value);
    node* n = root_.get();
    std::size_t pos = 0;
    while (pos <= key.size()) {
        std::size_t next = 0;
        const std::string_view level = level_at(key, pos, next);
        pos = next;
        if (is_plus(level) || is_hash(level)) {
            std::unique_ptr<node>& slot = is_plus(level) ? n->plus : n->hash;
            if (!slot) {
                slot = node::make(level);
                ++nodes_;
            }
            n = slot.get();
            continue;
        }
        node* c = n->child(level);
        if (c == nullptr) {
            c = &n->kids.add(node::make(level), hash_level(level));
            ++nodes_;
        }
        n = c;
    }
    if (!n->value) ++entries_;
    n->value = std::move(value);
    return *n->value;
}

bool topic_tree::erase(std::string_view key) {
    struct step {
        node* parent;
        node* child;
    };
    work_stack<step, 32> path;
    node* n = root_.get();
    std::size_t pos = 0;
    while (pos <= key.size()) {
        std::size_t next = 0;
        node* c = n->child(level_at(key, pos, next));
        pos = next;
        if (c == nullptr) return false;
        path.push({n, c});
        n = c;
    }
    if (!n->value) return false;
    n->value.reset();
    --entries_;

    // Prune bottom-up while the node below is left with nothing; stops at the first node still
    // in use, so the cost is bounded by the key's levels.
    while (!path.empty()) {
        const step s = path.pop();
        if (!s.child->removable()) break;
        if (s.child == s.parent->plus.get()) {
            s.parent->plus.reset();
        } else if (s.child == s.parent->hash.get()) {
            s.parent->hash.reset();
        } else {
            s.parent->kids.take(*s.child);  // destroyed here
        }
        --nodes_;
    }
    return true;
}

void topic_tree::clear() {
    destroy(std::move(root_));
    root_ = node::make({});
    entries_ = 0;
    nodes_ = 0;
}

void topic_tree::destroy(std::unique_ptr<node> root) noexcept {
    // Tear down without recursion: a node is destroyed only after its children were moved out.
    std::vector<std::unique_ptr<node>> doomed;
    doomed.push_back(std::move(root));
    while (!doomed.empty()) {
        std::unique_ptr<node> n = std::move(doomed.back());
        doomed.pop_back();
        n->kids.drain(doomed);
        if (n->plus) doomed.push_back(std::move(n->plus));
        if (n->hash) doomed.push_back(std::move(n->hash));
    }
}

void topic_tree::match_impl(std::string_view topic, visit_fn visit, void* ctx) const {
    struct frame {
        const node* n;
        std::size_t pos;  // where the next level of `topic` starts; > topic.size(): none left
    };
    const bool dollar = !topic.empty() && topic.front() == '$';
    work_stack<frame, 64> work;
    work.push({root_.get(), 0});
    while (!work.empty()) {
        frame f = work.pop();
        // Follow the exact-level path inline; only '+' branches go onto the work list.
        while (f.n != nullptr) {
            const node* n = f.n;
            if (f.pos > topic.size()) {
                if (n->value) visit(ctx, *n->value);
                // "sport/#" also matches "sport" [MQTT-4.7.1-2].
                if (n->hash && n->hash->value) visit(ctx, *n->hash->value);
                break;
            }
            std::size_t next = 0;
            const std::string_view level = level_at(topic, f.pos, next);
            // [MQTT-4.7.2-1] a first-level wildcard does not match a '$' topic.
            if (!(dollar && f.pos == 0)) {
                if (n->hash && n->hash->value) visit(ctx, *n->hash->value);
                if (n->plus) work.push({n->plus.get(), next});
            }
            const node* c = n->kids.empty() ? nullptr : n->kids.find(level, hash_level(level));
            f = {c, next};
        }
    }
}

void topic_tree::match_filter_impl(std::string_view filter, visit_fn visit, void* ctx) const {
    constexpr std::size_t all = std::numeric_limits<std::size_t>::max();  // the subtree below '#'
    struct frame {
        const node* n;
        std::size_t pos;  // next level of `filter`; > filter.size(): none left; `all`: after '#'
    };
    // Pushes every child of `n` with `pos`; at the root, names starting with '$' are not matched
    // by a wildcard [MQTT-4.7.2-1].
    auto push_children = [](work_stack<frame, 64>& work, const node* n, std::size_t pos,
                            bool at_root) {
        n->kids.for_each([&](const node& c) {
            if (at_root && !c.key().empty() && c.key().front() == '$') return;
            work.push({&c, pos});
        });
        if (n->plus) work.push({n->plus.get(), pos});
        if (n->hash) work.push({n->hash.get(), pos});
    };

    work_stack<frame, 64> work;
    work.push({root_.get(), 0});
    while (!work.empty()) {
        const frame f = work.pop();
        const node* n = f.n;
        if (f.pos == all) {
            if (n->value) visit(ctx, *n->value);
            push_children(work, n, all, false);
            continue;
        }
        if (f.pos > filter.size()) {
            if (n->value) visit(ctx, *n->value);
            continue;
        }
        std::size_t next = 0;
        const std::string_view level = level_at(filter, f.pos, next);
        const bool at_root = f.pos == 0;
        if (is_hash(level)) {
            // "sport/#" also matches "sport" [MQTT-4.7.1-2].
            if (n->value) visit(ctx, *n->value);
            push_children(work, n, all, at_root);
        } else if (is_plus(level)) {
            push_children(work, n, next, at_root);
        } else if (const node* c = n->child(level)) {
            work.push({c, next});
        }
    }
}

}  // namespace rmqtt::broker
