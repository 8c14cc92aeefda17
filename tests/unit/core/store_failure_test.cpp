// A store commit that fails is never answered with success (ack = "durable", DESIGN.md section
// 3): SUBSCRIBE, UNSUBSCRIBE, PUBREL, a client's PUBREC and the reconnect of a session recovered
// at start-up, each driven without sockets (harness.hpp) over a store whose writes or reads fail
// on demand (fault_store). Each failure is logged and counted in store_errors, and the session's
// state is undone or kept as the protocol needs.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <functional>
#include <sstream>

#include "../../storage/fault_store.hpp"
#include "fake_retained.hpp"
#include "harness.hpp"
#include "session/restore.hpp"

namespace rmqtt::broker::test {
namespace {

using namespace std::chrono_literals;
namespace proto = rmqtt::protocol;
using proto::qos;
using proto::reason_code;
using proto::version;
using storage::test::fault_store;

// Sends the default logger's output to a string while it lives.
class captured_log {
  public:
    captured_log() : previous_(spdlog::default_logger()) {
        auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
        auto logger = std::make_shared<spdlog::logger>("captured", sink);
        logger->set_level(spdlog::level::info);
        spdlog::set_default_logger(logger);
    }
    ~captured_log() { spdlog::set_default_logger(previous_); }
    captured_log(const captured_log&) = delete;
    captured_log& operator=(const captured_log&) = delete;

    std::string text() {
        spdlog::default_logger()->flush();
        return out_.str();
    }

  private:
    std::ostringstream out_;
    std::shared_ptr<spdlog::logger> previous_;
};

// The harness with a durable store whose writes fail on demand: a failing write is retried for
// backend_timeout (short here) and then reported to whoever waits for it.
struct store_harness : harness {
    store_harness() {
        auto owned = std::make_unique<fault_store>();
        engine = owned.get();
        session_storage_config cfg;
        cfg.ack = session_storage_config::ack_mode::durable;
        cfg.commit_window = 0us;
        cfg.backend_timeout = 50ms;
        core.set_store(std::make_unique<persistence>(std::move(owned), cfg));
    }
    ~store_harness() {
        engine->fail_always(false);
        engine->fail_reads(false);
    }

    void fail_writes() { engine->fail_always(true); }
    // The engine works again; one write has to succeed before the store stops reporting itself
    // degraded (persistent CONNECTs are refused meanwhile).
    void recover() {
        engine->fail_always(false);
        engine->fail_reads(false);
        core.store()->submit(storage::put_meta{"probe", "1"});
        core.store()->flush();
        ASSERT_FALSE(core.store()->degraded());
    }
    std::uint64_t store_errors() const { return core.stats.store_errors.load(); }
    // Lets the broker run until store_errors reaches `n` (bounded).
    bool wait_store_errors(test_client& c, std::uint64_t n) {
        for (int i = 0; i < 2000 && store_errors() < n; ++i)
            c.pump(2ms);
        return store_errors() >= n;
    }
    // A persistent session: 3.1.1 Clean Session 0, 5.0 Clean Start 0 with an expiry.
    std::optional<proto::connack> connect_persistent(test_client& c, const std::string& id) {
        return connect(
            c, id, /*clean*/ false, 60,
            c.version() == version::v5 ? std::optional<std::uint32_t>(3600) : std::nullopt);
    }

