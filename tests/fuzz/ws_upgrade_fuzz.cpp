// Fuzz target for the WebSocket upgrade request (net/ws_upgrade.hpp): the first byte picks the
// size of the pieces the rest is fed in. Checks that the parser never reads past what it was
// given, that a request read in pieces is the request read at once, and that every answer is a
// well-formed HTTP response that accepts exactly when it says 101. Any difference aborts.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "net/ws_upgrade.hpp"

namespace {

using rmqtt::broker::answer_upgrade;
using rmqtt::broker::refuse_upgrade;
using rmqtt::broker::ws_upgrade_answer;
using rmqtt::broker::ws_upgrade_parser;
using status = ws_upgrade_parser::status;

constexpr std::size_t limit = 2048;  // small, so inputs reach the size limit too

// Names the failed check on stderr before aborting, so a crashing input is easy to read.
#define check(ok) check_at((ok), #ok, __LINE__)
void check_at(bool ok, const char* what, int line) {
    if (ok) return;
    std::fprintf(stderr, "check failed at line %d: %s\n", line, what);
    std::abort();
}

void check_answer(const ws_upgrade_answer& a) {
    const std::string_view r = a.response;
    check(r.starts_with("HTTP/1.1 "));
    check(r.find("\r\n\r\n") != std::string_view::npos);
    check(a.accepted() == r.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
    if (a.accepted()) {
        check(a.subprotocol == "mqtt" || a.subprotocol == "mqttv3.1");
        const auto at = r.find("\r\nSec-WebSocket-Accept: ");
        check(at != std::string_view::npos);
        check(r.substr(at + 24, 30).ends_with("=\r\n"));  // 28 characters of base64
        check(r.ends_with("\r\n\r\n"));
    } else {
        check(r[9] == '4');  // every refusal is a 4xx
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::size_t step = 1 + data[0];
    const std::span<const std::uint8_t> input(data + 1, size - 1);

    ws_upgrade_parser pieces(limit);
    auto st = status::need_more;
    std::size_t end = 0;  // where the request ended in `input`
    for (std::size_t off = 0; off < input.size() && st == status::need_more; off += step) {
        const auto piece = input.subspan(off, std::min(step, input.size() - off));
        std::size_t consumed = 0;
        st = pieces.feed(piece, consumed);
        check(consumed <= piece.size());
        check(st == status::complete || consumed == 0);
        if (st == status::complete) end = off + consumed;
    }
    if (st == status::failed) check_answer(refuse_upgrade(pieces.error()));
    if (st != status::complete) return 0;
    check(end >= 1 && end <= limit);
    std::size_t again = 0;
    check(pieces.feed(input, again) == status::complete && again == 0);

    // The same bytes at once: the same request, ending at the same place.
    ws_upgrade_parser whole(limit);
    std::size_t consumed = 0;
    check(whole.feed(input, consumed) == status::complete);
    check(consumed == end);
    check(whole.request().target == pieces.request().target);
    check(whole.request().headers == pieces.request().headers);
    check(whole.request().method == pieces.request().method);

    for (const char* path : {"/mqtt", ""})
        check_answer(answer_upgrade(pieces.request(), path));
    return 0;
}
