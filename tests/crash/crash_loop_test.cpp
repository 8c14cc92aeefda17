// The crash loop (persistence-notes.md A.10): load on the real rmqttd, kill -9 at random moments,
// restart, many times; then drain to quiescence and reconcile what publishers had acknowledged
// against what subscribers received. For each engine (embedded RocksDB, Redis).
//
// Load: publishers at QoS 1 and QoS 2 with payloads (publisher, QoS, seq) that keep their
// unacknowledged messages and retransmit them after a reconnect (DUP 1, same packet id; PUBREL
// for those past PUBREC) [MQTT-4.4.0-1], so "acknowledged" is exact: PUBACK (QoS 1) or PUBREC
// (QoS 2) received; one more publisher has a clean session and abandons its unacknowledged
// messages at each reconnect (its acknowledged ones count like the others). Persistent subscribers,
// all subscribed before the first publish: some always online, some flapping, some offline for the
// whole run; each acknowledges like a conforming client (QoS 2 Method B, its packet-id store kept
// across reconnects).
//
// Invariants checked after the drain:
//  I1  every acknowledged message is delivered to every subscriber (no acknowledged loss);
//  I2  no QoS 2 message is delivered twice to a subscriber as a new application message;
//  I4  every reconnect of a persistent client finds its session (session present = 1);
//  I5  per publisher and QoS, first deliveries arrive in publication order (MQTT 4.6);
//  I6  (Redis) no queue entry or inbound QoS 2 id is left in the store after the drain;
//      no shared message (or count) is left, on either engine.
// QoS 1 duplicates are allowed and counted. Queue overflow is impossible by configuration:
// max_mqueue_len = 1,000,000 is far above what one run can publish (4 publishers x 8,000).
//
// Reproduce a run: RMQTT_CRASH_SEED=<seed printed in the log> (and RMQTT_CRASH_CYCLES=<n>).
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <random>

#include "../integration/persistence/persistence_util.hpp"
#include "rmqtt/storage/store.hpp"

namespace rmqtt::test::persist {
namespace {

using clock_type = std::chrono::steady_clock;

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
    const char* v = std::getenv(name);
    if (!v || !*v) return fallback;
    return std::strtoull(v, nullptr, 10);
}

// Messages each publisher sends per second of load, and at most in one run.
constexpr auto publish_interval = std::chrono::milliseconds(12);
constexpr std::size_t max_per_publisher = 8000;
constexpr std::size_t publisher_window = 10;  // unacknowledged PUBLISHes at a time

// State shared by the client threads and the controller.
struct run_state {
    std::atomic<bool> load{true};    // publishers start new messages while set
    std::atomic<bool> stop{false};   // every thread ends
    std::atomic<bool> drain{false};  // subscribers stay connected (offline ones come online)
};

// Connects with a persistent session; nullptr, after a short pause, while the broker is down or
// refusing.
std::unique_ptr<raw_client> try_connect(std::uint16_t port, const proto::connect& c,
                                        bool& present) {
    try {
        auto r = std::make_unique<raw_client>(port, c.protocol_version);
        auto ack = r->connect(c);
        if (ack && ack->code == 0) {
            present = ack->session_present;
            return r;
        }
    } catch (const std::exception&) {
        // connection refused: the broker is down
    }
    std::this_thread::sleep_for(20ms);
    return nullptr;
}

// The next packet within `wait`; `conn` is dropped when the broker closed it.
std::optional<proto::packet> receive_or_drop(std::unique_ptr<raw_client>& conn,
                                             std::chrono::milliseconds wait) {
    auto p = conn->receive(wait);
    if (!p && conn->wait_closed(0ms)) conn.reset();
    return p;
}

// ---- publisher ---------------------------------------------------------------------------------

class publisher {
  public:
    // A persistent publisher resends what is unacknowledged after a reconnect; a clean-session
    // one (persistent = false) abandons it: those messages are neither acknowledged nor resent.
    publisher(int id, proto::version v, bool persistent = true) : id_(id), persistent_(persistent) {
        connect_ = persistent ? persistent_connect(cat("cp-", id), v)
                              : make_connect(cat("cp-", id), v, true);
    }

