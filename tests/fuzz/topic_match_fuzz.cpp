// Fuzz target for topic matching: the topic tree (the subscription table and the retained index,
// rmqtt/broker/topic_tree.hpp) against the one-pair matcher of the codec (topic_matches), which
// is the specification's rule written out plainly.
//
// The input is lines: each line is a key, inserted into one tree as a filter and into another as
// a name when valid as such; a line starting with '-' erases that key again. Then every line is
// asked as a topic name (which filters match it?) and as a filter (which names does it match?),
// and both answers must equal what topic_matches says pair by pair. Any difference aborts.
#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "rmqtt/broker/topic_tree.hpp"
#include "rmqtt/protocol/topic.hpp"

namespace {

using rmqtt::broker::topic_tree;
namespace proto = rmqtt::protocol;

void check(bool ok) {
    if (!ok) std::abort();
}

struct key_entry : topic_tree::entry {
    explicit key_entry(std::string k) : key(std::move(k)) {}
    std::string key;
};

constexpr std::size_t max_lines = 64;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    std::vector<std::string> lines;
    for (std::size_t start = 0; start <= text.size() && lines.size() < max_lines;) {
        const std::size_t end = std::min(text.find('\n', start), text.size());
        lines.emplace_back(text.substr(start, end - start));
        start = end + 1;
    }

    topic_tree filters;  // subscription table
    topic_tree names;    // retained index
    std::set<std::string> filter_set;
    std::set<std::string> name_set;
    for (const auto& line : lines) {
        if (line.starts_with('-')) {
            const std::string key = line.substr(1);
            check(filters.erase(key) == (filter_set.erase(key) == 1));
            check(names.erase(key) == (name_set.erase(key) == 1));
            continue;
        }
        if (proto::is_valid_topic_filter(line)) {
            filters.insert(line, std::make_unique<key_entry>(line));
            filter_set.insert(line);
        }
        if (proto::is_valid_topic_name(line)) {
            names.insert(line, std::make_unique<key_entry>(line));
            name_set.insert(line);
        }
    }
    check(filters.size() == filter_set.size());
    check(names.size() == name_set.size());
    for (const auto& f : filter_set) {
        const auto* e = dynamic_cast<const key_entry*>(filters.find(f));
        check(e != nullptr && e->key == f);
    }

    for (const auto& line : lines) {
        const std::string query = line.starts_with('-') ? line.substr(1) : line;
        if (proto::is_valid_topic_name(query)) {
            std::multiset<std::string> got;
            filters.match(query, [&](const topic_tree::entry& e) {
                got.insert(static_cast<const key_entry&>(e).key);
            });
            std::multiset<std::string> want;
            for (const auto& f : filter_set)
                if (proto::topic_matches(f, query)) want.insert(f);
            check(got == want);  // each matching filter exactly once
        }
        if (proto::is_valid_topic_filter(query)) {
            std::multiset<std::string> got;
            names.match_filter(query, [&](const topic_tree::entry& e) {
                got.insert(static_cast<const key_entry&>(e).key);
            });
            std::multiset<std::string> want;
            for (const auto& n : name_set)
                if (proto::topic_matches(query, n)) want.insert(n);
            check(got == want);
        }
    }

    for (const auto& f : filter_set)
        check(filters.erase(f));
    check(filters.empty() && filters.node_count() == 0);
    names.clear();
    check(names.empty());
    return 0;
}