    fault_store* engine = nullptr;
};

proto::subscribe subscribe_to(std::uint16_t pid,
                              const std::vector<std::pair<std::string, qos>>& filters) {
    proto::subscribe s;
    s.packet_id = pid;
    for (const auto& [f, q] : filters) {
        proto::topic_subscription t;
        t.filter = f;
        t.options.max_qos = q;
        s.topics.push_back(t);
    }
    return s;
}

proto::publish publish_to(const std::string& topic, const std::string& payload, qos q,
                          std::uint16_t pid = 0, bool dup = false) {
    proto::publish p;
    p.topic = topic;
    p.payload = payload;
    p.qos_level = q;
    p.packet_id = pid;
    p.dup = dup;
    return p;
}

message_ptr retained_message(const std::string& topic, const std::string& payload) {
    auto m = std::make_shared<message>();
    m->topic = topic;
    m->payload = payload;
    m->qos = qos::at_least_once;
    m->retain = true;
    return m;
}

// A clean 3.1.1 publisher that completes its QoS flows.
void publish_ok(test_client& pub, const std::string& topic, const std::string& payload, qos q,
                std::uint16_t pid) {
    pub.send(publish_to(topic, payload, q, pid));
    if (q == qos::at_least_once) {
        auto a = pub.expect<proto::puback>();
        ASSERT_TRUE(a);
        EXPECT_EQ(a->packet_id, pid);
    } else if (q == qos::exactly_once) {
        auto rec = pub.expect<proto::pubrec>();
        ASSERT_TRUE(rec);
        pub.send(proto::pubrel{pid, {}, {}});
        auto comp = pub.expect<proto::pubcomp>();
        ASSERT_TRUE(comp);
    }
}

std::string version_name(version v) {
    return v == version::v5 ? "5.0" : "3.1.1";
}

// ---- SUBSCRIBE ---------------------------------------------------------------------------------

// SUBACK after the subscription records are committed; a failed commit answers 0x80 for the
// filters of that write (3.1.1 Failure, 5.0 Unspecified error), puts back what the SUBSCRIBE
// replaced, removes what it added, and sends no retained messages for them.
void subscribe_failure(version v) {
    SCOPED_TRACE(version_name(v));
    captured_log log;
    store_harness h;
    auto retained = std::make_shared<fake_retained>();
    retained->restore(retained_message("s/new", "old news"));
    retained->restore(retained_message("s/replaced", "old news"));
    h.core.set_retained(retained);

    auto sub = h.connect_raw(v);
    auto ack = h.connect_persistent(sub, "sub");
    ASSERT_TRUE(ack);
    ASSERT_EQ(ack->code, 0);
    // Retain Handling 2: no retained message for this one, so the stream stays predictable.
    auto first = subscribe_to(1, {{"s/replaced", qos::at_least_once}});
    first.topics[0].options.retain_handling = 2;
    sub.send(first);
    auto granted = sub.expect<proto::suback>();
    ASSERT_TRUE(granted);
    ASSERT_EQ(granted->codes, std::vector<std::uint8_t>{1});
    if (v != version::v5) {
        // 3.1.1 has no Retain Handling: the retained message comes after the grant.
        auto r = sub.expect<proto::publish>();
        ASSERT_TRUE(r);
        EXPECT_TRUE(r->retain);
        sub.send(proto::puback{r->packet_id, {}, {}});
    }

    h.fail_writes();
    sub.send(subscribe_to(2, {{"s/new", qos::exactly_once},
                              {"s/replaced", qos::exactly_once},
                              {"$share/g/s/x", qos::at_most_once}}));
    auto sa = sub.expect<proto::suback>();
    ASSERT_TRUE(sa) << "a failed write is still answered";
    EXPECT_EQ(sa->packet_id, 2);
    const std::uint8_t failed = v == version::v5
                                    ? static_cast<std::uint8_t>(reason_code::unspecified_error)
                                    : proto::suback_failure_v3;
    // Shared subscriptions are off here: that filter keeps its own refusal.
    const std::uint8_t refused =
        v == version::v5
            ? static_cast<std::uint8_t>(reason_code::shared_subscriptions_not_supported)
            : proto::suback_failure_v3;
    EXPECT_EQ(sa->codes, (std::vector<std::uint8_t>{failed, failed, refused}))
        << "no filter of the failed write is granted";
    EXPECT_EQ(h.store_errors(), 1u);
    EXPECT_NE(log.text().find("storing subscriptions failed"), std::string::npos) << log.text();

    // Undone in the session and the router: the replaced subscription is back at QoS 1, the new
    // one is gone.
    auto s = h.core.sessions.find("sub");
    ASSERT_TRUE(s);
    ASSERT_EQ(s->subscriptions().size(), 1u);
    ASSERT_TRUE(s->subscriptions().contains("s/replaced"));
    EXPECT_EQ(s->subscriptions().at("s/replaced").options.max_qos, qos::at_least_once);
    EXPECT_EQ(h.core.routes.subscription_count(), 1u);

    // No delivery on the failed filter afterwards: the publisher's first message (on s/new) does
    // not arrive, its second (on s/replaced) arrives at the restored QoS 1, and no retained
    // message came after the failed SUBACK.
    ASSERT_NO_FATAL_FAILURE(h.recover());
    auto pub = h.connect_raw();
    ASSERT_TRUE(h.connect(pub, "pub"));
    ASSERT_NO_FATAL_FAILURE(publish_ok(pub, "s/new", "lost", qos::exactly_once, 1));
    ASSERT_NO_FATAL_FAILURE(publish_ok(pub, "s/replaced", "live", qos::exactly_once, 2));
    auto got = sub.expect<proto::publish>();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->topic, "s/replaced");
    EXPECT_EQ(got->payload, "live");
    EXPECT_FALSE(got->retain);
    EXPECT_EQ(got->qos_level, qos::at_least_once);
}

TEST(StoreFailure, SubscribeV311IsNotGrantedAndUndone) {
    subscribe_failure(version::v3_1_1);
}

TEST(StoreFailure, SubscribeV5IsNotGrantedAndUndone) {
    subscribe_failure(version::v5);
}

// ---- UNSUBSCRIBE -------------------------------------------------------------------------------

// 5.0: UNSUBACK 0x80 for the filters whose removal failed (the others keep their code) and the
// subscriptions are put back, so messages keep arriving.
TEST(StoreFailure, UnsubscribeV5AnswersUnspecifiedErrorAndKeepsTheSubscription) {
    captured_log log;
    store_harness h;
    auto sub = h.connect_raw(version::v5);
    auto ack = h.connect_persistent(sub, "u5");
    ASSERT_TRUE(ack);
    ASSERT_EQ(ack->code, 0);
    sub.send(subscribe_to(1, {{"u/a", qos::at_least_once}, {"u/b", qos::at_least_once}}));
    auto sa = sub.expect<proto::suback>();
    ASSERT_TRUE(sa);
    ASSERT_EQ(sa->codes, (std::vector<std::uint8_t>{1, 1}));

    h.fail_writes();
    proto::unsubscribe u;
    u.packet_id = 3;
    u.filters = {"u/a", "u/none"};
    sub.send(u);
    auto ua = sub.expect<proto::unsuback>();
    ASSERT_TRUE(ua);
    EXPECT_EQ(ua->packet_id, 3);
    EXPECT_EQ(ua->codes, (std::vector<reason_code>{reason_code::unspecified_error,
                                                   reason_code::no_subscription_existed}));
    EXPECT_EQ(h.store_errors(), 1u);
    EXPECT_NE(log.text().find("removing subscriptions failed"), std::string::npos) << log.text();
    auto s = h.core.sessions.find("u5");
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->subscriptions().contains("u/a")) << "put back";
    EXPECT_TRUE(s->subscriptions().contains("u/b"));

