// The RocksDB engine: the embedded default. Layout in rmqtt/storage/rocksdb_store.hpp.
#include "rmqtt/storage/rocksdb_store.hpp"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/perf_level.h>
#include <rocksdb/snapshot.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/write_buffer_manager.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "reader_gate.hpp"
#include "rmqtt/storage/store.hpp"
#include "rmqtt/storage/value_codec.hpp"

namespace rmqtt::storage {

namespace {

namespace layout = rocksdb_layout;

constexpr std::size_t max_client_id = 65535;

// RocksDB keeps per-thread counters (perf_context) at its default perf level, bumped at every key
// comparison of a memtable insert or an iterator step; rmqttd never reads them. Linked from the
// shared librocksdb (the module), each bump costs thread-local lookups through __tls_get_addr
// (the fan-out row: about 8 % of the broker's samples, a 25 % lower publish rate). Each thread
// that writes or scans turns them off once.
void no_perf_counters() {
    static thread_local bool off = false;
    if (off) return;
    rocksdb::SetPerfLevel(rocksdb::PerfLevel::kDisable);
    off = true;
}
constexpr std::size_t prefix_overhead = 10;  // hash + length in front of the client id

// Column family slots; cf_names[i] names slot i.
enum cf : std::size_t {
    cf_default,
    cf_meta,
    cf_sessions,
    cf_subs,
    cf_queue,
    cf_qstate,
    cf_inq2,
    cf_retained,
    cf_messages,
    cf_msgrefs,
    cf_count
};
constexpr std::string_view cf_names[cf_count] = {
    "default",           layout::cf_meta,   layout::cf_sessions, layout::cf_subs,
    layout::cf_queue,    layout::cf_qstate, layout::cf_inq2,     layout::cf_retained,
    layout::cf_messages, layout::cf_msgrefs};

// Families a store made before shared messages lacks; opening it creates them.
bool added_later(std::string_view name) {
    return name == layout::cf_messages || name == layout::cf_msgrefs;
}

// The message id a stored queue entry value references, 0 for an entry holding its message
// (value schema version 3 puts the id in the last 8 bytes, see value_codec.cpp).
std::uint64_t referenced_message(std::string_view value) {
    if (value.size() < 9 || static_cast<unsigned char>(value[0]) < shared_message_schema_version) {
        return 0;
    }
    std::uint64_t v = 0;
    for (int i = 7; i >= 0; --i)
        v = (v << 8) |
            static_cast<unsigned char>(value[value.size() - 8 + static_cast<std::size_t>(i)]);
    return v;
}

// The smallest key greater than every key that starts with `prefix`; false if there is none
// (the prefix is all 0xFF bytes).
bool successor(std::string_view prefix, std::string& out) {
    out.assign(prefix);
    while (!out.empty()) {
        auto& last = reinterpret_cast<unsigned char&>(out.back());
        if (last != 0xFF) {
            ++last;
            return true;
        }
        out.pop_back();
    }
    return false;
}

std::uint64_t read_be64(const char* p) {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i)
        v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}

// A bounded, printable rendering of a key part for error messages.
std::string printable(std::string_view s) {
    std::string out;
    static const char hex[] = "0123456789abcdef";
    for (std::size_t i = 0; i < s.size() && i < 64; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
            out += static_cast<char>(c);
        } else {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    if (s.size() > 64) out += "...(" + std::to_string(s.size()) + " bytes)";
    return out;
}

// The client id inside a key that starts with P(client_id), checking the length field.
bool parse_client(std::string_view key, std::string_view& client_id, std::string_view& rest) {
    if (key.size() < prefix_overhead) return false;
    const std::size_t n = (static_cast<std::size_t>(static_cast<unsigned char>(key[8])) << 8) |
                          static_cast<unsigned char>(key[9]);
    if (key.size() < prefix_overhead + n) return false;
    client_id = key.substr(prefix_overhead, n);
    rest = key.substr(prefix_overhead + n);
    return true;
}

std::string_view view(const rocksdb::Slice& s) {
    return {s.data(), s.size()};
}

const std::string* client_id_of(const operation& op) {
    return std::visit(
        [](const auto& o) -> const std::string* {
            using T = std::decay_t<decltype(o)>;
            if constexpr (std::is_same_v<T, put_session>) {
                return &o.record.client_id;
            } else if constexpr (requires { o.client_id; }) {
                return &o.client_id;
            } else {
                return nullptr;
            }
        },
        op);
}

// Error statuses that name the store's directory, for the store and its readers.
class rocksdb_errors {
  protected:
    explicit rocksdb_errors(std::string path) : path_(std::move(path)) {}

    std::string advice() const {
        return "move '" + path_ + "' aside to start with an empty store, or restore a backup";
    }
    status closed_error() const {
        return status::error(status::code::invalid_argument,
                             "the RocksDB store at '" + path_ + "' is closed");
    }
    status engine_error(const rocksdb::Status& s, std::string_view doing) const {
        status::code c = status::code::io_error;
        if (s.IsCorruption()) c = status::code::corruption;
        if (s.IsInvalidArgument() || s.IsNotSupported()) c = status::code::invalid_argument;
        std::string msg =
            std::string(doing) + " the RocksDB store at '" + path_ + "' failed: " + s.ToString();
        if (s.IsCorruption()) msg += "; " + advice();
        return status::error(c, std::move(msg));
    }
    status decode_error(std::size_t cf, std::string_view client_id, const std::string& what,
                        const status& detail) const {
        std::string msg =
            "RocksDB store at '" + path_ + "', column family '" + std::string(cf_names[cf]) + "'";
        if (cf == cf_retained) {
            msg += ", topic '" + printable(client_id) + "'";
        } else {
            msg += ", client id '" + printable(client_id) + "'";
        }
        if (!what.empty()) msg += ", " + what;
        msg += ": " + detail.message() + "; " + advice();
        return status::error(status::code::corruption, std::move(msg));
    }
    status bad_key(std::size_t cf, std::string_view key) const {
        return status::error(status::code::corruption,
                             "RocksDB store at '" + path_ + "', column family '" +
                                 std::string(cf_names[cf]) + "': malformed key '" + printable(key) +
                                 "'; " + advice());
    }

    std::string path_;
};

// The open database, shared by the store and its readers (store.hpp, thread safety): RocksDB's
// reads are thread-safe. Every reader call holds a pass of `gate`, so close() can wait for them
// before it destroys the handles.
struct rocksdb_shared {
    detail::reader_gate gate;
    rocksdb::DB* db = nullptr;  // set once open() has succeeded
    rocksdb::ColumnFamilyHandle* cf[cf_count] = {};
};

// Reads for one thread at a time. Calls that use several iterators read from one snapshot, so a
// write committed meanwhile is seen by all of them or by none.
class rocksdb_reader final : public store_reader, private rocksdb_errors {
  public:
    rocksdb_reader(std::string path, std::shared_ptr<rocksdb_shared> shared)
        : rocksdb_errors(std::move(path)), shared_(std::move(shared)) {}

    status for_each_session(const std::function<bool(session_record&&)>& fn) override;
    status load_subscriptions(std::string_view client_id,
                              std::vector<subscription_record>& out) override;
    status load_queue(std::string_view client_id, std::uint64_t from_seq, std::size_t limit,
                      std::vector<queue_entry>& out) override;
    status load_queue_bounds(std::string_view client_id, std::optional<queue_bounds>& out) override;
    status load_inbound_qos2(std::string_view client_id, std::vector<std::uint16_t>& out) override;
    status load_recovery_state(const std::vector<std::string>& client_ids,
                               std::vector<recovery_state>& out) override;
    status for_each_recovered_session(
        std::size_t part, std::size_t parts, std::size_t chunk,
        const std::function<bool(std::vector<recovered_session>&)>& fn) override;
    bool splits_recovery() const noexcept override { return true; }
    std::size_t estimate_session_count() override {
        const pass entered(shared_->gate);
        std::uint64_t n = 0;
        if (!entered || !db() ||
            !db()->GetIntProperty(cf(cf_sessions), "rocksdb.estimate-num-keys", &n))
            return 0;
        return static_cast<std::size_t>(n);
    }
    status for_each_retained(const std::function<bool(message_record&&)>& fn) override;
    status for_each_message(
        const std::function<bool(std::uint64_t, message_record&&)>& fn) override;
    status get_meta(std::string_view key, std::optional<std::string>& out) override;

  private:
    // Fills the message of every entry of out[first..] that references a shared message, read
    // from `snapshot` in one MultiGet.
    status resolve_messages(std::string_view client_id, std::vector<queue_entry>& out,
                            std::size_t first, const rocksdb::Snapshot* snapshot);
    using pass = detail::reader_gate::pass;
    rocksdb::DB* db() const noexcept { return shared_->db; }
    rocksdb::ColumnFamilyHandle* cf(std::size_t i) const noexcept { return shared_->cf[i]; }
    std::unique_ptr<rocksdb::Iterator> range_iterator(std::size_t family,
                                                      const rocksdb::Slice* lower,
                                                      const rocksdb::Slice* upper,
                                                      const rocksdb::Snapshot* snapshot = nullptr) {
        rocksdb::ReadOptions ro;
        ro.iterate_lower_bound = lower;
        ro.iterate_upper_bound = upper;
        ro.snapshot = snapshot;
        return std::unique_ptr<rocksdb::Iterator>(db()->NewIterator(ro, cf(family)));
    }

    std::shared_ptr<rocksdb_shared> shared_;
};

class rocksdb_store final : public store, private rocksdb_errors {
  public:
    explicit rocksdb_store(const rocksdb_options& options)
        : rocksdb_errors(options.path),
          options_(options),
          shared_(std::make_shared<rocksdb_shared>()),
          reads_(options.path, shared_) {}
    ~rocksdb_store() override { (void)close(); }  // errors were the caller's to see via close()

    status open();

    std::string_view engine_name() const noexcept override { return "rocksdb"; }
    std::string location() const override { return options_.path; }

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
    status for_each_recovered_session(
        std::size_t part, std::size_t parts, std::size_t chunk,
        const std::function<bool(std::vector<recovered_session>&)>& fn) override {
        return reads_.for_each_recovered_session(part, parts, chunk, fn);
    }
    bool splits_recovery() const noexcept override { return true; }
    std::size_t estimate_session_count() override { return reads_.estimate_session_count(); }
    status for_each_retained(const std::function<bool(message_record&&)>& fn) override {
        return reads_.for_each_retained(fn);
    }
    status get_meta(std::string_view key, std::optional<std::string>& out) override {
        return reads_.get_meta(key, out);
    }
    status for_each_message(
        const std::function<bool(std::uint64_t, message_record&&)>& fn) override {
        return reads_.for_each_message(fn);
    }
    bool supports_shared_messages() const noexcept override { return true; }
    status max_message_id(std::uint64_t& out) override;
    status open_reader(std::unique_ptr<store_reader>& out) override;
    status check() override;
    status compact() override;
    status close() override;

  private:
    // ---- error reporting ----
    status open_error(const rocksdb::Status& s) const {
        std::string msg =
            "cannot open the RocksDB store at '" + options_.path + "': " + s.ToString() + ". ";
        if (s.ToString().find("lock") != std::string::npos) {
            msg +=
                "Another process (another rmqttd?) is using it; stop it, or choose another "
                "storage.rocksdb.path.";
        } else if (s.IsCorruption()) {
            msg += "The store is damaged: " + advice() + ".";
        } else {
            msg += "If the store is damaged, " + advice() + ".";
        }
        return status::error(s.IsCorruption() ? status::code::corruption : status::code::io_error,
                             std::move(msg));
    }
    // ---- helpers ----
    status open_db();  // open() without making the database visible to readers
    const std::string& prefix_of(std::string_view client_id) {
        if (prefix_cached_ && cached_client_ == client_id) return cached_prefix_;
        cached_client_.assign(client_id);
        cached_prefix_.clear();
        layout::append_client_prefix(cached_prefix_, client_id);
        prefix_cached_ = true;
        return cached_prefix_;
    }
    status check_client_ids(const write_batch& batch) const;
    status queue_entry_exists(const std::string& key, std::string_view prefix, bool& exists);

    // ---- shared messages (one write at a time) ----
    struct message_state {
        bool exists = false;  // stored, or put earlier in the batch
        std::uint64_t refs = 0;
        bool changed = false;
        const message_record* put = nullptr;  // the batch's put_message, written at the end
    };
    status message_at(std::uint64_t id, message_state*& out);
    // The message id the queue entry under `key` references now (earlier operations of the
    // batch included), 0 if none or no entry.
    status entry_reference(const std::string& key, std::string_view prefix, std::uint64_t& out);
    status release(std::uint64_t id);
    status release_session(const std::string& prefix);
    status finish_messages();

    rocksdb_options options_;
    rocksdb::DB* db_ = nullptr;
    rocksdb::ColumnFamilyHandle* cf_[cf_count] = {};
    std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // every handle opened, to destroy
    std::shared_ptr<rocksdb_shared> shared_;             // db_ and cf_ for readers, once open
    rocksdb_reader reads_;                               // the store's own reads

    // Scratch state reused by write() (one writer at a time, store.hpp).
    rocksdb::WriteBatch wb_;
    std::string key_;
    std::string end_;
    std::string value_;
    std::string cached_client_;
    std::string cached_prefix_;
    bool prefix_cached_ = false;
    std::uint64_t bytes_written_ = 0;
    // Only for batches with update_queue_entry: queue keys put (true) or deleted (false) earlier
    // in the batch, and prefixes of sessions deleted earlier in the batch.
    std::unordered_map<std::string, bool> touched_;
    std::vector<std::string> deleted_sessions_;
    bool resume_needed_ = false;
    // Whether the store may hold shared messages (set at open when it has one, and by every
    // put_message): until then a queue write needs no look at the entry it replaces or deletes.
    bool shared_seen_ = false;
    std::unordered_map<std::uint64_t, message_state> messages_;  // this batch's
    std::unordered_map<std::string, std::uint64_t> entry_refs_;  // queue key -> id, this batch's
};

// ---- open ---------------------------------------------------------------------------------------

status rocksdb_store::open() {
    status st = open_db();
    if (st.is_ok()) {
        shared_->db = db_;
        std::copy(std::begin(cf_), std::end(cf_), std::begin(shared_->cf));
    }
    return st;
}

status rocksdb_store::open_db() {
    namespace fs = std::filesystem;
    const std::string& path = options_.path;
    if (path.empty()) {
        return status::error(status::code::invalid_argument,
                             "storage.rocksdb.path is empty: set it to a directory");
    }
    std::error_code ec;
    const fs::file_status fst = fs::status(path, ec);
    if (ec && ec != std::errc::no_such_file_or_directory) {
        return status::error(status::code::io_error,
                             "cannot access '" + path + "': " + ec.message());
    }
    bool fresh = true;
    if (fs::exists(fst)) {
        if (!fs::is_directory(fst)) {
            return status::error(status::code::invalid_argument,
                                 "'" + path +
                                     "' exists and is not a directory: set "
                                     "storage.rocksdb.path to a directory for the store");
        }
        bool has_current = false;
        bool has_db_files = false;
        for (fs::directory_iterator it(path, ec), end; !ec && it != end; it.increment(ec)) {
            fresh = false;
            const std::string name = it->path().filename().string();
            if (name == "CURRENT") has_current = true;
            if (name.starts_with("MANIFEST-") || name.ends_with(".sst") || name.ends_with(".log") ||
                name == "IDENTITY") {
                has_db_files = true;
            }
        }
        if (ec) {
            return status::error(status::code::io_error,
                                 "cannot read the directory '" + path + "': " + ec.message());
        }
        if (!fresh && !has_current) {
            if (has_db_files) {
                return status::error(status::code::corruption,
                                     "the RocksDB store at '" + path +
                                         "' has no CURRENT file (it is damaged): " + advice());
            }
            return status::error(status::code::invalid_argument,
                                 "'" + path +
                                     "' is not empty and is not an rmqttd store: "
                                     "set storage.rocksdb.path to a new or empty directory");
        }
    }

    rocksdb::DBOptions dbo;
    dbo.create_if_missing = fresh;
    dbo.create_missing_column_families = fresh;
    dbo.paranoid_checks = true;
    dbo.max_background_jobs = 2;
    dbo.max_total_wal_size = 256ull << 20;  // flush old column families so the WAL stays bounded
    dbo.keep_log_file_num = 4;
    dbo.max_log_file_size = 8 << 20;
    dbo.bytes_per_sync = 1 << 20;
    // All memtables together; the per-family sizes below are what each may grow to.
    dbo.write_buffer_manager = std::make_shared<rocksdb::WriteBufferManager>(256ull << 20);

    rocksdb::BlockBasedTableOptions table;
    table.block_cache = rocksdb::NewLRUCache(options_.cache_capacity);
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    rocksdb::ColumnFamilyOptions base;
    base.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    base.level_compaction_dynamic_level_bytes = true;
    base.write_buffer_size = 16 << 20;
    // The queue takes most writes, and most entries are deleted soon after: a larger memtable
    // lets puts and deletes meet there instead of in compactions.
    rocksdb::ColumnFamilyOptions queue_cf = base;
    queue_cf.write_buffer_size = 64 << 20;
    queue_cf.max_write_buffer_number = 3;

    std::vector<std::string> existing;
    if (!fresh) {
        const rocksdb::Status s = rocksdb::DB::ListColumnFamilies(dbo, path, &existing);
        if (!s.ok()) return open_error(s);
        for (std::string_view name : cf_names) {
            if (std::find(existing.begin(), existing.end(), name) == existing.end()) {
                if (added_later(name)) {
                    dbo.create_missing_column_families = true;
                    continue;
                }
                // A damaged MANIFEST can also list too few families: only a database that opens
                // cleanly (read-only, nothing is changed) is "someone else's database".
                std::vector<rocksdb::ColumnFamilyDescriptor> theirs;
                for (const auto& e : existing)
                    theirs.emplace_back(e, rocksdb::ColumnFamilyOptions());
                std::vector<rocksdb::ColumnFamilyHandle*> handles;
                rocksdb::DB* db = nullptr;
                const rocksdb::Status ro =
                    rocksdb::DB::OpenForReadOnly(dbo, path, theirs, &handles, &db);
                if (db) {
                    for (auto* h : handles)
                        (void)db->DestroyColumnFamilyHandle(h);
                    (void)db->Close();
                    delete db;
                }
                if (!ro.ok()) return open_error(ro);
                return status::error(
                    status::code::invalid_argument,
                    "'" + path +
                        "' holds a RocksDB database that is not an "
                        "rmqttd store (no column family '" +
                        std::string(name) +
                        "'): set storage.rocksdb.path to a new or empty directory");
            }
        }
    } else {
        fs::create_directories(path, ec);
        if (ec) {
            return status::error(status::code::io_error,
                                 "cannot create the directory '" + path + "': " + ec.message());
        }
    }
    std::vector<std::string> names(cf_names, cf_names + cf_count);
    for (const auto& e : existing) {  // every existing family must be opened, even unknown ones
        if (std::find(names.begin(), names.end(), e) == names.end()) names.push_back(e);
    }
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const auto& name : names) {
        descriptors.emplace_back(
            name, (name == layout::cf_queue || name == layout::cf_qstate) ? queue_cf : base);
    }
    const rocksdb::Status s = rocksdb::DB::Open(dbo, path, descriptors, &handles_, &db_);
    if (!s.ok()) {
        db_ = nullptr;
        handles_.clear();
        return open_error(s);
    }
    for (std::size_t i = 0; i < cf_count; ++i)
        cf_[i] = handles_[i];
    {
        std::unique_ptr<rocksdb::Iterator> it(
            db_->NewIterator(rocksdb::ReadOptions(), cf_[cf_msgrefs]));
        it->SeekToFirst();
        shared_seen_ = it->Valid();
        if (!it->status().ok()) {
            status err = engine_error(it->status(), "reading");
            it.reset();
            (void)close();
            return err;
        }
    }

    // Schema version: written at creation, checked at every open.
    std::string version;
    if (fresh) {
        rocksdb::WriteOptions wo;
        wo.sync = true;
        const rocksdb::Status ws = db_->Put(wo, cf_[cf_default], std::string(layout::schema_key),
                                            std::to_string(layout::schema_version));
        if (!ws.ok()) {
            status err = engine_error(ws, "initialising");
            (void)close();
            return err;
        }
        return status::ok();
    }
    const rocksdb::Status gs = db_->Get(rocksdb::ReadOptions(), cf_[cf_default],
                                        std::string(layout::schema_key), &version);
    status err;
    if (gs.IsNotFound()) {
        err = status::error(status::code::invalid_argument,
                            "'" + path +
                                "' holds a RocksDB database that is not an rmqttd store "
                                "(no schema version): set storage.rocksdb.path to a new or empty "
                                "directory");
    } else if (!gs.ok()) {
        err = engine_error(gs, "reading the schema version of");
    } else {
        std::uint32_t v = 0;
        const auto [end, ec2] = std::from_chars(version.data(), version.data() + version.size(), v);
        if (ec2 != std::errc() || end != version.data() + version.size() || v == 0) {
            err =
                status::error(status::code::corruption, "the RocksDB store at '" + path +
                                                            "' has an unreadable schema "
                                                            "version '" +
                                                            printable(version) + "': " + advice());
        } else if (v > layout::schema_version) {
            err = status::error(status::code::invalid_argument,
                                "the RocksDB store at '" + path + "' has schema version " +
                                    std::to_string(v) + ", newer than this rmqttd reads (" +
                                    std::to_string(layout::schema_version) +
                                    "): run a newer rmqttd, or " + advice());
        }
    }
    if (!err.is_ok()) {
        (void)close();  // the open error is what the caller needs to see
        return err;
    }
    return status::ok();
}

// ---- write --------------------------------------------------------------------------------------

status rocksdb_store::check_client_ids(const write_batch& batch) const {
    for (const operation& op : batch.ops) {
        const std::string* id = client_id_of(op);
        if (id && id->size() > max_client_id) {
            return status::error(
                status::code::invalid_argument,
                "client id longer than 65535 bytes (" + std::to_string(id->size()) + ")");
        }
    }
    return status::ok();
}

status rocksdb_store::queue_entry_exists(const std::string& key, std::string_view prefix,
                                         bool& exists) {
    if (auto it = touched_.find(key); it != touched_.end()) {
        exists = it->second;
        return status::ok();
    }
    for (const auto& p : deleted_sessions_) {
        if (p == prefix) {
            exists = false;
            return status::ok();
        }
    }
    rocksdb::PinnableSlice value;
    const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf_[cf_queue], key, &value);
    if (s.IsNotFound()) {
        exists = false;
        return status::ok();
    }
    if (!s.ok()) return engine_error(s, "reading from");
    exists = true;
    return status::ok();
}

