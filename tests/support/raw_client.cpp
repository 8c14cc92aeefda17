#include "raw_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace rmqtt::test {

raw_client::raw_client(std::uint16_t port, protocol::version v)
    : fd_(connect_loopback(port)), version_(v) {}

int connect_loopback(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::runtime_error("socket failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        const int err = errno;
        ::close(fd);
        throw std::runtime_error(std::string("connect failed: ") + std::strerror(err));
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

bool read_before(int fd, std::chrono::steady_clock::time_point deadline,
                 std::vector<std::uint8_t>& buf, bool& eof) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    std::uint8_t tmp[65536];
    auto n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) {
        eof = true;
        return false;
    }
    buf.insert(buf.end(), tmp, tmp + n);
    return true;
}

raw_client::~raw_client() {
    if (fd_ >= 0) ::close(fd_);
}

void raw_client::send_bytes(const std::vector<std::uint8_t>& bytes) {
    std::size_t off = 0;
    while (off < bytes.size()) {
        auto n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
        if (n <= 0) return;  // the server may already have closed: tests check that separately
        off += static_cast<std::size_t>(n);
    }
}

void raw_client::send(const protocol::packet& p) {
    send_bytes(encode_packet(version_, p));
}

bool raw_client::fill(std::chrono::steady_clock::time_point deadline) {
    if (eof_) return false;
    return read_before(fd_, deadline, buf_, eof_);
}

std::optional<std::vector<std::uint8_t>> raw_client::receive_frame(
    std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        protocol::frame f;
        auto r = protocol::parse_frame(buf_, 0, f);
        if (r.status == protocol::frame_status::complete) {
            std::vector<std::uint8_t> out(buf_.begin(),
                                          buf_.begin() + static_cast<std::ptrdiff_t>(r.consumed));
            buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(r.consumed));
            return out;
        }
        if (r.status != protocol::frame_status::need_more) return std::nullopt;
        if (!fill(deadline)) return std::nullopt;
    }
}

std::optional<protocol::packet> raw_client::receive(std::chrono::milliseconds timeout) {
    auto bytes = receive_frame(timeout);
    if (!bytes) return std::nullopt;
    protocol::frame f;
    protocol::parse_frame(*bytes, 0, f);
    protocol::packet p;
    if (!protocol::decode(version_, f, p)) return std::nullopt;
    return p;
}

bool raw_client::wait_closed(std::chrono::milliseconds timeout, std::vector<std::uint8_t>* before) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!eof_) {
        if (!fill(deadline) && !eof_) break;
    }
    if (before) *before = buf_;
    return eof_;
}

std::optional<protocol::connack> raw_client::connect(const protocol::connect& c) {
    version_ = c.protocol_version;
    send(c);
    auto p = receive();
    if (!p || !std::holds_alternative<protocol::connack>(*p)) return std::nullopt;
    return std::get<protocol::connack>(*p);
}

std::optional<protocol::connack> raw_client::connect(const std::string& client_id, bool clean_start,
                                                     std::uint16_t keep_alive) {
    protocol::connect c;
    c.protocol_version = version_;
    c.client_id = client_id;
    c.clean_start = clean_start;
    c.keep_alive = keep_alive;
    return connect(c);
}

std::vector<std::uint8_t> encode_packet(protocol::version v, const protocol::packet& p) {
    std::vector<std::uint8_t> out;
    protocol::encode(v, p, out);
    return out;
}

std::vector<std::uint8_t> hex(const std::string& text) {
    std::vector<std::uint8_t> out;
    int hi = -1;
    for (char ch : text) {
        int v;
        if (ch >= '0' && ch <= '9')
            v = ch - '0';
        else if (ch >= 'a' && ch <= 'f')
            v = ch - 'a' + 10;
        else if (ch >= 'A' && ch <= 'F')
            v = ch - 'A' + 10;
        else
            continue;
        if (hi < 0) {
            hi = v;
        } else {
            out.push_back(static_cast<std::uint8_t>(hi * 16 + v));
            hi = -1;
        }
    }
    return out;
}

}  // namespace rmqtt::test
