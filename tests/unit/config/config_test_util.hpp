#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "acl/acl_rules.hpp"
#include "auth_scram/auth_scram_config.hpp"
#include "process.hpp"
#include "retainer/retainer_config.hpp"
#include "rmqtt/broker/config.hpp"
#include "session_storage/session_storage_config.hpp"
#include "shared_subscription/shared_subscription_config.hpp"

// Helpers for the config tests: the source tree, temporary config trees, cwd and env guards.
namespace rmqtt::test {

// The repository root, from RMQTT_SOURCE_DIR (ctest sets it for every test); when it is not
// set (the test binary run by hand), from where this header sits in the tree.
inline std::string source_dir() {
    if (const char* dir = std::getenv("RMQTT_SOURCE_DIR"); dir != nullptr && *dir != '\0') {
        return dir;
    }
    const std::string here = __FILE__;
    const std::string suffix = "/tests/unit/config/config_test_util.hpp";
    if (here.size() > suffix.size() &&
        here.compare(here.size() - suffix.size(), suffix.size(), suffix) == 0 &&
        here.front() == '/') {
        return here.substr(0, here.size() - suffix.size());
    }
    throw std::runtime_error("RMQTT_SOURCE_DIR is not set (run the tests through ctest)");
}

inline std::string config_data_dir() {
    return source_dir() + "/tests/unit/config/data";
}

// Changes the current directory for the lifetime of the object.
class scoped_chdir {
  public:
    explicit scoped_chdir(const std::string& dir) : old_(std::filesystem::current_path()) {
        std::filesystem::current_path(dir);
    }
    ~scoped_chdir() {
        std::error_code ec;
        std::filesystem::current_path(old_, ec);
    }
    scoped_chdir(const scoped_chdir&) = delete;
    scoped_chdir& operator=(const scoped_chdir&) = delete;

  private:
    std::filesystem::path old_;
};

// Sets (or, with nullopt, unsets) an environment variable, restoring it afterwards.
class scoped_env {
  public:
    scoped_env(std::string name, const std::optional<std::string>& value) : name_(std::move(name)) {
        if (const char* old = std::getenv(name_.c_str())) old_ = old;
        if (value) {
            ::setenv(name_.c_str(), value->c_str(), 1);
        } else {
            ::unsetenv(name_.c_str());
        }
    }
    ~scoped_env() {
        if (old_) {
            ::setenv(name_.c_str(), old_->c_str(), 1);
        } else {
            ::unsetenv(name_.c_str());
        }
    }
    scoped_env(const scoped_env&) = delete;
    scoped_env& operator=(const scoped_env&) = delete;

  private:
    std::string name_;
    std::optional<std::string> old_;
};

// What rmqttd reads at start-up: load_config, then each built-in plugin's parser on its own
// file, with the plugins' warnings among the config's (rmqttd logs both).
struct loaded_config : broker::config {
    broker::session_storage_config session_storage;
    plugins::retainer_config retainer;
    plugins::shared_subscription_config shared_subscription;
    plugins::auth_scram_config auth_scram;
    plugins::acl::acl_config acl;
};

template <class Parse, class Target>
void parse_plugin(const loaded_config& cfg, std::string_view name, Parse parse, Target& target) {
    const auto& section = cfg.plugin_sections.at(std::string(name));
    target = parse(section);
    section.report_unknown();
}

inline loaded_config load_all(const broker::command_line& cl) {
    static constexpr std::string_view names[] = {"rmqtt-session-storage", "rmqtt-retainer",
                                                 "rmqtt-shared-subscription", "rmqtt-auth-scram",
                                                 "rmqtt-acl"};
    loaded_config out;
    static_cast<broker::config&>(out) = broker::load_config(cl, names);
    parse_plugin(out, names[0], plugins::parse_session_storage_config, out.session_storage);
    parse_plugin(out, names[1], plugins::parse_retainer_config, out.retainer);
    parse_plugin(out, names[2], plugins::parse_shared_subscription_config, out.shared_subscription);
    parse_plugin(out, names[3], plugins::parse_auth_scram_config, out.auth_scram);
    parse_plugin(out, names[4], plugins::acl::parse_acl_config, out.acl);
    out.warnings.insert(out.warnings.end(), out.plugin_warnings->begin(),
                        out.plugin_warnings->end());
    return out;
}

// A temporary config tree: <dir>/rmqtt.toml and <dir>/plugins/<name>.toml. The main file gets
// `plugins.dir = "<dir>/plugins/"` unless its text sets plugins.dir itself.
class config_tree {
  public:
    explicit config_tree(const std::string& main_text,
                         const std::map<std::string, std::string>& plugin_files = {})
        : dir_("rmqtt-config-test") {
        std::filesystem::create_directories(plugins_dir());
        std::string text = main_text;
        if (text.find("plugins.dir") == std::string::npos) {
            text = "plugins.dir = \"" + plugins_dir() + "/\"\n" + text;
        }
        write_file(main_file(), text);
        for (const auto& [name, body] : plugin_files) {
            write_file(plugins_dir() + "/" + name + ".toml", body);
        }
    }
    std::string main_file() const { return dir_.file("rmqtt.toml"); }
    std::string plugins_dir() const { return dir_.file("plugins"); }
    std::string plugin_file(const std::string& name) const {
        return plugins_dir() + "/" + name + ".toml";
    }
    const std::string& path() const { return dir_.path(); }

    loaded_config load(std::uint64_t node_id = 0) const {
        broker::command_line cl;
        cl.config_file = main_file();
        cl.node_id = node_id;
        return load_all(cl);
    }

  private:
    temp_dir dir_;
};

// The message of the config_error that `f` throws; fails the test when nothing is thrown.
template <class F>
std::string config_error_of(F&& f) {
    try {
        f();
    } catch (const broker::config_error& e) {
        return e.what();
    }
    ADD_FAILURE() << "expected a config_error";
    return {};
}

inline bool has_warning(const broker::config& cfg, const std::string& fragment) {
    for (const auto& w : cfg.warnings) {
        if (w.find(fragment) != std::string::npos) return true;
    }
    return false;
}

inline std::size_t count_warnings(const broker::config& cfg, const std::string& fragment) {
    std::size_t n = 0;
    for (const auto& w : cfg.warnings) {
        if (w.find(fragment) != std::string::npos) ++n;
    }
    return n;
}

inline const broker::listener_config* find_listener(const broker::config& cfg,
                                                    const std::string& id) {
    for (const auto& l : cfg.listeners) {
        if (l.id() == id) return &l;
    }
    return nullptr;
}

inline std::string all_warnings(const broker::config& cfg) {
    std::string out;
    for (const auto& w : cfg.warnings)
        out += w + "\n";
    return out;
}

}  // namespace rmqtt::test
