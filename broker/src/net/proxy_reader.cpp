#include "net/proxy_reader.hpp"

#include <spdlog/spdlog.h>
#include <asio/read.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <memory>
#include <vector>

#include "config/logging.hpp"
#include "net/peer_address.hpp"

namespace rmqtt::broker {

asio::awaitable<void> read_proxy_header(tcp_socket& socket, std::chrono::milliseconds timeout,
                                        proxy_header& out, std::error_code& ec) {
    // The timer cancels the pending socket operation. The coroutine may finish while the
    // timer's handler is already queued, so the handler checks the shared flag before it
    // touches the socket (one executor, no race).
    struct watch {
        bool done = false;
        bool fired = false;
    };
    auto w = std::make_shared<watch>();
    asio::steady_timer timer(socket.get_executor());
    timer.expires_after(timeout);
    timer.async_wait([w, &socket](std::error_code e) {
        if (e || w->done) return;
        w->fired = true;
        std::error_code ignored;
        socket.cancel(ignored);
    });

    constexpr std::size_t peek_chunk = 512;
    std::vector<std::uint8_t> buf;
    proxy_parse_result r;
    ec.clear();
    while (!ec) {
        const std::size_t have = buf.size();
        buf.resize(have + peek_chunk);
        // Peeking never consumes: what follows the header stays in the socket.
        const std::size_t n = co_await socket.async_receive(
            asio::buffer(buf.data() + have, peek_chunk), asio::socket_base::message_peek,
            asio::redirect_error(asio::use_awaitable, ec));
        if (ec) break;
        buf.resize(have + n);
        r = parse_proxy_header(buf, out);
        if (r.status == proxy_parse_status::invalid) {
            ec = std::make_error_code(std::errc::protocol_error);
            break;
        }
        // Every peeked byte of an incomplete header belongs to it; of a complete one, only the
        // header's. They are in the socket's buffer already, so this read does not wait.
        const std::size_t take = r.status == proxy_parse_status::complete ? r.size - have : n;
        co_await asio::async_read(socket, asio::buffer(buf.data() + have, take),
                                  asio::redirect_error(asio::use_awaitable, ec));
        if (!ec && r.status == proxy_parse_status::complete) break;
        buf.resize(have + take);
    }
    w->done = true;
    timer.cancel();
    if (w->fired) ec = std::make_error_code(std::errc::timed_out);
    if (!ec) co_return;
    const auto peer = peer_address(socket);
    if (w->fired) {
        log_with({peer, {}}, spdlog::level::info,
                 "no PROXY protocol header within proxy_protocol_timeout ({} ms); closing",
                 timeout.count());
    } else if (ec == std::errc::protocol_error) {
        log_with({peer, {}}, spdlog::level::info, "bad PROXY protocol header ({}); closing",
                 r.error);
    } else if (ec != asio::error::operation_aborted) {
        log_with({peer, {}}, spdlog::level::debug,
                 "connection ended before its PROXY protocol header ({})", ec.message());
    }
}

}  // namespace rmqtt::broker
