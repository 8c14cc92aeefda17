#pragma once

// Helpers for the persistence tests: a fixture parameterised over the session-store engine
// ("rocksdb" or "redis", the Redis variant with a redis-server of its own), raw MQTT clients
// that connect with a persistent session, a pipelined publisher that counts acknowledgements
// exactly, and a subscriber that acknowledges and de-duplicates QoS 2 like a real client
// (Method B, 4.3.3). Every wait is bounded.

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <variant>
#include <vector>

#include "broker_process.hpp"
#include "mqtt_client.hpp"
#include "process.hpp"
#include "raw_client.hpp"
#include "raw_helpers.hpp"
#include "redis_server.hpp"

namespace rmqtt::test::persist {

using namespace std::chrono_literals;

// Listener lines that keep the tests' queues from overflowing: a dropped message would look
// like a lost one. 100,000 is far above what any test here queues for one session.
inline std::vector<std::string> roomy_listener(int max_inflight = 64) {
    return {"max_mqueue_len = 100000", cat("max_inflight = ", max_inflight)};
}

// A test parameterised over the engine. The Redis variant starts its own redis-server, which
// outlives every broker the test body creates (brokers are locals of the body).
class engine_test : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        if (engine() == "redis") redis_ = std::make_unique<redis_server>();
    }
    const std::string& engine() const { return GetParam(); }
    bool is_redis() const { return engine() == "redis"; }
    redis_server& redis() { return *redis_; }

    // Options for a broker on this test's engine.
    broker_process::options options(std::vector<std::string> listener = roomy_listener()) const {
        broker_process::options o;
        o.session_storage = true;
        o.storage_type = engine();
        if (redis_) o.redis_url = redis_->url();
        o.listener = std::move(listener);
        return o;
    }
    broker_ptr start_broker(broker_process::options o) const {
        return start_broker_with(std::move(o));
    }
    broker_ptr start_broker() const { return start_broker(options()); }

    std::unique_ptr<redis_server> redis_;
};

// Options for a broker on a Redis store at `redis`, for tests that run their own redis-server.
inline broker_process::options redis_options(const redis_server& redis) {
    broker_process::options o;
    o.storage_type = "redis";
    o.redis_url = redis.url();
    o.listener = roomy_listener();
    return o;
}

inline std::string engine_name(const ::testing::TestParamInfo<std::string>& info) {
    return info.param;
}

// ---- payloads --------------------------------------------------------------------------------

// Test payloads carry (publisher, QoS, sequence number): "p<pub>:<qos>:<seq>".
struct msg_id {
    int pub = 0;
    int qos = 0;
    std::uint64_t seq = 0;
    friend auto operator<=>(const msg_id&, const msg_id&) = default;
};
inline std::string make_payload(int pub, int qos, std::uint64_t seq) {
    return cat("p", pub, ":", qos, ":", seq);
}
inline std::optional<msg_id> parse_payload(const std::string& s) {
    msg_id m;
    unsigned long long seq = 0;
    if (std::sscanf(s.c_str(), "p%d:%d:%llu", &m.pub, &m.qos, &seq) != 3) return std::nullopt;
    m.seq = seq;
    return m;
}

// ---- raw clients -------------------------------------------------------------------------------

// A 3.1.1 client with Clean Session 0, or a 5.0 client with Clean Start 0 and a long Session
// Expiry Interval: both persistent (DESIGN.md section 3).
inline proto::connect persistent_connect(const std::string& id, proto::version v) {
    return make_connect(
        id, v, false, v == proto::version::v5 ? std::optional<std::uint32_t>(3600) : std::nullopt);
}

// Connects with `c`, subscribes to `filter` at `qos` and disconnects cleanly: an offline
// persistent session (fails the test otherwise).
inline void make_offline_subscriber(const broker_process& b, const proto::connect& c,
                                    const std::string& filter, int qos) {
    auto s = raw_connect_or_null(b, c);
    ASSERT_TRUE(s) << c.client_id;
    subscribe_ok(*s, {{filter, qos}});
    raw_disconnect(*s);
}

