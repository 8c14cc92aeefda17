#include "rmqtt/storage/value_codec.hpp"

#include <cstring>
#include <string>

// Layout (schema version 2). All integers little-endian, fixed width; a string is a u32 length
// followed by its bytes; a bool is one byte, 0 or 1; an optional is a presence byte (0 or 1)
// followed by the value when present.
//
//   message_record:      topic, payload, qos u8, retain bool, properties, publisher,
//                        created_at_ms i64, expiry_at_ms i64
//   session_record:      client_id, protocol_version u8, username optional<string>, listener,
//                        peer_address, expiry_interval_s u32, created_at_ms i64,
//                        connected_at_ms i64, disconnected_at_ms i64, clean_disconnect bool,
//                        will optional<{message_record fields, delay_interval_s u32}>,
//                        receive_maximum u16, maximum_packet_size u32, topic_alias_maximum u16,
//                        request_problem_information bool,
//                        first_generation u32, generation u32 (version 2 on; absent in 1)
//   subscription_record: filter, qos u8, no_local bool, retain_as_published bool,
//                        retain_handling u8, subscription_id u32
//   queue_entry:         seq u64, state u8, packet_id u16, qos u8, retain bool,
//                        subscription_ids (u32 count, then count x u32), message_record fields
//                        (version 3: message_id u64 instead of the message_record fields; only
//                        entries with a message id are written in version 3)
//
// A top-level value is the version byte followed by one of these; nested records carry no
// version byte of their own. Trailing bytes are corruption. Version 1 differs only where noted.
namespace rmqtt::storage {

namespace {

// ---- encoding ---------------------------------------------------------------------------------

class writer {
  public:
    explicit writer(std::size_t reserve) { out_.reserve(reserve); }
    void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }
    void boolean(bool v) { u8(v ? 1 : 0); }
    void u16(std::uint16_t v) { fixed(v); }
    void u32(std::uint32_t v) { fixed(v); }
    void u64(std::uint64_t v) { fixed(v); }
    void i64(std::int64_t v) { fixed(static_cast<std::uint64_t>(v)); }
    void str(const std::string& s) {
        u32(static_cast<std::uint32_t>(s.size()));
        out_.append(s);
    }
    std::string take() { return std::move(out_); }

  private:
    template <class T>
    void fixed(T v) {
        char buf[sizeof(T)];
        for (std::size_t i = 0; i < sizeof(T); ++i) {
            buf[i] = static_cast<char>(static_cast<std::uint8_t>(v >> (8 * i)));
        }
        out_.append(buf, sizeof(T));
    }
    std::string out_;
};

std::size_t message_fields_size(const message_record& m) noexcept {
    return 4 * 4 + m.topic.size() + m.payload.size() + m.properties.size() + m.publisher.size() +
           2 + 16;
}

void write_message_fields(writer& w, const message_record& m) {
    w.str(m.topic);
    w.str(m.payload);
    w.u8(m.qos);
    w.boolean(m.retain);
    w.str(m.properties);
    w.str(m.publisher);
    w.i64(m.created_at_ms);
    w.i64(m.expiry_at_ms);
}

// ---- decoding ---------------------------------------------------------------------------------

// Reads fields from untrusted bytes. The first failure is kept with a description; later reads
// then do nothing, so decoders can read every field and check ok() once at the end.
class reader {
  public:
    reader(std::string_view bytes, const char* what) : in_(bytes), what_(what) {}

    bool ok() const noexcept { return error_.empty(); }

