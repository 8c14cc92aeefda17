#include "net/ws_framer.hpp"

#include <wslay/wslay.h>

#include <algorithm>
#include <new>

#include "net/ws_error.hpp"

namespace rmqtt::broker {

namespace {
constexpr std::uint16_t close_unsupported_data = 1003;
}  // namespace

// wslay's callbacks, with access to the framer (user_data).
struct ws_framer_callbacks {
    static ws_framer& self(void* user_data) { return *static_cast<ws_framer*>(user_data); }

    static ssize_t recv(wslay_event_context_ptr ctx, std::uint8_t* buf, std::size_t len, int,
                        void* user_data) {
        auto& f = self(user_data);
        if (f.in_.empty()) {
            wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
            return -1;
        }
        const std::size_t n = std::min(len, f.in_.size());
        std::copy_n(f.in_.begin(), n, buf);
        f.in_ = f.in_.subspan(n);
        return static_cast<ssize_t>(n);
    }

    static ssize_t send(wslay_event_context_ptr, const std::uint8_t* data, std::size_t len, int,
                        void* user_data) {
        auto& f = self(user_data);
        f.out_.insert(f.out_.end(), data, data + len);
        f.out_total_ += len;
        return static_cast<ssize_t>(len);
    }

    static void frame_start(wslay_event_context_ptr ctx,
                            const wslay_event_on_frame_recv_start_arg* arg, void* user_data) {
        auto& f = self(user_data);
        // wslay has checked the sequence: a continuation frame belongs to a data message in
        // progress, and a new data frame comes only when none is.
        if (arg->opcode == WSLAY_TEXT_FRAME || arg->opcode == WSLAY_BINARY_FRAME)
            f.message_opcode_ = arg->opcode;
        const bool data = arg->opcode == WSLAY_CONTINUATION_FRAME ||
                          arg->opcode == WSLAY_TEXT_FRAME || arg->opcode == WSLAY_BINARY_FRAME;
        f.frame_is_binary_data_ = data && f.message_opcode_ == WSLAY_BINARY_FRAME;
        if (data && f.message_opcode_ == WSLAY_TEXT_FRAME && !f.text_frame_) {
            // [MQTT-6.0.0-1]: MQTT travels in binary frames only; close on anything else.
            f.text_frame_ = true;
            if (wslay_event_queue_close(ctx, close_unsupported_data, nullptr, 0) == 0)
                f.close_queued_ = true;
            wslay_event_shutdown_read(ctx);
        }
    }

    static void frame_chunk(wslay_event_context_ptr, const wslay_event_on_frame_recv_chunk_arg* arg,
                            void* user_data) {
        auto& f = self(user_data);
        // [MQTT-6.0.0-2]: the payloads join one byte stream; frame boundaries mean nothing.
        if (f.frame_is_binary_data_ && !f.text_frame_ && f.sink_ && arg->data_length > 0)
            f.sink_->insert(f.sink_->end(), arg->data, arg->data + arg->data_length);
    }
};

ws_framer::ws_framer(std::uint64_t max_frame_size) {
    wslay_event_callbacks callbacks{};
    callbacks.recv_callback = ws_framer_callbacks::recv;
    callbacks.send_callback = ws_framer_callbacks::send;
    callbacks.on_frame_recv_start_callback = ws_framer_callbacks::frame_start;
    callbacks.on_frame_recv_chunk_callback = ws_framer_callbacks::frame_chunk;
    if (wslay_event_context_server_init(&ctx_, &callbacks, this) != 0) throw std::bad_alloc();
    // Data frames stream through frame_chunk instead of being collected into whole messages;
    // the length limit then applies to each frame.
    wslay_event_config_set_no_buffering(ctx_, 1);
    wslay_event_config_set_max_recv_msg_length(ctx_, max_frame_size);
}

ws_framer::~ws_framer() {
    wslay_event_context_free(ctx_);
}

void ws_framer::drain() {
    (void)wslay_event_send(ctx_);  // send() takes every byte, so the queue always empties
}

ws_framer::status ws_framer::feed(std::span<const std::uint8_t> wire,
                                  std::vector<std::uint8_t>& data) {
    if (state_ != status::open) return state_;
    in_ = wire;
    sink_ = &data;
    const int r = wslay_event_recv(ctx_);
    sink_ = nullptr;
    in_ = {};
    if (wslay_event_get_close_received(ctx_) || r != 0 || !wslay_event_get_read_enabled(ctx_) ||
        text_frame_)
        close_queued_ = true;  // wslay queued a close frame (or one was queued before)
    drain();
    if (wslay_event_get_close_received(ctx_)) {
        state_ = status::closed;
    } else if (text_frame_) {
        state_ = status::failed;
        error_ = ws_error::text_frame;
    } else if (r != 0 || !wslay_event_get_read_enabled(ctx_)) {
        state_ = status::failed;
        switch (wslay_event_get_status_code_sent(ctx_)) {
            case WSLAY_CODE_MESSAGE_TOO_BIG:
                error_ = ws_error::frame_too_large;
                break;
            case WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA:
                error_ = ws_error::invalid_payload;
                break;
            default:
                error_ = ws_error::protocol_error;
        }
    }
    return state_;
}

void ws_framer::send_binary(std::span<const std::uint8_t> payload) {
    if (close_queued_ || payload.empty()) return;
    wslay_event_msg msg{WSLAY_BINARY_FRAME, payload.data(), payload.size()};
    if (wslay_event_queue_msg(ctx_, &msg) != 0) return;
    drain();
}

void ws_framer::send_close(std::uint16_t code) {
    if (close_queued_) return;
    close_queued_ = true;
    if (wslay_event_queue_close(ctx_, code, nullptr, 0) == 0) drain();
}

}  // namespace rmqtt::broker
