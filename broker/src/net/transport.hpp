#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/ip/tcp.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "net/tcp_socket.hpp"

namespace rmqtt::broker {

// A byte stream an MQTT connection runs over: TCP now; TLS and WebSocket wrap a lower transport
// of the same shape (wss = ws over tls over tcp). Used by one connection on its executor only.
class transport {
  public:
    virtual ~transport() = default;

    // Completes the transport's own handshake (PROXY header, TLS, WebSocket upgrade); a no-op
    // for TCP. The peer's address and certificate are known only after it.
    virtual asio::awaitable<void> handshake(std::error_code& ec) {
        ec.clear();
        co_return;
    }
    // False when handshake() has nothing to do (plain TCP without the PROXY protocol): the
    // caller skips it, and the coroutine frame it would allocate.
    virtual bool has_handshake() const noexcept { return true; }
    // Completes with at least one byte, or with an error (end of stream is asio::error::eof).
    virtual asio::awaitable<std::size_t> read_some(asio::mutable_buffer buf,
                                                   std::error_code& ec) = 0;
    // Reading by readiness, for transports that can tell that bytes are waiting without a
    // caller's buffer (plain TCP; TLS and WebSocket buffer and decode inside, so they keep
    // read_some()). It lets an idle connection hold no read buffer and no coroutine.
    virtual bool reads_by_readiness() const noexcept { return false; }
    // Without waiting: bytes already received (at least one), asio::error::would_block when
    // there are none, or an error (end of stream is asio::error::eof).
    virtual std::size_t read_available(asio::mutable_buffer buf, std::error_code& ec) {
        (void)buf;
        ec = asio::error::operation_not_supported;
        return 0;
    }
    // Calls `fn` (through the transport's executor, never inline) once read_available() finds
    // bytes, the end of stream or an error; with operation_aborted after abort(). Call it only
    // after read_available() reported would_block, on the executor that runs this transport.
    // `fn(owner.get(), ec)`; the wait keeps `owner` alive. A function pointer and an owner, not
    // a std::function: an idle connection holds this wait, and a std::function holding a
    // shared_ptr would be 32 bytes in the wait plus a heap block.
    using readable_fn = void (*)(void* owner, std::error_code ec);
    virtual void on_readable(readable_fn fn, std::shared_ptr<void> owner) {
        (void)fn;
        (void)owner;
    }
    // Writes all of `buf`.
    virtual asio::awaitable<void> write_all(asio::const_buffer buf, std::error_code& ec) = 0;
    // Without waiting: writes what the socket takes now and returns how much (all, part, or
    // nothing with asio::error::would_block), for transports that write by readiness (plain
    // TCP). Others: operation_not_supported; write_all() then does the writing.
    virtual std::size_t write_available(asio::const_buffer buf, std::error_code& ec) {
        (void)buf;
        ec = asio::error::operation_not_supported;
        return 0;
    }
    // Ends the stream in an orderly way (TLS close_notify, WebSocket close frame, TCP FIN) after
    // everything written; the caller bounds the time it waits. Then closes.
    virtual asio::awaitable<void> close(std::error_code& ec) = 0;
    // Cancels pending operations and closes at once; safe to call more than once.
    virtual void abort() noexcept = 0;

    // "ip:port" of the client, after handshake() (a PROXY header may replace the socket's).
    virtual std::string remote_address() const = 0;
    // The verified client certificate (PEM), after handshake(), when the transport has one.
    virtual std::optional<std::string> peer_certificate() const { return std::nullopt; }
    // The Common Name of that certificate's subject (UTF-8, no NUL), when it has one; the
    // username of a listener with cert_cn_as_username = true.
    virtual std::optional<std::string> peer_common_name() const { return std::nullopt; }
    virtual const char* kind() const noexcept = 0;  // "tcp", "tls", "ws", "wss"
};

// Makes the transport of each accepted socket for one listener. Owned by the listener.
class transport_factory {
  public:
    virtual ~transport_factory() = default;
    virtual std::unique_ptr<transport> make(accepted_socket socket) = 0;
};

}  // namespace rmqtt::broker
