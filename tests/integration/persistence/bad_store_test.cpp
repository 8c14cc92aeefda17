// A store rmqttd cannot use (DESIGN.md section 3): a corrupt RocksDB directory or an unreachable
// Redis at startup is a clear error naming the store and a non-zero exit (never a crash, never
// a silent start with an empty store); Redis failing while rmqttd runs is no crash: publishers
// to persistent sessions get back-pressure and then the protocol's answer, and after Redis
// returns rmqttd resumes by itself without losing anything it acknowledged.
#include <sys/wait.h>

#include <filesystem>

#include "persistence_util.hpp"

namespace rmqtt::test::persist {
namespace {

namespace fs = std::filesystem;

// The log of the last start only.
std::string last_start_log(const broker_process& b) {
    const auto log = b.log();
    const auto at = log.rfind("starting: node");
    return at == std::string::npos ? log : log.substr(log.rfind('\n', at) + 1);
}

std::string store_path(const broker_process& b) {
    return b.dir() + "/data/session/1";
}

// A RocksDB store with one offline persistent session holding one queued message.
void seed_store(broker_process& b) {
    b.start();
    {
        ASSERT_NO_FATAL_FAILURE(make_offline_subscriber(
            b, persistent_connect("bad-sub", proto::version::v3_1_1), "bad/#", 1));
        auto p = raw_connect_or_null(b, make_connect("bad-pub", proto::version::v3_1_1, true));
        ASSERT_TRUE(p);
        ASSERT_EQ(publish_all(*p, {{"bad/x", make_payload(1, 1, 1), 1, false}}), 1u);
    }
    ASSERT_EQ(b.stop(), 0);
}

// After the damaged files are put back, the same store opens with its session and message:
// the refused start did not wipe or "repair" it into an empty store.
void expect_store_intact(broker_process& b) {
    b.start();
    bool present = false;
    auto s =
        raw_connect_or_null(b, persistent_connect("bad-sub", proto::version::v3_1_1), &present);
    ASSERT_TRUE(s);
    EXPECT_TRUE(present);
    acking_receiver rx;
    auto got = rx.receive(*s, 1, 10s);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].payload, make_payload(1, 1, 1));
}

broker_process::options rocksdb_options() {
    broker_process::options o;
    o.storage_type = "rocksdb";
    return o;
}

TEST(BadStore, GarbageCurrentFileIsAClearError) {
    broker_ptr b(new broker_process(rocksdb_options()));
    seed_store(*b);
    const auto current = store_path(*b) + "/CURRENT";
    ASSERT_TRUE(fs::exists(current));
    const auto saved = read_file(current);
    write_file(current, "\x01\x02garbage that names no manifest\n");
    expect_refused_start(*b, "on a store it cannot use");
    EXPECT_NE(last_start_log(*b).find(store_path(*b)), std::string::npos)
        << "the error names the store's path";
    write_file(current, saved);
    expect_store_intact(*b);
}

TEST(BadStore, GarbageManifestIsAClearError) {
    broker_ptr b(new broker_process(rocksdb_options()));
    seed_store(*b);
    std::vector<std::pair<std::string, std::string>> saved;
    for (const auto& e : fs::directory_iterator(store_path(*b))) {
        const auto name = e.path().filename().string();
        if (!name.starts_with("MANIFEST-")) continue;
        saved.emplace_back(e.path().string(), read_file(e.path().string()));
        std::string junk(saved.back().second.size() + 64, '\0');
        for (std::size_t i = 0; i < junk.size(); ++i)
            junk[i] = static_cast<char>((i * 131 + 17) & 0xFF);
        write_file(e.path().string(), junk);
    }
    ASSERT_FALSE(saved.empty()) << "a RocksDB store has a MANIFEST";
    expect_refused_start(*b, "on a store it cannot use");
    EXPECT_NE(last_start_log(*b).find(store_path(*b)), std::string::npos)
        << "the error names the store's path";
    for (const auto& [path, bytes] : saved)
        write_file(path, bytes);
    expect_store_intact(*b);
}

// A store whose CURRENT file is gone still has its data files: opening it as a new, empty store
// would silently lose every session.
TEST(BadStore, MissingCurrentFileIsNotAnEmptyStore) {
    broker_ptr b(new broker_process(rocksdb_options()));
    seed_store(*b);
    const auto current = store_path(*b) + "/CURRENT";
    const auto saved = read_file(current);
    fs::remove(current);
    expect_refused_start(*b, "on a store it cannot use");
    EXPECT_NE(last_start_log(*b).find(store_path(*b)), std::string::npos)
        << "the error names the store's path";
    write_file(current, saved);
    expect_store_intact(*b);
}

TEST(BadStore, RedisUnreachableAtStartupIsAClearError) {
    const auto port = free_port();  // nothing listens there
    broker_process::options o;
    o.storage_type = "redis";
    o.redis_url = cat("redis://127.0.0.1:", port, "/");
    broker_ptr b(new broker_process(o));
    expect_refused_start(*b, "on a store it cannot use");
    EXPECT_NE(last_start_log(*b).find(cat("127.0.0.1:", port)), std::string::npos)
        << "the error names the Redis address";
}

// What a publisher gets for one QoS 1 PUBLISH while the store is down.
struct outage_answer {
    std::optional<proto::reason_code> puback;      // PUBACK's reason code
    std::optional<proto::reason_code> disconnect;  // DISCONNECT's reason code (5.0)
    bool closed = false;
};

