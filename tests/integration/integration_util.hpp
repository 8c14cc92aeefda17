#pragma once

// Small helpers shared by the integration tests: a started broker, packet expectations on the
// raw client, QoS flows done by hand, bounded polling. Every wait here is bounded.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "broker_process.hpp"
#include "mqtt_client.hpp"
#include "process.hpp"
#include "raw_client.hpp"

namespace rmqtt::test::integ {

using namespace std::chrono_literals;
namespace proto = rmqtt::protocol;

// Deletes a broker; when the running test has failed, prints the tail of its log first so the
// failure report carries the broker's side.
struct dump_log_on_failure {
    void operator()(broker_process* b) const {
        if (b && ::testing::Test::HasFailure()) {
            b->stop(std::chrono::seconds(5));  // SIGTERM flushes the log
            std::string log = b->log();
            constexpr std::size_t tail = 6000;
            if (log.size() > tail) log = "...\n" + log.substr(log.size() - tail);
            std::cerr << "---- rmqttd log (" << b->dir() << ") ----\n" << log << "---- end ----\n";
        }
        delete b;
    }
};
using broker_ptr = std::unique_ptr<broker_process, dump_log_on_failure>;

inline broker_ptr start_broker_with(broker_process::options o) {
    broker_ptr b(new broker_process(std::move(o)));
    b->start();
    return b;
}

// A started rmqttd with extra listener lines. Session storage stays on (the default product).
inline broker_ptr start_broker(std::vector<std::string> listener = {},
                               std::vector<std::string> main_config = {}) {
    broker_process::options o;
    o.listener = std::move(listener);
    o.main_config = std::move(main_config);
    return start_broker_with(std::move(o));
}

// Concatenates anything streamable (avoids GCC 12's false -Wrestrict on "literal" + string).
template <class... A>
std::string cat(const A&... a) {
    std::ostringstream o;
    (o << ... << a);
    return o.str();
}

// Polls `pred` every 20 ms until it holds or `timeout` passes.
inline bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (pred()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(20ms);
    }
}

// The next packet if it is a T (nullopt on timeout, close or another packet type; the other
// type is reported as a test failure so the cause is visible).
template <class T>
std::optional<T> expect(raw_client& c, std::chrono::milliseconds timeout = 5s) {
    auto p = c.receive(timeout);
    if (!p) return std::nullopt;
    if (!std::holds_alternative<T>(*p)) {
        ADD_FAILURE() << "expected packet type " << static_cast<int>(proto::type_of(T{}))
                      << ", got " << static_cast<int>(proto::type_of(*p));
        return std::nullopt;
    }
    return std::get<T>(*p);
}

// Every packet that arrives within `quiet` of the previous one.
inline std::vector<proto::packet> drain_raw(raw_client& c,
                                            std::chrono::milliseconds quiet = 300ms) {
    std::vector<proto::packet> out;
    while (auto p = c.receive(quiet))
        out.push_back(std::move(*p));
    return out;
}

inline proto::connect make_connect(const std::string& id, bool clean = true,
                                   std::uint16_t keep_alive = 60,
                                   proto::version v = proto::version::v3_1_1) {
    proto::connect c;
    c.protocol_version = v;
    c.client_id = id;
    c.clean_start = clean;
    c.keep_alive = keep_alive;
    return c;
}

inline proto::will_message make_will(const std::string& topic, const std::string& payload,
                                     int qos = 0, bool retain = false) {
    proto::will_message w;
    w.topic = topic;
    w.payload = payload;
    w.qos_level = static_cast<proto::qos>(qos);
    w.retain = retain;
    return w;
}

// A raw client connected with CONNACK 0 (fails the test otherwise).
inline std::unique_ptr<raw_client> raw_connect(const broker_process& b, const proto::connect& c,
                                               bool* session_present = nullptr) {
    auto r = std::make_unique<raw_client>(b.port(), c.protocol_version);
    auto ack = r->connect(c);
    EXPECT_TRUE(ack.has_value()) << "no CONNACK for " << c.client_id;
    if (ack) {
        EXPECT_EQ(ack->code, 0) << "CONNACK refused " << c.client_id;
        if (session_present) *session_present = ack->session_present;
    }
    return r;
}

