// The publish pipeline (routing/publish_pipeline.hpp) with fake delivery targets and a memory
// store whose writes can be held at a gate or made to fail: copies per matched subscriber, the
// put_queue_entry of a stored copy submitted before the copy is handed over, QoS 2 copies for
// stored sessions held until their commit (and dropped when it fails, if asked), nothing held
// with ack = "async", hold_all, and the broker's own publish().
#include "routing/publish_pipeline.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <future>
#include <memory>

#include "../../storage/fault_store.hpp"
#include "../router/test_subscriber.hpp"
#include "fake_retained.hpp"
#include "persist/persistence.hpp"

namespace rmqtt::broker::test {
namespace {

using namespace std::chrono_literals;
using protocol::qos;
using storage::test::fault_store;
using ack_mode = session_storage_config::ack_mode;

// A target that calls `on_deliver` as a copy is handed over (to look at the store then).
class probe_target final : public delivery_target {
  public:
    probe_target(std::string id, bool stores, std::function<void(const delivery&)> on_deliver)
        : id_(std::move(id)), stores_(stores), on_deliver_(std::move(on_deliver)) {}
    const std::string& client_id() const noexcept override { return id_; }
    bool is_online() const noexcept override { return true; }
    bool stores_messages() const noexcept override { return stores_; }
    std::uint64_t take_seq() noexcept override { return next_seq_++; }
    void deliver(delivery d) override {
        on_deliver_(d);
        delivered_.push_back(std::move(d));
    }
    const std::vector<delivery>& delivered() const { return delivered_; }

  private:
    std::string id_;
    bool stores_;
    std::function<void(const delivery&)> on_deliver_;
    std::uint64_t next_seq_ = 100;
    std::vector<delivery> delivered_;
};

struct pipeline_fixture {
    ~pipeline_fixture() {
        if (engine) {
            engine->fail_always(false);
            engine->release();
        }
        pipeline.set_store(nullptr);
        store.reset();
    }
    // A store over a fault_store with the given ack policy.
    void use_store(ack_mode ack) {
        auto owned = std::make_unique<fault_store>();
        engine = owned.get();
        session_storage_config cfg;
        cfg.ack = ack;
        cfg.commit_window = 0us;
        cfg.backend_timeout = 30ms;
        store = std::make_unique<persistence>(std::move(owned), cfg);
        pipeline.set_store(store.get());
    }
    // Holds the engine's writer inside a write, so everything submitted from now on waits.
    void block_writer() {
        engine->hold();
        store->submit(storage::put_meta{"blocker", "1"});
        ASSERT_TRUE(engine->wait_attempts(1));
    }
    void subscribe(const std::shared_ptr<delivery_target>& t, const std::string& filter, qos q,
                   bool rap = false, std::uint32_t id = 0) {
        protocol::subscription_options o;
        o.max_qos = q;
        o.retain_as_published = rap;
        routes.subscribe(t, filter, o, id);
    }