// Connects with `c`, retrying while the broker refuses (a persistent session while the store is
// unavailable): bounded by `timeout`. `session_present` gets the accepting CONNACK's flag.
inline std::unique_ptr<raw_client> connect_when_ready(const broker_process& b,
                                                      const proto::connect& c,
                                                      std::chrono::milliseconds timeout = 40s,
                                                      bool* session_present = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        auto r = std::make_unique<raw_client>(b.port(), c.protocol_version);
        auto ack = r->connect(c);
        if (ack && ack->code == 0) {
            if (session_present) *session_present = ack->session_present;
            return r;
        }
        std::this_thread::sleep_for(200ms);
    }
    return nullptr;
}

struct publish_item {
    std::string topic;
    std::string payload;
    int qos = 1;
    bool retain = false;
};

// Publishes `items` in order with up to `window` unacknowledged at a time and completes every
// QoS flow (PUBACK; PUBREC -> PUBREL -> PUBCOMP). Returns how many were acknowledged with
// success (PUBACK / PUBREC, the broker's commitment point); stops at a refusal, a close or a
// 10 s silence.
inline std::size_t publish_all(raw_client& c, const std::vector<publish_item>& items,
                               std::size_t window = 32) {
    std::map<std::uint16_t, int> open;  // packet id -> QoS, until PUBACK / PUBCOMP
    std::size_t next = 0, acked = 0;
    std::uint16_t pid = 0;
    auto next_pid = [&] {
        do {
            pid = static_cast<std::uint16_t>(pid % 65535 + 1);
        } while (open.contains(pid));
        return pid;
    };
    while (next < items.size() || !open.empty()) {
        while (next < items.size() && open.size() < window) {
            const auto& it = items[next++];
            const std::uint16_t id = it.qos == 0 ? 0 : next_pid();
            c.send(make_publish(it.topic, it.payload, it.qos, id, it.retain));
            if (it.qos == 0)
                ++acked;
            else
                open[id] = it.qos;
        }
        if (open.empty()) continue;
        auto p = c.receive(10s);
        if (!p) return acked;
        if (auto* a = std::get_if<proto::puback>(&*p)) {
            if (proto::is_error(a->code)) return acked;
            if (open.erase(a->packet_id)) ++acked;
        } else if (auto* r = std::get_if<proto::pubrec>(&*p)) {
            if (proto::is_error(r->code)) return acked;
            ++acked;
            c.send(proto::pubrel{r->packet_id, {}, {}});
        } else if (auto* cp = std::get_if<proto::pubcomp>(&*p)) {
            open.erase(cp->packet_id);
        } else {
            ADD_FAILURE() << "publisher got packet type " << static_cast<int>(proto::type_of(*p));
            return acked;
        }
    }
    return acked;
}

// `n` messages of publisher `pub` on `topic_prefix`/q<qos>, alternating QoS 1 and QoS 2
// (or one QoS when `only_qos` is set), sequence numbers from 1 per QoS.
inline std::vector<publish_item> numbered(int pub, const std::string& topic_prefix, std::size_t n,
                                          int only_qos = 0) {
    std::vector<publish_item> out;
    std::uint64_t seq[3] = {0, 0, 0};
    for (std::size_t i = 0; i < n; ++i) {
        const int q = only_qos ? only_qos : static_cast<int>(i % 2) + 1;
        out.push_back({cat(topic_prefix, "/q", q), make_payload(pub, q, ++seq[q]), q, false});
    }
    return out;
}

// ---- an acknowledging subscriber ---------------------------------------------------------------

struct delivered {
    std::string topic;
    std::string payload;
    int qos = 0;
    bool dup = false;
    bool retain = false;
    std::uint16_t packet_id = 0;
};