    ASSERT_NO_FATAL_FAILURE(h.recover());
    auto pub = h.connect_raw();
    ASSERT_TRUE(h.connect(pub, "pub"));
    ASSERT_NO_FATAL_FAILURE(publish_ok(pub, "u/a", "still here", qos::at_least_once, 1));
    auto got = sub.expect<proto::publish>();
    ASSERT_TRUE(got) << "the subscription that failed to go still delivers";
    EXPECT_EQ(got->topic, "u/a");
    EXPECT_EQ(got->payload, "still here");
}

// 3.1.1 UNSUBACK has no failure code: no UNSUBACK, the connection closes, the subscription stays
// (the store still has it) and delivers after the client reconnects.
TEST(StoreFailure, UnsubscribeV311ClosesWithoutUnsuback) {
    captured_log log;
    store_harness h;
    {
        auto sub = h.connect_raw(version::v3_1_1);
        auto ack = h.connect_persistent(sub, "u3");
        ASSERT_TRUE(ack);
        ASSERT_EQ(ack->code, 0);
        sub.send(subscribe_to(1, {{"u/a", qos::at_least_once}}));
        ASSERT_TRUE(sub.expect<proto::suback>());

        h.fail_writes();
        proto::unsubscribe u;
        u.packet_id = 3;
        u.filters = {"u/a"};
        sub.send(u);
        EXPECT_TRUE(sub.closed(5s)) << "3.1.1: the connection closes";
        EXPECT_FALSE(sub.receive(0ms).has_value()) << "no UNSUBACK before the close";
        EXPECT_EQ(h.store_errors(), 1u);
        EXPECT_NE(log.text().find("removing subscriptions failed"), std::string::npos)
            << log.text();
    }
    auto s = h.core.sessions.find("u3");
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->subscriptions().contains("u/a")) << "put back";

    ASSERT_NO_FATAL_FAILURE(h.recover());
    auto sub = h.connect_raw(version::v3_1_1);
    auto ack = h.connect_persistent(sub, "u3");
    ASSERT_TRUE(ack);
    ASSERT_EQ(ack->code, 0);
    EXPECT_TRUE(ack->session_present);
    auto pub = h.connect_raw();
    ASSERT_TRUE(h.connect(pub, "pub"));
    ASSERT_NO_FATAL_FAILURE(publish_ok(pub, "u/a", "still here", qos::at_least_once, 1));
    auto got = sub.expect<proto::publish>();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->payload, "still here");
}

// ---- PUBREL ------------------------------------------------------------------------------------

