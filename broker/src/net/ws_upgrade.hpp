#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "net/ws_error.hpp"

// The HTTP side of MQTT over WebSocket: reading the client's upgrade request (RFC 6455 section
// 4.2.1, parsed with http_parser) and answering it (section 4.2.2; MQTT 5.0 / 3.1.1 section 6).
// No I/O here: ws_transport feeds the bytes and writes the answer.
namespace rmqtt::broker {

// One HTTP request as read from the client.
struct ws_request {
    std::string method;  // "GET"
    unsigned http_major = 0;
    unsigned http_minor = 0;
    std::string target;  // the request target as sent ("/mqtt?x=1")
    // Header fields in order; names lower-cased, values as sent (leading blanks removed).
    std::vector<std::pair<std::string, std::string>> headers;
    bool has_body = false;  // Content-Length > 0 or Transfer-Encoding

    // Every value of the header `name` (lower case), in order.
    std::vector<std::string_view> values(std::string_view name) const;
};

// Reads one upgrade request from the bytes that arrive, in any split. The request line and
// headers may take at most `max_size` bytes. The first bytes of the WebSocket stream may arrive in
// the same read as the end of the headers: feed() says where the request ended.
class ws_upgrade_parser {
  public:
    static constexpr std::size_t default_max_size = 8 * 1024;
    enum class status { need_more, complete, failed };

    explicit ws_upgrade_parser(std::size_t max_size = default_max_size);
    ~ws_upgrade_parser();
    ws_upgrade_parser(const ws_upgrade_parser&) = delete;
    ws_upgrade_parser& operator=(const ws_upgrade_parser&) = delete;

    // Feeds the next bytes. On `complete`, the first `consumed` bytes of `data` finished the
    // request and the rest belongs to the WebSocket stream; on `failed`, error() says why. After
    // either, further calls return the same status and consume nothing.
    status feed(std::span<const std::uint8_t> data, std::size_t& consumed);

    const ws_request& request() const noexcept;
    ws_error error() const noexcept;

  private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// The broker's answer to an upgrade request: a complete HTTP response to send, and either the
// chosen subprotocol (101 Switching Protocols) or why the request was refused.
struct ws_upgrade_answer {
    std::error_code error;    // empty when the upgrade is accepted
    std::string subprotocol;  // "mqtt" or "mqttv3.1" when accepted
    std::string response;

    bool accepted() const noexcept { return !error; }
};

// Checks `r` strictly: GET, HTTP/1.1 or later, one Host, the path equal to `ws_path` (any path
// when it is empty; the query is ignored), Upgrade: websocket, Connection: upgrade,
// Sec-WebSocket-Version 13, one Sec-WebSocket-Key of 16 bytes in base64, no body, and the
// subprotocol "mqtt" offered [MQTT-6.0.0-3] (or "mqttv3.1", which MQTT 3.1 clients offer). The
// 101 answer selects "mqtt" when offered [MQTT-6.0.0-4].
ws_upgrade_answer answer_upgrade(const ws_request& r, std::string_view ws_path);

// The refusal for `e` (status code and a one-line text body; 426 answers say what to upgrade to).
ws_upgrade_answer refuse_upgrade(ws_error e);

// Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + RFC 6455's GUID)).
std::string ws_accept_key(std::string_view key);

}  // namespace rmqtt::broker
