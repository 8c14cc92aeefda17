// TLS listeners (listener.tls.<name>): Paho and the mosquitto clients over TLS, mutual TLS with
// client certificates, the certificate's Common Name as the username, start-up errors naming the
// file, hostile handshakes, renegotiation, close_notify, and a session that moves between
// transports. Certificates are made at test time (test_certs.hpp).
#include <gtest/gtest.h>

#include <filesystem>

#include "tls_util.hpp"

namespace rmqtt::test::integ {
namespace {

std::string ca_line(const test_certs& c) {
    return cat("client_ca_certs = \"", c.ca, "\"");
}

// A new TLS client still gets through: the broker survived what came before.
void expect_serving(const tls_broker& t, const std::string& id) {
    tls_client c(t.tls_port, t.tls_options());
    std::string error;
    ASSERT_TRUE(c.handshake(&error)) << error;
    auto ack = c.connect(id);
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->code, 0);
}

// ---- clients over TLS ---------------------------------------------------------------------------

// Paho over ssl://, verifying the server's certificate and address: connect, subscribe, publish
// QoS 1, receive.
TEST(Tls, PahoConnectSubscribePublishReceive) {
    tls_broker t;
    t.start();
    auto o = paho_options();
    o.ssl = t.paho_ssl();
    mqtt_client sub(t.ssl_uri(), "tls-sub");
    sub.connect(o);
    ASSERT_EQ(sub.subscribe("tls/paho/#", 1), 1);
    mqtt_client pub(t.ssl_uri(), "tls-pub", 5);
    pub.connect(o);
    pub.publish("tls/paho/a", "over tls", 1);
    auto got = sub.next(10s);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->topic, "tls/paho/a");
    EXPECT_EQ(got->payload, "over tls");
    EXPECT_EQ(got->qos, 1);
    // A publisher on the tcp listener reaches the same subscriber.
    auto plain = raw_connect(*t.broker, "tcp-pub");
    ASSERT_TRUE(raw_publish(*plain, "tls/paho/b", "over tcp", 1, 9));
    got = sub.next(10s);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->payload, "over tcp");
}

// mosquitto_sub and mosquitto_pub with --cafile; a client that trusts another CA does not
// connect.
TEST(Tls, MosquittoClientsWithCafile) {
    tls_broker t;
    t.start();
    auto marker = raw_connect(*t.broker, "marker");
    ASSERT_TRUE(raw_publish(*marker, "tls/ready", "ready", 1, 1, /*retain=*/true));
    const std::string out = t.dir.file("sub.out");
    child_process sub({"mosquitto_sub",
                       "-h",
                       "127.0.0.1",
                       "-p",
                       std::to_string(t.tls_port),
                       "--cafile",
                       t.certs.ca,
                       "-i",
                       "msub-tls",
                       "-q",
                       "1",
                       "-t",
                       "tls/ready",
                       "-t",
                       "tls/mosq",
                       "-C",
                       "2",
                       "-W",
                       "20",
                       "-F",
                       "%t|%q|%p"},
                      out);
    ASSERT_TRUE(
        eventually([&] { return read_file(out).find("tls/ready|") != std::string::npos; }, 15s))
        << read_file(out);
    const std::string log = t.dir.file("pub.log");
    EXPECT_EQ(run_mosquitto_pub(t.tls_port, log,
                                {"--cafile", t.certs.ca, "-q", "1", "-t", "tls/mosq", "-m", "hi"}),
              0)
        << read_file(log);
    EXPECT_EQ(exit_code_of(sub.wait_for(25s)), 0) << read_file(out);
    EXPECT_NE(read_file(out).find("tls/mosq|1|hi"), std::string::npos) << read_file(out);
    EXPECT_NE(run_mosquitto_pub(t.tls_port, log,
                                {"--cafile", t.certs.other_ca, "-t", "tls/mosq", "-m", "x"}),
              0);
}

