#include "store_tool.hpp"

#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "jsonl.hpp"
#include "rmqtt/broker/config.hpp"
#include "rmqtt/storage/value_codec.hpp"
#include "session_storage/session_storage_config.hpp"
#include "store_image.hpp"
#include "store_source.hpp"

namespace rmqtt::store_tool {

namespace {

using json = nlohmann::ordered_json;

std::int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string human_bytes(std::uint64_t n) {
    if (n < 1024) return fmt::format("{} B", n);
    if (n < 1024 * 1024) return fmt::format("{:.1f} KiB", static_cast<double>(n) / 1024);
    if (n < 1024ull * 1024 * 1024)
        return fmt::format("{:.1f} MiB", static_cast<double>(n) / (1024 * 1024));
    return fmt::format("{:.1f} GiB", static_cast<double>(n) / (1024.0 * 1024 * 1024));
}

std::string human_age(std::int64_t ms) {
    if (ms < 0) ms = 0;
    const std::int64_t s = ms / 1000;
    if (s < 60) return fmt::format("{}s", s);
    if (s < 3600) return fmt::format("{}m{}s", s / 60, s % 60);
    if (s < 86400) return fmt::format("{}h{}m", s / 3600, s % 3600 / 60);
    return fmt::format("{}d{}h", s / 86400, s % 86400 / 3600);
}

// ---- where the store is --------------------------------------------------------------------

struct common_options {
    std::string config_file;
    std::uint64_t node_id = 0;
    std::string rocksdb_path;
    std::string redis_url;
    std::string redis_prefix;
    std::size_t progress_every = 100000;
    bool force = false;

    void add_to(CLI::App& app) {
        app.add_option("-f,--config", config_file,
                       "The broker's configuration: the store is the one its "
                       "rmqtt-session-storage.toml (in plugins.dir) names. Default: the first of "
                       "./etc/rmqtt.toml, ./rmqtt.toml, /etc/rmqtt/rmqtt.toml")
            ->type_name("FILE");
        app.add_option("--id", node_id, "Node id, as the broker's --id ({node} in paths)")
            ->type_name("N");
        app.add_option("--rocksdb", rocksdb_path,
                       "A RocksDB store directory (instead of the configuration)")
            ->type_name("PATH");
        app.add_option("--redis", redis_url,
                       "A Redis store: redis://[:password@]host[:port][/db] (instead of the "
                       "configuration)")
            ->type_name("URL");
        app.add_option("--prefix", redis_prefix,
                       "Key prefix of the Redis store (default: the configuration's, else "
                       "session-{node})")
            ->type_name("P");
        app.add_option("--progress", progress_every,
                       "A progress line on stderr every N records (0: none)")
            ->type_name("N")
            ->capture_default_str();
    }

