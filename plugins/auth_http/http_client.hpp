#pragma once

#include <chrono>

#include "auth_http/http_exchange.hpp"

// The blocking HTTP/1.1 call (cpp-httplib, which stays inside http_client.cpp). Runs on the
// plugin's own threads; each thread keeps one connection per server (keep-alive).
namespace rmqtt::plugins::auth_http {

// Sends `r` and waits for the response. `timeout` bounds the connect, and each read and write.
http_response send_http(const http_request& r, std::chrono::milliseconds timeout);

}  // namespace rmqtt::plugins::auth_http
