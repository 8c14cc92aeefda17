#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "rmqtt/protocol/properties.hpp"

// Internal to rmqtt_protocol: bounds-checked reading from a packet body and unchecked writing into
// an output buffer whose size was computed beforehand. Not part of the public API.
namespace rmqtt::protocol::detail {

// Reads big-endian integers and length-prefixed fields. Every read checks the bounds and returns
// false when the input is too short; the position is then unspecified and the caller gives up.
class reader {
  public:
    reader(const std::uint8_t* begin, const std::uint8_t* end) noexcept : p_(begin), end_(end) {}

    std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - p_); }
    bool empty() const noexcept { return p_ == end_; }
    const std::uint8_t* position() const noexcept { return p_; }
    const std::uint8_t* end() const noexcept { return end_; }

    bool u8(std::uint8_t& v) noexcept {
        if (p_ == end_) return false;
        v = *p_++;
        return true;
    }
    bool u16(std::uint16_t& v) noexcept {
        if (remaining() < 2) return false;
        v = static_cast<std::uint16_t>(p_[0] << 8 | p_[1]);
        p_ += 2;
        return true;
    }
    bool u32(std::uint32_t& v) noexcept {
        if (remaining() < 4) return false;
        v = static_cast<std::uint32_t>(p_[0]) << 24 | static_cast<std::uint32_t>(p_[1]) << 16 |
            static_cast<std::uint32_t>(p_[2]) << 8 | static_cast<std::uint32_t>(p_[3]);
        p_ += 4;
        return true;
    }
    // A two-byte length followed by that many bytes (UTF-8 string or Binary Data).
    bool prefixed(std::string_view& v) noexcept {
        std::uint16_t len = 0;
        if (!u16(len) || remaining() < len) return false;
        v = std::string_view(reinterpret_cast<const char*>(p_), len);
        p_ += len;
        return true;
    }
    bool prefixed(std::string& v) {
        std::string_view sv;
        if (!prefixed(sv)) return false;
        v.assign(sv);
        return true;
    }
    // The rest of the input.
    std::string_view rest() noexcept {
        std::string_view v(reinterpret_cast<const char*>(p_), remaining());
        p_ = end_;
        return v;
    }
    void skip(std::size_t n) noexcept { p_ += n; }

  private:
    const std::uint8_t* p_;
    const std::uint8_t* end_;
};

// Writes into memory the caller has sized exactly; no bounds checks.
class writer {
  public:
    explicit writer(std::uint8_t* p) noexcept : p_(p) {}

    std::uint8_t* position() const noexcept { return p_; }

    void u8(std::uint8_t v) noexcept { *p_++ = v; }
    void u16(std::uint16_t v) noexcept {
        p_[0] = static_cast<std::uint8_t>(v >> 8);
        p_[1] = static_cast<std::uint8_t>(v);
        p_ += 2;
    }
    void u32(std::uint32_t v) noexcept {
        p_[0] = static_cast<std::uint8_t>(v >> 24);
        p_[1] = static_cast<std::uint8_t>(v >> 16);
        p_[2] = static_cast<std::uint8_t>(v >> 8);
        p_[3] = static_cast<std::uint8_t>(v);
        p_ += 4;
    }
    void varint(std::uint32_t v) noexcept {
        do {
            std::uint8_t b = static_cast<std::uint8_t>(v & 0x7F);
            v >>= 7;
            if (v != 0) b |= 0x80;
            *p_++ = b;
        } while (v != 0);
    }
    void raw(std::string_view s) noexcept {
        if (!s.empty()) std::memcpy(p_, s.data(), s.size());
        p_ += s.size();
    }
    // Two-byte length then the bytes. The caller guarantees s.size() <= 65535.
    void prefixed(std::string_view s) noexcept {
        u16(static_cast<std::uint16_t>(s.size()));
        raw(s);
    }

  private:
    std::uint8_t* p_;
};

// Bytes writer::varint() writes. A value above the protocol's 268,435,455 (a caller breaking the
// contract) counts 5 bytes, as written, so the output is invalid but never overrun.
constexpr std::size_t varint_len(std::uint32_t v) noexcept {
    return v < 128u ? 1 : v < 16384u ? 2 : v < 2097152u ? 3 : v < 268435456u ? 4 : 5;
}

// Writes the property list with its length prefix; `body_size` is props.encoded_size().
void write_properties(writer& w, const properties& props, std::size_t body_size) noexcept;

}  // namespace rmqtt::protocol::detail
