// What rmqttd rebuilds at startup from the store, on both engines:
//  - subscriptions route before their client returns (RMQTT issue #475 class): publish after
//    the restart, then reconnect, then receive;
//  - session expiry counts (while running, while stopped, from the last proof of life after a
//    crash), and an unexpired session is present;
//  - non-persistent sessions (3.1.1 Clean Session 1, 5.0 Session Expiry 0) are never stored;
//  - retained messages kept in the session store (retainer storage "rocksdb") survive.
#include "persistence_util.hpp"

namespace rmqtt::test::persist {
namespace {

class Recovery : public engine_test {};

void publish_ok(const broker_process& b, const std::vector<publish_item>& items,
                const std::string& id = "publisher") {
    auto pub = raw_connect_or_null(b, make_connect(id, proto::version::v3_1_1, true));
    ASSERT_TRUE(pub);
    ASSERT_EQ(publish_all(*pub, items), items.size()) << "every PUBLISH acknowledged";
    raw_disconnect(*pub);
}

// Reconnects `c`, expects `present`, receives and acknowledges everything.
std::vector<delivered> reconnect_and_receive(const broker_process& b, const proto::connect& c,
                                             bool want_present, std::size_t want,
                                             std::chrono::milliseconds quiet = 300ms) {
    bool present = !want_present;
    auto s = raw_connect_or_null(b, c, &present);
    EXPECT_TRUE(s) << c.client_id;
    if (!s) return {};
    EXPECT_EQ(present, want_present) << c.client_id << ": session present";
    acking_receiver rx;
    // An empty answer is expected when want is 0: then only `quiet` is waited.
    return rx.receive(*s, want, 30s, quiet);
}

// Subscriptions are in the router before the listeners open: messages published after the
// restart, before the subscriber returns, are queued for it. 1,500 of them, more than the
// default max_mqueue_len of 1,000: the listener's limit (100,000 here) applies to restored
// sessions too.
TEST_P(Recovery, SubscriptionsRouteBeforeTheClientReturns) {
    auto b = start_broker();
    const std::vector<std::pair<proto::connect, int>> subs = {
        {persistent_connect("rt-311", proto::version::v3_1_1), 2},
        {persistent_connect("rt-5", proto::version::v5), 2},
        {persistent_connect("rt-311-q1", proto::version::v3_1_1), 1}};
    for (const auto& [c, qos] : subs)
        make_offline_subscriber(*b, c, "rt/#", qos);
    b->kill9();
    b->restart();

    const auto items = numbered(1, "rt", 1500);
    publish_ok(*b, items);
    for (const auto& [c, qos] : subs) {
        auto got = reconnect_and_receive(*b, c, true, items.size());
        auto r = check_deliveries(got, ids_of(items));
        EXPECT_DELIVERED_OK(r, c.client_id + " on " + engine());
        // Nothing was sent before the restart: a duplicate here is not a permitted resend.
        EXPECT_EQ(r.qos1_duplicates, 0u) << c.client_id;
    }
}

// Messages stored before the restart and routed after it, to the same offline session: each is
// delivered once, stored ones first.
TEST_P(Recovery, MessagesFromBeforeAndAfterTheRestart) {
    auto b = start_broker();
    const auto c3 = persistent_connect("ba-311", proto::version::v3_1_1);
    const auto c5 = persistent_connect("ba-5", proto::version::v5);
    make_offline_subscriber(*b, c3, "ba/#", 2);
    make_offline_subscriber(*b, c5, "ba/#", 2);

    auto before = numbered(1, "ba", 10);
    publish_ok(*b, before, "ba-pub-1");
    EXPECT_EQ(b->stop(), 0);
    b->restart();
    auto after = numbered(2, "ba", 10);
    publish_ok(*b, after, "ba-pub-2");

    auto expected = ids_of(before);
    expected.merge(ids_of(after));
    for (const auto& c : {c3, c5}) {
        auto got = reconnect_and_receive(*b, c, true, expected.size(), 500ms);
        auto r = check_deliveries(got, expected);
        EXPECT_DELIVERED_OK(r, c.client_id + " on " + engine());
        EXPECT_EQ(r.qos1_duplicates, 0u)
            << c.client_id << ": nothing was sent before, so a duplicate is a broker bug";
        // Stored messages (publisher 1) come before the ones routed after the restart.
        std::size_t last_before = 0, first_after = got.size();
        for (std::size_t i = 0; i < got.size(); ++i) {
            auto m = parse_payload(got[i].payload);
            if (m && m->pub == 1) last_before = i;
            if (m && m->pub == 2 && first_after == got.size()) first_after = i;
        }
        EXPECT_LT(last_before, first_after) << c.client_id;
    }
}

// ---- expiry ------------------------------------------------------------------------------------

// 5.0 sessions with a 2 s Session Expiry Interval and 3.1.1 Clean Session 0 sessions on a
// listener with session_expiry_interval = "2s" expire; a 5.0 session with 3600 s does not.
struct expiry_clients {
    proto::connect short5 = make_connect("ex-5", proto::version::v5, false, 2);
    proto::connect short3 = make_connect("ex-311", proto::version::v3_1_1, false);
    proto::connect keeper = make_connect("ex-keep", proto::version::v5, false, 3600);
};

std::vector<std::string> short_expiry_listener() {
    auto l = roomy_listener();
    l.push_back("session_expiry_interval = \"2s\"");
    return l;
}

// Every expiry client subscribed and offline, with 4 QoS 1 messages queued for each; returns them.
std::vector<publish_item> queue_for_offline_clients(const broker_process& b,
                                                    const expiry_clients& ec) {
    for (const auto& c : {ec.short5, ec.short3, ec.keeper})
        make_offline_subscriber(b, c, "ex/#", 1);
    auto items = numbered(1, "ex", 4, 1);
    publish_ok(b, items);
    return items;
}

void expect_expired_and_kept(const broker_process& b, const expiry_clients& ec,
                             const std::vector<publish_item>& items) {
    for (const auto& c : {ec.short5, ec.short3}) {
        auto got = reconnect_and_receive(b, c, false, 0, 1s);
        EXPECT_TRUE(got.empty()) << c.client_id << ": an expired session's messages are gone";
    }
    auto kept = reconnect_and_receive(b, ec.keeper, true, items.size());
    auto r = check_deliveries(kept, ids_of(items));
    EXPECT_DELIVERED_OK(r, ec.keeper.client_id);
}

TEST_P(Recovery, SessionExpiredBeforeTheRestartIsGone) {
    auto b = start_broker(options(short_expiry_listener()));
    expiry_clients ec;
    const auto items = queue_for_offline_clients(*b, ec);
    // The running broker ends them 2 s after their disconnect and logs it; then it stops.
    for (const auto& c : {ec.short5, ec.short3})
        EXPECT_TRUE(log_shows(*b, "session " + c.client_id + " expired")) << c.client_id;
    EXPECT_EQ(b->stop(), 0);
    b->restart();
    expect_expired_and_kept(*b, ec, items);
}

TEST_P(Recovery, SessionExpiresWhileTheBrokerIsStopped) {
    auto b = start_broker(options(short_expiry_listener()));
    expiry_clients ec;
    const auto items = queue_for_offline_clients(*b, ec);
    // Every client has disconnected by now; the stop comes well inside their 2 s.
    const auto offline_by = std::chrono::steady_clock::now();
    EXPECT_EQ(b->stop(), 0);
    // Not a synchronisation: the expiry interval itself has to pass while the broker is down.
    std::this_thread::sleep_until(offline_by + 2s);
    b->restart();
    expect_expired_and_kept(*b, ec, items);
}

// Sessions connected at a kill -9 count their expiry from the last proof of life (the
// heartbeat), not from the restart.
TEST_P(Recovery, SessionConnectedAtACrashExpiresFromLastAlive) {
    auto b = start_broker(options(short_expiry_listener()));
    expiry_clients ec;
    std::vector<std::unique_ptr<raw_client>> online;
    for (const auto& c : {ec.short5, ec.short3}) {
        online.push_back(raw_connect_or_null(*b, c));
        ASSERT_TRUE(online.back());
        subscribe_ok(*online.back(), {{"ex/#", 1}});
    }
    make_offline_subscriber(*b, ec.keeper, "ex/#", 1);
    const auto items = numbered(1, "ex", 4, 1);
    publish_ok(*b, items);
    b->kill9();
    online.clear();
    // Not a synchronisation: the 2 s expiry has to pass while the broker is down. The last
    // heartbeat was written before the kill, so 2 s after the kill is past the expiry whatever
    // the heartbeat interval.
    std::this_thread::sleep_for(2s);
    b->restart();
    expect_expired_and_kept(*b, ec, items);
}

// ---- never stored ------------------------------------------------------------------------------

// 3.1.1 Clean Session 1 and 5.0 Clean Start 1 with Session Expiry 0 are not stored: after a
// crash and a restart they are not present and nothing is queued for them.
TEST_P(Recovery, NonPersistentSessionsAreNotStored) {
    auto b = start_broker();
    const auto clean3 = make_connect("np-311", proto::version::v3_1_1, true);
    const auto clean5 = make_connect("np-5", proto::version::v5, true, 0);
    const auto keeper = persistent_connect("np-keep", proto::version::v3_1_1);
    std::vector<std::unique_ptr<raw_client>> online;
    for (const auto& c : {clean3, clean5, keeper}) {
        online.push_back(raw_connect_or_null(*b, c));
        ASSERT_TRUE(online.back());
        subscribe_ok(*online.back(), {{"np/#", 2}});
    }
    const auto items = numbered(1, "np", 6);
    publish_ok(*b, items, "np-pub-1");
    // Everyone takes the first messages (nothing stays queued for the keeper), then the crash.
    for (auto& c : online) {
        acking_receiver rx;
        EXPECT_EQ(check_deliveries(rx.receive(*c, items.size()), ids_of(items)).missing, 0u);
    }
    // The keeper's acknowledgements must reach the store before the crash. They are written
    // behind, but the store commits in submission order and a SUBACK waits for its subscription's
    // commit: a SUBSCRIBE on the keeper's connection, after its acknowledgements, is a barrier.
    subscribe_ok(*online.back(), {{"np/#", 2}});
    b->kill9();
    online.clear();
    b->restart();
    const auto after = numbered(2, "np", 6);
    publish_ok(*b, after, "np-pub-2");

    if (is_redis()) {
        // Nothing of the clean sessions in Redis at all (checked before they reconnect:
        // a reconnect with Clean Session 0 makes np-311 persistent).
        const auto keys = redis().cli("--scan");
        EXPECT_EQ(keys.find("np-311"), std::string::npos) << keys;
        EXPECT_EQ(keys.find("np-5"), std::string::npos) << keys;
        EXPECT_NE(keys.find("np-keep"), std::string::npos) << keys;
    }
    // Reconnecting with Clean Session 0 / Clean Start 0 finds no session and no messages.
    for (auto c : {clean3, clean5}) {
        c.clean_start = false;
        auto got = reconnect_and_receive(*b, c, false, 0, 1s);
        EXPECT_TRUE(got.empty()) << c.client_id << ": nothing queued for a non-persistent session";
    }
    // The persistent one is present and gets what was published after the restart.
    auto got = reconnect_and_receive(*b, keeper, true, after.size());
    EXPECT_DELIVERED_OK(check_deliveries(got, ids_of(after)), keeper.client_id);
}

// ---- retained ----------------------------------------------------------------------------------

// With the retainer's storage "rocksdb", retained messages are kept in the session store and
// survive a graceful stop and a kill -9; a deleted one stays deleted, a replaced one replaced
// [MQTT-3.3.1-5] [MQTT-3.3.1-10].
TEST_P(Recovery, RetainedMessagesSurviveRestarts) {
    auto o = options();
    o.retainer_type = "rocksdb";
    auto b = start_broker(std::move(o));
    {
        auto pub = raw_connect_or_null(*b, make_connect("ret-pub", proto::version::v3_1_1, true));
        ASSERT_TRUE(pub);
        const std::vector<publish_item> items = {
            {"ret/a", "A", 0, true},  {"ret/b", "B", 1, true}, {"ret/c", "C", 2, true},
            {"ret/d", "D", 1, true},  {"ret/d", "", 1, true},  {"ret/e", "E1", 1, true},
            {"ret/e", "E2", 2, true}, {"ret/f", "F", 1, false}};
        ASSERT_EQ(publish_all(*pub, items, 1), items.size());
    }
    const std::map<std::string, std::pair<std::string, int>> want = {
        {"ret/a", {"A", 0}}, {"ret/b", {"B", 1}}, {"ret/c", {"C", 2}}, {"ret/e", {"E2", 2}}};
    auto check = [&](const char* when) {
        SCOPED_TRACE(std::string(when) + " on " + engine());
        auto s = raw_connect_or_null(*b, make_connect("ret-sub", proto::version::v3_1_1, true));
        ASSERT_TRUE(s);
        subscribe_ok(*s, {{"ret/#", 2}});
        acking_receiver rx;
        auto got = rx.receive(*s, want.size(), 10s, 500ms);
        std::map<std::string, std::pair<std::string, int>> have;
        for (const auto& d : got) {
            EXPECT_TRUE(d.retain) << d.topic << ": RETAIN 1 on a retained message [MQTT-3.3.1-8]";
            EXPECT_FALSE(have.contains(d.topic)) << d.topic << " delivered twice";
            have[d.topic] = {d.payload, d.qos};
        }
        EXPECT_EQ(have, want);
    };
    check("before any restart");
    EXPECT_EQ(b->stop(), 0);
    b->restart();
    check("after SIGTERM");
    b->kill9();
    b->restart();
    check("after kill -9");
}

INSTANTIATE_TEST_SUITE_P(Engines, Recovery, ::testing::Values("rocksdb", "redis"), engine_name);

}  // namespace
}  // namespace rmqtt::test::persist
