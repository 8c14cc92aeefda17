// rmqtt-auth-jwt against a real rmqttd with raw MQTT clients: tokens made here (HS256 with
// OpenSSL's HMAC; RS256 / ES256 with keys the openssl command line generates for the test),
// CONNECT accepted or refused, the "acl" and "superuser" claims on PUBLISH and SUBSCRIBE,
// disconnect_if_pub_rejected, disconnect_if_expiry, and start-up errors for unusable keys.
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "integration_util.hpp"

namespace rmqtt::test::integ {
namespace {

using nlohmann::json;
constexpr auto v5 = proto::version::v5;
constexpr auto v311 = proto::version::v3_1_1;
const std::string secret = "integration-secret";

std::string b64url(std::string_view in) {
    static constexpr char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    unsigned acc = 0;
    int bits = 0;
    for (const char c : in) {
        acc = (acc << 8) | static_cast<unsigned char>(c);
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out += abc[(acc >> bits) & 63];
        }
    }
    if (bits > 0) out += abc[(acc << (6 - bits)) & 63];
    return out;
}

std::int64_t now_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string hs256(const json& claims, const std::string& key = secret) {
    const std::string in = b64url(R"({"alg":"HS256","typ":"JWT"})") + "." + b64url(claims.dump());
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(in.data()), in.size(), mac, &len);
    return in + "." + b64url(std::string(reinterpret_cast<const char*>(mac), len));
}

// RS256 or ES256 with the private key in `pem_file`.
std::string pk_token(const json& claims, const std::string& pem_file, const std::string& alg) {
    FILE* f = std::fopen(pem_file.c_str(), "r");
    if (!f) return {};
    EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
    std::fclose(f);
    const std::string in = b64url(json{{"alg", alg}}.dump()) + "." + b64url(claims.dump());
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    std::string sig;
    std::size_t len = 0;
    const auto* data = reinterpret_cast<const unsigned char*>(in.data());
    if (key && EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
        EVP_DigestSign(ctx, nullptr, &len, data, in.size()) == 1) {
        sig.resize(len);
        if (EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, data,
                           in.size()) == 1)
            sig.resize(len);
    }
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    if (alg == "ES256" && !sig.empty()) {
        const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
        ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
        std::string raw(64, '\0');
        BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()), 32);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data() + 32), 32);
        ECDSA_SIG_free(es);
        sig = raw;
    }
    return in + "." + b64url(sig);
}

broker_ptr start_jwt_broker(const std::string& plugin_file) {
    broker_process::options o;
    o.session_storage = false;
    o.extra_plugins = {"rmqtt-auth-jwt"};
    o.plugin_files = {{"rmqtt-auth-jwt", plugin_file}};
    return start_broker_with(std::move(o));
}

std::string hmac_file(const std::string& extra = "") {
    return "hmac_secret = \"" + secret + "\"\nvalidate_claims.exp = true\n" + extra;
}

proto::connect token_connect(const std::string& id, const std::string& token,
                             proto::version v = v311) {
    auto c = make_connect(id, true, 60, v);
    c.username = "user-" + id;
    c.password = token;
    return c;
}

std::optional<proto::connack> try_connect(const broker_process& b, const proto::connect& c) {
    raw_client r(b.port(), c.protocol_version);
    return r.connect(c);
}

// CONNECT with `token` as the password; a test failure unless CONNACK 0.
std::unique_ptr<raw_client> login(const broker_process& b, const std::string& id,
                                  const std::string& token, proto::version v = v311) {
    return raw_connect(b, token_connect(id, token, v));
}

bool still_connected(raw_client& c) {
    c.send(proto::pingreq{});
    return expect<proto::pingresp>(c).has_value();
}

TEST(auth_jwt, ValidTokensConnectOthersAreRefused) {
    auto b = start_jwt_broker(hmac_file());
    login(*b, "good", hs256({{"exp", now_s() + 3600}}));
    login(*b, "good5", hs256({{"exp", now_s() + 3600}}), v5);

    const struct {
        const char* what;
        std::string token;
    } refused[] = {
        {"wrong secret", hs256({{"exp", now_s() + 3600}}, "other-secret")},
        {"expired", hs256({{"exp", now_s() - 3600}})},
        {"alg none", b64url(R"({"alg":"none"})") + "." + b64url("{}") + "."},
        {"not a token", "password"},
    };
    for (const auto& r : refused) {
        const auto ack = try_connect(*b, token_connect("bad", r.token));
        ASSERT_TRUE(ack) << r.what;
        EXPECT_EQ(ack->code, 4) << r.what << ": 3.1.1 Bad user name or password";
        const auto ack5 = try_connect(*b, token_connect("bad5", r.token, v5));
        ASSERT_TRUE(ack5) << r.what;
        EXPECT_EQ(ack5->code, 0x86) << r.what;
    }
    auto no_password = make_connect("nopw", true, 60, v311);
    no_password.username = "someone";
    const auto ack = try_connect(*b, no_password);
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->code, 4) << "no token, no entry (as in RMQTT)";
    EXPECT_TRUE(log_shows(*b, "token refused: bad signature"));
}

