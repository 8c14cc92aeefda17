// rmqttd: the broker with its built-in plugins (plugins/builtin.cpp).
#include "builtin.hpp"
#include "core/entry.hpp"

int main(int argc, char** argv) {
    return rmqtt::broker::rmqttd_main(argc, argv, rmqtt::plugins::builtin_plugins());
}
