// Redis-specific behaviour of the Redis engine: key layout and hash slots, prefixes, expiry
// deadlines, startup checks, corrupt data, outages and reconnects. Each test starts its own
// redis-server (tests/support/redis_server.hpp) and inspects it with redis-cli.
//
// Key layout under test (storage/redis/redis_layout.hpp):
//   <prefix>:sessions, <prefix>:meta, <prefix>:retained:{r}:idx|msg,
//   <prefix>:{<escaped client id>}:s|sub|q|qi|q2

#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "redis_server.hpp"
#include "rmqtt/storage/store.hpp"
#include "store_test_util.hpp"

namespace rmqtt::storage::test {
namespace {

using rmqtt::test::redis_server;

struct opened {
    status st;
    std::unique_ptr<store> engine;
    std::vector<std::string> warnings;
};

opened open_at(const std::string& url, const std::string& prefix, int connect_timeout_ms = 2000,
               int command_timeout_ms = 5000) {
    redis_options opts;
    opts.url = url;
    opts.prefix = prefix;
    opts.connect_timeout_ms = connect_timeout_ms;
    opts.command_timeout_ms = command_timeout_ms;
    opened o;
    o.st = open_redis_store(opts, o.engine, o.warnings);
    return o;
}

std::unique_ptr<store> open_ok(const redis_server& srv, const std::string& prefix) {
    opened o = open_at(srv.url(), prefix);
    EXPECT_TRUE(o.st.is_ok()) << o.st.to_string();
    return std::move(o.engine);
}

void apply(store& s, std::vector<operation> ops) {
    const status st = write_ops(s, std::move(ops));
    ASSERT_TRUE(st.is_ok()) << st.to_string();
}

std::vector<std::string> lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (!line.empty()) out.push_back(line);
    }
    return out;
}

std::string trim(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
        s.pop_back();
    return s;
}

// redis-cli arguments are passed through a shell: quote a key (no single quotes in our keys).
std::string q(const std::string& key) {
    return "'" + key + "'";
}

long long cli_number(const redis_server& srv, const std::string& args) {
    const std::string out = trim(srv.cli(args));
    try {
        return std::stoll(out);
    } catch (...) {
        ADD_FAILURE() << "redis-cli " << args << " answered '" << out << "'";
        return 0;
    }
}

// Redis Cluster's key -> slot function: CRC16 (XMODEM) of the hash tag (the text between the
// first '{' and the next '}', if non-empty) or of the whole key, modulo 16384.
std::uint16_t crc16(std::string_view data) {
    std::uint16_t crc = 0;
    for (const char ch : data) {
        crc = static_cast<std::uint16_t>(crc ^ (static_cast<unsigned char>(ch) << 8));
        for (int i = 0; i < 8; ++i) {
            crc = (crc & 0x8000) ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021)
                                 : static_cast<std::uint16_t>(crc << 1);
        }
    }
    return crc;
}

unsigned key_slot(std::string_view key) {
    const auto open = key.find('{');
    if (open != std::string_view::npos) {
        const auto close = key.find('}', open + 1);
        if (close != std::string_view::npos && close != open + 1) {
            key = key.substr(open + 1, close - open - 1);
        }
    }
    return crc16(key) % 16384u;
}