    void run(std::uint16_t port, run_state& rs) {
        std::uint64_t seq[3] = {0, 0, 0};
        auto next_publish = clock_type::now();
        bool first = true;
        while (!rs.stop) {
            if (!conn_) {
                bool present = false;
                conn_ = try_connect(port, connect_, present);
                if (!conn_) continue;
                ++connects_;
                if (persistent_ && !first && !present) ++session_lost_;  // I4
                first = false;
                if (persistent_) {
                    resend();
                } else {
                    abandoned_ += open_.size();
                    open_.clear();
                }
            }
            // Done once the load ended and every flow completed.
            if (!rs.load && open_.empty()) {
                finished_ = true;
                std::this_thread::sleep_for(20ms);
                continue;
            }
            if (rs.load && open_.size() < publisher_window && clock_type::now() >= next_publish &&
                published_ < max_per_publisher) {
                const int q = static_cast<int>(published_ % 2) + 1;
                entry e;
                e.item = {cat("crash/p", id_, "/q", q), make_payload(id_, q, ++seq[q]), q, false};
                e.order = ++order_;
                const auto pid = next_pid();
                open_[pid] = e;
                ++published_;
                next_publish += publish_interval;
                conn_->send(make_publish(e.item.topic, e.item.payload, q, pid));
            }
            auto p = receive_or_drop(conn_, 5ms);
            if (!p) continue;
            handle(*p);
        }
        conn_.reset();
    }

    const std::set<msg_id>& acked() const { return acked_; }
    std::size_t published() const { return published_; }
    std::size_t connects() const { return connects_; }
    std::size_t session_lost() const { return session_lost_; }
    std::size_t unfinished() const { return open_.size(); }
    bool finished() const { return finished_.load(); }
    std::size_t abandoned() const { return abandoned_; }
    std::size_t protocol_errors() const { return protocol_errors_; }

  private:
    struct entry {
        publish_item item;
        bool pubrec = false;  // PUBREC received: PUBREL is what is resent
        std::uint64_t order = 0;
    };

    std::uint16_t next_pid() {
        do {
            pid_ = static_cast<std::uint16_t>(pid_ % 65535 + 1);
        } while (open_.contains(pid_));
        return pid_;
    }

    // After a reconnect, in the original order: PUBLISH with DUP 1, or PUBREL [MQTT-4.4.0-1].
    void resend() {
        std::vector<std::pair<std::uint64_t, std::uint16_t>> order;
        for (const auto& [pid, e] : open_)
            order.emplace_back(e.order, pid);
        std::sort(order.begin(), order.end());
        for (const auto& [o, pid] : order) {
            const auto& e = open_[pid];
            if (e.pubrec)
                conn_->send(proto::pubrel{pid, {}, {}});
            else
                conn_->send(
                    make_publish(e.item.topic, e.item.payload, e.item.qos, pid, false, true));
        }
    }

    void record_ack(const entry& e) {
        if (auto m = parse_payload(e.item.payload)) acked_.insert(*m);
    }

    void handle(const proto::packet& p) {
        if (auto* a = std::get_if<proto::puback>(&p)) {
            auto it = open_.find(a->packet_id);
            if (it == open_.end() || it->second.item.qos != 1) return;
            if (proto::is_error(a->code)) {
                ++protocol_errors_;
                return;  // kept: resent after the next reconnect
            }
            record_ack(it->second);
            open_.erase(it);
        } else if (auto* r = std::get_if<proto::pubrec>(&p)) {
            auto it = open_.find(r->packet_id);
            if (it == open_.end() || it->second.item.qos != 2) return;
            if (proto::is_error(r->code)) {
                ++protocol_errors_;
                return;
            }
            if (!it->second.pubrec) record_ack(it->second);
            it->second.pubrec = true;
            conn_->send(proto::pubrel{r->packet_id, {}, {}});
        } else if (auto* c = std::get_if<proto::pubcomp>(&p)) {
            auto it = open_.find(c->packet_id);
            if (it != open_.end() && it->second.pubrec) open_.erase(it);
        } else if (!std::holds_alternative<proto::disconnect>(p)) {
            ++protocol_errors_;
        }
    }