inline std::unique_ptr<raw_client> raw_connect(const broker_process& b, const std::string& id,
                                               bool clean = true, bool* session_present = nullptr) {
    return raw_connect(b, make_connect(id, clean), session_present);
}

// SUBSCRIBE and wait for the SUBACK; returns its return codes (empty on failure).
inline std::vector<std::uint8_t> raw_subscribe(raw_client& c, std::uint16_t packet_id,
                                               const std::vector<std::pair<std::string, int>>& f) {
    proto::subscribe s;
    s.packet_id = packet_id;
    for (const auto& [filter, qos] : f) {
        proto::topic_subscription t;
        t.filter = filter;
        t.options.max_qos = static_cast<proto::qos>(qos);
        s.topics.push_back(t);
    }
    c.send(s);
    auto ack = expect<proto::suback>(c);
    if (!ack) {
        ADD_FAILURE() << "no SUBACK";
        return {};
    }
    EXPECT_EQ(ack->packet_id, packet_id);
    return ack->codes;
}

inline proto::publish make_publish(const std::string& topic, const std::string& payload, int qos,
                                   std::uint16_t packet_id = 0, bool retain = false,
                                   bool dup = false) {
    proto::publish p;
    p.topic = topic;
    p.payload = payload;
    p.qos_level = static_cast<proto::qos>(qos);
    p.packet_id = qos == 0 ? 0 : packet_id;
    p.retain = retain;
    p.dup = dup;
    return p;
}

// A whole publisher-side QoS flow on a raw client: PUBACK, or PUBREC + PUBREL + PUBCOMP.
inline bool raw_publish(raw_client& c, const std::string& topic, const std::string& payload,
                        int qos, std::uint16_t packet_id = 1, bool retain = false) {
    c.send(make_publish(topic, payload, qos, packet_id, retain));
    if (qos == 0) return true;
    if (qos == 1) {
        auto a = expect<proto::puback>(c);
        return a && a->packet_id == packet_id;
    }
    auto rec = expect<proto::pubrec>(c);
    if (!rec || rec->packet_id != packet_id) return false;
    c.send(proto::pubrel{packet_id, {}, {}});
    auto comp = expect<proto::pubcomp>(c);
    return comp && comp->packet_id == packet_id;
}

// Acknowledges a PUBLISH received by a raw subscriber, completing the QoS 2 flow too.
inline bool raw_ack(raw_client& c, const proto::publish& p) {
    if (p.qos_level == proto::qos::at_least_once) {
        c.send(proto::puback{p.packet_id, {}, {}});
        return true;
    }
    if (p.qos_level == proto::qos::exactly_once) {
        c.send(proto::pubrec{p.packet_id, {}, {}});
        auto rel = expect<proto::pubrel>(c);
        if (!rel || rel->packet_id != p.packet_id) return false;
        c.send(proto::pubcomp{p.packet_id, {}, {}});
    }
    return true;
}

// A clean DISCONNECT, then the broker closes.
inline void raw_disconnect(raw_client& c) {
    c.send(proto::disconnect{});
    EXPECT_TRUE(c.wait_closed(5s));
}

inline std::vector<std::string> payloads(const std::vector<mqtt_client::received>& v) {
    std::vector<std::string> out;
    for (const auto& m : v)
        out.push_back(m.payload);
    return out;
}

// Connects several Paho clients at once. Paho C's shared network thread picks up a new socket only
// when its poll wakes (about 2 s per connect when other clients of the process are idle); in
// parallel the connects share that wait.
inline void connect_all(const std::vector<mqtt_client*>& clients) {
    std::vector<std::future<void>> done;
    for (auto* c : clients)
        done.push_back(std::async(std::launch::async, [c] { c->connect(); }));
    for (auto& d : done)
        d.get();
}

inline mqtt_client::connect_options paho_options(bool clean = true, int keep_alive = 60) {
    mqtt_client::connect_options o;
    o.clean = clean;
    o.keep_alive = keep_alive;
    return o;
}

}  // namespace rmqtt::test::integ
