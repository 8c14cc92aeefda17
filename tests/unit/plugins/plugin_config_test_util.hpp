#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "../config/config_test_util.hpp"
#include "process.hpp"
#include "rmqtt/broker/config.hpp"
#include "rmqtt/broker/config_section.hpp"

// Helpers for the plugin configuration tests: a plugin file read the way the core reads it, and
// handed to the plugin's parse function.
namespace rmqtt::test {

class plugin_file {
  public:
    // <temp dir>/<plugin>.toml holding `text`.
    plugin_file(const std::string& plugin, const std::string& text)
        : dir_("rmqtt-plugin-config-test"), path_(dir_.file(plugin + ".toml")) {
        write_file(path_, text);
    }
    // An existing file (etc/plugins/..., RMQTT's files in tests/unit/config/data).
    explicit plugin_file(std::string existing_path)
        : dir_("rmqtt-plugin-config-test"), path_(std::move(existing_path)) {}

    const std::string& path() const noexcept { return path_; }

    // Reads the file, parses it with `parse` (a parse_*_config function), then reports the keys
    // nobody read, as the core does once a plugin has read its section.
    template <class Parse>
    auto parse(Parse parse_fn) const {
        const auto section = broker::read_config_file(path_, warnings_);
        auto out = parse_fn(section);
        section.report_unknown();
        return out;
    }
    // The config_error message `parse` throws; fails the test when nothing is thrown.
    template <class Parse>
    std::string error(Parse parse_fn) const {
        return config_error_of([&] { (void)parse(parse_fn); });
    }

    const std::vector<std::string>& warnings() const noexcept { return *warnings_; }
    bool has_warning(const std::string& fragment) const {
        for (const auto& w : *warnings_) {
            if (w.find(fragment) != std::string::npos) return true;
        }
        return false;
    }
    std::string all_warnings() const {
        std::string out;
        for (const auto& w : *warnings_)
            out += w + "\n";
        return out;
    }

  private:
    temp_dir dir_;
    std::string path_;
    std::shared_ptr<std::vector<std::string>> warnings_ =
        std::make_shared<std::vector<std::string>>();
};

// One bad value in a plugin file: the message names the file, the key, the accepted form and
// what was found.
struct bad_plugin_case {
    const char* text;
    const char* key;
    const char* accepted;
    const char* got;
};

template <class Parse>
void expect_bad_cases(const std::string& plugin, std::span<const bad_plugin_case> cases,
                      Parse parse_fn) {
    for (const auto& c : cases) {
        const plugin_file f(plugin, c.text);
        const std::string msg = f.error(parse_fn);
        SCOPED_TRACE(c.text);
        EXPECT_NE(msg.find(f.path() + ": "), std::string::npos) << msg;
        EXPECT_NE(msg.find(std::string(c.key) + ": "), std::string::npos) << msg;
        EXPECT_NE(msg.find(c.accepted), std::string::npos) << msg;
        EXPECT_NE(msg.find(c.got), std::string::npos) << msg;
    }
}

}  // namespace rmqtt::test
