#include "tls_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "raw_client.hpp"

namespace rmqtt::test {

std::string openssl_error_text() {
    std::string out;
    while (const unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out;
}

tls_client::tls_client(std::uint16_t port, options o, protocol::version v) : version_(v) {
    // OpenSSL writes with write(2): a server that closed first must not kill the test.
    ::signal(SIGPIPE, SIG_IGN);
    fd_ = connect_loopback(port);
    // Every blocking call ends within 10 s, so no wait is unbounded.
    timeval tv{10, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (!o.before_hello.empty()) {
        if (::send(fd_, o.before_hello.data(), o.before_hello.size(), MSG_NOSIGNAL) !=
            static_cast<ssize_t>(o.before_hello.size()))
            throw std::runtime_error("sending the bytes before the ClientHello failed");
    }
    ctx_ = SSL_CTX_new(TLS_client_method());
    if (!ctx_) throw std::runtime_error("SSL_CTX_new: " + openssl_error_text());
    SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
    // A record without application data (a TLS 1.3 session ticket) ends SSL_read with WANT_READ
    // instead of a blocking read for the next record: waits stay bounded by their deadline.
    SSL_CTX_clear_mode(ctx_, SSL_MODE_AUTO_RETRY);
    if (o.tls12_only) SSL_CTX_set_max_proto_version(ctx_, TLS1_2_VERSION);
    if (!o.ca_file.empty()) {
        if (SSL_CTX_load_verify_locations(ctx_, o.ca_file.c_str(), nullptr) != 1)
            throw std::runtime_error("loading " + o.ca_file + ": " + openssl_error_text());
        SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
    }
    if (!o.cert_file.empty()) {
        if (SSL_CTX_use_certificate_chain_file(ctx_, o.cert_file.c_str()) != 1 ||
            SSL_CTX_use_PrivateKey_file(ctx_, o.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
            throw std::runtime_error("loading " + o.cert_file + ": " + openssl_error_text());
    }
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, "localhost");
}

tls_client::~tls_client() {
    if (ssl_) SSL_free(ssl_);
    if (ctx_) SSL_CTX_free(ctx_);
    if (fd_ >= 0) ::close(fd_);
}

bool tls_client::handshake(std::string* error) {
    ERR_clear_error();
    if (SSL_connect(ssl_) == 1) return true;
    if (error) *error = openssl_error_text();
    end_ = end::error;
    return false;
}

void tls_client::send(const protocol::packet& p) {
    send_bytes(encode_packet(version_, p));
}

void tls_client::send_bytes(std::span<const std::uint8_t> bytes) {
    ERR_clear_error();
    // Blocking SSL_write writes all of it or fails; a refused write is seen by the reads that
    // follow.
    if (!bytes.empty()) (void)SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size()));
}

bool tls_client::read_bytes(std::vector<std::uint8_t>& out,
                            std::chrono::steady_clock::time_point deadline) {
    while (buf_.empty()) {
        if (!fill(deadline)) return false;
    }
    out.insert(out.end(), buf_.begin(), buf_.end());
    buf_.clear();
    return true;
}

void tls_client::send_close_notify() {
    ERR_clear_error();
    (void)SSL_shutdown(ssl_);
}

bool tls_client::fill(std::chrono::steady_clock::time_point deadline) {
    if (end_ != end::open) return false;
    if (SSL_pending(ssl_) == 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    }
    std::uint8_t tmp[16384];
    ERR_clear_error();
    const int n = SSL_read(ssl_, tmp, sizeof tmp);
    if (n > 0) {
        buf_.insert(buf_.end(), tmp, tmp + n);
        return true;
    }
    switch (SSL_get_error(ssl_, n)) {
        case SSL_ERROR_WANT_READ:  // a record without application data (a session ticket)
        case SSL_ERROR_WANT_WRITE:
            return true;
        case SSL_ERROR_ZERO_RETURN:
            end_ = end::close_notify;
            return false;
        case SSL_ERROR_SYSCALL:
            // OpenSSL 3 reports an end of stream without close_notify as SSL_ERROR_SSL with
            // "unexpected eof"; older versions as SSL_ERROR_SYSCALL with no errno.
            end_ = end::eof_without_close_notify;
            return false;
        default: {
            const auto reason = ERR_GET_REASON(ERR_peek_error());
            end_ = reason == SSL_R_UNEXPECTED_EOF_WHILE_READING ? end::eof_without_close_notify
                                                                : end::error;
            ERR_clear_error();
            return false;
        }
    }
}

std::optional<protocol::packet> tls_client::receive(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        protocol::frame f;
        auto r = protocol::parse_frame(buf_, 0, f);
        if (r.status == protocol::frame_status::complete) {
            protocol::packet p;
            const bool ok = static_cast<bool>(protocol::decode(version_, f, p));
            buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(r.consumed));
            if (!ok) return std::nullopt;
            return p;
        }
        if (r.status != protocol::frame_status::need_more) return std::nullopt;
        if (!fill(deadline)) return std::nullopt;
    }
}

std::optional<protocol::connack> tls_client::connect(const std::string& client_id) {
    protocol::connect c;
    c.protocol_version = version_;
    c.client_id = client_id;
    c.clean_start = true;
    c.keep_alive = 60;
    send(c);
    auto p = receive();
    if (!p || !std::holds_alternative<protocol::connack>(*p)) return std::nullopt;
    return std::get<protocol::connack>(*p);
}

tls_client::end tls_client::wait_closed(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (end_ == end::open && std::chrono::steady_clock::now() < deadline)
        fill(deadline);
    return end_;
}

bool tls_client::renegotiate(std::string* error) {
    ERR_clear_error();
    if (SSL_renegotiate(ssl_) != 1) {
        if (error) *error = "SSL_renegotiate: " + openssl_error_text();
        return false;
    }
    if (SSL_do_handshake(ssl_) == 1) return true;
    if (error) *error = openssl_error_text();
    return false;
}

}  // namespace rmqtt::test