// cross_certificate = true: only a client with a certificate signed by client_ca_certs gets in.
TEST(Tls, MutualTlsRequiresAClientCertificateFromTheCa) {
    tls_broker t;
    t.tls = {"cross_certificate = true", ca_line(t.certs)};
    t.start();
    auto sub = raw_connect(*t.broker, "mtls-sub");
    subscribe_ok(*sub, {{"mtls/#", 1}});
    const std::string log = t.dir.file("pub.log");
    EXPECT_EQ(run_mosquitto_pub(t.tls_port, log,
                                {"--cafile", t.certs.ca, "--cert", t.certs.client_cert, "--key",
                                 t.certs.client_key, "-q", "1", "-t", "mtls/ok", "-m", "signed"}),
              0)
        << read_file(log);
    auto got = expect<proto::publish>(*sub);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->payload, "signed");

    EXPECT_NE(run_mosquitto_pub(t.tls_port, log,
                                {"--cafile", t.certs.ca, "-q", "1", "-t", "mtls/no", "-m", "none"}),
              0)
        << "a client without a certificate got in";
    EXPECT_NE(run_mosquitto_pub(
                  t.tls_port, log,
                  {"--cafile", t.certs.ca, "--cert", t.certs.other_client_cert, "--key",
                   t.certs.other_client_key, "-q", "1", "-t", "mtls/other", "-m", "other CA"}),
              0)
        << "a client with another CA's certificate got in";
    EXPECT_TRUE(drain_raw(*sub).empty());
    EXPECT_TRUE(eventually([&] {
        const auto l = t.broker->log();
        return l.find("client sent no certificate") != std::string::npos &&
               l.find("client certificate refused") != std::string::npos;
    })) << t.broker->log();

    // Paho with the client certificate.
    auto o = paho_options();
    o.ssl = t.paho_ssl(/*client_cert=*/true);
    mqtt_client paho(t.ssl_uri(), "mtls-paho");
    paho.connect(o);
    paho.publish("mtls/paho", "from paho", 1);
    got = expect<proto::publish>(*sub);
    ASSERT_TRUE(got);
    EXPECT_EQ(got->payload, "from paho");
}

// cert_cn_as_username = true with allow_anonymous = false: a client that sends no username gets
// in because its certificate's Common Name is its username; on a listener without the switch the
// same client is refused as anonymous.
TEST(Tls, CertificateCommonNameIsTheUsername) {
    tls_broker t;
    t.tls = {"cross_certificate = true", ca_line(t.certs), "cert_cn_as_username = true",
             "allow_anonymous = false"};
    t.second = {"cross_certificate = true", ca_line(t.certs), "allow_anonymous = false"};
    t.start();
    const std::vector<std::string> with_cert = {"--cafile", t.certs.ca,
                                                "--cert",   t.certs.client_cert,
                                                "--key",    t.certs.client_key,
                                                "-q",       "1",
                                                "-t",       "cn/t",
                                                "-m",       "x"};
    const std::string log = t.dir.file("pub.log");
    EXPECT_EQ(run_mosquitto_pub(t.tls_port, log, with_cert), 0) << read_file(log);
    EXPECT_NE(run_mosquitto_pub(t.tls_port2, log, with_cert), 0) << read_file(log);
    EXPECT_TRUE(eventually([&] {
        return t.broker->log().find("anonymous clients are not allowed on this listener") !=
               std::string::npos;
    })) << t.broker->log();
}

// Paho over TLS with the client certificate and cert_cn_as_username: the broker's username rule
// (allow_anonymous = false) lets it in.
TEST(Tls, PahoWithClientCertificateAndNoUsername) {
    tls_broker t;
    t.tls = {"cross_certificate = true", ca_line(t.certs), "cert_cn_as_username = true",
             "allow_anonymous = false"};
    t.start();
    auto o = paho_options();
    o.ssl = t.paho_ssl(/*client_cert=*/true);
    mqtt_client c(t.ssl_uri(), "cn-paho");
    EXPECT_NO_THROW(c.connect(o));
    EXPECT_TRUE(c.connected());
}

// ---- start-up errors ----------------------------------------------------------------------------