session_record disconnected_session(const std::string& id, std::int64_t disconnected_at_ms,
                                    std::uint32_t expiry_s) {
    session_record s = sample_session(id);
    s.disconnected_at_ms = disconnected_at_ms;
    s.expiry_interval_s = expiry_s;
    return s;
}

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Polls check() until it succeeds: at most `attempts` tries, 100 ms apart.
status wait_until_healthy(store& s, int attempts) {
    status st = s.check();
    for (int i = 1; i < attempts && !st.is_ok(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        st = s.check();
    }
    return st;
}

// ---- key layout ---------------------------------------------------------------------------------

TEST(redis_layout, slot_function_matches_redis_cluster_reference_values) {
    // Reference values from the Redis Cluster specification and CLUSTER KEYSLOT.
    EXPECT_EQ(crc16("123456789"), 0x31C3);
    EXPECT_EQ(key_slot("foo"), 12182u);
    EXPECT_EQ(key_slot("{user1000}.following"), key_slot("{user1000}.followers"));
    EXPECT_EQ(key_slot("foo{}{bar}"), key_slot("foo{}{bar}"));
    EXPECT_NE(key_slot("foo{}{bar}"), key_slot("bar"));  // empty tag: the whole key is hashed
}

TEST(redis_layout, all_keys_of_a_session_share_one_hash_slot) {
    redis_server srv;
    // Ids with braces and escape characters, and the empty id ("{}" would hash the whole key).
    const std::vector<std::string> ids = {"plain", "{a}", "}{", "a{b}c", "%7B", "%", "", "x}"};
    for (std::size_t i = 0; i < ids.size(); ++i) {
        const std::string prefix = "slot" + std::to_string(i);
        auto s = open_ok(srv, prefix);
        ASSERT_NE(s, nullptr);
        const std::string& id = ids[i];
        apply(*s, {put_session{disconnected_session(id, now_ms(), 600)},
                   put_subscription{id, sample_subscription("a/b")},
                   put_queue_entry{id, sample_entry(1)}, put_inbound_qos2{id, 7}});
        std::vector<std::string> keys = lines(srv.cli("--scan --pattern " + q(prefix + ":*")));
        std::erase(keys, prefix + ":sessions");  // the index, in its own slot by design
        ASSERT_EQ(keys.size(), 5u) << "session keys of '" << id << "'";
        std::set<unsigned> slots;
        for (const auto& key : keys) {
            slots.insert(key_slot(key));
            EXPECT_TRUE(key.starts_with(prefix + ":{")) << key;
        }
        EXPECT_EQ(slots.size(), 1u) << "keys of client id '" << id << "' span several slots";
        ASSERT_TRUE(s->close().is_ok());
    }
}

TEST(redis_layout, escaping_keeps_look_alike_client_ids_apart) {
    redis_server srv;
    auto s = open_ok(srv, "esc");
    ASSERT_NE(s, nullptr);
    // Each pair would collide under a naive escape (or none).
    const std::vector<std::string> ids = {"{", "%7B", "%257B", "%", "", "%25", "}", "%7D"};
    std::vector<operation> ops;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        ops.push_back(put_session{sample_session(ids[i])});
        ops.push_back(put_subscription{ids[i], sample_subscription("f/" + std::to_string(i))});
    }
    apply(*s, std::move(ops));
    EXPECT_EQ(read_sessions(*s).size(), ids.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
        EXPECT_EQ(read_subscriptions(*s, ids[i]),
                  std::vector<subscription_record>{sample_subscription("f/" + std::to_string(i))})
            << "client id '" << ids[i] << "'";
    }
}

TEST(redis_layout, two_prefixes_on_one_server_are_isolated) {
    redis_server srv;
    // "p" is a string prefix of the other: their key spaces must still be disjoint.
    auto a = open_ok(srv, "p");
    auto b = open_ok(srv, "p:retained");
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    for (store* s : {a.get(), b.get()}) {
        apply(*s,
              {put_session{sample_session("c")}, put_subscription{"c", sample_subscription("x")},
               put_queue_entry{"c", sample_entry(1)}, put_inbound_qos2{"c", 1},
               put_retained{sample_message("r", "1")}, put_meta{"node_id", "1"}});
    }
    // The session "r" of b lives next to a's retained keys ("p:retained:{r}:..."), by name.
    apply(*b, {put_session{sample_session("r")}, put_queue_entry{"r", sample_entry(9)},
               put_subscription{"r", sample_subscription("y")}});
    apply(*a, {delete_session{"c"}, delete_retained{"r"}, put_meta{"node_id", "2"}});

    EXPECT_TRUE(read_sessions(*a).empty());
    EXPECT_TRUE(read_retained(*a).empty());
    EXPECT_TRUE(read_queue(*a, "r").empty());
    EXPECT_EQ(read_meta(*a, "node_id"), std::optional<std::string>("2"));

    const auto sessions = read_sessions(*b);
    EXPECT_EQ(sessions.size(), 2u);
    EXPECT_EQ(read_subscriptions(*b, "c").size(), 1u);
    EXPECT_EQ(read_queue(*b, "c").size(), 1u);
    EXPECT_EQ(read_inbound_qos2(*b, "c"), std::vector<std::uint16_t>{1});
    EXPECT_EQ(read_retained(*b).size(), 1u);
    EXPECT_EQ(read_meta(*b, "node_id"), std::optional<std::string>("1"));
    EXPECT_EQ(read_queue(*b, "r").size(), 1u);
}

// ---- expiry deadlines ---------------------------------------------------------------------------

