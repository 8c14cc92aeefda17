// docs/configuration.md against the parsers: every key documented is one the parser knows, and
// every key the parser knows is documented.
//
// The format the test reads: key tables are Markdown tables whose header's first cell is "key";
// each backquoted name in a row's first cell is a key. Which file a table describes comes from
// the nearest heading that names one: a heading with "Listener" in it is a listener's keys
// (relative to listener.<type>.<name>), one with `rmqtt-<plugin>.toml` that plugin's file, one
// with `rmqtt.toml` the main file; a heading naming none inherits its parent's.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "acl/acl_rules.hpp"
#include "auth_http/auth_http_config.hpp"
#include "auth_jwt/auth_jwt_config.hpp"
#include "auth_scram/auth_scram_config.hpp"
#include "config_test_util.hpp"
#include "http_api/http_api_config.hpp"
#include "process.hpp"
#include "retainer/retainer_config.hpp"
#include "rmqtt/broker/config.hpp"
#include "session_storage/session_storage_config.hpp"
#include "shared_subscription/shared_subscription_config.hpp"

namespace {

using key_sets = std::map<std::string, std::set<std::string>>;  // file -> keys

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
        s.remove_suffix(1);
    return s;
}

std::vector<std::string> cells(std::string_view row) {
    row = trim(row);
    if (!row.empty() && row.front() == '|') row.remove_prefix(1);
    if (!row.empty() && row.back() == '|') row.remove_suffix(1);
    std::vector<std::string> out;
    std::size_t start = 0;
    bool code = false;
    for (std::size_t i = 0; i <= row.size(); ++i) {
        if (i < row.size() && row[i] == '`') code = !code;
        if (i == row.size() || (row[i] == '|' && !code)) {
            out.emplace_back(trim(row.substr(start, i - start)));
            start = i + 1;
        }
    }
    return out;
}

std::vector<std::string> backquoted(std::string_view s) {
    std::vector<std::string> out;
    for (auto open = s.find('`'); open != std::string_view::npos; open = s.find('`', open)) {
        const auto close = s.find('`', open + 1);
        if (close == std::string_view::npos) break;
        out.emplace_back(s.substr(open + 1, close - open - 1));
        open = close + 1;
    }
    return out;
}

// "listener", "rmqtt.toml", "rmqtt-retainer", ... or "" for a heading that names no file.
std::string file_of_heading(std::string_view text) {
    if (text.find("Listener") != std::string_view::npos) return "listener";
    for (const auto& name : backquoted(text)) {
        if (name == "rmqtt.toml") return name;
        if (name.starts_with("rmqtt-") && name.ends_with(".toml")) {
            return name.substr(0, name.size() - 5);
        }
    }
    return {};
}

key_sets documented_keys(const std::string& path) {
    key_sets out;
    std::istringstream in(rmqtt::test::read_file(path));
    std::vector<std::string> file_at_level(8);
    std::string file;
    bool in_code = false;
    bool in_key_table = false;
    for (std::string line; std::getline(in, line);) {
        const std::string_view l = trim(line);
        if (l.starts_with("```")) {
            in_code = !in_code;
            continue;
        }
        if (in_code) continue;
        if (l.starts_with("#")) {
            const std::size_t level = l.find_first_not_of('#');
            if (level == std::string_view::npos || level >= file_at_level.size()) continue;
            std::string f = file_of_heading(l.substr(level));
            if (f.empty() && level > 1) f = file_at_level[level - 1];
            file_at_level[level] = f;
            for (std::size_t deeper = level + 1; deeper < file_at_level.size(); ++deeper)
                file_at_level[deeper].clear();
            file = f;
            in_key_table = false;
            continue;
        }
        if (!l.starts_with("|")) {
            in_key_table = false;
            continue;
        }
        const auto c = cells(l);
        if (c.empty()) continue;
        if (c[0] == "key") {  // a header row
            in_key_table = true;
            continue;
        }
        if (!in_key_table || c[0].starts_with("---")) continue;
        EXPECT_FALSE(file.empty()) << "a key table under no file heading: " << line;
        const auto keys = backquoted(c[0]);
        EXPECT_FALSE(keys.empty()) << "a key row without a backquoted key: " << line;
        for (const auto& k : keys)
            EXPECT_TRUE(out[file].insert(k).second) << file << ": " << k << " documented twice";
    }
    return out;
}

key_sets parser_keys() {
    using namespace rmqtt::plugins;
    key_sets out;
    const auto add = [&out](const std::string& file, std::span<const std::string_view> keys) {
        for (const auto k : keys)
            EXPECT_TRUE(out[file].insert(std::string(k)).second) << file << ": " << k << " twice";
    };
    add("rmqtt.toml", rmqtt::broker::main_config_keys());
    add("listener", rmqtt::broker::listener_config_keys());
    add("rmqtt-session-storage", session_storage_config_keys());
    add("rmqtt-retainer", retainer_config_keys());
    add("rmqtt-shared-subscription", shared_subscription_config_keys());
    add("rmqtt-auth-scram", auth_scram_config_keys());
    add("rmqtt-acl", acl::acl_config_keys());
    add("rmqtt-auth-jwt", auth_jwt_config_keys());
    add("rmqtt-auth-http", auth_http_config_keys());
    add("rmqtt-http-api", http_api::http_api_config_keys());
    return out;
}

TEST(config_docs, EveryDocumentedKeyIsKnownAndEveryKnownKeyDocumented) {
    const key_sets documented =
        documented_keys(rmqtt::test::source_dir() + "/docs/configuration.md");
    const key_sets known = parser_keys();
    for (const auto& [file, keys] : known) {
        ASSERT_TRUE(documented.contains(file)) << "docs/configuration.md has no table for " << file;
    }
    for (const auto& [file, keys] : documented) {
        ASSERT_TRUE(known.contains(file)) << "docs/configuration.md documents unknown " << file;
        const auto& parser = known.at(file);
        for (const auto& k : keys) {
            EXPECT_TRUE(parser.contains(k))
                << file << ": `" << k << "` is documented but the parser does not know it";
        }
        for (const auto& k : parser) {
            EXPECT_TRUE(keys.contains(k))
                << file << ": `" << k << "` is known to the parser but not documented";
        }
    }
}

// The reader of the format above, on a small sample.
TEST(config_docs, TableFormatReader) {
    const rmqtt::test::temp_dir dir("rmqtt-docs-test");
    rmqtt::test::write_file(dir.file("sample.md"),
                            "# Configuration\n"
                            "## Main file: `rmqtt.toml`\n"
                            "### node\n"
                            "| key | meaning |\n|---|---|\n| `node.id` | id |\n\n"
                            "### Listeners: `listener.<type>.<name>.<key>`\n"
                            "| key | meaning |\n|---|---|\n| `addr`, `enable` | where |\n"
                            "```\n| key |\n| `in.code` |\n```\n"
                            "## `rmqtt-retainer.toml`\n"
                            "| form | accepted |\n|---|---|\n| `not.a.key` | x |\n\n"
                            "| key | meaning |\n|---|---|\n| `storage.type` | engine |\n");
    const key_sets got = documented_keys(dir.file("sample.md"));
    EXPECT_EQ(got.at("rmqtt.toml"), (std::set<std::string>{"node.id"}));
    EXPECT_EQ(got.at("listener"), (std::set<std::string>{"addr", "enable"}));
    EXPECT_EQ(got.at("rmqtt-retainer"), (std::set<std::string>{"storage.type"}));
}

}  // namespace
