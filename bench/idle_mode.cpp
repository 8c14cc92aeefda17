#include "idle_mode.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <system_error>
#include <tuple>
#include <vector>

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>

#include "bench_runtime.hpp"
#include "rmqtt/protocol/codec.hpp"

namespace rmqtt::bench {
namespace {

namespace proto = rmqtt::protocol;
using steady_clock = std::chrono::steady_clock;
using asio::ip::tcp;
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

// VmRSS of `pid` in KB (0 when unreadable).
std::uint64_t vm_rss_kb(int pid) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string key;
    while (f >> key) {
        if (key == "VmRSS:") {
            std::uint64_t kb = 0;
            f >> kb;
            return kb;
        }
        f.ignore(1 << 16, '\n');
    }
    return 0;
}

// Reads one MQTT packet: its first byte and its body (what follows the Remaining Length).
asio::awaitable<std::error_code> read_packet(tcp::socket& s, std::uint8_t& first,
                                             std::vector<std::uint8_t>& body) {
    std::uint8_t b = 0;
    auto [ec, n] = co_await asio::async_read(s, asio::buffer(&first, 1), use_tuple);
    if (ec) co_return ec;
    std::size_t length = 0;
    for (int shift = 0; shift <= 21; shift += 7) {
        std::tie(ec, n) = co_await asio::async_read(s, asio::buffer(&b, 1), use_tuple);
        if (ec) co_return ec;
        length |= std::size_t{b & 0x7Fu} << shift;
        if ((b & 0x80) == 0) break;
    }
    body.resize(length);
    if (length > 0) {
        std::tie(ec, n) = co_await asio::async_read(s, asio::buffer(body), use_tuple);
        if (ec) co_return ec;
    }
    co_return std::error_code{};
}

// CPU seconds this process has used.
double process_cpu_s() {
    timespec t{};
    ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

// CPU seconds the threads of `pid` have run (the sum of /proc/PID/task/*/schedstat, in ns; 0 when
// unreadable). Threads that ended are not counted: the broker's run for its lifetime.
double broker_cpu_s(int pid) {
    if (pid <= 0) return 0;
    std::error_code ec;
    std::uint64_t ns = 0;
    for (const auto& task :
         std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
        std::ifstream f(task.path() / "schedstat");
        std::uint64_t on_cpu = 0;
        if (f >> on_cpu) ns += on_cpu;
    }
    return static_cast<double>(ns) * 1e-9;
}

struct cpu_seconds {
    double own = 0;
    double broker = 0;
};

struct idle_run {
    const idle_options& o;
    proto::version version;
    tcp::endpoint broker;
    std::vector<std::optional<tcp::socket>> sockets;
    std::vector<std::uint32_t> handshake_us;
    std::uint64_t next = 0;  // the next connection a worker takes (one thread: no atomics)
    std::uint64_t failed = 0;
    std::string first_error;

    void fail(std::uint64_t i, const char* what, const std::string& why) {
        if (failed++ == 0)
            first_error = "connection " + std::to_string(i) + ": " + what + ": " + why;
        sockets[i].reset();
    }

    // TCP connect from 127.0.0.<1 + i % n>, CONNECT, CONNACK.
    asio::awaitable<void> open(std::uint64_t i, unsigned source_addrs) {
        const auto start = steady_clock::now();
        auto& s = sockets[i].emplace(co_await asio::this_coro::executor);
        std::error_code ec;
        s.open(tcp::v4(), ec);
        if (ec) co_return fail(i, "socket", ec.message());
#ifdef IP_BIND_ADDRESS_NO_PORT
        // The port is chosen at connect(), per destination, not reserved at bind().
        s.set_option(
            asio::detail::socket_option::boolean<IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT>(true), ec);
#endif
        const auto host =
            static_cast<asio::ip::address_v4::uint_type>(0x7F000001u + i % source_addrs);
        s.bind(tcp::endpoint(asio::ip::address_v4(host), 0), ec);
        if (ec) co_return fail(i, "bind", ec.message());
        std::tie(ec) = co_await s.async_connect(broker, use_tuple);
        if (ec) co_return fail(i, "connect", ec.message());
        proto::connect c;
        c.protocol_version = version;
        c.clean_start = true;
        c.keep_alive = o.keep_alive;
        c.client_id = o.id_prefix + "-" + std::to_string(i);
        std::vector<std::uint8_t> out;
        proto::encode(version, proto::packet{std::move(c)}, out);
        std::size_t n = 0;
        std::tie(ec, n) = co_await asio::async_write(s, asio::buffer(out), use_tuple);
        if (ec) co_return fail(i, "write CONNECT", ec.message());
        std::uint8_t first = 0;
        std::vector<std::uint8_t> body;
        if ((ec = co_await read_packet(s, first, body))) co_return fail(i, "read", ec.message());
        // CONNACK: flags, then the return / reason code 0 = accepted.
        if (first != 0x20 || body.size() < 2 || body[1] != 0)
            co_return fail(i, "CONNACK", "refused or not a CONNACK");
        handshake_us[i] = static_cast<std::uint32_t>(
            std::chrono::duration_cast<std::chrono::microseconds>(steady_clock::now() - start)
                .count());
    }

    asio::awaitable<void> subscribe(std::uint64_t i) {
        if (!sockets[i]) co_return;
        auto& s = *sockets[i];
        proto::subscribe sub;
        sub.packet_id = 1;
        sub.topics.push_back({o.topic_prefix + "/" + std::to_string(i), {}});
        std::vector<std::uint8_t> out;
        proto::encode(version, proto::packet{std::move(sub)}, out);
        auto [ec, n] = co_await asio::async_write(s, asio::buffer(out), use_tuple);
        if (ec) co_return fail(i, "write SUBSCRIBE", ec.message());
        std::uint8_t first = 0;
        std::vector<std::uint8_t> body;
        if ((ec = co_await read_packet(s, first, body))) co_return fail(i, "read", ec.message());
        if (first != 0x90 || body.size() < 3 || body.back() >= 0x80)
            co_return fail(i, "SUBACK", "refused or not a SUBACK");
    }

    // PINGREQ / PINGRESP: the broker still holds the connection.
    asio::awaitable<void> ping(std::uint64_t i) {
        if (!sockets[i]) co_return;
        auto& s = *sockets[i];
        static const std::uint8_t pingreq[2] = {0xC0, 0x00};
        auto [ec, n] = co_await asio::async_write(s, asio::buffer(pingreq), use_tuple);
        if (ec) co_return fail(i, "write PINGREQ", ec.message());
        std::uint8_t first = 0;
        std::vector<std::uint8_t> body;
        if ((ec = co_await read_packet(s, first, body))) co_return fail(i, "read", ec.message());
        if (first != 0xD0) co_return fail(i, "PINGRESP", "unexpected packet");
    }

    // Runs `step(i)` for connections [from, to), `concurrency` at a time; false at the deadline.
    template <class Step>
    asio::awaitable<bool> for_range(std::uint64_t from, std::uint64_t to, Step step,
                                    steady_clock::time_point deadline) {
        auto ex = co_await asio::this_coro::executor;
        next = from;
        task_group g;
        for (unsigned w = 0; w < std::max(o.concurrency, 1u); ++w) {
            g.spawn(ex, [this, to, step]() -> asio::awaitable<void> {
                while (next < to)
                    co_await step(next++);
            });
        }
        co_return co_await g.wait(deadline);
    }

    // Opens connections [from, to), then subscribes them; false at the deadline. `connect_s`: how
    // long the opening took; `cpu`: what it cost this process and the broker.
    asio::awaitable<bool> open_range(std::uint64_t from, std::uint64_t to, unsigned sources,
                                     steady_clock::time_point deadline, double& connect_s,
                                     cpu_seconds& cpu) {
        const auto t0 = steady_clock::now();
        const double own0 = process_cpu_s(), broker0 = broker_cpu_s(o.broker_pid);
        bool done = co_await for_range(
            from, to, [&](std::uint64_t i) { return open(i, sources); }, deadline);
        connect_s = std::chrono::duration<double>(steady_clock::now() - t0).count();
        cpu.own = process_cpu_s() - own0;
        cpu.broker = broker_cpu_s(o.broker_pid) - broker0;
        if (done && o.subscribe)
            done = co_await for_range(
                from, to, [&](std::uint64_t i) { return subscribe(i); }, deadline);
        co_return done;
    }

    asio::awaitable<void> settle() {
        asio::steady_timer wait(co_await asio::this_coro::executor);
        wait.expires_after(std::chrono::duration_cast<steady_clock::duration>(
            std::chrono::duration<double>(o.settle_s)));
        co_await wait.async_wait(use_tuple);
    }
};

double percentile(std::vector<std::uint32_t> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

asio::awaitable<int> run_idle(const idle_options& o, steady_clock::time_point deadline) {
    auto ex = co_await asio::this_coro::executor;
    idle_run r{o,
               o.mqtt == 3   ? proto::version::v3_1
               : o.mqtt == 5 ? proto::version::v5
                             : proto::version::v3_1_1,
               tcp::endpoint(asio::ip::make_address_v4(o.host), o.port),
               {},
               {},
               0,
               0,
               {}};
    const std::uint64_t total = o.connections + o.more;
    r.sockets.resize(total);
    r.handshake_us.resize(total);
    const unsigned sources = std::clamp<unsigned>(
        o.source_addrs ? o.source_addrs : static_cast<unsigned>(total / 20000 + 1), 1, 254);

    // The connect rate and the handshake times are those of the first `connections`.
    const std::uint64_t rss_before = o.broker_pid > 0 ? vm_rss_kb(o.broker_pid) : 0;
    double connect_s = 0;
    cpu_seconds cpu;
    bool done = co_await r.open_range(0, o.connections, sources, deadline, connect_s, cpu);
    const std::vector<std::uint32_t> handshakes(
        r.handshake_us.begin(),
        r.handshake_us.begin() + static_cast<std::ptrdiff_t>(o.connections));
    co_await r.settle();
    const std::uint64_t rss_after = o.broker_pid > 0 ? vm_rss_kb(o.broker_pid) : 0;
    std::uint64_t rss_more = 0;
    if (done && o.more > 0) {
        double more_s = 0;
        cpu_seconds more_cpu;
        done = co_await r.open_range(o.connections, total, sources, deadline, more_s, more_cpu);
        co_await r.settle();
        rss_more = o.broker_pid > 0 ? vm_rss_kb(o.broker_pid) : 0;
    }
    if (done)
        done = co_await r.for_range(
            0, total, [&](std::uint64_t i) { return r.ping(i); }, deadline);
    std::uint64_t alive = 0;
    for (auto& s : r.sockets)
        alive += s.has_value();

    if (o.hold_s > 0) {
        asio::steady_timer wait(ex);
        wait.expires_after(std::chrono::duration_cast<steady_clock::duration>(
            std::chrono::duration<double>(o.hold_s)));
        co_await wait.async_wait(use_tuple);
    }
    for (auto& s : r.sockets) {
        std::error_code ignored;
        if (s) s->close(ignored);
    }

    const double n = static_cast<double>(o.connections);
    const double rate = connect_s > 0 ? n / connect_s : 0;
    const double per_conn =
        rss_before && rss_after
            ? (static_cast<double>(rss_after) - static_cast<double>(rss_before)) / n
            : 0;
    const double marginal = rss_after && rss_more
                                ? (static_cast<double>(rss_more) - static_cast<double>(rss_after)) /
                                      static_cast<double>(o.more)
                                : 0;
    std::printf("idle: %llu connections from %u source addresses, %u handshakes in flight\n",
                static_cast<unsigned long long>(o.connections), sources, o.concurrency);
    std::printf("  connect: %.2f s, %.0f connections/s, handshake p50 %.0f us p99 %.0f us\n",
                connect_s, rate, percentile(handshakes, 0.5), percentile(handshakes, 0.99));
    // Which side limits the rate: a side near connect_s seconds of CPU is saturated.
    std::printf("  CPU while connecting: rmqtt-bench %.0f us, broker %.0f us per connection\n",
                cpu.own / n * 1e6, cpu.broker / n * 1e6);
    if (o.broker_pid > 0)
        std::printf("  broker VmRSS: %llu KB before, %llu KB after: %.2f KB per connection\n",
                    static_cast<unsigned long long>(rss_before),
                    static_cast<unsigned long long>(rss_after), per_conn);
    if (rss_more)
        std::printf("  then %llu more: %llu KB: %.2f KB per further connection\n",
                    static_cast<unsigned long long>(o.more),
                    static_cast<unsigned long long>(rss_more), marginal);
    std::printf("  alive after the measurement (PINGREQ answered): %llu\n",
                static_cast<unsigned long long>(alive));
    if (r.failed)
        std::fprintf(stderr, "%llu failed; first: %s\n", static_cast<unsigned long long>(r.failed),
                     r.first_error.c_str());
    if (!done) std::fprintf(stderr, "deadline reached\n");
    std::printf(
        "RESULT mode=idle connections=%llu connect_rate=%.1f hs_p50_us=%.0f hs_p99_us=%.0f "
        "rss_before_kb=%llu rss_after_kb=%llu kb_per_conn=%.3f rss_more_kb=%llu kb_marginal=%.3f "
        "alive=%llu failed=%llu bench_cpu_us=%.1f broker_cpu_us=%.1f\n",
        static_cast<unsigned long long>(o.connections), rate, percentile(handshakes, 0.5),
        percentile(handshakes, 0.99), static_cast<unsigned long long>(rss_before),
        static_cast<unsigned long long>(rss_after), per_conn,
        static_cast<unsigned long long>(rss_more), marginal, static_cast<unsigned long long>(alive),
        static_cast<unsigned long long>(r.failed), cpu.own / n * 1e6, cpu.broker / n * 1e6);
    std::fflush(stdout);
    co_return done&& r.failed == 0 && alive == total ? 0 : 3;
}

}  // namespace rmqtt::bench