TEST(redis_expiry, disconnected_session_keys_get_a_deadline_and_reconnect_removes_it) {
    redis_server srv;
    auto s = open_ok(srv, "e");
    ASSERT_NE(s, nullptr);
    const std::string base = "e:{c}:";
    const std::vector<std::string> all = {base + "s", base + "sub", base + "q", base + "qi",
                                          base + "q2"};

    // Connected: no TTL on any key.
    apply(*s, {put_session{sample_session("c")}, put_subscription{"c", sample_subscription("f")},
               put_queue_entry{"c", sample_entry(1)}, put_inbound_qos2{"c", 1}});
    for (const auto& key : all)
        EXPECT_EQ(cli_number(srv, "PTTL " + q(key)), -1) << key;

    // Disconnected with a 1 h expiry: every key expires at disconnect + 1 h + the grace margin.
    const std::int64_t at = now_ms();
    apply(*s, {put_session{disconnected_session("c", at, 3600)}});
    const long long deadline = cli_number(srv, "PEXPIRETIME " + q(base + "s"));
    EXPECT_GE(deadline, at + 3'600'000);
    EXPECT_LE(deadline, at + 3'600'000 + 120'000);
    for (const auto& key : all) {
        EXPECT_GT(cli_number(srv, "PTTL " + q(key)), 0) << key;
        EXPECT_EQ(cli_number(srv, "PEXPIRETIME " + q(key)), deadline) << key;
    }

    // Keys created while offline (a queued message, a new subscription, a QoS 2 id) get the
    // session's deadline too. Delete them first so these writes create them.
    srv.cli("DEL " + q(base + "sub") + " " + q(base + "q") + " " + q(base + "qi") + " " +
            q(base + "q2"));
    apply(*s, {put_queue_entry{"c", sample_entry(2)}});
    apply(*s, {put_subscription{"c", sample_subscription("g")}, put_inbound_qos2{"c", 2}});
    for (const auto& key : all) {
        EXPECT_EQ(cli_number(srv, "PEXPIRETIME " + q(key)), deadline) << key;
    }

    // Reconnect: the deadline is gone from every key.
    apply(*s, {put_session{sample_session("c")}});
    for (const auto& key : all)
        EXPECT_EQ(cli_number(srv, "PTTL " + q(key)), -1) << key;
    // And keys created while connected get none.
    apply(*s, {put_queue_entry{"c", sample_entry(3)}});
    EXPECT_EQ(cli_number(srv, "PTTL " + q(base + "qi")), -1);
}

TEST(redis_expiry, keys_created_in_the_same_batch_follow_the_last_session_record) {
    redis_server srv;
    auto s = open_ok(srv, "e");
    ASSERT_NE(s, nullptr);
    // Disconnect and queue in one batch: the queue keys are created after the deadline is set.
    apply(*s,
          {put_session{disconnected_session("a", now_ms(), 600)},
           put_queue_entry{"a", sample_entry(1)}, put_subscription{"a", sample_subscription("f")}});
    EXPECT_GT(cli_number(srv, "PTTL " + q("e:{a}:qi")), 0);
    EXPECT_GT(cli_number(srv, "PTTL " + q("e:{a}:q")), 0);
    EXPECT_GT(cli_number(srv, "PTTL " + q("e:{a}:sub")), 0);
    // Queue first, then reconnect in the same batch: nothing keeps a TTL.
    apply(*s, {put_queue_entry{"a", sample_entry(2)}, put_session{sample_session("a")}});
    EXPECT_EQ(cli_number(srv, "PTTL " + q("e:{a}:qi")), -1);
    EXPECT_EQ(cli_number(srv, "PTTL " + q("e:{a}:s")), -1);
}

TEST(redis_expiry, past_and_unbounded_deadlines) {
    redis_server srv;
    auto s = open_ok(srv, "e");
    ASSERT_NE(s, nullptr);
    // Already expired by the broker's clock: Redis keeps it for the grace margin, so the
    // broker's own expiry (will, metrics) runs first.
    apply(*s, {put_session{disconnected_session("old", now_ms() - 3'600'000, 10)}});
    const long long ttl = cli_number(srv, "PTTL " + q("e:{old}:s"));
    EXPECT_GT(ttl, 0);
    EXPECT_LE(ttl, 60'000);
    EXPECT_EQ(read_sessions(*s).count("old"), 1u);
    // Never expires: no TTL.
    apply(*s, {put_session{disconnected_session("forever", now_ms(), never_expires)}});
    EXPECT_EQ(cli_number(srv, "PTTL " + q("e:{forever}:s")), -1);
}

// ---- recovery index -----------------------------------------------------------------------------

TEST(redis_index, index_entry_without_session_record_reads_as_expired_and_is_cleaned) {
    redis_server srv;
    auto s = open_ok(srv, "i");
    ASSERT_NE(s, nullptr);
    apply(*s, {put_session{sample_session("live")},
               put_session{disconnected_session("gone", now_ms(), 60)},
               put_subscription{"gone", sample_subscription("f")},
               put_queue_entry{"gone", sample_entry(1)}});
    // What Redis expiry does to the session key (the other keys may linger a moment).
    srv.cli("DEL " + q("i:{gone}:s"));
    const auto sessions = read_sessions(*s);
    EXPECT_EQ(sessions.size(), 1u);
    EXPECT_EQ(sessions.count("live"), 1u);
    EXPECT_EQ(trim(srv.cli("ZSCORE i:sessions gone")), "");
    EXPECT_EQ(cli_number(srv, "EXISTS " + q("i:{gone}:sub") + " " + q("i:{gone}:q") + " " +
                                  q("i:{gone}:qi")),
              0);
    EXPECT_EQ(cli_number(srv, "EXISTS " + q("i:{live}:s")), 1);
}

TEST(redis_index, recovery_uses_the_index_not_keys_or_scan) {
    redis_server srv;
    auto s = open_ok(srv, "n");
    ASSERT_NE(s, nullptr);
    std::vector<operation> ops;
    for (int i = 0; i < 600; ++i)
        ops.push_back(put_session{sample_session(std::to_string(i))});
    apply(*s, std::move(ops));
    srv.cli("CONFIG RESETSTAT");
    EXPECT_EQ(read_sessions(*s).size(), 600u);
    const std::string stats = srv.cli("INFO commandstats");
    EXPECT_EQ(stats.find("cmdstat_keys:"), std::string::npos) << stats;
    EXPECT_EQ(stats.find("cmdstat_scan:"), std::string::npos) << stats;
    EXPECT_NE(stats.find("cmdstat_zrangebylex:calls=3,"), std::string::npos) << stats;
}

// ---- write path ---------------------------------------------------------------------------------

// A write() is applied whole or not at all: one MULTI/EXEC for the batch, whatever sessions and
// retained messages it touches. A kill -9 of rmqttd mid-batch then cannot store a publisher's
// inbound QoS 2 id without the subscribers' queue entries of the same message.
TEST(redis_write, one_transaction_per_batch) {
    redis_server srv;
    auto s = open_ok(srv, "w");
    ASSERT_NE(s, nullptr);
    apply(*s, {put_session{sample_session("a")}, put_session{sample_session("b")}});
    srv.cli("CONFIG RESETSTAT");
    std::vector<operation> ops;
    for (std::uint64_t seq = 1; seq <= 30; ++seq) {
        ops.push_back(put_queue_entry{"a", sample_entry(seq)});
        ops.push_back(put_queue_entry{"b", sample_entry(seq)});
        ops.push_back(put_queue_entry{"c", sample_entry(seq)});
    }
    ops.push_back(put_inbound_qos2{"p", 7});
    ops.push_back(put_retained{sample_message("t/1", "x")});
    ops.push_back(put_retained{sample_message("t/2", "y")});
    apply(*s, std::move(ops));
    std::string stats = srv.cli("INFO commandstats");
    EXPECT_NE(stats.find("cmdstat_multi:calls=1,"), std::string::npos) << stats;
    EXPECT_NE(stats.find("cmdstat_exec:calls=1,"), std::string::npos) << stats;
    EXPECT_NE(stats.find("cmdstat_zadd:calls=92,"), std::string::npos) << stats;

    srv.cli("CONFIG RESETSTAT");
    apply(*s, {update_queue_entry{"a", 1, queue_state::sent, 5}});
    stats = srv.cli("INFO commandstats");
    EXPECT_NE(stats.find("cmdstat_multi:calls=1,"), std::string::npos) << stats;
    EXPECT_NE(stats.find("cmdstat_evalsha:calls=1,"), std::string::npos) << stats;
    EXPECT_EQ(read_queue(*s, "a", 1, 1).at(0).packet_id, 5);
}

TEST(redis_write, script_cache_flush_is_survived) {
    redis_server srv;
    auto s = open_ok(srv, "f");
    ASSERT_NE(s, nullptr);
    apply(*s, {put_queue_entry{"c", sample_entry(1)}});
    srv.cli("SCRIPT FLUSH");
    apply(*s, {update_queue_entry{"c", 1, queue_state::pubrec_received, 77},
               put_queue_entry{"c", sample_entry(2)}});
    const auto entries = read_queue(*s, "c");
    ASSERT_EQ(entries.size(), 2u);
    EXPECT_EQ(entries[0].state, queue_state::pubrec_received);
    EXPECT_EQ(entries[0].packet_id, 77);
    EXPECT_EQ(entries[1], sample_entry(2));
}

// ---- shared messages ---------------------------------------------------------------------------

queue_entry referencing(std::uint64_t seq, std::uint64_t message_id) {
    queue_entry e = sample_entry(seq);
    e.message = {};
    e.message_id = message_id;
    return e;
}

// The stored count of message `id` (redis_layout.hpp: a decimal in <prefix>:shared:{m}:refs),
// "" when there is none.
std::string count_of(const redis_server& srv, const std::string& prefix, int id) {
    return trim(
        srv.cli("EVAL \"return redis.call('HGET', KEYS[1], string.char(0, 0, 0, 0, 0, 0, "
                "0, " +
                std::to_string(id) + "))\" 1 " + q(prefix + ":shared:{m}:refs")));
}

TEST(redis_shared, layout_counts_and_removal) {
    redis_server srv;
    auto s = open_ok(srv, "m");
    ASSERT_NE(s, nullptr);
    apply(*s, {put_message{5, sample_message("t", "p")}, put_queue_entry{"a", referencing(1, 5)},
               put_queue_entry{"b", referencing(1, 5)}, put_queue_entry{"c", referencing(1, 5)}});
    EXPECT_EQ(cli_number(srv, "HLEN " + q("m:shared:{m}:msg")), 1);
    EXPECT_EQ(count_of(srv, "m", 5), "3");
    // The entry's reference field next to its value and state.
    EXPECT_EQ(cli_number(srv, "HLEN " + q("m:{a}:q")), 3);
    EXPECT_EQ(cli_number(srv, "EXISTS " + q("m:shared:{m}:freed")), 0);
    apply(*s, {delete_queue_entry{"a", 1}, delete_session{"b"}});
    EXPECT_EQ(count_of(srv, "m", 5), "1");
    EXPECT_EQ(cli_number(srv, "HLEN " + q("m:{a}:q")), 0);
    EXPECT_EQ(cli_number(srv, "EXISTS " + q("m:shared:{m}:freed")), 0);
    apply(*s, {delete_queue_entry{"c", 1}});
    EXPECT_EQ(cli_number(srv, "EXISTS " + q("m:shared:{m}:msg") + " " + q("m:shared:{m}:refs") +
                                  " " + q("m:shared:{m}:freed")),
              0);
}

// A session whose record Redis expired: the reader's cleanup releases its queue's references.
TEST(redis_shared, expired_session_cleanup_releases_references) {
    redis_server srv;
    auto s = open_ok(srv, "x");
    ASSERT_NE(s, nullptr);
    apply(*s,
          {put_session{sample_session("live")},
           put_session{disconnected_session("gone", now_ms(), 60)},
           put_message{7, sample_message("t", "p")}, put_queue_entry{"gone", referencing(1, 7)},
           put_queue_entry{"gone", referencing(2, 7)}, put_queue_entry{"live", referencing(1, 7)}});
    EXPECT_EQ(count_of(srv, "x", 7), "3");
    srv.cli("DEL " + q("x:{gone}:s"));
    EXPECT_EQ(read_sessions(*s).size(), 1u);
    EXPECT_EQ(count_of(srv, "x", 7), "1");
    apply(*s, {delete_queue_entry{"live", 1}});
    EXPECT_EQ(cli_number(srv, "EXISTS " + q("x:shared:{m}:msg") + " " + q("x:shared:{m}:refs")), 0);
}

// After SCRIPT FLUSH the batch is replayed: every reference is still counted once.
TEST(redis_shared, script_cache_flush_counts_once) {
    redis_server srv;
    auto s = open_ok(srv, "f");
    ASSERT_NE(s, nullptr);
    apply(*s, {put_message{1, sample_message("t", "p")}, put_queue_entry{"a", referencing(1, 1)},
               put_queue_entry{"b", referencing(1, 1)}});
    srv.cli("SCRIPT FLUSH");
    apply(*s, {delete_queue_entry{"a", 1}, put_message{2, sample_message("t", "q")},
               put_queue_entry{"a", referencing(2, 2)}, put_queue_entry{"b", referencing(2, 2)},
               delete_session{"c"}});
    EXPECT_EQ(count_of(srv, "f", 1), "1");
    EXPECT_EQ(count_of(srv, "f", 2), "2");
    srv.cli("SCRIPT FLUSH");
    apply(*s, {delete_session{"a"}, delete_session{"b"}});
    EXPECT_EQ(cli_number(srv, "EXISTS " + q("f:shared:{m}:msg") + " " + q("f:shared:{m}:refs")), 0);
}

// The store tools' recount: the entries deleted, the message deleted and put again, the entries
// put again, in one write.
TEST(redis_shared, recount_in_one_write) {
    redis_server srv;
    auto s = open_ok(srv, "r");
    ASSERT_NE(s, nullptr);
    const message_record m = sample_message("t", "p");
    apply(*s, {put_message{3, m}, put_queue_entry{"a", referencing(1, 3)},
               put_queue_entry{"b", referencing(1, 3)}});
    srv.cli("EVAL \"redis.call('HSET', KEYS[1], string.char(0, 0, 0, 0, 0, 0, 0, 3), 1)\" 1 " +
            q("r:shared:{m}:refs"));
    EXPECT_EQ(count_of(srv, "r", 3), "1");
    apply(*s, {delete_queue_entry{"a", 1}, delete_queue_entry{"b", 1}, delete_message{3},
               put_message{3, m}, put_queue_entry{"a", referencing(1, 3)},
               put_queue_entry{"b", referencing(1, 3)}});
    EXPECT_EQ(count_of(srv, "r", 3), "2");
    std::vector<queue_entry> entries;
    ASSERT_TRUE(s->load_queue("b", 0, 10, entries).is_ok());
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0].message, m);
}

