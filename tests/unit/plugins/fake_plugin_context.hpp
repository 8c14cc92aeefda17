#pragma once
// A plugin context without a broker: hooks, a one-thread pool as the executor, the core's TOML
// reader, and a record of the services the plugin provides. broker() throws: a plugin test that
// needs the broker API belongs in the integration tests. Declare it before the plugin: what a
// plugin holds (timers, strands) belongs to the context's pool and must go first, as rmqttd's
// plugin host destroys its plugins before its pool.

#include <asio/thread_pool.hpp>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "rmqtt/broker/config.hpp"
#include "rmqtt/broker/config_section.hpp"
#include "rmqtt/broker/hooks.hpp"
#include "rmqtt/broker/plugin.hpp"
#include "rmqtt/broker/services.hpp"

namespace rmqtt::test {

class fake_plugin_context final : public broker::plugin_context {
  public:
    broker::hook_bus& hooks() override { return hooks_; }
    broker::broker_api& broker() override { throw std::logic_error("no broker in this test"); }
    asio::any_io_executor executor() override { return pool_.get_executor(); }
    void provide_retained_store(std::shared_ptr<broker::retained_store> s) override {
        retained = std::move(s);
    }
    void provide_share_strategy(std::shared_ptr<broker::share_strategy> s) override {
        strategy = std::move(s);
    }
    void provide_session_storage(const broker::session_storage_config& c) override { storage = c; }
    bool has_session_storage() const override { return storage.has_value(); }
    broker::config_section read_config_file(
        const std::string& path, std::shared_ptr<std::vector<std::string>> warnings) override {
        return broker::read_config_file(path, std::move(warnings));
    }

    broker::hook_bus hooks_;
    asio::thread_pool pool_{1};
    std::shared_ptr<broker::retained_store> retained;
    std::shared_ptr<broker::share_strategy> strategy;
    std::optional<broker::session_storage_config> storage;
};

}  // namespace rmqtt::test
