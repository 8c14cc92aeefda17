#pragma once

#include <asio/ip/tcp.hpp>
#include <asio/ssl/context.hpp>
#include <asio/ssl/stream.hpp>

#include <memory>
#include <optional>
#include <string>

#include "net/proxy_reader.hpp"
#include "net/transport.hpp"
#include "rmqtt/broker/config.hpp"

namespace rmqtt::broker {

// MQTT over TLS (OpenSSL through asio::ssl::stream over the TCP socket). handshake() reads the
// PROXY header first when the listener expects one, then runs the TLS server handshake; the
// client certificate (verified when cross_certificate = true) is read after it. close() sends
// close_notify and waits for the peer's (the connection bounds that wait).
class tls_transport final : public transport {
  public:
    tls_transport(tcp_socket socket, std::shared_ptr<asio::ssl::context> ctx, proxy_settings proxy);
    asio::awaitable<void> handshake(std::error_code& ec) override;
    asio::awaitable<std::size_t> read_some(asio::mutable_buffer buf, std::error_code& ec) override;
    asio::awaitable<void> write_all(asio::const_buffer buf, std::error_code& ec) override;
    asio::awaitable<void> close(std::error_code& ec) override;
    void abort() noexcept override;
    std::string remote_address() const override { return remote_; }
    std::optional<std::string> peer_certificate() const override { return certificate_; }
    std::optional<std::string> peer_common_name() const override { return common_name_; }
    const char* kind() const noexcept override { return "tls"; }

  private:
    void read_peer_certificate();

    std::shared_ptr<asio::ssl::context> ctx_;  // outlives stream_ (declared first)
    asio::ssl::stream<tcp_socket> stream_;
    proxy_settings proxy_;
    std::string remote_;
    bool established_ = false;  // the TLS handshake completed
    std::optional<std::string> certificate_;
    std::optional<std::string> common_name_;
};

// One TLS context per listener, made (and its files checked) when the listener is made.
class tls_transport_factory final : public transport_factory {
  public:
    // Throws std::runtime_error naming the file (make_tls_context).
    explicit tls_transport_factory(const listener_config& cfg);
    std::unique_ptr<transport> make(accepted_socket socket) override;

  private:
    std::shared_ptr<asio::ssl::context> ctx_;
    proxy_settings proxy_;
};

}  // namespace rmqtt::broker
