#include "net/tls_context.hpp"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string_view>

namespace rmqtt::broker {

namespace {

// What OpenSSL queued on this thread for the last failure (and clears the queue).
std::string openssl_errors() {
    std::string out;
    while (const unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty()) out += "; ";
        out += buf;
    }
    return out.empty() ? "no detail from OpenSSL" : out;
}

[[noreturn]] void fail(const listener_config& cfg, std::string_view key, const std::string& path,
                       std::string_view problem) {
    throw std::runtime_error(
        fmt::format("listener.{}: {} file \"{}\" {}", cfg.id(), key, path, problem));
}

// A file the server can open for reading, else the system's reason.
void check_readable(const listener_config& cfg, std::string_view key, const std::string& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) fail(cfg, key, path, "is a directory");
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) fail(cfg, key, path, fmt::format("cannot be read: {}", std::strerror(errno)));
    std::fclose(f);
}

// A server has nobody to type a passphrase: an encrypted key fails instead of prompting.
int no_passphrase(char*, int, int, void*) {
    return 0;
}

struct bio_free {
    void operator()(BIO* b) const { BIO_free(b); }
};
struct pkey_free {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

void load_key(SSL_CTX* c, const listener_config& cfg) {
    check_readable(cfg, "key", cfg.key);
    std::unique_ptr<BIO, bio_free> bio(BIO_new_file(cfg.key.c_str(), "r"));
    if (!bio) fail(cfg, "key", cfg.key, fmt::format("cannot be read ({})", openssl_errors()));
    std::unique_ptr<EVP_PKEY, pkey_free> key(
        PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
    if (!key) {
        fail(cfg, "key", cfg.key,
             fmt::format("holds no usable PEM private key (an encrypted key is not supported) ({})",
                         openssl_errors()));
    }
    if (X509_check_private_key(SSL_CTX_get0_certificate(c), key.get()) != 1) {
        ERR_clear_error();
        fail(cfg, "key", cfg.key,
             fmt::format("does not match the certificate in cert file \"{}\"", cfg.cert));
    }
    if (SSL_CTX_use_PrivateKey(c, key.get()) != 1)
        fail(cfg, "key", cfg.key, fmt::format("cannot be used ({})", openssl_errors()));
}

void load_client_cas(SSL_CTX* c, const listener_config& cfg) {
    const bool own = !cfg.client_ca_certs.empty();
    const std::string_view key = own ? "client_ca_certs" : "cert";
    const std::string& path = own ? cfg.client_ca_certs : cfg.cert;
    check_readable(cfg, key, path);
    if (SSL_CTX_load_verify_locations(c, path.c_str(), nullptr) != 1) {
        fail(cfg, key, path,
             fmt::format("holds no usable PEM CA certificate ({})", openssl_errors()));
    }
    // The CA names the server sends in its CertificateRequest, so a client can pick a
    // certificate these CAs signed.
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(path.c_str())) {
        SSL_CTX_set_client_CA_list(c, names);
    } else {
        fail(cfg, key, path,
             fmt::format("holds no usable PEM CA certificate ({})", openssl_errors()));
    }
    SSL_CTX_set_verify(c, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
}

}  // namespace

std::shared_ptr<asio::ssl::context> make_tls_context(const listener_config& cfg) {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    SSL_CTX* c = ctx->native_handle();
    ERR_clear_error();
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(c, TLS1_3_VERSION);
    // Renegotiation (TLS 1.2) is refused from either side; it has been a denial of service and
    // injection vector and MQTT has no use for it.
    SSL_CTX_set_options(
        c, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
#ifdef SSL_OP_ALLOW_CLIENT_RENEGOTIATION
    SSL_CTX_clear_options(c, SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
#endif
    SSL_CTX_set_default_passwd_cb(c, no_passphrase);
    // Sessions resumed with a client certificate need a context id (the listener's).
    const std::string sid = cfg.id();
    SSL_CTX_set_session_id_context(
        c, reinterpret_cast<const unsigned char*>(sid.data()),
        static_cast<unsigned int>(std::min<std::size_t>(sid.size(), SSL_MAX_SID_CTX_LENGTH)));

    check_readable(cfg, "cert", cfg.cert);
    if (SSL_CTX_use_certificate_chain_file(c, cfg.cert.c_str()) != 1) {
        fail(cfg, "cert", cfg.cert,
             fmt::format("holds no usable PEM certificate chain ({})", openssl_errors()));
    }
    load_key(c, cfg);
    if (cfg.cross_certificate) {
        load_client_cas(c, cfg);
    } else {
        SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
    }
    return ctx;
}

}  // namespace rmqtt::broker
