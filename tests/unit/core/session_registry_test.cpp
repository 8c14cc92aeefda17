// The session registry without sockets: attach, takeover, clean start, races between attaches.
#include <gtest/gtest.h>

#include "harness.hpp"

namespace rmqtt::broker::test {
namespace {

// A client link that records what the registry does to it.
class fake_link final : public client_link {
  public:
    bool open() const noexcept override { return !taken_over_; }
    std::size_t pending_output() const noexcept override { return 0; }
    bool send_publish(const message&, protocol::qos, bool, bool, std::uint16_t,
                      const std::vector<std::uint32_t>&) override {
        return true;
    }
    void send_pubrel(std::uint16_t, protocol::reason_code) override {}
    void taken_over() override { taken_over_ = true; }
    void shutdown() override {}
    void kick() override {}
    bool was_taken_over() const { return taken_over_; }

  private:
    bool taken_over_ = false;
};

session_registry::attach_result attach(harness& h, const std::string& id, bool clean) {
    std::optional<session_registry::attach_result> out;
    h.core.sessions.attach(id, clean, h.io.get_executor(),
                           [&](session_registry::attach_result r) { out = std::move(r); });
    for (int i = 0; i < 500 && !out; ++i) {
        h.io.restart();
        h.io.run_for(std::chrono::milliseconds(2));
    }
    EXPECT_TRUE(out) << "attach did not complete";
    return out.value_or(session_registry::attach_result{});
}

TEST(SessionRegistry, NewSessionThenResumedPersistentOne) {
    harness h;
    auto first = attach(h, "c1", false);
    ASSERT_TRUE(first.s);
    EXPECT_FALSE(first.present);
    first.s->set_persistent(true);
    auto link = std::make_shared<fake_link>();
    first.s->attach(link);
    EXPECT_EQ(h.core.sessions.size(), 1u);

    auto second = attach(h, "c1", false);
    ASSERT_TRUE(second.s);
    EXPECT_TRUE(second.present);
    EXPECT_EQ(second.s, first.s) << "the same session is resumed";
    EXPECT_TRUE(link->was_taken_over()) << "the old connection is told [MQTT-3.1.4-3]";
    EXPECT_TRUE(h.core.sessions.still_current(*second.s, second.generation));
    EXPECT_FALSE(h.core.sessions.still_current(*first.s, first.generation));
}

TEST(SessionRegistry, CleanStartEndsTheExistingSession) {
    harness h;
    auto first = attach(h, "c2", false);
    first.s->set_persistent(true);
    auto second = attach(h, "c2", true);
    ASSERT_TRUE(second.s);
    EXPECT_FALSE(second.present);
    EXPECT_NE(second.s, first.s);
    EXPECT_TRUE(first.s->ended()) << "[MQTT-3.1.2-4]";
    EXPECT_EQ(h.core.sessions.find("c2"), second.s);
}

// A session that lasts only as long as its connection is not resumed by a takeover
// [MQTT-3.1.2-6] [MQTT-3.2.2-3].
TEST(SessionRegistry, TakeoverOfANonPersistentSessionStartsANewOne) {
    harness h;
    auto first = attach(h, "c3", true);
    ASSERT_TRUE(first.s);
    first.s->attach(std::make_shared<fake_link>());
    auto second = attach(h, "c3", false);
    ASSERT_TRUE(second.s);
    EXPECT_FALSE(second.present);
    EXPECT_NE(second.s, first.s);
    EXPECT_TRUE(first.s->ended());
}

// Two CONNECTs for one client id: only the later one may attach.
TEST(SessionRegistry, TheLaterOfTwoAttachesWins) {
    harness h;
    auto existing = attach(h, "c4", false);
    existing.s->set_persistent(true);
    std::optional<session_registry::attach_result> a, b;
    h.core.sessions.attach("c4", false, h.io.get_executor(),
                           [&](session_registry::attach_result r) { a = std::move(r); });
    h.core.sessions.attach("c4", false, h.io.get_executor(),
                           [&](session_registry::attach_result r) { b = std::move(r); });
    for (int i = 0; i < 500 && !(a && b); ++i) {
        h.io.restart();
        h.io.run_for(std::chrono::milliseconds(2));
    }
    ASSERT_TRUE(a && b);
    const bool a_current = a->s && h.core.sessions.still_current(*a->s, a->generation);
    const bool b_current = b->s && h.core.sessions.still_current(*b->s, b->generation);
    EXPECT_FALSE(a_current);
    EXPECT_TRUE(b_current);
}

}  // namespace
}  // namespace rmqtt::broker::test

namespace rmqtt::broker::test {
namespace {

// The inbox between other threads and a session's owner is bounded: past its high-water mark
// the session reports itself backlogged (publishers feeding it hold back), past the hard limit
// QoS 0 copies are dropped, and QoS 1/2 copies are never dropped there.
TEST(SessionInbox, BoundedWithBackPressureNotLossForQos1) {
    harness h;
    auto s = std::make_shared<session>(h.core, "slow", h.io.get_executor());
    auto msg = std::make_shared<message>();
    msg->topic = "t";
    msg->payload = "x";
    // The owner does not run meanwhile: everything stays in the inbox.
    std::size_t qos1 = 0;
    while (!s->backlogged() && qos1 < 100000) {
        delivery d;
        d.msg = msg;
        d.qos = protocol::qos::at_least_once;
        d.seq = s->take_seq();
        s->deliver(std::move(d));
        ++qos1;
    }
    ASSERT_TRUE(s->backlogged()) << "never backlogged after " << qos1 << " copies";
    const auto dropped_before = h.core.stats.qos0_dropped_slow_consumer.load();
    for (int i = 0; i < 100000; ++i) {
        delivery d;
        d.msg = msg;
        s->deliver(std::move(d));
    }
    const auto inbox = s->inbox_size();
    EXPECT_LT(inbox, qos1 + 100000u) << "QoS 0 copies beyond the hard limit are dropped";
    EXPECT_GT(h.core.stats.qos0_dropped_slow_consumer.load(), dropped_before);
    for (int i = 0; i < 1000; ++i) {
        delivery d;
        d.msg = msg;
        d.qos = protocol::qos::at_least_once;
        d.seq = s->take_seq();
        s->deliver(std::move(d));
    }
    EXPECT_EQ(s->inbox_size(), inbox + 1000) << "QoS 1 copies are never dropped by the inbox";
    // Draining on the owner ends the back-pressure.
    h.io.restart();
    h.io.run_for(std::chrono::milliseconds(200));
    EXPECT_FALSE(s->backlogged());
}

}  // namespace
}  // namespace rmqtt::broker::test