    int id_;
    bool persistent_;
    std::size_t abandoned_ = 0;
    proto::connect connect_;
    std::unique_ptr<raw_client> conn_;
    std::map<std::uint16_t, entry> open_;
    std::set<msg_id> acked_;
    std::uint16_t pid_ = 0;
    std::uint64_t order_ = 0;
    std::size_t published_ = 0;
    std::size_t connects_ = 0;
    std::size_t session_lost_ = 0;
    std::size_t protocol_errors_ = 0;
    std::atomic<bool> finished_{false};
};

// ---- subscriber --------------------------------------------------------------------------------

enum class behaviour { online, flapping, offline };

class subscriber {
  public:
    subscriber(std::string id, proto::version v, int qos, behaviour b, std::uint64_t seed)
        : id_(std::move(id)), qos_(qos), behaviour_(b), rng_(seed) {
        connect_ = persistent_connect(id_, v);
    }

    const std::string& id() const { return id_; }
    const proto::connect& connect_packet() const { return connect_; }
    int qos() const { return qos_; }
    behaviour kind() const { return behaviour_; }

    // Before any publish: connect, subscribe (SUBACK = the subscription is durable), and for
    // the offline ones disconnect.
    bool setup(const broker_process& b) {
        auto c = raw_connect_or_null(b, connect_);
        if (!c) return false;
        auto codes = raw_subscribe(*c, 1, {{"crash/#", qos_}});
        if (codes != std::vector<std::uint8_t>{static_cast<std::uint8_t>(qos_)}) return false;
        if (behaviour_ == behaviour::offline) {
            raw_disconnect(*c);
        } else {
            conn_ = std::move(c);
        }
        ++connects_;
        return true;
    }

    void run(std::uint16_t port, run_state& rs) {
        std::uniform_int_distribution<int> flap_ms(200, 1500);
        auto next_change = clock_type::now() + std::chrono::milliseconds(flap_ms(rng_));
        while (!rs.stop) {
            const bool want_online = rs.drain || behaviour_ == behaviour::online ||
                                     (behaviour_ == behaviour::flapping && flap_online_);
            if (behaviour_ == behaviour::flapping && !rs.drain &&
                clock_type::now() >= next_change) {
                flap_online_ = !flap_online_;
                ++flaps_;
                next_change = clock_type::now() + std::chrono::milliseconds(flap_ms(rng_));
                if (!flap_online_ && conn_) {
                    // Half the time a clean DISCONNECT, half the time a dropped socket.
                    if (rng_() % 2) conn_->send(proto::disconnect{});
                    conn_.reset();
                }
                continue;
            }
            if (!want_online) {
                std::this_thread::sleep_for(20ms);
                continue;
            }
            if (!conn_) {
                bool present = false;
                conn_ = try_connect(port, connect_, present);
                if (!conn_) continue;
                ++connects_;
                if (!present) ++session_lost_;  // I4: every connect after setup resumes
            }
            auto p = receive_or_drop(conn_, 10ms);
            if (!p) continue;
            std::vector<delivered> got;
            rx_.handle(*conn_, *p, got);
            last_packet_ = clock_type::now();
            for (auto& d : got)
                deliveries_.push_back(std::move(d));
        }
        if (conn_) conn_->send(proto::disconnect{});
        conn_.reset();
    }

    const std::vector<delivered>& deliveries() const { return deliveries_; }
    std::size_t connects() const { return connects_; }
    std::size_t flaps() const { return flaps_; }
    std::size_t session_lost() const { return session_lost_; }
    std::size_t qos2_filtered() const { return rx_.qos2_duplicates_filtered(); }
    const std::vector<std::string>& filtered_payloads() const { return rx_.filtered_payloads(); }
    clock_type::time_point last_packet() const { return last_packet_; }

