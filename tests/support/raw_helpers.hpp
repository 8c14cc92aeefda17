#pragma once

// Helpers shared by the integration, persistence and crash tests: a started rmqttd that shows its
// log when the test failed, packet expectations on the raw client, CONNECT / SUBSCRIBE / PUBLISH
// built and completed by hand, and bounded polling. Failures are reported with GoogleTest's
// non-fatal macros, so a helper never ends the calling test by itself: callers that must stop
// check the result (or wrap the call in ASSERT_NO_FATAL_FAILURE). Every wait here is bounded.

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "broker_process.hpp"
#include "raw_client.hpp"

namespace rmqtt::test {

namespace proto = rmqtt::protocol;

// Concatenates anything streamable (avoids GCC 12's false -Wrestrict on "literal" + string).
template <class... A>
std::string cat(const A&... a) {
    std::ostringstream o;
    (o << ... << a);
    return o.str();
}

// Polls `pred` every 20 ms until it holds or `timeout` passes.
inline bool eventually(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (pred()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
}

// True once rmqttd's log shows `text` (polled like eventually). The log file is shared by every
// start of one broker_process.
inline bool log_shows(const broker_process& b, const std::string& text,
                      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    return eventually([&] { return b.log().find(text) != std::string::npos; }, timeout);
}

// ---- brokers -----------------------------------------------------------------------------------

// Deletes a broker; when the running test has failed, stops it (SIGTERM flushes the log) and
// prints the tail of its log first, so the failure report carries the broker's side.
struct dump_log_on_failure {
    void operator()(broker_process* b) const {
        if (b && ::testing::Test::HasFailure()) {
            b->stop(std::chrono::seconds(5));
            std::string log = b->log();
            constexpr std::size_t tail = 8000;
            if (log.size() > tail) log = "...\n" + log.substr(log.size() - tail);
            std::cerr << "---- rmqttd log (" << b->dir() << ") ----\n" << log << "---- end ----\n";
        }
        delete b;
    }
};
using broker_ptr = std::unique_ptr<broker_process, dump_log_on_failure>;

// A started rmqttd with options `o` (throws when it does not start).
inline broker_ptr start_broker_with(broker_process::options o) {
    broker_ptr b(new broker_process(std::move(o)));
    b->start();
    return b;
}

// ---- packets on a raw client -------------------------------------------------------------------

inline std::uint8_t code_of(proto::reason_code rc) {
    return static_cast<std::uint8_t>(rc);
}

// The next packet if it is a T (nullopt on timeout, close or another packet type; the other
// type is reported as a test failure so the cause is visible).
template <class T>
std::optional<T> expect(raw_client& c,
                        std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    auto p = c.receive(timeout);
    if (!p) return std::nullopt;
    if (!std::holds_alternative<T>(*p)) {
        ADD_FAILURE() << "expected packet type " << static_cast<int>(proto::type_of(T{}))
                      << ", got " << static_cast<int>(proto::type_of(*p));
        return std::nullopt;
    }
    return std::get<T>(*p);
}

// Every packet that arrives within `quiet` of the previous one (for at most 30 s).
inline std::vector<proto::packet> drain_raw(
    raw_client& c, std::chrono::milliseconds quiet = std::chrono::milliseconds(300)) {
    std::vector<proto::packet> out;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < until) {
        auto p = c.receive(quiet);
        if (!p) break;
        out.push_back(std::move(*p));
    }
    return out;
}

inline std::vector<std::string> raw_payloads(const std::vector<proto::publish>& v) {
    std::vector<std::string> out;
    for (const auto& p : v)
        out.push_back(p.payload);
    return out;
}

// ---- CONNECT -----------------------------------------------------------------------------------

// A CONNECT (3.1.1 unless `v` says otherwise).
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

// A CONNECT for version `v`; a 5.0 one also carries `session_expiry` as its Session Expiry
// Interval (3.1.1 has none: the listener's setting applies).
inline proto::connect make_connect(const std::string& id, proto::version v, bool clean,
                                   std::optional<std::uint32_t> session_expiry = std::nullopt,
                                   std::uint16_t keep_alive = 60) {
    auto c = make_connect(id, clean, keep_alive, v);
    if (v == proto::version::v5 && session_expiry) c.props.session_expiry_interval = session_expiry;
    return c;
}

// A CONNACK for `client_id` (nullopt: none came): its absence or a refusal is a test failure.
// True on CONNACK 0.
inline bool expect_connack_ok(const std::optional<proto::connack>& ack,
                              const std::string& client_id) {
    EXPECT_TRUE(ack.has_value()) << "no CONNACK for " << client_id;
    if (!ack) return false;
    EXPECT_EQ(ack->code, 0) << "CONNACK refused " << client_id;
    return ack->code == 0;
}

// A raw client that sent `c` and expects CONNACK 0 (a test failure otherwise); `session_present`
// gets the CONNACK's flag. The client is returned even after a failure, never nullptr, so a test
// that goes on does not crash.
inline std::unique_ptr<raw_client> raw_connect(const broker_process& b, const proto::connect& c,
                                               bool* session_present = nullptr) {
    auto r = std::make_unique<raw_client>(b.port(), c.protocol_version);
    auto ack = r->connect(c);
    expect_connack_ok(ack, c.client_id);
    if (ack && session_present) *session_present = ack->session_present;
    return r;
}

inline std::unique_ptr<raw_client> raw_connect(const broker_process& b, const std::string& id,
                                               bool clean = true, bool* session_present = nullptr) {
    return raw_connect(b, make_connect(id, clean), session_present);
}

// The same, but nullptr unless CONNACK 0 arrived (still a test failure), for callers that
// ASSERT on the connection before using it.
inline std::unique_ptr<raw_client> raw_connect_or_null(const broker_process& b,
                                                       const proto::connect& c,
                                                       bool* session_present = nullptr) {
    auto r = std::make_unique<raw_client>(b.port(), c.protocol_version);
    auto ack = r->connect(c);
    if (!expect_connack_ok(ack, c.client_id)) return nullptr;
    if (session_present) *session_present = ack->session_present;
    return r;
}

// A DISCONNECT (by default a plain one), then the broker closes the connection.
inline void raw_disconnect(raw_client& c, const proto::disconnect& d = {}) {
    c.send(d);
    EXPECT_TRUE(c.wait_closed(std::chrono::seconds(5)));
}

// ---- SUBSCRIBE ---------------------------------------------------------------------------------

// Sends `s` and waits for the SUBACK; returns its codes (empty, and a test failure, when none
// came).
inline std::vector<std::uint8_t> raw_subscribe(raw_client& c, const proto::subscribe& s) {
    c.send(s);
    auto ack = expect<proto::suback>(c);
    if (!ack) {
        ADD_FAILURE() << "no SUBACK for packet id " << s.packet_id;
        return {};
    }
    EXPECT_EQ(ack->packet_id, s.packet_id) << "[MQTT-3.8.4-2]";
    return ack->codes;
}

// A SUBSCRIBE of (filter, maximum QoS) pairs.
inline proto::subscribe make_subscribe(std::uint16_t packet_id,
                                       const std::vector<std::pair<std::string, int>>& f) {
    proto::subscribe s;
    s.packet_id = packet_id;
    for (const auto& [filter, qos] : f) {
        proto::topic_subscription t;
        t.filter = filter;
        t.options.max_qos = static_cast<proto::qos>(qos);
        s.topics.push_back(t);
    }
    return s;
}

// SUBSCRIBE to (filter, maximum QoS) pairs.
inline std::vector<std::uint8_t> raw_subscribe(raw_client& c, std::uint16_t packet_id,
                                               const std::vector<std::pair<std::string, int>>& f) {
    return raw_subscribe(c, make_subscribe(packet_id, f));
}

// Subscribes (packet id 1) and expects each filter granted at its QoS.
inline void subscribe_ok(raw_client& c, const std::vector<std::pair<std::string, int>>& f) {
    std::vector<std::uint8_t> want;
    for (const auto& [filter, qos] : f)
        want.push_back(static_cast<std::uint8_t>(qos));
    ASSERT_EQ(raw_subscribe(c, 1, f), want);
}

inline proto::unsubscribe make_unsubscribe(std::uint16_t packet_id,
                                           std::vector<std::string> filters,
                                           proto::properties props = {}) {
    proto::unsubscribe u;
    u.packet_id = packet_id;
    u.filters = std::move(filters);
    u.props = std::move(props);
    return u;
}

// ---- PUBLISH -----------------------------------------------------------------------------------

// A PUBLISH; a QoS 0 one has no packet id whatever `packet_id` says.
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

}  // namespace rmqtt::test
