#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

// JSON Web Tokens in the JWS compact serialization (RFC 7515, RFC 7519): decoding and the
// signature check, on OpenSSL. No claim is checked here (jwt_claims.hpp does that).
struct evp_pkey_st;

namespace rmqtt::plugins::auth_jwt {

// RFC 7515 section 2 "Base64url Encoding": the URL-safe alphabet, no padding, no whitespace, no
// non-zero bits after the last whole byte. nullopt for anything else.
std::optional<std::string> base64url_decode(std::string_view text);
std::string base64url_encode(std::string_view bytes);
// RFC 4648 section 4 base64 (standard alphabet, padded to a multiple of 4, canonical): the form
// of hmac_secret with hmac_base64 = true.
std::optional<std::string> base64_decode(std::string_view text);

// The JWS algorithms rmqttd verifies (RFC 7518 section 3.1). "none" is not one of them.
enum class algorithm {
    hs256,
    hs384,
    hs512,
    rs256,
    rs384,
    rs512,
    ps256,
    ps384,
    ps512,
    es256,
    es384,
    es512,
    eddsa
};
std::optional<algorithm> parse_algorithm(std::string_view name) noexcept;
std::string_view name_of(algorithm a) noexcept;

// The key tokens are checked against, and so the algorithms a token may name: a secret takes
// HS256/384/512 only, an RSA key RS256/384/512 and PS256/384/512, an EC key the one ES
// algorithm of its curve (P-256: ES256, P-384: ES384, P-521: ES512), an Ed25519 key EdDSA.
// A token whose "alg" does not fit the key is refused before any signature check, so an RSA
// public key can never be used as an HMAC secret ("algorithm confusion"). Immutable; safe to use
// from every thread.
class verification_key {
  public:
    static verification_key hmac(std::string secret);
    // A PEM public key ("PUBLIC KEY", "RSA PUBLIC KEY") or a PEM certificate. Throws
    // std::runtime_error naming `source` when it holds none, or a key of another type.
    static verification_key from_pem(std::string_view pem, const std::string& source);
    // The same, read from a file; the error names the file.
    static verification_key from_pem_file(const std::string& path);

    bool accepts(algorithm a) const noexcept;
    // Checks `signature` over `signing_input` ("<header>.<payload>" as sent). False for an
    // algorithm the key does not accept.
    bool verify(algorithm a, std::string_view signing_input, std::string_view signature) const;
    // "an HMAC secret", "an RSA 2048-bit public key", "an EC P-256 public key", ...
    std::string describe() const;
    int bits() const noexcept { return bits_; }

  private:
    enum class kind { hmac, rsa, ec_p256, ec_p384, ec_p521, ed25519 };
    verification_key() = default;
    kind kind_ = kind::hmac;
    std::string secret_;
    std::shared_ptr<evp_pkey_st> pkey_;
    int bits_ = 0;
};

struct verified_token {
    algorithm alg = algorithm::hs256;
    nlohmann::json header;  // an object
    nlohmann::json claims;  // an object
};

// Splits a compact JWS into its three parts, decodes them strictly (base64url, JSON objects,
// "alg" present and known, no "crit" extension), checks that the key accepts the algorithm and
// that the signature is valid. nullopt with `why` set otherwise (`why` never quotes the token).
std::optional<verified_token> verify_token(std::string_view jwt, const verification_key& key,
                                           std::string& why);

}  // namespace rmqtt::plugins::auth_jwt
