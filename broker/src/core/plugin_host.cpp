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
        files_[entry.name] = !section.file().empty()
                                 ? section.file()
                                 : cfg.plugins_dir + std::string(entry.name) + ".toml";
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
        std::lock_guard lock(started_mutex_);
        started_.emplace_back(name, p.get());
        spdlog::info("plugin {} started", name);
    }
}

void plugin_host::stop() {
    if (stopped_.exchange(true)) return;
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

std::vector<plugin_state> plugin_host::states() const {
    std::vector<plugin_state> out;
    std::lock_guard lock(started_mutex_);
    for (const auto& entry : plugins_) {
        plugin_state st;
        st.name = std::string(entry.name);
        st.description = std::string(entry.description);
        st.available = static_cast<bool>(entry.make);
        for (const auto& [name, p] : started_) {
            if (name != entry.name) continue;
            st.running = !stopped_;
            st.reloadable = p->reloadable();
        }
        if (const auto f = files_.find(entry.name); f != files_.end()) st.config_file = f->second;
        out.push_back(std::move(st));
    }
    return out;
}

api_result plugin_host::reload(std::string_view name) {
    const auto known = std::find_if(plugins_.begin(), plugins_.end(),
                                    [&](const plugin_entry& e) { return e.name == name; });
    if (known == plugins_.end()) return {api_result::code::not_found, "no such plugin"};
    plugin* p = nullptr;
    {
        std::lock_guard lock(started_mutex_);
        const auto it = std::find_if(started_.begin(), started_.end(),
                                     [&](const auto& s) { return s.first == name; });
        if (it != started_.end()) p = it->second;
    }
    if (!p || stopped_) return {api_result::code::unsupported, "not running"};
    if (!p->reloadable())
        return {api_result::code::unsupported, "this plugin does not reload its configuration"};
    std::lock_guard lock(reload_mutex_);
    try {
        p->reload(*this);
    } catch (const std::exception& e) {
        return {api_result::code::invalid, e.what()};
    }
    return {};
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