// ---- corrupt data -------------------------------------------------------------------------------

void expect_corruption(const status& st, const std::string& key) {
    EXPECT_EQ(st.error_code(), status::code::corruption) << st.to_string();
    EXPECT_NE(st.message().find(key), std::string::npos) << st.to_string();
}

TEST(redis_corruption, garbage_session_value_names_the_key) {
    redis_server srv;
    auto s = open_ok(srv, "g");
    ASSERT_NE(s, nullptr);
    apply(*s, {put_session{sample_session("c")}});
    srv.cli("SET " + q("g:{c}:s") + " garbage");
    expect_corruption(s->for_each_session([](session_record&&) { return true; }), "g:{c}:s");
    // A key of the wrong type.
    srv.cli("DEL " + q("g:{c}:s"));
    srv.cli("RPUSH " + q("g:{c}:s") + " x");
    expect_corruption(s->for_each_session([](session_record&&) { return true; }), "g:{c}:s");
    // A valid record under another client's key.
    srv.cli("DEL " + q("g:{c}:s"));
    apply(*s, {put_session{sample_session("d")}});
    srv.cli("COPY " + q("g:{d}:s") + " " + q("g:{c}:s"));
    expect_corruption(s->for_each_session([](session_record&&) { return true; }), "g:{c}:s");
}

