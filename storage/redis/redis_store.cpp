// The Redis session-store engine (hiredis, synchronous API). Key layout: redis_layout.hpp.
//
// Shared messages (put_message): see the scripts below and docs/store-format.md.
//
// Writes: one write() is one pipeline (every command appended, then every reply read: one round
// trip) and one MULTI ... EXEC transaction: a crash, a lost connection or an error while queueing
// (EXECABORT) applies none of it; an error while EXEC runs (WRONGTYPE on a foreign key) leaves
// the other commands applied and fails the write, so nothing is acknowledged. The
// operations of one client id form one block whose keys share one hash slot. The recovery index
// <prefix>:sessions: ZADD before a block whose last session operation is put_session, ZREM after
// one whose last is delete_session; an index entry without a record (left by an older version or
// by a manual change) reads as an expired session and is cleaned up by for_each_session.
//
// Expiry: put_session of a disconnected session sets PEXPIREAT (deadline + grace) on all keys of
// the session, a connected one PERSISTs them. A block that creates keys of a session after its
// last put_session ends with a script that copies the session key's deadline onto them, so a
// message queued while offline expires with its session. Redis is only the backstop: the broker
// expires sessions itself, first.

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "reader_gate.hpp"
#include "redis_connection.hpp"
#include "redis_layout.hpp"
#include "rmqtt/storage/store.hpp"
#include "rmqtt/storage/value_codec.hpp"

namespace rmqtt::storage {

namespace {

using namespace redis_detail;

constexpr std::size_t max_client_id_size = 65535;
// Redis deletes a disconnected session's keys this long after the broker's own deadline (or
// after the write, if that deadline has already passed), so the broker's expiry always runs
// first: it may still publish the will or count the session.
constexpr std::int64_t expiry_grace_ms = 60'000;
// Deadlines beyond 9999-12-31 are kept without a TTL.
constexpr std::int64_t max_expire_at_ms = 253'402'300'799'999;
constexpr std::size_t page_size = 256;     // index entries per ZRANGEBYLEX page
constexpr std::size_t hmget_chunk = 1024;  // fields per HMGET

// KEYS[1] = queue hash, ARGV[1] = seq8, ARGV[2] = state bytes. Changes the state of an existing
// entry only: update_queue_entry on a missing entry creates nothing.
constexpr std::string_view update_entry_lua =
    "if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then "
    "redis.call('HSET', KEYS[1], ARGV[1] .. 's', ARGV[2]) return 1 end return 0";
// KEYS[1] = session key, KEYS[2..] = keys just created: they get the session key's deadline.
constexpr std::string_view inherit_deadline_lua_v7 =
    "local t = redis.call('PEXPIRETIME', KEYS[1]) if t > 0 then "
    "for i = 2, #KEYS do redis.call('PEXPIREAT', KEYS[i], t) end end return t";
// Before Redis 7.0 (no PEXPIRETIME): the remaining TTL, read and applied within one script.
constexpr std::string_view inherit_deadline_lua_v6 =
    "local t = redis.call('PTTL', KEYS[1]) if t > 0 then "
    "for i = 2, #KEYS do redis.call('PEXPIRE', KEYS[i], t) end end return t";

// KEYS[1] = session key, KEYS[2..5] = the session's other keys, KEYS[6] = the sessions index,
// ARGV[1] = client id. Removes what an expired session left behind, unless a put_session has
// recreated the session since it was found missing (a reader runs while the store writes).
// KEYS[7] = shared messages, KEYS[8] = their counts: the queue's references are released (a
// message left without one is deleted) before the queue goes.
constexpr std::string_view remove_orphan_lua =
    "if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end "
    "for _, f in ipairs(redis.call('HKEYS', KEYS[3])) do "
    "if #f == 9 and string.byte(f, 9) == 109 then "
    "local m = redis.call('HGET', KEYS[3], f) "
    "if redis.call('HINCRBY', KEYS[8], m, -1) <= 0 then "
    "redis.call('HDEL', KEYS[7], m) redis.call('HDEL', KEYS[8], m) end end end "
    "redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5]) "
    "redis.call('ZREM', KEYS[6], ARGV[1]) return 1";

// Shared messages (put_message). Every script below runs inside the write's MULTI/EXEC, so the
// counts change in the same atomic unit as the entries. An entry that references a message has
// the field seq8 + "m" = id8 in its queue hash (redis_layout.hpp); a count that reaches 0 puts
// the id in the "freed" set, and the last script of the transaction deletes every message of
// that set and of the batch's put_message ids whose count is then 0 (or missing): a message is
// removed at the end of the write, not when its count first reaches 0, as RocksDB does.
//
// KEYS[1] = queue hash, KEYS[2] = counts, KEYS[3] = freed set, ARGV[1] = seq8. Releases the
// entry's reference, if it has one, and deletes the entry's fields (value, state, reference).
constexpr std::string_view delete_entry_lua =
    "local f = ARGV[1] .. 'm' local m = redis.call('HGET', KEYS[1], f) "
    "if m then if redis.call('HINCRBY', KEYS[2], m, -1) <= 0 then "
    "redis.call('SADD', KEYS[3], m) end end "
    "redis.call('HDEL', KEYS[1], ARGV[1], ARGV[1] .. 's', f) return 0";
// KEYS[1] = queue hash, KEYS[2] = counts, KEYS[3] = freed set, KEYS[4..] = every key of the
// session. Releases the references of every entry of the queue, then deletes the session's keys
// (delete_session).
constexpr std::string_view delete_session_lua =
    "for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do "
    "if #f == 9 and string.byte(f, 9) == 109 then "
    "local m = redis.call('HGET', KEYS[1], f) "
    "if redis.call('HINCRBY', KEYS[2], m, -1) <= 0 then "
    "redis.call('SADD', KEYS[3], m) end end end "
    "for i = 4, #KEYS do redis.call('DEL', KEYS[i]) end return 0";
// KEYS[1] = counts, ARGV[1] = id8: one more reference (put_queue_entry). A script, as every
// count change but the recount's absolute one: a NOSCRIPT error fails every script of the
// transaction and none of them ran, so the replay (write()) counts each reference once.
constexpr std::string_view add_reference_lua = "return redis.call('HINCRBY', KEYS[1], ARGV[1], 1)";
// KEYS[1] = shared messages, KEYS[2] = counts, KEYS[3] = freed set, ARGV = the ids put in the
// batch. Deletes every candidate message whose count is 0 or missing, then the freed set.
constexpr std::string_view collect_messages_lua =
    "local ids = redis.call('SMEMBERS', KEYS[3]) "
    "for i = 1, #ARGV do ids[#ids + 1] = ARGV[i] end "
    "local n = 0 "
    "for _, m in ipairs(ids) do "
    "local c = tonumber(redis.call('HGET', KEYS[2], m) or '0') "
    "if c ~= nil and c <= 0 then redis.call('HDEL', KEYS[1], m) redis.call('HDEL', KEYS[2], m) "
    "n = n + 1 end end "
    "redis.call('DEL', KEYS[3]) return n";

template <class... Fs>
struct overloaded : Fs... {
    using Fs::operator()...;
};
template <class... Fs>
overloaded(Fs...) -> overloaded<Fs...>;

// A key or member for a message: client ids and topics may be binary and 64 KiB long.
std::string printable(std::string_view s) {
    std::string out;
    const std::size_t shown = std::min<std::size_t>(s.size(), 200);
    for (std::size_t i = 0; i < shown; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out += static_cast<char>(c);
        } else {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    if (s.size() > shown) out += "...(" + std::to_string(s.size()) + " bytes)";
    return out;
}

bool starts_with_any(std::string_view s, std::initializer_list<std::string_view> prefixes) {
    return std::any_of(prefixes.begin(), prefixes.end(),
                       [&](std::string_view p) { return s.starts_with(p); });
}

std::optional<std::string_view> client_of(const operation& op) {
    return std::visit(
        overloaded{
            [](const put_session& o) -> std::optional<std::string_view> {
                return o.record.client_id;
            },
            [](const delete_session& o) -> std::optional<std::string_view> { return o.client_id; },
            [](const put_subscription& o) -> std::optional<std::string_view> {
                return o.client_id;
            },
            [](const delete_subscription& o) -> std::optional<std::string_view> {
                return o.client_id;
            },
            [](const put_queue_entry& o) -> std::optional<std::string_view> { return o.client_id; },
            [](const update_queue_entry& o) -> std::optional<std::string_view> {
                return o.client_id;
            },
            [](const delete_queue_entry& o) -> std::optional<std::string_view> {
                return o.client_id;
            },
            [](const put_inbound_qos2& o) -> std::optional<std::string_view> {
                return o.client_id;
            },
            [](const delete_inbound_qos2& o) -> std::optional<std::string_view> {
                return o.client_id;
            },
            [](const put_retained&) -> std::optional<std::string_view> { return std::nullopt; },
            [](const delete_retained&) -> std::optional<std::string_view> { return std::nullopt; },
            [](const put_meta&) -> std::optional<std::string_view> { return std::nullopt; },
            [](const put_message&) -> std::optional<std::string_view> { return std::nullopt; },
            [](const delete_message&) -> std::optional<std::string_view> { return std::nullopt; },
        },
        op);
}

std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
    if (b > 0 && a > std::numeric_limits<std::int64_t>::max() - b) {
        return std::numeric_limits<std::int64_t>::max();
    }
    if (b < 0 && a < std::numeric_limits<std::int64_t>::min() - b) {
        return std::numeric_limits<std::int64_t>::min();
    }
    return a + b;
}

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The PEXPIREAT time for a session's keys, or nullopt to keep them without a TTL.
std::optional<std::int64_t> key_deadline(const session_record& r) {
    if (r.disconnected_at_ms == 0 || r.expiry_interval_s == never_expires) return std::nullopt;
    const std::int64_t deadline =
        saturating_add(r.disconnected_at_ms, static_cast<std::int64_t>(r.expiry_interval_s) * 1000);
    const std::int64_t at = saturating_add(std::max(deadline, now_ms()), expiry_grace_ms);
    if (at > max_expire_at_ms) return std::nullopt;
    return at;
}

// Commands of one atomic block, each with the key its errors are reported under.
struct block {
    command_buffer cmds;
    std::vector<const std::string*> keys;
    template <class... Args>
    void add(const std::string& key, const Args&... args) {
        cmds.add(args...);
        keys.push_back(&key);
    }
};

// What the reply to a pipelined command must be checked for.
struct expectation {
    enum class kind : std::uint8_t { plain, multi, queued, exec };
    kind k = kind::plain;
    const std::string* key = nullptr;  // plain / multi / queued
    std::size_t first_queued = 0;      // exec: index of its first queued command
};

// A decimal packet id (0..65535), strictly.
bool parse_packet_id(std::string_view s, std::uint16_t& out) {
    if (s.empty() || s.size() > 5) return false;
    unsigned v = 0;
    for (const char c : s) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v > 65535 || (s.size() > 1 && s[0] == '0')) return false;
    out = static_cast<std::uint16_t>(v);
    return true;
}

// Statuses that name the server and the key, for the store and its readers.
class redis_errors {
  protected:
    explicit redis_errors(const redis_url& url) : where_("redis " + url.display()) {}

