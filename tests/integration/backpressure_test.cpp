// A fast publisher and a slow subscriber (listener mqueue_overflow): with "backpressure" (the
// default) no acknowledged QoS 1/2 message is dropped; the publisher's PUBACK / PUBREC wait while
// the subscriber's queue is full, and a publisher / subscriber pair on another topic is not held
// up meanwhile. With "drop", and for offline sessions, max_mqueue_len drops as before.
//
// The slow subscriber is a raw client that does not acknowledge anything until the test lets it,
// so "slow" is a state, not a speed: nothing here depends on timing.
#include <gtest/gtest.h>

#include <set>

#include "integration_util.hpp"

namespace rmqtt::test::integ {
namespace {

constexpr int burst = 200;       // messages the publisher sends at once
constexpr int queue_limit = 20;  // max_mqueue_len
constexpr int sub_window = 5;    // max_inflight: unacknowledged messages to the subscriber
constexpr int other_topic_count = 100;

std::vector<std::string> bp_listener(const std::string& overflow) {
    return {cat("max_mqueue_len = ", queue_limit), cat("max_inflight = ", sub_window),
            cat("mqueue_overflow = \"", overflow, "\"")};
}

// A publisher that sends payloads "m0".."m<count-1>" (packet ids 1..count) as fast as its window
// lets it: the server's Receive Maximum for 5.0 [MQTT-3.3.4-9], all at once for 3.1.1 (which has
// none). It completes QoS 2 flows (PUBREL for each PUBREC).
class publisher_flow {
  public:
    publisher_flow(raw_client& c, std::string topic, int qos, int count, std::size_t window)
        : c_(c), topic_(std::move(topic)), qos_(qos), count_(count), window_(window) {}

    // Sends what the window allows and handles acknowledgements until all are in or none comes
    // for `quiet`. Returns the ids acknowledged (PUBACK / PUBREC) by this call, in order.
    std::vector<std::uint16_t> run(std::chrono::milliseconds quiet) {
        std::vector<std::uint16_t> ids;
        const auto deadline = std::chrono::steady_clock::now() + 60s;
        while (std::chrono::steady_clock::now() < deadline) {
            std::vector<std::uint8_t> bytes;
            for (; open_ < window_ && next_ < count_; ++next_, ++open_) {
                auto p = make_publish(topic_, cat("m", next_), qos_,
                                      static_cast<std::uint16_t>(next_ + 1));
                proto::encode(c_.version(), proto::packet{p}, bytes);
            }
            if (!bytes.empty()) c_.send_bytes(bytes);
            if (acked_ == count_ && open_ == 0) break;
            auto p = c_.receive(quiet);
            if (!p) break;
            if (auto* a = std::get_if<proto::puback>(&*p)) {
                EXPECT_FALSE(proto::is_error(a->code));
                ids.push_back(a->packet_id);
                ++acked_;
                --open_;
            } else if (auto* r = std::get_if<proto::pubrec>(&*p)) {
                EXPECT_FALSE(proto::is_error(r->code));
                ids.push_back(r->packet_id);
                ++acked_;
                c_.send(proto::pubrel{r->packet_id, {}, {}});
            } else if (std::holds_alternative<proto::pubcomp>(*p)) {
                --open_;  // a QoS 2 flow holds its Receive Maximum slot until PUBCOMP
            } else {
                ADD_FAILURE() << "unexpected packet type " << static_cast<int>(proto::type_of(*p));
                break;
            }
        }
        return ids;
    }