TEST(redis_corruption, garbage_in_other_records_names_the_key) {
    redis_server srv;
    auto s = open_ok(srv, "g");
    ASSERT_NE(s, nullptr);
    std::vector<subscription_record> subs;
    srv.cli("HSET " + q("g:{c}:sub") + " f garbage");
    expect_corruption(s->load_subscriptions("c", subs), "g:{c}:sub");

    std::vector<queue_entry> entries;
    std::optional<queue_bounds> bounds;
    srv.cli("ZADD " + q("g:{c}:qi") + " 0 short");
    expect_corruption(s->load_queue("c", 0, 10, entries), "g:{c}:qi");
    expect_corruption(s->load_queue_bounds("c", bounds), "g:{c}:qi");
    // Index entry without a value.
    srv.cli("DEL " + q("g:{c}:qi"));
    srv.cli("ZADD " + q("g:{c}:qi") + " 0 12345678");
    expect_corruption(s->load_queue("c", 0, 10, entries), "g:{c}:q");
    // A value that does not decode.
    srv.cli("HSET " + q("g:{c}:q") + " 12345678 garbage 12345678s abc");
    expect_corruption(s->load_queue("c", 0, 10, entries), "g:{c}:q");
    EXPECT_TRUE(entries.empty());

    std::vector<std::uint16_t> ids;
    srv.cli("SADD " + q("g:{c}:q2") + " 70000");
    expect_corruption(s->load_inbound_qos2("c", ids), "g:{c}:q2");

    srv.cli("ZADD " + q("g:retained:{r}:idx") + " 0 t");
    srv.cli("HSET " + q("g:retained:{r}:msg") + " t garbage");
    expect_corruption(s->for_each_retained([](message_record&&) { return true; }),
                      "g:retained:{r}:msg");
    // A topic listed without a message.
    srv.cli("DEL " + q("g:retained:{r}:msg") + " " + q("g:retained:{r}:idx"));
    srv.cli("ZADD " + q("g:retained:{r}:idx") + " 0 u");
    expect_corruption(s->for_each_retained([](message_record&&) { return true; }),
                      "g:retained:{r}:msg");
    srv.cli("DEL " + q("g:retained:{r}:idx"));

    std::optional<std::string> meta;
    srv.cli("SET g:meta x");
    expect_corruption(s->get_meta("k", meta), "g:meta");

    // A write onto a key of the wrong type fails and names it; the connection stays usable.
    srv.cli("SET " + q("g:{e}:sub") + " x");
    expect_corruption(write_ops(*s, {put_subscription{"e", sample_subscription("f")}}),
                      "g:{e}:sub");
    expect_corruption(write_ops(*s, {put_session{sample_session("e")},
                                     put_subscription{"e", sample_subscription("f")}}),
                      "g:{e}:sub");
    EXPECT_TRUE(s->check().is_ok());
    srv.cli("DEL g:meta");
    apply(*s, {put_meta{"ok", "yes"}, put_queue_entry{"z", sample_entry(1)}});
    EXPECT_EQ(read_queue(*s, "z").size(), 1u);
}

