// rmqttd-probe: rmqttd with its built-in plugins plus rmqtt-test-probe, as an embedder would list
// its own plugins.
#include <vector>

#include "builtin.hpp"
#include "core/entry.hpp"
#include "probe_plugin.hpp"

int main(int argc, char** argv) {
    std::vector<rmqtt::broker::plugin_entry> plugins(rmqtt::plugins::builtin_plugins().begin(),
                                                     rmqtt::plugins::builtin_plugins().end());
    plugins.push_back(
        {"rmqtt-test-probe", "records events and decides (tests)", rmqtt::test::make_probe_plugin});
    return rmqtt::broker::rmqttd_main(argc, argv, plugins);
}
