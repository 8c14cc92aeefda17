#pragma once

// Helpers for the MQTT 5.0 integration tests (tests/integration/v5_*.cpp): raw 5.0 clients with
// properties, server DISCONNECT reason codes, and readers for Paho's property lists. Every wait
// is bounded.

#include <mqtt/properties.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "integration_util.hpp"

namespace rmqtt::test::v5 {

using namespace integ;  // start_broker, make_will, payloads, paho_options, ...
using namespace std::chrono_literals;

constexpr auto v5 = proto::version::v5;

// A 5.0 CONNECT.
inline proto::connect connect5(const std::string& id, bool clean = true,
                               std::uint16_t keep_alive = 60) {
    return make_connect(id, clean, keep_alive, v5);
}

// CONNECT on a new raw 5.0 connection; the CONNACK is stored in `ack` (nullopt when none came).
inline std::unique_ptr<raw_client> raw5_try(const broker_process& b, const proto::connect& c,
                                            std::optional<proto::connack>& ack) {
    auto r = std::make_unique<raw_client>(b.port(), v5);
    ack = r->connect(c);
    return r;
}

// A raw 5.0 client with CONNACK Success (fails the test otherwise); `ack_out` gets the CONNACK.
inline std::unique_ptr<raw_client> raw5(const broker_process& b, const proto::connect& c,
                                        proto::connack* ack_out = nullptr) {
    std::optional<proto::connack> ack;
    auto r = raw5_try(b, c, ack);
    expect_connack_ok(ack, c.client_id);
    if (ack && ack_out) *ack_out = *ack;
    return r;
}

inline std::unique_ptr<raw_client> raw5(const broker_process& b, const std::string& id,
                                        bool clean = true, proto::connack* ack_out = nullptr) {
    return raw5(b, connect5(id, clean), ack_out);
}

// A 5.0 CONNECT with a Receive Maximum (and a Session Expiry Interval unless 0).
inline proto::connect with_receive_maximum(const std::string& id, std::uint16_t rm, bool clean,
                                           std::uint32_t expiry = 0) {
    auto c = connect5(id, clean);
    c.props.receive_maximum = rm;
    if (expiry) c.props.session_expiry_interval = expiry;
    return c;
}

inline proto::topic_subscription sub_opt(const std::string& filter, int qos, bool no_local = false,
                                         bool retain_as_published = false,
                                         int retain_handling = 0) {
    proto::topic_subscription t;
    t.filter = filter;
    t.options.max_qos = static_cast<proto::qos>(qos);
    t.options.no_local = no_local;
    t.options.retain_as_published = retain_as_published;
    t.options.retain_handling = static_cast<std::uint8_t>(retain_handling);
    return t;
}

// SUBSCRIBE (any options / properties) and wait for the SUBACK; returns its reason codes.
inline std::vector<std::uint8_t> subscribe5(raw_client& c, std::uint16_t packet_id,
                                            std::vector<proto::topic_subscription> topics,
                                            proto::properties props = {}) {
    proto::subscribe s;
    s.packet_id = packet_id;
    s.topics = std::move(topics);
    s.props = std::move(props);
    return raw_subscribe(c, s);
}

inline std::vector<std::uint8_t> subscribe5(raw_client& c, std::uint16_t packet_id,
                                            const std::string& filter, int qos) {
    return subscribe5(c, packet_id, {sub_opt(filter, qos)});
}

inline proto::publish publish5(const std::string& topic, const std::string& payload, int qos,
                               std::uint16_t packet_id = 0, proto::properties props = {},
                               bool retain = false) {
    auto p = make_publish(topic, payload, qos, packet_id, retain);
    p.props = std::move(props);
    return p;
}

// Sends a PUBLISH and returns its acknowledgement's reason code (QoS 1: PUBACK; QoS 2: PUBREC,
// then completes the flow with PUBREL / PUBCOMP when the PUBREC is a success). QoS 0: nullopt.
inline std::optional<std::uint8_t> publish_acked(raw_client& c, const proto::publish& p) {
    c.send(p);
    if (p.qos_level == proto::qos::at_most_once) return std::nullopt;
    if (p.qos_level == proto::qos::at_least_once) {
        auto a = expect<proto::puback>(c);
        if (!a) {
            ADD_FAILURE() << "no PUBACK for packet id " << p.packet_id;
            return std::nullopt;
        }
        EXPECT_EQ(a->packet_id, p.packet_id);
        return code_of(a->code);
    }
    auto rec = expect<proto::pubrec>(c);
    if (!rec) {
        ADD_FAILURE() << "no PUBREC for packet id " << p.packet_id;
        return std::nullopt;
    }
    EXPECT_EQ(rec->packet_id, p.packet_id);
    if (proto::is_error(rec->code)) return code_of(rec->code);
    c.send(proto::pubrel{p.packet_id, {}, {}});
    auto comp = expect<proto::pubcomp>(c);
    EXPECT_TRUE(comp && comp->packet_id == p.packet_id) << "no PUBCOMP";
    return code_of(rec->code);
}

// What the server did when it ended a connection: the DISCONNECT it sent (if any), the packets
// that came before it, and whether the socket closed.
struct server_close {
    std::optional<proto::disconnect> disconnect;
    std::vector<proto::packet> before;
    bool closed = false;
};

// Reads until the server closes the connection (or `timeout`), collecting a DISCONNECT.
inline server_close await_close(raw_client& c, std::chrono::milliseconds timeout = 10s) {
    server_close out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        auto p = c.receive(left);
        if (!p) break;
        if (std::holds_alternative<proto::disconnect>(*p)) {
            out.disconnect = std::get<proto::disconnect>(*p);
            break;
        }
        out.before.push_back(std::move(*p));
    }
    out.closed = c.wait_closed(1s + (out.disconnect ? 4s : 0s));
    return out;
}