// PUBCOMP waits for the removal of the inbound QoS 2 id; when it fails there is no PUBCOMP, the id
// is kept and the connection closes (5.0: DISCONNECT 0x80). After the reconnect the id is still
// known: a resent PUBLISH is not routed again, and the PUBREL gets PUBCOMP success.
void pubrel_failure(version v) {
    SCOPED_TRACE(version_name(v));
    captured_log log;
    store_harness h;
    auto watcher = h.connect_raw();
    ASSERT_TRUE(h.connect(watcher, "watcher"));
    watcher.send(subscribe_to(1, {{"p/x", qos::exactly_once}}));
    ASSERT_TRUE(watcher.expect<proto::suback>());
    const auto take = [&](const char* what) -> std::string {
        auto m = watcher.expect<proto::publish>();
        EXPECT_TRUE(m) << what;
        if (!m) return {};
        watcher.send(proto::pubrec{m->packet_id, {}, {}});
        EXPECT_TRUE(watcher.expect<proto::pubrel>());
        watcher.send(proto::pubcomp{m->packet_id, {}, {}});
        return m->payload;
    };
    {
        auto pub = h.connect_raw(v);
        auto ack = h.connect_persistent(pub, "qos2-pub");
        ASSERT_TRUE(ack);
        ASSERT_EQ(ack->code, 0);
        pub.send(publish_to("p/x", "once", qos::exactly_once, 9));
        auto rec = pub.expect<proto::pubrec>();
        ASSERT_TRUE(rec);
        EXPECT_EQ(rec->packet_id, 9);
        EXPECT_EQ(take("delivered once"), "once");

        h.fail_writes();
        pub.send(proto::pubrel{9, {}, {}});
        if (v == version::v5) {
            auto d = pub.expect<proto::disconnect>(5s);
            ASSERT_TRUE(d) << "5.0: DISCONNECT before the close, not PUBCOMP";
            EXPECT_EQ(d->code, reason_code::unspecified_error);
        }
        EXPECT_TRUE(pub.closed(5s));
        EXPECT_FALSE(pub.receive(0ms).has_value()) << "no PUBCOMP";
        EXPECT_EQ(h.store_errors(), 1u);
        EXPECT_NE(log.text().find("releasing a QoS 2 packet identifier failed"), std::string::npos)
            << log.text();
    }
    auto s = h.core.sessions.find("qos2-pub");
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->inbound_qos2_contains(9)) << "the id is kept";

    ASSERT_NO_FATAL_FAILURE(h.recover());
    auto pub = h.connect_raw(v);
    auto ack = h.connect_persistent(pub, "qos2-pub");
    ASSERT_TRUE(ack);
    ASSERT_EQ(ack->code, 0);
    EXPECT_TRUE(ack->session_present);
    // The client did not see PUBCOMP, so it may resend the PUBLISH too (DUP) [MQTT-4.4.0-1]:
    // answered with PUBREC, not routed a second time (4.3.3 Method B).
    pub.send(publish_to("p/x", "once", qos::exactly_once, 9, /*dup*/ true));
    auto rec = pub.expect<proto::pubrec>();
    ASSERT_TRUE(rec);
    EXPECT_EQ(rec->packet_id, 9);
    pub.send(proto::pubrel{9, {}, {}});
    auto comp = pub.expect<proto::pubcomp>();
    ASSERT_TRUE(comp);
    EXPECT_EQ(comp->packet_id, 9);
    EXPECT_EQ(comp->code, reason_code::success) << "the id was known (not 0x92)";
    EXPECT_FALSE(s->inbound_qos2_contains(9));
    // The next message is the next one the watcher gets: "once" was not delivered twice.
    pub.send(publish_to("p/x", "next", qos::exactly_once, 10));
    ASSERT_TRUE(pub.expect<proto::pubrec>());
    EXPECT_EQ(take("the next message"), "next");
}

TEST(StoreFailure, PubrelV311GetsNoPubcompAndKeepsTheId) {
    pubrel_failure(version::v3_1_1);
}

TEST(StoreFailure, PubrelV5GetsNoPubcompAndKeepsTheId) {
    pubrel_failure(version::v5);
}

// ---- a client's PUBREC (server-to-client QoS 2) ------------------------------------------------

// PUBREL only once the pubrec_received state is stored; when the write fails, no PUBREL, and the
// entry goes back to `sent`, so the client's next PUBREC is handled anew.
void pubrec_failure(version v) {
    SCOPED_TRACE(version_name(v));
    captured_log log;
    store_harness h;
    auto sub = h.connect_raw(v);
    auto ack = h.connect_persistent(sub, "rec-sub");
    ASSERT_TRUE(ack);
    ASSERT_EQ(ack->code, 0);
    sub.send(subscribe_to(1, {{"c/t", qos::exactly_once}}));
    ASSERT_TRUE(sub.expect<proto::suback>());
    auto pub = h.connect_raw();
    ASSERT_TRUE(h.connect(pub, "pub"));
    ASSERT_NO_FATAL_FAILURE(publish_ok(pub, "c/t", "m", qos::exactly_once, 1));
    auto m = sub.expect<proto::publish>();
    ASSERT_TRUE(m);
    ASSERT_EQ(m->qos_level, qos::exactly_once);
    const auto pid = m->packet_id;
    auto s = h.core.sessions.find("rec-sub");
    ASSERT_TRUE(s);
    const auto state_of = [&]() -> std::optional<delivery_state> {
        std::optional<delivery_state> out;
        s->queue().for_each_inflight([&](outbound_entry& e) {
            if (packet_id_for(e.seq) == pid) out = e.state;
        });
        return out;
    };

    h.fail_writes();
    sub.send(proto::pubrec{pid, {}, {}});
    EXPECT_TRUE(h.wait_store_errors(sub, 1)) << "the failed write is counted";
    sub.pump(0ms);
    EXPECT_FALSE(sub.receive(0ms).has_value()) << "no PUBREL for an unstored PUBREC state";
    EXPECT_EQ(state_of(), delivery_state::sent) << "back to sent";
    EXPECT_NE(log.text().find("PUBREL not sent"), std::string::npos) << log.text();

    // The client sends PUBREC again (a retry or after a reconnect): now it is stored and
    // released.
    ASSERT_NO_FATAL_FAILURE(h.recover());
    sub.send(proto::pubrec{pid, {}, {}});
    auto rel = sub.expect<proto::pubrel>();
    ASSERT_TRUE(rel);
    EXPECT_EQ(rel->packet_id, pid);
    EXPECT_EQ(state_of(), delivery_state::pubrec_received);
    sub.send(proto::pubcomp{pid, {}, {}});
    sub.pump(20ms);
    EXPECT_FALSE(state_of().has_value());
    EXPECT_EQ(h.store_errors(), 1u);
}

