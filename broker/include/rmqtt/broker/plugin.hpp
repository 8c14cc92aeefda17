#pragma once

#include <asio/any_io_executor.hpp>

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rmqtt/broker/broker_api.hpp"
#include "rmqtt/broker/config_section.hpp"
#include "rmqtt/broker/hooks.hpp"
#include "rmqtt/broker/services.hpp"

// The plugin interface. Part of the plugin API: a plugin includes headers under rmqtt/broker/
// (and rmqtt/protocol/, rmqtt/storage/) and links rmqtt_plugin_api, nothing else.
//
// Life cycle, driven by the core:
//   1. configure(section) for every built-in plugin, started or not, so a bad file stops the
//      start at once (the section is empty when the file does not exist);
//   2. start(context) for the plugins in plugins.default_startups, in the order of the built-in
//      list (plugins/builtin.cpp): register hooks, provide services;
//   3. the core opens the session store, recovers, opens the listeners and serves;
//   4. on shutdown, after the listeners closed and the connections ended, stop() in reverse
//      start order; then the store is flushed and closed.
namespace rmqtt::broker {

class plugin_context {
  public:
    virtual ~plugin_context() = default;

    // Register before start() returns; the bus is read-only once the broker serves.
    virtual hook_bus& hooks() = 0;
    virtual broker_api& broker() = 0;
    // A small thread pool for work that must not run on the io threads: CPU-heavy (password
    // hashes) or blocking (HTTP calls, files). Timers may run on it too. It runs until every
    // plugin has stopped.
    virtual asio::any_io_executor executor() = 0;

    // Services (services.hpp); providing one twice is an error (std::logic_error).
    virtual void provide_retained_store(std::shared_ptr<retained_store> s) = 0;
    virtual void provide_share_strategy(std::shared_ptr<share_strategy> s) = 0;
    virtual void provide_session_storage(const session_storage_config& c) = 0;
    // Whether another started plugin provides a service (e.g. the retainer keeps messages in the
    // session store only when there is one). Meaningful once every plugin has started: ask in
    // the hooks, or decide in configure()/start() from the plugin's own settings.
    virtual bool has_session_storage() const = 0;

    // Reads a TOML file with the core's loader into a new section, for a plugin that re-reads its
    // own file while the broker runs (config_section::file() names it, also when it did not
    // exist at start-up). `warnings` receives what report_unknown() finds. Thread-safe, may block
    // (call it on executor()); throws config_error when the file cannot be read or is not TOML.
    virtual config_section read_config_file(const std::string& path,
                                            std::shared_ptr<std::vector<std::string>> warnings) = 0;
};

class plugin {
  public:
    virtual ~plugin() = default;
    // Reads the plugin's own file. Throws config_error for a value it cannot use.
    virtual void configure(const config_section& section) = 0;
    // Throws std::exception when the plugin cannot start (the broker does not start either).
    virtual void start(plugin_context& ctx) = 0;
    // Ends what start() began. The hooks stay registered but are no longer called.
    virtual void stop() {}
    // Whether reload() re-reads the plugin's file while it runs (HTTP API: PUT
    // /plugins/{node}/{plugin}/config/reload).
    virtual bool reloadable() const noexcept { return false; }
    // Re-reads the plugin's file and applies it; called on a thread that may block. Throws
    // config_error (or std::exception) when the file cannot be used: the settings in use stay.
    virtual void reload(plugin_context& ctx) { (void)ctx; }
};

// One entry of the built-in plugin list.
struct plugin_entry {
    std::string_view name;  // RMQTT's name: "rmqtt-retainer"
    std::string_view description;
    // Null for an RMQTT plugin rmqttd does not offer (named so its files and names are known).
    std::function<std::unique_ptr<plugin>()> make;
};

}  // namespace rmqtt::broker
