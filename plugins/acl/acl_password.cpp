// rmqtt-acl's stored passwords: plain, bcrypt (libxcrypt), PBKDF2-SHA256 (OpenSSL).
#include "acl/acl_password.hpp"

#include <crypt.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <atomic>
#include <charconv>
#include <climits>
#include <memory>

namespace rmqtt::plugins::acl {

namespace {

std::atomic<std::uint64_t> hashes{0};

constexpr std::uint32_t min_iterations = 1000;
constexpr std::uint32_t max_iterations = 10'000'000;
constexpr std::string_view pbkdf2_prefix = "$pbkdf2-sha256$";

std::string sha256(std::string_view data) {
    std::string out(SHA256_DIGEST_LENGTH, '\0');
    SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(),
           reinterpret_cast<unsigned char*>(out.data()));
    return out;
}

std::string hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const char c : bytes) {
        const auto b = static_cast<unsigned char>(c);
        out += digits[b >> 4];
        out += digits[b & 0xF];
    }
    return out;
}

bool equal_secret(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

int base64_value(char c) noexcept {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '.') return 62;
    if (c == '/') return 63;
    return -1;
}

// Base64 with '+' or '.' as the 62nd character, padding optional; nullopt for anything else.
std::optional<std::string> base64_decode(std::string_view s) {
    while (!s.empty() && s.back() == '=')
        s.remove_suffix(1);
    if (s.size() % 4 == 1) return std::nullopt;
    std::string out;
    out.reserve(s.size() * 3 / 4);
    std::uint32_t acc = 0;
    int bits = 0;
    for (const char c : s) {
        const int v = base64_value(c);
        if (v < 0) return std::nullopt;
        acc = (acc << 6) | static_cast<std::uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xFF);
        }
    }
    return out;
}

// passlib's "adapted base64": standard alphabet, '.' for '+', no padding.
std::string ab64_encode(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(bytes.data()),
                                  static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(n));
    while (!out.empty() && out.back() == '=')
        out.pop_back();
    for (auto& c : out)
        if (c == '+') c = '.';
    return out;
}

std::string derive(std::string_view password, std::string_view salt, std::uint32_t iterations,
                   std::size_t size) {
    hashes.fetch_add(1, std::memory_order_relaxed);
    std::string out(size, '\0');
    if (password.size() > INT_MAX || salt.size() > INT_MAX ||
        PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                          reinterpret_cast<const unsigned char*>(salt.data()),
                          static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                          static_cast<int>(size),
                          reinterpret_cast<unsigned char*>(out.data())) != 1) {
        return {};
    }
    return out;
}

bool is_bcrypt_char(char c) noexcept {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '/';
}

// "$2b$10$" + 53 characters of ./A-Za-z0-9, cost 4 to 31.
bool valid_bcrypt(std::string_view s, std::string& error) {
    if (s.size() != 60 || s[3] != '$' || s[6] != '$' || s[4] < '0' || s[4] > '9' || s[5] < '0' ||
        s[5] > '9') {
        error = "a bcrypt hash is \"$2b$<cost>$\" and 53 characters (60 in all)";
        return false;
    }
    const int cost = (s[4] - '0') * 10 + (s[5] - '0');
    if (cost < 4 || cost > 31) {
        error = "a bcrypt cost is 04 to 31";
        return false;
    }
    for (std::size_t i = 7; i < s.size(); ++i) {
        if (!is_bcrypt_char(s[i])) {
            error = "a bcrypt hash has only the characters ./A-Za-z0-9 after its cost";
            return false;
        }
    }
    return true;
}

}  // namespace

std::optional<credential> credential::parse(std::string_view text, std::string& error) {
    credential c;
    c.text_ = std::string(text);
    c.proof_ = "rmqtt-acl:" + hex(sha256(text));
    if (text.starts_with("$2a$") || text.starts_with("$2b$") || text.starts_with("$2y$")) {
        if (!valid_bcrypt(text, error)) return std::nullopt;
        c.kind_ = kind::bcrypt;
        return c;
    }
    if (text.starts_with(pbkdf2_prefix)) {
        constexpr std::string_view form =
            "a PBKDF2 hash is \"$pbkdf2-sha256$<iterations>$<salt base64>$<hash base64>\"";
        std::string_view rest = text.substr(pbkdf2_prefix.size());
        const auto d1 = rest.find('$');
        const auto d2 = d1 == std::string_view::npos ? d1 : rest.find('$', d1 + 1);
        if (d2 == std::string_view::npos || rest.find('$', d2 + 1) != std::string_view::npos) {
            error = form;
            return std::nullopt;
        }
        const auto it = rest.substr(0, d1);
        std::uint32_t n = 0;
        const auto [end, ec] = std::from_chars(it.data(), it.data() + it.size(), n);
        if (ec != std::errc() || end != it.data() + it.size() || n < min_iterations ||
            n > max_iterations) {
            error = std::string(form) + " with iterations from 1000 to 10000000";
            return std::nullopt;
        }
        auto salt = base64_decode(rest.substr(d1 + 1, d2 - d1 - 1));
        auto hash = base64_decode(rest.substr(d2 + 1));
        if (!salt || salt->empty() || !hash || hash->size() < 16 || hash->size() > 64) {
            error = std::string(form) + ", a non-empty salt and a hash of 16 to 64 bytes";
            return std::nullopt;
        }
        c.kind_ = kind::pbkdf2_sha256;
        c.iterations_ = n;
        c.salt_ = std::move(*salt);
        c.hash_ = std::move(*hash);
        return c;
    }
    c.kind_ = kind::plain;
    return c;
}

bool credential::verify(std::string_view password) const {
    // A NUL would end the password early for crypt(): such a password never matches, at the
    // same cost.
    const bool has_nul = password.find('\0') != std::string_view::npos;
    bool ok = false;
    switch (kind_) {
        case kind::plain:
            // Hashing both sides first keeps the comparison independent of the lengths.
            ok = equal_secret(sha256(password), sha256(text_));
            break;
        case kind::bcrypt: {
            hashes.fetch_add(1, std::memory_order_relaxed);
            auto data = std::make_unique<crypt_data>();
            const std::string phrase(password.substr(0, password.find('\0')));
            const char* out =
                crypt_rn(phrase.c_str(), text_.c_str(), data.get(), static_cast<int>(sizeof *data));
            ok = out != nullptr && equal_secret(out, text_);
            break;
        }
        case kind::pbkdf2_sha256: {
            const std::string got = derive(password, salt_, iterations_, hash_.size());
            ok = !got.empty() && equal_secret(got, hash_);
            break;
        }
    }
    return ok && !has_nul && !never_matches_;
}

credential credential::dummy() const {
    credential d = *this;
    d.never_matches_ = true;
    d.proof_.clear();
    return d;
}

std::uint64_t hash_computations() noexcept {
    return hashes.load(std::memory_order_relaxed);
}

std::string pbkdf2_sha256_hash(std::string_view password, std::string_view salt,
                               std::uint32_t iterations, std::size_t hash_size) {
    const std::string key = derive(password, salt, iterations, hash_size);
    if (key.empty()) return {};
    return std::string(pbkdf2_prefix) + std::to_string(iterations) + "$" + ab64_encode(salt) + "$" +
           ab64_encode(key);
}

}  // namespace rmqtt::plugins::acl