    // The schema version the value was written in (0 after a failure).
    // `max`: the highest version this kind of record is written in (only queue entries have a
    // version 3).
    std::uint8_t version(std::uint8_t max = value_schema_version) {
        if (!take(1, "schema version")) return 0;
        const auto v = static_cast<std::uint8_t>(in_[pos_ - 1]);
        if (v < min_value_schema_version || v > max) {
            fail("unknown schema version " + std::to_string(v) + " (this build reads versions " +
                 std::to_string(min_value_schema_version) + " to " + std::to_string(max) +
                 " of a " + what_ + ")");
            return 0;
        }
        return v;
    }
    std::uint8_t u8(const char* field) { return static_cast<std::uint8_t>(fixed(1, field)); }
    std::uint16_t u16(const char* field) { return static_cast<std::uint16_t>(fixed(2, field)); }
    std::uint32_t u32(const char* field) { return static_cast<std::uint32_t>(fixed(4, field)); }
    std::uint64_t u64(const char* field) { return fixed(8, field); }
    std::int64_t i64(const char* field) { return static_cast<std::int64_t>(fixed(8, field)); }
    bool boolean(const char* field) {
        const std::uint8_t v = u8(field);
        if (ok() && v > 1)
            fail(std::string("field '") + field + "' is not a bool (" + std::to_string(v) + ")");
        return v == 1;
    }
    // A value that must be <= max (enums, QoS).
    std::uint8_t bounded(const char* field, std::uint8_t max) {
        const std::uint8_t v = u8(field);
        if (ok() && v > max) {
            fail(std::string("field '") + field + "' out of range (" + std::to_string(v) + " > " +
                 std::to_string(max) + ")");
        }
        return v;
    }
    void str(const char* field, std::string& out) {
        const std::uint32_t n = u32(field);
        if (!ok()) return;
        if (n > in_.size() - pos_) {  // checked before any allocation
            fail(std::string("field '") + field + "' claims " + std::to_string(n) +
                 " bytes but only " + std::to_string(in_.size() - pos_) + " remain");
            return;
        }
        out.assign(in_.data() + pos_, n);
        pos_ += n;
    }
    // A count of elements of `element_size` bytes each, checked against the bytes left.
    std::uint32_t count(const char* field, std::size_t element_size) {
        const std::uint32_t n = u32(field);
        if (ok() && static_cast<std::uint64_t>(n) * element_size > in_.size() - pos_) {
            fail(std::string("field '") + field + "' claims " + std::to_string(n) +
                 " elements but only " + std::to_string(in_.size() - pos_) + " bytes remain");
            return 0;
        }
        return ok() ? n : 0;
    }
    status finish() {
        if (ok() && pos_ != in_.size()) {
            fail(std::to_string(in_.size() - pos_) + " unexpected trailing bytes");
        }
        if (ok()) return status::ok();
        return status::error(status::code::corruption, std::string("cannot decode ") + what_ +
                                                           " (" + std::to_string(in_.size()) +
                                                           " bytes): " + error_);
    }

  private:
    bool take(std::size_t n, const char* field) {
        if (!ok()) return false;
        if (n > in_.size() - pos_) {
            fail(std::string("truncated at offset ") + std::to_string(pos_) + " reading '" + field +
                 "'");
            return false;
        }
        pos_ += n;
        return true;
    }
    std::uint64_t fixed(std::size_t n, const char* field) {
        if (!take(n, field)) return 0;
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < n; ++i) {
            v |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(in_[pos_ - n + i]))
                 << (8 * i);
        }
        return v;
    }
    void fail(std::string why) {
        if (error_.empty()) error_ = std::move(why);
    }

    std::string_view in_;
    std::size_t pos_ = 0;
    const char* what_;
    std::string error_;
};

void read_message_fields(reader& r, message_record& m) {
    r.str("topic", m.topic);
    r.str("payload", m.payload);
    m.qos = r.bounded("qos", 2);
    m.retain = r.boolean("retain");
    r.str("properties", m.properties);
    r.str("publisher", m.publisher);
    m.created_at_ms = r.i64("created_at_ms");
    m.expiry_at_ms = r.i64("expiry_at_ms");
}

}  // namespace

// ---- public API -------------------------------------------------------------------------------

std::string encode_value(const message_record& m) {
    writer w(1 + message_fields_size(m));
    w.u8(value_schema_version);
    write_message_fields(w, m);
    return w.take();
}

std::string encode_value(const session_record& s) {
    std::size_t size = 72 + s.client_id.size() + s.listener.size() + s.peer_address.size();
    if (s.username) size += 4 + s.username->size();
    if (s.will) size += message_fields_size(s.will->message) + 4;
    writer w(size);
    w.u8(value_schema_version);
    w.str(s.client_id);
    w.u8(s.protocol_version);
    w.boolean(s.username.has_value());
    if (s.username) w.str(*s.username);
    w.str(s.listener);
    w.str(s.peer_address);
    w.u32(s.expiry_interval_s);
    w.i64(s.created_at_ms);
    w.i64(s.connected_at_ms);
    w.i64(s.disconnected_at_ms);
    w.boolean(s.clean_disconnect);
    w.boolean(s.will.has_value());
    if (s.will) {
        write_message_fields(w, s.will->message);
        w.u32(s.will->delay_interval_s);
    }
    w.u16(s.receive_maximum);
    w.u32(s.maximum_packet_size);
    w.u16(s.topic_alias_maximum);
    w.boolean(s.request_problem_information);
    w.u32(s.first_generation);
    w.u32(s.generation);
    return w.take();
}

