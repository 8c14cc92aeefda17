#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>
#include <vector>

#include "net/ws_error.hpp"

struct wslay_event_context;

namespace rmqtt::broker {

// The server side of RFC 6455 framing after the upgrade, on wslay's event API, without I/O: bytes
// from the client go in, the payload of binary messages comes out as one byte stream (MQTT
// packets may span frames and frames may hold several packets [MQTT-6.0.0-2]), and the frames to
// send (data, pong, close) collect in output() for the caller to write.
//
// Enforced: client frames are masked, no RSV bits, valid opcode sequences (fragments, control
// frames between fragments), control frames of at most 125 bytes and not fragmented, each frame's
// payload at most `max_frame_size`, and binary data only: a text frame ends the stream
// [MQTT-6.0.0-1]. A violation queues a close frame with the matching status code. Messages are
// never buffered whole: memory does not grow with the frame size.
//
// Not thread-safe; one connection uses it from its executor.
class ws_framer {
  public:
    enum class status {
        open,
        closed,  // the client's close frame was read; the answering close frame is queued
        failed,  // a violation; a close frame is queued and error() says which
    };

    explicit ws_framer(std::uint64_t max_frame_size);
    ~ws_framer();
    ws_framer(const ws_framer&) = delete;
    ws_framer& operator=(const ws_framer&) = delete;

    // Decodes `wire` (all of it is consumed) and appends the binary payload to `data`. Pings are
    // answered. Once the status is not open, further bytes are ignored.
    status feed(std::span<const std::uint8_t> wire, std::vector<std::uint8_t>& data);

    // Queues `payload` as one unfragmented binary frame. Ignored once a close frame is queued.
    void send_binary(std::span<const std::uint8_t> payload);
    // Queues a close frame with `code` (once; later calls and the automatic answers do nothing).
    void send_close(std::uint16_t code = 1000);

    // The encoded frames not yet taken by the caller (swap or clear it after writing).
    std::vector<std::uint8_t>& output() noexcept { return out_; }
    // Bytes ever appended to output(): lets a writer wait until its own frame went out.
    std::uint64_t output_total() const noexcept { return out_total_; }

    status state() const noexcept { return state_; }
    std::error_code error() const noexcept { return error_; }
    bool close_queued() const noexcept { return close_queued_; }

  private:
    friend struct ws_framer_callbacks;
    void drain();

    wslay_event_context* ctx_ = nullptr;
    std::span<const std::uint8_t> in_;  // the bytes of the current feed() not yet read by wslay
    std::vector<std::uint8_t>* sink_ = nullptr;
    std::vector<std::uint8_t> out_;
    std::uint64_t out_total_ = 0;
    std::uint8_t message_opcode_ = 0;  // opcode of the data message in progress
    bool frame_is_binary_data_ = false;
    bool text_frame_ = false;
    bool close_queued_ = false;
    status state_ = status::open;
    std::error_code error_;
};

}  // namespace rmqtt::broker