    router routes;
    metrics stats;
    hook_bus hooks;
    publish_pipeline pipeline{routes, stats, hooks};
    fault_store* engine = nullptr;
    std::unique_ptr<persistence> store;
};

message_ptr make_message(const std::string& topic, qos q, bool retain = false,
                         const std::string& payload = "payload") {
    auto m = std::make_shared<message>();
    m->topic = topic;
    m->payload = payload;
    m->qos = q;
    m->retain = retain;
    m->publisher = "publisher";
    return m;
}

std::shared_ptr<test_subscriber> storing_sub(std::string id) {
    return std::make_shared<test_subscriber>(std::move(id), true, /*stores*/ true);
}

// The put_queue_entry ops the engine was asked to write, for `client_id`.
std::vector<storage::queue_entry> written_entries(fault_store& engine,
                                                  const std::string& client_id) {
    std::vector<storage::queue_entry> out;
    for (const auto& b : engine.writes())
        for (const auto& op : b.ops)
            if (const auto* put = std::get_if<storage::put_queue_entry>(&op);
                put && put->client_id == client_id)
                out.push_back(put->entry);
    return out;
}

// Bounded wait for a future (10 s): a bound, not a timing assertion.
template <class T>
bool ready(std::future<T>& f) {
    return f.wait_for(10s) == std::future_status::ready;
}

// One copy per matched subscriber, at the lower of message and subscription QoS
// [MQTT-3.8.4-8], RETAIN kept only with Retain As Published [MQTT-3.3.1-9], subscription ids
// carried; QoS 0 copies take no seq.
TEST(PublishPipeline, OneCopyPerSubscriberWithDowngradeAndRetainAsPublished) {
    pipeline_fixture f;
    auto q0 = make_sub("q0");
    auto q1 = make_sub("q1");
    auto q2rap = make_sub("q2rap");
    auto other = make_sub("other");
    f.subscribe(q0, "t/#", qos::at_most_once);
    f.subscribe(q1, "t/+", qos::at_least_once);
    f.subscribe(q2rap, "t/x", qos::exactly_once, /*rap*/ true, /*id*/ 7);
    f.subscribe(other, "u/#", qos::exactly_once);

    const auto msg = make_message("t/x", qos::at_least_once, /*retain*/ true);
    publish_pipeline::publication p;
    EXPECT_EQ(f.pipeline.route(msg, p), 3u);
    EXPECT_EQ(p.matched, 3u);
    EXPECT_TRUE(p.writes.empty()) << "no store, no retained store: nothing to write";
    EXPECT_FALSE(f.pipeline.submit(p));
    EXPECT_TRUE(p.copies.empty());

    ASSERT_EQ(q0->delivered().size(), 1u);
    const auto d0 = q0->delivered()[0];
    EXPECT_EQ(d0.msg, msg) << "copies share the message";
    EXPECT_EQ(d0.qos, qos::at_most_once);
    EXPECT_EQ(d0.seq, 0u);
    EXPECT_FALSE(d0.retain);
    EXPECT_FALSE(d0.persisted);

    ASSERT_EQ(q1->delivered().size(), 1u);
    const auto d1 = q1->delivered()[0];
    EXPECT_EQ(d1.qos, qos::at_least_once);
    EXPECT_NE(d1.seq, 0u);
    EXPECT_FALSE(d1.retain) << "an established subscription without RAP gets RETAIN 0";

    ASSERT_EQ(q2rap->delivered().size(), 1u);
    const auto d2 = q2rap->delivered()[0];
    EXPECT_EQ(d2.qos, qos::at_least_once) << "never above the message's QoS";
    EXPECT_TRUE(d2.retain) << "Retain As Published";
    EXPECT_EQ(d2.subscription_ids, std::vector<std::uint32_t>{7});

    EXPECT_TRUE(other->delivered().empty());

    // A QoS 2 message to a QoS 1 subscription arrives at QoS 1.
    p.clear();
    EXPECT_EQ(f.pipeline.route(make_message("t/y", qos::exactly_once), p), 2u);
    f.pipeline.submit(p);
    ASSERT_EQ(q1->delivered().size(), 2u);
    EXPECT_EQ(q1->delivered()[1].qos, qos::at_least_once);
    EXPECT_EQ(q0->delivered()[1].qos, qos::at_most_once);
}

// A retained PUBLISH is retained on the way, and the retained store's writes join the message's
// batch (its acknowledgement waits for them).
TEST(PublishPipeline, RetainedStoreWritesJoinThePublication) {
    pipeline_fixture f;
    auto retained = std::make_shared<fake_retained>();
    f.pipeline.set_retained(retained.get());
    const auto msg = make_message("r/t", qos::at_least_once, /*retain*/ true);
    publish_pipeline::publication p;
    EXPECT_EQ(f.pipeline.route(msg, p), 0u);
    EXPECT_EQ(retained->size(), 1u);
    ASSERT_EQ(p.writes.ops.size(), 1u);
    EXPECT_TRUE(std::holds_alternative<storage::put_meta>(p.writes.ops[0]));
    p.clear();
    f.pipeline.route(make_message("r/u", qos::at_least_once, /*retain*/ false), p);
    EXPECT_EQ(retained->size(), 1u) << "RETAIN 0 is not retained";
    EXPECT_TRUE(p.writes.empty());
}

// A QoS 1 copy for a target that stores messages: its put_queue_entry is submitted before the
// copy is handed over, so the target's later state changes of the entry are ordered after it.
// It is not held (only QoS 2 is): the target has it while the write is still in the engine.
TEST(PublishPipeline, StoredQos1CopyIsSubmittedBeforeItIsHandedOver) {
    pipeline_fixture f;
    f.use_store(ack_mode::durable);
    ASSERT_NO_FATAL_FAILURE(f.block_writer());
    const auto before = f.store->committer().pending_batches();
    std::size_t pending_at_delivery = 0;
    auto target = std::make_shared<probe_target>("stored", /*stores*/ true, [&](const delivery&) {
        pending_at_delivery = f.store->committer().pending_batches();
    });
    f.subscribe(target, "s/#", qos::exactly_once);

    publish_pipeline::publication p;
    ASSERT_EQ(f.pipeline.route(make_message("s/1", qos::at_least_once), p), 1u);
    ASSERT_EQ(p.copies.size(), 1u);
    EXPECT_FALSE(p.copies[0].held_for_commit());
    ASSERT_EQ(p.writes.ops.size(), 1u);
    EXPECT_FALSE(f.pipeline.submit(p)) << "QoS 1 copies are not held";

    ASSERT_EQ(target->delivered().size(), 1u) << "handed over before the commit";
    const auto d = target->delivered()[0];
    EXPECT_TRUE(d.persisted);
    EXPECT_GT(pending_at_delivery, before) << "its write was submitted before the hand-over";

    f.engine->release();
    f.store->flush();
    const auto entries = written_entries(*f.engine, "stored");
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0].seq, d.seq);
    EXPECT_EQ(entries[0].packet_id, packet_id_for(d.seq));
    EXPECT_EQ(entries[0].qos, 1);
    EXPECT_EQ(entries[0].state, storage::queue_state::queued);
    EXPECT_EQ(entries[0].message.topic, "s/1");