    // Maps an error reply to a status naming the key.
    status reply_error(std::string_view error, std::string_view key) const;
    status corrupt(std::string_view key, std::string_view what) const {
        return status::error(status::code::corruption,
                             where_ + " key '" + printable(key) + "': " + std::string(what));
    }
    // Checks that a reply is an array of bulk strings.
    status expect_string_array(const redisReply& r, std::string_view key) const;

    std::string where_;  // "redis <url without password>"
};

// Reads over one connection: the store's own (its reads on the writer's thread) or, for a reader
// from open_reader(), a connection of its own to the same server, used by one other thread.
class redis_reader final : public store_reader, private redis_errors {
  public:
    redis_reader(std::string prefix, std::string location, connection& conn,
                 std::shared_ptr<detail::reader_gate> gate)
        : redis_errors(conn.url()),
          prefix_(std::move(prefix)),
          location_(std::move(location)),
          keys_(make_global_keys(prefix_)),
          conn_(&conn),
          gate_(std::move(gate)) {}
    redis_reader(std::string prefix, std::string location, std::unique_ptr<connection> own,
                 std::shared_ptr<detail::reader_gate> gate)
        : redis_reader(std::move(prefix), std::move(location), *own, std::move(gate)) {
        own_ = std::move(own);
    }

    status for_each_session(const std::function<bool(session_record&&)>& fn) override;
    status load_subscriptions(std::string_view client_id,
                              std::vector<subscription_record>& out) override;
    status load_queue(std::string_view client_id, std::uint64_t from_seq, std::size_t limit,
                      std::vector<queue_entry>& out) override;
    status load_queue_bounds(std::string_view client_id, std::optional<queue_bounds>& out) override;
    status load_inbound_qos2(std::string_view client_id, std::vector<std::uint16_t>& out) override;
    status load_recovery_state(const std::vector<std::string>& client_ids,
                               std::vector<recovery_state>& out) override;
    status for_each_retained(const std::function<bool(message_record&&)>& fn) override;
    status for_each_message(
        const std::function<bool(std::uint64_t id, message_record&&)>& fn) override;
    status get_meta(std::string_view key, std::optional<std::string>& out) override;
    // The ids of the stored shared messages, ascending (HKEYS).
    status message_ids(std::vector<std::uint64_t>& out);

  private:
    using pass = detail::reader_gate::pass;
    status closed_error() const {
        return status::error(status::code::invalid_argument,
                             "redis store " + location_ + " is closed");
    }
    // Connects if needed, then one pipeline round trip.
    status exchange(const command_buffer& cmds, std::vector<reply_ptr>& replies);
    status parse_subscriptions(const redisReply& r, const std::string& key,
                               std::vector<subscription_record>& out) const;
    status parse_bounds(const redisReply& first, const redisReply& last, const std::string& key,
                        std::optional<queue_bounds>& out) const;
    status parse_inbound_qos2(const redisReply& r, const std::string& key,
                              std::vector<std::uint16_t>& out) const;
    // Fills the message of each entry that references a shared message; an entry deleted since
    // it was read (its value gone) is dropped from `entries`.
    status resolve_shared(const session_keys& k, std::vector<queue_entry>& entries);
    // ZRANGEBYLEX key (after-last or from the start) + LIMIT 0 page_size.
    status index_page(const std::string& key, const std::optional<std::string>& after,
                      std::vector<std::string>& members);
    // For index members whose values were missing when read: in one transaction, whether each
    // is still in `index` (ZSCORE) and its fields of `hash` (HMGET). `results` points into
    // `replies` at the EXEC reply: ZSCORE and HMGET replies alternating, two per member.
    status reread(const std::string& index, const std::string& hash,
                  const std::vector<std::string>& members,
                  const std::vector<std::vector<std::string>>& fields,
                  std::vector<reply_ptr>& replies, const redisReply*& results);

    std::string prefix_;
    std::string location_;
    global_keys keys_;
    std::unique_ptr<connection> own_;  // set for a reader from open_reader()
    connection* conn_;
    std::shared_ptr<detail::reader_gate> gate_;
};

class redis_store final : public store, private redis_errors {
  public:
    redis_store(redis_options opts, redis_url url)
        : redis_errors(url),
          opts_(std::move(opts)),
          conn_(connection::options{std::move(url),
                                    std::chrono::milliseconds(opts_.connect_timeout_ms),
                                    std::chrono::milliseconds(opts_.command_timeout_ms)}),
          keys_(make_global_keys(opts_.prefix)),
          gate_(std::make_shared<detail::reader_gate>()),
          reads_(opts_.prefix, location(), conn_, gate_) {}

    ~redis_store() override { (void)close(); }  // nothing to flush; close only frees

    std::string_view engine_name() const noexcept override { return "redis"; }
    std::string location() const override {
        return conn_.url().display() + " prefix " + opts_.prefix;
    }

    // Startup checks (server version, mode, persistence and eviction settings).
    status probe(std::vector<std::string>& warnings);

    status write(const write_batch& batch) override;
    std::uint64_t bytes_written() const noexcept override { return bytes_written_; }
    status for_each_session(const std::function<bool(session_record&&)>& fn) override {
        return reads_.for_each_session(fn);
    }
    status load_subscriptions(std::string_view client_id,
                              std::vector<subscription_record>& out) override {
        return reads_.load_subscriptions(client_id, out);
    }
    status load_queue(std::string_view client_id, std::uint64_t from_seq, std::size_t limit,
                      std::vector<queue_entry>& out) override {
        return reads_.load_queue(client_id, from_seq, limit, out);
    }
    status load_queue_bounds(std::string_view client_id,
                             std::optional<queue_bounds>& out) override {
        return reads_.load_queue_bounds(client_id, out);
    }
    status load_inbound_qos2(std::string_view client_id, std::vector<std::uint16_t>& out) override {
        return reads_.load_inbound_qos2(client_id, out);
    }
    status load_recovery_state(const std::vector<std::string>& client_ids,
                               std::vector<recovery_state>& out) override {
        return reads_.load_recovery_state(client_ids, out);
    }
    status for_each_retained(const std::function<bool(message_record&&)>& fn) override {
        return reads_.for_each_retained(fn);
    }
    status for_each_message(
        const std::function<bool(std::uint64_t id, message_record&&)>& fn) override {
        return reads_.for_each_message(fn);
    }
    status get_meta(std::string_view key, std::optional<std::string>& out) override {
        return reads_.get_meta(key, out);
    }
    bool supports_shared_messages() const noexcept override { return true; }
    status max_message_id(std::uint64_t& out) override {
        std::vector<std::uint64_t> ids;
        status st = reads_.message_ids(ids);
        out = ids.empty() ? 0 : ids.back();
        return st;
    }
    status open_reader(std::unique_ptr<store_reader>& out) override;
    status check() override;
    status close() override;

