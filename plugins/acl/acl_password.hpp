#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

// The passwords of rmqtt-acl's user rules: plain text as RMQTT has them, or hashed so the file
// does not hold them readable:
//   bcrypt         "$2b$<cost>$<22 salt chars><31 hash chars>" ($2a$ and $2y$ too), checked
//                  with libxcrypt's crypt_rn;
//   PBKDF2-SHA256  "$pbkdf2-sha256$<iterations>$<salt>$<hash>", salt and hash in base64
//                  (passlib's form: '.' for '+', no padding; the standard alphabet with '+'
//                  and '=' padding is read too), iterations 1000 to 10000000, hash 16 to 64
//                  bytes (the derived key has the hash's length).
namespace rmqtt::plugins::acl {

class credential {
  public:
    enum class kind { plain, bcrypt, pbkdf2_sha256 };

    // The stored form of a rule's password: a value starting with "$2a$", "$2b$", "$2y$" or
    // "$pbkdf2-sha256$" is a hash and must be well formed (nullopt, with `error` saying what is
    // wrong, never quoting the value); anything else is a plain password.
    static std::optional<credential> parse(std::string_view text, std::string& error);

    kind type() const noexcept { return kind_; }
    bool hashed() const noexcept { return kind_ != kind::plain; }
    // Whether `password` is this one. A hashed credential costs its hash every time (call it off
    // the io threads); the comparison itself takes constant time.
    bool verify(std::string_view password) const;
    // A credential of the same kind and cost that no password matches: checking an unknown
    // user's password against it costs what a known user's check costs.
    credential dummy() const;
    // Names this stored password without revealing it (hex SHA-256 of the stored text):
    // connections keep "rmqtt-acl:<id>" as proof that their password matched it.
    const std::string& proof() const noexcept { return proof_; }

  private:
    credential() = default;
    kind kind_ = kind::plain;
    std::string text_;  // as stored (plain: the password; bcrypt: the whole hash)
    std::string salt_;  // PBKDF2: decoded salt
    std::string hash_;  // PBKDF2: decoded hash
    std::uint32_t iterations_ = 0;
    bool never_matches_ = false;
    std::string proof_;
};

// How many bcrypt / PBKDF2 computations this process has made (tests count the work).
std::uint64_t hash_computations() noexcept;

// "$pbkdf2-sha256$<iterations>$<salt>$<hash>" for `password` (passlib's base64): for tests and
// for documentation examples. Empty when the derivation fails.
std::string pbkdf2_sha256_hash(std::string_view password, std::string_view salt,
                               std::uint32_t iterations, std::size_t hash_size = 32);

}  // namespace rmqtt::plugins::acl