// ---- startup checks -----------------------------------------------------------------------------

bool any_contains(const std::vector<std::string>& lines_, const std::string& needle) {
    for (const auto& l : lines_) {
        if (l.find(needle) != std::string::npos) return true;
    }
    return false;
}

TEST(redis_startup, evicting_maxmemory_policies_are_refused) {
    for (const char* policy : {"allkeys-lru", "volatile-ttl"}) {
        redis_server::options o;
        o.maxmemory_policy = policy;
        redis_server srv(o);
        opened r = open_at(srv.url(), "m");
        EXPECT_EQ(r.st.error_code(), status::code::invalid_argument) << r.st.to_string();
        EXPECT_NE(r.st.message().find(policy), std::string::npos) << r.st.to_string();
        EXPECT_NE(r.st.message().find("noeviction"), std::string::npos) << r.st.to_string();
        EXPECT_EQ(r.engine, nullptr);
    }
}

TEST(redis_startup, appendonly_off_warns_that_a_crash_loses_sessions) {
    redis_server::options o;
    o.appendonly = false;
    redis_server srv(o);
    opened r = open_at(srv.url(), "a");
    ASSERT_TRUE(r.st.is_ok()) << r.st.to_string();
    EXPECT_TRUE(any_contains(r.warnings, "appendonly is off"))
        << ::testing::PrintToString(r.warnings);
    EXPECT_TRUE(any_contains(r.warnings, "crash or restart loses sessions"));
}