  private:
    status closed_error() const {
        return status::error(status::code::invalid_argument,
                             "redis store " + location() + " is closed");
    }
    // Not closed, connected, scripts loaded.
    status ready();
    // ready(), then one pipeline round trip.
    status exchange(const command_buffer& cmds, std::vector<reply_ptr>& replies);
    status write_once(const write_batch& batch, bool& noscript);
    // invalid_argument if a put_queue_entry references a message that is neither stored nor put
    // earlier in the batch (deleted by a delete_message earlier in it: not stored). Reads the
    // ids the batch does not put first (one round trip; this store is the only writer).
    status check_references(const write_batch& batch);
    void add_session_block(std::string_view client_id, const std::vector<const operation*>& ops,
                           const session_keys& k, command_buffer& out,
                           std::vector<expectation>& expect);

    redis_options opts_;
    connection conn_;
    global_keys keys_;
    bool closed_ = false;
    bool has_pexpiretime_ = true;
    std::string update_sha_;
    std::string inherit_sha_;
    std::string delete_entry_sha_;
    std::string delete_session_sha_;
    std::string add_reference_sha_;
    std::string collect_sha_;
    std::uint64_t scripts_generation_ = 0;  // conn_.generation() the scripts were loaded on
    std::uint64_t bytes_written_ = 0;       // commands of the writes that succeeded
    std::shared_ptr<detail::reader_gate> gate_;
    redis_reader reads_;  // the store's own reads, over conn_
};

// ---- connection state --------------------------------------------------------------------------

status redis_store::ready() {
    if (closed_) return closed_error();
    status st = conn_.ensure();
    if (!st) return st;
    if (scripts_generation_ == conn_.generation()) return status::ok();
    // Scripts live in the server's script cache, which a Redis restart empties: load them on
    // every new connection.
    command_buffer cmds;
    cmds.add("SCRIPT", "LOAD", update_entry_lua);
    cmds.add("SCRIPT", "LOAD",
             has_pexpiretime_ ? inherit_deadline_lua_v7 : inherit_deadline_lua_v6);
    cmds.add("SCRIPT", "LOAD", delete_entry_lua);
    cmds.add("SCRIPT", "LOAD", delete_session_lua);
    cmds.add("SCRIPT", "LOAD", collect_messages_lua);
    cmds.add("SCRIPT", "LOAD", add_reference_lua);
    std::vector<reply_ptr> replies;
    st = conn_.exchange(cmds, replies);
    if (!st) return st;
    for (const auto& r : replies) {
        if (kind_of(*r) == reply_kind::error) return reply_error(text_of(*r), "SCRIPT LOAD");
        if (kind_of(*r) != reply_kind::string) {
            return status::error(status::code::io_error, "redis " + conn_.url().display() +
                                                             ": unexpected SCRIPT LOAD reply");
        }
    }
    update_sha_ = std::string(text_of(*replies[0]));
    inherit_sha_ = std::string(text_of(*replies[1]));
    delete_entry_sha_ = std::string(text_of(*replies[2]));
    delete_session_sha_ = std::string(text_of(*replies[3]));
    collect_sha_ = std::string(text_of(*replies[4]));
    add_reference_sha_ = std::string(text_of(*replies[5]));
    scripts_generation_ = conn_.generation();
    return status::ok();
}

status redis_store::exchange(const command_buffer& cmds, std::vector<reply_ptr>& replies) {
    status st = ready();
    if (!st) return st;
    return conn_.exchange(cmds, replies);
}

status redis_errors::reply_error(std::string_view error, std::string_view key) const {
    status::code code = status::code::io_error;
    if (error.find("WRONGTYPE") != std::string_view::npos) {
        code = status::code::corruption;  // a key of ours holds another type: not our data
    } else if (starts_with_any(error, {"LOADING", "BUSY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN",
                                       "READONLY", "NOREPLICAS"})) {
        code = status::code::unavailable;  // transient server states: retrying may succeed
    } else if (starts_with_any(error, {"NOAUTH", "WRONGPASS", "NOPERM"})) {
        code = status::code::invalid_argument;  // credentials or ACL: a configuration error
    }
    return status::error(code, where_ + " key '" + printable(key) + "': " + std::string(error));
}

status redis_errors::expect_string_array(const redisReply& r, std::string_view key) const {
    if (kind_of(r) == reply_kind::error) return reply_error(text_of(r), key);
    if (kind_of(r) != reply_kind::array) return corrupt(key, "unexpected reply type");
    for (std::size_t i = 0; i < size_of(r); ++i) {
        if (kind_of(element_of(r, i)) != reply_kind::string) {
            return corrupt(key, "unexpected reply element type");
        }
    }
    return status::ok();
}

status redis_store::check() {
    command_buffer cmds;
    cmds.add("PING");
    std::vector<reply_ptr> replies;
    status st = exchange(cmds, replies);
    if (!st) return st;
    if (kind_of(*replies[0]) == reply_kind::error) return reply_error(text_of(*replies[0]), "PING");
    return status::ok();
}

status redis_store::open_reader(std::unique_ptr<store_reader>& out) {
    const detail::reader_gate::pass entered(*gate_);
    if (!entered) return closed_error();
    auto conn = std::make_unique<connection>(
        connection::options{conn_.url(), std::chrono::milliseconds(opts_.connect_timeout_ms),
                            std::chrono::milliseconds(opts_.command_timeout_ms)});
    out = std::make_unique<redis_reader>(opts_.prefix, location(), std::move(conn), gate_);
    return status::ok();
}

status redis_store::close() {
    gate_->close();  // waits for reader calls in progress; later ones fail
    closed_ = true;
    conn_.disconnect();
    return status::ok();
}

// ---- startup checks ----------------------------------------------------------------------------

status redis_store::probe(std::vector<std::string>& warnings) {
    status st = conn_.ensure();
    if (!st) return st;
    command_buffer cmds;
    cmds.add("INFO", "server");
    cmds.add("CONFIG", "GET", "maxmemory-policy");
    cmds.add("CONFIG", "GET", "appendonly");
    cmds.add("CONFIG", "GET", "appendfsync");
    std::vector<reply_ptr> replies;
    st = conn_.exchange(cmds, replies);
    if (!st) return st;
    const std::string where = "redis " + conn_.url().display();

    if (kind_of(*replies[0]) == reply_kind::error) return reply_error(text_of(*replies[0]), "INFO");
    const std::string_view info = text_of(*replies[0]);
    auto info_field = [&](std::string_view name) -> std::string {
        const std::string needle = std::string(name) + ":";
        std::size_t pos = 0;
        while ((pos = info.find(needle, pos)) != std::string_view::npos) {
            if (pos == 0 || info[pos - 1] == '\n') {
                const auto start = pos + needle.size();
                const auto end = info.find_first_of("\r\n", start);
                return std::string(info.substr(start, end - start));
            }
            pos += needle.size();
        }
        return {};
    };
    const std::string version = info_field("redis_version");
    int major = 0;
    int minor = 0;
    {
        const auto dot = version.find('.');
        std::from_chars(version.data(), version.data() + version.size(), major);
        if (dot != std::string::npos) {
            std::from_chars(version.data() + dot + 1, version.data() + version.size(), minor);
        }
    }
    if (major == 0) {
        warnings.push_back(where + ": cannot read the server version from INFO; assuming 7.0");
        major = 7;
    }
    has_pexpiretime_ = major >= 7;
    const bool has_waitaof = major > 7 || (major == 7 && minor >= 2);
    if (info_field("redis_mode") == "cluster") {
        return status::error(
            status::code::invalid_argument,
            where +
                " is a Redis Cluster node: this engine does not follow MOVED/ASK redirects "
                "(its keys are cluster-ready: one hash slot per session); use a standalone "
                "Redis or a proxy");
    }

    // CONFIG may be renamed or disabled (managed Redis): then the settings cannot be checked.
    auto config_value = [&](std::size_t i, std::string& out) -> std::optional<std::string> {
        const redisReply& r = *replies[i];
        if (kind_of(r) == reply_kind::error) return std::string(text_of(r));
        if (kind_of(r) == reply_kind::array && size_of(r) == 2 &&
            kind_of(element_of(r, 1)) == reply_kind::string) {
            out = std::string(text_of(element_of(r, 1)));
            return std::nullopt;
        }
        return std::string("no value");
    };
    std::string policy;
    std::string appendonly;
    std::string appendfsync;
    const auto policy_err = config_value(1, policy);
    const auto appendonly_err = config_value(2, appendonly);
    const auto appendfsync_err = config_value(3, appendfsync);
    if (policy_err || appendonly_err || appendfsync_err) {
        const std::string err = policy_err       ? *policy_err
                                : appendonly_err ? *appendonly_err
                                                 : *appendfsync_err;
        warnings.push_back(where + ": CONFIG GET failed (" + err +
                           "): cannot check maxmemory-policy, appendonly and appendfsync; make "
                           "sure maxmemory-policy is noeviction (eviction silently deletes "
                           "sessions) and appendonly is yes");
    }
    if (!policy_err && policy != "noeviction") {
        return status::error(
            status::code::invalid_argument,
            where + ": maxmemory-policy is '" + policy +
                "': it lets Redis evict session keys when memory is full, silently losing "
                "sessions and queued messages; set maxmemory-policy noeviction (writes then fail "
                "with OOM and rmqttd applies back-pressure)");
    }
    const std::string waitaof_note =
        has_waitaof ? "rmqttd does not wait for WAITAOF"
                    : "Redis " + version +
                          " has no WAITAOF (7.2+), so rmqttd cannot wait for the "
                          "fsync before acknowledging";
    if (!appendonly_err && appendonly != "yes") {
        warnings.push_back(where +
                           ": appendonly is off: a Redis crash or restart loses sessions and "
                           "queued messages written since the last RDB snapshot, even those "
                           "rmqttd acknowledged; set appendonly yes");
    } else if (!appendonly_err && !appendfsync_err && appendfsync == "everysec") {
        warnings.push_back(where +
                           ": appendfsync is everysec: a crash of Redis or its host can lose up "
                           "to about 2 seconds of writes rmqttd already acknowledged (" +
                           waitaof_note + "); set appendfsync always to close this window");
    } else if (!appendonly_err && !appendfsync_err && appendfsync != "always") {
        warnings.push_back(where + ": appendfsync is " + appendfsync +
                           ": the kernel decides when the AOF reaches the disk, so a crash of "
                           "the Redis host can lose tens of seconds of writes rmqttd already "
                           "acknowledged (" +
                           waitaof_note + "); set appendfsync always to close this window");
    }
    return ready();
}

// ---- writes ------------------------------------------------------------------------------------

status redis_store::write(const write_batch& batch) {
    if (closed_) return closed_error();
    // Validate first, so a rejected batch applies nothing.
    for (const auto& op : batch.ops) {
        const auto* pm = std::get_if<put_message>(&op);
        if (pm && pm->id == 0) {
            return status::error(status::code::invalid_argument, "shared message id 0");
        }
        const auto cid = client_of(op);
        if (cid && cid->size() > max_client_id_size) {
            return status::error(status::code::invalid_argument,
                                 "client id of " + std::to_string(cid->size()) +
                                     " bytes is longer than 65535 bytes");
        }
    }
    if (batch.empty()) return status::ok();
    if (status st = check_references(batch); !st) return st;
    bool noscript = false;
    status st = write_once(batch, noscript);
    if (noscript) {
        // The script cache was flushed (SCRIPT FLUSH) under a live connection. Every operation
        // sets a value, deletes, or updates an entry only if it exists, so applying the batch
        // again over a partly applied one gives the same result: reload and replay once. The
        // shared messages' counts change only in scripts (NOSCRIPT fails all of them, so none
        // ran) or are set to absolute values (a recount), so they too are counted once. Not
        // covered: an entry deleted and put again under its seq with another message in one
        // batch (the broker never does; the tools' recount puts the same message back).
        scripts_generation_ = 0;
        noscript = false;
        st = write_once(batch, noscript);
    }
    return st;
}

void redis_store::add_session_block(std::string_view client_id,
                                    const std::vector<const operation*>& ops, const session_keys& k,
                                    command_buffer& out, std::vector<expectation>& expect) {
    block b;
    // Keys created after the last put_session of this block (that one set their expiry).
    bool new_subs = false;
    bool new_queue = false;
    bool new_qos2 = false;
    std::optional<bool> last_is_put;  // the last put_session / delete_session of the block
    const std::string* all_keys[] = {&k.session, &k.subscriptions, &k.queue, &k.queue_index,
                                     &k.inbound_qos2};
    for (const operation* op : ops) {
        std::visit(overloaded{
                       [&](const put_session& o) {
                           b.add(k.session, "SET", k.session, encode_value(o.record));
                           if (const auto at = key_deadline(o.record)) {
                               for (const std::string* key : all_keys) {
                                   b.add(*key, "PEXPIREAT", *key, *at);
                               }
                           } else {
                               // SET already cleared the session key's TTL.
                               for (const std::string* key : all_keys) {
                                   if (key != &k.session) b.add(*key, "PERSIST", *key);
                               }
                           }
                           new_subs = new_queue = new_qos2 = false;
                           last_is_put = true;
                       },
                       [&](const delete_session&) {
                           b.add(k.session, "EVALSHA", delete_session_sha_, "8", k.queue,
                                 keys_.shared_refs, keys_.shared_freed, k.session, k.subscriptions,
                                 k.queue, k.queue_index, k.inbound_qos2);
                           new_subs = new_queue = new_qos2 = false;
                           last_is_put = false;
                       },
                       [&](const put_subscription& o) {
                           b.add(k.subscriptions, "HSET", k.subscriptions, o.record.filter,
                                 encode_value(o.record));
                           new_subs = true;
                       },
                       [&](const delete_subscription& o) {
                           b.add(k.subscriptions, "HDEL", k.subscriptions, o.filter);
                       },
                       [&](const put_queue_entry& o) {
                           const std::string f = seq_field(o.entry.seq);
                           if (const std::uint64_t id = o.entry.message_id; id != 0) {
                               const std::string m = seq_field(id);
                               b.add(k.queue, "HSET", k.queue, f, encode_value(o.entry),
                                     state_field(o.entry.seq),
                                     encode_state(o.entry.state, o.entry.packet_id),
                                     ref_field(o.entry.seq), m);
                               b.add(keys_.shared_refs, "EVALSHA", add_reference_sha_, "1",
                                     keys_.shared_refs, m);
                           } else {
                               b.add(k.queue, "HSET", k.queue, f, encode_value(o.entry),
                                     state_field(o.entry.seq),
                                     encode_state(o.entry.state, o.entry.packet_id));
                           }
                           b.add(k.queue_index, "ZADD", k.queue_index, "0", f);
                           new_queue = true;
                       },
                       [&](const update_queue_entry& o) {
                           b.add(k.queue, "EVALSHA", update_sha_, "1", k.queue, seq_field(o.seq),
                                 encode_state(o.state, o.packet_id));
                       },
                       [&](const delete_queue_entry& o) {
                           b.add(k.queue, "EVALSHA", delete_entry_sha_, "3", k.queue,
                                 keys_.shared_refs, keys_.shared_freed, seq_field(o.seq));
                           b.add(k.queue_index, "ZREM", k.queue_index, seq_field(o.seq));
                       },
                       [&](const put_inbound_qos2& o) {
                           b.add(k.inbound_qos2, "SADD", k.inbound_qos2, o.packet_id);
                           new_qos2 = true;
                       },
                       [&](const delete_inbound_qos2& o) {
                           b.add(k.inbound_qos2, "SREM", k.inbound_qos2, o.packet_id);
                       },
                       [](const put_retained&) {},
                       [](const delete_retained&) {},
                       [](const put_meta&) {},
                       [](const put_message&) {},
                       [](const delete_message&) {},
                   },
                   *op);
    }
    if (new_subs || new_queue || new_qos2) {
        const std::size_t nkeys = 1 + (new_subs ? 1 : 0) + (new_queue ? 2 : 0) + (new_qos2 ? 1 : 0);
        b.cmds.begin(3 + nkeys);
        b.cmds.arg("EVALSHA");
        b.cmds.arg(inherit_sha_);
        b.cmds.arg(nkeys);
        b.cmds.arg(k.session);
        if (new_subs) b.cmds.arg(k.subscriptions);
        if (new_queue) {
            b.cmds.arg(k.queue);
            b.cmds.arg(k.queue_index);
        }
        if (new_qos2) b.cmds.arg(k.inbound_qos2);
        b.keys.push_back(&k.session);
    }

    // The whole write() is one MULTI/EXEC (see write_once): every command here is queued in it.
    if (last_is_put == true) {
        out.add("ZADD", keys_.sessions_index, "0", client_id);
        expect.push_back({expectation::kind::queued, &keys_.sessions_index, 0});
    }
    out.append(b.cmds);
    for (const std::string* key : b.keys)
        expect.push_back({expectation::kind::queued, key, 0});
    if (last_is_put == false) {
        out.add("ZREM", keys_.sessions_index, client_id);
        expect.push_back({expectation::kind::queued, &keys_.sessions_index, 0});
    }
}

status redis_store::check_references(const write_batch& batch) {
    // Ids referenced before the batch puts or deletes them: their stored state counts.
    std::unordered_map<std::uint64_t, bool> known;  // id -> exists at this point of the batch
    std::vector<std::uint64_t> unknown;
    for (const auto& op : batch.ops) {
        if (const auto* pm = std::get_if<put_message>(&op)) {
            known.try_emplace(pm->id, true);
        } else if (const auto* dm = std::get_if<delete_message>(&op)) {
            known.try_emplace(dm->id, false);
        } else if (const auto* put = std::get_if<put_queue_entry>(&op)) {
            const std::uint64_t id = put->entry.message_id;
            if (id != 0 && known.try_emplace(id, true).second) unknown.push_back(id);
        }
    }
    if (known.empty()) return status::ok();  // no shared message in the batch
    if (!unknown.empty()) {
        command_buffer cmds;
        cmds.begin(2 + unknown.size());
        cmds.arg("HMGET");
        cmds.arg(keys_.shared_messages);
        for (const std::uint64_t id : unknown)
            cmds.arg(seq_field(id));
        std::vector<reply_ptr> replies;
        status st = exchange(cmds, replies);
        if (!st) return st;
        const redisReply& r = *replies[0];
        if (kind_of(r) == reply_kind::error) {
            return reply_error(text_of(r), keys_.shared_messages);
        }
        if (kind_of(r) != reply_kind::array || size_of(r) != unknown.size()) {
            return corrupt(keys_.shared_messages, "unexpected reply type");
        }
        for (std::size_t i = 0; i < unknown.size(); ++i) {
            known[unknown[i]] = kind_of(element_of(r, i)) != reply_kind::nil;
        }
    }
    // Walk the batch in order with the stored state as the start.
    std::unordered_map<std::uint64_t, bool> exists;
    for (const std::uint64_t id : unknown)
        exists[id] = known[id];
    for (const auto& op : batch.ops) {
        if (const auto* pm = std::get_if<put_message>(&op)) {
            exists[pm->id] = true;
        } else if (const auto* dm = std::get_if<delete_message>(&op)) {
            exists[dm->id] = false;
        } else if (const auto* put = std::get_if<put_queue_entry>(&op)) {
            const std::uint64_t id = put->entry.message_id;
            if (id != 0 && !exists[id]) {
                return status::error(status::code::invalid_argument,
                                     "queue entry " + std::to_string(put->entry.seq) + " of '" +
                                         printable(put->client_id) + "' references message " +
                                         std::to_string(id) + ", which is not stored");
            }
        }
    }
    return status::ok();
}

status redis_store::write_once(const write_batch& batch, bool& noscript) {
    status st = ready();
    if (!st) return st;

    // Group by client id, keeping each client's operation order. Different client ids touch
    // disjoint keys, so their relative order does not change the result.
    std::vector<std::pair<std::string_view, std::vector<const operation*>>> groups;
    std::unordered_map<std::string_view, std::size_t> group_of;
    std::vector<const operation*> global_ops;
    for (const auto& op : batch.ops) {
        const auto cid = client_of(op);
        if (!cid) {
            global_ops.push_back(&op);
            continue;
        }
        const auto [it, inserted] = group_of.try_emplace(*cid, groups.size());
        if (inserted) groups.emplace_back(*cid, std::vector<const operation*>{});
        groups[it->second].second.push_back(&op);
    }

    // One write() is one transaction: a kill -9 of rmqttd (or a lost connection) in the middle
    // of a batch applies none of it, so a publisher's inbound QoS 2 id is never stored without
    // the subscribers' queue entries of the same message (an error inside EXEC, only possible on
    // keys rmqttd did not write, fails the whole write). Redis Cluster would refuse a
    // cross-slot transaction; the engine refuses cluster mode at open.
    static const std::string transaction = "MULTI/EXEC";
    command_buffer cmds;
    std::vector<expectation> expect;
    cmds.add("MULTI");
    expect.push_back({expectation::kind::multi, &transaction, 0});
    // The shared messages first: the entries' references are counted after them, and the
    // removal of unreferenced ones ends the transaction.
    block shared;                      // put_message / delete_message, in batch order
    std::vector<std::string> put_ids;  // id8 of every put_message: candidates for removal
    bool releases = false;             // a delete_queue_entry or delete_session
    for (const auto& op : batch.ops) {
        if (std::holds_alternative<delete_queue_entry>(op) ||
            std::holds_alternative<delete_session>(op)) {
            releases = true;
        }
    }
    for (const operation* op : global_ops) {
        if (const auto* pm = std::get_if<put_message>(op)) {
            put_ids.push_back(seq_field(pm->id));
            shared.add(keys_.shared_messages, "HSET", keys_.shared_messages, put_ids.back(),
                       encode_value(pm->message));
            continue;
        }
        if (const auto* dm = std::get_if<delete_message>(op)) {
            const std::string m = seq_field(dm->id);
            shared.add(keys_.shared_messages, "HDEL", keys_.shared_messages, m);
            shared.add(keys_.shared_refs, "HDEL", keys_.shared_refs, m);
            continue;
        }
    }
    cmds.append(shared.cmds);
    for (const std::string* key : shared.keys)
        expect.push_back({expectation::kind::queued, key, 0});
    std::vector<session_keys> keys;  // referenced by `expect`: no reallocation after reserve
    keys.reserve(groups.size());
    for (const auto& [cid, ops] : groups) {
        keys.push_back(make_session_keys(opts_.prefix, cid));
        add_session_block(cid, ops, keys.back(), cmds, expect);
    }

    block retained;
    for (const operation* op : global_ops) {
        if (const auto* put = std::get_if<put_retained>(op)) {
            retained.add(keys_.retained_index, "ZADD", keys_.retained_index, "0",
                         put->message.topic);
            retained.add(keys_.retained_messages, "HSET", keys_.retained_messages,
                         put->message.topic, encode_value(put->message));
        } else if (const auto* del = std::get_if<delete_retained>(op)) {
            retained.add(keys_.retained_index, "ZREM", keys_.retained_index, del->topic);
            retained.add(keys_.retained_messages, "HDEL", keys_.retained_messages, del->topic);
        } else if (const auto* meta = std::get_if<put_meta>(op)) {
            cmds.add("HSET", keys_.meta, meta->key, meta->value);
            expect.push_back({expectation::kind::queued, &keys_.meta, 0});
        }
    }
    cmds.append(retained.cmds);
    for (const std::string* key : retained.keys)
        expect.push_back({expectation::kind::queued, key, 0});
    // delete_message drops the count with the message: the count is then that of the
    // references the batch puts after it (the store tools' recount: entries deleted, the
    // message deleted and put again, the entries put again). The session blocks above are
    // grouped by client, so it is set here, after them, from the batch order.
    std::vector<std::pair<std::string, std::int64_t>> recounts;
    {
        std::unordered_map<std::uint64_t, std::int64_t> after;  // id -> references put after
        std::map<std::pair<std::string_view, std::uint64_t>, std::uint64_t> counted;
        std::vector<std::uint64_t> order;
        for (const auto& op : batch.ops) {
            if (const auto* dm = std::get_if<delete_message>(&op)) {
                if (after.insert_or_assign(dm->id, 0).second) order.push_back(dm->id);
                for (auto it = counted.begin(); it != counted.end();) {
                    it = it->second == dm->id ? counted.erase(it) : std::next(it);
                }
            } else if (const auto* put = std::get_if<put_queue_entry>(&op)) {
                const auto it = after.find(put->entry.message_id);
                if (put->entry.message_id != 0 && it != after.end() &&
                    counted.try_emplace({put->client_id, put->entry.seq}, it->first).second) {
                    ++it->second;
                }
            } else if (const auto* del = std::get_if<delete_queue_entry>(&op)) {
                if (const auto it = counted.find({del->client_id, del->seq}); it != counted.end()) {
                    --after[it->second];
                    counted.erase(it);
                }
            } else if (const auto* ds = std::get_if<delete_session>(&op)) {
                for (auto it = counted.begin(); it != counted.end();) {
                    if (it->first.first == ds->client_id) {
                        --after[it->second];
                        it = counted.erase(it);
                    } else {
                        ++it;
                    }
                }
            }
        }
        for (const std::uint64_t id : order) {
            recounts.emplace_back(seq_field(id), after[id]);
            put_ids.push_back(recounts.back().first);  // a candidate for removal
        }
    }
    for (const auto& [id8, n] : recounts) {
        if (n > 0) {
            cmds.add("HSET", keys_.shared_refs, id8, n);
        } else {
            cmds.add("HDEL", keys_.shared_refs, id8);
        }
        expect.push_back({expectation::kind::queued, &keys_.shared_refs, 0});
    }
    if (releases || !put_ids.empty()) {
        cmds.begin(6 + put_ids.size());
        cmds.arg("EVALSHA");
        cmds.arg(collect_sha_);
        cmds.arg("3");
        cmds.arg(keys_.shared_messages);
        cmds.arg(keys_.shared_refs);
        cmds.arg(keys_.shared_freed);
        for (const auto& id : put_ids)
            cmds.arg(id);
        expect.push_back({expectation::kind::queued, &keys_.shared_messages, 0});
    }
    cmds.add("EXEC");
    expect.push_back({expectation::kind::exec, nullptr, 1});

    std::vector<reply_ptr> replies;
    st = conn_.exchange(cmds, replies);
    if (!st) return st;

    // Every reply is read (the connection stays in step); the first error is returned.
    status first_error = status::ok();
    auto note = [&](const redisReply& r, const std::string& key) {
        const std::string_view text = text_of(r);
        if (text.starts_with("NOSCRIPT")) noscript = true;
        if (first_error.is_ok()) first_error = reply_error(text, key);
    };
    for (std::size_t i = 0; i < expect.size(); ++i) {
        const redisReply& r = *replies[i];
        const expectation& e = expect[i];
        if (e.k != expectation::kind::exec) {
            if (kind_of(r) == reply_kind::error) note(r, *e.key);
            continue;
        }
        if (kind_of(r) == reply_kind::array) {
            for (std::size_t j = 0; j < size_of(r); ++j) {
                const redisReply& sub = element_of(r, j);
                const std::size_t q = e.first_queued + j;
                if (kind_of(sub) == reply_kind::error) {
                    note(sub, q < i ? *expect[q].key : transaction);
                }
            }
        } else if (kind_of(r) == reply_kind::error) {
            note(r, *expect[e.first_queued].key);  // EXECABORT: a queued command was refused
        } else if (first_error.is_ok()) {
            first_error =
                status::error(status::code::io_error, "redis " + conn_.url().display() + " key '" +
                                                          printable(*expect[e.first_queued].key) +
                                                          "': transaction aborted");
        }
    }
    if (first_error.is_ok()) bytes_written_ += cmds.data().size();
    return first_error;
}

// ---- reads -------------------------------------------------------------------------------------

status redis_reader::exchange(const command_buffer& cmds, std::vector<reply_ptr>& replies) {
    status st = conn_->ensure();
    if (!st) return st;
    return conn_->exchange(cmds, replies);
}

status redis_reader::reread(const std::string& index, const std::string& hash,
                            const std::vector<std::string>& members,
                            const std::vector<std::vector<std::string>>& fields,
                            std::vector<reply_ptr>& replies, const redisReply*& results) {
    command_buffer cmds;
    cmds.add("MULTI");
    for (std::size_t i = 0; i < members.size(); ++i) {
        cmds.add("ZSCORE", index, members[i]);
        cmds.begin(2 + fields[i].size());
        cmds.arg("HMGET");
        cmds.arg(hash);
        for (const auto& f : fields[i])
            cmds.arg(f);
    }
    cmds.add("EXEC");
    status st = exchange(cmds, replies);
    if (!st) return st;
    for (const auto& r : replies) {
        if (kind_of(*r) == reply_kind::error) return reply_error(text_of(*r), index);
    }
    const redisReply& exec = *replies.back();
    if (kind_of(exec) != reply_kind::array || size_of(exec) != 2 * members.size()) {
        return corrupt(index, "unexpected transaction reply");
    }
    for (std::size_t i = 0; i < size_of(exec); ++i) {
        const redisReply& r = element_of(exec, i);
        if (kind_of(r) == reply_kind::error) return reply_error(text_of(r), i % 2 ? hash : index);
        if (i % 2 == 1 && (kind_of(r) != reply_kind::array || size_of(r) != fields[i / 2].size())) {
            return corrupt(hash, "unexpected HMGET reply");
        }
    }
    results = &exec;
    return status::ok();
}

status redis_reader::index_page(const std::string& key, const std::optional<std::string>& after,
                                std::vector<std::string>& members) {
    members.clear();
    command_buffer cmds;
    cmds.add("ZRANGEBYLEX", key, after ? "(" + *after : std::string("-"), "+", "LIMIT", "0",
             page_size);
    std::vector<reply_ptr> replies;
    status st = exchange(cmds, replies);
    if (!st) return st;
    st = expect_string_array(*replies[0], key);
    if (!st) return st;
    members.reserve(size_of(*replies[0]));
    for (std::size_t i = 0; i < size_of(*replies[0]); ++i) {
        members.emplace_back(text_of(element_of(*replies[0], i)));
    }
    return status::ok();
}

status redis_reader::for_each_session(const std::function<bool(session_record&&)>& fn) {
    const pass entered(*gate_);
    if (!entered) return closed_error();
    std::optional<std::string> after;
    std::vector<std::string> ids;
    std::vector<session_keys> keys;
    std::vector<session_record> records;
    std::vector<reply_ptr> replies;
    // Each page moves past its last member, so the loop ends after (index size / page) pages.
    for (;;) {
        status st = index_page(keys_.sessions_index, after, ids);
        if (!st) return st;
        if (ids.empty()) break;
        command_buffer cmds;
        keys.clear();
        for (const auto& id : ids) {
            keys.push_back(make_session_keys(prefix_, id));
            cmds.add("GET", keys.back().session);
        }
        st = exchange(cmds, replies);
        if (!st) return st;
        records.clear();
        command_buffer cleanup;
        for (std::size_t i = 0; i < ids.size(); ++i) {
            const redisReply& r = *replies[i];
            const std::string& key = keys[i].session;
            if (kind_of(r) == reply_kind::nil) {
                // Expired by Redis, deleted since the index page was read, or left by an older
                // version: remove what is left, in a script that first checks that no
                // put_session (of this store's writer, or of another node on the prefix) has
                // recreated the session meanwhile. Like write(), it spans hash slots: the
                // engine refuses Redis Cluster.
                const session_keys& k = keys[i];
                cleanup.add("EVAL", remove_orphan_lua, "8", k.session, k.subscriptions, k.queue,
                            k.queue_index, k.inbound_qos2, keys_.sessions_index,
                            keys_.shared_messages, keys_.shared_refs, ids[i]);
                continue;
            }
            if (kind_of(r) == reply_kind::error) return reply_error(text_of(r), key);
            if (kind_of(r) != reply_kind::string) return corrupt(key, "unexpected reply type");
            session_record rec;
            st = decode_value(text_of(r), rec);
            if (!st) return corrupt(key, st.message());
            if (rec.client_id != ids[i]) {
                return corrupt(key,
                               "holds the session of client id '" + printable(rec.client_id) + "'");
            }
            records.push_back(std::move(rec));
        }
        if (cleanup.count() > 0) {
            st = exchange(cleanup, replies);
            if (!st) return st;
            for (const auto& r : replies) {
                if (kind_of(*r) == reply_kind::error) {
                    return reply_error(text_of(*r), keys_.sessions_index);
                }
            }
        }
        for (auto& rec : records) {
            if (!fn(std::move(rec))) return status::ok();
        }
        if (ids.size() < page_size) break;
        after = ids.back();
    }
    return status::ok();
}

// Parsers shared by the single-session reads and load_recovery_state.
status redis_reader::parse_subscriptions(const redisReply& r, const std::string& key,
                                         std::vector<subscription_record>& out) const {
    status st = expect_string_array(r, key);
    if (!st) return st;
    if (size_of(r) % 2 != 0) return corrupt(key, "odd HGETALL reply");
    std::vector<subscription_record> found;
    found.reserve(size_of(r) / 2);
    for (std::size_t i = 0; i + 1 < size_of(r); i += 2) {
        const std::string_view filter = text_of(element_of(r, i));
        subscription_record rec;
        st = decode_value(text_of(element_of(r, i + 1)), rec);
        if (!st) return corrupt(key, "filter '" + printable(filter) + "': " + st.message());
        if (rec.filter != filter) {
            return corrupt(
                key, "field '" + printable(filter) + "' holds the subscription of another filter");
        }
        found.push_back(std::move(rec));
    }
    out.insert(out.end(), std::make_move_iterator(found.begin()),
               std::make_move_iterator(found.end()));
    return status::ok();
}

// Replies of ZRANGE <index> 0 0 and ZRANGE <index> -1 -1.
status redis_reader::parse_bounds(const redisReply& first, const redisReply& last,
                                  const std::string& key, std::optional<queue_bounds>& out) const {
    std::optional<std::uint64_t> ends[2];
    const redisReply* replies[2] = {&first, &last};
    for (std::size_t i = 0; i < 2; ++i) {
        status st = expect_string_array(*replies[i], key);
        if (!st) return st;
        if (size_of(*replies[i]) == 0) continue;
        ends[i] = parse_seq_field(text_of(element_of(*replies[i], 0)));
        if (!ends[i]) return corrupt(key, "member is not an 8-byte sequence number");
    }
    if (!ends[0] || !ends[1]) {
        out.reset();
    } else {
        out = queue_bounds{*ends[0], *ends[1]};
    }
    return status::ok();
}

status redis_reader::parse_inbound_qos2(const redisReply& r, const std::string& key,
                                        std::vector<std::uint16_t>& out) const {
    status st = expect_string_array(r, key);
    if (!st) return st;
    std::vector<std::uint16_t> ids;
    for (std::size_t i = 0; i < size_of(r); ++i) {
        const std::string_view text = text_of(element_of(r, i));
        std::uint16_t id = 0;
        if (!parse_packet_id(text, id)) {
            return corrupt(key, "member '" + printable(text) + "' is not a packet id");
        }
        ids.push_back(id);
    }
    std::sort(ids.begin(), ids.end());
    out.insert(out.end(), ids.begin(), ids.end());
    return status::ok();
}

status redis_reader::load_subscriptions(std::string_view client_id,
                                        std::vector<subscription_record>& out) {
    const pass entered(*gate_);
    if (!entered) return closed_error();
    const session_keys k = make_session_keys(prefix_, client_id);
    command_buffer cmds;
    cmds.add("HGETALL", k.subscriptions);
    std::vector<reply_ptr> replies;
    status st = exchange(cmds, replies);
    if (!st) return st;
    return parse_subscriptions(*replies[0], k.subscriptions, out);
}

status redis_reader::load_queue(std::string_view client_id, std::uint64_t from_seq,
                                std::size_t limit, std::vector<queue_entry>& out) {
    const pass entered(*gate_);
    if (!entered) return closed_error();
    const session_keys k = make_session_keys(prefix_, client_id);
    // An entry listed in the index, its value and its state: the state is authoritative.
    auto decode_entry = [&](std::uint64_t seq, const redisReply& value, const redisReply& state,
                            queue_entry& e) -> status {
        const std::string what = "seq " + std::to_string(seq) + ": ";
        if (kind_of(value) != reply_kind::string || kind_of(state) != reply_kind::string) {
            return corrupt(k.queue, what + "listed in " + printable(k.queue_index) +
                                        " but its value or state is missing");
        }
        if (status st = decode_value(text_of(value), e); !st) {
            return corrupt(k.queue, what + st.message());
        }
        if (e.seq != seq) return corrupt(k.queue, what + "holds the entry of another seq");
        if (!decode_state(text_of(state), e.state, e.packet_id)) {
            return corrupt(k.queue, what + "bad state bytes");
        }
        return status::ok();
    };

    std::vector<queue_entry> found;
    std::vector<reply_ptr> replies;
    std::uint64_t from = from_seq;
    std::size_t remaining = limit;
    // The index is read, then the entries: an entry deleted in between (by a write running
    // meanwhile) is skipped, and the next round lists more so that `limit` still holds.
    while (remaining > 0) {
        command_buffer cmds;
        const long long count =
            remaining > static_cast<std::size_t>(std::numeric_limits<long long>::max())
                ? -1
                : static_cast<long long>(remaining);
        cmds.add("ZRANGEBYLEX", k.queue_index, "[" + seq_field(from), "+", "LIMIT", "0", count);
        status st = exchange(cmds, replies);
        if (!st) return st;
        st = expect_string_array(*replies[0], k.queue_index);
        if (!st) return st;
        std::vector<std::uint64_t> seqs;
        seqs.reserve(size_of(*replies[0]));
        for (std::size_t i = 0; i < size_of(*replies[0]); ++i) {
            const auto seq = parse_seq_field(text_of(element_of(*replies[0], i)));
            if (!seq) return corrupt(k.queue_index, "member is not an 8-byte sequence number");
            seqs.push_back(*seq);
        }
        if (seqs.empty()) break;

        cmds.clear();
        for (std::size_t first = 0; first < seqs.size(); first += hmget_chunk) {
            const std::size_t n = std::min(hmget_chunk, seqs.size() - first);
            cmds.begin(2 + 2 * n);
            cmds.arg("HMGET");
            cmds.arg(k.queue);
            for (std::size_t i = first; i < first + n; ++i) {
                cmds.arg(seq_field(seqs[i]));
                cmds.arg(state_field(seqs[i]));
            }
        }
        st = exchange(cmds, replies);
        if (!st) return st;
        std::vector<std::optional<queue_entry>> slots(seqs.size());
        std::vector<std::size_t> vanished;  // both fields missing: deleted since listed?
        std::size_t index = 0;
        for (const auto& r : replies) {
            if (kind_of(*r) == reply_kind::error) return reply_error(text_of(*r), k.queue);
            if (kind_of(*r) != reply_kind::array) return corrupt(k.queue, "unexpected reply type");
            for (std::size_t j = 0; j + 1 < size_of(*r); j += 2, ++index) {
                if (index >= seqs.size()) return corrupt(k.queue, "unexpected HMGET reply length");
                const redisReply& value = element_of(*r, j);
                const redisReply& state = element_of(*r, j + 1);
                if (kind_of(value) == reply_kind::nil && kind_of(state) == reply_kind::nil) {
                    vanished.push_back(index);
                    continue;
                }
                st = decode_entry(seqs[index], value, state, slots[index].emplace());
                if (!st) return st;
            }
        }
        if (index != seqs.size()) return corrupt(k.queue, "unexpected HMGET reply length");
        if (!vanished.empty()) {
            // Still listed, and the fields still missing (one transaction): damage.
            std::vector<std::string> members;
            std::vector<std::vector<std::string>> fields;
            for (std::size_t i : vanished) {
                members.push_back(seq_field(seqs[i]));
                fields.push_back({seq_field(seqs[i]), state_field(seqs[i])});
            }
            std::vector<reply_ptr> again;
            const redisReply* results = nullptr;
            st = reread(k.queue_index, k.queue, members, fields, again, results);
            if (!st) return st;
            for (std::size_t v = 0; v < vanished.size(); ++v) {
                if (kind_of(element_of(*results, 2 * v)) == reply_kind::nil) continue;  // deleted
                const redisReply& values = element_of(*results, 2 * v + 1);
                st = decode_entry(seqs[vanished[v]], element_of(values, 0), element_of(values, 1),
                                  slots[vanished[v]].emplace());
                if (!st) return st;
            }
        }
        std::vector<queue_entry> page;
        for (auto& slot : slots) {
            if (slot) page.push_back(std::move(*slot));
        }
        st = resolve_shared(k, page);
        if (!st) return st;
        const std::size_t added = page.size();
        found.insert(found.end(), std::make_move_iterator(page.begin()),
                     std::make_move_iterator(page.end()));
        const bool listed_all = count >= 0 && seqs.size() < static_cast<std::size_t>(count);
        remaining -= added;
        if (count < 0 || listed_all || seqs.back() == std::numeric_limits<std::uint64_t>::max()) {
            break;
        }
        from = seqs.back() + 1;
    }
    out.insert(out.end(), std::make_move_iterator(found.begin()),
               std::make_move_iterator(found.end()));
    return status::ok();
}

status redis_reader::load_queue_bounds(std::string_view client_id,
                                       std::optional<queue_bounds>& out) {
    const pass entered(*gate_);
    if (!entered) return closed_error();
    const session_keys k = make_session_keys(prefix_, client_id);
    command_buffer cmds;
    cmds.add("ZRANGE", k.queue_index, "0", "0");
    cmds.add("ZRANGE", k.queue_index, "-1", "-1");
    std::vector<reply_ptr> replies;
    status st = exchange(cmds, replies);
    if (!st) return st;
    return parse_bounds(*replies[0], *replies[1], k.queue_index, out);
}

status redis_reader::load_inbound_qos2(std::string_view client_id,
                                       std::vector<std::uint16_t>& out) {
    const pass entered(*gate_);
    if (!entered) return closed_error();
    const session_keys k = make_session_keys(prefix_, client_id);
    command_buffer cmds;
    cmds.add("SMEMBERS", k.inbound_qos2);
    std::vector<reply_ptr> replies;
    status st = exchange(cmds, replies);
    if (!st) return st;
    return parse_inbound_qos2(*replies[0], k.inbound_qos2, out);
}

status redis_reader::load_recovery_state(const std::vector<std::string>& client_ids,
                                         std::vector<recovery_state>& out) {
    const pass entered(*gate_);
    if (!entered) return closed_error();
    out.assign(client_ids.size(), recovery_state{});
    // Pipelined: four commands per session, a few hundred sessions per round trip.
    constexpr std::size_t per_round_trip = 256;
    std::vector<session_keys> keys;
    std::vector<reply_ptr> replies;
    for (std::size_t first = 0; first < client_ids.size(); first += per_round_trip) {
        const std::size_t last = std::min(client_ids.size(), first + per_round_trip);
        keys.clear();
        command_buffer cmds;
        for (std::size_t i = first; i < last; ++i) {
            keys.push_back(make_session_keys(prefix_, client_ids[i]));
            const session_keys& k = keys.back();
            cmds.add("HGETALL", k.subscriptions);
            cmds.add("ZRANGE", k.queue_index, "0", "0");
            cmds.add("ZRANGE", k.queue_index, "-1", "-1");
            cmds.add("SMEMBERS", k.inbound_qos2);
        }
        replies.clear();
        status st = exchange(cmds, replies);
        if (!st) return st;
        for (std::size_t i = first; i < last; ++i) {
            const session_keys& k = keys[i - first];
            const std::size_t r = (i - first) * 4;
            recovery_state& state = out[i];
            if (st = parse_subscriptions(*replies[r], k.subscriptions, state.subscriptions); !st)
                return st;
            if (st = parse_bounds(*replies[r + 1], *replies[r + 2], k.queue_index, state.bounds);
                !st)
                return st;
            if (st = parse_inbound_qos2(*replies[r + 3], k.inbound_qos2, state.inbound_qos2); !st)
                return st;
        }
    }
    return status::ok();
}

status redis_reader::for_each_retained(const std::function<bool(message_record&&)>& fn) {
    const pass entered(*gate_);
    if (!entered) return closed_error();
    std::optional<std::string> after;
    std::vector<std::string> topics;
    std::vector<reply_ptr> replies;
    for (;;) {
        status st = index_page(keys_.retained_index, after, topics);
        if (!st) return st;
        if (topics.empty()) break;
        command_buffer cmds;
        cmds.begin(2 + topics.size());
        cmds.arg("HMGET");
        cmds.arg(keys_.retained_messages);
        for (const auto& t : topics)
            cmds.arg(t);
        st = exchange(cmds, replies);
        if (!st) return st;
        const redisReply& r = *replies[0];
        const std::string& key = keys_.retained_messages;
        if (kind_of(r) == reply_kind::error) return reply_error(text_of(r), key);
        if (kind_of(r) != reply_kind::array || size_of(r) != topics.size()) {
            return corrupt(key, "unexpected reply type");
        }
        auto decode_message = [&](std::size_t i, const redisReply& value,
                                  message_record& m) -> status {
            const std::string what = "topic '" + printable(topics[i]) + "': ";
            if (kind_of(value) != reply_kind::string) {
                return corrupt(key, what + "listed in " + printable(keys_.retained_index) +
                                        " but has no message");
            }
            if (status e = decode_value(text_of(value), m); !e) {
                return corrupt(key, what + e.message());
            }
            if (m.topic != topics[i]) return corrupt(key, what + "holds another topic's message");
            return status::ok();
        };
        std::vector<std::optional<message_record>> found(topics.size());
        std::vector<std::size_t> vanished;  // no message: deleted since listed?
        for (std::size_t i = 0; i < topics.size(); ++i) {
            const redisReply& value = element_of(r, i);
            if (kind_of(value) == reply_kind::nil) {
                vanished.push_back(i);
                continue;
            }
            st = decode_message(i, value, found[i].emplace());
            if (!st) return st;
        }
        if (!vanished.empty()) {
            // Still listed, and still no message (one transaction): damage. Listed again with
            // a message: a newer retained message.
            std::vector<std::string> members;
            std::vector<std::vector<std::string>> fields;
            for (std::size_t i : vanished) {
                members.push_back(topics[i]);
                fields.push_back({topics[i]});
            }
            std::vector<reply_ptr> again;
            const redisReply* results = nullptr;
            st = reread(keys_.retained_index, key, members, fields, again, results);
            if (!st) return st;
            for (std::size_t v = 0; v < vanished.size(); ++v) {
                if (kind_of(element_of(*results, 2 * v)) == reply_kind::nil) continue;  // deleted
                st = decode_message(vanished[v], element_of(element_of(*results, 2 * v + 1), 0),
                                    found[vanished[v]].emplace());
                if (!st) return st;
            }
        }
        for (auto& m : found) {
            if (m && !fn(std::move(*m))) return status::ok();
        }
        if (topics.size() < page_size) break;
        after = topics.back();
    }
    return status::ok();
}

status redis_reader::resolve_shared(const session_keys& k, std::vector<queue_entry>& entries) {
    std::vector<std::size_t> at;  // entries with a reference
    for (std::size_t i = 0; i < entries.size(); ++i) {
        if (entries[i].message_id != 0) at.push_back(i);
    }
    if (at.empty()) return status::ok();
    // One transaction: the messages, and whether each entry is still stored (an entry deleted
    // since it was read may have taken its message with it).
    command_buffer cmds;
    cmds.add("MULTI");
    cmds.begin(2 + at.size());
    cmds.arg("HMGET");
    cmds.arg(keys_.shared_messages);
    for (const std::size_t i : at)
        cmds.arg(seq_field(entries[i].message_id));
    cmds.begin(2 + at.size());
    cmds.arg("HMGET");
    cmds.arg(k.queue);
    for (const std::size_t i : at)
        cmds.arg(ref_field(entries[i].seq));
    cmds.add("EXEC");
    std::vector<reply_ptr> replies;
    status st = exchange(cmds, replies);
    if (!st) return st;
    for (const auto& r : replies) {
        if (kind_of(*r) == reply_kind::error) return reply_error(text_of(*r), k.queue);
    }
    const redisReply& exec = *replies.back();
    if (kind_of(exec) != reply_kind::array || size_of(exec) != 2) {
        return corrupt(keys_.shared_messages, "unexpected reply type");
    }
    const redisReply& messages = element_of(exec, 0);
    const redisReply& refs = element_of(exec, 1);
    for (const redisReply* r : {&messages, &refs}) {
        if (kind_of(*r) == reply_kind::error) return reply_error(text_of(*r), k.queue);
        if (kind_of(*r) != reply_kind::array || size_of(*r) != at.size()) {
            return corrupt(keys_.shared_messages, "unexpected reply type");
        }
    }
    std::vector<bool> keep(entries.size(), true);
    for (std::size_t j = 0; j < at.size(); ++j) {
        queue_entry& e = entries[at[j]];
        const redisReply& ref = element_of(refs, j);
        const std::string id8 = seq_field(e.message_id);
        if (kind_of(ref) != reply_kind::string || text_of(ref) != id8) {
            keep[at[j]] = false;  // deleted (or replaced) since it was read
            continue;
        }
        const redisReply& m = element_of(messages, j);
        const std::string what = "seq " + std::to_string(e.seq) + ": ";
        if (kind_of(m) != reply_kind::string) {
            return corrupt(k.queue, what + "references message " + std::to_string(e.message_id) +
                                        ", which is not stored");
        }
        if (status d = decode_value(text_of(m), e.message); !d) {
            return corrupt(keys_.shared_messages,
                           "message " + std::to_string(e.message_id) + ": " + d.message());
        }
    }
    std::size_t n = 0;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        if (keep[i]) {
            if (n != i) entries[n] = std::move(entries[i]);
            ++n;
        }
    }
    entries.resize(n);
    return status::ok();
}

