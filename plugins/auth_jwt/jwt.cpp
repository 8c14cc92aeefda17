// JWS compact tokens: base64url, the algorithms, the keys and the signature check (OpenSSL 3).
#include "auth_jwt/jwt.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <array>
#include <climits>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace rmqtt::plugins::auth_jwt {

namespace {

const unsigned char* bytes(std::string_view s) noexcept {
    return reinterpret_cast<const unsigned char*>(s.data());
}

bool fits_int(std::size_t n) noexcept {
    return n <= static_cast<std::size_t>(INT_MAX);
}

int b64url_value(char c) noexcept {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

constexpr std::array<std::pair<algorithm, std::string_view>, 13> algorithm_names{{
    {algorithm::hs256, "HS256"},
    {algorithm::hs384, "HS384"},
    {algorithm::hs512, "HS512"},
    {algorithm::rs256, "RS256"},
    {algorithm::rs384, "RS384"},
    {algorithm::rs512, "RS512"},
    {algorithm::ps256, "PS256"},
    {algorithm::ps384, "PS384"},
    {algorithm::ps512, "PS512"},
    {algorithm::es256, "ES256"},
    {algorithm::es384, "ES384"},
    {algorithm::es512, "ES512"},
    {algorithm::eddsa, "EdDSA"},
}};

const EVP_MD* digest_of(algorithm a) noexcept {
    switch (a) {
        case algorithm::hs256:
        case algorithm::rs256:
        case algorithm::ps256:
        case algorithm::es256:
            return EVP_sha256();
        case algorithm::hs384:
        case algorithm::rs384:
        case algorithm::ps384:
        case algorithm::es384:
            return EVP_sha384();
        case algorithm::hs512:
        case algorithm::rs512:
        case algorithm::ps512:
        case algorithm::es512:
            return EVP_sha512();
        case algorithm::eddsa:
            return nullptr;  // Ed25519 hashes internally
    }
    return nullptr;
}

struct md_ctx_deleter {
    void operator()(EVP_MD_CTX* c) const noexcept { EVP_MD_CTX_free(c); }
};
struct pkey_deleter {
    void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};
struct bio_deleter {
    void operator()(BIO* b) const noexcept { BIO_free(b); }
};
struct x509_deleter {
    void operator()(X509* x) const noexcept { X509_free(x); }
};
struct ecdsa_sig_deleter {
    void operator()(ECDSA_SIG* s) const noexcept { ECDSA_SIG_free(s); }
};

// JWS carries an ECDSA signature as R || S, each the curve's size (RFC 7518 section 3.4);
// OpenSSL wants DER. Empty for a signature of the wrong length.
std::string ecdsa_raw_to_der(std::string_view raw, std::size_t part) {
    if (raw.size() != 2 * part) return {};
    std::unique_ptr<ECDSA_SIG, ecdsa_sig_deleter> sig(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(bytes(raw), static_cast<int>(part), nullptr);
    BIGNUM* s = BN_bin2bn(bytes(raw.substr(part)), static_cast<int>(part), nullptr);
    if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
        BN_free(r);
        BN_free(s);
        return {};
    }
    const int n = i2d_ECDSA_SIG(sig.get(), nullptr);
    if (n <= 0) return {};
    std::string der(static_cast<std::size_t>(n), '\0');
    auto* out = reinterpret_cast<unsigned char*>(der.data());
    if (i2d_ECDSA_SIG(sig.get(), &out) != n) return {};
    return der;
}

EVP_PKEY* decode_public_key(std::string_view pem) {
    EVP_PKEY* pkey = nullptr;
    OSSL_DECODER_CTX* dctx = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", nullptr, nullptr,
                                                           EVP_PKEY_PUBLIC_KEY, nullptr, nullptr);
    if (dctx != nullptr) {
        const auto* data = bytes(pem);
        std::size_t len = pem.size();
        if (OSSL_DECODER_from_data(dctx, &data, &len) != 1) pkey = nullptr;
        OSSL_DECODER_CTX_free(dctx);
    }
    if (pkey != nullptr) return pkey;
    // A certificate: its subject public key.
    std::unique_ptr<BIO, bio_deleter> bio(
        BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return nullptr;
    std::unique_ptr<X509, x509_deleter> cert(
        PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    return cert ? X509_get_pubkey(cert.get()) : nullptr;
}

}  // namespace

// ---- base64url ---------------------------------------------------------------------------------

std::optional<std::string> base64url_decode(std::string_view text) {
    if (text.size() % 4 == 1) return std::nullopt;
    std::string out;
    out.reserve(text.size() / 4 * 3 + 2);
    std::uint32_t acc = 0;
    int bits = 0;
    for (const char c : text) {
        const int v = b64url_value(c);
        if (v < 0) return std::nullopt;  // '=', '+', '/', whitespace, anything else
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xFF));
        }
    }
    // The bits left over must be zero (RFC 4648 section 3.5: canonical encoding).
    if ((acc & ((1u << bits) - 1)) != 0) return std::nullopt;
    return out;
}