outage_answer publish_during_outage(raw_client& c, const std::string& topic,
                                    const std::string& payload, std::uint16_t pid) {
    outage_answer a;
    c.send(make_publish(topic, payload, 1, pid));
    // Bounded: back-pressure lasts backend_timeout (2 s here) per attempt.
    const auto deadline = std::chrono::steady_clock::now() + 40s;
    while (std::chrono::steady_clock::now() < deadline) {
        auto p = c.receive(1s);
        if (!p) {
            if (c.wait_closed(0ms)) {
                a.closed = true;
                return a;
            }
            continue;
        }
        if (auto* ack = std::get_if<proto::puback>(&*p)) {
            if (ack->packet_id == pid) {
                a.puback = ack->code;
                return a;
            }
        } else if (auto* d = std::get_if<proto::disconnect>(&*p)) {
            a.disconnect = d->code;
        }
    }
    return a;
}

TEST(BadStore, RedisKilledWhileRunning) {
    redis_server redis;
    auto o = redis_options(redis);
    o.storage_config = {"backend_timeout = \"2s\""};
    auto b = start_broker_with(std::move(o));

    const auto s3 = persistent_connect("rk-sub-311", proto::version::v3_1_1);
    const auto s5 = persistent_connect("rk-sub-5", proto::version::v5);
    for (const auto& c : {s3, s5})
        ASSERT_NO_FATAL_FAILURE(make_offline_subscriber(*b, c, "rk/#", 2));
    const auto p3c = persistent_connect("rk-pub-311", proto::version::v3_1_1);
    const auto p5c = persistent_connect("rk-pub-5", proto::version::v5);

    // Before the outage: acknowledged, so stored.
    const auto before = numbered(1, "rk", 20);
    {
        auto p = raw_connect_or_null(*b, p3c);
        ASSERT_TRUE(p);
        ASSERT_EQ(publish_all(*p, before), before.size());
    }
    auto p5 = raw_connect_or_null(*b, p5c);
    auto p3 = raw_connect_or_null(*b, p3c);
    ASSERT_TRUE(p5 && p3);

    redis.kill_hard();

    // 5.0: a negative PUBACK (0x97 Quota exceeded, or another error code) or DISCONNECT with an
    // error; never PUBACK success for a message that could not be stored.
    const auto a5 = publish_during_outage(*p5, "rk/q1", make_payload(9, 1, 1), 100);
    EXPECT_TRUE((a5.puback && proto::is_error(*a5.puback)) ||
                (a5.disconnect && proto::is_error(*a5.disconnect)))
        << "5.0 publisher: puback " << (a5.puback ? static_cast<int>(*a5.puback) : -1)
        << ", disconnect " << (a5.disconnect ? static_cast<int>(*a5.disconnect) : -1) << ", closed "
        << a5.closed;
    // While the store stays down the next one meets back-pressure, then the design's answer:
    // PUBACK 0x97 (Quota exceeded) or DISCONNECT 0x89 (Server busy) (DESIGN.md section 3).
    if (!a5.closed) {
        const auto b5 = publish_during_outage(*p5, "rk/q1", make_payload(9, 1, 3), 101);
        EXPECT_TRUE((b5.puback == proto::reason_code::quota_exceeded) ||
                    (b5.disconnect == proto::reason_code::server_busy))
            << "5.0 publisher, second message: puback "
            << (b5.puback ? static_cast<int>(*b5.puback) : -1) << ", disconnect "
            << (b5.disconnect ? static_cast<int>(*b5.disconnect) : -1);
    }
    // 3.1.1 has no negative PUBACK: the connection is closed so the client resends later.
    const auto a3 = publish_during_outage(*p3, "rk/q1", make_payload(9, 1, 2), 100);
    EXPECT_FALSE(a3.puback.has_value()) << "3.1.1 publisher got a PUBACK for an unstored message";
    EXPECT_TRUE(a3.closed) << "3.1.1 publisher's connection closed";
    EXPECT_TRUE(b->running()) << "rmqttd survives the outage";
    std::cerr << "during the outage: 5.0 PUBACK " << (a5.puback ? static_cast<int>(*a5.puback) : -1)
              << ", DISCONNECT " << (a5.disconnect ? static_cast<int>(*a5.disconnect) : -1)
              << "; 3.1.1 closed " << a3.closed << "\n";

    redis.restart();

    // rmqttd resumes by itself: new persistent connections are accepted and publishes stored.
    p5 = connect_when_ready(*b, p5c);
    ASSERT_TRUE(p5) << "5.0 publisher accepted again after Redis returned";
    const auto after5 = numbered(2, "rk", 20);
    EXPECT_EQ(publish_all(*p5, after5, 8), after5.size());
    p3 = connect_when_ready(*b, p3c);
    ASSERT_TRUE(p3) << "3.1.1 publisher accepted again after Redis returned";
    const auto after3 = numbered(3, "rk", 20);
    EXPECT_EQ(publish_all(*p3, after3), after3.size());
    EXPECT_TRUE(b->running());

    // Every acknowledged message is delivered; the refused ones may or may not be.
    auto expected = ids_of(before);
    expected.merge(ids_of(after5));
    expected.merge(ids_of(after3));
    for (const auto& c : {s3, s5}) {
        bool present = false;
        auto s = raw_connect_or_null(*b, c, &present);
        ASSERT_TRUE(s);
        EXPECT_TRUE(present) << c.client_id;
        acking_receiver rx;
        auto got = rx.receive(*s, expected.size(), 20s, 500ms);
        std::vector<delivered> counted;
        for (const auto& d : got)
            if (auto m = parse_payload(d.payload); m && m->pub != 9) counted.push_back(d);
        EXPECT_DELIVERED_OK(check_deliveries(counted, expected), c.client_id);
    }
    EXPECT_EQ(b->stop(), 0);
}

}  // namespace
}  // namespace rmqtt::test::persist