// Expects the server to send DISCONNECT with `code` and close the connection [MQTT-4.13.1-1].
inline void expect_disconnect(raw_client& c, proto::reason_code code, const std::string& why,
                              std::chrono::milliseconds timeout = 10s) {
    auto r = await_close(c, timeout);
    std::string before;
    for (const auto& p : r.before)
        before += cat(" ", proto::to_string(proto::type_of(p)));
    ASSERT_TRUE(r.disconnect.has_value())
        << why << ": no DISCONNECT from the server (closed: " << r.closed
        << "; packets instead:" << before << ")";
    EXPECT_EQ(code_of(r.disconnect->code), code_of(code))
        << why << ": DISCONNECT reason code " << proto::to_string(r.disconnect->code);
    // The Session Expiry Interval MUST NOT be sent on a DISCONNECT by the Server [MQTT-3.14.2-2].
    EXPECT_FALSE(r.disconnect->props.session_expiry_interval.has_value()) << "[MQTT-3.14.2-2]";
    EXPECT_TRUE(r.closed) << why << ": connection not closed after DISCONNECT [MQTT-3.14.4-2]";
}

// A PINGREQ answered: the connection is still up.
inline bool alive(raw_client& c) {
    c.send(proto::pingreq{});
    for (int i = 0; i < 50; ++i) {
        auto p = c.receive(2s);
        if (!p) return false;
        if (std::holds_alternative<proto::pingresp>(*p)) return true;
    }
    return false;
}

// Reads PUBLISHes (acknowledging each, QoS 2 included) until `count` arrived or the stream is
// quiet for `quiet`; other packets are skipped.
inline std::vector<proto::publish> receive_publishes(raw_client& c, std::size_t count,
                                                     std::chrono::milliseconds timeout = 10s,
                                                     bool ack = true) {
    std::vector<proto::publish> out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out.size() < count) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        auto p = c.receive(left);
        if (!p) break;
        if (!std::holds_alternative<proto::publish>(*p)) continue;
        auto& pub = std::get<proto::publish>(*p);
        if (ack) raw_ack(c, pub);
        out.push_back(std::move(pub));
    }
    return out;
}

inline std::vector<std::string> numbered(const std::string& prefix, int n) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i)
        out.push_back(cat(prefix, i));
    return out;
}

// ---- Paho -------------------------------------------------------------------------------------

inline mqtt::properties props(std::initializer_list<mqtt::property> l) {
    return mqtt::properties(l);
}

inline std::optional<std::string> str_prop(const mqtt::properties& p, mqtt::property::code c) {
    if (!p.contains(c)) return std::nullopt;
    return mqtt::get<std::string>(p, c);
}

