#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rmqtt/protocol/packets.hpp"

namespace rmqtt::broker {

struct session_subscription {
    protocol::subscription_options options;
    std::uint32_t subscription_id = 0;
};

// A session's subscriptions by topic filter, in a vector sorted by filter. A session has few
// (often one): an entry takes 40 bytes here, where a std::map node takes 72 and the map itself 48.
// Lookup is a binary search; adding or removing one moves the entries behind it. Reads like the
// std::map it replaces (find, end, contains, at; entries are pairs of filter and subscription).
// Adding or removing invalidates iterators. Not thread-safe.
class subscription_table {
  public:
    using value_type = std::pair<std::string, session_subscription>;
    using const_iterator = std::vector<value_type>::const_iterator;

    const_iterator begin() const noexcept { return items_.begin(); }
    const_iterator end() const noexcept { return items_.end(); }
    std::size_t size() const noexcept { return items_.size(); }
    bool empty() const noexcept { return items_.empty(); }

    const_iterator find(std::string_view filter) const {
        const auto it = lower_bound(filter);
        return it != items_.end() && it->first == filter ? it : items_.end();
    }
    bool contains(std::string_view filter) const { return find(filter) != end(); }
    const session_subscription& at(std::string_view filter) const {
        const auto it = find(filter);
        if (it == end()) throw std::out_of_range("subscription_table::at");
        return it->second;
    }

    // Adds or replaces the subscription of `filter`; true when it is new.
    bool insert_or_assign(std::string_view filter, const session_subscription& s) {
        const auto it = lower_bound(filter);
        if (it != items_.end() && it->first == filter) {
            items_[static_cast<std::size_t>(it - items_.begin())].second = s;
            return false;
        }
        items_.emplace(it, std::string(filter), s);
        return true;
    }
    // Removes the subscription of `filter`; false when there is none.
    bool erase(std::string_view filter) {
        const auto it = find(filter);
        if (it == end()) return false;
        items_.erase(it);
        return true;
    }

  private:
    const_iterator lower_bound(std::string_view filter) const {
        return std::lower_bound(
            items_.begin(), items_.end(), filter,
            [](const value_type& e, std::string_view f) { return std::string_view(e.first) < f; });
    }

    std::vector<value_type> items_;
};

}  // namespace rmqtt::broker