  private:
    raw_client& c_;
    const std::string topic_;
    const int qos_;
    const int count_;
    const std::size_t window_;
    int next_ = 0;
    int acked_ = 0;
    std::size_t open_ = 0;
};

// A connected raw client and the window its publishes get (see publisher_flow).
std::pair<std::unique_ptr<raw_client>, std::size_t> connect_publisher(const broker_process& b,
                                                                      const std::string& id,
                                                                      proto::version v) {
    auto c = std::make_unique<raw_client>(b.port(), v);
    auto ack = c->connect(make_connect(id, v, true));
    expect_connack_ok(ack, id);
    std::size_t window = burst;
    if (ack && v == proto::version::v5) window = ack->props.receive_maximum.value_or(65535);
    return {std::move(c), window};
}

// The subscriber reads and acknowledges everything until `want` distinct payloads arrived or
// nothing came for `quiet`; returns the payloads in arrival order (first copy of each).
std::vector<std::string> receive_all(raw_client& sub, std::size_t want,
                                     std::chrono::milliseconds quiet) {
    std::vector<std::string> got;
    std::set<std::string> seen;
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    while (got.size() < want && std::chrono::steady_clock::now() < deadline) {
        auto p = sub.receive(quiet);
        if (!p) break;
        auto* pub = std::get_if<proto::publish>(&*p);
        if (!pub) {
            ADD_FAILURE() << "unexpected packet type " << static_cast<int>(proto::type_of(*p));
            break;
        }
        if (!raw_ack(sub, *pub)) break;
        if (seen.insert(pub->payload).second) got.push_back(pub->payload);
    }
    return got;
}

std::vector<std::string> expected_payloads(int from, int to) {
    std::vector<std::string> out;
    for (int i = from; i < to; ++i)
        out.push_back(cat("m", i));
    return out;
}

struct flow {
    proto::version version;
    int publish_qos;  // the subscriber subscribes with QoS 1: a QoS 2 publish arrives as QoS 1
};

class BackpressureFlow : public ::testing::TestWithParam<flow> {};

// The subscriber's queue fills while it acknowledges nothing: the publisher gets acks for what
// the window and the queue took, then none; a pair on another topic runs to the end meanwhile;
// once the subscriber reads, every message arrives in order and every ack comes.
TEST_P(BackpressureFlow, SlowSubscriberLosesNothingAndHoldsOnlyItsPublishers) {
    const auto [v, qos] = GetParam();
    auto b = start_broker(bp_listener("backpressure"));
    auto slow = raw_connect(*b, make_connect("bp-slow-sub", v, true));
    ASSERT_NO_FATAL_FAILURE(subscribe_ok(*slow, {{"bp/slow", 1}}));
    auto fast_sub = raw_connect(*b, make_connect("bp-fast-sub", v, true));
    ASSERT_NO_FATAL_FAILURE(subscribe_ok(*fast_sub, {{"bp/fast", 1}}));
    auto [slow_pub, slow_window] = connect_publisher(*b, "bp-slow-pub", v);
    auto [fast_pub, fast_window] = connect_publisher(*b, "bp-fast-pub", v);
    publisher_flow slow_flow(*slow_pub, "bp/slow", qos, burst, slow_window);
    publisher_flow fast_flow(*fast_pub, "bp/fast", 1, other_topic_count, fast_window);

    // What the window and the queue take is acknowledged (plus the few that raced the
    // subscriber's count across threads); the rest waits for room.
    const auto early = slow_flow.run(1000ms);
    EXPECT_GE(early.size(), static_cast<std::size_t>(queue_limit));
    EXPECT_LT(early.size(), static_cast<std::size_t>(2 * (queue_limit + sub_window)))
        << "acknowledged beyond the subscriber's queue: those would be dropped under \"drop\"";

    // Another topic, while the slow subscriber still holds everything: unaffected.
    std::vector<std::uint16_t> fast_acks;
    std::vector<std::string> fast_got;
    for (int round = 0; round < 200 && fast_acks.size() < std::size_t{other_topic_count}; ++round) {
        auto ids = fast_flow.run(50ms);
        fast_acks.insert(fast_acks.end(), ids.begin(), ids.end());
        auto got = receive_all(*fast_sub, std::size_t{other_topic_count} - fast_got.size(), 50ms);
        fast_got.insert(fast_got.end(), got.begin(), got.end());
    }
    auto rest = receive_all(*fast_sub, std::size_t{other_topic_count} - fast_got.size(), 1000ms);
    fast_got.insert(fast_got.end(), rest.begin(), rest.end());
    EXPECT_EQ(fast_got, expected_payloads(0, other_topic_count));
    EXPECT_EQ(fast_acks.size(), static_cast<std::size_t>(other_topic_count));
    // ... and the slow publisher is still held (the subscriber has not acknowledged anything).
    EXPECT_TRUE(slow_flow.run(300ms).empty());

    // The subscriber catches up: everything arrives, in order, and every ack follows.
    std::vector<std::string> got;
    auto all = early;
    for (int round = 0;
         round < 400 && (got.size() < std::size_t{burst} || all.size() < std::size_t{burst});
         ++round) {
        auto more = receive_all(*slow, std::size_t{burst} - got.size(), 50ms);
        got.insert(got.end(), more.begin(), more.end());
        auto ids = slow_flow.run(50ms);
        all.insert(all.end(), ids.begin(), ids.end());
    }
    EXPECT_EQ(got, expected_payloads(0, burst))
        << "[MQTT-4.6.0-6] order, and no acknowledged message lost";
    ASSERT_EQ(all.size(), static_cast<std::size_t>(burst));
    for (int i = 0; i < burst; ++i)
        EXPECT_EQ(all[static_cast<std::size_t>(i)], i + 1)
            << "acks in PUBLISH order [MQTT-4.6.0-2]";
}

INSTANTIATE_TEST_SUITE_P(Versions, BackpressureFlow,
                         ::testing::Values(flow{proto::version::v3_1_1, 1},
                                           flow{proto::version::v5, 2}),
                         [](const ::testing::TestParamInfo<flow>& p) {
                             return cat(p.param.version == proto::version::v5 ? "V5" : "V311",
                                        "Qos", p.param.publish_qos);
                         });

// mqueue_overflow = "drop" keeps RMQTT's behaviour: every message is acknowledged at once and the
// oldest queued ones are dropped when the queue is full.
TEST(Backpressure, DropPolicyAcknowledgesAllAndDropsOldest) {
    auto b = start_broker(bp_listener("drop"));
    auto slow = raw_connect(*b, "bp-drop-sub");
    ASSERT_NO_FATAL_FAILURE(subscribe_ok(*slow, {{"bp/drop", 1}}));
    auto pub = raw_connect(*b, "bp-drop-pub");
    publisher_flow flow(*pub, "bp/drop", 1, burst, burst);
    EXPECT_EQ(flow.run(5000ms).size(), static_cast<std::size_t>(burst));
    const auto got = receive_all(*slow, burst, 1000ms);
    // The window's first messages, then the newest max_mqueue_len.
    EXPECT_EQ(got.size(), static_cast<std::size_t>(sub_window + queue_limit));
    if (!got.empty()) {
        EXPECT_EQ(got.back(), cat("m", burst - 1));
    }
}

// An offline persistent session keeps at most max_mqueue_len messages whatever mqueue_overflow
// says, and its publishers are not held (nothing could drain the queue until the client returns).
TEST(Backpressure, OfflineSessionDropsAtMaxMqueueLen) {
    auto b = start_broker(bp_listener("backpressure"));
    {
        auto sub = raw_connect(*b, "bp-offline-sub", /*clean*/ false);
        ASSERT_NO_FATAL_FAILURE(subscribe_ok(*sub, {{"bp/offline", 1}}));
        raw_disconnect(*sub);
    }
    auto pub = raw_connect(*b, "bp-offline-pub");
    publisher_flow flow(*pub, "bp/offline", 1, burst, burst);
    EXPECT_EQ(flow.run(5000ms).size(), static_cast<std::size_t>(burst));
    auto sub = raw_connect(*b, "bp-offline-sub", /*clean*/ false);
    EXPECT_EQ(receive_all(*sub, burst, 1000ms), expected_payloads(burst - queue_limit, burst));
}

}  // namespace
}  // namespace rmqtt::test::integ
