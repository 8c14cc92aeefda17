// rmqtt-auth-jwt's decisions without a broker: tokens made here (HS* with OpenSSL's HMAC, RS*,
// PS*, ES*, EdDSA with keys the openssl command line generates for this run; no private key is
// committed) against the verifier, the claim checks and the ACL claims.
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include <asio/thread_pool.hpp>

#include "auth_jwt/auth_jwt_plugin.hpp"
#include "auth_jwt/jwt.hpp"
#include "auth_jwt/jwt_claims.hpp"
#include "fake_plugin_context.hpp"
#include "plugin_config_test_util.hpp"
#include "process.hpp"

namespace rmqtt::test {
namespace {

using broker::acl_action;
using broker::hook_result;
using nlohmann::json;
using plugins::auth_jwt_config;
using namespace plugins::auth_jwt;

constexpr std::int64_t now_s = 1'700'000'000;

// ---- token making, independent of the plugin's code -------------------------------------------

std::string b64url(std::string_view in) {
    static constexpr char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        const unsigned v = static_cast<unsigned char>(in[i]) << 16 |
                           static_cast<unsigned char>(in[i + 1]) << 8 |
                           static_cast<unsigned char>(in[i + 2]);
        for (int s = 18; s >= 0; s -= 6)
            out += abc[(v >> s) & 63];
    }
    if (in.size() - i == 1) {
        const unsigned v = static_cast<unsigned char>(in[i]) << 16;
        out += abc[(v >> 18) & 63];
        out += abc[(v >> 12) & 63];
    } else if (in.size() - i == 2) {
        const unsigned v =
            static_cast<unsigned char>(in[i]) << 16 | static_cast<unsigned char>(in[i + 1]) << 8;
        out += abc[(v >> 18) & 63];
        out += abc[(v >> 12) & 63];
        out += abc[(v >> 6) & 63];
    }
    return out;
}

std::string hmac(const EVP_MD* md, std::string_view key, std::string_view data) {
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(md, key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
    return std::string(reinterpret_cast<const char*>(out), len);
}

std::string signing_input(const json& header, const json& claims) {
    return b64url(header.dump()) + "." + b64url(claims.dump());
}

std::string hs_token(const json& claims, std::string_view secret, std::string alg = "HS256") {
    const EVP_MD* md = alg == "HS384" ? EVP_sha384() : alg == "HS512" ? EVP_sha512() : EVP_sha256();
    const std::string in = signing_input({{"alg", alg}, {"typ", "JWT"}}, claims);
    return in + "." + b64url(hmac(md, secret, in));
}

struct pkey_free {
    void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

pkey_ptr load_private(const std::string& path) {
    FILE* f = std::fopen(path.c_str(), "r");
    if (!f) return nullptr;
    pkey_ptr k(PEM_read_PrivateKey(f, nullptr, nullptr, nullptr));
    std::fclose(f);
    return k;
}

// A token signed with a private key: RS*, PS*, ES* (R || S, RFC 7518 section 3.4), EdDSA.
std::string pk_token(const json& claims, EVP_PKEY* key, const std::string& alg,
                     json header = json::object()) {
    header["alg"] = alg;
    const std::string in = signing_input(header, claims);
    const EVP_MD* md = nullptr;
    if (alg.ends_with("256")) md = EVP_sha256();
    if (alg.ends_with("384")) md = EVP_sha384();
    if (alg.ends_with("512")) md = EVP_sha512();
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX* pctx = nullptr;
    std::string sig;
    if (EVP_DigestSignInit(ctx, &pctx, alg == "EdDSA" ? nullptr : md, nullptr, key) == 1) {
        if (alg.starts_with("PS")) {
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
        }
        std::size_t len = 0;
        const auto* data = reinterpret_cast<const unsigned char*>(in.data());
        if (EVP_DigestSign(ctx, nullptr, &len, data, in.size()) == 1) {
            sig.resize(len);
            if (EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len, data,
                               in.size()) == 1)
                sig.resize(len);
            else
                sig.clear();
        }
    }
    EVP_MD_CTX_free(ctx);
    EXPECT_FALSE(sig.empty()) << "signing " << alg << " failed";
    if (alg.starts_with("ES")) {
        const std::size_t part = alg == "ES256" ? 32 : alg == "ES384" ? 48 : 66;
        const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
        ECDSA_SIG* es = d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size()));
        std::string raw(2 * part, '\0');
        BN_bn2binpad(ECDSA_SIG_get0_r(es), reinterpret_cast<unsigned char*>(raw.data()),
                     static_cast<int>(part));
        BN_bn2binpad(ECDSA_SIG_get0_s(es), reinterpret_cast<unsigned char*>(raw.data() + part),
                     static_cast<int>(part));
        ECDSA_SIG_free(es);
        sig = raw;
    }
    return in + "." + b64url(sig);
}

