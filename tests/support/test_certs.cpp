#include "test_certs.hpp"

#include <sys/wait.h>

#include <stdexcept>
#include <vector>

#include "process.hpp"

namespace rmqtt::test {

namespace {

// The extensions each kind of certificate gets (the system openssl.cnf is not used).
constexpr const char* openssl_config = R"([req]
distinguished_name = dn
prompt = no
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
)";

struct runner {
    std::string dir;
    std::string log = dir + "/openssl.log";

    void operator()(std::vector<std::string> args) const {
        args.insert(args.begin(), "openssl");
        child_process p(args, log);
        const auto st = p.wait_for(std::chrono::seconds(60));
        if (!st || !WIFEXITED(*st) || WEXITSTATUS(*st) != 0) {
            std::string cmd;
            for (const auto& a : args)
                cmd += a + " ";
            throw std::runtime_error("test certificates: '" + cmd + "' failed:\n" + read_file(log));
        }
    }
    std::string file(const std::string& name) const { return dir + "/" + name; }

    void make_ca(const std::string& name, const std::string& cn) const {
        (*this)({"req",
                 "-x509",
                 "-new",
                 "-newkey",
                 "ec",
                 "-pkeyopt",
                 "ec_paramgen_curve:prime256v1",
                 "-nodes",
                 "-keyout",
                 file(name + ".key"),
                 "-out",
                 file(name + ".pem"),
                 "-days",
                 "2",
                 "-subj",
                 "/CN=" + cn,
                 "-config",
                 file("openssl.cnf"),
                 "-extensions",
                 "ca"});
    }
    void make_leaf(const std::string& name, const std::string& cn, const std::string& ca,
                   const std::string& kind, const std::string& serial) const {
        (*this)({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", file(name + ".key"), "-out", file(name + ".csr"), "-subj",
                 "/CN=" + cn, "-config", file("openssl.cnf")});
        (*this)({"x509", "-req", "-in", file(name + ".csr"), "-CA", file(ca + ".pem"), "-CAkey",
                 file(ca + ".key"), "-set_serial", serial, "-days", "2", "-out",
                 file(name + ".pem"), "-extfile", file("openssl.cnf"), "-extensions", kind});
    }
};

}  // namespace

test_certs make_test_certs(const std::string& dir, const std::string& client_cn) {
    runner run{dir};
    write_file(run.file("openssl.cnf"), openssl_config);
    run.make_ca("ca", "rmqttd test CA");
    run.make_ca("other-ca", "another test CA");
    run.make_leaf("server", "localhost", "ca", "server", "1001");
    run.make_leaf("client", client_cn, "ca", "client", "1002");
    run.make_leaf("other-client", client_cn, "other-ca", "client", "1003");
    run({"genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
         run.file("stray.key")});
    test_certs c;
    c.ca = run.file("ca.pem");
    c.server_cert = run.file("server.pem");
    c.server_key = run.file("server.key");
    c.client_cert = run.file("client.pem");
    c.client_key = run.file("client.key");
    c.other_ca = run.file("other-ca.pem");
    c.other_client_cert = run.file("other-client.pem");
    c.other_client_key = run.file("other-client.key");
    c.stray_key = run.file("stray.key");
    return c;
}

}  // namespace rmqtt::test