// A tls listener whose file cannot be used stops the start: exit 1, the log names the listener,
// the key and the file.
TEST(Tls, StartupErrorsNameTheFile) {
    temp_dir dir("rmqttd-tls-errors");
    const auto c = make_test_certs(dir.path());
    write_file(dir.file("garbage.pem"), "this is not PEM\n");
    std::filesystem::create_directories(dir.file("plugins"));
    struct bad_case {
        std::string cert, key, ca;  // ca non-empty: cross_certificate = true
        std::string expected;
    };
    const std::string missing = dir.file("missing.pem");
    const std::string garbage = dir.file("garbage.pem");
    const std::vector<bad_case> cases = {
        {missing, c.server_key, "", cat("cert file \"", missing, "\" cannot be read")},
        {garbage, c.server_key, "",
         cat("cert file \"", garbage, "\" holds no usable PEM certificate chain")},
        {dir.path(), c.server_key, "", cat("cert file \"", dir.path(), "\" is a directory")},
        {c.server_cert, missing, "", cat("key file \"", missing, "\" cannot be read")},
        {c.server_cert, garbage, "", cat("key file \"", garbage, "\" holds no usable PEM private")},
        {c.server_cert, c.stray_key, "",
         cat("key file \"", c.stray_key, "\" does not match the certificate in cert file \"",
             c.server_cert, "\"")},
        {c.server_cert, c.server_key, missing,
         cat("client_ca_certs file \"", missing, "\" cannot be read")},
        {c.server_cert, c.server_key, garbage,
         cat("client_ca_certs file \"", garbage, "\" holds no usable PEM CA certificate")},
    };
    for (std::size_t i = 0; i < cases.size(); ++i) {
        const auto& k = cases[i];
        SCOPED_TRACE(k.expected);
        std::string config = cat("[node]\nid = 1\n[log]\nto = \"console\"\nlevel = \"info\"\n",
                                 "[plugins]\ndir = \"", dir.file("plugins/"),
                                 "\"\ndefault_startups = []\n[listener.tls.bad]\n",
                                 "addr = \"127.0.0.1:", free_port(), "\"\ncert = \"", k.cert,
                                 "\"\nkey = \"", k.key, "\"\n");
        if (!k.ca.empty())
            config += cat("cross_certificate = true\nclient_ca_certs = \"", k.ca, "\"\n");
        const std::string file = dir.file(cat("rmqtt-", i, ".toml"));
        const std::string log = dir.file(cat("rmqttd-", i, ".log"));
        write_file(file, config);
        child_process p({rmqttd_binary(), "-f", file}, log);
        const auto st = p.wait_for(30s);
        if (!st) p.kill_hard();
        EXPECT_EQ(exit_code_of(st), 1) << read_file(log);
        const auto text = read_file(log);
        EXPECT_NE(text.find("listener.tls.bad: " + k.expected), std::string::npos) << text;
    }
}

// ---- hostile handshakes -------------------------------------------------------------------------

// Bytes that are no ClientHello (HTTP, MQTT in the clear, noise) end the connection; the broker
// goes on serving.
TEST(TlsHostile, GarbageInsteadOfClientHelloIsClosed) {
    tls_broker t;
    t.tls = {"handshake_timeout = \"60s\""};  // the close must come from the bad bytes
    t.start();
    const std::vector<std::vector<std::uint8_t>> inputs = {
        {'G', 'E', 'T', ' ', '/', ' ', 'H', 'T', 'T', 'P', '/', '1', '.', '1', '\r', '\n', '\r',
         '\n'},
        encode_packet(proto::version::v3_1_1, make_connect("clear-text")),
        hex("00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F FF FE FD"),
        hex("16 03 03 00 05 FF FF FF FF FF"),  // a handshake record holding no ClientHello
    };
    for (const auto& bytes : inputs) {
        raw_client c(t.tls_port);
        c.send_bytes(bytes);
        std::vector<std::uint8_t> before;
        EXPECT_TRUE(c.wait_closed(15s, &before));
    }
    expect_serving(t, "after-garbage");
}

