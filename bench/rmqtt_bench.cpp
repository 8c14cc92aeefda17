// rmqtt-bench: MQTT load generator used by bench/run.sh to compare rmqttd with other brokers.
// Modes: pubsub, offline-fill, connect-storm, drain, probe, idle (bench/README.md). Each prints a
// human-readable summary and, last, one machine-readable line "RESULT key=value ...".
// Exit status: 0 ok, 1 messages missing or duplicated beyond QoS rules, 2 usage, 3 connection
// failure or timeout.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <asio.hpp>

#include "bench_client.hpp"
#include "bench_runtime.hpp"
#include "idle_mode.hpp"
#include "net/descriptor_table.hpp"

namespace rmqtt::bench {
namespace {

using namespace std::chrono_literals;
using std::chrono::duration_cast;

// ---- options -----------------------------------------------------------------------------------

struct common_options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 1883;
    int mqtt = 4;  // protocol level: 3 (3.1), 4 (3.1.1), 5 (5.0)
    std::string id_prefix = "bench";
    std::string topic_prefix = "bench";
    unsigned threads = 1;
    double timeout_s = 600;
    std::uint16_t keep_alive = 0;
    std::uint32_t session_expiry = 7200;  // 5.0 persistent sessions
};

struct pubsub_options {
    unsigned publishers = 1;
    unsigned subscribers = 1;
    unsigned topics = 1;
    bool wildcard = false;
    int qos = 0;
    std::size_t payload = 64;
    std::uint64_t count = 10000;
    double duration_s = 0;
    std::size_t window = 32;
    double rate = 0;
    bool persistent = false;
    double idle_timeout_s = 10;
};

// offline-fill, connect-storm and drain describe the same set of persistent sessions: session j is
// "<id-prefix>-<j>" subscribed to "<topic-prefix>/<j>" (or all to "<topic-prefix>/all" with
// --shared-topic); message m of the fill goes to session m % sessions (or to all of them).
struct sessions_options {
    std::uint64_t sessions = 0;
    std::uint64_t messages = 0;  // total published by the fill
    bool shared_topic = false;
    unsigned publishers = 4;
    std::size_t window = 32;
    std::size_t payload = 64;
    unsigned concurrency = 200;
    double idle_timeout_s = 10;
    bool wait_port = false;
    bool skip_create = false;