std::string base64url_encode(std::string_view in) {
    static constexpr char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    std::string out;
    out.reserve((in.size() + 2) / 3 * 4);
    std::uint32_t acc = 0;
    int bits = 0;
    for (const char c : in) {
        acc = (acc << 8) | static_cast<unsigned char>(c);
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out.push_back(alphabet[(acc >> bits) & 0x3F]);
        }
    }
    if (bits > 0) out.push_back(alphabet[(acc << (6 - bits)) & 0x3F]);
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    if (text.size() % 4 != 0) return std::nullopt;
    std::size_t pad = 0;
    while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=')
        ++pad;
    std::string url(text.substr(0, text.size() - pad));
    for (char& c : url) {
        if (c == '+') {
            c = '-';
        } else if (c == '/') {
            c = '_';
        } else if (c == '-' || c == '_') {
            return std::nullopt;  // the URL-safe alphabet is not this form
        }
    }
    return base64url_decode(url);
}

// ---- algorithms --------------------------------------------------------------------------------

std::optional<algorithm> parse_algorithm(std::string_view name) noexcept {
    for (const auto& [a, n] : algorithm_names)
        if (n == name) return a;  // case-sensitive (RFC 7515 section 4.1.1)
    return std::nullopt;
}

std::string_view name_of(algorithm a) noexcept {
    for (const auto& [x, n] : algorithm_names)
        if (x == a) return n;
    return "?";
}

// ---- keys --------------------------------------------------------------------------------------

verification_key verification_key::hmac(std::string secret) {
    verification_key k;
    k.kind_ = kind::hmac;
    k.bits_ = static_cast<int>(secret.size() * 8);
    k.secret_ = std::move(secret);
    return k;
}

verification_key verification_key::from_pem(std::string_view pem, const std::string& source) {
    if (!fits_int(pem.size())) throw std::runtime_error(source + ": file too large for a key");
    EVP_PKEY* raw = decode_public_key(pem);
    if (raw == nullptr) {
        throw std::runtime_error(
            source +
            ": no PEM public key (\"-----BEGIN PUBLIC KEY-----\", \"-----BEGIN "
            "RSA PUBLIC KEY-----\") or certificate in it");
    }
    verification_key k;
    k.pkey_.reset(raw, pkey_deleter{});
    k.bits_ = EVP_PKEY_get_bits(raw);
    if (EVP_PKEY_is_a(raw, "RSA")) {
        k.kind_ = kind::rsa;
    } else if (EVP_PKEY_is_a(raw, "ED25519")) {
        k.kind_ = kind::ed25519;
    } else if (EVP_PKEY_is_a(raw, "EC")) {
        char group[64] = {};
        std::size_t len = 0;
        if (EVP_PKEY_get_group_name(raw, group, sizeof group, &len) != 1) len = 0;
        const std::string_view g(group, len);
        if (g == "prime256v1" || g == "P-256") {
            k.kind_ = kind::ec_p256;
        } else if (g == "secp384r1" || g == "P-384") {
            k.kind_ = kind::ec_p384;
        } else if (g == "secp521r1" || g == "P-521") {
            k.kind_ = kind::ec_p521;
        } else {
            throw std::runtime_error(source + ": EC key on curve \"" + std::string(g) +
                                     "\"; JWS uses P-256 (ES256), P-384 (ES384), P-521 (ES512)");
        }
    } else {
        throw std::runtime_error(source + ": a " + EVP_PKEY_get0_type_name(raw) +
                                 " key; expected an RSA, EC (P-256, P-384, P-521) or Ed25519 "
                                 "public key");
    }
    return k;
}

verification_key verification_key::from_pem_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot open the public key file");
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) throw std::runtime_error(path + ": cannot read the public key file");
    return from_pem(text.str(), path);
}

bool verification_key::accepts(algorithm a) const noexcept {
    switch (kind_) {
        case kind::hmac:
            return a == algorithm::hs256 || a == algorithm::hs384 || a == algorithm::hs512;
        case kind::rsa:
            return a == algorithm::rs256 || a == algorithm::rs384 || a == algorithm::rs512 ||
                   a == algorithm::ps256 || a == algorithm::ps384 || a == algorithm::ps512;
        case kind::ec_p256:
            return a == algorithm::es256;
        case kind::ec_p384:
            return a == algorithm::es384;
        case kind::ec_p521:
            return a == algorithm::es512;
        case kind::ed25519:
            return a == algorithm::eddsa;
    }
    return false;
}

