#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rmqtt/protocol/codec.hpp"
#include "rmqtt/protocol/packets.hpp"
#include "tls_client.hpp"
#include "ws_frames.hpp"

namespace rmqtt::test {

// A WebSocket client that controls every byte: the upgrade request, each frame's flags, mask and
// split, and reads the server's frames and the MQTT packets they carry. Every wait is bounded. It
// runs on a plain socket (ws://) or on a tls_client's byte stream (wss://).
class ws_client {
  public:
    explicit ws_client(std::uint16_t port);
    // WebSocket over `tls`, whose TLS handshake the caller has made.
    explicit ws_client(std::unique_ptr<tls_client> tls);
    ~ws_client();
    ws_client(const ws_client&) = delete;
    ws_client& operator=(const ws_client&) = delete;

    // Sends `request` and returns the response head up to the empty line ("" when the server
    // closed or nothing came in time). Bytes after the head stay buffered for the frames.
    std::string upgrade(const std::string& request = ws::upgrade_request(),
                        std::chrono::milliseconds timeout = std::chrono::seconds(5));
    // Everything the server sends until it closes (a refusal's head and body); nullopt when it
    // did not close within `timeout`.
    std::optional<std::string> read_until_closed(
        std::chrono::milliseconds timeout = std::chrono::seconds(5));

    void send_raw(const std::vector<std::uint8_t>& bytes);
    void send_raw(const std::string& text) {
        send_raw(std::vector<std::uint8_t>(text.begin(), text.end()));
    }
    void send_frame(std::uint8_t op, const std::vector<std::uint8_t>& payload,
                    const ws::frame_options& o = {});

    // The next frame from the server (nullopt on timeout or end of stream).
    std::optional<ws::frame> receive_frame(
        std::chrono::milliseconds timeout = std::chrono::seconds(5));

    // MQTT over the frames: a packet in one binary frame; the next packet from the binary
    // payloads, whatever their boundaries (control frames met on the way are kept in control()).
    void send_packet(const protocol::packet& p);
    std::optional<protocol::packet> receive_packet(
        std::chrono::milliseconds timeout = std::chrono::seconds(5));
    template <class T>
    std::optional<T> expect(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
        auto p = receive_packet(timeout);
        if (!p || !std::holds_alternative<T>(*p)) return std::nullopt;
        return std::get<T>(*p);
    }
    // CONNECT in one frame and the CONNACK.
    std::optional<protocol::connack> connect(const std::string& client_id, bool clean_start = true,
                                             std::uint16_t keep_alive = 60);

    // True once the server ends the TCP stream within `timeout`; the control frames that arrived
    // before are kept in control(), data frames are dropped.
    bool wait_closed(std::chrono::milliseconds timeout = std::chrono::seconds(5));
    // The closing handshake the server started: waits for its close frame, answers it, and
    // returns true once the server then ends the TCP stream.
    bool finish_close(std::chrono::milliseconds timeout = std::chrono::seconds(5));

    const std::vector<ws::frame>& control() const noexcept { return control_; }
    // The status code of the server's close frame, if one came (0: a close frame without one).
    std::optional<std::uint16_t> close_code() const;
    // Ends the stream from this side (TCP FIN; over TLS, close_notify) without a close frame.
    void shutdown_write();

    protocol::version version = protocol::version::v3_1_1;

  private:
    bool fill(std::chrono::steady_clock::time_point deadline);
    int fd_ = -1;                      // the plain socket, or
    std::unique_ptr<tls_client> tls_;  // the TLS connection under the frames
    bool eof_ = false;
    std::vector<std::uint8_t> buf_;   // raw bytes from the server
    std::vector<std::uint8_t> mqtt_;  // binary payloads not yet parsed into packets
    std::vector<ws::frame> control_;
};

}  // namespace rmqtt::test