// A PUBLISH as the application sees it.
inline delivered delivered_of(const proto::publish& p) {
    return {p.topic, p.payload, static_cast<int>(p.qos_level), p.dup, p.retain, p.packet_id};
}

// Acknowledges what a raw subscriber receives like a conforming client: PUBACK for QoS 1; for
// QoS 2 Method B (4.3.3): deliver on the first PUBLISH of a packet id, keep the id until PUBREL,
// answer a repeated PUBLISH with that id with PUBREC without delivering it again. The id store
// outlives reconnects, as a persistent client's must.
class acking_receiver {
  public:
    // Reads until `want` new application messages were delivered, `timeout` passed, nothing
    // arrived for `idle`, or the connection closed; then keeps reading until `quiet` passes
    // without a packet (to see duplicates and stray resends). Returns the messages delivered to
    // the application.
    std::vector<delivered> receive(raw_client& c, std::size_t want,
                                   std::chrono::milliseconds timeout = 30s,
                                   std::chrono::milliseconds quiet = 300ms,
                                   std::chrono::milliseconds idle = 5s) {
        std::vector<delivered> out;
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        auto step = [&](std::chrono::milliseconds wait) {
            auto p = c.receive(wait);
            if (!p) return false;
            handle(c, *p, out);
            return true;
        };
        while (out.size() < want) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0 || !step(std::min(left, idle))) break;
        }
        // Then whatever follows within `quiet`, bounded by the same deadline plus `timeout`.
        const auto quiet_until = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < quiet_until && step(quiet)) {
        }
        return out;
    }

    // Method B state, exposed for tests that also drive the wire by hand.
    std::set<std::uint16_t>& awaiting_pubrel() { return awaiting_rel_; }
    std::size_t qos2_duplicates_filtered() const { return filtered_; }
    // What the filtered resends carried (a new message here means its packet id was still held
    // from an earlier message that the server never released with PUBREL).
    const std::vector<std::string>& filtered_payloads() const { return filtered_payloads_; }
    std::size_t pubrels() const { return pubrels_; }

    void handle(raw_client& c, const proto::packet& p, std::vector<delivered>& out) {
        if (auto* pub = std::get_if<proto::publish>(&p)) {
            auto d = delivered_of(*pub);
            if (pub->qos_level == proto::qos::at_least_once) {
                out.push_back(std::move(d));
                c.send(proto::puback{pub->packet_id, {}, {}});
            } else if (pub->qos_level == proto::qos::exactly_once) {
                if (awaiting_rel_.insert(pub->packet_id).second) {
                    out.push_back(std::move(d));
                } else {
                    ++filtered_;
                    filtered_payloads_.push_back(pub->payload);
                }
                c.send(proto::pubrec{pub->packet_id, {}, {}});
            } else {
                out.push_back(std::move(d));
            }
        } else if (auto* rel = std::get_if<proto::pubrel>(&p)) {
            ++pubrels_;
            awaiting_rel_.erase(rel->packet_id);
            c.send(proto::pubcomp{rel->packet_id, {}, {}});
        } else if (std::holds_alternative<proto::disconnect>(p)) {
            // The server closes; the caller sees the close on the next read.
        } else if (std::holds_alternative<proto::pingresp>(p)) {
        } else {
            ADD_FAILURE() << "subscriber got packet type " << static_cast<int>(proto::type_of(p));
        }
    }

  private:
    std::set<std::uint16_t> awaiting_rel_;
    std::size_t filtered_ = 0;
    std::vector<std::string> filtered_payloads_;
    std::size_t pubrels_ = 0;
};

// ---- checks ------------------------------------------------------------------------------------

// What one subscriber received, checked against what it should have: every expected message at
// least once, QoS 2 deliveries (`exactly_once_qos` = the delivery QoS 2 messages arrive at)
// exactly once, and, per (publisher, QoS), first deliveries in publication order (MQTT 4.6).
struct delivery_report {
    std::size_t missing = 0;
    std::size_t qos2_duplicates = 0;
    std::size_t qos1_duplicates = 0;
    std::size_t out_of_order = 0;
    std::size_t unexpected = 0;
    std::string first_problem;
    std::vector<std::string> missing_payloads;  // the first few
};