status rocksdb_store::write(const write_batch& batch) {
    if (!db_) return closed_error();
    if (batch.empty()) return status::ok();
    no_perf_counters();
    if (status st = check_client_ids(batch); !st.is_ok()) return st;

    if (!shared_seen_) {
        shared_seen_ = std::any_of(batch.ops.begin(), batch.ops.end(), [](const operation& op) {
            const auto* put = std::get_if<put_queue_entry>(&op);
            return std::holds_alternative<put_message>(op) || (put && put->entry.message_id != 0);
        });
    }
    const bool shared = shared_seen_;
    const bool track = std::any_of(batch.ops.begin(), batch.ops.end(), [](const operation& op) {
        return std::holds_alternative<update_queue_entry>(op);
    });
    touched_.clear();
    deleted_sessions_.clear();
    messages_.clear();
    entry_refs_.clear();
    wb_.Clear();

    status early;
    for (const operation& op : batch.ops) {
        rocksdb::Status s;
        std::visit(
            [&](const auto& o) {
                using T = std::decay_t<decltype(o)>;
                if constexpr (std::is_same_v<T, put_session>) {
                    value_ = encode_value(o.record);
                    s = wb_.Put(cf_[cf_sessions], prefix_of(o.record.client_id), value_);
                } else if constexpr (std::is_same_v<T, delete_session>) {
                    const std::string& p = prefix_of(o.client_id);
                    if (!successor(p, end_)) {
                        early =
                            status::error(status::code::invalid_argument,
                                          "client id '" + printable(o.client_id) +
                                              "' cannot be stored (its key has no upper bound)");
                        return;
                    }
                    if (shared) {
                        early = release_session(p);
                        if (!early.is_ok()) return;
                    }
                    for (std::size_t cf : {cf_subs, cf_queue, cf_qstate, cf_inq2}) {
                        if (s.ok()) s = wb_.DeleteRange(cf_[cf], p, end_);
                    }
                    if (s.ok()) s = wb_.Delete(cf_[cf_sessions], p);
                    if (track || shared) {
                        std::erase_if(touched_,
                                      [&](const auto& kv) { return kv.first.starts_with(p); });
                        std::erase_if(entry_refs_,
                                      [&](const auto& kv) { return kv.first.starts_with(p); });
                        deleted_sessions_.push_back(p);
                    }
                } else if constexpr (std::is_same_v<T, put_subscription>) {
                    key_ = prefix_of(o.client_id);
                    key_ += o.record.filter;
                    value_ = encode_value(o.record);
                    s = wb_.Put(cf_[cf_subs], key_, value_);
                } else if constexpr (std::is_same_v<T, delete_subscription>) {
                    key_ = prefix_of(o.client_id);
                    key_ += o.filter;
                    s = wb_.Delete(cf_[cf_subs], key_);
                } else if constexpr (std::is_same_v<T, put_queue_entry>) {
                    const std::string& p = prefix_of(o.client_id);
                    key_ = p;
                    layout::append_seq(key_, o.entry.seq);
                    // The entry this put replaces, if any, is not looked up (store.hpp: the
                    // broker never puts an existing entry), so the put costs no read.
                    if (const std::uint64_t id = o.entry.message_id; id != 0) {
                        {
                            message_state* m = nullptr;
                            early = message_at(id, m);
                            if (early.is_ok() && !m->exists) {
                                early = status::error(
                                    status::code::invalid_argument,
                                    "queue entry " + std::to_string(o.entry.seq) + " of '" +
                                        printable(o.client_id) + "' references message " +
                                        std::to_string(id) + ", which is not stored");
                            }
                            if (early.is_ok()) {
                                ++m->refs;
                                m->changed = true;
                            }
                        }
                        if (!early.is_ok()) return;
                        entry_refs_[key_] = id;
                    }
                    value_ = encode_value(o.entry);
                    s = wb_.Put(cf_[cf_queue], key_, value_);
                    // A state set by an update of an earlier entry under this key must not apply.
                    if (s.ok()) s = wb_.Delete(cf_[cf_qstate], key_);
                    if (track) touched_[key_] = true;
                } else if constexpr (std::is_same_v<T, update_queue_entry>) {
                    const std::string& p = prefix_of(o.client_id);
                    key_ = p;
                    layout::append_seq(key_, o.seq);
                    bool exists = false;
                    early = queue_entry_exists(key_, p, exists);
                    if (!early.is_ok()) return;
                    if (exists) {  // on a missing entry: nothing, so no state without an entry
                        const char v[4] = {static_cast<char>(layout::schema_version),
                                           static_cast<char>(o.state),
                                           static_cast<char>(o.packet_id & 0xFF),
                                           static_cast<char>(o.packet_id >> 8)};
                        s = wb_.Put(cf_[cf_qstate], key_, rocksdb::Slice(v, sizeof v));
                    }
                } else if constexpr (std::is_same_v<T, delete_queue_entry>) {
                    const std::string& p = prefix_of(o.client_id);
                    key_ = p;
                    layout::append_seq(key_, o.seq);
                    if (shared) {
                        std::uint64_t old = 0;
                        early = entry_reference(key_, p, old);
                        if (early.is_ok() && old != 0) early = release(old);
                        if (!early.is_ok()) return;
                        entry_refs_[key_] = 0;
                    }
                    s = wb_.Delete(cf_[cf_queue], key_);
                    if (s.ok()) s = wb_.Delete(cf_[cf_qstate], key_);
                    if (track) touched_[key_] = false;
                } else if constexpr (std::is_same_v<T, put_inbound_qos2>) {
                    key_ = prefix_of(o.client_id);
                    key_.push_back(static_cast<char>(o.packet_id >> 8));
                    key_.push_back(static_cast<char>(o.packet_id & 0xFF));
                    s = wb_.Put(cf_[cf_inq2], key_, rocksdb::Slice());
                } else if constexpr (std::is_same_v<T, delete_inbound_qos2>) {
                    key_ = prefix_of(o.client_id);
                    key_.push_back(static_cast<char>(o.packet_id >> 8));
                    key_.push_back(static_cast<char>(o.packet_id & 0xFF));
                    s = wb_.Delete(cf_[cf_inq2], key_);
                } else if constexpr (std::is_same_v<T, put_retained>) {
                    value_ = encode_value(o.message);
                    s = wb_.Put(cf_[cf_retained], o.message.topic, value_);
                } else if constexpr (std::is_same_v<T, delete_retained>) {
                    s = wb_.Delete(cf_[cf_retained], o.topic);
                } else if constexpr (std::is_same_v<T, put_meta>) {
                    s = wb_.Put(cf_[cf_meta], o.key, o.value);
                } else if constexpr (std::is_same_v<T, put_message>) {
                    if (o.id == 0) {
                        early = status::error(status::code::invalid_argument, "message id 0");
                        return;
                    }
                    message_state* m = nullptr;
                    early = message_at(o.id, m);
                    if (!early.is_ok()) return;
                    m->exists = true;
                    m->changed = true;
                    m->put = &o.message;
                } else if constexpr (std::is_same_v<T, delete_message>) {
                    message_state* m = nullptr;
                    early = message_at(o.id, m);
                    if (!early.is_ok()) return;
                    *m = message_state{};
                    m->changed = true;
                }
            },
            op);
        if (!early.is_ok()) return early;
        if (!s.ok()) return engine_error(s, "preparing a write to");
    }
    if (status st = finish_messages(); !st.is_ok()) return st;

    if (resume_needed_) {
        // The last write failed (disk full, I/O error): writes stay refused until RocksDB is
        // told to recover, which succeeds once the cause is gone.
        const rocksdb::Status r = db_->Resume();
        if (!r.ok()) return engine_error(r, "recovering");
        resume_needed_ = false;
    }
    rocksdb::WriteOptions wo;
    wo.sync = options_.sync;
    const rocksdb::Status s = db_->Write(wo, &wb_);
    if (!s.ok()) {
        resume_needed_ = true;
        return engine_error(s, "writing to");
    }
    bytes_written_ += wb_.GetDataSize();
    return status::ok();
}

