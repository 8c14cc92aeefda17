#pragma once

#include "rmqtt/broker/broker_api.hpp"
#include "session/core_context.hpp"

namespace rmqtt::broker {

// The broker API plugins get (rmqtt/broker/broker_api.hpp), over the core's state.
class core_api final : public broker_api {
  public:
    core_api(core_context& core, std::uint64_t node_id) : core_(core), node_id_(node_id) {}

    std::uint64_t node_id() const noexcept override { return node_id_; }
    std::string_view version() const noexcept override;
    std::size_t publish(message msg) override;
    bool kick(std::string_view client_id, bool discard_session) override;
    std::vector<session_info> sessions(std::size_t limit) override;
    std::optional<session_info> session(std::string_view client_id) override;
    std::vector<subscription_info> subscriptions(std::string_view client_id) override;
    std::vector<std::pair<std::string, std::int64_t>> metrics() const override;

  private:
    core_context& core_;
    const std::uint64_t node_id_;
};

}  // namespace rmqtt::broker
