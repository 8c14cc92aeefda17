// Interoperability with the mosquitto command-line clients (child processes started and ended by
// pid, bounded with -W / -C and bounded waits).
#include <gtest/gtest.h>

#include <sstream>

#include "integration_util.hpp"

namespace rmqtt::test::integ {
namespace {

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string l; std::getline(in, l);)
        if (!l.empty()) out.push_back(l);
    return out;
}

int exit_code(std::optional<int> status) {
    if (!status) return -1;
    return WIFEXITED(*status) ? WEXITSTATUS(*status) : 128 + WTERMSIG(*status);
}

// mosquitto_pub once; returns its exit code (-1 if it did not finish within 15 s).
int mosquitto_pub(const broker_process& b, const temp_dir& dir, std::vector<std::string> args) {
    std::vector<std::string> argv = {"mosquitto_pub", "-h", "127.0.0.1", "-p",
                                     std::to_string(b.port())};
    argv.insert(argv.end(), args.begin(), args.end());
    child_process p(argv, dir.file("mosquitto_pub.log"));
    auto st = p.wait_for(15s);
    if (!st) p.kill_hard();
    return exit_code(st);
}

// A mosquitto_sub on `topic` printing "topic|qos|retain|payload" lines, ready once its
// SUBSCRIBE is acknowledged: it also subscribes (in the same SUBSCRIBE packet) to a topic that
// holds a retained "ready" marker, and the marker's arrival in its output proves the
// subscription is active. Exits after `count` data messages (+ the marker) or 20 s.
class mosquitto_sub {
  public:
    mosquitto_sub(const broker_process& b, const temp_dir& dir, const std::string& topic, int qos,
                  int count, const std::string& id, const std::string& marker_topic,
                  std::vector<std::string> extra = {})
        : log_(dir.file(id + ".out")) {
        std::vector<std::string> argv = {"mosquitto_sub",
                                         "-h",
                                         "127.0.0.1",
                                         "-p",
                                         std::to_string(b.port()),
                                         "-i",
                                         id,
                                         "-q",
                                         std::to_string(qos),
                                         "-t",
                                         marker_topic,
                                         "-t",
                                         topic,
                                         "-C",
                                         std::to_string(count + 1),
                                         "-W",
                                         "20",
                                         "-F",
                                         "%t|%q|%r|%p"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        proc_ = child_process(argv, log_);
    }
    bool wait_ready(const std::string& marker_topic) {
        return eventually(
            [&] { return read_file(log_).find(marker_topic + "|") != std::string::npos; }, 15s);
    }
    // Exit code, and the output lines (marker line removed).
    int wait_exit() { return exit_code(proc_.wait_for(25s)); }
    std::vector<std::string> data_lines(const std::string& marker_topic) {
        std::vector<std::string> out;
        for (auto& l : lines_of(read_file(log_)))
            if (l.rfind(marker_topic + "|", 0) != 0) out.push_back(l);
        return out;
    }

  private:
    std::string log_;
    child_process proc_;
};

// mosquitto_pub at QoS 0, 1, 2 -> Paho subscriber at QoS 2: payload and QoS arrive intact.
TEST(MosquittoClients, MosquittoPubToPaho) {
    auto b = start_broker();
    temp_dir dir("mosq-pub");
    mqtt_client sub(b->uri(), "paho-sub");
    sub.connect();
    ASSERT_EQ(sub.subscribe("cli/pub/#", 2), 2);
    for (int q = 0; q <= 2; ++q)
        ASSERT_EQ(mosquitto_pub(*b, dir,
                                {"-q", std::to_string(q), "-t", cat("cli/pub/q", q), "-m",
                                 cat("from-mosquitto-", q)}),
                  0)
            << read_file(dir.file("mosquitto_pub.log"));
    auto got = sub.take(3);
    ASSERT_EQ(got.size(), 3u);
    for (int q = 0; q <= 2; ++q) {
        EXPECT_EQ(got[q].topic, cat("cli/pub/q", q));
        EXPECT_EQ(got[q].payload, cat("from-mosquitto-", q));
        EXPECT_EQ(got[q].qos, q);
    }
    // A retained message from mosquitto_pub (-r) is retained.
    ASSERT_EQ(mosquitto_pub(*b, dir, {"-q", "1", "-r", "-t", "cli/pub/ret", "-m", "kept"}), 0);
    ASSERT_TRUE(sub.next());
    auto late = raw_connect(*b, "raw-late");
    ASSERT_EQ(raw_subscribe(*late, 1, {{"cli/pub/ret", 1}}), std::vector<std::uint8_t>{1});
    auto r = expect<proto::publish>(*late);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->payload, "kept");
    EXPECT_TRUE(r->retain);
}

