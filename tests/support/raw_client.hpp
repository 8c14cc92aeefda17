#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "rmqtt/protocol/codec.hpp"
#include "rmqtt/protocol/packets.hpp"

namespace rmqtt::test {

// An MQTT client on a plain socket, for tests that must control every byte: conformance
// sequences, malformed input, a subscriber that never acknowledges.
class raw_client {
  public:
    explicit raw_client(std::uint16_t port, protocol::version v = protocol::version::v3_1_1);
    ~raw_client();
    raw_client(const raw_client&) = delete;
    raw_client& operator=(const raw_client&) = delete;

    protocol::version version() const noexcept { return version_; }
    void set_version(protocol::version v) noexcept { version_ = v; }

    void send_bytes(const std::vector<std::uint8_t>& bytes);
    void send(const protocol::packet& p);

    // The next whole packet, decoded with the client's version; nullopt on timeout or close.
    std::optional<protocol::packet> receive(
        std::chrono::milliseconds timeout = std::chrono::seconds(5));
    // The next whole packet's bytes.
    std::optional<std::vector<std::uint8_t>> receive_frame(
        std::chrono::milliseconds timeout = std::chrono::seconds(5));
    // True when the server closes the connection within `timeout` (bytes that arrive before
    // the close are collected into `before`, if given).
    bool wait_closed(std::chrono::milliseconds timeout = std::chrono::seconds(5),
                     std::vector<std::uint8_t>* before = nullptr);

    // CONNECT and expect CONNACK; returns it (or nullopt).
    std::optional<protocol::connack> connect(const protocol::connect& c);
    std::optional<protocol::connack> connect(const std::string& client_id, bool clean_start = true,
                                             std::uint16_t keep_alive = 60);

  private:
    bool fill(std::chrono::steady_clock::time_point deadline);
    int fd_ = -1;
    protocol::version version_;
    std::vector<std::uint8_t> buf_;
    bool eof_ = false;
};

// Builds the bytes of a packet for `v`.
std::vector<std::uint8_t> encode_packet(protocol::version v, const protocol::packet& p);
// A TCP connection to 127.0.0.1:`port` with TCP_NODELAY (the test clients' socket); throws
// std::runtime_error when it cannot be made.
int connect_loopback(std::uint16_t port);
// One read of what arrives on `fd` before `deadline`, appended to `buf`. False on timeout, and on
// end of stream or error, which also set `eof`.
bool read_before(int fd, std::chrono::steady_clock::time_point deadline,
                 std::vector<std::uint8_t>& buf, bool& eof);
// Parses "10 0C 00 04 4D 51 54 54" (hex, spaces ignored).
std::vector<std::uint8_t> hex(const std::string& text);

}  // namespace rmqtt::test
