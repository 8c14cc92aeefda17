#include "net/tls_transport.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <cstring>

#include "config/logging.hpp"
#include "net/peer_address.hpp"
#include "net/tls_context.hpp"
#include "rmqtt/protocol/utf8.hpp"

namespace rmqtt::broker {

namespace {

struct x509_free {
    void operator()(X509* x) const { X509_free(x); }
};
struct bio_free {
    void operator()(BIO* b) const { BIO_free(b); }
};

std::optional<std::string> to_pem(X509* cert) {
    std::unique_ptr<BIO, bio_free> bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) return std::nullopt;
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    if (n <= 0 || !data) return std::nullopt;
    return std::string(data, static_cast<std::size_t>(n));
}

// The subject's (first) Common Name as UTF-8; none when it is missing, or cannot be an MQTT
// User Name (an embedded NUL, ill-formed UTF-8 [MQTT-1.5.4-1/2]).
std::optional<std::string> common_name(X509* cert) {
    X509_NAME* subject = X509_get_subject_name(cert);
    const int at = subject ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
    if (at < 0) return std::nullopt;
    ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
    unsigned char* utf8 = nullptr;
    const int n = value ? ASN1_STRING_to_UTF8(&utf8, value) : -1;
    if (n < 0 || !utf8) return std::nullopt;
    std::string cn(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(n));
    OPENSSL_free(utf8);
    if (cn.find('\0') != std::string::npos || !protocol::is_valid_utf8(cn)) return std::nullopt;
    return cn;
}

}  // namespace

tls_transport::tls_transport(tcp_socket socket, std::shared_ptr<asio::ssl::context> ctx,
                             proxy_settings proxy)
    : ctx_(std::move(ctx)),
      stream_(std::move(socket), *ctx_),
      proxy_(proxy),
      remote_(peer_address(stream_.next_layer())) {}

asio::awaitable<void> tls_transport::handshake(std::error_code& ec) {
    ec.clear();
    if (proxy_.enabled) {
        // Below TLS: the header comes from the proxy, before the client's ClientHello.
        proxy_header h;
        co_await read_proxy_header(stream_.next_layer(), proxy_.timeout, h, ec);
        if (ec) co_return;
        remote_ = client_address(stream_.next_layer(), h);
    }
    co_await stream_.async_handshake(asio::ssl::stream_base::server,
                                     asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
        const long verify = SSL_get_verify_result(stream_.native_handle());
        if (verify != X509_V_OK) {
            log_with({remote_, {}}, spdlog::level::info, "client certificate refused: {}",
                     X509_verify_cert_error_string(verify));
        } else if (ec.category() == asio::error::get_ssl_category() &&
                   ERR_GET_REASON(static_cast<unsigned long>(ec.value())) ==
                       SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
            log_with({remote_, {}}, spdlog::level::info,
                     "client sent no certificate (cross_certificate = true)");
        }
        co_return;
    }
    established_ = true;
    read_peer_certificate();
}

void tls_transport::read_peer_certificate() {
    // With verification on, a certificate that is here passed it: the handshake would have
    // failed otherwise.
    std::unique_ptr<X509, x509_free> cert(SSL_get1_peer_certificate(stream_.native_handle()));
    if (!cert || SSL_get_verify_result(stream_.native_handle()) != X509_V_OK) return;
    certificate_ = to_pem(cert.get());
    common_name_ = common_name(cert.get());
}

asio::awaitable<std::size_t> tls_transport::read_some(asio::mutable_buffer buf,
                                                      std::error_code& ec) {
    co_return co_await stream_.async_read_some(buf, asio::redirect_error(asio::use_awaitable, ec));
}

namespace {
// asio's TLS engine hands the socket one record (at most 16 KB) per write. With Nagle's algorithm
// on (nodelay = false, the default) every record after the first then waits for the peer's
// delayed ACK, about 40 ms each: a 64 KB message took 120 ms. Corking the socket while a large
// buffer is written sends its records as full segments; uncorking pushes out the rest at once.
constexpr std::size_t cork_above = 16 * 1024;

void set_cork(tcp_socket& socket, bool on) noexcept {
    const int value = on ? 1 : 0;
    // Best effort: without TCP_CORK the data still goes out, only later.
    (void)::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_CORK, &value, sizeof value);
}
}  // namespace

asio::awaitable<void> tls_transport::write_all(asio::const_buffer buf, std::error_code& ec) {
    const bool cork = buf.size() > cork_above;
    if (cork) set_cork(stream_.next_layer(), true);
    co_await asio::async_write(stream_, buf, asio::redirect_error(asio::use_awaitable, ec));
    if (cork) set_cork(stream_.next_layer(), false);
}

asio::awaitable<void> tls_transport::close(std::error_code& ec) {
    ec.clear();
    if (established_) {
        // close_notify, then the peer's (or its end of stream); the connection's close timer
        // aborts a peer that answers neither.
        co_await stream_.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
    }
    abort();
}

void tls_transport::abort() noexcept {
    std::error_code ignored;
    auto& socket = stream_.next_layer();
    socket.shutdown(tcp_socket::shutdown_both, ignored);
    socket.close(ignored);
}

tls_transport_factory::tls_transport_factory(const listener_config& cfg)
    : ctx_(make_tls_context(cfg)), proxy_{cfg.proxy_protocol, cfg.proxy_protocol_timeout} {}

std::unique_ptr<transport> tls_transport_factory::make(accepted_socket socket) {
    return std::make_unique<tls_transport>(std::move(socket).to_socket(), ctx_, proxy_);
}

}  // namespace rmqtt::broker
