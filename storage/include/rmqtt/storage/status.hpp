#pragma once

#include <string>
#include <utility>

namespace rmqtt::storage {

// The result of a store call. Ignoring one is a compile warning; to drop an error on purpose,
// write `(void)` and say why.
class [[nodiscard]] status {
  public:
    enum class code {
        ok,
        not_found,
        corruption,        // stored bytes cannot be decoded, or the engine reports corruption
        io_error,          // disk full, permission denied, ...
        unavailable,       // the backend cannot be reached (Redis down); retrying may succeed
        invalid_argument,  // bad configuration or request
    };

    status() = default;
    static status ok() { return {}; }
    static status error(code c, std::string message) { return status{c, std::move(message)}; }

    bool is_ok() const noexcept { return code_ == code::ok; }
    explicit operator bool() const noexcept { return is_ok(); }
    code error_code() const noexcept { return code_; }
    const std::string& message() const noexcept { return message_; }
    // "ok", or "<code>: <message>" for logs.
    std::string to_string() const;

  private:
    status(code c, std::string m) : code_(c), message_(std::move(m)) {}
    code code_ = code::ok;
    std::string message_;
};

}  // namespace rmqtt::storage
