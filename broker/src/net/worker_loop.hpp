#pragma once

#include <asio/io_context.hpp>

#include <chrono>

namespace rmqtt::broker {

// Runs a worker's io_context (one thread) until it stops or runs out of work.
//
// With `busy_poll` above zero, a worker that has just handled events keeps polling its sockets
// (non-blocking epoll_wait, asio's poll()) for up to that long before it blocks in epoll_wait.
// A worker that sleeps must be woken by whoever makes it runnable: on the sending side of a
// loopback or a virtual NIC that is an inter-processor interrupt, and on a virtual machine each
// costs the waker several microseconds and a VM exit. Measured with 64 CONNECT/CONNACK handshakes
// in flight (bench/, broker and load generator pinned to one core each): without polling the worker
// slept about 0.7 times per connection and the connect rate was 0.91x Mosquitto's, whose loop is
// busy longer per connection and so sleeps less.
//
// The poll is adaptive, so that traffic whose gaps are longer than `busy_poll` costs no spinning:
// each poll that runs out without an event halves the next one's length, and a sleep shorter
// than `busy_poll` (one that a poll would have saved) restores it. Between two polls the thread
// yields, so that another thread runnable on the same core (the store's committer, a second
// worker) is not kept waiting for the poll to run out.
void run_worker(asio::io_context& ctx, std::chrono::microseconds busy_poll);

}  // namespace rmqtt::broker