TEST(StoreFailure, ClientPubrecV311GetsNoPubrelAndGoesBackToSent) {
    pubrec_failure(version::v3_1_1);
}

TEST(StoreFailure, ClientPubrecV5GetsNoPubrelAndGoesBackToSent) {
    pubrec_failure(version::v5);
}

// A repeated PUBREC (the client answering a DUP resend) whose write fails after the first one was
// stored: the store has pubrec_received, so the entry must not go back to `sent` (the client's
// PUBCOMP would then be a protocol error, and a reconnect would resend the PUBLISH it released).
TEST(StoreFailure, RepeatedClientPubrecFailingKeepsTheStoredState) {
    store_harness h;
    auto sub = h.connect_raw(version::v5);
    auto ack = h.connect_persistent(sub, "rec-sub");
    ASSERT_TRUE(ack);
    ASSERT_EQ(ack->code, 0);
    sub.send(subscribe_to(1, {{"c/t", qos::exactly_once}}));
    ASSERT_TRUE(sub.expect<proto::suback>());
    auto pub = h.connect_raw();
    ASSERT_TRUE(h.connect(pub, "pub"));
    ASSERT_NO_FATAL_FAILURE(publish_ok(pub, "c/t", "m", qos::exactly_once, 1));
    auto m = sub.expect<proto::publish>();
    ASSERT_TRUE(m);
    const auto pid = m->packet_id;
    sub.send(proto::pubrec{pid, {}, {}});
    ASSERT_TRUE(sub.expect<proto::pubrel>()) << "the first PUBREC is stored";

    h.fail_writes();
    sub.send(proto::pubrec{pid, {}, {}});
    ASSERT_TRUE(h.wait_store_errors(sub, 1));
    sub.pump(0ms);
    auto s = h.core.sessions.find("rec-sub");
    ASSERT_TRUE(s);
    std::optional<delivery_state> state;
    s->queue().for_each_inflight([&](outbound_entry& e) {
        if (packet_id_for(e.seq) == pid) state = e.state;
    });
    EXPECT_EQ(state, delivery_state::pubrec_received) << "as stored";
    sub.send(proto::pubcomp{pid, {}, {}});
    sub.pump(20ms);
    EXPECT_FALSE(sub.closed(0ms)) << "PUBCOMP after PUBREL is no protocol error";
    EXPECT_EQ(s->queue().inflight_count(), 0u);
}

// ---- reconnect of a session recovered at start-up ----------------------------------------------

// Writes what a previous run left for `id` (session record, one subscription, `n` queued QoS 1
// messages "m1".."mn") and recovers it as start-up does: the session is back, its messages are
// read when the client returns.
void seed_recovered_session(store_harness& h, const std::string& id, version v, int n) {
    const auto now = wall_now_ms();
    storage::session_record r;
    r.client_id = id;
    r.protocol_version = v == version::v5 ? 5 : 4;
    r.listener = h.lc.id();
    r.expiry_interval_s = v == version::v5 ? 3600 : storage::never_expires;
    r.created_at_ms = now - 2000;
    r.connected_at_ms = now - 2000;
    r.disconnected_at_ms = now - 1000;
    r.first_generation = 1;
    r.generation = 1;
    storage::write_batch b;
    b.ops.push_back(storage::put_session{r});
    storage::subscription_record sub;
    sub.filter = "rq/#";
    sub.qos = 1;
    b.ops.push_back(storage::put_subscription{id, sub});
    for (int i = 1; i <= n; ++i) {
        storage::queue_entry e;
        e.seq = (std::uint64_t{1} << 32) | static_cast<std::uint64_t>(i);
        e.packet_id = packet_id_for(e.seq);
        e.qos = 1;
        e.message.topic = "rq/t";
        e.message.payload = "m" + std::to_string(i);
        e.message.qos = 1;
        e.message.created_at_ms = now - 1500;
        b.ops.push_back(storage::put_queue_entry{id, e});
    }
    storage::status written;
    h.core.store()->submit(std::move(b), [&](const storage::status& st) { written = st; });
    h.core.store()->flush();
    ASSERT_TRUE(written) << written.to_string();

    recovered_state state;
    auto st = read_recovery_state(*h.core.store(), false, state);
    ASSERT_TRUE(st) << st.to_string();
    ASSERT_EQ(state.sessions.size(), 1u);
    ASSERT_TRUE(state.sessions[0].bounds);
    const auto counts = restore_sessions(
        h.core, state, [&] { return asio::any_io_executor(h.io.get_executor()); },
        [&](std::string_view) { return &h.lc; });
    ASSERT_EQ(counts.with_queue, 1u);
}