// ---- keys from the openssl command line, made once for the suite -------------------------------

class keys {
  public:
    static keys& get() {
        static keys k;
        return k;
    }
    std::string path(const std::string& name) const { return dir_.file(name); }
    bool ok() const { return ok_; }

  private:
    keys() : dir_("rmqtt-jwt-keys") {
        const std::string d = dir_.path();
        const std::string cmds[] = {
            "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " + d + "/rsa.pem",
            "openssl pkey -in " + d + "/rsa.pem -pubout -out " + d + "/rsa.pub.pem",
            "openssl rsa -in " + d + "/rsa.pem -RSAPublicKey_out -out " + d + "/rsa.pkcs1.pem",
            "openssl req -x509 -new -key " + d + "/rsa.pem -subj /CN=rmqtt-test -days 1 -out " + d +
                "/rsa.cert.pem",
            "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " + d + "/rsa2.pem",
            "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out " + d +
                "/ec256.pem",
            "openssl pkey -in " + d + "/ec256.pem -pubout -out " + d + "/ec256.pub.pem",
            "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out " + d +
                "/ec384.pem",
            "openssl pkey -in " + d + "/ec384.pem -pubout -out " + d + "/ec384.pub.pem",
            "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1 -out " + d +
                "/k256.pem",
            "openssl pkey -in " + d + "/k256.pem -pubout -out " + d + "/k256.pub.pem",
            "openssl genpkey -algorithm ED25519 -out " + d + "/ed.pem",
            "openssl pkey -in " + d + "/ed.pem -pubout -out " + d + "/ed.pub.pem",
        };
        ok_ = true;
        for (const auto& c : cmds) {
            if (std::system((c + " 2>/dev/null >/dev/null").c_str()) != 0) {
                ADD_FAILURE() << "failed: " << c;
                ok_ = false;
            }
        }
    }
    temp_dir dir_;
    bool ok_ = false;
};

// ---- a client ----------------------------------------------------------------------------------

struct client {
    std::string id = "dev1";
    std::optional<std::string> username = std::string("alice");
    std::string peer = "10.1.2.3:4567";
    std::string listener = "tcp.external";
    protocol::version version = protocol::version::v5;

    broker::client_info info() const {
        broker::client_info c;
        c.client_id = id;
        c.username = &username;
        c.peer = peer;
        c.listener = listener;
        c.version = version;
        return c;
    }
};

auth_jwt_config hmac_config(std::string secret = "s3cret") {
    auth_jwt_config c;
    c.hmac_secret = std::move(secret);
    c.validate_claims.exp = true;
    return c;
}

jwt_authenticator make_auth(const auth_jwt_config& c) {
    return jwt_authenticator(c, load_key(c, "rmqtt-auth-jwt.toml"), [] { return now_s; });
}

hook_result connect_with(jwt_authenticator& a, const std::string& token, const client& cl = {}) {
    return a.authenticate(cl.info(), std::optional<std::string>(token));
}

// ---- base64url ---------------------------------------------------------------------------------

TEST(jwt_base64url, StrictDecoding) {
    EXPECT_EQ(base64url_decode("").value(), "");
    EXPECT_EQ(base64url_decode("Zg").value(), "f");
    EXPECT_EQ(base64url_decode("Zm8").value(), "fo");
    EXPECT_EQ(base64url_decode("Zm9v").value(), "foo");
    EXPECT_EQ(base64url_decode("-_8").value(), "\xfb\xff");
    EXPECT_FALSE(base64url_decode("Zg==")) << "padding is not part of base64url in JWS";
    EXPECT_FALSE(base64url_decode("+/8")) << "the standard alphabet is not accepted";
    EXPECT_FALSE(base64url_decode("Zm9v YQ")) << "no whitespace";
    EXPECT_FALSE(base64url_decode("Z")) << "a lone character encodes no byte";
    EXPECT_FALSE(base64url_decode("Zh")) << "non-zero bits after the last byte";
    EXPECT_FALSE(base64url_decode("Zm9")) << "non-zero bits after the last byte";
    EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
}