inline std::optional<std::uint32_t> int_prop(const mqtt::properties& p, mqtt::property::code c) {
    if (!p.contains(c)) return std::nullopt;
    // Paho keeps Byte, Two Byte, Four Byte and Variable Byte Integers in a union; read by width.
    switch (c) {
        case mqtt::property::PAYLOAD_FORMAT_INDICATOR:
        case mqtt::property::REQUEST_PROBLEM_INFORMATION:
        case mqtt::property::REQUEST_RESPONSE_INFORMATION:
        case mqtt::property::MAXIMUM_QOS:
        case mqtt::property::RETAIN_AVAILABLE:
        case mqtt::property::WILDCARD_SUBSCRIPTION_AVAILABLE:
        case mqtt::property::SUBSCRIPTION_IDENTIFIERS_AVAILABLE:
        case mqtt::property::SHARED_SUBSCRIPTION_AVAILABLE:
            return mqtt::get<std::uint8_t>(p, c);
        case mqtt::property::SERVER_KEEP_ALIVE:
        case mqtt::property::RECEIVE_MAXIMUM:
        case mqtt::property::TOPIC_ALIAS_MAXIMUM:
        case mqtt::property::TOPIC_ALIAS:
            return mqtt::get<std::uint16_t>(p, c);
        default:
            return mqtt::get<std::uint32_t>(p, c);
    }
}

// Subscription Identifiers of a received message, sorted (their order is not significant
// [MQTT-3.3.4-4]).
inline std::vector<std::uint32_t> sub_ids(const mqtt::properties& p) {
    std::vector<std::uint32_t> out;
    const auto n = p.count(mqtt::property::SUBSCRIPTION_IDENTIFIER);
    for (std::size_t i = 0; i < n; ++i)
        out.push_back(mqtt::get<std::uint32_t>(p, mqtt::property::SUBSCRIPTION_IDENTIFIER, i));
    std::sort(out.begin(), out.end());
    return out;
}

using string_pairs = std::vector<std::pair<std::string, std::string>>;

// User Properties in their order on the wire.
inline string_pairs user_props(const mqtt::properties& p) {
    string_pairs out;
    const auto n = p.count(mqtt::property::USER_PROPERTY);
    for (std::size_t i = 0; i < n; ++i) {
        auto [k, v] = mqtt::get<mqtt::string_pair>(p, mqtt::property::USER_PROPERTY, i);
        out.emplace_back(k, v);
    }
    return out;
}

inline string_pairs user_props(const proto::properties& p) {
    string_pairs out;
    for (const auto& u : p.user_properties)
        out.emplace_back(u.key, u.value);
    return out;
}

// A Paho 5.0 client, connected (clean start, no session expiry unless given).
inline std::unique_ptr<mqtt_client> paho5(const broker_process& b, const std::string& id,
                                          mqtt_client::connect_options o = {}) {
    auto c = std::make_unique<mqtt_client>(b.uri(), id, 5);
    c->connect(o);
    return c;
}

inline mqtt_client::connect_options paho5_options(bool clean = true,
                                                  std::optional<std::uint32_t> expiry = {}) {
    mqtt_client::connect_options o;
    o.clean = clean;
    o.session_expiry = expiry;
    return o;
}

inline mqtt::subscribe_options paho_sub_options(bool no_local = false, bool rap = false,
                                                int retain_handling = 0) {
    return mqtt::subscribe_options(
        no_local, rap, static_cast<mqtt::subscribe_options::RetainHandling>(retain_handling));
}

// Sets an environment variable for the lifetime of the object (rmqttd inherits it at start).
// Each test runs in its own process under ctest, so this does not leak into other tests.
class scoped_env {
  public:
    scoped_env(const char* name, const std::string& value) : name_(name) {
        if (const char* old = std::getenv(name)) old_ = old;
        ::setenv(name, value.c_str(), 1);
    }
    ~scoped_env() {
        if (old_)
            ::setenv(name_, old_->c_str(), 1);
        else
            ::unsetenv(name_);
    }
    scoped_env(const scoped_env&) = delete;
    scoped_env& operator=(const scoped_env&) = delete;

  private:
    const char* name_;
    std::optional<std::string> old_;
};

}  // namespace rmqtt::test::v5
