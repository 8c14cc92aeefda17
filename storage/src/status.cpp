#include "rmqtt/storage/status.hpp"

namespace rmqtt::storage {

namespace {
const char* code_name(status::code c) noexcept {
    switch (c) {
        case status::code::ok:
            return "ok";
        case status::code::not_found:
            return "not found";
        case status::code::corruption:
            return "corruption";
        case status::code::io_error:
            return "io error";
        case status::code::unavailable:
            return "unavailable";
        case status::code::invalid_argument:
            return "invalid argument";
    }
    return "unknown";
}
}  // namespace

std::string status::to_string() const {
    if (is_ok()) return "ok";
    std::string out = code_name(code_);
    if (!message_.empty()) {
        out += ": ";
        out += message_;
    }
    return out;
}

}  // namespace rmqtt::storage
