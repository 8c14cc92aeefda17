#pragma once

#include <string>

namespace rmqtt::test {

// Certificates made at test time with the openssl command line (EC P-256, valid two days), so no
// private key is ever committed: a CA, a server certificate for 127.0.0.1 and localhost signed by
// it, a client certificate it signed (CN = `client_cn`), a second CA with a client certificate
// of its own, and a key that matches no certificate. Files are PEM, in `dir`.
struct test_certs {
    std::string ca;           // CA certificate
    std::string server_cert;  // server certificate (leaf only)
    std::string server_key;
    std::string client_cert;  // signed by `ca`
    std::string client_key;
    std::string other_ca;           // an unrelated CA
    std::string other_client_cert;  // signed by `other_ca`
    std::string other_client_key;
    std::string stray_key;  // matches none of the certificates
};

// Throws std::runtime_error with openssl's output when a step fails.
test_certs make_test_certs(const std::string& dir, const std::string& client_cn = "device-7");

}  // namespace rmqtt::test
