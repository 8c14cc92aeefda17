#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/io_context.hpp>

#include <stdexcept>

namespace rmqtt::broker {

// What a connection and a session keep of their worker: the io_context's own executor (8 bytes;
// an any_io_executor is 56, and every operation started with one carries a copy). Workers are
// io_contexts; anything else is a programming error.
using io_executor = asio::io_context::executor_type;

inline io_executor to_io_executor(const asio::any_io_executor& ex) {
    if (const auto* t = ex.target<io_executor>()) return *t;
    throw std::logic_error(
        "rmqttd: a connection or session on an executor that is not an "
        "io_context's");
}

}  // namespace rmqtt::broker