TEST(redis_startup, appendfsync_settings_and_waitaof) {
    redis_server srv;  // appendonly yes, appendfsync everysec
    opened r = open_at(srv.url(), "a");
    ASSERT_TRUE(r.st.is_ok()) << r.st.to_string();
    EXPECT_TRUE(any_contains(r.warnings, "appendfsync is everysec"))
        << ::testing::PrintToString(r.warnings);
    EXPECT_TRUE(any_contains(r.warnings, "WAITAOF")) << ::testing::PrintToString(r.warnings);

    srv.cli("CONFIG SET appendfsync no");
    r = open_at(srv.url(), "a");
    ASSERT_TRUE(r.st.is_ok()) << r.st.to_string();
    EXPECT_TRUE(any_contains(r.warnings, "appendfsync is no"))
        << ::testing::PrintToString(r.warnings);

    srv.cli("CONFIG SET appendfsync always");
    r = open_at(srv.url(), "a");
    ASSERT_TRUE(r.st.is_ok()) << r.st.to_string();
    EXPECT_TRUE(r.warnings.empty()) << ::testing::PrintToString(r.warnings);
}

TEST(redis_startup, without_config_permission_it_warns_and_continues) {
    redis_server srv;
    ASSERT_EQ(trim(srv.cli("ACL SETUSER limited on '>pw' '~*' '&*' +@all -config")), "OK");
    opened r = open_at("redis://limited:pw@127.0.0.1:" + std::to_string(srv.port()) + "/", "c");
    ASSERT_TRUE(r.st.is_ok()) << r.st.to_string();
    EXPECT_TRUE(any_contains(r.warnings, "CONFIG GET failed"))
        << ::testing::PrintToString(r.warnings);
    apply(*r.engine, {put_session{sample_session("c")}});
    EXPECT_EQ(read_sessions(*r.engine).size(), 1u);
}

TEST(redis_startup, url_password_and_database) {
    redis_server srv;
    const std::string hostport = "127.0.0.1:" + std::to_string(srv.port());
    ASSERT_EQ(trim(srv.cli("CONFIG SET requirepass 's3cr%t/x'")), "OK");
    const std::string auth = "-a 's3cr%t/x' --no-auth-warning ";

    opened r = open_at("redis://:s3cr%25t%2Fx@" + hostport + "/3", "d");
    ASSERT_TRUE(r.st.is_ok()) << r.st.to_string();
    EXPECT_EQ(r.engine->location().find("s3cr"), std::string::npos) << r.engine->location();
    apply(*r.engine, {put_meta{"k", "v"}});
    EXPECT_EQ(trim(srv.cli(auth + "-n 3 HGET d:meta k")), "v");
    EXPECT_EQ(trim(srv.cli(auth + "-n 0 EXISTS d:meta")), "0");

    opened wrong = open_at("redis://:nope@" + hostport + "/", "d");
    EXPECT_EQ(wrong.st.error_code(), status::code::invalid_argument) << wrong.st.to_string();
    EXPECT_EQ(wrong.st.message().find("nope"), std::string::npos) << "password in a message";
    opened none = open_at("redis://" + hostport + "/", "d");
    EXPECT_EQ(none.st.error_code(), status::code::invalid_argument) << none.st.to_string();
    srv.cli(auth + "CONFIG SET requirepass ''");
}

TEST(redis_startup, bad_options_are_refused) {
    for (const char* url :
         {"http://127.0.0.1:6379/", "rediss://127.0.0.1:6379/", "redis://", "redis://127.0.0.1:0/",
          "redis://127.0.0.1:70000/", "redis://127.0.0.1:6379/x", "redis://127.0.0.1:6379/0?x=1",
          "redis://secret@127.0.0.1/", "redis://[::1/"}) {
        opened r = open_at(url, "p");
        EXPECT_EQ(r.st.error_code(), status::code::invalid_argument)
            << url << ": " << r.st.to_string();
    }
    for (const char* prefix : {"", "a{b", "a}b"}) {
        opened r = open_at("redis://127.0.0.1:6379/", prefix);
        EXPECT_EQ(r.st.error_code(), status::code::invalid_argument) << prefix;
    }
}

TEST(redis_startup, nothing_listening_gives_unavailable) {
    const std::uint16_t port = rmqtt::test::free_port();
    opened r = open_at("redis://127.0.0.1:" + std::to_string(port) + "/", "u", 500, 500);
    EXPECT_EQ(r.st.error_code(), status::code::unavailable) << r.st.to_string();
    EXPECT_EQ(r.engine, nullptr);
}

// ---- outages ------------------------------------------------------------------------------------

