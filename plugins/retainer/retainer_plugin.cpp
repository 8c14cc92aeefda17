#include "retainer/retainer_plugin.hpp"

#include <spdlog/spdlog.h>

#include "retainer/retainer_config.hpp"
#include "retainer/retainer_store.hpp"

namespace rmqtt::plugins {

namespace {

class retainer_plugin final : public broker::plugin {
  public:
    void configure(const broker::config_section& section) override {
        config_ = parse_retainer_config(section);
    }
    void start(broker::plugin_context& ctx) override {
        // With a persistent type, retained messages go to the session store when there is one
        // (rmqtt-session-storage starts first in the built-in list).
        const bool stored =
            config_.type != retainer_config::engine::ram && ctx.has_session_storage();
        if (config_.type != retainer_config::engine::ram && !stored)
            spdlog::warn(
                "rmqtt-retainer: storage.type is not \"ram\" but rmqtt-session-storage is not "
                "started: retained messages are kept in memory only");
        else if (stored)
            spdlog::info("rmqtt-retainer: retained messages are stored in the session store");
        ctx.provide_retained_store(std::make_shared<retainer_store>(config_, stored));
    }

  private:
    retainer_config config_;
};

}  // namespace

std::unique_ptr<broker::plugin> make_retainer_plugin() {
    return std::make_unique<retainer_plugin>();
}

}  // namespace rmqtt::plugins
