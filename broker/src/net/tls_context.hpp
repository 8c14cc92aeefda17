#pragma once

#include <asio/ssl/context.hpp>

#include <memory>

#include "rmqtt/broker/config.hpp"

namespace rmqtt::broker {

// The TLS server context of one tls (or wss) listener, built once when the listener is made:
// TLS 1.2 and 1.3 only, no renegotiation, no compression, OpenSSL's default cipher suites;
// `cert` (PEM chain, leaf first) and `key` (PEM, unencrypted); with cross_certificate = true a
// client certificate is required and verified against client_ca_certs (or, without it, against
// the certificates in `cert`, as RMQTT does). Throws std::runtime_error naming the listener, the
// key and the file when a file cannot be read, holds nothing usable, or the key does not match
// the certificate. Shared by the listener's transports (a connection may outlive its listener).
std::shared_ptr<asio::ssl::context> make_tls_context(const listener_config& cfg);

}  // namespace rmqtt::broker
