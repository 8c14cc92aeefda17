// The Redis side of store_source: SCAN over the store's prefix, every key read by the engine's
// layout (storage/redis/redis_layout.hpp), the heartbeat check, and the engine's own store for
// writes.

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "redis_connection.hpp"
#include "redis_layout.hpp"
#include "rmqtt/storage/value_codec.hpp"
#include "store_source.hpp"

namespace rmqtt::store_tool {

namespace rd = storage::redis_detail;

namespace {

// Heartbeats younger than this many intervals mean a broker is running.
constexpr int heartbeat_intervals = 3;

std::int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// SCAN MATCH pattern for "<prefix>:*" with the prefix's glob characters escaped.
std::string match_pattern(std::string_view prefix) {
    std::string out;
    for (const char c : prefix) {
        if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    return out + ":*";
}

bool unescape_client_id(std::string_view escaped, std::string& out) {
    out.clear();
    if (escaped == "%") return true;
    for (std::size_t i = 0; i < escaped.size(); ++i) {
        if (escaped[i] != '%') {
            out.push_back(escaped[i]);
            continue;
        }
        const std::string_view code = escaped.substr(i + 1, 2);
        if (code == "25")
            out.push_back('%');
        else if (code == "7B")
            out.push_back('{');
        else if (code == "7D")
            out.push_back('}');
        else
            return false;
        i += 2;
    }
    return true;
}

class redis_source final : public store_source {
  public:
    redis_source(const store_target& t, access a, bool live, bool force) : prefix_(t.redis_prefix) {
        rd::connection::options o;
        if (auto st = rd::parse_redis_url(t.redis_url, o.url); !st)
            throw tool_error(exit_usage, st.message());
        if (prefix_.empty() || prefix_.find_first_of("{}") != std::string::npos)
            throw tool_error(exit_usage, "redis prefix '" + prefix_ +
                                             "': must be non-empty, without '{' or '}'");
        url_ = o.url.display();
        o.connect_timeout = std::chrono::milliseconds(3000);
        o.command_timeout = std::chrono::milliseconds(15000);
        conn_ = std::make_unique<rd::connection>(std::move(o));
        if (auto st = conn_->ensure(); !st) down(st);
        keys_ = rd::make_global_keys(prefix_);
        if (!live && !force) check_heartbeat(t.heartbeat_interval);
        if (a == access::write) {
            storage::redis_options ro;
            ro.url = t.redis_url;
            ro.prefix = prefix_;
            std::vector<std::string> warnings;
            if (auto st = storage::open_redis_store(ro, store_, warnings); !st)
                throw tool_error(exit_error, st.message());
            for (const auto& w : warnings)
                std::fprintf(stderr, "redis: %s\n", w.c_str());
        }
    }
    ~redis_source() override {
        if (store_) (void)store_->close();  // every write() returned: nothing pending
    }

    void scan(store_image& out, progress& p) override {
        out.engine = "redis";
        out.location = url_ + " prefix " + prefix_;
        const std::string pattern = match_pattern(prefix_);
        std::string cursor = "0";
        std::vector<rd::reply_ptr> replies;
        do {
            rd::command_buffer cmd;
            cmd.add("SCAN", cursor, "MATCH", pattern, "COUNT", "1000");
            exchange(cmd, replies);
            const auto& r = *replies[0];
            if (rd::kind_of(r) != rd::reply_kind::array || rd::size_of(r) != 2)
                throw tool_error(exit_error, "redis " + url_ + ": unexpected SCAN reply");
            cursor = std::string(rd::text_of(rd::element_of(r, 0)));
            std::vector<std::string> page;
            const auto& keys = rd::element_of(r, 1);
            for (std::size_t i = 0; i < rd::size_of(keys); ++i)
                page.emplace_back(rd::text_of(rd::element_of(keys, i)));
            read_keys(page, out, p);
        } while (cursor != "0");
        out.resolve_shared();
    }

    storage::store& writer() override { return *store_; }

    void remove_index_members(const std::vector<std::string>& client_ids) override {
        if (client_ids.empty()) return;
        rd::command_buffer cmd;
        for (const auto& id : client_ids)
            cmd.add("ZREM", keys_.sessions_index, id);
        std::vector<rd::reply_ptr> replies;
        exchange(cmd, replies);
        for (const auto& r : replies)
            if (rd::kind_of(*r) == rd::reply_kind::error)
                throw tool_error(exit_error, "redis " + url_ + ": ZREM " + keys_.sessions_index +
                                                 ": " + std::string(rd::text_of(*r)));
    }

    void compact(std::uint64_t&, std::uint64_t&) override {
        throw tool_error(exit_usage, "compact does not apply to Redis");
    }

  private:
    [[noreturn]] void down(const storage::status& st) {
        throw tool_error(exit_error, "cannot reach Redis: " + st.message());
    }
    void exchange(const rd::command_buffer& cmd, std::vector<rd::reply_ptr>& replies) {
        if (auto st = conn_->exchange(cmd, replies); !st) down(st);
    }

    void check_heartbeat(std::chrono::milliseconds interval) {
        rd::command_buffer cmd;
        cmd.add("HMGET", keys_.meta, last_alive_key, stopped_key, heartbeat_interval_key);
        std::vector<rd::reply_ptr> replies;
        exchange(cmd, replies);
        const auto& r = *replies[0];
        if (rd::kind_of(r) == rd::reply_kind::error)
            throw tool_error(exit_error, "redis " + url_ + ": HMGET " + keys_.meta + ": " +
                                             std::string(rd::text_of(r)));
        if (rd::size_of(r) != 3) return;
        const auto& alive = rd::element_of(r, 0);
        const auto& stopped = rd::element_of(r, 1);
        // The running broker's own interval when it recorded one (it may differ from the
        // configuration the tool was given, or from the default with --redis).
        if (const auto& iv = rd::element_of(r, 2); rd::kind_of(iv) == rd::reply_kind::string) {
            const long long ms = std::strtoll(std::string(rd::text_of(iv)).c_str(), nullptr, 10);
            if (ms > interval.count()) interval = std::chrono::milliseconds(ms);
        }
        if (rd::kind_of(alive) != rd::reply_kind::string) return;  // no broker ever ran
        const std::int64_t last =
            std::strtoll(std::string(rd::text_of(alive)).c_str(), nullptr, 10);
        if (rd::kind_of(stopped) == rd::reply_kind::string &&
            std::strtoll(std::string(rd::text_of(stopped)).c_str(), nullptr, 10) >= last)
            return;  // the last heartbeat was the clean stop's
        const std::int64_t age = wall_ms() - last;
        if (age < heartbeat_intervals * interval.count()) {
            throw tool_error(
                exit_refused,
                "a running rmqttd holds the Redis store at " + url_ + " prefix " + prefix_ +
                    ": its heartbeat (" + keys_.meta + " " + last_alive_key + ") is " +
                    std::to_string(age) + " ms old, younger than " +
                    std::to_string(heartbeat_intervals) + " heartbeat intervals (" +
                    std::to_string(interval.count()) +
                    " ms each). Stop the broker first; pass --force if it is not running (a "
                    "broker that crashed a moment ago).");
        }
    }

    void undecodable(store_image& out, const std::string& key, std::string detail,
                     const std::string& client_id = {}) {
        out.findings.push_back({finding::type::undecodable, client_id, "redis key " + key,
                                std::move(detail), std::nullopt, std::nullopt});
    }

    enum class key_type {
        sessions_index,
        meta,
        retained_index,
        retained,
        session,
        subs,
        queue,
        queue_index,
        inbound_qos2,
        shared_messages,
        shared_refs,
        unknown
    };
    key_type classify(const std::string& key, std::string& client_id) const {
        if (key == keys_.sessions_index) return key_type::sessions_index;
        if (key == keys_.meta) return key_type::meta;
        if (key == keys_.retained_index) return key_type::retained_index;
        if (key == keys_.retained_messages) return key_type::retained;
        if (key == keys_.shared_messages) return key_type::shared_messages;
        if (key == keys_.shared_refs) return key_type::shared_refs;
        const std::string head = prefix_ + ":{";
        if (!key.starts_with(head)) return key_type::unknown;
        const auto close = key.find('}', head.size());
        if (close == std::string::npos || key.compare(close, 2, "}:") != 0)
            return key_type::unknown;
        if (!unescape_client_id(std::string_view(key).substr(head.size(), close - head.size()),
                                client_id))
            return key_type::unknown;
        const std::string_view suffix = std::string_view(key).substr(close + 2);
        if (suffix == "s") return key_type::session;
        if (suffix == "sub") return key_type::subs;
        if (suffix == "q") return key_type::queue;
        if (suffix == "qi") return key_type::queue_index;
        if (suffix == "q2") return key_type::inbound_qos2;
        return key_type::unknown;
    }

    void read_keys(const std::vector<std::string>& page, store_image& out, progress& p) {
        rd::command_buffer cmd;
        std::vector<key_type> types;
        std::vector<std::string> ids;
        for (const auto& key : page) {
            std::string id;
            const auto t = classify(key, id);
            types.push_back(t);
            ids.push_back(id);
            switch (t) {
                case key_type::sessions_index:
                case key_type::retained_index:
                case key_type::queue_index:
                    cmd.add("ZRANGE", key, "0", "-1");
                    break;
                case key_type::meta:
                case key_type::retained:
                case key_type::subs:
                case key_type::queue:
                case key_type::shared_messages:
                case key_type::shared_refs:
                    cmd.add("HGETALL", key);
                    break;
                case key_type::session:
                    cmd.add("GET", key);
                    break;
                case key_type::inbound_qos2:
                    cmd.add("SMEMBERS", key);
                    break;
                case key_type::unknown:
                    cmd.add("TYPE", key);
                    break;
            }
        }
        if (cmd.count() == 0) return;
        std::vector<rd::reply_ptr> replies;
        exchange(cmd, replies);
        for (std::size_t i = 0; i < page.size(); ++i)
            read_key(page[i], types[i], ids[i], *replies[i], out, p);
    }

    void read_key(const std::string& key, key_type t, const std::string& id, const redisReply& r,
                  store_image& out, progress& p) {
        const auto kind = rd::kind_of(r);
        if (kind == rd::reply_kind::nil) return;  // expired or deleted since SCAN listed it
        if (kind == rd::reply_kind::error) {
            out.count(record_kind::other, key.size());
            undecodable(out, key, std::string(rd::text_of(r)), id);
            return;
        }
        if (t == key_type::unknown) {
            p.tick();
            out.count(record_kind::other, key.size());
            out.findings.push_back(
                {finding::type::unknown, "", "redis key " + key,
                 "not part of the store's layout (" + std::string(rd::text_of(r)) + ")",
                 std::nullopt, std::nullopt});
            return;
        }
        if (t == key_type::session) {
            p.tick();
            auto& c = out.clients[id];
            const auto v = rd::text_of(r);
            c.bytes += key.size() + v.size();
            out.count(record_kind::session, key.size() + v.size());
            storage::session_record rec;
            if (auto st = storage::decode_value(v, rec); !st)
                undecodable(out, key, st.message(), id);
            else if (rec.client_id != id)
                undecodable(out, key, "holds the session of client id '" + rec.client_id + "'", id);
            else
                c.session = std::move(rec);
            return;
        }
        const std::size_t n = rd::size_of(r);
        if (t == key_type::sessions_index || t == key_type::retained_index ||
            t == key_type::queue_index || t == key_type::inbound_qos2) {
            for (std::size_t i = 0; i < n; ++i) {
                p.tick();
                const std::string_view m = rd::text_of(rd::element_of(r, i));
                if (t == key_type::inbound_qos2) {
                    auto& c = out.clients[id];
                    c.bytes += m.size();
                    out.count(record_kind::inbound_qos2, m.size());
                    char* end = nullptr;
                    const std::string text(m);
                    const unsigned long v = std::strtoul(text.c_str(), &end, 10);
                    if (text.empty() || *end != '\0' || v > 65535)
                        undecodable(out, key, "member '" + text + "' is not a packet id", id);
                    else
                        c.inbound_qos2.insert(static_cast<std::uint16_t>(v));
                    continue;
                }
                out.count(record_kind::index, m.size());
                if (t == key_type::sessions_index) {
                    out.clients[std::string(m)].indexed = true;
                } else if (t == key_type::queue_index) {
                    auto& c = out.clients[id];
                    c.bytes += m.size();
                    if (const auto seq = rd::parse_seq_field(m))
                        c.queue_index.insert(*seq);
                    else
                        undecodable(out, key, "member is not an 8-byte sequence number", id);
                }
            }
            return;
        }
        // Hashes: field, value, field, value, ...
        std::map<std::uint64_t, std::pair<storage::queue_state, std::uint16_t>> states;
        std::vector<std::pair<storage::queue_entry, std::size_t>> entries;
        std::map<std::uint64_t, std::uint64_t> refs;  // seq -> the "m" field's message id
        for (std::size_t i = 0; i + 1 < n; i += 2) {
            p.tick();
            const std::string_view f = rd::text_of(rd::element_of(r, i));
            const std::string_view v = rd::text_of(rd::element_of(r, i + 1));
            const std::size_t size = f.size() + v.size();
            if (t == key_type::meta) {
                out.count(record_kind::meta, size);
                out.meta.emplace(std::string(f), std::string(v));
            } else if (t == key_type::retained) {
                out.count(record_kind::retained, size);
                storage::message_record m;
                if (auto st = storage::decode_value(v, m); !st)
                    undecodable(out, key + " field " + std::string(f), st.message());
                else if (m.topic != f)
                    undecodable(out, key + " field " + std::string(f),
                                "holds the retained message of topic '" + m.topic + "'");
                else
                    out.retained.emplace(m.topic, std::move(m));
            } else if (t == key_type::shared_messages || t == key_type::shared_refs) {
                const bool count = t == key_type::shared_refs;
                out.count(count ? record_kind::message_refs : record_kind::shared_message, size);
                const auto mid = rd::parse_seq_field(f);
                if (!mid) {
                    undecodable(out, key, "field is not an 8-byte message id");
                    continue;
                }
                const std::string where = key + " message " + std::to_string(*mid);
                if (count) {
                    // A decimal count (HINCRBY); the engine never leaves one below 1.
                    const std::string text(v);
                    char* end = nullptr;
                    const long long value = std::strtoll(text.c_str(), &end, 10);
                    if (text.empty() || *end != '\0' || value < 0) {
                        undecodable(out, where, "malformed count '" + text + "'");
                        continue;
                    }
                    out.shared_refs.emplace(*mid, static_cast<std::uint64_t>(value));
                    continue;
                }
                storage::message_record m;
                if (auto st = storage::decode_value(v, m); !st)
                    undecodable(out, where, st.message());
                else
                    out.shared.emplace(*mid, std::move(m));
            } else if (t == key_type::subs) {
                auto& c = out.clients[id];
                c.bytes += size;
                out.count(record_kind::subscription, size);
                storage::subscription_record s;
                if (auto st = storage::decode_value(v, s); !st)
                    undecodable(out, key + " field " + std::string(f), st.message(), id);
                else if (s.filter != f)
                    undecodable(out, key + " field " + std::string(f),
                                "holds the subscription to '" + s.filter + "'", id);
                else
                    c.subscriptions.emplace(s.filter, std::move(s));
            } else {  // queue
                auto& c = out.clients[id];
                c.bytes += size;
                if (f.size() == 9 && f.back() == 'm') {
                    // The reference an entry holds (its value holds the id too): the engine's
                    // scripts read it to release the reference. Checked against the entry below.
                    out.count(record_kind::index, size);
                    const auto seq = rd::parse_seq_field(f.substr(0, 8));
                    const auto mid = rd::parse_seq_field(v);
                    if (!seq || !mid) {
                        undecodable(out, key, "malformed queue reference field", id);
                        continue;
                    }
                    refs[*seq] = *mid;
                    continue;
                }
                if (f.size() == 9 && f.back() == 's') {
                    out.count(record_kind::queue_state, size);
                    const auto seq = rd::parse_seq_field(f.substr(0, 8));
                    storage::queue_state qs{};
                    std::uint16_t pid = 0;
                    if (!seq || !rd::decode_state(v, qs, pid)) {
                        undecodable(out, key, "malformed queue state field", id);
                        continue;
                    }
                    c.states.insert(*seq);
                    states[*seq] = {qs, pid};
                    continue;
                }
                storage::queue_entry e;
                const auto seq = rd::parse_seq_field(f);
                if (!seq) {
                    out.count(record_kind::message, size);
                    undecodable(out, key, "field is not an 8-byte sequence number", id);
                } else if (auto st = storage::decode_value(v, e); !st) {
                    out.count(record_kind::message, size);
                    undecodable(out, key + " seq " + std::to_string(*seq), st.message(), id);
                } else if (e.seq != *seq) {
                    out.count(record_kind::message, size);
                    undecodable(out, key + " seq " + std::to_string(*seq),
                                "holds seq " + std::to_string(e.seq), id);
                } else {
                    entries.emplace_back(std::move(e), size);
                }
            }
        }
        if (t != key_type::queue) return;
        auto& c = out.clients[id];
        for (auto& [e, size] : entries) {
            // The engine releases the reference named by the "m" field: it must be the entry's.
            const auto ref = refs.find(e.seq);
            const std::uint64_t held = ref == refs.end() ? 0 : ref->second;
            if (ref != refs.end()) refs.erase(ref);
            if (held != e.message_id) {
                out.count(record_kind::message, size);
                undecodable(out, key + " seq " + std::to_string(e.seq),
                            "the entry references message " + std::to_string(e.message_id) +
                                " but its reference field names " + std::to_string(held),
                            id);
                continue;
            }
            if (const auto it = states.find(e.seq); it != states.end()) {
                e.state = it->second.first;
                e.packet_id = it->second.second;
            }
            out.count(e.state == storage::queue_state::queued ? record_kind::message
                                                              : record_kind::inflight,
                      size);
            c.queue.emplace(e.seq, std::move(e));
        }
        for (const auto& [seq, mid] : refs) {
            undecodable(out, key + " seq " + std::to_string(seq),
                        "a reference field (message " + std::to_string(mid) + ") without its entry",
                        id);
        }
    }

    std::string prefix_;
    std::string url_;
    std::unique_ptr<rd::connection> conn_;
    rd::global_keys keys_;
    std::unique_ptr<storage::store> store_;
};

}  // namespace

std::unique_ptr<store_source> open_redis_source(const store_target& t, access a, bool live,
                                                bool force) {
    return std::make_unique<redis_source>(t, a, live, force);
}

}  // namespace rmqtt::store_tool