    store_target target() const {
        if (!rocksdb_path.empty() && !redis_url.empty())
            throw tool_error(exit_usage, "--rocksdb and --redis: give one of them");
        store_target t;
        const std::uint64_t node = node_id > 0 ? node_id : 1;
        const auto node_prefix = [&](std::string p) {
            for (auto pos = p.find("{node}"); pos != std::string::npos; pos = p.find("{node}"))
                p.replace(pos, 6, std::to_string(node));
            return p;
        };
        if (!rocksdb_path.empty()) {
            t.type = store_target::engine::rocksdb;
            t.rocksdb_path = rocksdb_path;
            t.node_id = node;
            return t;
        }
        if (!redis_url.empty()) {
            t.type = store_target::engine::redis;
            t.redis_url = redis_url;
            t.redis_prefix = node_prefix(redis_prefix.empty() ? "session-{node}" : redis_prefix);
            t.node_id = node;
            return t;
        }
        broker::command_line cl;
        cl.config_file = config_file;
        cl.node_id = node_id;
        const std::string_view plugin = "rmqtt-session-storage";
        broker::session_storage_config sc;
        try {
            const auto cfg = broker::load_config(cl, std::span(&plugin, 1));
            t.node_id = cfg.node_id;
            const auto it = cfg.plugin_sections.find(plugin);
            if (it != cfg.plugin_sections.end())
                sc = plugins::parse_session_storage_config(it->second);
            if (!cfg.plugin_enabled(plugin))
                std::fprintf(stderr,
                             "note: rmqtt-session-storage is not in plugins.default_startups of "
                             "this configuration; using its settings anyway\n");
        } catch (const broker::config_error& e) {
            throw tool_error(exit_usage, std::string("configuration error: ") + e.what());
        }
        t.heartbeat_interval = sc.heartbeat_interval;
        if (sc.type == broker::session_storage_config::engine::rocksdb) {
            t.type = store_target::engine::rocksdb;
            t.rocksdb_path = sc.rocksdb_path;
        } else {
            t.type = store_target::engine::redis;
            t.redis_url = sc.redis_url;
            t.redis_prefix = redis_prefix.empty() ? sc.redis_prefix : node_prefix(redis_prefix);
        }
        return t;
    }
};

store_image scan(store_source& src, const common_options& o) {
    store_image image;
    progress p{o.progress_every, "read"};
    src.scan(image, p);
    return image;
}

// ---- inspect -------------------------------------------------------------------------------

struct client_summary {
    std::string id;
    std::string state;
    std::size_t subscriptions = 0;
    std::size_t queued = 0;
    std::size_t inflight = 0;
    std::size_t bytes = 0;
    std::int64_t oldest_ms = 0;  // 0: no queued message
};

int inspect(const common_options& o, bool live, bool as_json, bool clients, std::size_t limit) {
    const auto target = o.target();
    auto src = open_source(target, access::read, live, o.force);
    const auto image = scan(*src, o);
    const std::int64_t now = wall_ms();
    const std::int64_t alive = last_alive_of(image, now);

    std::size_t sessions = 0, expired = 0, online = 0, subs = 0, queued = 0, inflight = 0;
    std::size_t inbound = 0, orphans = 0;
    const storage::queue_entry* oldest = nullptr;
    std::string oldest_client;
    std::vector<client_summary> rows;
    for (const auto& [id, c] : image.clients) {
        client_summary row;
        row.id = id;
        row.bytes = c.bytes;
        if (c.session) {
            ++sessions;
            const bool exp = session_expired(*c.session, alive, now);
            if (exp) ++expired;
            if (c.session->disconnected_at_ms == 0) ++online;
            row.state =
                exp ? "expired"
                    : (c.session->disconnected_at_ms == 0 ? "online at last heartbeat" : "offline");
        } else {
            if (!c.has_records()) continue;  // a dangling index member only
            ++orphans;
            row.state = "orphan (no session record)";
        }
        row.subscriptions = c.subscriptions.size();
        subs += c.subscriptions.size();
        inbound += c.inbound_qos2.size();
        for (const auto& [seq, e] : c.queue) {
            if (e.state == storage::queue_state::queued)
                ++row.queued;
            else
                ++row.inflight;
            if (row.oldest_ms == 0 || e.message.created_at_ms < row.oldest_ms)
                row.oldest_ms = e.message.created_at_ms;
            if (!oldest || e.message.created_at_ms < oldest->message.created_at_ms) {
                oldest = &e;
                oldest_client = id;
            }
        }
        queued += row.queued;
        inflight += row.inflight;
        rows.push_back(std::move(row));
    }
    std::sort(rows.begin(), rows.end(), [](const auto& a, const auto& b) {
        if (a.queued + a.inflight != b.queued + b.inflight)
            return a.queued + a.inflight > b.queued + b.inflight;
        return a.id < b.id;
    });
    if (rows.size() > limit) rows.resize(limit);
    std::size_t total_bytes = 0;
    for (const auto b : image.bytes)
        total_bytes += b;
    const std::size_t other_records = image.records - image.counts[0] - image.counts[1] -
                                      image.counts[2] - image.counts[3] - image.counts[5] -
                                      image.counts[6] - image.counts[10] - image.counts[11];

    if (as_json) {
        json j{{"engine", image.engine},
               {"location", image.location},
               {"node", target.node_id},
               {"now_ms", now},
               {"sessions",
                {{"total", sessions},
                 {"persistent", sessions - expired},
                 {"expired", expired},
                 {"online_at_last_heartbeat", online}}},
               {"subscriptions", subs},
               {"queued_messages", queued},
               {"inflight_messages", inflight},
               {"inbound_qos2", inbound},
               {"retained", image.retained.size()},
               {"shared_messages", image.shared.size()},
               {"meta", image.meta.size()},
               {"orphan_clients", orphans},
               {"other_records", other_records},
               {"records", image.records},
               {"undecodable",
                std::count_if(image.findings.begin(), image.findings.end(), [](const finding& f) {
                    return f.what == finding::type::undecodable;
                })}};
        json sizes = json::object();
        for (std::size_t k = 0; k < record_kind_count; ++k)
            sizes[to_string(static_cast<record_kind>(k))] = image.bytes[k];
        sizes["total"] = total_bytes;
        j["bytes"] = sizes;
        if (oldest)
            j["oldest_queued"] = {{"client_id", oldest_client},
                                  {"seq", oldest->seq},
                                  {"topic", oldest->message.topic},
                                  {"created_at_ms", oldest->message.created_at_ms},
                                  {"age_ms", now - oldest->message.created_at_ms}};
        else
            j["oldest_queued"] = nullptr;
        if (clients) {
            json list = json::array();
            for (const auto& r : rows)
                list.push_back({{"client_id", r.id},
                                {"state", r.state},
                                {"subscriptions", r.subscriptions},
                                {"queued", r.queued},
                                {"inflight", r.inflight},
                                {"bytes", r.bytes},
                                {"oldest_queued_ms", r.oldest_ms}});
            j["clients"] = list;
        }
        std::cout << j.dump(2) << '\n';
        return exit_ok;
    }
    auto& out = std::cout;
    out << fmt::format("store: {} at {} (node {})\n", image.engine, image.location, target.node_id);
    out << fmt::format(
        "sessions:          {} ({} persistent, {} expired; {} online at the last "
        "heartbeat)\n",
        sessions, sessions - expired, expired, online);
    out << fmt::format("subscriptions:     {}\n", subs);
    out << fmt::format("queued messages:   {}\n", queued);
    out << fmt::format("inflight messages: {}\n", inflight);
    out << fmt::format("inbound QoS 2 ids: {}\n", inbound);
    out << fmt::format("retained messages: {}\n", image.retained.size());
    out << fmt::format("other records:     {} (meta {}, index and state records, ...)\n",
                       other_records, image.meta.size());
    if (orphans > 0)
        out << fmt::format("orphan client ids: {} (records without a session: see check)\n",
                           orphans);
    if (oldest)
        out << fmt::format("oldest queued:     {} old, client '{}', topic '{}'\n",
                           human_age(now - oldest->message.created_at_ms), oldest_client,
                           oldest->message.topic);
    else
        out << "oldest queued:     (none)\n";
    out << "bytes (keys and values as stored, before compression):\n";
    for (std::size_t k = 0; k < record_kind_count; ++k)
        if (image.counts[k] > 0)
            out << fmt::format("  {:<20} {:>8} records {:>12}\n",
                               to_string(static_cast<record_kind>(k)), image.counts[k],
                               human_bytes(image.bytes[k]));
    out << fmt::format("  {:<20} {:>8} records {:>12}\n", "total", image.records,
                       human_bytes(total_bytes));
    if (clients) {
        out << fmt::format("clients (the {} with most messages):\n", rows.size());
        out << fmt::format("  {:<32} {:<26} {:>5} {:>8} {:>8} {:>10} {}\n", "client id", "state",
                           "subs", "queued", "inflight", "bytes", "oldest");
        for (const auto& r : rows)
            out << fmt::format("  {:<32} {:<26} {:>5} {:>8} {:>8} {:>10} {}\n", r.id, r.state,
                               r.subscriptions, r.queued, r.inflight, human_bytes(r.bytes),
                               r.oldest_ms == 0 ? "-" : human_age(now - r.oldest_ms));
    }
    return exit_ok;
}

// ---- export / import -----------------------------------------------------------------------

int export_store(const common_options& o, bool live, const std::string& output) {
    const auto target = o.target();
    auto src = open_source(target, access::read, live, o.force);
    auto image = scan(*src, o);
    image.find_references();
    std::size_t bad = 0, orphan = 0;
    const finding* first = nullptr;
    for (const auto& f : image.findings) {
        // An entry whose shared message is missing has no message to export.
        if (f.what == finding::type::undecodable || (f.message_id && f.seq)) {
            if (!first) first = &f;
            ++bad;
        }
        if (f.what == finding::type::orphan && !f.message_id) ++orphan;
    }
    if (bad > 0)
        throw tool_error(exit_error,
                         fmt::format("{} records of the store do not decode (first: {}: {}); "
                                     "export refuses to write an incomplete copy. Run 'rmqttd "
                                     "store check' for the list.",
                                     bad, first->where, first->detail));
    if (orphan > 0)
        std::fprintf(stderr,
                     "note: %zu client ids have records without a session record; they are not "
                     "exported ('rmqttd store check' lists them)\n",
                     orphan);
    export_info info{image.engine, image.location, target.node_id, wall_ms()};
    progress p{o.progress_every, "exported"};
    std::size_t n = 0;
    if (output == "-") {
        n = write_jsonl(image, info, std::cout, p);
    } else {
        // Written next to the target and renamed, so a failed export leaves no partial file.
        const std::string tmp = output + ".partial";
        {
            std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
            if (!f) throw tool_error(exit_error, "cannot create '" + tmp + "'");
            try {
                n = write_jsonl(image, info, f, p);
            } catch (...) {
                f.close();
                std::filesystem::remove(tmp);
                throw;
            }
        }
        std::error_code ec;
        std::filesystem::rename(tmp, output, ec);
        if (ec)
            throw tool_error(exit_error,
                             "cannot rename '" + tmp + "' to '" + output + "': " + ec.message());
    }
    std::fprintf(stderr, "exported %zu records from %s %s to %s\n", n, image.engine.c_str(),
                 image.location.c_str(), output == "-" ? "stdout" : output.c_str());
    return exit_ok;
}

// Writes `ops` in batches of `batch` operations; throws on the first failure, naming how many
// were written.
void write_all(storage::store& st, std::vector<storage::operation>& ops, std::size_t batch,
               const char* what, std::size_t progress_every) {
    std::size_t done = 0;
    std::size_t reported = 0;
    while (done < ops.size()) {
        storage::write_batch b;
        // A shared message goes in the batch of its first entry (the engine keeps no message
        // that no entry references when a write ends), and the delete of an entry that is put
        // again in the batch of that put.
        std::size_t end = std::min(ops.size(), done + std::max<std::size_t>(batch, 1));
        while (end < ops.size() &&
               (std::holds_alternative<storage::put_message>(ops[end - 1]) ||
                (std::holds_alternative<storage::delete_queue_entry>(ops[end - 1]) &&
                 std::holds_alternative<storage::put_queue_entry>(ops[end]))))
            ++end;
        b.ops.assign(std::make_move_iterator(ops.begin() + static_cast<std::ptrdiff_t>(done)),
                     std::make_move_iterator(ops.begin() + static_cast<std::ptrdiff_t>(end)));
        if (auto s = st.write(b); !s)
            throw tool_error(
                exit_error, fmt::format("{}: writing failed after {} of {} records: {}", what, done,
                                        ops.size(), s.message()));
        done = end;
        if (progress_every != 0 && done - reported >= progress_every) {
            reported = done;
            std::fprintf(stderr, "%s %zu records...\n", what, done);
        }
    }
}

// On an engine with shared messages, entries of the file that hold the same message (a fan-out,
// exported with each entry) are imported as the broker stores them: the message once, in front
// of the first of them, and each entry referencing it.
void share_messages(storage::store& st, std::vector<storage::operation>& ops) {
    if (!st.supports_shared_messages()) return;
    std::uint64_t last = 0;
    if (auto s = st.max_message_id(last); !s) throw tool_error(exit_error, s.message());
    std::unordered_map<std::string, std::vector<std::size_t>> same;  // encoded message -> ops
    for (std::size_t i = 0; i < ops.size(); ++i) {
        if (const auto* put = std::get_if<storage::put_queue_entry>(&ops[i]))
            same[storage::encode_value(put->entry.message)].push_back(i);
    }
    std::vector<std::optional<storage::put_message>> before(ops.size());
    std::size_t shared = 0;
    for (const auto& [bytes, at] : same) {
        if (at.size() < 2) continue;
        storage::put_message m{++last, {}};
        for (const std::size_t i : at) {
            auto& e = std::get<storage::put_queue_entry>(ops[i]).entry;
            if (i == at.front()) m.message = std::move(e.message);
            e.message = storage::message_record{};
            e.message_id = m.id;
        }
        before[at.front()] = std::move(m);
        ++shared;
    }
    if (shared == 0) return;
    std::vector<storage::operation> out;
    out.reserve(ops.size() + shared);
    for (std::size_t i = 0; i < ops.size(); ++i) {
        if (before[i]) out.emplace_back(std::move(*before[i]));
        out.push_back(std::move(ops[i]));
    }
    ops = std::move(out);
}

int import_store(const common_options& o, const std::string& input, bool merge, std::size_t batch) {
    progress p{o.progress_every, "validated"};
    import_data data;
    if (input == "-") {
        data = read_jsonl(std::cin, "stdin", p);
    } else {
        std::ifstream f(input, std::ios::binary);
        if (!f) throw tool_error(exit_error, "cannot open '" + input + "'");
        data = read_jsonl(f, input, p);
    }
    const auto target = o.target();
    auto src = open_source(target, access::write, false, o.force);
    const auto image = scan(*src, o);
    std::vector<storage::operation> clear;
    if (image.data_records() > 0) {
        if (!o.force && !merge)
            throw tool_error(exit_refused,
                             fmt::format("the store ({} {}) is not empty: {} records. --force "
                                         "replaces its content, --merge adds the file's records "
                                         "to it (replacing those with the same key)",
                                         image.engine, image.location, image.data_records()));
        if (o.force && !merge) {
            for (const auto& [id, c] : image.clients)
                clear.emplace_back(storage::delete_session{id});
            for (const auto& [topic, m] : image.retained)
                clear.emplace_back(storage::delete_retained{topic});
        }
    }
    auto& st = src->writer();
    if (!clear.empty()) {
        write_all(st, clear, batch, "cleared", o.progress_every);
        std::fprintf(stderr, "removed the %zu client ids and %zu retained messages stored before\n",
                     image.clients.size(), image.retained.size());
    }
    if (merge) {
        // A put does not release the shared message the entry it replaces references
        // (storage::put_queue_entry): a stored entry the file replaces is deleted first.
        std::vector<storage::operation> ops;
        ops.reserve(data.ops.size());
        for (auto& op : data.ops) {
            if (const auto* put = std::get_if<storage::put_queue_entry>(&op)) {
                const auto c = image.clients.find(put->client_id);
                if (c != image.clients.end() && c->second.queue.contains(put->entry.seq))
                    ops.emplace_back(storage::delete_queue_entry{put->client_id, put->entry.seq});
            }
            ops.push_back(std::move(op));
        }
        data.ops = std::move(ops);
    }
    share_messages(st, data.ops);
    write_all(st, data.ops, batch, "imported", o.progress_every);
    std::printf("imported %zu records (%zu sessions) from %s into %s %s\n", data.records,
                data.sessions, input == "-" ? "stdin" : input.c_str(), image.engine.c_str(),
                image.location.c_str());
    return exit_ok;
}

// ---- check ---------------------------------------------------------------------------------

int check(const common_options& o, bool repair, std::size_t limit) {
    const auto target = o.target();
    auto src = open_source(target, repair ? access::write : access::read, false, o.force);
    auto image = scan(*src, o);
    image.find_references();
    const std::int64_t now = wall_ms();
    const std::int64_t alive = last_alive_of(image, now);

    std::size_t by_type[5] = {};
    std::size_t shown = 0;
    for (const auto& f : image.findings) {
        ++by_type[static_cast<std::size_t>(f.what)];
        if (shown++ < limit)
            std::cout << fmt::format("{}: {}: {}\n", to_string(f.what), f.where, f.detail);
    }
    if (shown > limit) std::cout << fmt::format("... and {} more\n", shown - limit);
    std::size_t expired = 0;
    for (const auto& [id, c] : image.clients) {
        if (c.session && session_expired(*c.session, alive, now)) {
            if (expired++ < limit)
                std::cout << fmt::format(
                    "expired: session '{}' is past its expiry (the broker "
                    "removes it at its next start and sends its will)\n",
                    id);
        }
    }
    const std::size_t problems = image.findings.size();
    std::cout << fmt::format(
        "checked {} records of {} {}: {} problems ({} undecodable, {} orphan client ids, {} "
        "dangling, {} stale queue entries, {} unknown keys); {} expired sessions\n",
        image.records, image.engine, image.location, problems, by_type[0], by_type[1], by_type[2],
        by_type[3], by_type[4], expired);
    if (!repair) return problems == 0 ? exit_ok : exit_problems;

    // Orphans lose every record of their client id; a dangling state or index member, or a
    // stale entry, its queue entry; a session missing from the Redis index is written again
    // (which indexes it); a queue entry missing from the Redis queue index likewise.
    std::vector<storage::operation> ops;
    std::vector<std::string> index_members;
    std::size_t orphans = 0, entries = 0, reindexed = 0;
    const client_records none;
    std::size_t messages = 0;
    std::vector<storage::write_batch> recounts;
    for (const auto& f : image.findings) {
        const auto found = image.clients.find(f.client_id);
        const auto& c = found == image.clients.end() ? none : found->second;
        if (f.message_id && !f.seq) {
            // An unreferenced message goes. A wrong count is written again: the entries that
            // reference the message are deleted, then the message and the entries put back, which
            // counts them anew (storage::put_message).
            const std::uint64_t mid = *f.message_id;
            ++messages;
            const auto m = image.shared.find(mid);
            if (f.what == finding::type::orphan || m == image.shared.end()) {
                ops.emplace_back(storage::delete_message{mid});
                continue;
            }
            // One write: the entries are never without their message, even if the tool stops.
            storage::write_batch b;
            std::vector<storage::operation> puts;
            for (const auto& [cid, cr] : image.clients) {
                for (const auto& [seq, e] : cr.queue) {
                    if (e.message_id != mid) continue;
                    b.ops.emplace_back(storage::delete_queue_entry{cid, seq});
                    puts.emplace_back(storage::put_queue_entry{cid, e});
                }
            }
            b.ops.emplace_back(storage::delete_message{mid});
            b.ops.emplace_back(storage::put_message{mid, m->second});
            for (auto& op : puts)
                b.ops.push_back(std::move(op));
            recounts.push_back(std::move(b));
            continue;
        }
        if (f.what == finding::type::orphan) {
            ops.emplace_back(storage::delete_session{f.client_id});
            ++orphans;
        } else if (f.what == finding::type::dangling && !f.seq && !c.session) {
            index_members.push_back(f.client_id);
        } else if (f.what == finding::type::dangling && !f.seq) {
            ops.emplace_back(storage::put_session{*c.session});
            ++reindexed;
        } else if ((f.what == finding::type::dangling || f.what == finding::type::stale) && f.seq) {
            const auto it = c.queue.find(*f.seq);
            if (f.what == finding::type::dangling && it != c.queue.end() && !f.message_id) {
                ops.emplace_back(storage::put_queue_entry{f.client_id, it->second});
                ++reindexed;
            } else {
                ops.emplace_back(storage::delete_queue_entry{f.client_id, *f.seq});
                ++entries;
            }
        }
    }
    // Counts first: a too-low count must not reach 0 through the deletes below, which would
    // remove a message other entries still reference.
    for (const auto& b : recounts) {
        if (auto st = src->writer().write(b); !st)
            throw tool_error(exit_error, "recounting a shared message failed: " + st.message());
    }
    write_all(src->writer(), ops, 10000, "repaired", o.progress_every);
    src->remove_index_members(index_members);
    const std::size_t left = by_type[0] + by_type[4];
    std::cout << fmt::format(
        "repaired: removed {} orphan client ids, {} dangling or stale queue entries, {} dangling "
        "index members; rewrote {} records missing from an index; removed or recounted {} shared "
        "messages; {} problems left (undecodable records and unknown keys are not removed: "
        "restore them from an export or delete them by hand)\n",
        orphans, entries, index_members.size(), reindexed, messages, left);
    return left == 0 ? exit_ok : exit_problems;
}

// ---- compact -------------------------------------------------------------------------------

int compact(const common_options& o) {
    const auto target = o.target();
    if (target.type == store_target::engine::redis) {
        // The URL may hold a password: only the prefix is named.
        std::cout << "compact: not applicable to Redis (prefix " << target.redis_prefix
                  << "): Redis frees deleted keys itself; to shrink the append-only file, run "
                     "BGREWRITEAOF on the server. Nothing done.\n";
        return exit_ok;
    }
    auto src = open_source(target, access::compact, false, o.force);
    std::uint64_t before = 0, after = 0;
    src->compact(before, after);
    std::cout << fmt::format("compacted {}: data files (SST and WAL) {} before, {} after\n",
                             target.rocksdb_path, human_bytes(before), human_bytes(after));
    return exit_ok;
}

}  // namespace

int store_main(int argc, char** argv) {
    CLI::App app{
        "rmqttd store - inspect, export, import, check and compact the session store "
        "(RocksDB or Redis) of a stopped broker.\n"
        "The store is found like the broker finds it (-f, --id, rmqtt-session-storage.toml), "
        "or given with --rocksdb PATH / --redis URL [--prefix P].",
        "rmqttd store"};
    app.set_help_flag("-h,--help", "Print this help and exit");
    app.require_subcommand(1);
    app.footer(
        "Exit status: 0 done; 1 check found problems; 2 bad arguments or configuration;\n"
        "3 refused (a running broker holds the store, or import into a non-empty store);\n"
        "4 the store or the file cannot be read or written.\n"
        "\n"
        "Examples:\n"
        "  rmqttd store inspect -f etc/rmqtt.toml --clients\n"
        "  rmqttd store export --rocksdb data/session/1 -o sessions.jsonl\n"
        "  rmqttd store import --redis redis://127.0.0.1:6379/ --prefix session-1 "
        "sessions.jsonl\n"
        "  rmqttd store check -f etc/rmqtt.toml --repair\n"
        "\n"
        "The export format and the migration path: docs/store-format.md.");

    common_options common;
    bool live = false, as_json = false, clients = false, repair = false, merge = false;
    std::size_t limit = 20;
    std::size_t check_limit = 100;
    std::size_t batch = 10000;
    std::string output = "-";
    std::string input;

    auto* inspect_cmd = app.add_subcommand(
        "inspect", "Counts, sizes, the oldest queued message, and a per-client summary");
    common.add_to(*inspect_cmd);
    inspect_cmd->add_flag("--json", as_json, "Print JSON instead of text");
    inspect_cmd->add_flag("--clients", clients, "Add a per-client summary");
    inspect_cmd->add_option("--limit", limit, "Clients in the summary (most messages first)")
        ->capture_default_str();
    inspect_cmd->add_flag("--live", live,
                          "Read alongside a running broker (RocksDB: opened read-only, a view "
                          "as of the open; Redis: read while it changes)");
    inspect_cmd->add_flag("--force", common.force,
                          "Redis: ignore a fresh broker heartbeat (a broker that just crashed)");

    auto* export_cmd =
        app.add_subcommand("export", "Write every record as JSON Lines (docs/store-format.md)");
    common.add_to(*export_cmd);
    export_cmd->add_option("-o,--output", output, "Output file; - for stdout")
        ->type_name("FILE")
        ->capture_default_str();
    export_cmd->add_flag("--live", live, "Read alongside a running broker (see inspect)");
    export_cmd->add_flag("--force", common.force,
                         "Redis: ignore a fresh broker heartbeat (a broker that just crashed)");

    auto* import_cmd = app.add_subcommand(
        "import",
        "Read a JSON Lines export into the store. Every line is validated before anything is "
        "written; the store must be empty unless --force or --merge");
    common.add_to(*import_cmd);
    import_cmd->add_option("file", input, "The export; - for stdin")->required()->type_name("FILE");
    import_cmd->add_flag("--force", common.force,
                         "Replace what the store holds (and, Redis, ignore a fresh heartbeat)");
    import_cmd->add_flag("--merge", merge,
                         "Add to what the store holds; the file's records replace those with "
                         "the same key");
    import_cmd->add_option("--batch", batch, "Records per store write")->capture_default_str();

    auto* check_cmd = app.add_subcommand(
        "check",
        "Decode every record; report undecodable records, orphans, dangling references and "
        "expired sessions. Exit status 1 when it finds problems");
    common.add_to(*check_cmd);
    check_cmd->add_flag("--repair", repair,
                        "Remove orphan records and dangling references (not undecodable ones)");
    check_cmd->add_option("--limit", check_limit, "Findings listed")->capture_default_str();
    check_cmd->add_flag("--force", common.force,
                        "Redis: ignore a fresh broker heartbeat (a broker that just crashed)");

    auto* compact_cmd = app.add_subcommand(
        "compact", "RocksDB: compact every column family (reports the size before and after)");
    common.add_to(*compact_cmd);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::cerr << "rmqttd store: " << e.what()
                  << "\nRun 'rmqttd store --help' for the commands.\n";
        return exit_usage;
    }
    try {
        if (inspect_cmd->parsed()) return inspect(common, live, as_json, clients, limit);
        if (export_cmd->parsed()) return export_store(common, live, output);
        if (import_cmd->parsed()) {
            if (merge && common.force)
                throw tool_error(exit_usage, "--force and --merge: give one of them");
            return import_store(common, input, merge, batch);
        }
        if (check_cmd->parsed()) return check(common, repair, check_limit);
        return compact(common);
    } catch (const tool_error& e) {
        std::cerr << "rmqttd store: " << e.what() << "\n";
        return e.code();
    } catch (const std::exception& e) {
        std::cerr << "rmqttd store: " << e.what() << "\n";
        return exit_error;
    }
}

}  // namespace rmqtt::store_tool
