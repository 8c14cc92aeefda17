#pragma once

#include <optional>
#include <string>
#include <string_view>

// Standard base64 (RFC 4648 section 4: the standard alphabet, padded) over OpenSSL. Part of the
// plugin API: payloads in HTTP API answers and web hook bodies, SCRAM exchanges, the store
// tool's JSON Lines.
namespace rmqtt::broker {

std::string base64_encode(std::string_view bytes);
// Strict: the standard alphabet, padded, no whitespace; nullopt for anything else.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace rmqtt::broker
