// A plugin built from the public API alone (probe_plugin.cpp, linked only with rmqtt_plugin_api)
// inside a real rmqttd (rmqttd-probe: the built-in plugins plus the probe): it sees every event of
// a connect / subscribe / publish / disconnect cycle, and its deferred decisions (authenticate,
// ACL) and publish hook take effect.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "broker_process.hpp"
#include "raw_helpers.hpp"

namespace rmqtt::test {
namespace {

namespace proto = rmqtt::protocol;
using namespace std::chrono_literals;

std::string probe_binary() {
    const char* p = std::getenv("RMQTTD_PROBE_BIN");
    return p ? p : "";
}

std::vector<std::string> read_lines(const std::string& path) {
    std::ifstream in(path);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);)
        out.push_back(line);
    return out;
}

// The index of the first line at or after `from` that starts with `prefix`, or npos.
std::size_t find_line(const std::vector<std::string>& lines, const std::string& prefix,
                      std::size_t from = 0) {
    for (std::size_t i = from; i < lines.size(); ++i)
        if (lines[i].rfind(prefix, 0) == 0) return i;
    return std::string::npos;
}

proto::connect v5(const std::string& id) {
    return make_connect(id, proto::version::v5, true);
}

TEST(Plugin, SeesEveryEventAndDecides) {
    ASSERT_FALSE(probe_binary().empty()) << "RMQTTD_PROBE_BIN is not set";
    temp_dir scratch("rmqtt-plugin-test");
    const std::string events = scratch.file("events.log");
    broker_process::options o;
    o.binary = probe_binary();
    o.session_storage = false;
    o.extra_plugins = {"rmqtt-test-probe"};
    o.plugin_files["rmqtt-test-probe"] = "events_file = \"" + events + "\"\n";
    broker_ptr b(new broker_process(std::move(o)));
    b->start();

    auto sub = raw_connect(*b, v5("sub"));
    ASSERT_TRUE(sub);
    proto::subscribe s;
    s.packet_id = 1;
    proto::topic_subscription t;
    t.filter = "probe/#";
    t.options.max_qos = proto::qos::at_least_once;
    s.topics.push_back(t);
    EXPECT_EQ(raw_subscribe(*sub, s), std::vector<std::uint8_t>{1});

    auto pub = raw_connect(*b, v5("pub"));
    ASSERT_TRUE(pub);
    auto publish_qos1 = [&](const std::string& topic, const std::string& payload,
                            std::uint16_t pid) {
        pub->send(make_publish(topic, payload, 1, pid));
        auto ack = expect<proto::puback>(*pub);
        return ack ? static_cast<int>(ack->code) : -1;
    };
    EXPECT_EQ(publish_qos1("probe/a", "one", 1), 0);
    EXPECT_EQ(publish_qos1("probe/modify", "two", 2), 0);
    // The publish hook drops it; the ACL hook (deferred) denies the other: 0x87 Not authorized.
    EXPECT_EQ(publish_qos1("probe/drop", "three", 3), 0x87);
    EXPECT_EQ(publish_qos1("forbidden/x", "four", 4), 0x87);

    std::vector<std::string> got;
    for (int i = 0; i < 2; ++i) {
        auto m = expect<proto::publish>(*sub);
        ASSERT_TRUE(m);
        got.push_back(m->payload);
        sub->send(proto::puback{m->packet_id, {}, {}});
    }
    EXPECT_EQ(got, (std::vector<std::string>{"one", "two+probe"})) << "the hook changed it";
    EXPECT_TRUE(drain_raw(*sub, 300ms).empty()) << "dropped and denied messages are not routed";

    sub->send(make_unsubscribe(2, {"probe/#"}));
    EXPECT_TRUE(expect<proto::unsuback>(*sub));
    raw_disconnect(*sub);
    raw_disconnect(*pub);

    // A deferred authentication decision refuses this user: CONNACK 0x86.
    auto intruder_connect = v5("intruder-client");
    intruder_connect.username = "intruder";
    intruder_connect.password = "x";
    raw_client intruder(b->port(), proto::version::v5);
    auto ack = intruder.connect(intruder_connect);
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->code, 0x86);

    ASSERT_TRUE(eventually([&] {
        return find_line(read_lines(events), "connect_refused id=intruder-client") !=
               std::string::npos;
    }));
    ASSERT_EQ(b->stop(), 0);
    const auto lines = read_lines(events);
    std::string all;
    for (const auto& l : lines)
        all += l + "\n";

    // The subscriber's cycle, in order.
    std::size_t at = 0;
    for (const std::string step :
         {"decide authenticate user=", "session_created id=sub", "client_connected id=sub",
          "subscribed id=sub filter=probe/#", "message_delivered id=sub topic=probe/a payload=one",
          "message_acked id=sub topic=probe/a", "unsubscribed id=sub filter=probe/#",
          "client_disconnected id=sub reason=client_disconnect",
          "session_terminated id=sub reason=connection_closed"}) {
        const auto i = find_line(lines, step, at);
        ASSERT_NE(i, std::string::npos) << "missing in order: " << step << "\n" << all;
        at = i + 1;
    }
    // The publisher's messages, as routed and as dropped.
    for (const std::string line :
         {"message_published from=pub topic=probe/a payload=one",
          "message_published from=pub topic=probe/modify payload=two+probe",
          "message_delivered id=sub topic=probe/modify payload=two+probe",
          "message_dropped topic=probe/drop reason=publish_hook",
          "message_dropped topic=forbidden/x reason=not_authorized",
          "client_disconnected id=pub reason=client_disconnect",
          "decide authenticate user=intruder", "connect_refused id=intruder-client reason=134",
          "stopped"}) {
        EXPECT_NE(find_line(lines, line), std::string::npos) << "missing: " << line << "\n" << all;
    }
    EXPECT_EQ(find_line(lines, "message_published from=pub topic=probe/drop"), std::string::npos)
        << "a dropped message is not published\n"
        << all;
    EXPECT_EQ(find_line(lines, "session_created id=intruder-client"), std::string::npos) << all;
}

}  // namespace
}  // namespace rmqtt::test
