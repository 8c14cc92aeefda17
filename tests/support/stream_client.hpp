#pragma once

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "raw_client.hpp"
#include "rmqtt/protocol/codec.hpp"
#include "rmqtt/protocol/packets.hpp"
#include "tls_client.hpp"
#include "ws_client.hpp"

namespace rmqtt::test {

// The broker's listener kinds, as they are named in the configuration ([listener.<kind>.*]).
enum class transport_kind { tcp, tls, ws, wss };
std::string_view to_string(transport_kind k) noexcept;
std::ostream& operator<<(std::ostream& os, transport_kind k);

// One MQTT client over any listener kind, for tests that check the same thing on every transport:
// raw_client (tcp), tls_client (tls), ws_client over a plain socket (ws) or over a tls_client
// (wss). Every byte is the test's: raw bytes go out as they are (over WebSocket in one binary
// frame), packets are read whatever their framing. Every wait is bounded.
class stream_client {
  public:
    struct options {
        transport_kind kind = transport_kind::tcp;
        std::uint16_t port = 0;
        tls_client::options tls;  // tls, wss
        std::string ws_path = "/mqtt";
        protocol::version version = protocol::version::v3_1_1;
    };

    // Opens the TCP connection (throws when it is refused); nothing is sent yet.
    explicit stream_client(const options& o);
    ~stream_client();
    stream_client(const stream_client&) = delete;
    stream_client& operator=(const stream_client&) = delete;

    transport_kind kind() const noexcept { return kind_; }
    protocol::version version() const noexcept;
    void set_version(protocol::version v) noexcept;

    // The transport's own handshake: TLS, then the WebSocket upgrade (nothing for tcp). False,
    // with the reason in `error`, when the server refused or closed.
    bool open(std::string* error = nullptr);

    void send_bytes(const std::vector<std::uint8_t>& bytes);
    void send(const protocol::packet& p);
    // The next whole packet; nullopt on timeout, close or a packet that does not decode.
    std::optional<protocol::packet> receive(
        std::chrono::milliseconds timeout = std::chrono::seconds(5));
    // CONNECT (its version becomes the client's) and the CONNACK, if one came.
    std::optional<protocol::connack> connect(const protocol::connect& c);

    // True once the server ended the connection within `timeout`. The packets that arrived
    // before go to `before`, if given. Over WebSocket the server's close frame is answered, as
    // a client does, so the server ends the TCP stream at once.
    bool wait_closed(std::chrono::milliseconds timeout = std::chrono::seconds(5),
                     std::vector<protocol::packet>* before = nullptr);

  private:
    transport_kind kind_;
    std::string ws_path_;
    std::variant<std::unique_ptr<raw_client>, std::unique_ptr<tls_client>,
                 std::unique_ptr<ws_client>>
        client_;
};

}  // namespace rmqtt::test
