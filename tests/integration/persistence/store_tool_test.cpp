// `rmqttd store` (tools/store, docs/store-format.md) on stores a real rmqttd filled: persistent
// sessions with subscriptions and queued QoS 1 messages from real clients, and a retained message.
// Inspect counts them; export -> import into a fresh RocksDB and a fresh Redis gives the same
// records, and a broker on the imported store resumes the sessions and delivers the queued
// messages; check finds orphans (written with the store API) and undecodable records, --repair
// removes the orphans; a store a running broker holds is refused; a bad JSONL line is reported
// with its number and leaves the store as it was; compact compacts.
#include <rocksdb/db.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <rmqtt/storage/rocksdb_store.hpp>
#include <rmqtt/storage/store.hpp>
#include <rmqtt/storage/value_codec.hpp>
#include <sstream>

#include "persistence_util.hpp"

namespace rmqtt::test::persist {
namespace {

using json = nlohmann::json;

struct tool_result {
    int code = -1;
    std::string out;
    std::string err;
};

std::string quoted(const std::string& s) {
    std::string out = "'";
    for (const char c : s) {
        if (c == '\'')
            out += "'\\''";
        else
            out += c;
    }
    return out + "'";
}

// Runs `rmqttd store <args>` and collects its exit status, stdout and stderr.
tool_result run_store(const std::vector<std::string>& args) {
    temp_dir tmp("rmqtt-store-tool");
    std::string cmd = quoted(rmqttd_binary()) + " store";
    for (const auto& a : args) {
        cmd += ' ';
        cmd += quoted(a);
    }
    cmd += " 2>";
    cmd += quoted(tmp.file("stderr"));
    tool_result r;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return r;
    char buf[4096];
    while (const std::size_t n = std::fread(buf, 1, sizeof buf, p))
        r.out.append(buf, n);
    const int status = ::pclose(p);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.err = read_file(tmp.file("stderr"));
    return r;
}

std::string describe(const tool_result& r) {
    return cat("exit ", r.code, "\nstdout:\n", r.out, "\nstderr:\n", r.err);
}

// The lines of an export after its header (which names the source and the time).
std::vector<std::string> records_of(const std::string& file) {
    std::istringstream in(read_file(file));
    std::vector<std::string> out;
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line))
        out.push_back(line);
    return out;
}

class StoreTool : public engine_test {
  protected:
    std::string rocksdb_path(const broker_process& b) const { return b.dir() + "/data/session/1"; }
    // The tool's options naming the store of broker `b`.
    std::vector<std::string> where(const broker_process& b) const {
        if (is_redis()) return {"--redis", redis_->url(), "--prefix", "session-1"};
        return {"--rocksdb", rocksdb_path(b)};
    }
    std::vector<std::string> args(std::vector<std::string> head, const broker_process& b,
                                  std::vector<std::string> tail = {}) const {
        auto w = where(b);
        head.insert(head.end(), w.begin(), w.end());
        head.insert(head.end(), tail.begin(), tail.end());
        return head;
    }
    broker_process::options store_options() const {
        auto o = options();
        o.retainer_type = "rocksdb";  // retained messages in the session store
        return o;
    }
    storage::status open_store(const broker_process& b, std::unique_ptr<storage::store>& st) const {
        if (is_redis()) {
            std::vector<std::string> warnings;
            return storage::open_redis_store({.url = redis_->url(), .prefix = "session-1"}, st,
                                             warnings);
        }
        return storage::open_rocksdb_store({.path = rocksdb_path(b)}, st);
    }

    // Two offline persistent sessions (3.1.1 and 5.0), 8 queued QoS 1 messages between them, one
    // retained message; then a graceful stop.
    broker_ptr filled_store() {
        auto b = start_broker(store_options());
        make_offline_subscriber(*b, persistent_connect("st-a", proto::version::v3_1_1), "st/a", 1);
        make_offline_subscriber(*b, persistent_connect("st-b", proto::version::v5), "st/#", 1);
        auto pub = raw_connect(*b, "st-pub");
        EXPECT_TRUE(raw_publish(*pub, "st/a", "a1", 1, 1));
        EXPECT_TRUE(raw_publish(*pub, "st/a", "a2", 1, 2));
        EXPECT_TRUE(raw_publish(*pub, "st/a", "a3", 1, 3));
        EXPECT_TRUE(raw_publish(*pub, "st/b", "b1", 1, 4));
        EXPECT_TRUE(raw_publish(*pub, "st/r", "r1", 1, 5, true));
        raw_disconnect(*pub);
        EXPECT_EQ(b->stop(), 0);
        return b;
    }
};