// Paho publisher -> mosquitto_sub at each QoS: every message, in order, at min(pub, sub) QoS.
TEST(MosquittoClients, PahoToMosquittoSub) {
    auto b = start_broker();
    temp_dir dir("mosq-sub");
    auto pub = raw_connect(*b, "raw-pub");
    ASSERT_TRUE(raw_publish(*pub, "cli/ready", "ready", 1, 100, /*retain=*/true));
    mqtt_client paho(b->uri(), "paho-pub");
    paho.connect();
    for (int sq = 0; sq <= 2; ++sq) {
        SCOPED_TRACE(cat("mosquitto_sub -q ", sq));
        mosquitto_sub s(*b, dir, "cli/sub", sq, 3, cat("msub", sq), "cli/ready");
        ASSERT_TRUE(s.wait_ready("cli/ready"));
        for (int pq = 0; pq <= 2; ++pq)
            paho.publish("cli/sub", cat("p", pq), pq);
        EXPECT_EQ(s.wait_exit(), 0);
        std::vector<std::string> expected;
        for (int pq = 0; pq <= 2; ++pq)
            expected.push_back(cat("cli/sub|", std::min(pq, sq), "|0|p", pq));
        EXPECT_EQ(s.data_lines("cli/ready"), expected);
    }
}

// mosquitto_pub -> mosquitto_sub, MQTT 3.1.1 and 3.1, with the retained marker showing RETAIN 1
// on a new subscription.
TEST(MosquittoClients, MosquittoToMosquitto) {
    auto b = start_broker();
    temp_dir dir("mosq-both");
    ASSERT_EQ(mosquitto_pub(*b, dir, {"-q", "1", "-r", "-t", "mm/ready", "-m", "ready"}), 0);
    for (const std::string v : {"mqttv311", "mqttv31"}) {
        SCOPED_TRACE(v);
        mosquitto_sub s(*b, dir, "mm/data", 2, 2, cat("mm-", v), "mm/ready", {"-V", v});
        ASSERT_TRUE(s.wait_ready("mm/ready"));
        ASSERT_EQ(mosquitto_pub(*b, dir, {"-V", v, "-q", "2", "-t", "mm/data", "-m", "two"}), 0);
        ASSERT_EQ(mosquitto_pub(*b, dir, {"-V", v, "-q", "1", "-t", "mm/data", "-m", "one"}), 0);
        EXPECT_EQ(s.wait_exit(), 0);
        EXPECT_EQ(s.data_lines("mm/ready"),
                  (std::vector<std::string>{"mm/data|2|0|two", "mm/data|1|0|one"}));
        const auto all = lines_of(read_file(dir.file(cat("mm-", v, ".out"))));
        ASSERT_FALSE(all.empty());
        EXPECT_EQ(all.front(), "mm/ready|1|1|ready") << "retained marker with RETAIN 1";
    }
}

// A persistent mosquitto_sub session (-c): messages published while it is away are delivered
// when it comes back.
TEST(MosquittoClients, PersistentMosquittoSubGetsQueuedMessages) {
    auto b = start_broker();
    temp_dir dir("mosq-persist");
    {
        // -E: exit as soon as the SUBSCRIBE is acknowledged; -c keeps the session.
        child_process p({"mosquitto_sub", "-h", "127.0.0.1", "-p", std::to_string(b->port()), "-c",
                         "-i", "mq-persist", "-q", "1", "-t", "mp/t", "-E"},
                        dir.file("first.out"));
        ASSERT_EQ(exit_code(p.wait_for(15s)), 0) << read_file(dir.file("first.out"));
    }
    auto pub = raw_connect(*b, "mp-pub");
    for (int i = 0; i < 3; ++i)
        ASSERT_TRUE(
            raw_publish(*pub, "mp/t", cat("q", i), 1 + i % 2, static_cast<std::uint16_t>(i + 1)));
    child_process p(
        {"mosquitto_sub", "-h", "127.0.0.1", "-p", std::to_string(b->port()), "-c", "-i",
         "mq-persist", "-q", "1", "-t", "mp/t", "-C", "3", "-W", "20", "-F", "%t|%q|%p"},
        dir.file("second.out"));
    EXPECT_EQ(exit_code(p.wait_for(25s)), 0);
    EXPECT_EQ(lines_of(read_file(dir.file("second.out"))),
              (std::vector<std::string>{"mp/t|1|q0", "mp/t|1|q1", "mp/t|1|q2"}));
}

}  // namespace
}  // namespace rmqtt::test::integ