    // Messages session j holds after the fill.
    std::uint64_t expected(std::uint64_t j) const {
        if (shared_topic) return messages;
        return messages / sessions + (j < messages % sessions ? 1 : 0);
    }
};

struct shared_state {
    common_options common;
    steady_clock::time_point deadline;
};

proto::version to_version(int level) {
    switch (level) {
        case 3:
            return proto::version::v3_1;
        case 5:
            return proto::version::v5;
        default:
            return proto::version::v3_1_1;
    }
}

client_options make_client_options(const common_options& c, std::string id, bool persistent,
                                   bool resume) {
    client_options o;
    o.host = c.host;
    o.port = c.port;
    o.version = to_version(c.mqtt);
    o.client_id = std::move(id);
    o.keep_alive = c.keep_alive;
    if (persistent) {
        // 3.x: Clean Session 0 is the persistent session. 5.0: Session Expiry > 0; Clean Start 1
        // for a fresh session, 0 to resume one.
        o.clean_start = o.version == proto::version::v5 && !resume;
        o.session_expiry = c.session_expiry;
    }
    return o;
}

// ---- payload header: what lets a receiver compute latency and check completeness ---------------

constexpr std::size_t header_size = 16;

struct payload_header {
    std::uint64_t sent_ns;  // steady clock of the sender (same process as the receiver)
    std::uint32_t source;   // publisher index (pubsub) or target session (fill)
    std::uint32_t seq;      // per-source sequence number
};

std::uint64_t now_ns() {
    return static_cast<std::uint64_t>(
        duration_cast<std::chrono::nanoseconds>(steady_clock::now().time_since_epoch()).count());
}

void write_header(std::string& payload, const payload_header& h) {
    std::memcpy(payload.data(), &h.sent_ns, 8);
    std::memcpy(payload.data() + 8, &h.source, 4);
    std::memcpy(payload.data() + 12, &h.seq, 4);
}

bool read_header(std::string_view payload, payload_header& h) {
    if (payload.size() < header_size) return false;
    std::memcpy(&h.sent_ns, payload.data(), 8);
    std::memcpy(&h.source, payload.data() + 8, 4);
    std::memcpy(&h.seq, payload.data() + 12, 4);
    return true;
}

double seconds(steady_clock::duration d) {
    return std::chrono::duration<double>(d).count();
}

std::int64_t epoch_ns(std::chrono::system_clock::time_point t) {
    return duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

double rate(double n, double secs) {
    return secs > 0 ? n / secs : 0.0;
}

// Connects with retries until the port accepts (a broker still starting), up to `deadline`.
// `prepare` runs on each new client before it connects (to install handlers).
asio::awaitable<std::shared_ptr<client>> connect_retrying(
    asio::any_io_executor ex, client_options o, steady_clock::time_point deadline,
    const std::function<void(client&)>& prepare) {
    asio::steady_timer pause(ex);
    for (;;) {
        auto c = std::make_shared<client>(ex, o);
        prepare(*c);
        if (co_await c->connect(deadline)) co_return c;
        const bool refused = c->close_reason().find("refused") != std::string::npos &&
                             c->close_reason().find("CONNACK") == std::string::npos;
        if (!refused || steady_clock::now() >= deadline) {
            std::fprintf(stderr, "%s: %s\n", o.client_id.c_str(), c->close_reason().c_str());
            co_return nullptr;
        }
        pause.expires_after(2ms);
        co_await pause.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
    }
}

// ---- pubsub ------------------------------------------------------------------------------------

struct subscriber_state {
    std::shared_ptr<client> c;
    std::vector<unsigned> sources;                // publishers whose topic this one subscribes to
    std::vector<char> subscribed;                 // [publisher]: in sources
    std::vector<std::vector<std::uint8_t>> seen;  // [publisher][seq]
    std::vector<std::uint32_t> latency_us;
    std::uint64_t unique = 0;
    std::uint64_t duplicates = 0;
    std::uint64_t foreign = 0;
    steady_clock::time_point last{};
};

struct publisher_state {
    std::shared_ptr<client> c;
    std::uint64_t sent = 0;
    steady_clock::time_point done{};
    bool ok = false;
};

asio::awaitable<int> run_pubsub(runtime& rt, const common_options& co, const pubsub_options& po,
                                steady_clock::time_point deadline) {
    const auto q = static_cast<proto::qos>(po.qos);
    const bool count_mode = po.duration_s <= 0;
    const unsigned topics = std::max(po.topics, 1u);
    auto topic_of = [&](unsigned i) { return co.topic_prefix + "/" + std::to_string(i % topics); };

    std::vector<subscriber_state> subs(po.subscribers);
    std::vector<publisher_state> pubs(po.publishers);
    std::atomic<std::uint64_t> delivered{0};
    std::atomic<bool> failed{false};

    // Subscribers first, so nothing published is missed.
    task_group setup;
    for (unsigned j = 0; j < po.subscribers; ++j) {
        auto& s = subs[j];
        for (unsigned i = 0; i < po.publishers; ++i)
            if (po.wildcard || i % topics == j % topics) s.sources.push_back(i);
        s.seen.resize(po.publishers);
        s.subscribed.assign(po.publishers, 0);
        for (auto i : s.sources)
            s.subscribed[i] = 1;
        for (auto i : s.sources)
            s.seen[i].assign(count_mode ? po.count : 0, 0);
        if (count_mode) s.latency_us.reserve(s.sources.size() * po.count);
        auto ex = rt.next_executor();
        s.c = std::make_shared<client>(
            ex, make_client_options(co, co.id_prefix + "-sub-" + std::to_string(j), po.persistent,
                                    false));
        s.c->on_publish(
            [&s, &delivered, count_mode, npub = po.publishers](const proto::publish& p) {
                payload_header h;
                const auto now = now_ns();
                if (!read_header(p.payload, h) || h.source >= npub) {
                    ++s.foreign;
                    return;
                }
                if (!s.subscribed[h.source]) {
                    ++s.foreign;
                    return;
                }
                auto& seen = s.seen[h.source];
                if (h.seq >= seen.size()) {
                    if (count_mode) {
                        ++s.foreign;
                        return;
                    }
                    seen.resize(std::size_t{h.seq} + 1, 0);
                }
                if (seen[h.seq]) {
                    ++s.duplicates;
                    return;
                }
                seen[h.seq] = 1;
                ++s.unique;
                s.last = steady_clock::now();
                s.latency_us.push_back(static_cast<std::uint32_t>(
                    std::min<std::uint64_t>((now - h.sent_ns) / 1000, UINT32_MAX)));
                delivered.fetch_add(1, std::memory_order_relaxed);
            });
        const std::string filter = po.wildcard ? co.topic_prefix + "/+" : topic_of(j);
        // (A braced list inside co_await trips GCC 12: the vector is built outside.)
        setup.spawn(ex,
                    [&failed, c = s.c, filters = std::vector<std::string>{filter}, q,
                     deadline]() -> asio::awaitable<void> {
                        if (!co_await c->connect(deadline) ||
                            !co_await c->subscribe(filters, q, deadline)) {
                            std::fprintf(stderr, "%s: %s\n", c->options().client_id.c_str(),
                                         c->close_reason().c_str());
                            failed = true;
                        }
                    });
    }
    for (unsigned i = 0; i < po.publishers; ++i) {
        auto ex = rt.next_executor();
        pubs[i].c = std::make_shared<client>(
            ex, make_client_options(co, co.id_prefix + "-pub-" + std::to_string(i), false, false));
        setup.spawn(ex, [&failed, c = pubs[i].c, deadline]() -> asio::awaitable<void> {
            if (!co_await c->connect(deadline)) {
                std::fprintf(stderr, "%s: %s\n", c->options().client_id.c_str(),
                             c->close_reason().c_str());
                failed = true;
            }
        });
    }
    if (!co_await setup.wait(deadline) || failed) {
        std::fprintf(stderr, "setup failed\n");
        co_return 3;
    }

    // Publish.
    const auto t0 = steady_clock::now();
    const auto end = count_mode ? steady_clock::time_point::max()
                                : t0 + duration_cast<steady_clock::duration>(
                                           std::chrono::duration<double>(po.duration_s));
    task_group publishing;
    for (unsigned i = 0; i < po.publishers; ++i) {
        auto& p = pubs[i];
        publishing.spawn(
            p.c->get_executor(),
            [&p, &po, i, q, t0, end, deadline, count_mode,
             topic = topic_of(i)]() -> asio::awaitable<void> {
                auto& c = *p.c;
                const std::size_t window =
                    std::min<std::size_t>(po.window, c.server_receive_maximum());
                std::string payload(std::max(po.payload, header_size), 'x');
                asio::steady_timer pace(c.get_executor());
                for (std::uint64_t seq = 0;; ++seq) {
                    if (count_mode ? seq >= po.count : steady_clock::now() >= end) break;
                    if (po.rate > 0) {
                        const auto due =
                            t0 + duration_cast<steady_clock::duration>(
                                     std::chrono::duration<double>(double(seq) / po.rate));
                        if (due > steady_clock::now()) {
                            pace.expires_at(due);
                            co_await pace.async_wait(
                                asio::experimental::as_tuple(asio::use_awaitable));
                        }
                    }
                    if (!c.ready(window) && !co_await c.wait_ready(window, deadline)) co_return;
                    write_header(payload, {now_ns(), i, static_cast<std::uint32_t>(seq)});
                    if (!c.publish(topic, payload, q)) co_return;
                    p.sent = seq + 1;
                }
                if (!co_await c.wait_flushed(deadline)) co_return;
                p.done = steady_clock::now();
                p.ok = c.rejected() == 0;
            });
    }
    co_await publishing.wait(deadline);

    std::uint64_t published = 0;
    steady_clock::time_point pub_end = t0;
    bool pubs_ok = true;
    for (auto& p : pubs) {
        published += p.sent;
        pub_end = std::max(pub_end, p.done);
        if (!p.ok) {
            pubs_ok = false;
            std::fprintf(stderr, "%s: publishing did not complete (%s, %" PRIu64 " rejected)\n",
                         p.c->options().client_id.c_str(),
                         p.c->close_reason().empty() ? "timeout" : p.c->close_reason().c_str(),
                         p.c->rejected());
        }
    }
    std::uint64_t expected = 0;
    for (auto& s : subs)
        for (auto i : s.sources)
            expected += pubs[i].sent;

    // Wait for delivery: until everything arrived, or nothing arrived for idle_timeout.
    {
        asio::steady_timer t(co_await asio::this_coro::executor);
        auto last_count = delivered.load();
        auto last_progress = steady_clock::now();
        const auto idle =
            duration_cast<steady_clock::duration>(std::chrono::duration<double>(po.idle_timeout_s));
        while (delivered.load() < expected) {
            const auto now = steady_clock::now();
            if (auto d = delivered.load(); d != last_count) {
                last_count = d;
                last_progress = now;
            }
            if (now - last_progress >= idle || now >= deadline) break;
            t.expires_after(2ms);
            co_await t.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
        }
    }

    // Disconnect everyone; afterwards no handler runs, so the states can be read here.
    task_group teardown;
    for (auto& s : subs)
        teardown.spawn(s.c->get_executor(), [c = s.c]() -> asio::awaitable<void> {
            co_await c->disconnect(steady_clock::now() + 5s);
        });
    for (auto& p : pubs)
        teardown.spawn(p.c->get_executor(), [c = p.c]() -> asio::awaitable<void> {
            co_await c->disconnect(steady_clock::now() + 5s);
        });
    co_await teardown.wait(steady_clock::now() + 10s);

    std::uint64_t unique = 0, dups = 0, foreign = 0;
    steady_clock::time_point last = t0;
    std::vector<std::uint32_t> lat;
    for (auto& s : subs) {
        unique += s.unique;
        dups += s.duplicates;
        foreign += s.foreign;
        last = std::max(last, s.last);
        lat.insert(lat.end(), s.latency_us.begin(), s.latency_us.end());
    }
    auto pct = [&lat](double p) -> std::uint32_t {
        if (lat.empty()) return 0;
        auto k = static_cast<std::size_t>(p * double(lat.size() - 1));
        std::nth_element(lat.begin(), lat.begin() + static_cast<std::ptrdiff_t>(k), lat.end());
        return lat[k];
    };
    const auto p50 = pct(0.50), p99 = pct(0.99), p999 = pct(0.999), pmax = pct(1.0);
    const double pub_s = seconds(pub_end - t0), del_s = seconds(last - t0);
    const std::uint64_t missing = expected > unique ? expected - unique : 0;

    std::printf(
        "pubsub: %u publishers, %u subscribers, QoS %d, %zu-byte payload, MQTT level %d%s\n",
        po.publishers, po.subscribers, po.qos, std::max(po.payload, header_size), co.mqtt,
        po.persistent ? ", persistent subscribers" : "");
    std::printf("  published  %12" PRIu64 " in %8.3f s = %12.0f msg/s\n", published, pub_s,
                rate(double(published), pub_s));
    std::printf("  delivered  %12" PRIu64 " in %8.3f s = %12.0f msg/s (expected %" PRIu64
                ", missing %" PRIu64 ", duplicates %" PRIu64 ")\n",
                unique, del_s, rate(double(unique), del_s), expected, missing, dups);
    std::printf("  latency    p50 %u us, p99 %u us, p99.9 %u us, max %u us\n", p50, p99, p999,
                pmax);
    std::printf(
        "RESULT mode=pubsub published=%" PRIu64 " pub_s=%.4f pub_rate=%.0f delivered=%" PRIu64
        " deliver_s=%.4f deliver_rate=%.0f expected=%" PRIu64 " missing=%" PRIu64
        " duplicates=%" PRIu64 " foreign=%" PRIu64 " p50_us=%u p99_us=%u p999_us=%u max_us=%u\n",
        published, pub_s, rate(double(published), pub_s), unique, del_s,
        rate(double(unique), del_s), expected, missing, dups, foreign, p50, p99, p999, pmax);
    std::fflush(stdout);
    // QoS 0 allows duplicates never and losses always; QoS 1 allows duplicates; QoS 2 neither.
    if (!pubs_ok || missing > 0 || foreign > 0 || (po.qos == 2 && dups > 0)) co_return 1;
    co_return 0;
}

// ---- offline-fill / connect-storm
// ----------------------------------------------------------------

std::string session_id(const common_options& co, std::uint64_t j) {
    return co.id_prefix + "-" + std::to_string(j);
}

std::string session_topic(const common_options& co, const sessions_options& so, std::uint64_t j) {
    return so.shared_topic ? co.topic_prefix + "/all" : co.topic_prefix + "/" + std::to_string(j);
}

asio::awaitable<int> run_fill(runtime& rt, const common_options& co, const sessions_options& so,
                              const char* mode, steady_clock::time_point deadline) {
    if (so.sessions == 0) {
        std::fprintf(stderr, "%s: no sessions\n", mode);
        co_return 2;
    }
    // 1. Persistent sessions with their subscription, then offline.
    std::atomic<std::uint64_t> next{0};
    std::atomic<std::uint64_t> created{0};
    std::atomic<bool> failed{false};
    const auto t0 = steady_clock::now();
    if (!so.skip_create) {
        task_group creators;
        const auto workers = std::min<std::uint64_t>(so.concurrency, so.sessions);
        for (std::uint64_t w = 0; w < workers; ++w) {
            auto ex = rt.next_executor();
            creators.spawn(ex, [&, ex]() -> asio::awaitable<void> {
                for (auto j = next++; j < so.sessions && !failed; j = next++) {
                    auto c = std::make_shared<client>(
                        ex, make_client_options(co, session_id(co, j), true, false));
                    const std::vector<std::string> filters(1, session_topic(co, so, j));
                    if (!co_await c->connect(deadline) ||
                        !co_await c->subscribe(filters, proto::qos::at_least_once, deadline)) {
                        std::fprintf(stderr, "%s: %s\n", c->options().client_id.c_str(),
                                     c->close_reason().c_str());
                        failed = true;
                        c->close();
                        co_return;
                    }
                    co_await c->disconnect(std::min(deadline, steady_clock::now() + 5s));
                    ++created;
                }
            });
        }
        co_await creators.wait(deadline);
        if (failed || created != so.sessions) {
            std::fprintf(stderr, "%s: created %" PRIu64 " of %" PRIu64 " sessions\n", mode,
                         created.load(), so.sessions);
            co_return 3;
        }
    }
    const auto t1 = steady_clock::now();

    // 2. Publish the messages they will hold (QoS 1, windowed publishers).
    std::vector<std::shared_ptr<client>> pubs;
    std::vector<std::uint64_t> sent(so.publishers, 0);
    std::vector<char> ok(so.publishers, 0);
    task_group publishing;
    for (unsigned p = 0; p < so.publishers; ++p) {
        auto ex = rt.next_executor();
        pubs.push_back(std::make_shared<client>(
            ex,
            make_client_options(co, co.id_prefix + "-filler-" + std::to_string(p), false, false)));
        publishing.spawn(ex, [&, p, c = pubs.back()]() -> asio::awaitable<void> {
            if (!co_await c->connect(deadline)) {
                std::fprintf(stderr, "%s: %s\n", c->options().client_id.c_str(),
                             c->close_reason().c_str());
                co_return;
            }
            const std::size_t window =
                std::min<std::size_t>(so.window, c->server_receive_maximum());
            std::string payload(std::max(so.payload, header_size), 'x');
            std::string topic;
            for (std::uint64_t m = p; m < so.messages; m += so.publishers) {
                if (!c->ready(window) && !co_await c->wait_ready(window, deadline)) co_return;
                const auto j = so.shared_topic ? 0 : m % so.sessions;
                const auto seq = so.shared_topic ? m : m / so.sessions;
                write_header(payload, {now_ns(), static_cast<std::uint32_t>(j),
                                       static_cast<std::uint32_t>(seq)});
                topic = session_topic(co, so, j);
                c->publish(topic, payload, proto::qos::at_least_once);
                ++sent[p];
            }
            if (!co_await c->wait_flushed(deadline)) co_return;
            ok[p] = c->rejected() == 0;
            co_await c->disconnect(std::min(deadline, steady_clock::now() + 5s));
        });
    }
    co_await publishing.wait(deadline);
    const auto t2 = steady_clock::now();
    std::uint64_t total = 0;
    bool all_ok = true;
    for (unsigned p = 0; p < so.publishers; ++p) {
        total += sent[p];
        if (!ok[p]) {
            all_ok = false;
            std::fprintf(
                stderr, "%s: publisher %u did not complete (%s, %" PRIu64 " rejected)\n", mode, p,
                pubs[p]->close_reason().empty() ? "timeout" : pubs[p]->close_reason().c_str(),
                pubs[p]->rejected());
        }
    }
    const double create_s = seconds(t1 - t0), fill_s = seconds(t2 - t1);
    std::printf("%s: %" PRIu64 " persistent sessions (MQTT level %d), %" PRIu64
                " QoS 1 messages, %zu-byte payload%s\n",
                mode, so.sessions, co.mqtt, so.messages, std::max(so.payload, header_size),
                so.shared_topic ? ", one topic for all" : ", one topic per session");
    std::printf("  sessions   %12" PRIu64 " in %8.3f s = %12.0f sessions/s\n", created.load(),
                create_s, rate(double(created.load()), create_s));
    std::printf("  queued     %12" PRIu64 " in %8.3f s = %12.0f msg/s (acknowledged)\n", total,
                fill_s, rate(double(total), fill_s));
    std::printf("RESULT mode=%s sessions=%" PRIu64
                " create_s=%.4f create_rate=%.0f published=%" PRIu64
                " fill_s=%.4f fill_rate=%.0f ok=%d\n",
                mode, created.load(), create_s, rate(double(created.load()), create_s), total,
                fill_s, rate(double(total), fill_s), all_ok ? 1 : 0);
    std::fflush(stdout);
    co_return all_ok&& total == so.messages ? 0 : 1;
}

// ---- drain / probe -----------------------------------------------------------------------------

// What one session received during a drain. Shared by the client's handler and the coroutine
// that waits for it; both run on the client's executor.
struct drain_tracker {
    std::uint64_t index = 0;
    std::uint64_t want = 0;
    std::uint64_t got = 0;
    std::uint64_t duplicates = 0;
    std::uint64_t foreign = 0;
    std::vector<std::uint8_t> seen;
    steady_clock::time_point last = steady_clock::now();
    event progress;
};

// Counts the messages a session receives; installed before CONNECT, because queued messages can
// arrive in the same read as CONNACK.
void track(client& c, const std::shared_ptr<drain_tracker>& t, bool shared_topic) {
    c.on_publish([t, shared_topic](const proto::publish& p) {
        payload_header h;
        if (!read_header(p.payload, h) || (!shared_topic && h.source != t->index) ||
            h.seq >= t->want) {
            ++t->foreign;
            return;
        }
        if (t->seen[h.seq]) {
            ++t->duplicates;
            return;
        }
        t->seen[h.seq] = 1;
        ++t->got;
        t->last = steady_clock::now();
        if (t->got == t->want) t->progress.notify();
    });
}

asio::awaitable<int> run_drain(runtime& rt, const common_options& co, const sessions_options& so,
                               bool probe, steady_clock::time_point deadline) {
    const char* mode = probe ? "probe" : "drain";
    const auto t0 = steady_clock::now();
    const auto idle =
        duration_cast<steady_clock::duration>(std::chrono::duration<double>(so.idle_timeout_s));
    const std::uint64_t count = probe ? 1 : so.sessions;

    std::atomic<std::uint64_t> received{0}, duplicates{0}, foreign{0}, lost_sessions{0},
        incomplete{0}, done_sessions{0};
    std::atomic<bool> failed{false};

    auto make_tracker = [&](std::uint64_t j) {
        auto t = std::make_shared<drain_tracker>();
        t->index = j;
        t->want = probe ? 0 : so.expected(j);
        t->seen.assign(t->want, 0);
        return t;
    };
    // Waits until the session has all its messages (or none came for `idle`), then disconnects.
    auto finish = [&](std::shared_ptr<client> c,
                      std::shared_ptr<drain_tracker> t) -> asio::awaitable<void> {
        if (!c->session_present() && (probe || t->want > 0)) ++lost_sessions;
        while (!probe && t->got < t->want && c->is_open()) {
            const auto now = steady_clock::now();
            if (now - t->last >= idle || now >= deadline) break;
            co_await t->progress.wait_until(std::min(t->last + idle, deadline));
        }
        received += t->got;
        duplicates += t->duplicates;
        foreign += t->foreign;
        if (t->got < t->want && incomplete++ < 10) {
            std::fprintf(stderr, "%s: %" PRIu64 " of %" PRIu64 " messages (session present %d)\n",
                         c->options().client_id.c_str(), t->got, t->want,
                         c->session_present() ? 1 : 0);
        }
        ++done_sessions;
        co_await c->disconnect(std::min(deadline, steady_clock::now() + 5s));
        c->on_publish(nullptr);
    };

    // The first session waits for the port (a restarting broker) and gives the recovery times.
    std::chrono::system_clock::time_point first_tcp{}, first_connack{};
    bool first_present = false;
    {
        auto ex = rt.next_executor();
        auto opts = make_client_options(co, session_id(co, 0), true, true);
        // A probe leaves what it receives unacknowledged, so it stays stored for the next probe
        // or the drain.
        opts.auto_ack = !probe;
        auto t = make_tracker(0);
        std::shared_ptr<client> c;
        if (so.wait_port) {
            c = co_await connect_retrying(ex, opts, deadline,
                                          [&](client& n) { track(n, t, so.shared_topic); });
        } else {
            c = std::make_shared<client>(ex, opts);
            track(*c, t, so.shared_topic);
            if (!co_await c->connect(deadline)) {
                std::fprintf(stderr, "%s: %s\n", opts.client_id.c_str(), c->close_reason().c_str());
                c = nullptr;
            }
        }
        if (!c) co_return 3;
        first_tcp = c->tcp_connected_at();
        first_connack = c->connack_at();
        first_present = c->session_present();
        co_await finish(c, t);
    }

    std::atomic<std::uint64_t> next{1};
    task_group workers;
    const auto nworkers = std::min<std::uint64_t>(so.concurrency, count - 1);
    for (std::uint64_t w = 0; w < nworkers; ++w) {
        auto ex = rt.next_executor();
        workers.spawn(ex, [&, ex]() -> asio::awaitable<void> {
            for (auto j = next++; j < count && !failed; j = next++) {
                auto c = std::make_shared<client>(
                    ex, make_client_options(co, session_id(co, j), true, true));
                auto t = make_tracker(j);
                track(*c, t, so.shared_topic);
                if (!co_await c->connect(deadline)) {
                    std::fprintf(stderr, "%s: %s\n", c->options().client_id.c_str(),
                                 c->close_reason().c_str());
                    failed = true;
                    co_return;
                }
                co_await finish(c, t);
            }
        });
    }
    co_await workers.wait(deadline);
    const auto t1 = steady_clock::now();

    std::uint64_t expected = 0;
    if (!probe)
        for (std::uint64_t j = 0; j < count; ++j)
            expected += so.expected(j);
    const double s = seconds(t1 - t0);
    const auto got = received.load();
    if (probe) {
        std::printf("probe: connected after %.3f s, session present %d, %" PRIu64
                    " messages received (not acknowledged)\n",
                    s, first_present ? 1 : 0, foreign.load());
    } else {
        std::printf("drain: %" PRIu64 " sessions, %" PRIu64 " of %" PRIu64
                    " messages in %.3f s = %.0f msg/s; duplicates %" PRIu64 ", foreign %" PRIu64
                    ", sessions lost %" PRIu64 ", incomplete %" PRIu64 "\n",
                    done_sessions.load(), got, expected, s, rate(double(got), s), duplicates.load(),
                    foreign.load(), lost_sessions.load(), incomplete.load());
    }
    std::printf("RESULT mode=%s sessions=%" PRIu64 " received=%" PRIu64 " expected=%" PRIu64
                " missing=%" PRIu64 " duplicates=%" PRIu64 " foreign=%" PRIu64
                " lost_sessions=%" PRIu64
                " elapsed_s=%.4f rate=%.0f session_present=%d"
                " tcp_epoch_ns=%" PRId64 " connack_epoch_ns=%" PRId64 "\n",
                mode, done_sessions.load(), got, expected, expected - std::min(expected, got),
                duplicates.load(), foreign.load(), lost_sessions.load(), s, rate(double(got), s),
                first_present ? 1 : 0, epoch_ns(first_tcp), epoch_ns(first_connack));
    std::fflush(stdout);
    if (failed) co_return 3;
    if (probe) co_return first_present ? 0 : 1;
    co_return got == expected&& foreign == 0 && lost_sessions == 0 ? 0 : 1;
}

void add_common(CLI::App* app, common_options& c) {
    app->add_option("--host", c.host, "broker address (IPv4)")->capture_default_str();
    app->add_option("--port", c.port, "broker port")->capture_default_str();
    app->add_option("--mqtt", c.mqtt, "protocol level: 3 (3.1), 4 (3.1.1), 5 (5.0)")
        ->check(CLI::IsMember({3, 4, 5}))
        ->capture_default_str();
    app->add_option("--id-prefix", c.id_prefix, "client identifier prefix")->capture_default_str();
    app->add_option("--topic-prefix", c.topic_prefix, "topic prefix")->capture_default_str();
    app->add_option("--threads", c.threads, "client threads (io_contexts)")
        ->check(CLI::Range(1u, 64u))
        ->capture_default_str();
    app->add_option("--timeout", c.timeout_s, "hard limit for the whole run, seconds")
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app->add_option("--keep-alive", c.keep_alive, "CONNECT keep alive, seconds (0: off)")
        ->capture_default_str();
    app->add_option("--session-expiry", c.session_expiry,
                    "MQTT 5 Session Expiry Interval of persistent sessions, seconds")
        ->capture_default_str();
}

void add_sessions(CLI::App* app, sessions_options& s, bool fill) {
    app->add_flag("--shared-topic", s.shared_topic,
                  "all sessions subscribe one topic (every message queued to each)");
    app->add_option("--concurrency", s.concurrency, "sessions connecting at the same time")
        ->check(CLI::Range(1u, 10000u))
        ->capture_default_str();
    if (fill) {
        app->add_option("--publishers", s.publishers, "publishers (QoS 1)")
            ->check(CLI::Range(1u, 1000u))
            ->capture_default_str();
        app->add_option("--window", s.window, "unacknowledged PUBLISHes per publisher")
            ->check(CLI::Range(std::size_t{1}, std::size_t{65535}))
            ->capture_default_str();
        app->add_option("--payload", s.payload, "payload bytes (at least 16)")
            ->capture_default_str();
        app->add_flag("--skip-create", s.skip_create,
                      "sessions already exist: only publish the messages");
    } else {
        app->add_option("--idle-timeout", s.idle_timeout_s,
                        "give up on a session after this many seconds without a message")
            ->capture_default_str();
        app->add_flag("--wait-port", s.wait_port,
                      "retry the first connection until the broker's port accepts");
    }
}

}  // namespace
}  // namespace rmqtt::bench

