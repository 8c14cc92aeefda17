// The RocksDB side of store_source: a raw, read-only scan of the column families
// (rmqtt/storage/rocksdb_store.hpp documents the layout) next to the engine's own store for
// writes, and CompactRange.

#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "rmqtt/storage/rocksdb_store.hpp"
#include "rmqtt/storage/value_codec.hpp"
#include "store_source.hpp"

namespace rmqtt::store_tool {

namespace layout = storage::rocksdb_layout;
namespace fs = std::filesystem;

namespace {

std::string hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (const unsigned char c : bytes.substr(0, 48)) {
        out.push_back(digits[c >> 4]);
        out.push_back(digits[c & 0xF]);
    }
    if (bytes.size() > 48) out += "...";
    return out;
}

std::uint64_t read_be(std::string_view b) {
    std::uint64_t v = 0;
    for (const unsigned char c : b)
        v = (v << 8) | c;
    return v;
}

// Splits a key into the client id of its P(client_id) prefix and the rest; false when the key
// does not start with a well-formed prefix.
bool split_client_key(std::string_view key, std::string& client_id, std::string_view& rest) {
    if (key.size() < 10) return false;
    const auto n = static_cast<std::size_t>(read_be(key.substr(8, 2)));
    if (key.size() < 10 + n) return false;
    const std::string_view id = key.substr(10, n);
    if (layout::client_hash(id) != read_be(key.substr(0, 8))) return false;
    client_id.assign(id);
    rest = key.substr(10 + n);
    return true;
}

// The data: SST files and write-ahead logs (not RocksDB's info logs and manifests).
std::uint64_t data_bytes(const std::string& path) {
    std::uint64_t n = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(path, ec)) {
        std::error_code fe;
        const auto ext = e.path().extension();
        if ((ext == ".sst" || ext == ".log") && e.is_regular_file(fe)) n += e.file_size(fe);
    }
    return n;
}

bool lock_error(const std::string& message) {
    return message.find("lock") != std::string::npos || message.find("LOCK") != std::string::npos;
}

[[noreturn]] void held(const std::string& path, bool may_live) {
    throw tool_error(exit_refused,
                     "the RocksDB store at '" + path +
                         "' is locked (its LOCK file is held): a running rmqttd holds it. Stop "
                         "the broker first" +
                         (may_live ? std::string(", or pass --live for a read-only view") : "") +
                         ".");
}

class rocksdb_source final : public store_source {
  public:
    rocksdb_source(const store_target& t, access a, bool live) : path_(t.rocksdb_path) {
        const bool exists = fs::exists(fs::path(path_) / "CURRENT");
        if (!exists && a != access::write) {
            throw tool_error(exit_error, "no RocksDB store at '" + path_ +
                                             "' (no CURRENT file there): check "
                                             "storage.rocksdb.path, -f, --id or --rocksdb");
        }
        // The raw read-only view is opened before the engine when there is a store: the
        // engine's open may flush and compact (replaying its log), removing table files, and a
        // read-only open running then fails on a file that went. Opened first, the view holds
        // every table file open (max_open_files -1) and has read the log already.
        const bool raw_first = exists && a != access::compact;
        if (raw_first) {
            try {
                open_raw();
            } catch (const tool_error&) {
                // A broker's compaction can make the read-only open fail too: its LOCK is the
                // answer then.
                std::unique_ptr<storage::store> probe;
                if (!live) {
                    const auto st = storage::open_rocksdb_store({.path = path_}, probe);
                    if (!st && lock_error(st.message())) held(path_, a == access::read);
                    if (probe) (void)probe->close();
                }
                throw;
            }
        }
        if (!live) {
            // The engine's own open: takes the LOCK (refused while a broker holds it), checks the
            // schema, and creates a store to import into. A refusal ends the constructor, so the
            // view opened above is closed here (the destructor does not run).
            std::error_code ec;
            fs::create_directories(fs::path(path_).parent_path(), ec);
            storage::rocksdb_options o;
            o.path = path_;
            o.sync = true;
            if (auto st = storage::open_rocksdb_store(o, store_); !st) {
                close_raw();
                if (lock_error(st.message())) held(path_, a == access::read);
                throw tool_error(exit_error, st.message());
            }
        }
        if (!raw_first && a != access::compact) open_raw();
    }
    ~rocksdb_source() override {
        close_raw();
        if (store_) (void)store_->close();  // nothing written is pending: write() returned
    }

    void scan(store_image& out, progress& p) override {
        out.engine = "rocksdb";
        out.location = path_;
        for (std::size_t i = 0; i < names_.size(); ++i)
            scan_family(names_[i], handles_[i], out, p);
        apply_states(out);
        out.resolve_shared();
    }