TEST(jwt_base64, StandardFormForTheSecret) {
    EXPECT_EQ(base64_decode("cm1xdHRzZWNyZXQ=").value(), "rmqttsecret");
    EXPECT_FALSE(base64_decode("cm1xdHRzZWNyZXQ"));  // unpadded
    EXPECT_FALSE(base64_decode("cm1xdHRz-WNyZXQ="));
}

// ---- the verifier ------------------------------------------------------------------------------

// RFC 7515 appendix A.1: the HS256 example, its key given as a JWK.
TEST(jwt_verify, Rfc7515ExampleA1) {
    const auto key = base64url_decode(
        "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow");
    ASSERT_TRUE(key);
    const std::string token =
        "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9."
        "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cn"
        "VlfQ."
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    std::string why;
    const auto t = verify_token(token, verification_key::hmac(*key), why);
    ASSERT_TRUE(t) << why;
    EXPECT_EQ(t->alg, algorithm::hs256);
    EXPECT_EQ(t->claims.at("iss"), "joe");
    EXPECT_EQ(t->claims.at("exp"), 1300819380);

    std::string tampered = token;
    tampered[tampered.size() - 1] = 'Y';
    EXPECT_FALSE(verify_token(tampered, verification_key::hmac(*key), why));
    EXPECT_EQ(why, "bad signature");
}

TEST(jwt_verify, HmacAlgorithms) {
    const json claims = {{"sub", "x"}};
    const auto key = verification_key::hmac("k");
    std::string why;
    for (const char* alg : {"HS256", "HS384", "HS512"})
        EXPECT_TRUE(verify_token(hs_token(claims, "k", alg), key, why)) << alg << ": " << why;
    EXPECT_FALSE(verify_token(hs_token(claims, "other", "HS256"), key, why));
    EXPECT_EQ(why, "bad signature");
}

TEST(jwt_verify, AlgNoneIsRefused) {
    const std::string in = signing_input({{"alg", "none"}}, {{"sub", "x"}});
    std::string why;
    EXPECT_FALSE(verify_token(in + ".", verification_key::hmac("k"), why));
    EXPECT_NE(why.find("\"none\" is not supported"), std::string::npos) << why;
    EXPECT_FALSE(verify_token(signing_input({{"alg", "None"}}, {{"a", 1}}) + ".",
                              verification_key::hmac("k"), why));
}

TEST(jwt_verify, MalformedTokens) {
    const auto key = verification_key::hmac("k");
    const std::string good = hs_token({{"a", 1}}, "k");
    const auto sign = [](const std::string& header_b64, const std::string& payload_b64) {
        const std::string in = header_b64 + "." + payload_b64;
        return in + "." + b64url(hmac(EVP_sha256(), "k", in));
    };
    const std::string hs = b64url(R"({"alg":"HS256"})");
    struct bad {
        std::string token;
        std::string why;
    };
    const bad cases[] = {
        {"", "compact form"},
        {"abc", "compact form"},
        {"a.b", "compact form"},
        {good + ".x", "compact form"},
        {hs + "." + b64url("{}") + ".a+b", "base64url"},
        {hs + "=." + b64url("{}") + ".abc", "base64url"},
        {sign(b64url("not json"), b64url("{}")), "header is not a JSON object"},
        {sign(b64url("[1]"), b64url("{}")), "header is not a JSON object"},
        {sign(b64url(R"({"typ":"JWT"})"), b64url("{}")), "no \"alg\""},
        {sign(b64url(R"({"alg":5})"), b64url("{}")), "no \"alg\""},
        {sign(b64url(R"({"alg":"HS256","crit":["exp"]})"), b64url("{}")), "crit"},
        {sign(hs, b64url("[]")), "claims are not a JSON object"},
        {sign(hs, b64url("{\"a\":")), "claims are not a JSON object"},
        {sign(hs, b64url("{\"a\":\"\xff\"}")), "claims are not a JSON object"},  // bad UTF-8
    };
    for (const auto& c : cases) {
        std::string why;
        EXPECT_FALSE(verify_token(c.token, key, why)) << c.token;
        EXPECT_NE(why.find(c.why), std::string::npos) << c.token << ": " << why;
    }
    std::string why;
    EXPECT_TRUE(verify_token(good, key, why)) << why;
}

