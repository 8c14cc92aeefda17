#include "core/plugin_host.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>

namespace rmqtt::broker {

plugin_host::plugin_host(core_context& core, broker_api& api, std::span<const plugin_entry> plugins)
    : core_(core), api_(api), plugins_(plugins) {}

plugin_host::~plugin_host() {
    stop();
    // The plugins go before the pool: what they hold may belong to its executor (a strand, a
    // timer), and those must not outlive the pool's services.
    started_.clear();
    configured_.clear();
}

void plugin_host::configure(const config& cfg) {
    static const config_section no_file;
    for (const auto& entry : plugins_) {
        if (!entry.make) continue;
        auto p = entry.make();
        const auto it = cfg.plugin_sections.find(entry.name);
        const config_section& section = it != cfg.plugin_sections.end() ? it->second : no_file;
        p->configure(section);
        section.report_unknown();
        configured_.emplace_back(entry.name, std::move(p));
    }
}

void plugin_host::start(const config& cfg) {
    for (const auto& name : cfg.plugins_default_startups) {
        const auto it = std::find_if(plugins_.begin(), plugins_.end(),
                                     [&](const plugin_entry& e) { return e.name == name; });
        if (it == plugins_.end())
            spdlog::warn("plugins.default_startups: unknown plugin '{}' ignored", name);
        else if (!it->make)
            spdlog::warn("plugins.default_startups: '{}' ({}) is not available in rmqttd; ignored",
                         name, it->description);
    }
    for (auto& [name, p] : configured_) {
        if (!cfg.plugin_enabled(name)) continue;
        p->start(*this);
        started_.emplace_back(name, p.get());
        spdlog::info("plugin {} started", name);
    }
}

void plugin_host::stop() {
    if (stopped_) return;
    stopped_ = true;
    for (auto it = started_.rbegin(); it != started_.rend(); ++it) {
        try {
            it->second->stop();
            spdlog::info("plugin {} stopped", it->first);
        } catch (const std::exception& e) {
            spdlog::error("plugin {} failed to stop: {}", it->first, e.what());
        }
    }
    pool_.join();  // work already posted completes; the pool then ends
}

config_section plugin_host::read_config_file(const std::string& path,
                                             std::shared_ptr<std::vector<std::string>> warnings) {
    return broker::read_config_file(path, std::move(warnings));
}

void plugin_host::provide_retained_store(std::shared_ptr<retained_store> s) {
    if (retained_provided_) throw std::logic_error("a retained store was provided twice");
    retained_provided_ = true;
    core_.set_retained(std::move(s));
}

void plugin_host::provide_share_strategy(std::shared_ptr<share_strategy> s) {
    if (strategy_provided_)
        throw std::logic_error("a shared-subscription strategy was provided twice");
    strategy_provided_ = true;
    core_.routes.set_strategy(std::move(s));
    core_.set_shared_subscriptions(true);
}

void plugin_host::provide_session_storage(const session_storage_config& c) {
    if (session_storage_) throw std::logic_error("session storage was provided twice");
    session_storage_ = c;
}

}  // namespace rmqtt::broker
