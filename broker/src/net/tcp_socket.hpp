#pragma once

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

namespace rmqtt::broker {

// A client's TCP socket, bound to its worker's io_context executor (8 bytes) rather than an
// any_io_executor (56 bytes): the socket is smaller, and so is every operation started on it
// (an operation carries a copy of its socket's executor). A connection holds its socket and,
// while idle, a readiness wait on it.
using tcp_socket = asio::basic_stream_socket<asio::ip::tcp, asio::io_context::executor_type>;

}  // namespace rmqtt::broker