// A recovered session cannot be resumed without its stored messages: when reading them fails,
// CONNACK refuses (5.0 0x88 Server unavailable, 3.1.1 return code 3) instead of resuming an empty
// session; once the store reads again, the client resumes and gets them.
void reconnect_failure(version v) {
    SCOPED_TRACE(version_name(v));
    captured_log log;
    store_harness h;
    ASSERT_NO_FATAL_FAILURE(seed_recovered_session(h, "back", v, 3));
    auto s = h.core.sessions.find("back");
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->has_unloaded_store_entries());

    h.engine->fail_reads(true);
    {
        auto c = h.connect_raw(v);
        auto ack = h.connect_persistent(c, "back");
        ASSERT_TRUE(ack) << "a refusal is a CONNACK";
        if (v == version::v5)
            EXPECT_EQ(ack->code, static_cast<std::uint8_t>(reason_code::server_unavailable));
        else
            EXPECT_EQ(ack->code,
                      static_cast<std::uint8_t>(proto::connect_return_code::server_unavailable));
        EXPECT_FALSE(ack->session_present) << "[MQTT-3.2.2-4]";
        EXPECT_TRUE(c.closed());
        EXPECT_EQ(h.store_errors(), 1u);
        EXPECT_NE(log.text().find("loading queued messages failed"), std::string::npos)
            << log.text();
    }
    EXPECT_TRUE(s->has_unloaded_store_entries()) << "still to be read when the client returns";
    EXPECT_EQ(h.core.sessions.find("back"), s) << "the session is kept";

    ASSERT_NO_FATAL_FAILURE(h.recover());
    auto c = h.connect_raw(v);
    auto ack = h.connect_persistent(c, "back");
    ASSERT_TRUE(ack);
    ASSERT_EQ(ack->code, 0);
    EXPECT_TRUE(ack->session_present);
    for (int i = 1; i <= 3; ++i) {
        auto m = c.expect<proto::publish>();
        ASSERT_TRUE(m) << "stored message " << i;
        EXPECT_EQ(m->payload, "m" + std::to_string(i));
        c.send(proto::puback{m->packet_id, {}, {}});
    }
}

// A refused CONNECT was never accepted, so its will is not published when the connection
// closes (3.1.2.5: the will is stored "if the Connect request is accepted"). `fail` makes the
// store fail after the session is attached; the watcher's next message must be the witness.
void refused_connect_keeps_no_will(store_harness& h, const std::string& id,
                                   const std::function<void()>& fail) {
    auto watcher = h.connect_raw();
    ASSERT_TRUE(h.connect(watcher, "watcher"));
    watcher.send(
        subscribe_to(1, {{"will/" + id, qos::at_least_once}, {"w/t", qos::at_least_once}}));
    ASSERT_TRUE(watcher.expect<proto::suback>());

    fail();
    {
        auto c = h.connect_raw(version::v5);
        proto::connect conn;
        conn.protocol_version = version::v5;
        conn.client_id = id;
        conn.clean_start = false;
        conn.keep_alive = 60;
        conn.props.session_expiry_interval = 3600;
        proto::will_message w;
        w.topic = "will/" + id;
        w.payload = "gone";
        w.qos_level = qos::at_least_once;
        conn.will = w;
        c.send(conn);
        auto ack = c.expect<proto::connack>();
        ASSERT_TRUE(ack);
        EXPECT_EQ(ack->code, static_cast<std::uint8_t>(reason_code::server_unavailable));
        EXPECT_TRUE(c.closed());
        EXPECT_EQ(h.store_errors(), 1u);
    }
    ASSERT_NO_FATAL_FAILURE(h.recover());
    auto pub = h.connect_raw();
    ASSERT_TRUE(h.connect(pub, "pub"));
    ASSERT_NO_FATAL_FAILURE(publish_ok(pub, "w/t", "witness", qos::at_least_once, 1));
    auto got = watcher.expect<proto::publish>();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->topic, "w/t") << "the refused connection's will was published";
}