  private:
    std::string id_;
    int qos_;
    behaviour behaviour_;
    std::mt19937_64 rng_;
    proto::connect connect_;
    std::unique_ptr<raw_client> conn_;
    acking_receiver rx_;
    std::vector<delivered> deliveries_;
    bool flap_online_ = true;
    std::size_t flaps_ = 0;
    std::size_t connects_ = 0;
    std::size_t session_lost_ = 0;
    std::atomic<clock_type::time_point> last_packet_{clock_type::now()};
};

// ---- the loop ----------------------------------------------------------------------------------

class CrashLoop : public engine_test {};

TEST_P(CrashLoop, NoAcknowledgedMessageLost) {
    const std::uint64_t seed = env_u64("RMQTT_CRASH_SEED", std::random_device{}());
    const std::uint64_t cycles = env_u64("RMQTT_CRASH_CYCLES", 40);
    std::cerr << "crash loop on " << engine() << ": seed " << seed << ", " << cycles
              << " cycles (RMQTT_CRASH_SEED=" << seed << " to repeat)\n";
    RecordProperty("seed", std::to_string(seed));
    std::mt19937_64 rng(seed);

    auto o = options({"max_mqueue_len = 1000000", "max_inflight = 32"});
    auto b = start_broker(std::move(o));
    run_state rs;

    std::vector<std::unique_ptr<publisher>> pubs;
    pubs.push_back(std::make_unique<publisher>(1, proto::version::v3_1_1));
    pubs.push_back(std::make_unique<publisher>(2, proto::version::v3_1_1));
    pubs.push_back(std::make_unique<publisher>(3, proto::version::v5));
    pubs.push_back(std::make_unique<publisher>(4, proto::version::v3_1_1, false));

    std::vector<std::unique_ptr<subscriber>> subs;
    auto add_sub = [&](const char* name, proto::version v, int qos, behaviour k) {
        subs.push_back(std::make_unique<subscriber>(name, v, qos, k, rng()));
    };
    add_sub("cs-online-311", proto::version::v3_1_1, 2, behaviour::online);
    add_sub("cs-online-5", proto::version::v5, 2, behaviour::online);
    add_sub("cs-online-q1", proto::version::v3_1_1, 1, behaviour::online);
    add_sub("cs-flap-311", proto::version::v3_1_1, 2, behaviour::flapping);
    add_sub("cs-flap-5", proto::version::v5, 2, behaviour::flapping);
    add_sub("cs-offline-311", proto::version::v3_1_1, 2, behaviour::offline);
    add_sub("cs-offline-5-q1", proto::version::v5, 1, behaviour::offline);
    for (auto& s : subs)
        ASSERT_TRUE(s->setup(*b)) << s->id();

    std::vector<std::thread> threads;
    for (auto& s : subs)
        threads.emplace_back([&, p = s.get()] { p->run(b->port(), rs); });
    for (auto& p : pubs)
        threads.emplace_back([&, q = p.get()] { q->run(b->port(), rs); });
    struct join_all {
        run_state& rs;
        std::vector<std::thread>& t;
        ~join_all() {
            rs.stop = true;
            for (auto& x : t)
                if (x.joinable()) x.join();
        }
    } joiner{rs, threads};

    // Kill -9 at random moments (exponential, mean 1.5 s); one cycle in five crashes again
    // shortly after the restart, while clients reconnect and stored queues are loaded. These
    // pauses are the test's random schedule, not synchronisation.
    std::exponential_distribution<double> gap(1.0 / 1.5);
    std::size_t crashes = 0;
    for (std::uint64_t cycle = 0; cycle < cycles; ++cycle) {
        const auto wait = std::clamp(gap(rng), 0.1, 4.0);
        std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(wait * 1000)));
        ASSERT_TRUE(b->running()) << "rmqttd exited by itself in cycle " << cycle;
        b->kill9();
        ++crashes;
        b->restart();
        if (rng() % 5 == 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 200));
            b->kill9();
            ++crashes;
            b->restart();
        }
    }
    // Load after the last restart too: messages routed to recovered sessions whose stored
    // queues are not loaded yet (the offline subscribers'). A random load time, like the above.
    std::this_thread::sleep_for(std::chrono::milliseconds(1000 + rng() % 1000));

    // Drain: no new messages; publishers complete their flows; then everyone comes online and
    // receives until nothing arrives for 3 s (polled every 500 ms: quiescence shows only as
    // silence, since unacknowledged messages may or may not still arrive).
    rs.load = false;
    bool pubs_done = eventually(
        [&] {
            for (auto& p : pubs)
                if (!p->finished()) return false;
            return true;
        },
        60s);
    EXPECT_TRUE(pubs_done) << "publishers completed their QoS flows";
    rs.drain = true;
    const auto drain_start = clock_type::now();
    const auto drain_deadline = drain_start + 60s;
    bool drained = false;
    while (!drained && clock_type::now() < drain_deadline) {
        std::this_thread::sleep_for(500ms);
        drained = true;
        for (auto& s : subs)
            if (clock_type::now() - std::max(s->last_packet(), drain_start) < 3s) drained = false;
    }
    EXPECT_TRUE(drained) << "subscribers still receiving 60 s into the drain";
    rs.stop = true;
    for (auto& t : threads)
        t.join();

    // ---- reconcile ----
    std::set<msg_id> acked;
    std::size_t published = 0, pub_connects = 0, pub_session_lost = 0, pub_errors = 0;
    std::size_t abandoned = 0;
    for (auto& p : pubs) {
        acked.insert(p->acked().begin(), p->acked().end());
        published += p->published();
        pub_connects += p->connects();
        pub_session_lost += p->session_lost();
        pub_errors += p->protocol_errors();
        abandoned += p->abandoned();
        EXPECT_EQ(p->unfinished(), 0u) << "publisher flows left open";
    }
    std::size_t delivered_total = 0, q1_dups = 0, q2_dups = 0, filtered = 0;
    for (auto& s : subs) {
        SCOPED_TRACE(s->id() + " on " + engine() + ", seed " + std::to_string(seed));
        const auto& d = s->deliveries();
        delivered_total += d.size();
        filtered += s->qos2_filtered();
        // Unacknowledged messages may or may not arrive: they are allowed, not required.
        std::vector<delivered> counted;
        std::size_t unacked_delivered = 0;
        for (const auto& x : d) {
            auto m = parse_payload(x.payload);
            if (m && !acked.contains(*m))
                ++unacked_delivered;
            else
                counted.push_back(x);
        }
        auto r = check_deliveries(counted, acked);
        std::string missing;
        for (const auto& m : r.missing_payloads) {
            missing += " " + m;
            const auto& f = s->filtered_payloads();
            if (std::find(f.begin(), f.end(), m) != f.end())
                missing += " (taken for a resend: its packet id was still held)";
        }
        EXPECT_EQ(r.missing, 0u) << "I1: acknowledged messages lost:" << missing;
        EXPECT_EQ(r.qos2_duplicates, 0u) << "I2: " << r.first_problem;
        EXPECT_EQ(r.out_of_order, 0u) << "I5: " << r.first_problem;
        EXPECT_EQ(r.unexpected, 0u) << r.first_problem;
        EXPECT_EQ(s->session_lost(), 0u) << "I4: reconnects without the session";
        // Show how the first QoS 2 duplicates arrived (packet ids, DUP, position).
        {
            std::map<std::string, std::size_t> first_at;
            int shown = 0;
            for (std::size_t i = 0; i < d.size() && shown < 3; ++i) {
                if (d[i].qos != 2) continue;
                auto [it, fresh] = first_at.emplace(d[i].payload, i);
                if (fresh) continue;
                const auto& a = d[it->second];
                std::cerr << "    QoS 2 duplicate " << d[i].payload << ": #" << it->second
                          << " pid " << a.packet_id << " dup " << a.dup << ", then #" << i
                          << " pid " << d[i].packet_id << " dup " << d[i].dup << "\n";
                ++shown;
            }
        }
        // Unacknowledged messages delivered twice at QoS 2 break I2 as well.
        std::map<std::string, int> unacked_q2;
        for (const auto& x : d) {
            auto m = parse_payload(x.payload);
            if (m && !acked.contains(*m) && x.qos == 2 && ++unacked_q2[x.payload] == 2) ++q2_dups;
        }
        q1_dups += r.qos1_duplicates;
        q2_dups += r.qos2_duplicates;
        std::cerr << "  " << s->id() << ": " << d.size() << " deliveries, " << r.missing
                  << " missing, " << r.qos1_duplicates << " QoS 1 duplicates, " << r.qos2_duplicates
                  << " QoS 2 duplicates, " << r.out_of_order << " out of order, "
                  << unacked_delivered << " unacknowledged delivered, " << s->qos2_filtered()
                  << " QoS 2 resends filtered (Method B), " << s->connects() << " connects, "
                  << s->flaps() << " flaps\n";
    }
    EXPECT_EQ(q2_dups, 0u) << "I2: QoS 2 duplicates over all subscribers, acknowledged or not";
    EXPECT_EQ(pub_session_lost, 0u) << "I4: a publisher reconnected without its session";
    std::cerr << "crash loop on " << engine() << " (seed " << seed << "): " << crashes
              << " kill -9, " << published << " published, " << acked.size() << " acknowledged ("
              << abandoned << " abandoned unacknowledged by the clean publisher), "
              << delivered_total << " delivered to " << subs.size() << " subscribers, " << q1_dups
              << " QoS 1 duplicates, " << q2_dups << " QoS 2 duplicates, " << filtered
              << " QoS 2 resends filtered, " << pub_connects << " publisher connects, "
              << pub_errors << " negative acks\n";
    EXPECT_GT(acked.size(), 100u) << "the load made progress";

    // I6 (Redis): after the drain nothing is left queued or awaiting PUBREL, and no shared
    // message or count.
    if (is_redis()) {
        bool clean = eventually(
            [&] {
                for (auto& s : subs)
                    if (redis().cli(cat("HLEN 'session-1:{", s->id(), "}:q'")) != "0\n")
                        return false;
                for (int i = 1; i <= 3; ++i)
                    if (redis().cli(cat("SCARD 'session-1:{cp-", i, "}:q2'")) != "0\n")
                        return false;
                for (const char* k : {"msg", "refs", "freed"})
                    if (redis().cli(cat("EXISTS 'session-1:shared:{m}:", k, "'")) != "0\n")
                        return false;
                return true;
            },
            10s);
        EXPECT_TRUE(clean)
            << "I6: queue entries, inbound QoS 2 ids or shared messages left in Redis";
        if (!clean) {
            for (auto& s : subs)
                std::cerr << "  " << s->id() << " queue fields: "
                          << redis().cli(cat("HLEN 'session-1:{", s->id(), "}:q'"));
        }
    }
    // I6 for both engines, by behaviour: after the drain and a graceful restart, every session
    // is present and nothing is delivered again (a leftover stored entry would be resent).
    EXPECT_EQ(b->stop(), 0);
    b->restart();
    std::vector<std::pair<std::string, std::unique_ptr<raw_client>>> again;
    for (auto& s : subs) {
        bool present = false;
        auto c = raw_connect_or_null(*b, s->connect_packet(), &present);
        ASSERT_TRUE(c) << s->id();
        EXPECT_TRUE(present) << s->id() << ": I4 after the final restart";
        again.emplace_back(s->id(), std::move(c));
    }
    // "Nothing is delivered again" is a negative check: one shared 1 s window (resends would
    // follow the CONNACK at once), then each connection is read until it is quiet.
    std::this_thread::sleep_for(1s);
    for (auto& [id, c] : again) {
        acking_receiver rx;
        auto stale = rx.receive(*c, 0, 1s, 200ms);
        EXPECT_TRUE(stale.empty())
            << "I6: " << id << " got " << stale.size() << " messages again after the drain, e.g. "
            << (stale.empty() ? std::string() : stale[0].payload);
    }
    EXPECT_EQ(b->stop(), 0);
    // I6 (RocksDB): the messages the subscribers shared (each stored once for all of them) went
    // with their last queue entry, across every kill -9.
    if (!is_redis()) {
        std::unique_ptr<storage::store> st;
        const auto opened = storage::open_rocksdb_store({.path = b->dir() + "/data/session/1"}, st);
        ASSERT_TRUE(opened.is_ok()) << opened.to_string();
        std::size_t shared = 0;
        const auto listed = st->for_each_message([&](std::uint64_t, storage::message_record&&) {
            ++shared;
            return true;
        });
        EXPECT_TRUE(listed.is_ok()) << listed.to_string();
        EXPECT_EQ(shared, 0u) << "I6: shared messages left in RocksDB after the drain";
        EXPECT_TRUE(st->close().is_ok());
    }
}

INSTANTIATE_TEST_SUITE_P(Engines, CrashLoop, ::testing::Values("rocksdb", "redis"), engine_name);

}  // namespace
}  // namespace rmqtt::test::persist
