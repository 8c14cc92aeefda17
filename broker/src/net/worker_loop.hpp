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
// in flight (bench/, broker and load generator pinned to one core each): without polling the
// worker slept about 0.7 times per connection, and the load generator, which pays for each
// wake-up, reached 0.88x of its rate with Mosquitto, whose loop is busy longer per connection
// and so sleeps less.
//
// The poll is adaptive, because a poll that waits for an event is CPU that a sleep would not
// have spent: it runs only while events have been coming within half of `busy_poll` of each
// other on average (a moving average of the time from an empty poll to the next event), and one
// round in 32 probes whether they do again. Measured with one worker on one core: a QoS 1
// publisher -> subscriber pair at 10,000 msg/s cost 8 to 10 % more broker CPU than with no poll
// (an earlier rule, which polled whenever a sleep had been shorter than `busy_poll`, cost 120 %),
// while the connect storm went from 0.88x to 1.04x Mosquitto's rate.
void run_worker(asio::io_context& ctx, std::chrono::microseconds busy_poll);

}  // namespace rmqtt::broker
