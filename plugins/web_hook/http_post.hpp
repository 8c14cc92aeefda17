#pragma once

#include <chrono>
#include <string>

#include "web_hook/web_hook_config.hpp"

// The blocking POST of one body (cpp-httplib, which stays inside http_post.cpp: it is slow to
// compile). Runs on the plugin's sender threads; each keeps one connection per server.
namespace rmqtt::plugins::web_hook {

struct post_result {
    int status = 0;     // the HTTP status; 0 when there was no response
    std::string error;  // why there was no response
};

// POSTs `body` as application/json. `timeout` bounds the connect, and each read and write.
post_result post_json(const target& t, const std::string& body, std::chrono::milliseconds timeout);

}  // namespace rmqtt::plugins::web_hook