status rocksdb_store::message_at(std::uint64_t id, message_state*& out) {
    auto [it, inserted] = messages_.try_emplace(id);
    out = &it->second;
    if (!inserted) return status::ok();
    rocksdb::PinnableSlice value;
    const rocksdb::Status s =
        db_->Get(rocksdb::ReadOptions(), cf_[cf_msgrefs], layout::message_key(id), &value);
    if (s.IsNotFound()) return status::ok();
    if (!s.ok()) {
        messages_.erase(it);
        return engine_error(s, "reading from");
    }
    if (value.size() != 8) {
        messages_.erase(it);
        return status::error(status::code::corruption,
                             "RocksDB store at '" + path_ + "', column family 'msgrefs': message " +
                                 std::to_string(id) + " has a malformed count; " + advice());
    }
    std::uint64_t refs = 0;
    for (int i = 7; i >= 0; --i)
        refs = (refs << 8) | static_cast<unsigned char>(value.data()[i]);
    out->exists = true;
    out->refs = refs;
    return status::ok();
}

status rocksdb_store::entry_reference(const std::string& key, std::string_view prefix,
                                      std::uint64_t& out) {
    out = 0;
    if (auto it = entry_refs_.find(key); it != entry_refs_.end()) {
        out = it->second;
        return status::ok();
    }
    for (const auto& p : deleted_sessions_) {
        if (p == prefix) return status::ok();
    }
    rocksdb::PinnableSlice value;
    const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf_[cf_queue], key, &value);
    if (s.IsNotFound()) return status::ok();
    if (!s.ok()) return engine_error(s, "reading from");
    out = referenced_message(view(value));
    return status::ok();
}

