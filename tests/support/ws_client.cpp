#include "ws_client.hpp"

#include "raw_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace rmqtt::test {

ws_client::ws_client(std::uint16_t port) : fd_(connect_loopback(port)) {}

ws_client::ws_client(std::unique_ptr<tls_client> tls) : tls_(std::move(tls)) {}

ws_client::~ws_client() {
    if (fd_ >= 0) ::close(fd_);
}

bool ws_client::fill(std::chrono::steady_clock::time_point deadline) {
    if (eof_) return false;
    if (tls_) {
        if (tls_->read_bytes(buf_, deadline)) return true;
        eof_ = tls_->state() != tls_client::end::open;
        return false;
    }
    return read_before(fd_, deadline, buf_, eof_);
}

void ws_client::send_raw(const std::vector<std::uint8_t>& bytes) {
    if (tls_) {
        tls_->send_bytes(bytes);
        return;
    }
    std::size_t off = 0;
    while (off < bytes.size()) {
        auto n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
        if (n <= 0) return;  // the server may have closed: tests check that separately
        off += static_cast<std::size_t>(n);
    }
}

void ws_client::send_frame(std::uint8_t op, const std::vector<std::uint8_t>& payload,
                           const ws::frame_options& o) {
    send_raw(ws::client_frame(op, payload, o));
}

std::string ws_client::upgrade(const std::string& request, std::chrono::milliseconds timeout) {
    send_raw(request);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        const std::string_view have(reinterpret_cast<const char*>(buf_.data()), buf_.size());
        const auto end = have.find("\r\n\r\n");
        if (end != std::string_view::npos) {
            std::string head(have.substr(0, end + 4));
            buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(end + 4));
            return head;
        }
        if (!fill(deadline)) return {};
    }
}

std::optional<std::string> ws_client::read_until_closed(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (fill(deadline)) {
    }
    if (!eof_) return std::nullopt;
    std::string all(buf_.begin(), buf_.end());
    buf_.clear();
    return all;
}

std::optional<ws::frame> ws_client::receive_frame(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        ws::frame f;
        const auto n = ws::parse_frame(buf_, f);
        if (n > 0) {
            buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(n));
            return f;
        }
        if (!fill(deadline)) return std::nullopt;
    }
}

void ws_client::send_packet(const protocol::packet& p) {
    std::vector<std::uint8_t> bytes;
    protocol::encode(version, p, bytes);
    send_frame(ws::binary, bytes);
}

std::optional<protocol::packet> ws_client::receive_packet(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        protocol::frame f;
        const auto r = protocol::parse_frame(mqtt_, 0, f);
        if (r.status == protocol::frame_status::complete) {
            protocol::packet p;
            const bool ok = static_cast<bool>(protocol::decode(version, f, p));
            mqtt_.erase(mqtt_.begin(), mqtt_.begin() + static_cast<std::ptrdiff_t>(r.consumed));
            if (!ok) return std::nullopt;
            return p;
        }
        if (r.status != protocol::frame_status::need_more) return std::nullopt;
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return std::nullopt;
        auto fr = receive_frame(left);
        if (!fr) return std::nullopt;
        if (fr->opcode == ws::binary || fr->opcode == ws::continuation) {
            mqtt_.insert(mqtt_.end(), fr->payload.begin(), fr->payload.end());
        } else {
            control_.push_back(*fr);
            if (fr->opcode == ws::close) return std::nullopt;
        }
    }
}

std::optional<protocol::connack> ws_client::connect(const std::string& client_id, bool clean_start,
                                                    std::uint16_t keep_alive) {
    protocol::connect c;
    c.protocol_version = version;
    c.client_id = client_id;
    c.clean_start = clean_start;
    c.keep_alive = keep_alive;
    send_packet(c);
    return expect<protocol::connack>();
}

bool ws_client::wait_closed(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!eof_) {
        if (!fill(deadline) && !eof_) break;
    }
    for (;;) {
        ws::frame f;
        const auto n = ws::parse_frame(buf_, f);
        if (n == 0) break;
        buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(n));
        if (f.opcode >= ws::close) control_.push_back(f);
    }
    return eof_;
}

bool ws_client::finish_close(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!close_code()) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        auto f = receive_frame(left);
        if (!f) return false;
        if (f->opcode >= ws::close) control_.push_back(*f);
    }
    send_frame(ws::close, ws::close_payload(*close_code() == 0 ? 1000 : *close_code()));
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    return wait_closed(std::max(left, std::chrono::milliseconds(1)));
}

std::optional<std::uint16_t> ws_client::close_code() const {
    for (const auto& f : control_)
        if (f.opcode == ws::close) return f.close_code();
    return std::nullopt;
}

void ws_client::shutdown_write() {
    if (tls_)
        tls_->send_close_notify();
    else
        ::shutdown(fd_, SHUT_WR);
}

}  // namespace rmqtt::test
