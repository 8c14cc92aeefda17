#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "rmqtt/protocol/codec.hpp"
#include "rmqtt/protocol/packets.hpp"

namespace rmqtt::test {

// An MQTT client over TLS for tests that must control the handshake (OpenSSL on a blocking socket
// with bounded waits): bytes in the clear before the ClientHello (a PROXY header), a client
// certificate, TLS 1.2 only (to try renegotiation), and how the server ended the stream. The
// decrypted byte stream is open too, for a protocol layered on it (WebSocket over TLS: ws_client).
class tls_client {
  public:
    struct options {
        std::string ca_file;  // verify the server against it; "" = no verification
        std::string cert_file;
        std::string key_file;
        bool tls12_only = false;
        std::vector<std::uint8_t> before_hello;  // sent in the clear first
    };
    enum class end { open, close_notify, eof_without_close_notify, error };

    tls_client(std::uint16_t port, options o, protocol::version v = protocol::version::v3_1_1);
    ~tls_client();
    tls_client(const tls_client&) = delete;
    tls_client& operator=(const tls_client&) = delete;

    protocol::version version() const noexcept { return version_; }
    void set_version(protocol::version v) noexcept { version_ = v; }

    // The TLS handshake; false with the reason in `error` when it fails.
    bool handshake(std::string* error = nullptr);
    void send(const protocol::packet& p);
    // Bytes in the TLS stream, and what the server sent (at least one byte appended to `out`;
    // false on timeout or once the stream ended, see state()).
    void send_bytes(std::span<const std::uint8_t> bytes);
    bool read_bytes(std::vector<std::uint8_t>& out, std::chrono::steady_clock::time_point deadline);
    // Sends close_notify: the end of this side's stream, as a TCP FIN is for plain sockets.
    void send_close_notify();
    end state() const noexcept { return end_; }
    // The next whole packet; nullopt on timeout, close or error.
    std::optional<protocol::packet> receive(
        std::chrono::milliseconds timeout = std::chrono::seconds(5));
    std::optional<protocol::connack> connect(const std::string& client_id);
    // Waits (at most `timeout`) for the server to end the stream, and says how it did.
    end wait_closed(std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // TLS 1.2: asks for a renegotiation; true when a new handshake completed, else false with
    // OpenSSL's reason in `error`.
    bool renegotiate(std::string* error);

  private:
    // Reads what the server sent into buf_; false on timeout, close (end_ set) or error.
    bool fill(std::chrono::steady_clock::time_point deadline);

    int fd_ = -1;
    SSL_CTX* ctx_ = nullptr;
    SSL* ssl_ = nullptr;
    protocol::version version_;
    std::vector<std::uint8_t> buf_;
    end end_ = end::open;
};

// OpenSSL's queued errors as text (clears the queue).
std::string openssl_error_text();

}  // namespace rmqtt::test