// What a resumed session receives: its queued messages, in order [MQTT-4.6.0-6].
void expect_resumed(const broker_process& b, const std::string& id, proto::version v,
                    const std::vector<std::string>& payloads) {
    bool present = false;
    auto c = raw_connect(b, persistent_connect(id, v), &present);
    ASSERT_TRUE(c) << id;
    EXPECT_TRUE(present) << id << ": session present [MQTT-3.2.2-2]";
    std::vector<std::string> got;
    for (std::size_t i = 0; i < payloads.size(); ++i) {
        auto p = expect<proto::publish>(*c);
        if (!p) break;
        got.push_back(p->payload);
        raw_ack(*c, *p);
    }
    EXPECT_EQ(got, payloads) << id;
    raw_disconnect(*c);
}

TEST_P(StoreTool, InspectCountsWhatTheBrokerStored) {
    auto b = filled_store();
    auto r = run_store(args({"inspect", "--json", "--clients", "--progress", "3"}, *b));
    ASSERT_EQ(r.code, 0) << describe(r);
    const auto j = json::parse(r.out);
    EXPECT_EQ(j["engine"], engine());
    EXPECT_EQ(j["sessions"]["total"], 2);
    EXPECT_EQ(j["sessions"]["persistent"], 2);
    EXPECT_EQ(j["sessions"]["expired"], 0);
    EXPECT_EQ(j["subscriptions"], 2);
    EXPECT_EQ(j["queued_messages"], 8);  // st-a: a1..a3; st-b: a1..a3, b1, r1
    EXPECT_EQ(j["inflight_messages"], 0);
    EXPECT_EQ(j["retained"], 1);
    EXPECT_EQ(j["undecodable"], 0);
    ASSERT_TRUE(j["oldest_queued"].is_object()) << r.out;
    EXPECT_EQ(j["oldest_queued"]["topic"], "st/a");
    EXPECT_GE(j["oldest_queued"]["age_ms"].get<std::int64_t>(), 0);
    EXPECT_GT(j["bytes"]["total"].get<std::int64_t>(), 0);
    ASSERT_EQ(j["clients"].size(), 2u);
    EXPECT_EQ(j["clients"][0]["client_id"], "st-b");  // most messages first
    EXPECT_EQ(j["clients"][0]["queued"], 5);
    EXPECT_EQ(j["clients"][1]["queued"], 3);
    EXPECT_NE(r.err.find("read 3 records..."), std::string::npos) << r.err;

    r = run_store(args({"inspect", "--clients"}, *b));
    ASSERT_EQ(r.code, 0) << describe(r);
    EXPECT_NE(r.out.find("queued messages:   8"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("st-a"), std::string::npos) << r.out;
}

// The migration path: export, import into a fresh RocksDB and a fresh Redis, export both again:
// the same records; a broker on each imported store resumes both sessions.
TEST_P(StoreTool, ExportImportRoundTripAndResume) {
    auto b = filled_store();
    temp_dir files("rmqtt-store-export");
    const std::string exported = files.file("store.jsonl");
    auto r = run_store(args({"export", "-o", exported}, *b));
    ASSERT_EQ(r.code, 0) << describe(r);
    const auto records = records_of(exported);
    ASSERT_GE(records.size(), 2u + 2 + 8 + 1 + 1) << read_file(exported);
    EXPECT_EQ(json::parse(records.back())["type"], "end");

    // Into RocksDB: the store of a broker not started yet.
    auto rocks_opts = store_options();
    rocks_opts.storage_type = "rocksdb";
    broker_ptr into_rocks(new broker_process(rocks_opts));
    const std::string rocks_path = into_rocks->dir() + "/data/session/1";
    r = run_store({"import", "--rocksdb", rocks_path, exported});
    ASSERT_EQ(r.code, 0) << describe(r);
    EXPECT_NE(r.out.find("(2 sessions)"), std::string::npos) << r.out;
    // Into Redis: a redis-server of its own.
    redis_server target;
    r = run_store({"import", "--redis", target.url(), "--prefix", "session-1", exported});
    ASSERT_EQ(r.code, 0) << describe(r);

    r = run_store({"export", "--rocksdb", rocks_path, "-o", files.file("rocks.jsonl")});
    ASSERT_EQ(r.code, 0) << describe(r);
    EXPECT_EQ(records_of(files.file("rocks.jsonl")), records);
    r = run_store({"export", "--redis", target.url(), "--prefix", "session-1", "-o",
                   files.file("redis.jsonl")});
    ASSERT_EQ(r.code, 0) << describe(r);
    EXPECT_EQ(records_of(files.file("redis.jsonl")), records);

    // A second import into the same store is refused: it is not empty.
    r = run_store({"import", "--rocksdb", rocks_path, exported});
    EXPECT_EQ(r.code, 3) << describe(r);
    EXPECT_NE(r.err.find("not empty"), std::string::npos) << r.err;

    into_rocks->start();
    expect_resumed(*into_rocks, "st-a", proto::version::v3_1_1, {"a1", "a2", "a3"});
    expect_resumed(*into_rocks, "st-b", proto::version::v5, {"a1", "a2", "a3", "b1", "r1"});
    EXPECT_EQ(into_rocks->stop(), 0);

    auto redis_opts = redis_options(target);
    redis_opts.retainer_type = "rocksdb";
    auto into_redis = start_broker(redis_opts);
    expect_resumed(*into_redis, "st-a", proto::version::v3_1_1, {"a1", "a2", "a3"});
    expect_resumed(*into_redis, "st-b", proto::version::v5, {"a1", "a2", "a3", "b1", "r1"});
    EXPECT_EQ(into_redis->stop(), 0);
}

TEST_P(StoreTool, CheckFindsAnOrphanAndRepairRemovesIt) {
    auto b = filled_store();
    auto r = run_store(args({"check"}, *b));
    ASSERT_EQ(r.code, 0) << describe(r);
    EXPECT_NE(r.out.find(": 0 problems"), std::string::npos) << r.out;
    {
        // What a crash between a session's delete and a late write for it leaves: records of a
        // client id without its session record.
        std::unique_ptr<storage::store> st;
        ASSERT_TRUE(open_store(*b, st));
        storage::write_batch w;
        storage::subscription_record sub;
        sub.filter = "ghost/#";
        sub.qos = 1;
        w.ops.emplace_back(storage::put_subscription{"ghost", sub});
        storage::queue_entry e;
        e.seq = 7;
        e.message.topic = "ghost/1";
        e.message.payload = "boo";
        w.ops.emplace_back(storage::put_queue_entry{"ghost", e});
        ASSERT_TRUE(st->write(w));
        ASSERT_TRUE(st->close());
    }
    r = run_store(args({"check"}, *b));
    EXPECT_EQ(r.code, 1) << describe(r);
    EXPECT_NE(r.out.find("orphan: client id 'ghost'"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("1 orphan client ids"), std::string::npos) << r.out;
    // Export leaves orphans out and says so.
    temp_dir files("rmqtt-store-export");
    r = run_store(args({"export", "-o", files.file("x.jsonl")}, *b));
    EXPECT_EQ(r.code, 0) << describe(r);
    EXPECT_NE(r.err.find("1 client ids have records without a session record"), std::string::npos)
        << r.err;
    EXPECT_EQ(read_file(files.file("x.jsonl")).find("ghost"), std::string::npos);

    r = run_store(args({"check", "--repair"}, *b));
    EXPECT_EQ(r.code, 0) << describe(r);
    EXPECT_NE(r.out.find("removed 1 orphan client ids"), std::string::npos) << r.out;

    r = run_store(args({"check"}, *b));
    EXPECT_EQ(r.code, 0) << describe(r);
    EXPECT_NE(r.out.find(": 0 problems"), std::string::npos) << r.out;
    // The sessions themselves are untouched.
    r = run_store(args({"inspect", "--json"}, *b));
    ASSERT_EQ(r.code, 0) << describe(r);
    EXPECT_EQ(json::parse(r.out)["queued_messages"], 8);
}

// Messages sent and not acknowledged when the broker stopped are stored in flight; they are
// counted, exported as "inflight" lines and survive an import, and the resumed session gets them
// again with DUP set [MQTT-4.4.0-1].
TEST_P(StoreTool, InflightMessagesRoundTrip) {
    auto b = start_broker(store_options());
    {
        auto sub = raw_connect(*b, persistent_connect("st-c", proto::version::v3_1_1));
        subscribe_ok(*sub, {{"st/c", 1}});
        auto pub = raw_connect(*b, "st-pub");
        EXPECT_TRUE(raw_publish(*pub, "st/c", "c1", 1, 1));
        EXPECT_TRUE(raw_publish(*pub, "st/c", "c2", 1, 2));
        for (int i = 0; i < 2; ++i)
            EXPECT_TRUE(expect<proto::publish>(*sub)) << "delivered, never acknowledged";
        raw_disconnect(*pub);
        raw_disconnect(*sub);
    }
    EXPECT_EQ(b->stop(), 0);
    auto r = run_store(args({"inspect", "--json"}, *b));
    ASSERT_EQ(r.code, 0) << describe(r);
    EXPECT_EQ(json::parse(r.out)["inflight_messages"], 2) << r.out;
    EXPECT_EQ(json::parse(r.out)["queued_messages"], 0) << r.out;

    temp_dir files("rmqtt-store-export");
    r = run_store(args({"export", "-o", files.file("a.jsonl")}, *b));
    ASSERT_EQ(r.code, 0) << describe(r);
    std::size_t inflight = 0;
    for (const auto& line : records_of(files.file("a.jsonl"))) {
        const auto j = json::parse(line);
        if (j["type"] == "inflight") {
            ++inflight;
            EXPECT_EQ(j["state"], "sent") << line;
            EXPECT_NE(j["packet_id"], 0) << line;
        }
    }
    EXPECT_EQ(inflight, 2u);

    auto o = store_options();
    o.storage_type = "rocksdb";
    broker_ptr copy(new broker_process(o));
    r = run_store({"import", "--rocksdb", copy->dir() + "/data/session/1", files.file("a.jsonl")});
    ASSERT_EQ(r.code, 0) << describe(r);
    r = run_store(
        {"export", "--rocksdb", copy->dir() + "/data/session/1", "-o", files.file("b.jsonl")});
    ASSERT_EQ(r.code, 0) << describe(r);
    EXPECT_EQ(records_of(files.file("b.jsonl")), records_of(files.file("a.jsonl")));

    copy->start();
    bool present = false;
    auto c = raw_connect(*copy, persistent_connect("st-c", proto::version::v3_1_1), &present);
    EXPECT_TRUE(present);
    for (const char* payload : {"c1", "c2"}) {
        auto p = expect<proto::publish>(*c);
        ASSERT_TRUE(p) << payload;
        EXPECT_EQ(p->payload, payload);
        EXPECT_TRUE(p->dup) << "a resent in-flight message carries DUP";
        raw_ack(*c, *p);
    }
    raw_disconnect(*c);
    EXPECT_EQ(copy->stop(), 0);
}

// Redis: a session record missing from the sessions index is invisible to recovery; check
// reports it and --repair writes the session again, which indexes it.
// Client ids with the characters the Redis layout escapes ('{', '}', '%') come back unchanged,
// through either engine.
TEST_P(StoreTool, ClientIdsTheRedisLayoutEscapesRoundTrip) {
    const std::string id = "we{ir}d%7Bid%";
    auto b = start_broker(store_options());
    make_offline_subscriber(*b, persistent_connect(id, proto::version::v5), "st/odd", 1);
    {
        auto pub = raw_connect(*b, "st-pub");
        EXPECT_TRUE(raw_publish(*pub, "st/odd", "o1", 1, 1));
        raw_disconnect(*pub);
    }
    EXPECT_EQ(b->stop(), 0);
    temp_dir files("rmqtt-store-export");
    auto r = run_store(args({"export", "-o", files.file("a.jsonl")}, *b));
    ASSERT_EQ(r.code, 0) << describe(r);
    const auto records = records_of(files.file("a.jsonl"));
    ASSERT_FALSE(records.empty());
    EXPECT_EQ(json::parse(records.front())["client_id"], id) << records.front();

    // Into the other engine and back out.
    temp_dir other_dir("rmqtt-store-other");
    std::unique_ptr<redis_server> other_redis;
    std::vector<std::string> other = {"--rocksdb", other_dir.file("store")};
    if (!is_redis()) {
        other_redis = std::make_unique<redis_server>();
        other = {"--redis", other_redis->url(), "--prefix", "p"};
    }
    auto with = [&](std::vector<std::string> a) {
        a.insert(a.end(), other.begin(), other.end());
        return a;
    };
    r = run_store(with({"import", files.file("a.jsonl")}));
    ASSERT_EQ(r.code, 0) << describe(r);
    r = run_store(with({"check"}));
    EXPECT_EQ(r.code, 0) << describe(r);
    r = run_store(with({"export", "-o", files.file("b.jsonl")}));
    ASSERT_EQ(r.code, 0) << describe(r);
    EXPECT_EQ(records_of(files.file("b.jsonl")), records);
}

// RocksDB stores a message for two sessions once (st/a goes to st-a and st-b). inspect counts
// the shared messages; export writes every entry with its message, so an import into a fresh
// store exports the same lines; check finds an unreferenced message and a wrong reference count
// (written with raw RocksDB calls) and --repair fixes both, after which both sessions resume with
// every message.
TEST_P(StoreTool, SharedMessagesInspectExportImportAndRepair) {
    auto b = filled_store();
    auto r = run_store(args({"inspect", "--json"}, *b));
    ASSERT_EQ(r.code, 0) << describe(r);
    EXPECT_EQ(json::parse(r.out)["shared_messages"], 3) << r.out;
    EXPECT_EQ(json::parse(r.out)["queued_messages"], 8) << r.out;

    temp_dir files("rmqtt-store-export");
    r = run_store(args({"export", "-o", files.file("a.jsonl")}, *b));
    ASSERT_EQ(r.code, 0) << describe(r);
    std::size_t a1 = 0;
    for (const auto& line : records_of(files.file("a.jsonl"))) {
        const auto j = json::parse(line);
        if (j["type"] == "message" && j["message"]["payload_b64"] == "YTE=") ++a1;
    }
    EXPECT_EQ(a1, 2u) << "a shared message is exported with each entry";
    temp_dir copy("rmqtt-store-copy");
    r = run_store({"import", "--rocksdb", copy.file("store"), files.file("a.jsonl")});
    ASSERT_EQ(r.code, 0) << describe(r);
    r = run_store({"export", "--rocksdb", copy.file("store"), "-o", files.file("b.jsonl")});
    ASSERT_EQ(r.code, 0) << describe(r);
    EXPECT_EQ(records_of(files.file("b.jsonl")), records_of(files.file("a.jsonl")));
    // The import stores the fan-out as the broker did: each message once.
    r = run_store({"inspect", "--json", "--rocksdb", copy.file("store")});
    ASSERT_EQ(r.code, 0) << describe(r);
    EXPECT_EQ(json::parse(r.out)["shared_messages"], 3) << r.out;
    r = run_store({"check", "--rocksdb", copy.file("store")});
    EXPECT_EQ(r.code, 0) << describe(r);

    r = run_store(args({"check"}, *b));
    EXPECT_EQ(r.code, 0) << describe(r);
    if (is_redis()) {
        // The same damage in Redis (redis_layout.hpp): message 999 (a copy of the first one)
        // that nothing references, and a count of 1 for the first message (a1, two entries).
        const std::string out = redis().cli(
            "EVAL \"local m = redis.call('HGET', KEYS[1], redis.call('HKEYS', KEYS[1])[1]) "
            "redis.call('HSET', KEYS[1], string.char(0, 0, 0, 0, 0, 0, 3, 231), m) "
            "redis.call('HSET', KEYS[2], redis.call('HKEYS', KEYS[2])[1], 1) return 1\" 2 "
            "'session-1:shared:{m}:msg' 'session-1:shared:{m}:refs'");
        EXPECT_EQ(out, "1\n");
    } else {
        // Message 999 that nothing references, and a count of 1 for a message two entries use.
        rocksdb::DB* db = nullptr;
        std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
        std::vector<std::string> names;
        ASSERT_TRUE(rocksdb::DB::ListColumnFamilies({}, rocksdb_path(*b), &names).ok());
        for (const auto& n : names)
            cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
        std::vector<rocksdb::ColumnFamilyHandle*> handles;
        ASSERT_TRUE(rocksdb::DB::Open({}, rocksdb_path(*b), cfs, &handles, &db).ok());
        for (std::size_t i = 0; i < names.size(); ++i) {
            namespace layout = storage::rocksdb_layout;
            if (names[i] == layout::cf_messages) {
                storage::message_record m;
                m.topic = "st/x";
                m.payload = "nobody";
                EXPECT_TRUE(
                    db->Put({}, handles[i], layout::message_key(999), storage::encode_value(m))
                        .ok());
            } else if (names[i] == layout::cf_msgrefs) {
                std::unique_ptr<rocksdb::Iterator> it(db->NewIterator({}, handles[i]));
                it->SeekToFirst();
                ASSERT_TRUE(it->Valid());
                const std::string key = it->key().ToString();
                it.reset();
                EXPECT_TRUE(
                    db->Put({}, handles[i], key, std::string("\x01\0\0\0\0\0\0\0", 8)).ok());
            }
        }
        for (auto* h : handles)
            EXPECT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
        EXPECT_TRUE(db->Close().ok());
        delete db;
    }
    r = run_store(args({"check"}, *b));
    EXPECT_EQ(r.code, 1) << describe(r);
    EXPECT_NE(r.out.find("orphan: shared message 999: no queue entry references it"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("its count says 1, 2 queue entries reference it"), std::string::npos)
        << r.out;
    r = run_store(args({"check", "--repair"}, *b));
    EXPECT_EQ(r.code, 0) << describe(r);
    EXPECT_NE(r.out.find("removed or recounted 2 shared messages"), std::string::npos) << r.out;
    r = run_store(args({"check"}, *b));
    EXPECT_EQ(r.code, 0) << describe(r);
    r = run_store(args({"export", "-o", files.file("c.jsonl")}, *b));
    ASSERT_EQ(r.code, 0) << describe(r);
    EXPECT_EQ(records_of(files.file("c.jsonl")), records_of(files.file("a.jsonl")));

    b->start();
    expect_resumed(*b, "st-a", proto::version::v3_1_1, {"a1", "a2", "a3"});
    expect_resumed(*b, "st-b", proto::version::v5, {"a1", "a2", "a3", "b1", "r1"});
    EXPECT_EQ(b->stop(), 0);
    r = run_store(args({"inspect", "--json"}, *b));
    ASSERT_EQ(r.code, 0) << describe(r);
    EXPECT_EQ(json::parse(r.out)["shared_messages"], 0) << r.out;
    EXPECT_EQ(json::parse(r.out)["queued_messages"], 0) << r.out;
}

class StoreToolRedisOnly : public StoreTool {};

TEST_P(StoreToolRedisOnly, SessionMissingFromTheIndexIsReindexed) {
    auto b = filled_store();
    redis().cli("ZREM session-1:sessions st-a");
    auto r = run_store(args({"check"}, *b));
    EXPECT_EQ(r.code, 1) << describe(r);
    EXPECT_NE(r.out.find("'st-a' is not in the sessions index"), std::string::npos) << r.out;
    r = run_store(args({"check", "--repair"}, *b));
    EXPECT_EQ(r.code, 0) << describe(r);
    EXPECT_NE(r.out.find("rewrote 1 records"), std::string::npos) << r.out;
    r = run_store(args({"check"}, *b));
    EXPECT_EQ(r.code, 0) << describe(r);
    b->start();
    expect_resumed(*b, "st-a", proto::version::v3_1_1, {"a1", "a2", "a3"});
}

TEST_P(StoreTool, CheckReportsACorruptRecordAndExportRefusesIt) {
    auto b = filled_store();
    if (is_redis()) {
        redis().cli("SET 'session-1:{bad}:s' garbage");
        redis().cli("ZADD session-1:sessions 0 bad");
    } else {
        // A session record whose value does not decode, written with raw RocksDB calls.
        rocksdb::DB* db = nullptr;
        std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
        std::vector<std::string> names;
        ASSERT_TRUE(rocksdb::DB::ListColumnFamilies({}, rocksdb_path(*b), &names).ok());
        for (const auto& n : names)
            cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
        std::vector<rocksdb::ColumnFamilyHandle*> handles;
        ASSERT_TRUE(rocksdb::DB::Open({}, rocksdb_path(*b), cfs, &handles, &db).ok());
        for (std::size_t i = 0; i < names.size(); ++i) {
            if (names[i] == storage::rocksdb_layout::cf_sessions) {
                EXPECT_TRUE(db->Put({}, handles[i], storage::rocksdb_layout::session_key("bad"),
                                    "\x02garbage")
                                .ok());
            }
        }
        for (auto* h : handles)
            EXPECT_TRUE(db->DestroyColumnFamilyHandle(h).ok());
        EXPECT_TRUE(db->Close().ok());
        delete db;
    }
    auto r = run_store(args({"check"}, *b));
    EXPECT_EQ(r.code, 1) << describe(r);
    EXPECT_NE(r.out.find("undecodable: "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("1 undecodable"), std::string::npos) << r.out;

    temp_dir files("rmqtt-store-export");
    r = run_store(args({"export", "-o", files.file("x.jsonl")}, *b));
    EXPECT_EQ(r.code, 4) << describe(r);
    EXPECT_NE(r.err.find("do not decode"), std::string::npos) << r.err;
    EXPECT_FALSE(std::filesystem::exists(files.file("x.jsonl")));
    EXPECT_FALSE(std::filesystem::exists(files.file("x.jsonl.partial")));

    r = run_store(args({"check", "--repair"}, *b));
    EXPECT_EQ(r.code, 1) << "an undecodable record is not removed\n" << describe(r);
}

TEST_P(StoreTool, AStoreARunningBrokerHoldsIsRefused) {
    auto b = filled_store();
    b->start();
    for (const auto* cmd : {"inspect", "export", "check"}) {
        auto r = run_store(args({cmd}, *b));
        EXPECT_EQ(r.code, 3) << cmd << "\n" << describe(r);
        EXPECT_NE(r.err.find("running rmqttd"), std::string::npos) << cmd << "\n" << r.err;
        if (!is_redis()) {
            EXPECT_NE(r.err.find(rocksdb_path(*b)), std::string::npos) << r.err;
        }
    }
    temp_dir files("rmqtt-store-export");
    write_file(files.file("empty.jsonl"),
               R"({"type":"header","format":"rmqttd-store","version":1,"engine":"rocksdb",)"
               R"("source":"x","node":1,"exported_at":"","exported_at_ms":0})"
               "\n"
               R"({"type":"end","records":0})"
               "\n");
    auto r = run_store(args({"import", "--merge"}, *b, {files.file("empty.jsonl")}));
    EXPECT_EQ(r.code, 3) << describe(r);
    if (!is_redis()) {
        r = run_store(args({"compact"}, *b));
        EXPECT_EQ(r.code, 3) << describe(r);
    }
    // Read-only alongside the broker, when asked for.
    r = run_store(args({"inspect", "--live", "--json"}, *b));
    ASSERT_EQ(r.code, 0) << describe(r);
    EXPECT_EQ(json::parse(r.out)["sessions"]["total"], 2);

    // After a clean stop the store is free again (Redis: the stop is recorded).
    EXPECT_EQ(b->stop(), 0);
    r = run_store(args({"inspect"}, *b));
    EXPECT_EQ(r.code, 0) << describe(r);
}

// The tool given only --redis (default interval 2 s) judges the heartbeat by the interval the
// running broker recorded: a heartbeat 10 s old of a broker beating once an hour is fresh.
TEST(StoreToolRedis, TheRunningBrokersHeartbeatIntervalCounts) {
    redis_server redis;
    auto o = redis_options(redis);
    o.storage_config = {"heartbeat_interval = \"1h\""};
    auto b = start_broker_with(o);
    const auto ten_seconds_ago = std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch() - 10s)
                                     .count();
    redis.cli(cat("HSET session-1:meta last_alive_ms ", ten_seconds_ago));
    const std::vector<std::string> where = {"--redis", redis.url(), "--prefix", "session-1"};
    auto with = [&](std::vector<std::string> a) {
        a.insert(a.end(), where.begin(), where.end());
        return a;
    };
    auto r = run_store(with({"inspect"}));
    EXPECT_EQ(r.code, 3) << describe(r);
    EXPECT_NE(r.err.find("3600000 ms each"), std::string::npos) << r.err;
    r = run_store(with({"inspect", "--force"}));
    EXPECT_EQ(r.code, 0) << describe(r);
    EXPECT_EQ(b->stop(), 0);
    r = run_store(with({"inspect"}));
    EXPECT_EQ(r.code, 0) << describe(r);
}

TEST_P(StoreTool, ABadLineIsReportedWithItsNumberAndNothingIsWritten) {
    auto b = filled_store();
    temp_dir files("rmqtt-store-export");
    const std::string good = files.file("good.jsonl");
    auto r = run_store(args({"export", "-o", good}, *b));
    ASSERT_EQ(r.code, 0) << describe(r);

    // Line 4 loses a field; everything before it is valid.
    std::istringstream in(read_file(good));
    std::string text, line;
    for (int n = 1; std::getline(in, line); ++n) {
        if (n == 4) {
            auto j = json::parse(line);
            j.erase("client_id");
            line = j.dump();
        }
        text += line + "\n";
    }
    const std::string bad = files.file("bad.jsonl");
    write_file(bad, text);
    r = run_store(args({"import", "--force"}, *b, {bad}));
    EXPECT_EQ(r.code, 4) << describe(r);
    EXPECT_NE(r.err.find(bad + ":4: missing field \"client_id\""), std::string::npos) << r.err;

    // A truncated file (no end line) is refused too.
    write_file(bad, read_file(good).substr(0, read_file(good).rfind("{\"type\":\"end\"")));
    r = run_store(args({"import", "--force"}, *b, {bad}));
    EXPECT_EQ(r.code, 4) << describe(r);
    EXPECT_NE(r.err.find("truncated"), std::string::npos) << r.err;

    // The store holds what it held.
    r = run_store(args({"export", "-o", files.file("after.jsonl")}, *b));
    ASSERT_EQ(r.code, 0) << describe(r);
    EXPECT_EQ(records_of(files.file("after.jsonl")), records_of(good));

    // --force with a good file replaces the content.
    r = run_store(args({"import", "--force"}, *b, {good}));
    EXPECT_EQ(r.code, 0) << describe(r);
    r = run_store(args({"export", "-o", files.file("again.jsonl")}, *b));
    ASSERT_EQ(r.code, 0) << describe(r);
    EXPECT_EQ(records_of(files.file("again.jsonl")), records_of(good));
}

TEST_P(StoreTool, Compact) {
    auto b = filled_store();
    auto r = run_store(args({"compact"}, *b));
    EXPECT_EQ(r.code, 0) << describe(r);
    if (is_redis()) {
        EXPECT_NE(r.out.find("not applicable to Redis"), std::string::npos) << r.out;
        return;
    }
    EXPECT_NE(r.out.find(" before, "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(" after"), std::string::npos) << r.out;
    r = run_store(args({"inspect", "--json"}, *b));
    ASSERT_EQ(r.code, 0) << describe(r);
    EXPECT_EQ(json::parse(r.out)["queued_messages"], 8);
}

INSTANTIATE_TEST_SUITE_P(Engines, StoreTool, ::testing::Values("rocksdb", "redis"), engine_name);
INSTANTIATE_TEST_SUITE_P(Redis, StoreToolRedisOnly, ::testing::Values("redis"), engine_name);

TEST(StoreToolErrors, ClearMessages) {
    // Redis down: nothing listens on the port.
    auto r = run_store({"inspect", "--redis", cat("redis://127.0.0.1:", free_port(), "/")});
    EXPECT_EQ(r.code, 4) << describe(r);
    EXPECT_NE(r.err.find("cannot reach Redis"), std::string::npos) << r.err;
    // No store at the path.
    temp_dir empty("rmqtt-store-none");
    r = run_store({"inspect", "--rocksdb", empty.file("nothing")});
    EXPECT_EQ(r.code, 4) << describe(r);
    EXPECT_NE(r.err.find("no RocksDB store at"), std::string::npos) << r.err;
    // Bad lines: each named by its number; nothing is created for a refused file.
    const std::string header =
        R"({"type":"header","format":"rmqttd-store","version":1,"engine":"rocksdb",)"
        R"("source":"x","node":1,"exported_at":"","exported_at_ms":0})";
    const std::string session =
        R"({"type":"session","client_id":"c","protocol_version":4,"username":null,)"
        R"("listener":"tcp.external","peer_address":"","expiry_interval_s":60,)"
        R"("created_at_ms":1,"connected_at_ms":1,"disconnected_at_ms":2,)"
        R"("clean_disconnect":true,"will":null,"receive_maximum":65535,)"
        R"("maximum_packet_size":0,"topic_alias_maximum":0,)"
        R"("request_problem_information":true,"first_generation":0,"generation":0})";
    const std::string end = R"({"type":"end","records":1})";
    const struct {
        std::string text;
        std::string error;
    } bad_files[] = {
        {header + "\nnot json\n" + end + "\n", ":2: not JSON"},
        {session + "\n" + end + "\n", ":1: the first line must be the header"},
        {header + "\n" +
             R"({"type":"subscription","client_id":"c","filter":"f","qos":1,)"
             R"("no_local":false,"retain_as_published":false,)"
             R"("retain_handling":0,"subscription_id":0})"
             "\n" +
             end + "\n",
         ":2: client id 'c' has no session line before this one"},
        {header + "\n" + session + "\n" + session + "\n" + end + "\n",
         ":3: a second session line for client id 'c'"},
        {header + "\n" +
             R"({"type":"retained","message":{"topic":"t","payload_b64":"%%%%",)"
             R"("qos":0,"retain":true,"properties_b64":"","publisher":"",)"
             R"("created_at_ms":0,"expiry_at_ms":0}})"
             "\n" +
             end + "\n",
         ":2: \"payload_b64\" is not base64"},
        {header + "\n" + session + "\n" +
             R"({"type":"end","records":7})"
             "\n",
         ":3: the end line counts 7 records, the file holds 1"},
    };
    for (const auto& f : bad_files) {
        write_file(empty.file("bad.jsonl"), f.text);
        r = run_store({"import", "--rocksdb", empty.file("store"), empty.file("bad.jsonl")});
        EXPECT_EQ(r.code, 4) << f.error << "\n" << describe(r);
        EXPECT_NE(r.err.find("bad.jsonl" + f.error), std::string::npos) << r.err;
        EXPECT_FALSE(std::filesystem::exists(empty.file("store"))) << "nothing written";
    }
    // A good file creates the store; a damaged one is reported, naming the path.
    write_file(empty.file("good.jsonl"), header + "\n" + session + "\n" + end + "\n");
    r = run_store({"import", "--rocksdb", empty.file("store"), empty.file("good.jsonl")});
    ASSERT_EQ(r.code, 0) << describe(r);
    write_file(empty.file("store/CURRENT"), "MANIFEST-999999\n");
    r = run_store({"inspect", "--rocksdb", empty.file("store")});
    EXPECT_EQ(r.code, 4) << describe(r);
    EXPECT_NE(r.err.find(empty.file("store")), std::string::npos) << r.err;
    // Usage.
    r = run_store({"frobnicate"});
    EXPECT_EQ(r.code, 2) << describe(r);
    r = run_store({"--help"});
    EXPECT_EQ(r.code, 0) << describe(r);
    EXPECT_NE(r.out.find("inspect"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace rmqtt::test::persist
