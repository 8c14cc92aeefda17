// A message for several offline persistent sessions is stored once (storage::put_message, RocksDB
// "messages", Redis "<prefix>:shared:{m}:msg") and each session's queue entry references it. With
// a real rmqttd, one 5.0 publisher and four persistent subscribers (3.1.1 and 5.0, QoS 1 and 2):
// across a graceful restart and a kill -9 (one of them in the middle of a subscriber's drain),
// every subscriber receives every message as published (payload, QoS, 5.0 properties), in order,
// QoS 2 exactly once; and once all is acknowledged, `rmqttd store inspect` on the stopped broker's
// store finds no shared message left, and `rmqttd store check` finds no problem.
#include <nlohmann/json.hpp>

#include "persistence_util.hpp"

namespace rmqtt::test::persist {
namespace {

using json = nlohmann::json;

class Fanout : public engine_test {
  protected:
    std::vector<std::string> store_args(const broker_process& b) const {
        if (is_redis()) return {"--redis", redis_->url(), "--prefix", "session-1"};
        return {"--rocksdb", b.dir() + "/data/session/1"};
    }
    // `rmqttd store <cmd> ...` on the stopped broker's store: exit status and stdout.
    std::pair<int, std::string> run_store(const broker_process& b,
                                          std::vector<std::string> cmd) const {
        temp_dir tmp("rmqtt-fanout-tool");
        // Appended piece by piece: GCC 12 warns (-Wrestrict) on "'" + std::string here.
        std::string line = "'";
        line.append(rmqttd_binary()).append("' store");
        auto where = store_args(b);
        cmd.insert(cmd.end(), where.begin(), where.end());
        for (const auto& a : cmd)
            line.append(" '").append(a).append("'");
        line.append(" 2>'").append(tmp.file("stderr")).append("'");
        std::string out;
        FILE* p = ::popen(line.c_str(), "r");
        if (!p) return {-1, ""};
        char buf[4096];
        while (const std::size_t n = std::fread(buf, 1, sizeof buf, p))
            out.append(buf, n);
        const int status = ::pclose(p);
        return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out + read_file(tmp.file("stderr"))};
    }
    json inspect(const broker_process& b) const {
        auto [code, out] = run_store(b, {"inspect", "--json", "--progress", "0"});
        EXPECT_EQ(code, 0) << out;
        try {
            return json::parse(out);
        } catch (const std::exception& e) {
            ADD_FAILURE() << "inspect --json: " << e.what() << "\n" << out;
            return json::object();
        }
    }
};

struct subscriber {
    std::string id;
    proto::version version;
    int qos;  // subscription QoS
};

// The 5.0 properties message `i` is published with (none on every third, so both forms occur).
proto::properties properties_of(std::size_t i) {
    proto::properties p;
    if (i % 3 == 2) return p;
    p.content_type = cat("text/fan-", i);
    p.response_topic = cat("fo/reply/", i);
    p.correlation_data.emplace("c\0r", 3);
    p.correlation_data->append(std::to_string(i));
    p.payload_format_indicator = 0;  // binary: the payloads end in non-UTF-8 bytes
    p.user_properties.push_back({"k", cat("v", i)});
    p.user_properties.push_back({"k", "again"});
    return p;
}

struct sent_message {
    std::string topic;
    std::string payload;
    int qos = 1;
    proto::properties props;
};

// `n` messages from `first` on, QoS alternating 1 and 2, payloads "p1:<qos>:<seq>" (one sequence
// per QoS, as persistence_util's checks expect) followed by binary bytes.
std::vector<sent_message> messages(std::size_t first, std::size_t n) {
    std::vector<sent_message> out;
    for (std::size_t i = first; i < first + n; ++i) {
        const int q = static_cast<int>(i % 2) + 1;
        std::string payload = make_payload(1, q, i / 2 + 1);
        payload.push_back('\0');
        payload.push_back('\xff');
        out.push_back({cat("fo/t", i % 4), payload, q, properties_of(i)});
    }
    return out;
}

// Publishes `items` from a 5.0 client with up to 16 in flight; true when every one was
// acknowledged with success (PUBACK / PUBREC) and every QoS 2 flow completed.
bool publish_all_v5(raw_client& c, const std::vector<sent_message>& items) {
    std::map<std::uint16_t, int> open;
    std::size_t next = 0, acked = 0;
    std::uint16_t pid = 0;
    while (next < items.size() || !open.empty()) {
        while (next < items.size() && open.size() < 16) {
            const auto& m = items[next++];
            pid = static_cast<std::uint16_t>(pid % 65535 + 1);
            auto p = make_publish(m.topic, m.payload, m.qos, pid);
            p.props = m.props;
            c.send(p);
            open[pid] = m.qos;
        }
        auto p = c.receive(10s);
        if (!p) return false;
        if (auto* a = std::get_if<proto::puback>(&*p)) {
            if (proto::is_error(a->code)) return false;
            if (open.erase(a->packet_id)) ++acked;
        } else if (auto* r = std::get_if<proto::pubrec>(&*p)) {
            if (proto::is_error(r->code)) return false;
            ++acked;
            c.send(proto::pubrel{r->packet_id, {}, {}});
        } else if (auto* cp = std::get_if<proto::pubcomp>(&*p)) {
            open.erase(cp->packet_id);
        } else {
            return false;
        }
    }
    return acked == items.size();
}

// A subscriber's connection that keeps its QoS 2 state (Method B) across reconnects and records
// every PUBLISH delivered to the application.
struct receiver {
    subscriber sub;
    std::set<std::uint16_t> awaiting_rel;
    std::vector<proto::publish> got;