    // QoS 0 is never stored.
    p.clear();
    f.pipeline.route(make_message("s/2", qos::at_most_once), p);
    EXPECT_TRUE(p.writes.empty());
    f.pipeline.submit(p);
    ASSERT_EQ(target->delivered().size(), 2u);
    EXPECT_FALSE(target->delivered()[1].persisted);
}

// With durable acks a QoS 2 copy for a stored session waits for the commit of its write; copies
// for targets that store nothing go at once.
TEST(PublishPipeline, StoredQos2CopyIsHeldUntilItsCommit) {
    pipeline_fixture f;
    f.use_store(ack_mode::durable);
    auto stored = storing_sub("stored");
    auto plain = make_sub("plain");
    f.subscribe(stored, "h/#", qos::exactly_once);
    f.subscribe(plain, "h/#", qos::exactly_once);
    f.engine->hold();

    publish_pipeline::publication p;
    ASSERT_EQ(f.pipeline.route(make_message("h/1", qos::exactly_once), p), 2u);
    std::promise<storage::status> committed;
    EXPECT_TRUE(f.pipeline.submit(p, [&](const storage::status& st) { committed.set_value(st); }))
        << "some copies were held";
    EXPECT_EQ(plain->delivered().size(), 1u);
    ASSERT_TRUE(f.engine->wait_attempts(1)) << "the write is in the engine";
    EXPECT_TRUE(stored->delivered().empty()) << "held while the write is not committed";

    f.engine->release();
    auto done = committed.get_future();
    ASSERT_TRUE(ready(done));
    EXPECT_TRUE(done.get());
    ASSERT_EQ(stored->delivered().size(), 1u) << "handed over before `done` runs";
    EXPECT_TRUE(stored->delivered()[0].persisted);
    EXPECT_EQ(stored->delivered()[0].qos, qos::exactly_once);
    EXPECT_EQ(written_entries(*f.engine, "stored").size(), 1u);
}

// A failed commit: held copies are dropped when drop_held_on_failure (the publisher is told and
// resends), handed over anyway otherwise; `done` gets the error either way.
TEST(PublishPipeline, HeldCopiesOfAFailedCommit) {
    for (const bool drop : {true, false}) {
        SCOPED_TRACE(drop ? "drop_held_on_failure" : "keep on failure");
        pipeline_fixture f;
        f.use_store(ack_mode::durable);
        auto stored = storing_sub("stored");
        auto plain = make_sub("plain");
        f.subscribe(stored, "h/#", qos::exactly_once);
        f.subscribe(plain, "h/#", qos::exactly_once);
        f.engine->fail_always(true);

        publish_pipeline::publication p;
        f.pipeline.route(make_message("h/1", qos::exactly_once), p);
        std::promise<storage::status> committed;
        EXPECT_TRUE(f.pipeline.submit(
            p, [&](const storage::status& st) { committed.set_value(st); }, false, drop));
        auto done = committed.get_future();
        ASSERT_TRUE(ready(done));
        EXPECT_FALSE(done.get()) << "the failure reaches `done`";
        EXPECT_EQ(plain->delivered().size(), 1u) << "not held, already out";
        EXPECT_EQ(stored->delivered().size(), drop ? 0u : 1u);
    }
}