TEST(auth_jwt, ClaimChecksWithPlaceholders) {
    auto b =
        start_jwt_broker(hmac_file("validate_claims.clientid = \"${clientid}\"\n"
                                   "validate_claims.iss = [\"https://issuer\"]\n"));
    login(*b, "dev7", hs256({{"clientid", "dev7"}, {"iss", "https://issuer"}}));
    const auto wrong_id = try_connect(
        *b, token_connect("dev8", hs256({{"clientid", "dev7"}, {"iss", "https://issuer"}})));
    ASSERT_TRUE(wrong_id);
    EXPECT_EQ(wrong_id->code, 4) << "a token for dev7 does not admit dev8";
    const auto no_iss = try_connect(*b, token_connect("dev7", hs256({{"clientid", "dev7"}})));
    ASSERT_TRUE(no_iss);
    EXPECT_EQ(no_iss->code, 4);
}

json dev_acl() {
    return json::array({
        {{"permission", "allow"}, {"action", "subscribe"}, {"topic", "in/${clientid}/#"}},
        {{"permission", "allow"}, {"action", "publish"}, {"topic", "out/${clientid}"}},
        {{"permission", "allow"}, {"action", "publish"}, {"topic", "q/#"}, {"qos", {0, 1}}},
        {{"permission", "deny"}, {"action", "all"}, {"topic", "#"}},
    });
}

TEST(auth_jwt, AclClaimsDecidePublishAndSubscribe) {
    auto b = start_jwt_broker(hmac_file("disconnect_if_pub_rejected = false\n"));
    auto boss = login(*b, "boss", hs256({{"superuser", true}}), v5);
    subscribe_ok(*boss, {{"out/#", 1}, {"q/#", 2}, {"in/#", 1}});

    auto dev = login(*b, "dev1", hs256({{"acl", dev_acl()}}), v5);
    EXPECT_EQ(raw_subscribe(*dev, 1, {{"in/dev1/cmd", 1}, {"in/dev2/cmd", 1}, {"#", 0}}),
              (std::vector<std::uint8_t>{1, 0x87, 0x87}));

    // Allowed: routed to the superuser's subscription. Denied: PUBACK 0x87, not routed.
    dev->send(make_publish("out/dev1", "ok", 1, 1));
    auto ok = expect<proto::puback>(*dev);
    ASSERT_TRUE(ok);
    EXPECT_EQ(code_of(ok->code), 0x00);
    dev->send(make_publish("out/dev2", "no", 1, 2));
    auto no = expect<proto::puback>(*dev);
    ASSERT_TRUE(no);
    EXPECT_EQ(code_of(no->code), 0x87);

    // A rule with a QoS condition is decided on the message: QoS 1 passes, QoS 2 does not.
    dev->send(make_publish("q/a", "q1", 1, 3));
    auto q1 = expect<proto::puback>(*dev);
    ASSERT_TRUE(q1);
    EXPECT_EQ(code_of(q1->code), 0x00);
    dev->send(make_publish("q/a", "q2", 2, 4));
    auto q2 = expect<proto::pubrec>(*dev);
    ASSERT_TRUE(q2);
    EXPECT_EQ(code_of(q2->code), 0x87);

    std::vector<std::string> got;
    for (const auto& p : drain_raw(*boss)) {
        if (const auto* pub = std::get_if<proto::publish>(&p)) {
            got.push_back(pub->topic + "=" + pub->payload);
            raw_ack(*boss, *pub);
        }
    }
    EXPECT_EQ(got, (std::vector<std::string>{"out/dev1=ok", "q/a=q1"}));
    EXPECT_TRUE(still_connected(*dev)) << "disconnect_if_pub_rejected = false";
}

