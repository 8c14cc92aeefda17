#pragma once

#include <asio/basic_stream_socket.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

namespace rmqtt::broker {

// An accepted TCP socket, bound to its worker's io_context executor (8 bytes) rather than an
// any_io_executor (56): the socket is 40 bytes instead of 88, and an operation started on it
// with a plain callback (the idle connection's readiness wait) carries no executor copy.
using tcp_socket = asio::basic_stream_socket<asio::ip::tcp, asio::io_context::executor_type>;

}  // namespace rmqtt::broker
