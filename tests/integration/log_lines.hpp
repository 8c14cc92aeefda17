#pragma once

// Reading rmqttd's text log in the integration tests.

#include <chrono>
#include <sstream>
#include <string>

#include "broker_process.hpp"
#include "raw_helpers.hpp"

namespace rmqtt::test::integ {

// True once rmqttd's log has a "connected" line for `client_id` whose peer address (the text
// between the thread id's "] " and " (<client id>): ") starts with `peer_prefix`; polled like
// eventually(). Needs log.level debug.
inline bool log_shows_connected(const broker_process& b, const std::string& client_id,
                                const std::string& peer_prefix,
                                std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const std::string tail = " (" + client_id + "): connected";
    return eventually(
        [&] {
            std::istringstream in(b.log());
            for (std::string line; std::getline(in, line);) {
                const auto at = line.find(tail);
                if (at == std::string::npos) continue;
                const auto start = line.rfind("] ", at);
                if (start != std::string::npos &&
                    line.compare(start + 2, peer_prefix.size(), peer_prefix) == 0)
                    return true;
            }
            return false;
        },
        timeout);
}

}  // namespace rmqtt::test::integ