status rocksdb_store::release(std::uint64_t id) {
    message_state* m = nullptr;
    if (status st = message_at(id, m); !st.is_ok()) return st;
    if (m->refs > 0) --m->refs;  // a reference to a missing message (check reports it) is no count
    m->changed = true;
    return status::ok();
}

// The session's stored entries (those the batch has not replaced or deleted yet) and the entries
// the batch put for it.
status rocksdb_store::release_session(const std::string& prefix) {
    // After an earlier delete of the session in the batch, its stored entries are released.
    const bool stored_released = std::find(deleted_sessions_.begin(), deleted_sessions_.end(),
                                           prefix) != deleted_sessions_.end();
    if (!stored_released) {
        std::string upper;
        const bool bounded = successor(prefix, upper);
        const rocksdb::Slice lo(prefix), hi(upper);
        rocksdb::ReadOptions ro;
        ro.iterate_lower_bound = &lo;
        ro.iterate_upper_bound = bounded ? &hi : nullptr;
        std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cf_[cf_queue]));
        for (it->Seek(lo); it->Valid(); it->Next()) {
            const std::string_view key = view(it->key());
            if (!key.starts_with(prefix)) break;
            if (entry_refs_.contains(std::string(key))) continue;  // counted below
            if (const std::uint64_t id = referenced_message(view(it->value())); id != 0) {
                if (status st = release(id); !st.is_ok()) return st;
            }
        }
        if (!it->status().ok()) return engine_error(it->status(), "reading");
    }
    for (const auto& [key, id] : entry_refs_) {
        if (id == 0 || !key.starts_with(prefix)) continue;
        if (status st = release(id); !st.is_ok()) return st;
    }
    return status::ok();
}