// A client that starts a handshake and stalls, or completes it and sends no CONNECT, is closed
// after handshake_timeout: the TLS handshake counts as part of it.
TEST(TlsHostile, StalledHandshakeIsClosedAfterHandshakeTimeout) {
    tls_broker t;
    t.tls = {"handshake_timeout = \"1s\""};
    t.start();
    {
        raw_client silent(t.tls_port);  // TCP only
        EXPECT_TRUE(silent.wait_closed(15s));
    }
    {
        raw_client partial(t.tls_port);  // a ClientHello record header and a few bytes of it
        partial.send_bytes(hex("16 03 01 02 00 01 00 01 FC 03 03"));
        EXPECT_TRUE(partial.wait_closed(15s));
    }
    {
        tls_client no_connect(t.tls_port, t.tls_options());
        std::string error;
        ASSERT_TRUE(no_connect.handshake(&error)) << error;
        EXPECT_EQ(no_connect.wait_closed(15s), tls_client::end::close_notify);
    }
    EXPECT_TRUE(eventually([&] {
        return t.broker->log().find("no CONNECT within handshake_timeout") != std::string::npos;
    })) << t.broker->log();
    expect_serving(t, "after-stall");
}

// TLS 1.2 renegotiation asked by the client is refused (SSL_OP_NO_RENEGOTIATION); the connection
// does not become a second handshake and the broker goes on serving.
TEST(TlsHostile, RenegotiationIsRefused) {
    tls_broker t;
    t.start();
    auto o = t.tls_options();
    o.tls12_only = true;
    tls_client c(t.tls_port, o);
    std::string error;
    ASSERT_TRUE(c.handshake(&error)) << error;
    auto ack = c.connect("reneg");
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->code, 0);
    error.clear();
    EXPECT_FALSE(c.renegotiate(&error));
    EXPECT_NE(error.find("no renegotiation"), std::string::npos) << error;
    expect_serving(t, "after-reneg");
}

// ---- closing ------------------------------------------------------------------------------------

// The broker ends a TLS stream with close_notify: after the client's DISCONNECT, and when it
// closes the connection itself (a protocol violation).
TEST(Tls, GracefulCloseSendsCloseNotify) {
    tls_broker t;
    t.start();
    {
        tls_client c(t.tls_port, t.tls_options());
        ASSERT_TRUE(c.handshake());
        ASSERT_TRUE(c.connect("bye"));
        c.send(proto::disconnect{});
        EXPECT_EQ(c.wait_closed(15s), tls_client::end::close_notify);
    }
    {
        tls_client c(t.tls_port, t.tls_options());
        ASSERT_TRUE(c.handshake());
        ASSERT_TRUE(c.connect("twice"));
        c.send(make_connect("twice"));  // [MQTT-3.1.0-2]
        EXPECT_EQ(c.wait_closed(15s), tls_client::end::close_notify);
    }
}

// ---- a session on two transports ----------------------------------------------------------------

// A persistent session started over TCP resumes over TLS with what was queued meanwhile, and
// back again.
TEST(Tls, SessionResumesOverAnotherTransport) {
    tls_broker t;
    t.start();
    auto publisher = raw_connect(*t.broker, "roam-pub");
    auto tls_opts = paho_options(/*clean=*/false);
    tls_opts.ssl = t.paho_ssl();
    {
        mqtt_client c(t.broker->uri(), "roamer");
        c.connect(paho_options(/*clean=*/false));
        ASSERT_EQ(c.subscribe("roam/t", 1), 1);
        c.disconnect();
    }
    ASSERT_TRUE(raw_publish(*publisher, "roam/t", "queued while away", 1, 1));
    {
        mqtt_client c(t.ssl_uri(), "roamer");
        auto r = c.connect(tls_opts);
        EXPECT_TRUE(r.session_present);
        auto got = c.next(10s);
        ASSERT_TRUE(got);
        EXPECT_EQ(got->payload, "queued while away");
        c.disconnect();
    }
    ASSERT_TRUE(raw_publish(*publisher, "roam/t", "queued again", 1, 2));
    {
        mqtt_client c(t.broker->uri(), "roamer");
        auto r = c.connect(paho_options(/*clean=*/false));
        EXPECT_TRUE(r.session_present);
        auto got = c.next(10s);
        ASSERT_TRUE(got);
        EXPECT_EQ(got->payload, "queued again");
    }
}

}  // namespace
}  // namespace rmqtt::test::integ