status redis_reader::message_ids(std::vector<std::uint64_t>& out) {
    const pass entered(*gate_);
    if (!entered) return closed_error();
    out.clear();
    command_buffer cmds;
    cmds.add("HKEYS", keys_.shared_messages);
    std::vector<reply_ptr> replies;
    status st = exchange(cmds, replies);
    if (!st) return st;
    st = expect_string_array(*replies[0], keys_.shared_messages);
    if (!st) return st;
    for (std::size_t i = 0; i < size_of(*replies[0]); ++i) {
        const auto id = parse_seq_field(text_of(element_of(*replies[0], i)));
        if (!id) return corrupt(keys_.shared_messages, "field is not an 8-byte message id");
        out.push_back(*id);
    }
    std::sort(out.begin(), out.end());
    return status::ok();
}

status redis_reader::for_each_message(
    const std::function<bool(std::uint64_t id, message_record&&)>& fn) {
    std::vector<std::uint64_t> ids;
    status st = message_ids(ids);
    if (!st) return st;
    const pass entered(*gate_);
    if (!entered) return closed_error();
    std::vector<reply_ptr> replies;
    for (std::size_t first = 0; first < ids.size(); first += hmget_chunk) {
        const std::size_t n = std::min(hmget_chunk, ids.size() - first);
        command_buffer cmds;
        cmds.begin(2 + n);
        cmds.arg("HMGET");
        cmds.arg(keys_.shared_messages);
        for (std::size_t i = first; i < first + n; ++i)
            cmds.arg(seq_field(ids[i]));
        st = exchange(cmds, replies);
        if (!st) return st;
        const redisReply& r = *replies[0];
        if (kind_of(r) == reply_kind::error) return reply_error(text_of(r), keys_.shared_messages);
        if (kind_of(r) != reply_kind::array || size_of(r) != n) {
            return corrupt(keys_.shared_messages, "unexpected reply type");
        }
        for (std::size_t i = 0; i < n; ++i) {
            const redisReply& v = element_of(r, i);
            if (kind_of(v) == reply_kind::nil) continue;  // deleted since listed
            message_record m;
            if (status d = decode_value(text_of(v), m); !d) {
                return corrupt(keys_.shared_messages,
                               "message " + std::to_string(ids[first + i]) + ": " + d.message());
            }
            if (!fn(ids[first + i], std::move(m))) return status::ok();
        }
    }
    return status::ok();
}

