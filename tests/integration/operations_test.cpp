// What an operator sees of the real rmqttd: its log (rotation by size, JSON lines, the peer and
// client id of a connection that fails) and systemd's notification protocol (READY=1 once the
// listeners accept connections, STOPPING=1 on SIGTERM), through a socket the test owns.
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <poll.h>
#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "integration_util.hpp"

namespace rmqtt::test::integ {
namespace {

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        out.push_back(line);
    return out;
}

// A 3.1.1 CONNECT for `client_id` with two bytes after its payload: malformed, and refused by
// the decoder after it has read the client id.
std::vector<std::uint8_t> malformed_connect(const std::string& client_id) {
    std::vector<std::uint8_t> out;
    proto::encode(proto::version::v3_1_1, proto::packet{make_connect(client_id)}, out);
    EXPECT_LT(out[1], 120);  // a one-byte Remaining Length
    out[1] = static_cast<std::uint8_t>(out[1] + 2);
    out.push_back(0xff);
    out.push_back(0xfe);
    return out;
}

std::vector<std::string> log_files(const std::string& dir) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir, ec))
        names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

TEST(operations_log, FileIsRotatedBySizeAndTheCountIsBounded) {
    const temp_dir logs("rmqtt-log-rotation");
    broker_process::options o;
    o.session_storage = false;
    o.log_level = "debug";  // a line per connection
    o.log = {"to = \"file\"", "dir = \"" + logs.path() + "\"", "file = \"broker.log\"",
             "max_file_size = \"4KB\"", "max_files = 2"};
    auto b = start_broker_with(std::move(o));
    // Connections until the second rotated file exists; bounded by count and time.
    const auto rotated_twice = [&] { return std::filesystem::exists(logs.file("broker.2.log")); };
    for (int i = 0; i < 2000 && !rotated_twice(); ++i) {
        auto c = raw_connect(*b, "rotation-" + std::to_string(i));
        raw_disconnect(*c);
    }
    ASSERT_TRUE(rotated_twice()) << "files: " << ::testing::PrintToString(log_files(logs.path()));
    // More rotations: still the current file and two older ones.
    for (int i = 0; i < 100; ++i) {
        auto c = raw_connect(*b, "more-" + std::to_string(i));
        raw_disconnect(*c);
    }
    EXPECT_EQ(b->stop(), 0);
    EXPECT_EQ(log_files(logs.path()),
              (std::vector<std::string>{"broker.1.log", "broker.2.log", "broker.log"}));
    for (const auto& name : log_files(logs.path()))
        EXPECT_LE(std::filesystem::file_size(logs.file(name)), 4096u) << name;
    EXPECT_NE(read_file(logs.file("broker.log")).find("rmqttd stopped"), std::string::npos);
}

TEST(operations_log, JsonLinesParseAndCarryPeerAndClientId) {
    const temp_dir logs("rmqtt-log-json");
    broker_process::options o;
    o.session_storage = false;
    o.log_level = "debug";
    o.log = {"to = \"file\"", "dir = \"" + logs.path() + "\"", "format = \"json\""};
    auto b = start_broker_with(std::move(o));

    const std::string quoted = "say \"hi\" \\ back";
    {
        auto c = raw_connect(*b, quoted);  // a connected client: a debug line with its id
        raw_disconnect(*c);
    }
    raw_client bad(b->port());
    bad.send_bytes(malformed_connect(quoted));
    EXPECT_TRUE(bad.wait_closed());  // 3.1.1: closed without CONNACK [MQTT-4.8.0-1]
    EXPECT_EQ(b->stop(), 0);

    const auto lines = lines_of(read_file(logs.file("rmqtt.log")));
    ASSERT_GT(lines.size(), 3u);
    bool refused = false;
    bool connected = false;
    for (const auto& l : lines) {
        SCOPED_TRACE(l);
        const auto j = nlohmann::json::parse(l, nullptr, /*allow_exceptions*/ false);
        ASSERT_TRUE(j.is_object());
        for (const char* key : {"time", "level", "thread", "message"})
            EXPECT_TRUE(j.contains(key)) << key;
        if (!j.contains("client_id") || j["client_id"] != quoted) continue;
        EXPECT_EQ(j["peer"].get<std::string>().rfind("127.0.0.1:", 0), 0u);
        const std::string message = j["message"];
        if (message.find("malformed CONNECT") != std::string::npos) refused = true;
        if (message.find("connected") == 0) connected = true;
    }
    EXPECT_TRUE(refused) << "no JSON line for the malformed CONNECT with its client id";
    EXPECT_TRUE(connected);
}

TEST(operations_log, FailedConnectionsNamePeerAndClientId) {
    auto b = start_broker();
    {
        raw_client bad(b->port());
        bad.send_bytes(malformed_connect("broken-client"));
        EXPECT_TRUE(bad.wait_closed());
    }
    // A protocol violation after CONNECT: a second CONNECT [MQTT-3.1.0-2].
    auto c = raw_connect(*b, "twice");
    c->send(proto::packet{make_connect("twice")});
    EXPECT_TRUE(c->wait_closed());
    // Text lines: "<peer> (<client id>): <message>".
    EXPECT_TRUE(log_shows(*b, "(broken-client): malformed CONNECT")) << b->log();
    EXPECT_TRUE(log_shows(*b, "(twice): Protocol Error: second CONNECT")) << b->log();
    for (const auto& l : lines_of(b->log())) {
        if (l.find("(broken-client): malformed") == std::string::npos) continue;
        EXPECT_NE(l.find("] 127.0.0.1:"), std::string::npos) << l;
    }
}