TEST(auth_jwt, RefusedPublishDisconnectsByDefault) {
    auto b = start_jwt_broker(hmac_file());
    auto dev = login(*b, "dev1", hs256({{"acl", dev_acl()}}));
    dev->send(make_publish("out/dev1", "ok", 1, 1));
    EXPECT_TRUE(expect<proto::puback>(*dev));
    EXPECT_TRUE(still_connected(*dev));
    dev->send(make_publish("elsewhere", "no", 1, 2));
    EXPECT_TRUE(dev->wait_closed(std::chrono::seconds(10)))
        << "disconnect_if_pub_rejected = true (RMQTT's default)";
    EXPECT_TRUE(log_shows(*b, "disconnect_if_pub_rejected"));
}

TEST(auth_jwt, ExpiredTokenIsDisconnected) {
    auto b = start_jwt_broker(hmac_file("disconnect_if_expiry = true\n"));
    auto lasting = login(*b, "lasting", hs256({{"exp", now_s() + 3600}}), v5);
    // Within the 60 s leeway the token is accepted, but it has expired: the timer fires at
    // once and the client is disconnected (5.0: DISCONNECT 0x98).
    auto expiring = login(*b, "expiring", hs256({{"exp", now_s() - 5}}), v5);
    auto d = expect<proto::disconnect>(*expiring, std::chrono::seconds(10));
    ASSERT_TRUE(d);
    EXPECT_EQ(code_of(d->code), 0x98);
    EXPECT_TRUE(expiring->wait_closed(std::chrono::seconds(10)));
    EXPECT_TRUE(log_shows(*b, "the token expired"));
    EXPECT_TRUE(still_connected(*lasting));
}

// Keys made by the openssl command line for this test only.
class auth_jwt_keys : public ::testing::Test {
  protected:
    void SetUp() override {
        const std::string d = dir_.path();
        for (const std::string& c : {
                 "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " + d +
                     "/rsa.pem",
                 "openssl pkey -in " + d + "/rsa.pem -pubout -out " + d + "/rsa.pub.pem",
                 "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " + d +
                     "/ec.pem",
                 "openssl pkey -in " + d + "/ec.pem -pubout -out " + d + "/ec.pub.pem",
             }) {
            ASSERT_EQ(std::system((c + " >/dev/null 2>&1").c_str()), 0) << c;
        }
    }
    std::string path(const std::string& name) const { return dir_.file(name); }
    temp_dir dir_{"rmqtt-jwt-it-keys"};
};

TEST_F(auth_jwt_keys, Rs256AndEs256) {
    auto rsa = start_jwt_broker("encrypt = \"public-key\"\npublic_key = \"" + path("rsa.pub.pem") +
                                "\"\n");
    login(*rsa, "r1", pk_token({{"sub", "x"}}, path("rsa.pem"), "RS256"));
    // Algorithm confusion: the public key's PEM text as an HMAC secret.
    const auto confused = try_connect(
        *rsa, token_connect("r2", hs256({{"sub", "x"}}, read_file(path("rsa.pub.pem")))));
    ASSERT_TRUE(confused);
    EXPECT_EQ(confused->code, 4);
    EXPECT_TRUE(log_shows(*rsa, "HS256 does not fit the configured key"));

    auto ec =
        start_jwt_broker("encrypt = \"public-key\"\npublic_key = \"" + path("ec.pub.pem") + "\"\n");
    login(*ec, "e1", pk_token({{"sub", "x"}}, path("ec.pem"), "ES256"));
    const auto rs_on_ec =
        try_connect(*ec, token_connect("e2", pk_token({{"sub", "x"}}, path("rsa.pem"), "RS256")));
    ASSERT_TRUE(rs_on_ec);
    EXPECT_EQ(rs_on_ec->code, 4);
}

TEST_F(auth_jwt_keys, UnusableKeyFileStopsTheStartNamingTheFile) {
    const std::string missing = path("missing.pem");
    try {
        auto b = start_jwt_broker("encrypt = \"public-key\"\npublic_key = \"" + missing + "\"\n");
        ADD_FAILURE() << "rmqttd started without its public key";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(missing + ": cannot open the public key file"),
                  std::string::npos)
            << e.what();
    }
    const std::string private_only = path("rsa.pem.txt");
    write_file(private_only, "not a key\n");
    try {
        auto b =
            start_jwt_broker("encrypt = \"public-key\"\npublic_key = \"" + private_only + "\"\n");
        ADD_FAILURE() << "rmqttd started with no key in its key file";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(private_only + ": no PEM public key"),
                  std::string::npos)
            << e.what();
    }
}

}  // namespace
}  // namespace rmqtt::test::integ
