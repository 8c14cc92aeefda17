// Decodes each stored record kind from arbitrary bytes. Decoding must never crash, read out of
// bounds or allocate by an untrusted length; whatever decodes must survive encode + decode
// unchanged. Values of the current schema version are canonical; older ones re-encode in the
// current version.
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <type_traits>

#include "rmqtt/storage/value_codec.hpp"

namespace {

template <class Record>
void round_trip(std::string_view bytes) {
    Record first;
    if (!rmqtt::storage::decode_value(bytes, first).is_ok()) return;
    const std::string encoded = rmqtt::storage::encode_value(first);
    Record second;
    if (!rmqtt::storage::decode_value(encoded, second).is_ok()) std::abort();
    if (!(first == second)) std::abort();
    // The encoding is canonical: what decoded re-encodes to the same bytes.
    const auto version = static_cast<std::uint8_t>(bytes[0]);
    const bool current = version == rmqtt::storage::value_schema_version ||
                         (std::is_same_v<Record, rmqtt::storage::queue_entry> &&
                          version == rmqtt::storage::shared_message_schema_version);
    if (current && encoded != bytes) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    round_trip<rmqtt::storage::session_record>(bytes);
    round_trip<rmqtt::storage::subscription_record>(bytes);
    round_trip<rmqtt::storage::queue_entry>(bytes);
    round_trip<rmqtt::storage::message_record>(bytes);
    return 0;
}