status redis_reader::get_meta(std::string_view key, std::optional<std::string>& out) {
    const pass entered(*gate_);
    if (!entered) return closed_error();
    command_buffer cmds;
    cmds.add("HGET", keys_.meta, key);
    std::vector<reply_ptr> replies;
    status st = exchange(cmds, replies);
    if (!st) return st;
    const redisReply& r = *replies[0];
    switch (kind_of(r)) {
        case reply_kind::nil:
            out.reset();
            return status::ok();
        case reply_kind::string:
            out = std::string(text_of(r));
            return status::ok();
        case reply_kind::error:
            return reply_error(text_of(r), keys_.meta);
        default:
            return corrupt(keys_.meta, "unexpected reply type");
    }
}

}  // namespace

status open_redis_store(const redis_options& options, std::unique_ptr<store>& out,
                        std::vector<std::string>& warnings) {
    out.reset();
    if (options.prefix.empty() || options.prefix.find_first_of("{}") != std::string::npos) {
        return status::error(status::code::invalid_argument,
                             "redis prefix '" + options.prefix +
                                 "' must be non-empty and must not contain '{' or '}' (they "
                                 "would change the Redis Cluster hash tag of every key)");
    }
    if (options.connect_timeout_ms <= 0 || options.command_timeout_ms <= 0) {
        return status::error(status::code::invalid_argument,
                             "redis connect and command timeouts must be positive");
    }
    redis_url url;
    status st = parse_redis_url(options.url, url);
    if (!st) return st;
    auto engine = std::make_unique<redis_store>(options, std::move(url));
    st = engine->probe(warnings);
    if (!st) return st;
    out = std::move(engine);
    return status::ok();
}

}  // namespace rmqtt::storage
