// Fuzz target for the WebSocket framing through wslay (net/ws_framer.hpp). The first byte picks
// the mode:
//  - even: the rest is client bytes, fed in pieces (the second byte picks their size). The binary
//    payload can never be longer than the input, the server's output is whole, unmasked frames,
//    the stream's end is final, and a failure leaves a close frame as the last frame sent.
//  - odd: the rest is a script of valid client frames (binary messages cut into fragments, pings
//    and pongs between them), encoded, fed in pieces; the payload must come out exactly, every
//    ping must be answered by its pong, and the stream must stay open.
// Any difference aborts.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "../support/ws_frames.hpp"
#include "net/ws_framer.hpp"

namespace {

using rmqtt::broker::ws_framer;
namespace ws = rmqtt::test::ws;
using status = ws_framer::status;

constexpr std::uint64_t max_frame = 4096;

// Names the failed check on stderr before aborting, so a crashing input is easy to read.
#define check(ok) check_at((ok), #ok, __LINE__)
void check_at(bool ok, const char* what, int line) {
    if (ok) return;
    std::fprintf(stderr, "check failed at line %d: %s\n", line, what);
    std::abort();
}

// The frames of the server's output (all of it must be whole frames).
std::vector<ws::frame> frames_of(const std::vector<std::uint8_t>& out) {
    std::vector<ws::frame> frames;
    std::span<const std::uint8_t> rest(out);
    while (!rest.empty()) {
        ws::frame f;
        const auto n = ws::parse_frame(rest, f);
        check(n > 0);
        check(!f.masked && f.fin && f.rsv == 0);
        frames.push_back(std::move(f));
        rest = rest.subspan(n);
    }
    return frames;
}

void raw_bytes(std::span<const std::uint8_t> input) {
    if (input.empty()) return;
    const std::size_t step = 1 + input[0];
    input = input.subspan(1);
    ws_framer f(max_frame);
    std::vector<std::uint8_t> data;
    std::vector<std::uint8_t> out;
    auto st = status::open;
    for (std::size_t off = 0; off < input.size(); off += step) {
        const auto before = st;
        st = f.feed(input.subspan(off, std::min(step, input.size() - off)), data);
        check(before == status::open || st == before);  // the end is final
        out.insert(out.end(), f.output().begin(), f.output().end());
        f.output().clear();
    }
    check(data.size() <= input.size());
    const auto sent = frames_of(out);
    for (const auto& fr : sent)
        check(fr.opcode == ws::pong || fr.opcode == ws::close);
    if (st == status::failed) {
        check(f.error().value() != 0);
        check(!sent.empty() && sent.back().opcode == ws::close);
    }
    // Whatever happened, sending works or is refused after a close, and stays well-formed.
    f.send_binary(input.first(std::min<std::size_t>(input.size(), 300)));
    const auto after = frames_of(f.output());
    check(after.size() <= 1);
    check(after.empty() == (f.close_queued() || input.empty()));
}

void script(std::span<const std::uint8_t> s) {
    std::vector<std::uint8_t> wire;
    std::vector<std::uint8_t> expected;
    std::vector<std::vector<std::uint8_t>> pings;
    std::size_t i = 0;
    auto next = [&]() -> std::uint8_t { return i < s.size() ? s[i++] : 0; };
    const std::size_t step = 1 + next();
    while (i < s.size()) {
        const std::uint8_t op = next();
        std::uint8_t len = next();
        ws::frame_options o;
        o.mask = {next(), next(), next(), next()};
        if (op % 4 == 0) {  // a ping or a pong of up to 125 bytes
            len = static_cast<std::uint8_t>(len % 126);
            std::vector<std::uint8_t> payload;
            for (std::uint8_t k = 0; k < len; ++k)
                payload.push_back(next());
            const bool ping = (op & 4) != 0;
            auto fr = ws::client_frame(ping ? ws::ping : ws::pong, payload, o);
            wire.insert(wire.end(), fr.begin(), fr.end());
            if (ping) pings.push_back(payload);
            continue;
        }
        // A binary message in 1..4 fragments, with a ping between fragments when asked.
        const int fragments = 1 + (op >> 6);
        for (int k = 0; k < fragments; ++k) {
            std::vector<std::uint8_t> payload;
            const std::size_t n = (k == 0 ? len : next()) % 200;
            for (std::size_t b = 0; b < n; ++b)
                payload.push_back(next());
            expected.insert(expected.end(), payload.begin(), payload.end());
            o.fin = k == fragments - 1;
            auto fr = ws::client_frame(k == 0 ? ws::binary : ws::continuation, payload, o);
            wire.insert(wire.end(), fr.begin(), fr.end());
            if (!o.fin && (op & 0x20)) {
                const std::vector<std::uint8_t> ping_payload{next()};
                auto ping = ws::client_frame(ws::ping, ping_payload);
                wire.insert(wire.end(), ping.begin(), ping.end());
                pings.push_back(ping_payload);
            }
        }
    }
    ws_framer f(max_frame);
    std::vector<std::uint8_t> data;
    for (std::size_t off = 0; off < wire.size(); off += step) {
        const std::span<const std::uint8_t> piece(wire.data() + off,
                                                  std::min(step, wire.size() - off));
        check(f.feed(piece, data) == status::open);
    }
    check(data == expected);
    const auto sent = frames_of(f.output());
    check(sent.size() == pings.size());
    for (std::size_t k = 0; k < sent.size(); ++k)
        check(sent[k].opcode == ws::pong && sent[k].payload == pings[k]);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::span<const std::uint8_t> rest(data + 1, size - 1);
    if (data[0] % 2 == 0)
        raw_bytes(rest);
    else
        script(rest);
    return 0;
}