// Writes the batch's shared-message changes: a message no entry references is deleted (or, put
// in this batch, never written).
status rocksdb_store::finish_messages() {
    for (const auto& [id, m] : messages_) {
        if (!m.changed) continue;
        key_ = layout::message_key(id);
        rocksdb::Status s;
        if (!m.exists || m.refs == 0) {
            s = wb_.Delete(cf_[cf_messages], key_);
            if (s.ok()) s = wb_.Delete(cf_[cf_msgrefs], key_);
        } else {
            if (m.put) {
                value_ = encode_value(*m.put);
                s = wb_.Put(cf_[cf_messages], key_, value_);
            }
            char v[8];
            for (int i = 0; i < 8; ++i)
                v[i] = static_cast<char>((m.refs >> (8 * i)) & 0xFF);
            if (s.ok()) s = wb_.Put(cf_[cf_msgrefs], key_, rocksdb::Slice(v, sizeof v));
        }
        if (!s.ok()) return engine_error(s, "preparing a write to");
    }
    return status::ok();
}

status rocksdb_store::max_message_id(std::uint64_t& out) {
    out = 0;
    if (!db_) return closed_error();
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(rocksdb::ReadOptions(), cf_[cf_messages]));
    it->SeekToLast();
    if (it->Valid()) {
        if (it->key().size() != 8) return bad_key(cf_messages, view(it->key()));
        out = read_be64(it->key().data());
    }
    if (!it->status().ok()) return engine_error(it->status(), "reading");
    return status::ok();
}

// ---- reads --------------------------------------------------------------------------------------

