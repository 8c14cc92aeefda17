// rmqttd: the broker with its built-in plugins (plugins/builtin.cpp), and `rmqttd store ...`,
// the session store tools (tools/store).
#include <string_view>

#include "builtin.hpp"
#include "core/entry.hpp"
#include "store_tool.hpp"

int main(int argc, char** argv) {
    if (argc > 1 && std::string_view(argv[1]) == "store")
        return rmqtt::store_tool::store_main(argc - 1, argv + 1);
    return rmqtt::broker::rmqttd_main(argc, argv, rmqtt::plugins::builtin_plugins());
}
