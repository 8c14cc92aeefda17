#pragma once

#include <cstddef>
#include <memory>
#include <string_view>
#include <type_traits>

namespace rmqtt::broker {

// A trie over topic levels ('/'-separated, empty levels included: "a//b" has three levels and
// "/a" two). Each node may hold one entry, owned by the tree. It serves both directions:
// - the subscription table stores topic FILTERS and is asked which filters match a topic NAME
//   (match);
// - the retained index stores topic NAMES and is asked which names match a topic FILTER
//   (match_filter).
// Keys are stored verbatim, so "+" and "#" levels are only wildcards in stored filters (match) or
// in the query filter (match_filter); names never contain them.
//
// Every walk is iterative (explicit work lists) so a hostile 65,000-level key cannot overflow
// the stack, including destruction. Removing an entry prunes the nodes left empty.
//
// Not thread-safe by itself: the owner provides the locking. The const members (find, match,
// match_filter, size, node_count) do not modify the tree and may run concurrently with each
// other.
class topic_tree {
  public:
    // What an owner stores per key. Derive from it; the tree deletes entries it owns.
    struct entry {
        virtual ~entry() = default;
    };

    topic_tree();
    ~topic_tree();
    topic_tree(const topic_tree&) = delete;
    topic_tree& operator=(const topic_tree&) = delete;

    // The entry stored under `key`, or null.
    entry* find(std::string_view key) const noexcept;
    // Stores `value` under `key`, creating the nodes on the way; replaces (and deletes) an entry
    // already there. Returns the stored entry. `value` must not be null.
    entry& insert(std::string_view key, std::unique_ptr<entry> value);
    // Deletes the entry under `key` and prunes the nodes left without entry or children.
    // Returns false when there was none.
    bool erase(std::string_view key);
    void clear();

    // Calls f(const entry&) once for every stored filter that matches the topic name `topic`:
    // '+' matches one level, '#' the rest including the parent level [MQTT-4.7.1-2], and a
    // filter starting with a wildcard never matches a name starting with '$' [MQTT-4.7.2-1].
    // Does not allocate unless the walk needs more than a few dozen pending branches.
    template <class F>
    void match(std::string_view topic, F&& f) const {
        match_impl(topic, &invoke<F>, erase_const(std::addressof(f)));
    }

    // Calls f(const entry&) once for every stored name that the topic filter `filter` matches,
    // with the same rules as match.
    template <class F>
    void match_filter(std::string_view filter, F&& f) const {
        match_filter_impl(filter, &invoke<F>, erase_const(std::addressof(f)));
    }

    std::size_t size() const noexcept { return entries_; }      // stored entries
    std::size_t node_count() const noexcept { return nodes_; }  // nodes, the root excluded
    bool empty() const noexcept { return entries_ == 0; }

  private:
    struct node;
    using visit_fn = void (*)(void* ctx, const entry& e);

    template <class F>
    static void invoke(void* ctx, const entry& e) {
        (*static_cast<std::remove_reference_t<F>*>(ctx))(e);
    }
    template <class T>
    static void* erase_const(T* p) noexcept {
        return const_cast<void*>(static_cast<const void*>(p));
    }

    static void destroy(std::unique_ptr<node> root) noexcept;
    void match_impl(std::string_view topic, visit_fn visit, void* ctx) const;
    void match_filter_impl(std::string_view filter, visit_fn visit, void* ctx) const;

    std::unique_ptr<node> root_;
    std::size_t entries_ = 0;
    std::size_t nodes_ = 0;
};

}  // namespace rmqtt::broker
