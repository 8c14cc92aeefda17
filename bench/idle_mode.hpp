#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <asio/awaitable.hpp>

// rmqtt-bench idle: many idle MQTT connections, the connect rate, and the broker's RSS per
// connection (bench/README.md, row "idle").
namespace rmqtt::bench {

struct idle_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 1883;
    int mqtt = 4;  // protocol level: 3 (3.1), 4 (3.1.1), 5 (5.0)
    std::string id_prefix = "idle";
    std::string topic_prefix = "idle";
    std::uint16_t keep_alive = 120;
    std::uint64_t connections = 5000;
    unsigned concurrency = 64;  // handshakes (TCP connect + CONNECT/CONNACK) in flight
    bool subscribe = false;     // one subscription (QoS 0, own topic) per connection
    // Client source addresses 127.0.0.1 .. 127.0.0.<n>: each gives about 28 K ephemeral ports
    // towards one broker port. 0: one per 20,000 connections.
    unsigned source_addrs = 0;
    int broker_pid = 0;   // > 0: read its VmRSS before the connections and after them
    double settle_s = 2;  // wait before the second RSS reading
    double hold_s = 0;    // keep the connections open this long after the measurement
    // > 0: then open this many more and read the RSS again: the marginal cost per connection,
    // without what the first connections paid once (code pages, pools, tables that grow).
    std::uint64_t more = 0;
};

// Opens the connections (clean session, keep alive), optionally subscribes each, reads the
// broker's RSS, checks every connection still answers PINGREQ, then closes them. Prints a summary
// and "RESULT mode=idle connections=.. connect_rate=.. rss_before_kb=.. rss_after_kb=..
// kb_per_conn=.. alive=..", with `more`: also "rss_more_kb=.. kb_marginal=..". Returns 0 when every
// connection was accepted and alive, 3 otherwise.
asio::awaitable<int> run_idle(const idle_options& o,
                              std::chrono::steady_clock::time_point deadline);

}  // namespace rmqtt::bench
