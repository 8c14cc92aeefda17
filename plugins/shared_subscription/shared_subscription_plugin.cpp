#include "shared_subscription/shared_subscription_plugin.hpp"

#include "shared_subscription/share_strategies.hpp"
#include "shared_subscription/shared_subscription_config.hpp"

namespace rmqtt::plugins {

namespace {

class shared_subscription_plugin final : public broker::plugin {
  public:
    void configure(const broker::config_section& section) override {
        config_ = parse_shared_subscription_config(section);
    }
    void start(broker::plugin_context& ctx) override {
        ctx.provide_share_strategy(make_share_strategy(config_.strat, config_.sticky_cache_size));
    }

  private:
    shared_subscription_config config_;
};

}  // namespace

std::unique_ptr<broker::plugin> make_shared_subscription_plugin() {
    return std::make_unique<shared_subscription_plugin>();
}

}  // namespace rmqtt::plugins