class jwt_keys : public ::testing::Test {
  protected:
    static void SetUpTestSuite() { ASSERT_TRUE(keys::get().ok()); }
    static std::string path(const std::string& n) { return keys::get().path(n); }
};

TEST_F(jwt_keys, RsaPssEcdsaEddsa) {
    const json claims = {{"sub", "x"}};
    auto rsa = load_private(path("rsa.pem"));
    auto ec256 = load_private(path("ec256.pem"));
    auto ec384 = load_private(path("ec384.pem"));
    auto ed = load_private(path("ed.pem"));
    ASSERT_TRUE(rsa && ec256 && ec384 && ed);
    const auto rsa_pub = verification_key::from_pem_file(path("rsa.pub.pem"));
    const auto ec256_pub = verification_key::from_pem_file(path("ec256.pub.pem"));
    const auto ec384_pub = verification_key::from_pem_file(path("ec384.pub.pem"));
    const auto ed_pub = verification_key::from_pem_file(path("ed.pub.pem"));
    EXPECT_EQ(rsa_pub.describe(), "an RSA 2048-bit public key");
    EXPECT_EQ(ec256_pub.describe(), "an EC P-256 public key");

    std::string why;
    for (const char* alg : {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
        EXPECT_TRUE(verify_token(pk_token(claims, rsa.get(), alg), rsa_pub, why))
            << alg << ": " << why;
    EXPECT_TRUE(verify_token(pk_token(claims, ec256.get(), "ES256"), ec256_pub, why)) << why;
    EXPECT_TRUE(verify_token(pk_token(claims, ec384.get(), "ES384"), ec384_pub, why)) << why;
    EXPECT_TRUE(verify_token(pk_token(claims, ed.get(), "EdDSA"), ed_pub, why)) << why;

    // PKCS#1 "RSA PUBLIC KEY" and a certificate hold the same key.
    EXPECT_TRUE(verify_token(pk_token(claims, rsa.get(), "RS256"),
                             verification_key::from_pem_file(path("rsa.pkcs1.pem")), why))
        << why;
    EXPECT_TRUE(verify_token(pk_token(claims, rsa.get(), "RS256"),
                             verification_key::from_pem_file(path("rsa.cert.pem")), why))
        << why;
}

TEST_F(jwt_keys, WrongKeyOrWrongAlgorithmForTheKey) {
    const json claims = {{"sub", "x"}};
    auto rsa2 = load_private(path("rsa2.pem"));
    auto ec256 = load_private(path("ec256.pem"));
    auto ec384 = load_private(path("ec384.pem"));
    const auto rsa_pub = verification_key::from_pem_file(path("rsa.pub.pem"));
    const auto ec256_pub = verification_key::from_pem_file(path("ec256.pub.pem"));
    std::string why;

    EXPECT_FALSE(verify_token(pk_token(claims, rsa2.get(), "RS256"), rsa_pub, why));
    EXPECT_EQ(why, "bad signature");
    // An ES384 token against a P-256 key: the algorithm does not fit the key.
    EXPECT_FALSE(verify_token(pk_token(claims, ec384.get(), "ES384"), ec256_pub, why));
    EXPECT_NE(why.find("does not fit"), std::string::npos) << why;
    // An ES256 signature in DER (not R || S) is refused.
    const std::string in = signing_input({{"alg", "ES256"}}, claims);
    EXPECT_FALSE(verify_token(in + "." + b64url(std::string(70, 'x')), ec256_pub, why));
    // An RS256 token against an EC key.
    auto rsa = load_private(path("rsa.pem"));
    EXPECT_FALSE(verify_token(pk_token(claims, rsa.get(), "RS256"), ec256_pub, why));
    EXPECT_NE(why.find("does not fit"), std::string::npos) << why;
}

// Algorithm confusion: the RSA public key's PEM text used as an HMAC secret must not verify.
TEST_F(jwt_keys, RsaPublicKeyUsedAsHmacSecretIsRefused) {
    const std::string pem = read_file(path("rsa.pub.pem"));
    const auto rsa_pub = verification_key::from_pem_file(path("rsa.pub.pem"));
    std::string why;
    EXPECT_FALSE(verify_token(hs_token({{"sub", "x"}}, pem, "HS256"), rsa_pub, why));
    EXPECT_NE(why.find("HS256 does not fit the configured key (an RSA 2048-bit public key)"),
              std::string::npos)
        << why;

    auth_jwt_config c;
    c.encrypt = auth_jwt_config::key_type::public_key;
    c.public_key = path("rsa.pub.pem");
    auto a = make_auth(c);
    EXPECT_EQ(connect_with(a, hs_token({{"sub", "x"}}, pem, "HS256")), hook_result::deny);
    auto rsa = load_private(path("rsa.pem"));
    EXPECT_EQ(connect_with(a, pk_token({{"sub", "x"}}, rsa.get(), "RS256")), hook_result::allow);
}

TEST_F(jwt_keys, UnusableKeyFilesAreStartUpErrorsNamingTheFile) {
    auth_jwt_config c;
    c.encrypt = auth_jwt_config::key_type::public_key;
    const auto error_of = [&c](const std::string& file) {
        c.public_key = file;
        try {
            (void)load_key(c, "rmqtt-auth-jwt.toml");
        } catch (const std::runtime_error& e) {
            return std::string(e.what());
        }
        ADD_FAILURE() << file << " was accepted";
        return std::string();
    };
    const std::string missing = path("no-such.pem");
    EXPECT_NE(error_of(missing).find(missing + ": cannot open"), std::string::npos);
    const std::string garbage = path("garbage.pem");
    write_file(garbage, "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n");
    EXPECT_NE(error_of(garbage).find(garbage + ": no PEM public key"), std::string::npos);
    EXPECT_NE(error_of(path("k256.pub.pem")).find("secp256k1"), std::string::npos);
    c.public_key.clear();
    EXPECT_NE(error_of("").find("public_key: missing"), std::string::npos);

    auth_jwt_config h;  // hmac-based without a secret
    try {
        (void)load_key(h, "f.toml");
        ADD_FAILURE() << "an empty secret was accepted";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find("f.toml: hmac_secret: missing or empty"),
                  std::string::npos)
            << e.what();
    }
}

// ---- claims ------------------------------------------------------------------------------------

TEST(jwt_claims, ExpAndNbfWithRmqttsLeeway) {
    auto c = hmac_config();
    c.validate_claims.nbf = true;
    auto a = make_auth(c);
    const auto tok = [](json claims) { return hs_token(claims, "s3cret"); };
    EXPECT_EQ(connect_with(a, tok({{"exp", now_s + 10}})), hook_result::allow);
    EXPECT_EQ(connect_with(a, tok({{"exp", now_s - 3600}})), hook_result::deny) << "expired";
    EXPECT_EQ(connect_with(a, tok({{"exp", now_s - 30}})), hook_result::allow) << "60 s leeway";
    EXPECT_EQ(connect_with(a, tok({{"exp", now_s - 61}})), hook_result::deny);
    EXPECT_EQ(connect_with(a, tok({{"exp", 1.7e9 + 5.5}})), hook_result::allow) << "NumericDate";
    EXPECT_EQ(connect_with(a, tok({{"exp", "tomorrow"}})), hook_result::deny);
    EXPECT_EQ(connect_with(a, tok({{"nbf", now_s + 3600}})), hook_result::deny) << "not yet";
    EXPECT_EQ(connect_with(a, tok({{"nbf", now_s + 30}})), hook_result::allow) << "leeway";
    EXPECT_EQ(connect_with(a, tok(json::object())), hook_result::allow)
        << "as in RMQTT, a token without exp is not refused";

    auto lax = hmac_config();
    lax.validate_claims.exp = false;
    auto b = make_auth(lax);
    EXPECT_EQ(connect_with(b, tok({{"exp", now_s - 3600}})), hook_result::allow);
    EXPECT_EQ(connect_with(b, tok({{"nbf", now_s + 3600}})), hook_result::allow);
}

TEST(jwt_claims, ExpectedClaimsWithPlaceholders) {
    auto c = hmac_config();
    c.validate_claims.sub = "user@rmqtt.com";
    c.validate_claims.iss = {"https://a", "https://b"};
    c.validate_claims.aud = {"mqtt"};
    c.validate_claims.custom = {{"clientid", {"${clientid}"}},
                                {"username", {"${username}"}},
                                {"ipaddr", {"${ipaddr}"}},
                                {"protocol", {"${protocol}"}}};
    auto a = make_auth(c);
    const json good = {{"sub", "user@rmqtt.com"}, {"iss", "https://b"},  {"aud", {"x", "mqtt"}},
                       {"clientid", "dev1"},      {"username", "alice"}, {"ipaddr", "10.1.2.3"},
                       {"protocol", "5"}};
    EXPECT_EQ(connect_with(a, hs_token(good, "s3cret")), hook_result::allow);
    for (const auto& [claim, bad_value] :
         std::vector<std::pair<std::string, json>>{{"sub", "other"},
                                                   {"iss", "https://c"},
                                                   {"aud", "web"},
                                                   {"aud", {"web", "app"}},
                                                   {"clientid", "dev2"},
                                                   {"username", "bob"},
                                                   {"ipaddr", "10.1.2.4"},
                                                   {"protocol", 5}}) {
        json claims = good;
        claims[claim] = bad_value;
        EXPECT_EQ(connect_with(a, hs_token(claims, "s3cret")), hook_result::deny)
            << claim << " = " << bad_value.dump();
        claims.erase(claim);
        EXPECT_EQ(connect_with(a, hs_token(claims, "s3cret")), hook_result::deny)
            << claim << " missing";
    }
    // ${username} cannot match a client without a user name.
    client anonymous;
    anonymous.username.reset();
    EXPECT_EQ(connect_with(a, hs_token(good, "s3cret"), anonymous), hook_result::deny);
}

TEST(jwt_claims, TokenFromTheUserName) {
    auto c = hmac_config();
    c.from = auth_jwt_config::token_source::username;
    auto a = make_auth(c);
    client cl;
    cl.username = hs_token({{"exp", now_s + 60}}, "s3cret");
    EXPECT_EQ(a.authenticate(cl.info(), std::nullopt), hook_result::allow);
    cl.username.reset();
    EXPECT_EQ(
        a.authenticate(cl.info(), std::optional<std::string>(hs_token(json::object(), "s3cret"))),
        hook_result::deny)
        << "the token is not taken from the password";
    auto p = make_auth(hmac_config());
    EXPECT_EQ(p.authenticate(client{}.info(), std::nullopt), hook_result::deny) << "no password";
    EXPECT_EQ(p.authenticate(client{}.info(), std::optional<std::string>("")), hook_result::deny);
}

TEST(jwt_claims, Base64Secret) {
    auth_jwt_config c;
    c.hmac_secret = *base64_decode("cm1xdHRzZWNyZXQ=");
    auto a = make_auth(c);
    EXPECT_EQ(connect_with(a, hs_token(json::object(), "rmqttsecret")), hook_result::allow);
}

// ---- the ACL claims ----------------------------------------------------------------------------

TEST(jwt_acl, RulesOfTheTokenDecideForItsConnectionOnly) {
    auto a = make_auth(hmac_config());
    const json acl = json::array({
        {{"permission", "allow"}, {"action", "publish"}, {"topic", "foo/${clientid}"}},
        {{"permission", "allow"}, {"action", "subscribe"}, {"topic", "eq foo/1/#"}},
        {{"permission", "allow"}, {"action", "subscribe"}, {"topic", "foo/2/#"}},
        {{"permission", "deny"}, {"action", "all"}, {"topic", "#"}},
    });
    client me;
    ASSERT_EQ(connect_with(a, hs_token({{"acl", acl}}, "s3cret"), me), hook_result::allow);
    const auto info = me.info();
    EXPECT_EQ(a.check_acl(info, acl_action::publish, "foo/dev1"), hook_result::allow);
    EXPECT_EQ(a.check_acl(info, acl_action::publish, "foo/dev2"), hook_result::deny);
    EXPECT_EQ(a.check_acl(info, acl_action::subscribe, "foo/1/#"), hook_result::allow);
    EXPECT_EQ(a.check_acl(info, acl_action::subscribe, "foo/1/x"), hook_result::deny) << "eq";
    EXPECT_EQ(a.check_acl(info, acl_action::subscribe, "foo/2/+/x"), hook_result::allow);
    EXPECT_EQ(a.check_acl(info, acl_action::subscribe, "$share/g/foo/2/a"), hook_result::allow);
    EXPECT_EQ(a.check_acl(info, acl_action::subscribe, "foo/#"), hook_result::deny);

    client other = me;
    other.peer = "10.1.2.3:9999";  // another connection: no claims known for it
    EXPECT_EQ(a.check_acl(other.info(), acl_action::publish, "foo/dev2"), hook_result::next);

    // The connection ends: its grant goes.
    broker::events::client who{me.id, me.username, me.peer, me.listener, me.version};
    EXPECT_TRUE(a.grants().erase(who));
    EXPECT_EQ(a.check_acl(info, acl_action::publish, "foo/dev2"), hook_result::next);
}

TEST(jwt_acl, SuperuserAndRulesOnQosAndRetain) {
    auto a = make_auth(hmac_config());
    client boss;
    boss.id = "boss";
    ASSERT_EQ(connect_with(a, hs_token({{"superuser", true}}, "s3cret"), boss), hook_result::allow);
    EXPECT_EQ(a.check_acl(boss.info(), acl_action::publish, "any/thing"), hook_result::allow);
    EXPECT_EQ(a.check_acl(boss.info(), acl_action::subscribe, "#"), hook_result::allow);

    client dev;
    const json acl = json::array({
        {{"permission", "allow"},
         {"action", "publish"},
         {"topic", "t/${username}"},
         {"retain", false},
         {"qos", {0, 1}}},
        {{"permission", "deny"}, {"action", "publish"}, {"topic", "t/#"}},
    });
    ASSERT_EQ(connect_with(a, hs_token({{"acl", acl}}, "s3cret"), dev), hook_result::allow);
    // The ACL hook sees no QoS: the first rule that may apply has conditions, so the message
    // hook decides.
    EXPECT_EQ(a.check_acl(dev.info(), acl_action::publish, "t/alice"), hook_result::next);
    broker::message m;
    m.topic = "t/alice";
    m.qos = protocol::qos::at_least_once;
    EXPECT_EQ(a.check_message(m, dev.info()), hook_result::next) << "allowed: QoS 1, no retain";
    m.qos = protocol::qos::exactly_once;
    EXPECT_EQ(a.check_message(m, dev.info()), hook_result::deny) << "QoS 2: the deny rule";
    m.qos = protocol::qos::at_most_once;
    m.retain = true;
    EXPECT_EQ(a.check_message(m, dev.info()), hook_result::deny) << "retained: the deny rule";
}

TEST(jwt_acl, MalformedAclClaimRefusesTheToken) {
    auto a = make_auth(hmac_config());
    for (const json& acl :
         {json("all"), json::array({json(1)}),
          json::array({{{"permission", "maybe"}, {"action", "all"}, {"topic", "#"}}}),
          json::array({{{"permission", "allow"}, {"topic", "#"}}}),
          json::array({{{"permission", "allow"}, {"action", "all"}}}),
          json::array({{{"permission", "allow"}, {"action", "all"}, {"topic", "a/#/b"}}}),
          json::array({{{"permission", "allow"}, {"action", "all"}, {"topic", "a"}, {"qos", 3}}}),
          json::array(
              {{{"permission", "allow"}, {"action", "all"}, {"topic", "a"}, {"retain", "yes"}}})}) {
        EXPECT_EQ(connect_with(a, hs_token({{"acl", acl}}, "s3cret")), hook_result::deny)
            << acl.dump();
    }
    EXPECT_EQ(a.grants().size(), 0u);
}

// ---- the plugin on a fake context --------------------------------------------------------------

TEST_F(jwt_keys, PluginRegistersItsHooksAndRefusesAnUnusableKey) {
    {
        const plugin_file f("rmqtt-auth-jwt", "hmac_secret = \"k\"\ndisconnect_if_expiry = true\n");
        fake_plugin_context ctx;
        auto p = make_plugin();
        p->configure(broker::read_config_file(f.path(), nullptr));
        p->start(ctx);
        EXPECT_TRUE(ctx.hooks_.has_authenticate());
        EXPECT_TRUE(ctx.hooks_.has_acl());
        EXPECT_TRUE(ctx.hooks_.has_message_publish());
        const client cl;
        EXPECT_EQ(ctx.hooks_.authenticate(
                      cl.info(), std::optional<std::string>(hs_token(json::object(), "k"))),
                  hook_result::allow);
        EXPECT_EQ(ctx.hooks_.authenticate(cl.info(), std::optional<std::string>("x")),
                  hook_result::deny);
        p->stop();
        ctx.pool_.join();  // the expiry timer is gone: the pool ends
    }
    const plugin_file bad("rmqtt-auth-jwt",
                          "encrypt = \"public-key\"\npublic_key = \"" + path("none.pem") + "\"\n");
    fake_plugin_context ctx;
    auto p = make_plugin();
    p->configure(broker::read_config_file(bad.path(), nullptr));
    try {
        p->start(ctx);
        ADD_FAILURE() << "started without its key";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(path("none.pem")), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace rmqtt::test
