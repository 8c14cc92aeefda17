#include "session_storage/session_storage_plugin.hpp"

#include <spdlog/spdlog.h>

#include "session_storage/session_storage_config.hpp"

namespace rmqtt::plugins {

namespace {

class session_storage_plugin final : public broker::plugin {
  public:
    void configure(const broker::config_section& section) override {
        settings_ = parse_session_storage_config(section);
    }
    void start(broker::plugin_context& ctx) override {
        if (settings_.type_was_sled)
            spdlog::info(
                "rmqtt-session-storage: storage.type = \"sled\" (RMQTT's embedded engine) is "
                "served by RocksDB at {}",
                settings_.rocksdb_path);
        ctx.provide_session_storage(settings_);
    }

  private:
    broker::session_storage_config settings_;
};

}  // namespace

std::unique_ptr<broker::plugin> make_session_storage_plugin() {
    return std::make_unique<session_storage_plugin>();
}

}  // namespace rmqtt::plugins
