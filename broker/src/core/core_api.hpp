#pragma once

#include "rmqtt/broker/broker_api.hpp"
#include "session/core_context.hpp"

namespace rmqtt::broker {

class plugin_host;

// The broker API plugins get (rmqtt/broker/broker_api.hpp), over the core's state.
class core_api final : public broker_api {
  public:
    core_api(core_context& core, std::uint64_t node_id) : core_(core), node_id_(node_id) {}
    // The plugin host is made after the API (it hands the API to the plugins); set once, before
    // any plugin starts.
    void set_plugin_host(plugin_host* host) noexcept { host_ = host; }

    std::uint64_t node_id() const noexcept override { return node_id_; }
    std::string_view version() const noexcept override;
    std::size_t publish(message msg) override;
    bool kick(std::string_view client_id, bool discard_session) override;
    std::vector<session_info> sessions(std::size_t limit) override;
    std::optional<session_info> session(std::string_view client_id) override;
    std::vector<subscription_info> subscriptions(std::string_view client_id) override;
    std::vector<std::pair<std::string, std::int64_t>> metrics() const override;
    std::int64_t started_at_ms() const noexcept override;
    bool serving() const noexcept override { return core_.serving(); }
    std::vector<message_ptr> retained(std::string_view filter) override;
    bool remove_retained(std::string_view topic) override;
    void subscribe(std::string_view client_id, std::string filter,
                   protocol::subscription_options options,
                   std::function<void(api_result)> done) override;
    void unsubscribe(std::string_view client_id, std::string filter,
                     std::function<void(api_result)> done) override;
    std::vector<plugin_state> plugins() const override;
    api_result reload_plugin(std::string_view name) override;
    latency_histogram store_commit_latency() const override;

  private:
    core_context& core_;
    const std::uint64_t node_id_;
    plugin_host* host_ = nullptr;
};

}  // namespace rmqtt::broker