TEST(StoreFailure, RefusedReconnectDoesNotPublishItsWill) {
    store_harness h;
    ASSERT_NO_FATAL_FAILURE(seed_recovered_session(h, "back", version::v5, 1));
    refused_connect_keeps_no_will(h, "back", [&] { h.engine->fail_reads(true); });
}

// The same when the session record cannot be stored (the store has not failed before, so the
// CONNECT gets as far as attaching the session).
TEST(StoreFailure, ConnectRefusedForAnUnstoredSessionDoesNotPublishItsWill) {
    store_harness h;
    refused_connect_keeps_no_will(h, "new", [&] { h.fail_writes(); });
}

TEST(StoreFailure, ReconnectV311IsRefusedWhenTheStoredQueueCannotBeRead) {
    reconnect_failure(version::v3_1_1);
}

TEST(StoreFailure, ReconnectV5IsRefusedWhenTheStoredQueueCannotBeRead) {
    reconnect_failure(version::v5);
}

}  // namespace
}  // namespace rmqtt::broker::test

namespace rmqtt::broker::test {
namespace {

// ---- the failure comes back after the client has gone ------------------------------------------

// The store write of a SUBSCRIBE, UNSUBSCRIBE or PUBREL is held in the engine while the client
// hangs up; then it fails. The session outlives the connection, so what the failed write was to
// change must still be undone on it: the store never got the change.
struct left_before_failure : store_harness {
    // Holds the next write in the engine; returns after `send` put one there.
    void hold_next_write(test_client& c, const proto::packet& p) {
        const int before = engine->attempts();
        engine->hold();
        c.send(p);
        ASSERT_TRUE(engine->wait_attempts(before + 1));
    }
    // The client hangs up; then the held write fails.
    void hang_up_then_fail(test_client& c) {
        c.hang_up();
        c.pump(20ms);
        fail_writes();
        engine->release();
        ASSERT_TRUE(wait_store_errors(c, 1));
        c.pump(20ms);  // the undo runs on the session's owner
    }
};

TEST(StoreFailure, SubscribeFailingAfterTheClientLeftIsStillUndone) {
    left_before_failure h;
    {
        auto sub = h.connect_raw(version::v5);
        auto ack = h.connect_persistent(sub, "gone");
        ASSERT_TRUE(ack);
        ASSERT_EQ(ack->code, 0);
        ASSERT_NO_FATAL_FAILURE(
            h.hold_next_write(sub, subscribe_to(1, {{"g/t", qos::at_least_once}})));
        ASSERT_NO_FATAL_FAILURE(h.hang_up_then_fail(sub));
    }
    auto s = h.core.sessions.find("gone");
    ASSERT_TRUE(s);
    EXPECT_FALSE(s->subscriptions().contains("g/t")) << "the store does not have it";
    EXPECT_EQ(h.core.routes.subscription_count(), 0u);

    ASSERT_NO_FATAL_FAILURE(h.recover());
    auto sub = h.connect_raw(version::v5);
    auto ack = h.connect_persistent(sub, "gone");
    ASSERT_TRUE(ack);
    ASSERT_EQ(ack->code, 0);
    sub.send(subscribe_to(2, {{"g/w", qos::at_least_once}}));
    ASSERT_TRUE(sub.expect<proto::suback>());
    auto pub = h.connect_raw();
    ASSERT_TRUE(h.connect(pub, "pub"));
    ASSERT_NO_FATAL_FAILURE(publish_ok(pub, "g/t", "lost", qos::at_least_once, 1));
    ASSERT_NO_FATAL_FAILURE(publish_ok(pub, "g/w", "witness", qos::at_least_once, 2));
    auto got = sub.expect<proto::publish>();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->topic, "g/w") << "nothing for the subscription that was never stored";
}

TEST(StoreFailure, UnsubscribeFailingAfterTheClientLeftIsStillPutBack) {
    left_before_failure h;
    {
        auto sub = h.connect_raw(version::v5);
        auto ack = h.connect_persistent(sub, "gone");
        ASSERT_TRUE(ack);
        ASSERT_EQ(ack->code, 0);
        sub.send(subscribe_to(1, {{"g/t", qos::at_least_once}}));
        ASSERT_TRUE(sub.expect<proto::suback>());
        proto::unsubscribe u;
        u.packet_id = 2;
        u.filters = {"g/t"};
        ASSERT_NO_FATAL_FAILURE(h.hold_next_write(sub, u));
        ASSERT_NO_FATAL_FAILURE(h.hang_up_then_fail(sub));
    }
    auto s = h.core.sessions.find("gone");
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->subscriptions().contains("g/t")) << "the store still has it";
    EXPECT_EQ(h.core.routes.subscription_count(), 1u);

