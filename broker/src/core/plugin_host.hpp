#pragma once

#include <asio/thread_pool.hpp>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "rmqtt/broker/config.hpp"
#include "rmqtt/broker/plugin.hpp"
#include "session/core_context.hpp"

namespace rmqtt::broker {

// Runs the plugins (plugin.hpp): makes and configures every plugin of the list, starts those
// named in plugins.default_startups in list order, and stops them in reverse. It is the context
// plugins see: the hook bus, the broker API, a thread pool, and the services they provide.
class plugin_host final : public plugin_context {
  public:
    plugin_host(core_context& core, broker_api& api, std::span<const plugin_entry> plugins);
    ~plugin_host() override;
    plugin_host(const plugin_host&) = delete;
    plugin_host& operator=(const plugin_host&) = delete;

    // Configures every plugin that has an implementation from its section of `cfg` (started or
    // not, so a bad file stops the start at once) and reports keys none read. Throws
    // config_error.
    void configure(const config& cfg);
    // Warns about names in plugins.default_startups that rmqttd does not know or offer, and
    // starts the others. Throws std::exception when one cannot start.
    void start(const config& cfg);
    // Stops the started plugins in reverse order, then the pool. Idempotent.
    void stop();

    // Every built-in plugin with its state (broker_api::plugins). Thread-safe once started.
    std::vector<plugin_state> states() const;
    // broker_api::reload_plugin. Thread-safe; blocks while the plugin reads its file.
    api_result reload(std::string_view name);

    // What the started plugins provided.
    const std::optional<session_storage_config>& session_storage() const noexcept {
        return session_storage_;
    }

    // ---- plugin_context ---------------------------------------------------------------------
    hook_bus& hooks() override { return core_.hooks; }
    broker_api& broker() override { return api_; }
    asio::any_io_executor executor() override { return pool_.get_executor(); }
    void provide_retained_store(std::shared_ptr<retained_store> s) override;
    void provide_share_strategy(std::shared_ptr<share_strategy> s) override;
    void provide_session_storage(const session_storage_config& c) override;
    bool has_session_storage() const override { return session_storage_.has_value(); }
    config_section read_config_file(const std::string& path,
                                    std::shared_ptr<std::vector<std::string>> warnings) override;

  private:
    core_context& core_;
    broker_api& api_;
    std::span<const plugin_entry> plugins_;
    std::vector<std::pair<std::string_view, std::unique_ptr<plugin>>> configured_;
    std::vector<std::pair<std::string_view, plugin*>> started_;
    std::map<std::string_view, std::string, std::less<>> files_;  // plugin name -> its file
    mutable std::mutex started_mutex_;  // started_ grows while a started plugin may read it
    std::mutex reload_mutex_;           // one reload at a time
    std::optional<session_storage_config> session_storage_;
    bool retained_provided_ = false;
    bool strategy_provided_ = false;
    asio::thread_pool pool_{2};
    std::atomic<bool> stopped_{false};
};

}  // namespace rmqtt::broker