status rocksdb_reader::for_each_session(const std::function<bool(session_record&&)>& fn) {
    no_perf_counters();
    const pass entered(shared_->gate);
    if (!entered || !db()) return closed_error();
    rocksdb::ReadOptions scan;
    scan.fill_cache = false;  // a full scan at startup must not evict the hot blocks
    std::unique_ptr<rocksdb::Iterator> it(db()->NewIterator(scan, cf(cf_sessions)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
        std::string_view id, rest;
        if (!parse_client(view(it->key()), id, rest) || !rest.empty()) {
            return bad_key(cf_sessions, view(it->key()));
        }
        session_record r;
        if (status st = decode_value(view(it->value()), r); !st.is_ok()) {
            return decode_error(cf_sessions, id, {}, st);
        }
        if (r.client_id != id) {
            return decode_error(
                cf_sessions, id, {},
                status::error(status::code::corruption, "the record holds another client id"));
        }
        if (!fn(std::move(r))) return status::ok();
    }
    if (!it->status().ok()) return engine_error(it->status(), "reading");
    return status::ok();
}

status rocksdb_reader::load_subscriptions(std::string_view client_id,
                                          std::vector<subscription_record>& out) {
    const pass entered(shared_->gate);
    if (!entered || !db()) return closed_error();
    if (client_id.size() > max_client_id) return status::ok();  // nothing can be stored for it
    const std::string lower = layout::session_key(client_id);
    std::string upper;
    const bool bounded = successor(lower, upper);
    const rocksdb::Slice lo(lower), hi(upper);
    auto it = range_iterator(cf_subs, &lo, bounded ? &hi : nullptr);
    for (it->Seek(lo); it->Valid(); it->Next()) {
        const std::string_view key = view(it->key());
        if (!key.starts_with(lower)) break;
        const std::string_view filter = key.substr(lower.size());
        subscription_record r;
        if (status st = decode_value(view(it->value()), r); !st.is_ok()) {
            return decode_error(cf_subs, client_id, "filter '" + printable(filter) + "'", st);
        }
        if (r.filter != filter) {
            return decode_error(
                cf_subs, client_id, "filter '" + printable(filter) + "'",
                status::error(status::code::corruption, "the record holds another filter"));
        }
        out.push_back(std::move(r));
    }
    if (!it->status().ok()) return engine_error(it->status(), "reading");
    return status::ok();
}

status rocksdb_reader::load_queue(std::string_view client_id, std::uint64_t from_seq,
                                  std::size_t limit, std::vector<queue_entry>& out) {
    no_perf_counters();
    const pass entered(shared_->gate);
    if (!entered || !db()) return closed_error();
    if (client_id.size() > max_client_id || limit == 0) return status::ok();
    const std::string prefix = layout::session_key(client_id);
    std::string lower = prefix;
    layout::append_seq(lower, from_seq);
    std::string upper;
    const bool bounded = successor(prefix, upper);
    const rocksdb::Slice lo(lower), hi(upper);
    // An entry and its state from one point in time: a put deletes the state in the same batch.
    rocksdb::ManagedSnapshot snapshot(db());
    auto entries = range_iterator(cf_queue, &lo, bounded ? &hi : nullptr, snapshot.snapshot());
    auto states = range_iterator(cf_qstate, &lo, bounded ? &hi : nullptr, snapshot.snapshot());
    states->Seek(lo);
    const std::size_t first = out.size();
    for (entries->Seek(lo); entries->Valid() && limit > 0; entries->Next(), --limit) {
        const rocksdb::Slice key = entries->key();
        if (!view(key).starts_with(prefix)) break;
        if (key.size() != prefix.size() + 8) return bad_key(cf_queue, view(key));
        const std::uint64_t seq = read_be64(key.data() + prefix.size());
        const std::string where = "seq " + std::to_string(seq);
        queue_entry e;
        if (status st = decode_value(view(entries->value()), e); !st.is_ok()) {
            return decode_error(cf_queue, client_id, where, st);
        }
        if (e.seq != seq) {
            return decode_error(cf_queue, client_id, where,
                                status::error(status::code::corruption,
                                              "the entry holds seq " + std::to_string(e.seq)));
        }
        while (states->Valid() && states->key().compare(key) < 0)
            states->Next();
        if (states->Valid() && states->key() == key) {
            const rocksdb::Slice v = states->value();
            if (v.size() != 4 || static_cast<unsigned char>(v[0]) != layout::schema_version ||
                static_cast<unsigned char>(v[1]) > 2) {
                return decode_error(cf_qstate, client_id, where,
                                    status::error(status::code::corruption,
                                                  "malformed state value (" +
                                                      std::to_string(v.size()) + " bytes)"));
            }
            e.state = static_cast<queue_state>(v[1]);
            e.packet_id = static_cast<std::uint16_t>(static_cast<unsigned char>(v[2]) |
                                                     (static_cast<unsigned char>(v[3]) << 8));
        }
        out.push_back(std::move(e));
    }
    if (!entries->status().ok()) return engine_error(entries->status(), "reading");
    if (!states->status().ok()) return engine_error(states->status(), "reading");
    return resolve_messages(client_id, out, first, snapshot.snapshot());
}

status rocksdb_reader::resolve_messages(std::string_view client_id, std::vector<queue_entry>& out,
                                        std::size_t first, const rocksdb::Snapshot* snapshot) {
    std::vector<std::string> keys;
    std::vector<std::size_t> at;
    for (std::size_t i = first; i < out.size(); ++i) {
        if (out[i].message_id == 0) continue;
        // Consecutive entries of one fan-out often share it: read each id once.
        if (!at.empty() && out[at.back()].message_id == out[i].message_id) {
            at.push_back(i);
            continue;
        }
        keys.push_back(layout::message_key(out[i].message_id));
        at.push_back(i);
    }
    if (keys.empty()) return status::ok();
    std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
    std::vector<rocksdb::PinnableSlice> values(keys.size());
    std::vector<rocksdb::Status> statuses(keys.size());
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot;
    db()->MultiGet(ro, cf(cf_messages), slices.size(), slices.data(), values.data(),
                   statuses.data());
    std::size_t k = 0;
    for (std::size_t j = 0; j < at.size(); ++j) {
        queue_entry& e = out[at[j]];
        if (j > 0 && out[at[j - 1]].message_id == e.message_id) {
            e.message = out[at[j - 1]].message;
            continue;
        }
        const std::string where = "seq " + std::to_string(e.seq);
        const rocksdb::Status& s = statuses[k];
        if (s.IsNotFound()) {
            return decode_error(cf_queue, client_id, where,
                                status::error(status::code::corruption,
                                              "references message " + std::to_string(e.message_id) +
                                                  ", which is not stored"));
        }
        if (!s.ok()) return engine_error(s, "reading");
        if (status st = decode_value(view(values[k]), e.message); !st.is_ok()) {
            return decode_error(cf_messages, client_id, "message " + std::to_string(e.message_id),
                                st);
        }
        ++k;
    }
    return status::ok();
}

status rocksdb_reader::load_queue_bounds(std::string_view client_id,
                                         std::optional<queue_bounds>& out) {
    const pass entered(shared_->gate);
    if (!entered || !db()) return closed_error();
    out.reset();
    if (client_id.size() > max_client_id) return status::ok();
    const std::string lower = layout::session_key(client_id);
    std::string upper;
    const bool bounded = successor(lower, upper);
    const rocksdb::Slice lo(lower), hi(upper);
    auto it = range_iterator(cf_queue, &lo, bounded ? &hi : nullptr);
    // Two seeks: the first and the last key of the session's range.
    it->Seek(lo);
    if (!it->Valid() || !view(it->key()).starts_with(lower)) {
        if (!it->status().ok()) return engine_error(it->status(), "reading");
        return status::ok();
    }
    if (it->key().size() != lower.size() + 8) return bad_key(cf_queue, view(it->key()));
    queue_bounds b;
    b.first_seq = read_be64(it->key().data() + lower.size());
    it->SeekToLast();  // the last key below the upper bound (all keys, if there is none)
    if (!it->Valid()) {
        if (!it->status().ok()) return engine_error(it->status(), "reading");
        return bad_key(cf_queue, lower);
    }
    if (!view(it->key()).starts_with(lower) || it->key().size() != lower.size() + 8) {
        return bad_key(cf_queue, view(it->key()));
    }
    b.last_seq = read_be64(it->key().data() + lower.size());
    out = b;
    return status::ok();
}

status rocksdb_reader::load_recovery_state(const std::vector<std::string>& client_ids,
                                           std::vector<recovery_state>& out) {
    const pass entered(shared_->gate);
    if (!entered || !db()) return closed_error();
    out.assign(client_ids.size(), recovery_state{});
    // One iterator per column family for the whole call, seeking forward in key order: creating
    // three iterators per session dominated recovery time.
    std::vector<std::pair<std::string, std::size_t>> keys;
    keys.reserve(client_ids.size());
    for (std::size_t i = 0; i < client_ids.size(); ++i) {
        if (client_ids[i].size() > max_client_id) continue;  // nothing can be stored for it
        keys.emplace_back(layout::session_key(client_ids[i]), i);
    }
    std::sort(keys.begin(), keys.end());
    rocksdb::ManagedSnapshot snapshot(db());
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot.snapshot();
    // Finding each queue's bounds reads the data blocks around them, payloads included: kept out
    // of the block cache, the RSS after recovery follows the sessions, not the queued payloads
    // (they are read when their client returns).
    ro.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> subs(db()->NewIterator(ro, cf(cf_subs)));
    std::unique_ptr<rocksdb::Iterator> queue(db()->NewIterator(ro, cf(cf_queue)));
    std::unique_ptr<rocksdb::Iterator> inq2(db()->NewIterator(ro, cf(cf_inq2)));
    std::string last_possible;
    for (const auto& [prefix, index] : keys) {
        const std::string_view client_id = client_ids[index];
        recovery_state& r = out[index];
        for (subs->Seek(prefix); subs->Valid() && view(subs->key()).starts_with(prefix);
             subs->Next()) {
            const std::string_view filter = view(subs->key()).substr(prefix.size());
            subscription_record rec;
            if (status st = decode_value(view(subs->value()), rec); !st.is_ok())
                return decode_error(cf_subs, client_id, "filter '" + printable(filter) + "'", st);
            if (rec.filter != filter)
                return decode_error(
                    cf_subs, client_id, "filter '" + printable(filter) + "'",
                    status::error(status::code::corruption, "the record holds another filter"));
            r.subscriptions.push_back(std::move(rec));
        }
        // Each Seek resets an iterator's status: an error that ended this scan is seen only now.
        if (!subs->status().ok()) return engine_error(subs->status(), "reading");
        queue->Seek(prefix);
        if (!queue->status().ok()) return engine_error(queue->status(), "reading");
        if (queue->Valid() && view(queue->key()).starts_with(prefix)) {
            if (queue->key().size() != prefix.size() + 8)
                return bad_key(cf_queue, view(queue->key()));
            queue_bounds b;
            b.first_seq = read_be64(queue->key().data() + prefix.size());
            last_possible = prefix;
            last_possible.append(8, '\xff');
            queue->SeekForPrev(last_possible);
            if (!queue->status().ok()) return engine_error(queue->status(), "reading");
            if (!queue->Valid() || !view(queue->key()).starts_with(prefix) ||
                queue->key().size() != prefix.size() + 8)
                return bad_key(cf_queue, queue->Valid() ? view(queue->key()) : prefix);
            b.last_seq = read_be64(queue->key().data() + prefix.size());
            r.bounds = b;
        }
        for (inq2->Seek(prefix); inq2->Valid() && view(inq2->key()).starts_with(prefix);
             inq2->Next()) {
            const std::string_view key = view(inq2->key());
            if (key.size() != prefix.size() + 2) return bad_key(cf_inq2, key);
            r.inbound_qos2.push_back(
                static_cast<std::uint16_t>((static_cast<unsigned char>(key[prefix.size()]) << 8) |
                                           static_cast<unsigned char>(key[prefix.size() + 1])));
        }
        if (!inq2->status().ok()) return engine_error(inq2->status(), "reading");
    }
    return status::ok();
}

// One pass per column family: the sessions, subscriptions, queue and inbound QoS 2 ids are all
// keyed by P(client_id), so iterators over each family advance together with the session
// iterator (a merge join) instead of seeking three times per session. Part `part` of `parts` is
// a range of the 8-byte hash that starts every key, so parts split the sessions evenly.
status rocksdb_reader::for_each_recovered_session(
    std::size_t part, std::size_t parts, std::size_t chunk,
    const std::function<bool(std::vector<recovered_session>&)>& fn) {
    no_perf_counters();  // on each reader thread
    const pass entered(shared_->gate);
    if (!entered || !db()) return closed_error();
    if (parts == 0 || part >= parts)
        return status::error(status::code::invalid_argument, "no such part of the sessions");
    chunk = std::max<std::size_t>(chunk, 1);
    auto hash_start = [&](std::size_t i) {
        std::string k;  // 8-byte big-endian, like the hash at the start of every key
        layout::append_seq(k, (~std::uint64_t{0} / parts) * i);
        return k;
    };
    const std::string lower = hash_start(part);
    const std::string upper = part + 1 < parts ? hash_start(part + 1) : std::string();
    const rocksdb::Slice lo(lower), hi(upper);
    rocksdb::ManagedSnapshot snapshot(db());
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot.snapshot();
    // A full scan at start-up must not evict the hot blocks; the queue's blocks hold payloads,
    // which are read when their client returns, not now.
    ro.fill_cache = false;
    ro.iterate_lower_bound = &lo;
    ro.iterate_upper_bound = upper.empty() ? nullptr : &hi;
    ro.readahead_size = 2 << 20;
    std::unique_ptr<rocksdb::Iterator> sessions(db()->NewIterator(ro, cf(cf_sessions)));
    std::unique_ptr<rocksdb::Iterator> subs(db()->NewIterator(ro, cf(cf_subs)));
    std::unique_ptr<rocksdb::Iterator> queue(db()->NewIterator(ro, cf(cf_queue)));
    std::unique_ptr<rocksdb::Iterator> inq2(db()->NewIterator(ro, cf(cf_inq2)));
    subs->Seek(lo);
    queue->Seek(lo);
    inq2->Seek(lo);
    // Moves `it` to the first key >= prefix: a Next-driven scan is already there unless records
    // without a session record (or a skipped session) lie in between.
    auto align = [](rocksdb::Iterator& it, const rocksdb::Slice& prefix) {
        if (it.Valid() && it.key().compare(prefix) < 0) it.Seek(prefix);
    };
    std::vector<recovered_session> batch;
    batch.reserve(chunk);
    std::string last_possible;
    for (sessions->Seek(lo); sessions->Valid(); sessions->Next()) {
        const std::string_view key = view(sessions->key());
        std::string_view id, rest;
        if (!parse_client(key, id, rest) || !rest.empty()) return bad_key(cf_sessions, key);
        recovered_session& r = batch.emplace_back();
        if (status st = decode_value(view(sessions->value()), r.record); !st.is_ok())
            return decode_error(cf_sessions, id, {}, st);
        if (r.record.client_id != id)
            return decode_error(
                cf_sessions, id, {},
                status::error(status::code::corruption, "the record holds another client id"));
        const rocksdb::Slice prefix = sessions->key();
        const std::string_view p = key;

        align(*subs, prefix);
        for (; subs->Valid() && view(subs->key()).starts_with(p); subs->Next()) {
            const std::string_view filter = view(subs->key()).substr(p.size());
            subscription_record rec;
            if (status st = decode_value(view(subs->value()), rec); !st.is_ok())
                return decode_error(cf_subs, id, "filter '" + printable(filter) + "'", st);
            if (rec.filter != filter)
                return decode_error(
                    cf_subs, id, "filter '" + printable(filter) + "'",
                    status::error(status::code::corruption, "the record holds another filter"));
            r.state.subscriptions.push_back(std::move(rec));
        }
        if (!subs->status().ok()) return engine_error(subs->status(), "reading");

        align(*queue, prefix);
        if (queue->Valid() && view(queue->key()).starts_with(p)) {
            if (queue->key().size() != p.size() + 8) return bad_key(cf_queue, view(queue->key()));
            queue_bounds b;
            b.first_seq = read_be64(queue->key().data() + p.size());
            b.last_seq = b.first_seq;
            // A short queue is walked (its keys are in the block just read); a long one's last
            // key is sought.
            int steps = 0;
            for (queue->Next(); queue->Valid() && view(queue->key()).starts_with(p) && steps < 32;
                 queue->Next(), ++steps) {
                if (queue->key().size() != p.size() + 8)
                    return bad_key(cf_queue, view(queue->key()));
                b.last_seq = read_be64(queue->key().data() + p.size());
            }
            if (queue->Valid() && view(queue->key()).starts_with(p)) {
                last_possible.assign(p);
                last_possible.append(8, '\xff');
                queue->SeekForPrev(last_possible);
                if (!queue->status().ok()) return engine_error(queue->status(), "reading");
                if (!queue->Valid() || !view(queue->key()).starts_with(p) ||
                    queue->key().size() != p.size() + 8)
                    return bad_key(cf_queue, queue->Valid() ? view(queue->key()) : p);
                b.last_seq = read_be64(queue->key().data() + p.size());
                queue->Next();
            }
            r.state.bounds = b;
        }
        if (!queue->status().ok()) return engine_error(queue->status(), "reading");

        align(*inq2, prefix);
        for (; inq2->Valid() && view(inq2->key()).starts_with(p); inq2->Next()) {
            const std::string_view k = view(inq2->key());
            if (k.size() != p.size() + 2) return bad_key(cf_inq2, k);
            r.state.inbound_qos2.push_back(
                static_cast<std::uint16_t>((static_cast<unsigned char>(k[p.size()]) << 8) |
                                           static_cast<unsigned char>(k[p.size() + 1])));
        }
        if (!inq2->status().ok()) return engine_error(inq2->status(), "reading");

        if (batch.size() >= chunk) {
            if (!fn(batch)) return status::ok();
            batch.clear();
        }
    }
    if (!sessions->status().ok()) return engine_error(sessions->status(), "reading");
    if (!batch.empty()) (void)fn(batch);
    return status::ok();
}

status rocksdb_reader::load_inbound_qos2(std::string_view client_id,
                                         std::vector<std::uint16_t>& out) {
    const pass entered(shared_->gate);
    if (!entered || !db()) return closed_error();
    if (client_id.size() > max_client_id) return status::ok();
    const std::string lower = layout::session_key(client_id);
    std::string upper;
    const bool bounded = successor(lower, upper);
    const rocksdb::Slice lo(lower), hi(upper);
    auto it = range_iterator(cf_inq2, &lo, bounded ? &hi : nullptr);
    for (it->Seek(lo); it->Valid(); it->Next()) {
        const std::string_view key = view(it->key());
        if (!key.starts_with(lower)) break;
        if (key.size() != lower.size() + 2) return bad_key(cf_inq2, key);
        out.push_back(
            static_cast<std::uint16_t>((static_cast<unsigned char>(key[lower.size()]) << 8) |
                                       static_cast<unsigned char>(key[lower.size() + 1])));
    }
    if (!it->status().ok()) return engine_error(it->status(), "reading");
    return status::ok();
}

status rocksdb_reader::for_each_message(
    const std::function<bool(std::uint64_t, message_record&&)>& fn) {
    const pass entered(shared_->gate);
    if (!entered || !db()) return closed_error();
    rocksdb::ReadOptions scan;
    scan.fill_cache = false;
    std::unique_ptr<rocksdb::Iterator> it(db()->NewIterator(scan, cf(cf_messages)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
        if (it->key().size() != 8) return bad_key(cf_messages, view(it->key()));
        const std::uint64_t id = read_be64(it->key().data());
        message_record m;
        if (status st = decode_value(view(it->value()), m); !st.is_ok()) {
            return decode_error(cf_messages, {}, "message " + std::to_string(id), st);
        }
        if (!fn(id, std::move(m))) return status::ok();
    }
    if (!it->status().ok()) return engine_error(it->status(), "reading");
    return status::ok();
}

status rocksdb_reader::for_each_retained(const std::function<bool(message_record&&)>& fn) {
    const pass entered(shared_->gate);
    if (!entered || !db()) return closed_error();
    rocksdb::ReadOptions scan;
    scan.fill_cache = false;  // a full scan at startup must not evict the hot blocks
    std::unique_ptr<rocksdb::Iterator> it(db()->NewIterator(scan, cf(cf_retained)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
        message_record m;
        const std::string_view topic = view(it->key());
        if (status st = decode_value(view(it->value()), m); !st.is_ok()) {
            return decode_error(cf_retained, topic, {}, st);
        }
        if (m.topic != topic) {
            return decode_error(
                cf_retained, topic, {},
                status::error(status::code::corruption, "the record holds another topic"));
        }
        if (!fn(std::move(m))) return status::ok();
    }
    if (!it->status().ok()) return engine_error(it->status(), "reading");
    return status::ok();
}

status rocksdb_reader::get_meta(std::string_view key, std::optional<std::string>& out) {
    const pass entered(shared_->gate);
    if (!entered || !db()) return closed_error();
    out.reset();
    std::string value;
    const rocksdb::Status s = db()->Get(rocksdb::ReadOptions(), cf(cf_meta),
                                        rocksdb::Slice(key.data(), key.size()), &value);
    if (s.IsNotFound()) return status::ok();
    if (!s.ok()) return engine_error(s, "reading");
    out = std::move(value);
    return status::ok();
}

status rocksdb_store::compact() {
    if (!db_) return closed_error();
    rocksdb::CompactRangeOptions o;
    // The last level too: tombstones there are what a compaction is asked for.
    o.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    for (std::size_t i = 0; i < cf_count; ++i) {
        const rocksdb::Status s = db_->CompactRange(o, cf_[i], nullptr, nullptr);
        if (!s.ok()) return engine_error(s, "compacting");
    }
    return status::ok();
}

status rocksdb_store::check() {
    if (!db_) return closed_error();
    // An empty write goes through the write path, which reports a background error (disk full,
    // failed compaction) that has stopped writes.
    rocksdb::WriteBatch empty;
    const rocksdb::Status s = db_->Write(rocksdb::WriteOptions(), &empty);
    if (!s.ok()) return engine_error(s, "checking");
    return status::ok();
}

status rocksdb_store::open_reader(std::unique_ptr<store_reader>& out) {
    const detail::reader_gate::pass entered(shared_->gate);
    if (!entered || !shared_->db) return closed_error();
    out = std::make_unique<rocksdb_reader>(options_.path, shared_);
    return status::ok();
}

status rocksdb_store::close() {
    shared_->gate.close();  // waits for reader calls in progress; later ones fail
    shared_->db = nullptr;
    if (!db_) return status::ok();
    status result;
    // Make everything durable, and flush memtables so the next open does not replay the WAL.
    rocksdb::Status s = db_->FlushWAL(true);
    if (!s.ok()) result = engine_error(s, "syncing the WAL of");
    if (result.is_ok()) {
        rocksdb::FlushOptions fo;
        fo.wait = true;
        s = db_->Flush(fo, std::vector<rocksdb::ColumnFamilyHandle*>(cf_, cf_ + cf_count));
        if (!s.ok()) result = engine_error(s, "flushing");
    }
    for (auto* h : handles_)
        (void)db_->DestroyColumnFamilyHandle(h);  // frees memory only
    handles_.clear();
    std::fill(std::begin(cf_), std::end(cf_), nullptr);
    s = db_->Close();
    if (!s.ok() && result.is_ok()) result = engine_error(s, "closing");
    delete db_;
    db_ = nullptr;
    return result;
}

}  // namespace

status open_rocksdb_store(const rocksdb_options& options, std::unique_ptr<store>& out) {
    auto s = std::make_unique<rocksdb_store>(options);
    if (status st = s->open(); !st.is_ok()) return st;
    out = std::move(s);
    return status::ok();
}

}  // namespace rmqtt::storage