    ASSERT_NO_FATAL_FAILURE(h.recover());
    auto sub = h.connect_raw(version::v5);
    auto ack = h.connect_persistent(sub, "gone");
    ASSERT_TRUE(ack);
    ASSERT_EQ(ack->code, 0);
    auto pub = h.connect_raw();
    ASSERT_TRUE(h.connect(pub, "pub"));
    ASSERT_NO_FATAL_FAILURE(publish_ok(pub, "g/t", "kept", qos::at_least_once, 1));
    auto got = sub.expect<proto::publish>();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->payload, "kept");
}

// A QoS 2 PUBLISH whose write (its inbound id, its copies) fails after the client has gone:
// the id must be forgotten, or the client's resend after reconnecting [MQTT-4.4.0-1] would be
// taken for a duplicate, answered PUBREC and never routed: a message lost with a success code.
TEST(StoreFailure, Qos2PublishFailingAfterTheClientLeftIsRoutedWhenResent) {
    left_before_failure h;
    auto sub = h.connect_raw();
    ASSERT_TRUE(h.connect(sub, "watcher"));
    sub.send(subscribe_to(1, {{"g/t", qos::exactly_once}}));
    ASSERT_TRUE(sub.expect<proto::suback>());
    {
        auto pub = h.connect_raw(version::v5);
        auto ack = h.connect_persistent(pub, "gone");
        ASSERT_TRUE(ack);
        ASSERT_EQ(ack->code, 0);
        ASSERT_NO_FATAL_FAILURE(
            h.hold_next_write(pub, publish_to("g/t", "resent", qos::exactly_once, 5)));
        ASSERT_NO_FATAL_FAILURE(h.hang_up_then_fail(pub));
    }
    auto s = h.core.sessions.find("gone");
    ASSERT_TRUE(s);
    EXPECT_FALSE(s->inbound_qos2_contains(5)) << "its write failed: not received";

    ASSERT_NO_FATAL_FAILURE(h.recover());
    auto pub = h.connect_raw(version::v5);
    auto ack = h.connect_persistent(pub, "gone");
    ASSERT_TRUE(ack);
    ASSERT_EQ(ack->code, 0);
    pub.send(publish_to("g/t", "resent", qos::exactly_once, 5, /*dup*/ true));
    auto rec = pub.expect<proto::pubrec>();
    ASSERT_TRUE(rec);
    EXPECT_EQ(rec->code, reason_code::success);
    pub.send(proto::pubrel{5, {}, {}});
    ASSERT_TRUE(pub.expect<proto::pubcomp>());
    auto got = sub.expect<proto::publish>();
    ASSERT_TRUE(got) << "the resent message is routed";
    EXPECT_EQ(got->payload, "resent");
}

// The dangerous one: an id left in the store but forgotten in memory is answered "unknown" when
// the client resends PUBREL, so it is never removed, and after a restart a new QoS 2 message
// reusing it would be taken for a duplicate and dropped.
TEST(StoreFailure, PubrelFailingAfterTheClientLeftKeepsTheId) {
    left_before_failure h;
    {
        auto pub = h.connect_raw(version::v5);
        auto ack = h.connect_persistent(pub, "gone");
        ASSERT_TRUE(ack);
        ASSERT_EQ(ack->code, 0);
        pub.send(publish_to("g/t", "once", qos::exactly_once, 9));
        ASSERT_TRUE(pub.expect<proto::pubrec>());
        ASSERT_NO_FATAL_FAILURE(h.hold_next_write(pub, proto::pubrel{9, {}, {}}));
        ASSERT_NO_FATAL_FAILURE(h.hang_up_then_fail(pub));
    }
    auto s = h.core.sessions.find("gone");
    ASSERT_TRUE(s);
    EXPECT_TRUE(s->inbound_qos2_contains(9)) << "the store still has it";

    ASSERT_NO_FATAL_FAILURE(h.recover());
    auto pub = h.connect_raw(version::v5);
    auto ack = h.connect_persistent(pub, "gone");
    ASSERT_TRUE(ack);
    ASSERT_EQ(ack->code, 0);
    pub.send(proto::pubrel{9, {}, {}});
    auto comp = pub.expect<proto::pubcomp>();
    ASSERT_TRUE(comp);
    EXPECT_EQ(comp->code, reason_code::success) << "known, not 0x92";
    // And now it is gone from the store too.
    std::vector<std::uint16_t> stored{0};
    std::promise<void> read;
    h.core.store()->read_async([&](storage::store_reader& r) {
        stored.clear();
        EXPECT_TRUE(r.load_inbound_qos2("gone", stored));
        read.set_value();
    });
    auto f = read.get_future();
    ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
    EXPECT_TRUE(stored.empty()) << "no stale id left for a restart to bring back";
}

}  // namespace
}  // namespace rmqtt::broker::test
