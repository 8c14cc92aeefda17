#pragma once

#include <memory>

#include "rmqtt/broker/plugin.hpp"

// rmqtt-test-probe: a plugin built from the public plugin API alone (its CMake target links only
// rmqtt_plugin_api), used by plugin_test.cpp. It records every event it sees as one line in
// `events_file`, written on the plugin executor (events own their data, so they can move
// threads), and takes part in decisions, deferring them to the executor:
//   authenticate:    deny the user name `deny_user` (default "intruder"), deferred;
//   ACL:             deny PUBLISH to topics starting with `forbidden` (default "forbidden/"),
//                    deferred;
//   message.publish: append "+probe" to the payload on "probe/modify"; drop "probe/drop".
namespace rmqtt::test {

std::unique_ptr<broker::plugin> make_probe_plugin();

}  // namespace rmqtt::test