    std::unique_ptr<raw_client> connect(const broker_process& b, bool expect_present) {
        bool present = false;
        auto c = connect_when_ready(b, persistent_connect(sub.id, sub.version), 40s, &present);
        EXPECT_TRUE(c) << sub.id;
        if (c) {
            EXPECT_EQ(present, expect_present) << sub.id << ": session present";
        }
        return c;
    }
    // Reads until `want` more application messages arrived (or a 10 s silence), acknowledging
    // each; then whatever follows within `quiet`.
    void receive(raw_client& c, std::size_t want, std::chrono::milliseconds quiet = 300ms) {
        const std::size_t target = got.size() + want;
        auto step = [&](std::chrono::milliseconds wait) {
            auto p = c.receive(wait);
            if (!p) return false;
            if (auto* pub = std::get_if<proto::publish>(&*p)) {
                if (pub->qos_level == proto::qos::at_least_once) {
                    got.push_back(*pub);
                    c.send(proto::puback{pub->packet_id, {}, {}});
                } else {
                    if (awaiting_rel.insert(pub->packet_id).second) got.push_back(*pub);
                    c.send(proto::pubrec{pub->packet_id, {}, {}});
                }
            } else if (auto* rel = std::get_if<proto::pubrel>(&*p)) {
                awaiting_rel.erase(rel->packet_id);
                c.send(proto::pubcomp{rel->packet_id, {}, {}});
            }
            return true;
        };
        for (int i = 0; got.size() < target && i < 100'000; ++i) {
            if (!step(10s)) return;
        }
        for (int i = 0; i < 100'000 && step(quiet); ++i) {
        }
    }
};

// Each delivered message is one that was sent, with its topic, payload, QoS (the lower of the
// publish and subscription QoS) and, to a 5.0 subscriber, its properties; each first delivery
// in order; every message at least once, QoS 2 deliveries exactly once.
void expect_received(const receiver& r, const std::vector<sent_message>& sent) {
    std::map<std::string, const sent_message*> by_payload;
    for (const auto& m : sent)
        by_payload[m.payload] = &m;
    std::vector<std::string> payloads;
    std::vector<int> qos;
    std::size_t wrong = 0;
    for (const auto& p : r.got) {
        payloads.push_back(p.payload.substr(0, p.payload.size() - 2));
        qos.push_back(static_cast<int>(p.qos_level));
        const auto it = by_payload.find(p.payload);
        if (it == by_payload.end()) continue;  // check_deliveries reports it
        const sent_message& m = *it->second;
        const bool same = p.topic == m.topic &&
                          static_cast<int>(p.qos_level) == std::min(m.qos, r.sub.qos) &&
                          (r.sub.version != proto::version::v5 || p.props == m.props);
        if (!same && wrong++ == 0) {
            ADD_FAILURE() << r.sub.id << ": " << m.payload.substr(0, m.payload.size() - 2)
                          << " arrived changed (topic " << p.topic << ", QoS "
                          << static_cast<int>(p.qos_level) << ")";
        }
    }
    EXPECT_EQ(wrong, 0u) << r.sub.id;
    std::set<msg_id> expected;
    for (const auto& m : sent)
        expected.insert(*parse_payload(m.payload.substr(0, m.payload.size() - 2)));
    auto report = check_deliveries(payloads, expected, qos);
    EXPECT_DELIVERED_OK(report, r.sub.id);
}

TEST_P(Fanout, SharedMessagesSurviveRestartsAndGoOnceAcknowledged) {
    auto b = start_broker();
    std::vector<receiver> subs(4);
    subs[0].sub = {"fo-311-q2", proto::version::v3_1_1, 2};
    subs[1].sub = {"fo-5-q2", proto::version::v5, 2};
    subs[2].sub = {"fo-311-q1", proto::version::v3_1_1, 1};
    subs[3].sub = {"fo-5-q1", proto::version::v5, 1};
    for (const auto& r : subs)
        make_offline_subscriber(*b, persistent_connect(r.sub.id, r.sub.version), "fo/#", r.sub.qos);

    const auto first = messages(0, 300);
    {
        auto pub = raw_connect(*b, make_connect("fo-pub", proto::version::v5, true));
        ASSERT_TRUE(publish_all_v5(*pub, first)) << "every PUBLISH acknowledged";
        raw_disconnect(*pub);
    }
    ASSERT_EQ(b->stop(), 0);
    {
        const json j = inspect(*b);
        EXPECT_EQ(j.value("queued_messages", 0), 4 * 300) << j.dump();
        // Each message is stored once for the four sessions.
        EXPECT_EQ(j.value("shared_messages", -1), 300) << j.dump();
    }
    b->restart();

    // The first subscriber drains everything, then more is published and the broker killed.
    {
        auto c = subs[0].connect(*b, true);
        ASSERT_TRUE(c);
        subs[0].receive(*c, first.size());
        raw_disconnect(*c);
    }
    const auto second = messages(300, 200);
    {
        auto pub = raw_connect(*b, make_connect("fo-pub", proto::version::v5, true));
        ASSERT_TRUE(publish_all_v5(*pub, second)) << "every PUBLISH acknowledged";
        raw_disconnect(*pub);
    }
    // The second subscriber acknowledges part of its queue, then kill -9 while it is connected.
    {
        auto c = subs[1].connect(*b, true);
        ASSERT_TRUE(c);
        subs[1].receive(*c, 250, 0ms);
        b->kill9();
    }
    b->restart();

    auto all = first;
    all.insert(all.end(), second.begin(), second.end());
    for (std::size_t i = 0; i < subs.size(); ++i) {
        auto c = subs[i].connect(*b, true);
        ASSERT_TRUE(c);
        const std::size_t want = all.size() - std::min(all.size(), subs[i].got.size());
        subs[i].receive(*c, want);
        raw_disconnect(*c);
        SCOPED_TRACE(subs[i].sub.id);
        expect_received(subs[i], all);
    }
    ASSERT_EQ(b->stop(), 0);
    const json j = inspect(*b);
    EXPECT_EQ(j.value("queued_messages", -1), 0) << j.dump();
    EXPECT_EQ(j.value("inflight_messages", -1), 0) << j.dump();
    EXPECT_EQ(j.value("shared_messages", -1), 0) << j.dump();
    auto [code, out] = run_store(*b, {"check"});
    EXPECT_EQ(code, 0) << out;
}

INSTANTIATE_TEST_SUITE_P(Engines, Fanout, ::testing::Values("rocksdb", "redis"), engine_name);

}  // namespace
}  // namespace rmqtt::test::persist