TEST(redis_outage, killed_server_gives_unavailable_then_reconnects_with_data) {
    redis_server srv;
    // appendfsync always: Redis writes (and fsyncs) the AOF before it sends the reply, so every
    // write acknowledged below is in the AOF file when the process is killed, and the assertions
    // after the restart do not depend on timing. (With everysec the write to the AOF file can
    // be postponed while a background fsync runs, so kill -9 could lose an acknowledged write.)
    ASSERT_EQ(trim(srv.cli("CONFIG SET appendfsync always")), "OK");
    opened r = open_at(srv.url(), "k", 500, 2000);
    ASSERT_TRUE(r.st.is_ok()) << r.st.to_string();
    store& s = *r.engine;
    apply(s, {put_session{sample_session("c")}, put_subscription{"c", sample_subscription("f")},
              put_queue_entry{"c", sample_entry(1)}, put_retained{sample_message("r", "p")}});

    srv.kill_hard();
    // The first write finds the dead connection (reset or EOF; SIGPIPE must not kill us), the
    // next ones fail to reconnect: all report `unavailable`.
    for (int i = 0; i < 5; ++i) {
        const status w = write_ops(s, {put_queue_entry{"c", sample_entry(2)}});
        EXPECT_EQ(w.error_code(), status::code::unavailable) << w.to_string();
        EXPECT_EQ(s.check().error_code(), status::code::unavailable);
        std::vector<queue_entry> entries;
        EXPECT_EQ(s.load_queue("c", 0, 10, entries).error_code(), status::code::unavailable);
    }

    srv.restart();
    // The engine reconnects on a later call (after its backoff, at most 2 s).
    const status healthy = wait_until_healthy(s, 100);
    ASSERT_TRUE(healthy.is_ok()) << healthy.to_string();
    EXPECT_EQ(read_sessions(s).size(), 1u);
    EXPECT_EQ(read_subscriptions(s, "c").size(), 1u);
    const auto entries = read_queue(s, "c");
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0], sample_entry(1));
    EXPECT_EQ(read_retained(s).size(), 1u);
    // Scripts were reloaded into the new server's cache.
    apply(s, {put_queue_entry{"c", sample_entry(2)},
              update_queue_entry{"c", 2, queue_state::sent, 3}});
    EXPECT_EQ(read_queue(s, "c").size(), 2u);
}

// A reader (store::open_reader) has a connection of its own, opened on first use, which fails
// and reconnects like the store's.
TEST(redis_outage, reader_has_its_own_connection_and_reconnects) {
    redis_server srv;
    ASSERT_EQ(trim(srv.cli("CONFIG SET appendfsync always")), "OK");
    opened r = open_at(srv.url(), "rd", 500, 2000);
    ASSERT_TRUE(r.st.is_ok()) << r.st.to_string();
    store& s = *r.engine;
    apply(s, {put_meta{"k", "v"}, put_queue_entry{"c", sample_entry(1)}});
    const std::size_t before = lines(srv.cli("CLIENT LIST")).size();  // the store + redis-cli
    std::unique_ptr<store_reader> reader;
    ASSERT_TRUE(s.open_reader(reader).is_ok());
    EXPECT_EQ(lines(srv.cli("CLIENT LIST")).size(), before) << "connects on first use";
    EXPECT_EQ(read_meta(*reader, "k"), std::optional<std::string>("v"));
    EXPECT_EQ(lines(srv.cli("CLIENT LIST")).size(), before + 1);

    srv.kill_hard();
    std::optional<std::string> meta;
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(reader->get_meta("k", meta).error_code(), status::code::unavailable);
    }
    srv.restart();
    status st = reader->get_meta("k", meta);
    for (int i = 1; i < 100 && !st.is_ok(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        st = reader->get_meta("k", meta);
    }
    ASSERT_TRUE(st.is_ok()) << st.to_string();
    EXPECT_EQ(meta, std::optional<std::string>("v"));
    EXPECT_EQ(read_queue(*reader, "c").size(), 1u);
    // The store reconnects on its own.
    ASSERT_TRUE(wait_until_healthy(s, 100).is_ok());
    apply(s, {put_meta{"k", "w"}});
    EXPECT_EQ(read_meta(*reader, "k"), std::optional<std::string>("w"));
}

TEST(redis_outage, command_timeout_gives_unavailable) {
    redis_server srv;
    opened r = open_at(srv.url(), "t", 500, 300);
    ASSERT_TRUE(r.st.is_ok()) << r.st.to_string();
    store& s = *r.engine;
    // Redis holds every client's commands for 5 s; the engine gives up after its 300 ms timeout.
    ASSERT_EQ(trim(srv.cli("CLIENT PAUSE 5000 ALL")), "OK");
    const status st = s.check();
    EXPECT_EQ(st.error_code(), status::code::unavailable) << st.to_string();
    // Once the pause ends it works again.
    const status healthy = wait_until_healthy(s, 150);
    ASSERT_TRUE(healthy.is_ok()) << healthy.to_string();
    apply(s, {put_meta{"k", "v"}});
    EXPECT_EQ(read_meta(s, "k"), std::optional<std::string>("v"));
}

}  // namespace
}  // namespace rmqtt::storage::test
