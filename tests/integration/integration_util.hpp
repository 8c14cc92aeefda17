#pragma once

// Helpers for the integration tests (tests/integration/*.cpp) on top of the shared raw-client
// helpers (raw_helpers.hpp): a started broker with extra listener lines, will messages, Paho
// clients. Every wait here is bounded.

#include <gtest/gtest.h>

#include <future>
#include <string>
#include <utility>
#include <vector>

#include "broker_process.hpp"
#include "mqtt_client.hpp"
#include "process.hpp"
#include "raw_client.hpp"
#include "raw_helpers.hpp"

namespace rmqtt::test::integ {

using namespace std::chrono_literals;

// A started rmqttd with extra listener lines. Session storage stays on (the default product).
inline broker_ptr start_broker(std::vector<std::string> listener = {},
                               std::vector<std::string> main_config = {}) {
    broker_process::options o;
    o.listener = std::move(listener);
    o.main_config = std::move(main_config);
    return start_broker_with(std::move(o));
}

inline proto::will_message make_will(const std::string& topic, const std::string& payload,
                                     int qos = 0, bool retain = false) {
    proto::will_message w;
    w.topic = topic;
    w.payload = payload;
    w.qos_level = static_cast<proto::qos>(qos);
    w.retain = retain;
    return w;
}

inline std::vector<std::string> payloads(const std::vector<mqtt_client::received>& v) {
    std::vector<std::string> out;
    for (const auto& m : v)
        out.push_back(m.payload);
    return out;
}

// Connects several Paho clients at once. Paho C's shared network thread picks up a new socket only
// when its poll wakes (about 2 s per connect when other clients of the process are idle); in
// parallel the connects share that wait.
inline void connect_all(const std::vector<mqtt_client*>& clients) {
    std::vector<std::future<void>> done;
    for (auto* c : clients)
        done.push_back(std::async(std::launch::async, [c] { c->connect(); }));
    for (auto& d : done)
        d.get();
}

inline mqtt_client::connect_options paho_options(bool clean = true, int keep_alive = 60) {
    mqtt_client::connect_options o;
    o.clean = clean;
    o.keep_alive = keep_alive;
    return o;
}

}  // namespace rmqtt::test::integ