// ---- systemd notification ----------------------------------------------------------------------

// A unix datagram socket bound in a temp dir: what systemd listens on for NOTIFY_SOCKET.
class notify_socket {
  public:
    explicit notify_socket(const std::string& path) : path_(path) {
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) throw std::runtime_error("socket() failed");
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        if (path.size() >= sizeof(a.sun_path)) throw std::runtime_error("path too long");
        std::copy(path.begin(), path.end(), a.sun_path);
        if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0)
            throw std::runtime_error("bind() failed");
    }
    ~notify_socket() { ::close(fd_); }
    notify_socket(const notify_socket&) = delete;
    notify_socket& operator=(const notify_socket&) = delete;

    // The next datagram, or nullopt when none comes within `timeout`.
    std::optional<std::string> receive(std::chrono::milliseconds timeout) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return std::nullopt;
        char buf[4096];
        const auto n = ::recv(fd_, buf, sizeof(buf), 0);
        if (n <= 0) return std::nullopt;
        return std::string(buf, static_cast<std::size_t>(n));
    }
    // Datagrams until one contains `what` (returned with everything before it), bounded.
    std::vector<std::string> receive_until(const std::string& what,
                                           std::chrono::milliseconds timeout) {
        std::vector<std::string> got;
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            auto m = receive(std::max(left, std::chrono::milliseconds(1)));
            if (!m) break;
            got.push_back(*m);
            if (m->find(what) != std::string::npos) break;
        }
        return got;
    }

  private:
    std::string path_;
    int fd_ = -1;
};

bool contains(const std::vector<std::string>& v, const std::string& what) {
    return std::any_of(v.begin(), v.end(),
                       [&](const std::string& m) { return m.find(what) != std::string::npos; });
}

TEST(operations_systemd, ReadyOnlyOnceListeningAndStoppingOnSigterm) {
    const temp_dir dir("rmqtt-notify");
    notify_socket sock(dir.file("notify"));
    broker_process b;  // configuration written, not started: the test starts it
    ::setenv("NOTIFY_SOCKET", dir.file("notify").c_str(), 1);
    child_process proc({rmqttd_binary(), "-f", b.config_file()}, dir.file("rmqttd.log"));
    ::unsetenv("NOTIFY_SOCKET");

    const auto before_ready = sock.receive_until("READY=1", std::chrono::seconds(60));
    ASSERT_TRUE(contains(before_ready, "READY=1")) << read_file(dir.file("rmqttd.log"));
    // Recovery was reported before READY, READY carries a status line.
    EXPECT_TRUE(contains(before_ready, "STATUS=recovered 0 sessions"));
    EXPECT_TRUE(contains(before_ready, "STATUS=serving"));
    // READY means the listener accepts: the first attempt connects and gets CONNACK.
    {
        raw_client c(b.port());
        EXPECT_TRUE(expect_connack_ok(c.connect("after-ready"), "after-ready"));
    }
    proc.signal(SIGTERM);
    const auto after = sock.receive_until("STOPPING=1", std::chrono::seconds(30));
    EXPECT_TRUE(contains(after, "STOPPING=1")) << read_file(dir.file("rmqttd.log"));
    const auto status = proc.wait_for(std::chrono::seconds(30));
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
    // Graceful stop: the store was flushed and closed before the exit.
    EXPECT_NE(read_file(dir.file("rmqttd.log")).find("session store flushed and closed"),
              std::string::npos);
}

// A start that fails (the listener's port is taken) says why in STATUS= and never READY=1.
TEST(operations_systemd, FailedStartIsAStatusNotReady) {
    const temp_dir dir("rmqtt-notify");
    notify_socket sock(dir.file("notify"));
    broker_process::options o;
    o.session_storage = false;
    broker_process b(std::move(o));
    // The port is taken by a listening socket of the test.
    const int taken = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(taken, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(b.port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(taken, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
    ASSERT_EQ(::listen(taken, 1), 0);

    ::setenv("NOTIFY_SOCKET", dir.file("notify").c_str(), 1);
    child_process proc({rmqttd_binary(), "-f", b.config_file()}, dir.file("rmqttd.log"));
    ::unsetenv("NOTIFY_SOCKET");
    const auto status = proc.wait_for(std::chrono::seconds(30));
    ::close(taken);
    ASSERT_TRUE(status.has_value());
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 1);
    // Everything it sent is queued on the socket by now.
    std::vector<std::string> got;
    while (auto m = sock.receive(std::chrono::milliseconds(0)))
        got.push_back(*m);
    EXPECT_TRUE(contains(got, "STATUS=start-up failed: ")) << ::testing::PrintToString(got);
    EXPECT_FALSE(contains(got, "READY=1")) << ::testing::PrintToString(got);
}

}  // namespace
}  // namespace rmqtt::test::integ
