#include "rmqtt/broker/base64.hpp"

#include <openssl/evp.h>

#include <climits>

namespace rmqtt::broker {

namespace {

const unsigned char* bytes(std::string_view s) noexcept {
    return reinterpret_cast<const unsigned char*>(s.data());
}
unsigned char* bytes(std::string& s) noexcept {
    return reinterpret_cast<unsigned char*>(s.data());
}

bool is_base64_char(char c) noexcept {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

}  // namespace

std::string base64_encode(std::string_view in) {
    if (in.size() > static_cast<std::size_t>(INT_MAX) / 2) return {};
    std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(bytes(out), bytes(in), static_cast<int>(in.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    // EVP_DecodeBlock skips whitespace and does not report padding, so check the form first.
    if (text.size() % 4 != 0 || text.size() > static_cast<std::size_t>(INT_MAX))
        return std::nullopt;
    std::size_t pad = 0;
    while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=')
        ++pad;
    for (std::size_t i = 0; i + pad < text.size(); ++i) {
        if (!is_base64_char(text[i])) return std::nullopt;
    }
    if (text.empty()) return std::string();
    std::string out(text.size() / 4 * 3, '\0');
    const int n = EVP_DecodeBlock(bytes(out), bytes(text), static_cast<int>(text.size()));
    if (n < 0 || static_cast<std::size_t>(n) != out.size()) return std::nullopt;
    out.resize(out.size() - pad);
    return out;
}

}  // namespace rmqtt::broker
