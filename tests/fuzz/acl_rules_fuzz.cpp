// rmqtt-acl.toml from arbitrary text: the core's TOML reader (parse_config_text), then the
// plugin's rule parser. A file that does not parse must fail with config_error only (never a
// crash, never another exception); rules that parse are used for decisions with hostile client
// ids and usernames, and the filter algebra is checked on the rules' own filters: a filter
// covers itself, covering implies overlapping, and a filter that matches a topic name covers it.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "acl/acl_rules.hpp"
#include "rmqtt/broker/config.hpp"
#include "rmqtt/protocol/topic.hpp"

namespace {

using namespace rmqtt::plugins::acl;

void check(bool ok) {
    if (!ok) std::abort();
}

void algebra(const std::string& p, const std::vector<std::string>& candidates) {
    if (!rmqtt::protocol::is_valid_topic_filter(p)) return;
    check(filter_covers(p, p));
    check(filters_overlap(p, p));
    for (const auto& f : candidates) {
        if (rmqtt::protocol::is_valid_topic_filter(f) && filter_covers(p, f))
            check(filters_overlap(p, f));
        if (rmqtt::protocol::is_valid_topic_name(f) && filter_matches(p, f))
            check(filter_covers(p, f));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    acl_config cfg;
    try {
        auto warnings = std::make_shared<std::vector<std::string>>();
        const auto section = rmqtt::broker::parse_config_text(text, "fuzz.toml", warnings);
        cfg = parse_acl_config(section);
        section.report_unknown();
    } catch (const rmqtt::broker::config_error&) {
        return 0;
    }

    std::vector<std::string> candidates = {"#",      "+",      "a/b", "a/+",  "a/#",
                                           "$SYS/x", "$SYS/#", "+/#", "a//b", "/"};
    for (const auto& r : cfg.rules)
        for (const auto& p : r.topics)
            candidates.push_back(p.text);
    for (const auto& r : cfg.rules)
        for (const auto& p : r.topics)
            if (!p.eq && !p.placeholders) algebra(p.text, candidates);

    struct who {
        std::string id;
        std::optional<std::string> user;
        std::string peer;
        int protocol;
    };
    const who clients[] = {
        {"c", "u", "127.0.0.1:1", 4},
        {"+", "#", "[::1]:2", 5},
        {"a/#", std::nullopt, "10.0.0.1:3", 3},
        {"$SYS", "%c", "[::ffff:10.1.1.1]:4", 5},
    };
    for (const auto& c : clients) {
        subject s;
        s.client_id = c.id;
        s.username = c.user ? &*c.user : nullptr;
        s.peer = c.peer;
        s.protocol = c.protocol;
        (void)check_connect(cfg, s);
        for (const auto& t : candidates) {
            if (rmqtt::protocol::is_valid_topic_name(t)) (void)check_publish(cfg, s, t);
            if (rmqtt::protocol::is_valid_topic_filter(t)) (void)check_subscribe(cfg, s, t);
        }
        if (c.user) (void)credentials_for(cfg, *c.user);
    }
    return 0;
}
