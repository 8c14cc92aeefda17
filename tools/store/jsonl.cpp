#include "jsonl.hpp"

#include <ctime>
#include <istream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "rmqtt/broker/base64.hpp"

namespace rmqtt::store_tool {

using json = nlohmann::ordered_json;

namespace {

const char* state_name(storage::queue_state s) {
    switch (s) {
        case storage::queue_state::queued:
            return "queued";
        case storage::queue_state::sent:
            return "sent";
        case storage::queue_state::pubrec_received:
            return "pubrec_received";
    }
    return "?";
}

std::string iso_time(std::int64_t ms) {
    const std::time_t t = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

json message_json(const storage::message_record& m) {
    return json{{"topic", m.topic},
                {"payload_b64", broker::base64_encode(m.payload)},
                {"qos", m.qos},
                {"retain", m.retain},
                {"properties_b64", broker::base64_encode(m.properties)},
                {"publisher", m.publisher},
                {"created_at_ms", m.created_at_ms},
                {"expiry_at_ms", m.expiry_at_ms}};
}

json session_json(const storage::session_record& s) {
    json j{{"type", "session"},
           {"client_id", s.client_id},
           {"protocol_version", s.protocol_version},
           {"username", s.username ? json(*s.username) : json(nullptr)},
           {"listener", s.listener},
           {"peer_address", s.peer_address},
           {"expiry_interval_s", s.expiry_interval_s},
           {"created_at_ms", s.created_at_ms},
           {"connected_at_ms", s.connected_at_ms},
           {"disconnected_at_ms", s.disconnected_at_ms},
           {"clean_disconnect", s.clean_disconnect},
           {"will", nullptr},
           {"receive_maximum", s.receive_maximum},
           {"maximum_packet_size", s.maximum_packet_size},
           {"topic_alias_maximum", s.topic_alias_maximum},
           {"request_problem_information", s.request_problem_information},
           {"first_generation", s.first_generation},
           {"generation", s.generation}};
    if (s.will)
        j["will"] = json{{"message", message_json(s.will->message)},
                         {"delay_interval_s", s.will->delay_interval_s}};
    return j;
}

bool printable(std::string_view s) {
    for (const unsigned char c : s)
        if (c < 0x20 || c > 0x7E) return false;
    return true;
}

// ---- reading -----------------------------------------------------------------------------------

// One line being read; every error names the file and the line.
struct line_reader {
    const std::string& name;
    std::size_t number = 0;

    [[noreturn]] void fail(const std::string& what) const {
        throw tool_error(exit_error, name + ":" + std::to_string(number) + ": " + what);
    }
    const json& field(const json& j, const char* key) const {
        const auto it = j.find(key);
        if (it == j.end()) fail(std::string("missing field \"") + key + "\"");
        return *it;
    }
    std::string str(const json& j, const char* key) const {
        const auto& v = field(j, key);
        if (!v.is_string()) fail(std::string("\"") + key + "\" must be a string");
        return v.get<std::string>();
    }
    std::string bytes(const json& j, const char* key) const {
        auto out = broker::base64_decode(str(j, key));
        if (!out) fail(std::string("\"") + key + "\" is not base64");
        return *out;
    }
    bool boolean(const json& j, const char* key) const {
        const auto& v = field(j, key);
        if (!v.is_boolean()) fail(std::string("\"") + key + "\" must be true or false");
        return v.get<bool>();
    }
    template <class T>
    T integer(const json& j, const char* key, T min = std::numeric_limits<T>::min(),
              T max = std::numeric_limits<T>::max()) const {
        const auto& v = field(j, key);
        bool ok = false;
        if constexpr (std::is_signed_v<T>) {
            ok = v.is_number_integer() && v.get<std::int64_t>() >= static_cast<std::int64_t>(min) &&
                 v.get<std::int64_t>() <= static_cast<std::int64_t>(max);
        } else {
            ok = v.is_number_unsigned() &&
                 v.get<std::uint64_t>() >= static_cast<std::uint64_t>(min) &&
                 v.get<std::uint64_t>() <= static_cast<std::uint64_t>(max);
        }
        if (!ok)
            fail(std::string("\"") + key + "\" must be an integer from " + std::to_string(min) +
                 " to " + std::to_string(max));
        if constexpr (std::is_signed_v<T>)
            return static_cast<T>(v.get<std::int64_t>());
        else
            return static_cast<T>(v.get<std::uint64_t>());
    }
    storage::message_record message(const json& j) const {
        if (!j.is_object()) fail("\"message\" must be an object");
        storage::message_record m;
        m.topic = str(j, "topic");
        m.payload = bytes(j, "payload_b64");
        m.qos = integer<std::uint8_t>(j, "qos", 0, 2);
        m.retain = boolean(j, "retain");
        m.properties = bytes(j, "properties_b64");
        m.publisher = str(j, "publisher");
        m.created_at_ms = integer<std::int64_t>(j, "created_at_ms");
        m.expiry_at_ms = integer<std::int64_t>(j, "expiry_at_ms");
        return m;
    }
};

}  // namespace

std::size_t write_jsonl(const store_image& image, const export_info& info, std::ostream& out,
                        progress& p) {
    const auto line = [&](const json& j) {
        try {
            out << j.dump() << '\n';
        } catch (const json::exception& e) {
            throw tool_error(exit_error, std::string("cannot write a record as JSON: ") + e.what());
        }
        p.tick();
    };
    line(json{{"type", "header"},
              {"format", format_name},
              {"version", format_version},
              {"engine", info.engine},
              {"source", info.source},
              {"node", info.node},
              {"exported_at", iso_time(info.now_ms)},
              {"exported_at_ms", info.now_ms}});
    std::size_t n = 0;
    for (const auto& [id, c] : image.clients) {
        if (!c.session) continue;  // orphans: see check
        line(session_json(*c.session));
        ++n;
        for (const auto& [filter, s] : c.subscriptions) {
            line(json{{"type", "subscription"},
                      {"client_id", id},
                      {"filter", s.filter},
                      {"qos", s.qos},
                      {"no_local", s.no_local},
                      {"retain_as_published", s.retain_as_published},
                      {"retain_handling", s.retain_handling},
                      {"subscription_id", s.subscription_id}});
            ++n;
        }
        for (const auto& [seq, e] : c.queue) {
            line(json{{"type", e.state == storage::queue_state::queued ? "message" : "inflight"},
                      {"client_id", id},
                      {"seq", e.seq},
                      {"state", state_name(e.state)},
                      {"packet_id", e.packet_id},
                      {"qos", e.qos},
                      {"retain", e.retain},
                      {"subscription_ids", e.subscription_ids},
                      {"message", message_json(e.message)}});
            ++n;
        }
        for (const auto pid : c.inbound_qos2) {
            line(json{{"type", "inbound_qos2"}, {"client_id", id}, {"packet_id", pid}});
            ++n;
        }
    }
    for (const auto& [topic, m] : image.retained) {
        line(json{{"type", "retained"}, {"message", message_json(m)}});
        ++n;
    }
    for (const auto& [key, value] : image.meta) {
        json j{{"type", "meta"}, {"key", key}};
        if (printable(value))
            j["value"] = value;
        else
            j["value_b64"] = broker::base64_encode(value);
        line(j);
        ++n;
    }
    line(json{{"type", "end"}, {"records", n}});
    out.flush();
    if (!out) throw tool_error(exit_error, "writing the export failed (disk full?)");
    return n;
}

import_data read_jsonl(std::istream& in, const std::string& name, progress& p) {
    import_data out;
    line_reader r{name};
    std::string text;
    bool header = false;
    bool ended = false;
    std::map<std::string, std::set<std::string>> filters;  // client id -> filters seen
    std::map<std::string, std::set<std::uint64_t>> seqs;
    std::map<std::string, std::set<std::uint16_t>> inbound;
    std::set<std::string> topics;
    std::set<std::string> meta_keys;
    const auto session_of = [&](const json& j) {
        std::string id = r.str(j, "client_id");
        if (!filters.contains(id))
            r.fail("client id '" + id + "' has no session line before this one");
        return id;
    };
    while (std::getline(in, text)) {
        ++r.number;
        if (text.empty()) r.fail("empty line");
        if (ended) r.fail("a line after the end line");
        json j;
        try {
            j = json::parse(text);
        } catch (const json::parse_error& e) {
            r.fail(std::string("not JSON: ") + e.what());
        }
        if (!j.is_object()) r.fail("a line must be a JSON object");
        const std::string type = r.str(j, "type");
        if (!header) {
            if (type != "header")
                r.fail("the first line must be the header (\"type\": \"header\")");
            if (r.str(j, "format") != format_name)
                r.fail(std::string("not an rmqttd store export (\"format\" is not \"") +
                       format_name + "\")");
            const int v = r.integer<int>(j, "version");
            if (v != format_version)
                r.fail("format version " + std::to_string(v) + " (this rmqttd reads version " +
                       std::to_string(format_version) + ")");
            out.source = r.str(j, "engine") + " " + r.str(j, "source");
            header = true;
            continue;
        }
        p.tick();
        if (type == "session") {
            storage::session_record s;
            s.client_id = r.str(j, "client_id");
            if (filters.contains(s.client_id))
                r.fail("a second session line for client id '" + s.client_id + "'");
            if (s.client_id.size() > 65535) r.fail("client id longer than 65535 bytes");
            s.protocol_version = r.integer<std::uint8_t>(j, "protocol_version", 3, 5);
            if (const auto& u = r.field(j, "username"); u.is_null())
                s.username.reset();
            else
                s.username = r.str(j, "username");
            s.listener = r.str(j, "listener");
            s.peer_address = r.str(j, "peer_address");
            s.expiry_interval_s = r.integer<std::uint32_t>(j, "expiry_interval_s");
            s.created_at_ms = r.integer<std::int64_t>(j, "created_at_ms");
            s.connected_at_ms = r.integer<std::int64_t>(j, "connected_at_ms");
            s.disconnected_at_ms = r.integer<std::int64_t>(j, "disconnected_at_ms");
            s.clean_disconnect = r.boolean(j, "clean_disconnect");
            if (const auto& w = r.field(j, "will"); !w.is_null()) {
                if (!w.is_object()) r.fail("\"will\" must be an object or null");
                storage::will_record will;
                will.message = r.message(r.field(w, "message"));
                will.delay_interval_s = r.integer<std::uint32_t>(w, "delay_interval_s");
                s.will = std::move(will);
            }
            s.receive_maximum = r.integer<std::uint16_t>(j, "receive_maximum", 1);
            s.maximum_packet_size = r.integer<std::uint32_t>(j, "maximum_packet_size");
            s.topic_alias_maximum = r.integer<std::uint16_t>(j, "topic_alias_maximum");
            s.request_problem_information = r.boolean(j, "request_problem_information");
            s.first_generation = r.integer<std::uint32_t>(j, "first_generation");
            s.generation = r.integer<std::uint32_t>(j, "generation");
            filters[s.client_id];
            ++out.sessions;
            out.ops.emplace_back(storage::put_session{std::move(s)});
        } else if (type == "subscription") {
            std::string id = session_of(j);
            storage::subscription_record s;
            s.filter = r.str(j, "filter");
            if (s.filter.empty()) r.fail("empty \"filter\"");
            if (!filters[id].insert(s.filter).second)
                r.fail("a second subscription of '" + id + "' to '" + s.filter + "'");
            s.qos = r.integer<std::uint8_t>(j, "qos", 0, 2);
            s.no_local = r.boolean(j, "no_local");
            s.retain_as_published = r.boolean(j, "retain_as_published");
            s.retain_handling = r.integer<std::uint8_t>(j, "retain_handling", 0, 2);
            s.subscription_id = r.integer<std::uint32_t>(j, "subscription_id", 0, 268435455);
            out.ops.emplace_back(storage::put_subscription{std::move(id), std::move(s)});
        } else if (type == "message" || type == "inflight") {
            std::string id = session_of(j);
            storage::queue_entry e;
            e.seq = r.integer<std::uint64_t>(j, "seq");
            if (!seqs[id].insert(e.seq).second)
                r.fail("a second queue entry " + std::to_string(e.seq) + " of '" + id + "'");
            const std::string state = r.str(j, "state");
            if (state == "queued")
                e.state = storage::queue_state::queued;
            else if (state == "sent")
                e.state = storage::queue_state::sent;
            else if (state == "pubrec_received")
                e.state = storage::queue_state::pubrec_received;
            else
                r.fail("\"state\" must be queued, sent or pubrec_received");
            if ((type == "message") != (e.state == storage::queue_state::queued))
                r.fail("a \"message\" line is in state queued, an \"inflight\" line is not");
            e.packet_id = r.integer<std::uint16_t>(j, "packet_id");
            e.qos = r.integer<std::uint8_t>(j, "qos", 0, 2);
            e.retain = r.boolean(j, "retain");
            const auto& ids = r.field(j, "subscription_ids");
            if (!ids.is_array()) r.fail("\"subscription_ids\" must be an array");
            for (const auto& v : ids) {
                if (!v.is_number_unsigned() || v.get<std::uint64_t>() > 268435455)
                    r.fail("\"subscription_ids\" must hold integers from 0 to 268435455");
                e.subscription_ids.push_back(v.get<std::uint32_t>());
            }
            e.message = r.message(r.field(j, "message"));
            out.ops.emplace_back(storage::put_queue_entry{std::move(id), std::move(e)});
        } else if (type == "inbound_qos2") {
            std::string id = session_of(j);
            const auto pid = r.integer<std::uint16_t>(j, "packet_id", 1);
            if (!inbound[id].insert(pid).second)
                r.fail("a second inbound QoS 2 id " + std::to_string(pid) + " of '" + id + "'");
            out.ops.emplace_back(storage::put_inbound_qos2{std::move(id), pid});
        } else if (type == "retained") {
            auto m = r.message(r.field(j, "message"));
            if (!topics.insert(m.topic).second)
                r.fail("a second retained message on '" + m.topic + "'");
            out.ops.emplace_back(storage::put_retained{std::move(m)});
        } else if (type == "meta") {
            storage::put_meta m;
            m.key = r.str(j, "key");
            if (j.contains("value"))
                m.value = r.str(j, "value");
            else
                m.value = r.bytes(j, "value_b64");
            if (!meta_keys.insert(m.key).second) r.fail("a second meta line for '" + m.key + "'");
            out.ops.emplace_back(std::move(m));
        } else if (type == "end") {
            const auto n = r.integer<std::uint64_t>(j, "records");
            if (n != out.ops.size())
                r.fail("the end line counts " + std::to_string(n) + " records, the file holds " +
                       std::to_string(out.ops.size()));
            ended = true;
            continue;
        } else if (type == "header") {
            r.fail("a second header line");
        } else {
            r.fail("unknown record type \"" + type + "\"");
        }
        ++out.records;
    }
    if (in.bad()) throw tool_error(exit_error, name + ": read error");
    ++r.number;
    if (!header) r.fail("empty file: no header line");
    if (!ended) r.fail("no end line: the file is truncated");
    return out;
}

}  // namespace rmqtt::store_tool