// ack = "async": nothing waits for the store, so nothing is held (not even with hold_all) and
// `done` runs at once with ok.
TEST(PublishPipeline, AsyncAcksHoldNothing) {
    pipeline_fixture f;
    f.use_store(ack_mode::async);
    auto stored = storing_sub("stored");
    f.subscribe(stored, "a/#", qos::exactly_once);
    f.engine->hold();
    for (const bool hold_all : {false, true}) {
        publish_pipeline::publication p;
        f.pipeline.route(make_message("a/1", qos::exactly_once), p);
        EXPECT_EQ(p.writes.ops.size(), 1u) << "still written (behind)";
        bool called = false;
        storage::status result = storage::status::error(storage::status::code::io_error, "unset");
        EXPECT_FALSE(f.pipeline.submit(
            p,
            [&](const storage::status& st) {
                called = true;
                result = st;
            },
            hold_all, true));
        EXPECT_TRUE(called);
        EXPECT_TRUE(result);
    }
    EXPECT_EQ(stored->delivered().size(), 2u) << "delivered while the writes are held";
    f.engine->release();
    f.store->flush();
    EXPECT_EQ(written_entries(*f.engine, "stored").size(), 2u);
}

// hold_all: every copy waits for the commit, QoS 0 and copies for targets that store nothing
// too (a QoS 2 message of a persistent publisher, and what follows it on that connection).
// Later submissions complete after earlier ones, so a held message keeps its place.
TEST(PublishPipeline, HoldAllHoldsEveryCopy) {
    pipeline_fixture f;
    f.use_store(ack_mode::durable);
    auto q0 = make_sub("q0");
    auto plain = make_sub("plain");
    auto stored = storing_sub("stored");
    f.subscribe(q0, "all/#", qos::at_most_once);
    f.subscribe(plain, "all/#", qos::at_least_once);
    f.subscribe(stored, "all/#", qos::at_least_once);
    f.engine->hold();

    publish_pipeline::publication p;
    f.pipeline.route(make_message("all/1", qos::exactly_once, false, "first"), p);
    std::promise<void> first_done;
    EXPECT_TRUE(f.pipeline.submit(
        p, [&](const storage::status&) { first_done.set_value(); }, /*hold_all*/ true));
    // A message with no store write at all is still held behind the first one.
    p.clear();
    f.pipeline.route(make_message("all/2", qos::at_most_once, false, "second"), p);
    EXPECT_TRUE(p.writes.empty());
    std::promise<void> second_done;
    EXPECT_TRUE(f.pipeline.submit(
        p, [&](const storage::status&) { second_done.set_value(); }, /*hold_all*/ true));
    ASSERT_TRUE(f.engine->wait_attempts(1));
    EXPECT_TRUE(q0->delivered().empty());
    EXPECT_TRUE(plain->delivered().empty());
    EXPECT_TRUE(stored->delivered().empty());

    f.engine->release();
    auto a = first_done.get_future();
    auto b = second_done.get_future();
    ASSERT_TRUE(ready(a));
    ASSERT_TRUE(ready(b));
    for (const auto& t : {q0, plain, stored}) {
        ASSERT_EQ(t->delivered().size(), 2u) << t->client_id();
        EXPECT_EQ(t->delivered()[0].msg->payload, "first") << t->client_id();
        EXPECT_EQ(t->delivered()[1].msg->payload, "second") << t->client_id();
    }
}

// The broker's own messages (wills, the broker API): routed, counted when nobody subscribed, and
// announced with message_published (no client).
TEST(PublishPipeline, BrokerPublishCountsNoSubscribersAndRaisesTheEvent) {
    pipeline_fixture f;
    std::vector<events::message_published> seen;
    f.hooks.on<events::message_published>(
        [&](const events::message_published& e) { seen.push_back(e); });

    const auto lonely = make_message("nobody/here", qos::at_least_once);
    EXPECT_EQ(f.pipeline.publish(lonely), 0u);
    EXPECT_EQ(f.stats.messages_no_subscribers.load(), 1u);
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_FALSE(seen[0].from.has_value()) << "the broker's own message";
    EXPECT_EQ(seen[0].msg, lonely);
    EXPECT_EQ(seen[0].subscribers, 0u);

    auto sub = make_sub("sub");
    f.subscribe(sub, "will/#", qos::at_least_once);
    const auto will = make_message("will/x", qos::at_least_once);
    EXPECT_EQ(f.pipeline.publish(will), 1u);
    EXPECT_EQ(f.stats.messages_no_subscribers.load(), 1u) << "not counted again";
    ASSERT_EQ(seen.size(), 2u);
    EXPECT_EQ(seen[1].subscribers, 1u);
    ASSERT_EQ(sub->delivered().size(), 1u);
    EXPECT_EQ(sub->delivered()[0].msg, will);
}

}  // namespace
}  // namespace rmqtt::broker::test
