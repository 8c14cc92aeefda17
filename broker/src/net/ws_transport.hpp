#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "net/transport.hpp"
#include "net/ws_framer.hpp"
#include "rmqtt/broker/config.hpp"

namespace rmqtt::broker {

// MQTT over WebSocket (RFC 6455; MQTT 5.0 and 3.1.1 section 6) on top of a LOWER transport: ws is
// ws over tcp, wss is ws over tls. The lower transport's handshake runs first, then the HTTP
// upgrade (ws_upgrade.hpp), then binary frames carry the MQTT byte stream (ws_framer.hpp).
//
// Used by one connection on its executor: read_some (the reader), write_all (the writer) and
// close (the writer, when it is done) may be pending at the same time. Frames the reader must
// answer (pong, the close reply) and the writer's data frames share one ordered output, written
// by one of them at a time. No new read_some may start after close().
class ws_transport final : public transport {
  public:
    struct settings {
        std::string path = "/mqtt";  // ws_path; "" accepts any path
        std::size_t max_request_size = 8 * 1024;
        std::uint64_t max_frame_size = 1024 * 1024;
    };

    ws_transport(std::unique_ptr<transport> lower, asio::any_io_executor ex, settings s);
    ~ws_transport() override;

    // The lower handshake, then the upgrade request within max_request_size bytes; a refused
    // request is answered (400, 404, 426, ...) and fails with a ws_error.
    asio::awaitable<void> handshake(std::error_code& ec) override;
    // MQTT bytes from binary frames. End of stream (asio::error::eof) once the client's close
    // frame was read and answered; a protocol violation sends a close frame and fails with a
    // ws_error.
    asio::awaitable<std::size_t> read_some(asio::mutable_buffer buf, std::error_code& ec) override;
    // `buf` in binary frames, one per MQTT packet it holds; completes when the frames are handed
    // to the lower transport (in one write).
    asio::awaitable<void> write_all(asio::const_buffer buf, std::error_code& ec) override;
    // Sends a close frame (1000), waits for the client's (reading it itself when no read_some is
    // pending), then closes the lower transport. The caller bounds the time.
    asio::awaitable<void> close(std::error_code& ec) override;
    void abort() noexcept override;

    std::string remote_address() const override { return lower_->remote_address(); }
    std::optional<std::string> peer_certificate() const override {
        return lower_->peer_certificate();
    }
    std::optional<std::string> peer_common_name() const override {
        return lower_->peer_common_name();
    }
    const char* kind() const noexcept override { return secure_ ? "wss" : "ws"; }

    // The subprotocol chosen in the handshake ("mqtt" or "mqttv3.1").
    const std::string& subprotocol() const noexcept { return subprotocol_; }

  private:
    // Writes the framer's output until everything queued before the call is written.
    asio::awaitable<void> flush(std::error_code& ec);
    // One read from the lower transport through the framer (decoded bytes go to plain_).
    asio::awaitable<ws_framer::status> read_frames(std::error_code& ec);
    asio::awaitable<void> wait(asio::steady_timer& signal);

    std::unique_ptr<transport> lower_;
    settings settings_;
    bool secure_;
    ws_framer framer_;
    std::string subprotocol_;
    bool upgraded_ = false;
    bool closing_ = false;
    bool aborted_ = false;

    std::vector<std::uint8_t> read_buf_;
    std::vector<std::uint8_t> early_;  // WebSocket bytes that came with the upgrade request
    std::vector<std::uint8_t> plain_;  // decoded MQTT bytes not yet returned
    std::size_t plain_off_ = 0;
    bool reading_ = false;     // a lower read is pending (read_some's or close()'s)
    std::error_code read_ec_;  // the stream's end or failure, reported by every later read

    std::vector<std::uint8_t> writing_;
    std::uint64_t written_ = 0;  // bytes of framer output handed to the lower transport
    bool write_pending_ = false;
    std::error_code write_ec_;

    // Wake the waiters when a lower write / read completes (cancel(); they re-check).
    asio::steady_timer write_done_;
    asio::steady_timer read_done_;
};

// Wraps the transports of `lower` (tcp for ws, tls for wss) in WebSocket for listener `cfg`:
// ws_path, and a frame limit of max_packet_size (at least 1 MB, so several packets may share a
// frame).
std::unique_ptr<transport_factory> make_ws_transport_factory(
    const listener_config& cfg, std::unique_ptr<transport_factory> lower);

}  // namespace rmqtt::broker