std::string encode_value(const subscription_record& s) {
    writer w(1 + 4 + s.filter.size() + 8);
    w.u8(value_schema_version);
    w.str(s.filter);
    w.u8(s.qos);
    w.boolean(s.no_local);
    w.boolean(s.retain_as_published);
    w.u8(s.retain_handling);
    w.u32(s.subscription_id);
    return w.take();
}

std::string encode_value(const queue_entry& e) {
    const bool shared = e.message_id != 0;
    writer w(1 + 17 + 4 + 4 * e.subscription_ids.size() +
             (shared ? 8 : message_fields_size(e.message)));
    w.u8(shared ? shared_message_schema_version : value_schema_version);
    w.u64(e.seq);
    w.u8(static_cast<std::uint8_t>(e.state));
    w.u16(e.packet_id);
    w.u8(e.qos);
    w.boolean(e.retain);
    w.u32(static_cast<std::uint32_t>(e.subscription_ids.size()));
    for (std::uint32_t id : e.subscription_ids)
        w.u32(id);
    if (shared) {
        w.u64(e.message_id);
    } else {
        write_message_fields(w, e.message);
    }
    return w.take();
}

status decode_value(std::string_view bytes, message_record& out) {
    reader r(bytes, "message record");
    r.version();
    read_message_fields(r, out);
    return r.finish();
}

status decode_value(std::string_view bytes, session_record& out) {
    reader r(bytes, "session record");
    const std::uint8_t version = r.version();
    r.str("client_id", out.client_id);
    out.protocol_version = r.u8("protocol_version");
    if (r.boolean("username present")) {
        out.username.emplace();
        r.str("username", *out.username);
    } else {
        out.username.reset();
    }
    r.str("listener", out.listener);
    r.str("peer_address", out.peer_address);
    out.expiry_interval_s = r.u32("expiry_interval_s");
    out.created_at_ms = r.i64("created_at_ms");
    out.connected_at_ms = r.i64("connected_at_ms");
    out.disconnected_at_ms = r.i64("disconnected_at_ms");
    out.clean_disconnect = r.boolean("clean_disconnect");
    if (r.boolean("will present")) {
        out.will.emplace();
        read_message_fields(r, out.will->message);
        out.will->delay_interval_s = r.u32("will delay_interval_s");
    } else {
        out.will.reset();
    }
    out.receive_maximum = r.u16("receive_maximum");
    out.maximum_packet_size = r.u32("maximum_packet_size");
    out.topic_alias_maximum = r.u16("topic_alias_maximum");
    out.request_problem_information = r.boolean("request_problem_information");
    if (version >= 2) {
        out.first_generation = r.u32("first_generation");
        out.generation = r.u32("generation");
    } else {
        out.first_generation = 0;
        out.generation = 0;
    }
    return r.finish();
}

status decode_value(std::string_view bytes, subscription_record& out) {
    reader r(bytes, "subscription record");
    r.version();
    r.str("filter", out.filter);
    out.qos = r.bounded("qos", 2);
    out.no_local = r.boolean("no_local");
    out.retain_as_published = r.boolean("retain_as_published");
    out.retain_handling = r.bounded("retain_handling", 2);
    out.subscription_id = r.u32("subscription_id");
    return r.finish();
}

status decode_value(std::string_view bytes, queue_entry& out) {
    reader r(bytes, "queue entry");
    const std::uint8_t version = r.version(max_value_schema_version);
    out.seq = r.u64("seq");
    out.state = static_cast<queue_state>(r.bounded("state", 2));
    out.packet_id = r.u16("packet_id");
    out.qos = r.bounded("qos", 2);
    out.retain = r.boolean("retain");
    const std::uint32_t n = r.count("subscription_ids", 4);
    out.subscription_ids.clear();
    out.subscription_ids.reserve(n);
    for (std::uint32_t i = 0; i < n && r.ok(); ++i) {
        out.subscription_ids.push_back(r.u32("subscription_id"));
    }
    if (version >= shared_message_schema_version) {
        out.message_id = r.u64("message_id");
        out.message = message_record{};
        if (r.ok() && out.message_id == 0) {
            return status::error(status::code::corruption,
                                 "queue entry: message id 0 in a shared-message entry");
        }
    } else {
        out.message_id = 0;
        read_message_fields(r, out.message);
    }
    return r.finish();
}

}  // namespace rmqtt::storage
