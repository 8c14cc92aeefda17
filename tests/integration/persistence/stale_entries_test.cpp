// A session's stored queue holds only its own messages. A message routed to a session as it
// ended (expiry, clean start) is stored and then deleted again; if rmqttd died between those two
// commits, the entry outlives its session. A later session of the same client id must never
// receive it: its seqs are (generation << 32) | n with a generation no earlier session had, and
// entries below its first generation are removed when it loads its queue (DESIGN.md section 3:
// a session's state is its own).
#include <rmqtt/storage/store.hpp>

#include "persistence_util.hpp"

namespace rmqtt::test::persist {
namespace {

TEST(StaleEntries, AnEarlierSessionsEntryIsRemovedNotDelivered) {
    broker_process::options o;
    o.storage_type = "rocksdb";
    o.listener = roomy_listener();
    broker_ptr b(new broker_process(std::move(o)));
    b->start();
    const auto sub_connect = persistent_connect("stale-sub", proto::version::v3_1_1);
    ASSERT_NO_FATAL_FAILURE(make_offline_subscriber(*b, sub_connect, "stale/t", 1));
    {
        auto pub = raw_connect(*b, "stale-pub");
        ASSERT_TRUE(raw_publish(*pub, "stale/t", "current", 1));
    }
    ASSERT_EQ(b->stop(), 0);

    // What the earlier session's late write leaves: an entry below this session's first seq.
    const std::string path = b->dir() + "/data/session/1";
    {
        std::unique_ptr<storage::store> st;
        ASSERT_TRUE(storage::open_rocksdb_store({.path = path}, st)) << path;
        std::int64_t created_at_ms = 0;
        std::uint32_t first_generation = 0;
        ASSERT_TRUE(st->for_each_session([&](storage::session_record&& r) {
            if (r.client_id == "stale-sub") {
                created_at_ms = r.created_at_ms;
                first_generation = r.first_generation;
            }
            return true;
        }));
        ASSERT_GT(created_at_ms, 0);
        ASSERT_GT(first_generation, 0u);
        storage::queue_entry e;
        e.seq = (std::uint64_t{first_generation} << 32) - 7;
        e.qos = 1;
        e.message.topic = "stale/t";
        e.message.payload = "stale";
        e.message.qos = 1;
        e.message.publisher = "stale-pub";
        e.message.created_at_ms = created_at_ms - 1;
        storage::write_batch wb;
        wb.ops.push_back(storage::put_queue_entry{"stale-sub", e});
        ASSERT_TRUE(st->write(wb));
        ASSERT_TRUE(st->close());
    }

    b->restart();
    bool present = false;
    auto sub = raw_connect(*b, sub_connect, &present);
    EXPECT_TRUE(present);
    std::vector<std::string> got;
    for (auto& p : drain_raw(*sub, std::chrono::milliseconds(500))) {
        if (auto* pub = std::get_if<proto::publish>(&p)) {
            got.push_back(pub->payload);
            sub->send(proto::puback{pub->packet_id, {}, {}});
        }
    }
    EXPECT_EQ(got, std::vector<std::string>{"current"}) << "only the session's own message";
    EXPECT_TRUE(eventually([&] {
        return b->log().find("removed 1 stored message(s) of an earlier session") !=
               std::string::npos;
    }));
    raw_disconnect(*sub);

    // The stale entry is gone from the store: another restart delivers nothing more.
    ASSERT_EQ(b->stop(), 0);
    b->restart();
    auto again = raw_connect(*b, sub_connect, &present);
    EXPECT_TRUE(present);
    EXPECT_TRUE(drain_raw(*again, std::chrono::milliseconds(500)).empty());
}

}  // namespace
}  // namespace rmqtt::test::persist