inline delivery_report check_deliveries(const std::vector<std::string>& payloads,
                                        const std::set<msg_id>& expected,
                                        const std::vector<int>& delivery_qos) {
    delivery_report r;
    std::map<msg_id, int> count;
    std::map<std::pair<int, int>, std::uint64_t> last;  // (pub, qos) -> last first-seen seq
    for (std::size_t i = 0; i < payloads.size(); ++i) {
        auto m = parse_payload(payloads[i]);
        if (!m || !expected.contains(*m)) {
            if (r.first_problem.empty()) r.first_problem = "unexpected payload " + payloads[i];
            ++r.unexpected;
            continue;
        }
        if (++count[*m] > 1) {
            if (delivery_qos[i] == 2) {
                ++r.qos2_duplicates;
                if (r.first_problem.empty())
                    r.first_problem = "QoS 2 message delivered twice: " + payloads[i];
            } else {
                ++r.qos1_duplicates;
            }
            continue;
        }
        auto& l = last[{m->pub, m->qos}];
        if (m->seq < l) {
            ++r.out_of_order;
            if (r.first_problem.empty())
                r.first_problem = cat("out of order: ", payloads[i], " after seq ", l);
        }
        l = std::max(l, m->seq);
    }
    for (const auto& m : expected) {
        if (!count.contains(m)) {
            if (r.first_problem.empty())
                r.first_problem = "missing " + make_payload(m.pub, m.qos, m.seq);
            if (r.missing_payloads.size() < 10)
                r.missing_payloads.push_back(make_payload(m.pub, m.qos, m.seq));
            ++r.missing;
        }
    }
    return r;
}

inline delivery_report check_deliveries(const std::vector<delivered>& got,
                                        const std::set<msg_id>& expected) {
    std::vector<std::string> p;
    std::vector<int> q;
    for (const auto& d : got) {
        p.push_back(d.payload);
        q.push_back(d.qos);
    }
    return check_deliveries(p, expected, q);
}

inline std::set<msg_id> ids_of(const std::vector<publish_item>& items) {
    std::set<msg_id> out;
    for (const auto& it : items)
        if (auto m = parse_payload(it.payload)) out.insert(*m);
    return out;
}

#define EXPECT_DELIVERED_OK(report, who)                                      \
    do {                                                                      \
        const auto& r_ = (report);                                            \
        EXPECT_EQ(r_.missing, 0u) << who << ": " << r_.first_problem;         \
        EXPECT_EQ(r_.qos2_duplicates, 0u) << who << ": " << r_.first_problem; \
        EXPECT_EQ(r_.out_of_order, 0u) << who << ": " << r_.first_problem;    \
        EXPECT_EQ(r_.unexpected, 0u) << who << ": " << r_.first_problem;      \
    } while (0)

// Starts `b`, which must refuse to start (`what`: why it should, for the failure message); returns
// its exit code. Fails the test when it started, when it was killed by a signal (a crash), or when
// it opened a listener.
inline int expect_refused_start(broker_process& b, const char* what) {
    const auto log_before = b.log().size();  // the log file is shared by every start
    bool threw = false;
    try {
        b.start();
    } catch (const std::exception&) {
        threw = true;
    }
    EXPECT_TRUE(threw) << "rmqttd started " << what;
    const int code = b.stop(std::chrono::seconds(5));  // already exited: its exit code
    EXPECT_NE(code, 0) << "non-zero exit";
    EXPECT_LT(code, 128) << "exited by itself, not by a signal (crash): " << code;
    EXPECT_EQ(b.log().find("listening on", log_before), std::string::npos)
        << "no listener was opened";
    return code;
}

}  // namespace rmqtt::test::persist
