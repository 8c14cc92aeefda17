// Routes about plugins: list, config, reload, load and unload.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iterator>
#include "http_api/api_helpers.hpp"
#include "http_api/api_routes.hpp"

namespace rmqtt::plugins::http_api {

void api_routes::add_plugin_routes() {
    auto& b = broker_;
    const auto node = b.node_id();
    const auto check_node = [node](const std::string& id) { require_node(node, id); };

    // ---- plugins -----------------------------------------------------------------------------
    const auto plugin_json = [&b](const broker::plugin_state& p) {
        return json{
            {"name", p.name},
            {"version", b.version()},
            {"descr", p.description},
            {"active", p.running},
            {"inited", p.available},
            {"immutable", true},
            {"reloadable", p.reloadable},
            {"attrs", nullptr},
        };
    };
    const auto find_plugin = [&b](const std::string& name) {
        for (auto& p : b.plugins())
            if (p.name == name) return p;
        not_found("no plugin " + name);
    };
    add("GET", "/plugins", [&b, node, plugin_json](const api_request&, const std::smatch&) {
        json list = json::array();
        for (const auto& p : b.plugins())
            list.push_back(plugin_json(p));
        return json_response(json::array({{{"node", node}, {"plugins", list}}}));
    });
    add("GET", "/plugins/{node}",
        [&b, check_node, plugin_json](const api_request&, const std::smatch& m) {
            check_node(m[1]);
            json list = json::array();
            for (const auto& p : b.plugins())
                list.push_back(plugin_json(p));
            return json_response(list);
        });
    add("GET", "/plugins/{node}/{plugin}",
        [check_node, plugin_json, find_plugin](const api_request&, const std::smatch& m) {
            check_node(m[1]);
            return json_response(plugin_json(find_plugin(m[2])));
        });
    add("GET", "/plugins/{node}/{plugin}/config",
        [check_node, find_plugin](const api_request&, const std::smatch& m) {
            check_node(m[1]);
            const auto p = find_plugin(m[2]);
            std::ifstream in(p.config_file, std::ios::binary);
            std::string text;
            if (in)
                text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
            return json_response({{"name", p.name},
                                  {"file", p.config_file},
                                  {"exists", static_cast<bool>(in)},
                                  {"content", text}});
        });
    add("PUT", "/plugins/{node}/{plugin}/config/reload",
        [&b, check_node, find_plugin](const api_request&, const std::smatch& m) {
            check_node(m[1]);
            const auto p = find_plugin(m[2]);
            if (!p.running) throw http_error(409, p.name + " is not running");
            if (!p.reloadable)
                throw http_error(409, p.name + " does not reload its configuration while it runs");
            const auto r = b.reload_plugin(p.name);
            if (!r)
                throw http_error(r.value == broker::api_result::code::invalid ? 400 : 409,
                                 r.message);
            return json_response({{"name", p.name}, {"reloaded", true}});
        });
    const auto load_unload = [check_node, find_plugin](const std::smatch& m,
                                                       bool load) -> api_response {
        check_node(m[1]);
        const auto p = find_plugin(m[2]);
        if (!p.available) throw http_error(409, p.name + " is not available in rmqttd");
        if (load && p.running) return json_response({{"name", p.name}, {"active", true}});
        if (!load && !p.running) return json_response({{"name", p.name}, {"active", false}});
        throw http_error(
            409,
            fmt::format("{} cannot be {} while the broker serves: plugins register their hooks "
                        "and services at start-up only; change plugins.default_startups and "
                        "restart",
                        p.name, load ? "started" : "stopped"));
    };
    add("PUT", "/plugins/{node}/{plugin}/load",
        [load_unload](const api_request&, const std::smatch& m) { return load_unload(m, true); });
    add("PUT", "/plugins/{node}/{plugin}/unload",
        [load_unload](const api_request&, const std::smatch& m) { return load_unload(m, false); });
}

}  // namespace rmqtt::plugins::http_api