int main(int argc, char** argv) {
    using namespace rmqtt::bench;
    CLI::App app{"rmqtt-bench: MQTT load generator (see bench/README.md)"};
    app.require_subcommand(1);

    common_options c_pubsub, c_fill, c_storm, c_drain, c_probe;
    pubsub_options po;
    sessions_options fill, storm, drain, probe;
    storm.sessions = 100000;
    std::uint64_t storm_queued = 10;
    fill.sessions = 100;
    fill.messages = 100000;
    drain.sessions = 100;
    drain.messages = 100000;
    std::uint64_t drain_queued = 0;

    auto* ps = app.add_subcommand("pubsub", "publishers and subscribers, throughput and latency");
    add_common(ps, c_pubsub);
    ps->add_option("-p,--publishers", po.publishers)->capture_default_str();
    ps->add_option("-s,--subscribers", po.subscribers)->capture_default_str();
    ps->add_option("--topics", po.topics,
                   "publisher i uses topic <prefix>/<i % topics>; subscriber j subscribes "
                   "<prefix>/<j % topics>")
        ->capture_default_str();
    ps->add_flag("--wildcard", po.wildcard, "every subscriber subscribes <prefix>/+");
    ps->add_option("-q,--qos", po.qos)->check(CLI::Range(0, 2))->capture_default_str();
    ps->add_option("--payload", po.payload, "payload bytes (at least 16)")->capture_default_str();
    ps->add_option("-n,--count", po.count, "messages per publisher")->capture_default_str();
    ps->add_option("--duration", po.duration_s, "publish for this many seconds instead of --count");
    ps->add_option("--window", po.window, "unacknowledged QoS>0 PUBLISHes per publisher")
        ->check(CLI::Range(std::size_t{1}, std::size_t{65535}))
        ->capture_default_str();
    ps->add_option("--rate", po.rate, "messages/s per publisher (0: as fast as possible)")
        ->capture_default_str();
    ps->add_flag("--persistent", po.persistent,
                 "persistent subscriber sessions (3.x clean session 0, 5.0 session expiry)");
    ps->add_option("--idle-timeout", po.idle_timeout_s,
                   "stop waiting for deliveries after this many seconds without one")
        ->capture_default_str();

    auto* fs = app.add_subcommand("offline-fill",
                                  "persistent subscribers go offline, then M QoS 1 messages "
                                  "are published to them");
    add_common(fs, c_fill);
    fs->add_option("-s,--subscribers", fill.sessions, "persistent sessions")->capture_default_str();
    fs->add_option("-m,--messages", fill.messages, "QoS 1 messages in total")
        ->capture_default_str();
    add_sessions(fs, fill, true);

    auto* cs =
        app.add_subcommand("connect-storm", "N persistent sessions each with K queued messages");
    add_common(cs, c_storm);
    cs->add_option("--sessions", storm.sessions)->capture_default_str();
    cs->add_option("--queued", storm_queued, "queued messages per session")->capture_default_str();
    add_sessions(cs, storm, true);

    auto* ds =
        app.add_subcommand("drain", "reconnect the persistent sessions, verify what arrives");
    add_common(ds, c_drain);
    ds->add_option("-s,--subscribers,--sessions", drain.sessions)->capture_default_str();
    ds->add_option("-m,--messages", drain.messages, "messages the fill published in total")
        ->capture_default_str();
    ds->add_option("--queued", drain_queued, "messages per session (sets --messages)");
    add_sessions(ds, drain, false);

    auto* pr = app.add_subcommand("probe",
                                  "wait for the port, resume session <id-prefix>-0, report the "
                                  "time of CONNACK");
    add_common(pr, c_probe);

    common_options c_idle;
    idle_options idle;
    auto* is = app.add_subcommand(
        "idle", "N idle connections: connect rate, broker RSS per connection (--broker-pid)");
    c_idle.keep_alive = idle.keep_alive;
    c_idle.id_prefix = idle.id_prefix;
    c_idle.topic_prefix = idle.topic_prefix;
    add_common(is, c_idle);
    is->add_option("-n,--connections", idle.connections)->capture_default_str();
    is->add_option("--concurrency", idle.concurrency, "handshakes in flight")
        ->check(CLI::Range(1u, 10000u))
        ->capture_default_str();
    is->add_flag("--subscribe", idle.subscribe, "one subscription (QoS 0) per connection");
    is->add_option("--source-addrs", idle.source_addrs,
                   "connect from 127.0.0.1 .. 127.0.0.<n> (0: one per 20000 connections)")
        ->check(CLI::Range(0u, 254u))
        ->capture_default_str();
    is->add_option("--broker-pid", idle.broker_pid, "read this process's VmRSS before and after")
        ->capture_default_str();
    is->add_option("--settle", idle.settle_s, "seconds before the second RSS reading")
        ->capture_default_str();
    is->add_option("--hold", idle.hold_s, "seconds to keep the connections open afterwards")
        ->capture_default_str();
    is->add_option("--more", idle.more,
                   "then open this many more and read the RSS again (marginal KB per connection)")
        ->capture_default_str();

    CLI11_PARSE(app, argc, argv);

    auto run = [](const common_options& co, auto body) -> int {
        runtime rt(co.threads);
        const auto deadline =
            steady_clock::now() + std::chrono::duration_cast<steady_clock::duration>(
                                      std::chrono::duration<double>(co.timeout_s));
        auto r = rt.run([&]() { return body(rt, deadline); }, deadline);
        if (!r) {
            std::printf("RESULT mode=timeout\n");
            std::fprintf(stderr, "timeout: the run did not finish within %.0f s\n", co.timeout_s);
            std::fflush(stdout);
            std::fflush(stderr);
            std::_Exit(3);
        }
        return *r;
    };

    if (ps->parsed()) {
        return run(c_pubsub, [&](runtime& rt, steady_clock::time_point d) {
            return run_pubsub(rt, c_pubsub, po, d);
        });
    }
    if (fs->parsed()) {
        return run(c_fill, [&](runtime& rt, steady_clock::time_point d) {
            return run_fill(rt, c_fill, fill, "offline-fill", d);
        });
    }
    if (cs->parsed()) {
        storm.messages = storm.sessions * storm_queued;
        storm.shared_topic = false;
        return run(c_storm, [&](runtime& rt, steady_clock::time_point d) {
            return run_fill(rt, c_storm, storm, "connect-storm", d);
        });
    }
    if (ds->parsed()) {
        if (drain_queued > 0) drain.messages = drain.sessions * drain_queued;
        return run(c_drain, [&](runtime& rt, steady_clock::time_point d) {
            return run_drain(rt, c_drain, drain, false, d);
        });
    }
    if (is->parsed()) {
        idle.host = c_idle.host;
        idle.port = c_idle.port;
        idle.mqtt = c_idle.mqtt;
        idle.id_prefix = c_idle.id_prefix;
        idle.topic_prefix = c_idle.topic_prefix;
        idle.keep_alive = c_idle.keep_alive;
        c_idle.threads = 1;  // every socket on one io_context: run_idle is single-threaded
        // Before the runtime's threads start, as rmqttd does (net/descriptor_table.hpp): the
        // connect rate is the brokers', not the load generator's table doublings.
        rmqtt::broker::reserve_descriptor_table(idle.connections + idle.more + 64);
        return run(c_idle, [&](runtime&, steady_clock::time_point d) { return run_idle(idle, d); });
    }
    probe.sessions = 1;
    probe.wait_port = true;
    probe.messages = 0;
    return run(c_probe, [&](runtime& rt, steady_clock::time_point d) {
        return run_drain(rt, c_probe, probe, true, d);
    });
}