bool verification_key::verify(algorithm a, std::string_view signing_input,
                              std::string_view signature) const {
    if (!accepts(a) || !fits_int(signing_input.size()) || !fits_int(signature.size())) return false;
    if (kind_ == kind::hmac) {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        if (!fits_int(secret_.size()) ||
            HMAC(digest_of(a), secret_.data(), static_cast<int>(secret_.size()),
                 bytes(signing_input), signing_input.size(), mac, &len) == nullptr) {
            return false;
        }
        return signature.size() == len && CRYPTO_memcmp(mac, signature.data(), len) == 0;
    }

    std::string der;
    if (kind_ == kind::ec_p256 || kind_ == kind::ec_p384 || kind_ == kind::ec_p521) {
        const std::size_t part = kind_ == kind::ec_p256 ? 32 : kind_ == kind::ec_p384 ? 48 : 66;
        der = ecdsa_raw_to_der(signature, part);
        if (der.empty()) return false;
        signature = der;
    }
    std::unique_ptr<EVP_MD_CTX, md_ctx_deleter> ctx(EVP_MD_CTX_new());
    EVP_PKEY_CTX* pctx = nullptr;
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), &pctx, digest_of(a), nullptr, pkey_.get()) != 1) {
        return false;
    }
    if (a == algorithm::ps256 || a == algorithm::ps384 || a == algorithm::ps512) {
        // RFC 7518 section 3.5: MGF1 with the same hash, salt as long as the hash.
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1) {
            return false;
        }
    }
    return EVP_DigestVerify(ctx.get(), bytes(signature), signature.size(), bytes(signing_input),
                            signing_input.size()) == 1;
}

std::string verification_key::describe() const {
    switch (kind_) {
        case kind::hmac:
            return "an HMAC secret of " + std::to_string(secret_.size()) + " bytes";
        case kind::rsa:
            return "an RSA " + std::to_string(bits_) + "-bit public key";
        case kind::ec_p256:
            return "an EC P-256 public key";
        case kind::ec_p384:
            return "an EC P-384 public key";
        case kind::ec_p521:
            return "an EC P-521 public key";
        case kind::ed25519:
            return "an Ed25519 public key";
    }
    return "a key";
}

// ---- tokens ------------------------------------------------------------------------------------

std::optional<verified_token> verify_token(std::string_view jwt, const verification_key& key,
                                           std::string& why) {
    const auto dot1 = jwt.find('.');
    const auto dot2 = dot1 == std::string_view::npos ? dot1 : jwt.find('.', dot1 + 1);
    if (dot2 == std::string_view::npos || jwt.find('.', dot2 + 1) != std::string_view::npos) {
        why = "not a JWS in compact form (three base64url parts separated by '.')";
        return std::nullopt;
    }
    const auto header_b64 = jwt.substr(0, dot1);
    const auto payload_b64 = jwt.substr(dot1 + 1, dot2 - dot1 - 1);
    const auto signature_b64 = jwt.substr(dot2 + 1);

    const auto header_text = base64url_decode(header_b64);
    const auto payload_text = base64url_decode(payload_b64);
    const auto signature = base64url_decode(signature_b64);
    if (!header_text || !payload_text || !signature) {
        why = "a part is not base64url (RFC 7515 section 2)";
        return std::nullopt;
    }

    verified_token t;
    t.header = nlohmann::json::parse(*header_text, nullptr, false);
    if (!t.header.is_object()) {
        why = "the header is not a JSON object";
        return std::nullopt;
    }
    const auto alg_it = t.header.find("alg");
    if (alg_it == t.header.end() || !alg_it->is_string()) {
        why = "the header has no \"alg\"";
        return std::nullopt;
    }
    const auto& alg_name = alg_it->get_ref<const std::string&>();
    const auto alg = parse_algorithm(alg_name);
    if (!alg) {
        why = "algorithm \"" + alg_name.substr(0, 32) + "\" is not supported";
        return std::nullopt;
    }
    // RFC 7515 section 4.1.11: extensions named in "crit" must be understood; none are.
    if (t.header.contains("crit")) {
        why = "the header names critical extensions (\"crit\"), which are not supported";
        return std::nullopt;
    }
    if (!key.accepts(*alg)) {
        why = "algorithm " + std::string(name_of(*alg)) + " does not fit the configured key (" +
              key.describe() + ")";
        return std::nullopt;
    }
    // The signature covers the encoded header and payload exactly as sent.
    if (!key.verify(*alg, jwt.substr(0, dot2), *signature)) {
        why = "bad signature";
        return std::nullopt;
    }
    t.claims = nlohmann::json::parse(*payload_text, nullptr, false);
    if (!t.claims.is_object()) {
        why = "the claims are not a JSON object";
        return std::nullopt;
    }
    t.alg = *alg;
    return t;
}

}  // namespace rmqtt::plugins::auth_jwt