    storage::store& writer() override { return *store_; }

    void remove_index_members(const std::vector<std::string>&) override {}

    void compact(std::uint64_t& before, std::uint64_t& after) override {
        before = data_bytes(path_);
        std::fprintf(stderr, "compacting %s...\n", path_.c_str());
        if (auto st = store_->compact(); !st) throw tool_error(exit_error, st.message());
        // Obsolete files go when the database closes.
        if (auto st = store_->close(); !st) throw tool_error(exit_error, st.message());
        store_.reset();
        after = data_bytes(path_);
    }

  private:
    void open_raw() {
        rocksdb::DBOptions dbo;
        dbo.paranoid_checks = true;
        dbo.max_open_files = -1;  // every table file open from the start (see the constructor)
        auto s = rocksdb::DB::ListColumnFamilies(dbo, path_, &names_);
        if (!s.ok()) throw tool_error(exit_error, "cannot read '" + path_ + "': " + s.ToString());
        std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
        for (const auto& n : names_)
            descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions());
        s = rocksdb::DB::OpenForReadOnly(dbo, path_, descriptors, &handles_, &db_);
        if (!s.ok()) {
            db_ = nullptr;
            handles_.clear();
            throw tool_error(exit_error, "cannot open the RocksDB store at '" + path_ +
                                             "': " + s.ToString() +
                                             (s.IsCorruption() ? " (the store is damaged)" : ""));
        }
    }
    void close_raw() {
        if (!db_) return;
        for (auto* h : handles_)
            (void)db_->DestroyColumnFamilyHandle(h);  // only fails for the default family
        handles_.clear();
        (void)db_->Close();  // read-only: nothing to lose
        delete db_;
        db_ = nullptr;
    }

    void bad(store_image& out, const std::string& cf, std::string_view key, std::string detail,
             const std::string& client_id = {}) {
        out.findings.push_back({finding::type::undecodable, client_id,
                                "column family " + cf + ", key " + hex(key), std::move(detail),
                                std::nullopt, std::nullopt});
    }

    void scan_family(const std::string& cf, rocksdb::ColumnFamilyHandle* h, store_image& out,
                     progress& p) {
        rocksdb::ReadOptions ro;
        ro.fill_cache = false;
        std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, h));
        std::string id;
        for (it->SeekToFirst(); it->Valid(); it->Next()) {
            p.tick();
            const std::string_view key(it->key().data(), it->key().size());
            const std::string_view value(it->value().data(), it->value().size());
            const std::size_t size = key.size() + value.size();
            std::string_view rest;
            if (cf == layout::cf_meta) {
                out.count(record_kind::meta, size);
                out.meta.emplace(std::string(key), std::string(value));
                continue;
            }
            if (cf == layout::cf_retained) {
                out.count(record_kind::retained, size);
                storage::message_record m;
                if (auto st = storage::decode_value(value, m); !st)
                    bad(out, cf, key, st.message());
                else if (m.topic != key)
                    bad(out, cf, key, "holds the retained message of topic '" + m.topic + "'");
                else
                    out.retained.emplace(m.topic, std::move(m));
                continue;
            }
            if (cf == layout::cf_messages || cf == layout::cf_msgrefs) {
                const bool count = cf == layout::cf_msgrefs;
                out.count(count ? record_kind::message_refs : record_kind::shared_message, size);
                if (key.size() != 8) {
                    bad(out, cf, key, "the key is not an 8-byte message id");
                    continue;
                }
                const std::uint64_t mid = read_be(key);
                if (count) {
                    if (value.size() != 8) {
                        bad(out, cf, key, "malformed count");
                        continue;
                    }
                    std::uint64_t n = 0;
                    for (int i = 7; i >= 0; --i)
                        n = (n << 8) |
                            static_cast<unsigned char>(value[static_cast<std::size_t>(i)]);
                    out.shared_refs.emplace(mid, n);
                    continue;
                }
                storage::message_record m;
                if (auto st = storage::decode_value(value, m); !st)
                    bad(out, cf, key, st.message());
                else
                    out.shared.emplace(mid, std::move(m));
                continue;
            }
            const bool per_client = cf == layout::cf_sessions || cf == layout::cf_subs ||
                                    cf == layout::cf_queue || cf == layout::cf_qstate ||
                                    cf == layout::cf_inq2;
            if (!per_client) {
                out.count(record_kind::other, size);
                if (cf != "default" || key != layout::schema_key)
                    out.findings.push_back(
                        {finding::type::unknown, "", "column family " + cf + ", key " + hex(key),
                         "not part of the store's layout", std::nullopt, std::nullopt});
                continue;
            }
            if (!split_client_key(key, id, rest)) {
                out.count(record_kind::other, size);
                bad(out, cf, key, "the key does not start with a client id prefix");
                continue;
            }
            auto& c = out.clients[id];
            c.bytes += size;
            if (cf == layout::cf_sessions) {
                out.count(record_kind::session, size);
                storage::session_record r;
                if (!rest.empty())
                    bad(out, cf, key, "trailing bytes after the client id", id);
                else if (auto st = storage::decode_value(value, r); !st)
                    bad(out, cf, key, st.message(), id);
                else if (r.client_id != id)
                    bad(out, cf, key, "holds the session of client id '" + r.client_id + "'", id);
                else
                    c.session = std::move(r);
            } else if (cf == layout::cf_subs) {
                out.count(record_kind::subscription, size);
                storage::subscription_record r;
                if (auto st = storage::decode_value(value, r); !st)
                    bad(out, cf, key, st.message(), id);
                else if (r.filter != rest)
                    bad(out, cf, key, "holds the subscription to '" + r.filter + "'", id);
                else
                    c.subscriptions.emplace(r.filter, std::move(r));
            } else if (cf == layout::cf_queue) {
                storage::queue_entry e;
                if (rest.size() != 8) {
                    out.count(record_kind::message, size);
                    bad(out, cf, key, "the key has no 8-byte sequence number", id);
                } else if (auto st = storage::decode_value(value, e); !st) {
                    out.count(record_kind::message, size);
                    bad(out, cf, key, st.message(), id);
                } else if (e.seq != read_be(rest)) {
                    out.count(record_kind::message, size);
                    bad(out, cf, key, "holds seq " + std::to_string(e.seq), id);
                } else {
                    // The state record sorts in its own family; applied after the scan.
                    out.count(e.state == storage::queue_state::queued ? record_kind::message
                                                                      : record_kind::inflight,
                              size);
                    c.queue.emplace(e.seq, std::move(e));
                }
            } else if (cf == layout::cf_qstate) {
                out.count(record_kind::queue_state, size);
                if (rest.size() != 8 || value.size() != 4 ||
                    static_cast<unsigned char>(value[0]) != layout::schema_version ||
                    static_cast<unsigned char>(value[1]) > 2) {
                    bad(out, cf, key,
                        "malformed queue state (" + std::to_string(value.size()) + " bytes)", id);
                    continue;
                }
                const std::uint64_t seq = read_be(rest);
                c.states.insert(seq);
                states_.push_back(
                    {id, seq, static_cast<storage::queue_state>(value[1]),
                     static_cast<std::uint16_t>(static_cast<unsigned char>(value[2]) |
                                                (static_cast<unsigned char>(value[3]) << 8))});
            } else {
                out.count(record_kind::inbound_qos2, size);
                if (rest.size() != 2 || !value.empty())
                    bad(out, cf, key, "malformed inbound QoS 2 key", id);
                else
                    c.inbound_qos2.insert(static_cast<std::uint16_t>(read_be(rest)));
            }
        }
        if (!it->status().ok())
            throw tool_error(exit_error, "reading '" + path_ + "' (column family " + cf +
                                             "): " + it->status().ToString());
    }

    // A state record overrides its entry's state (update_queue_entry).
    void apply_states(store_image& out) {
        for (const auto& s : states_) {
            auto& c = out.clients[s.client_id];
            const auto it = c.queue.find(s.seq);
            if (it == c.queue.end()) continue;  // dangling: find_references reports it
            auto& e = it->second;
            if ((e.state == storage::queue_state::queued) !=
                (s.state == storage::queue_state::queued)) {
                // Counted as the stored value's state; move it to the state in force.
                const bool queued = s.state == storage::queue_state::queued;
                auto& from = out.counts[static_cast<std::size_t>(queued ? record_kind::inflight
                                                                        : record_kind::message)];
                auto& to = out.counts[static_cast<std::size_t>(queued ? record_kind::message
                                                                      : record_kind::inflight)];
                if (from > 0) --from;
                ++to;
            }
            e.state = s.state;
            e.packet_id = s.packet_id;
        }
        states_.clear();
    }

    struct state_record {
        std::string client_id;
        std::uint64_t seq;
        storage::queue_state state;
        std::uint16_t packet_id;
    };
    std::string path_;
    std::unique_ptr<storage::store> store_;
    rocksdb::DB* db_ = nullptr;
    std::vector<std::string> names_;
    std::vector<rocksdb::ColumnFamilyHandle*> handles_;
    std::vector<state_record> states_;
};

}  // namespace

std::unique_ptr<store_source> open_rocksdb_source(const store_target& t, access a, bool live) {
    return std::make_unique<rocksdb_source>(t, a, live);
}

}  // namespace rmqtt::store_tool
