#pragma once

// Helpers shared by the engine conformance suite (store_conformance.hpp), the differential test
// (differential.hpp) and the engine-specific tests: sample records, "read everything" helpers and
// a snapshot of a store's whole visible state that can be compared across engines.

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "rmqtt/storage/store.hpp"

namespace rmqtt::storage::test {

// ---- sample records ---------------------------------------------------------------------------

// prefix + decimal n. (Built by appending: GCC 12 warns falsely on `"literal" + std::string`.)
template <class Int>
std::string numbered(std::string_view prefix, Int n) {
    std::string s(prefix);
    s += std::to_string(n);
    return s;
}

// Every byte value once, so engines that treat values as text are caught.
inline std::string all_bytes() {
    std::string s(256, '\0');
    for (int i = 0; i < 256; ++i)
        s[static_cast<std::size_t>(i)] = static_cast<char>(i);
    return s;
}

inline message_record sample_message(std::string topic, std::string payload) {
    message_record m;
    m.topic = std::move(topic);
    m.payload = std::move(payload);
    m.qos = 1;
    m.retain = false;
    m.properties = std::string("\x03\x01\x00\x0b", 4);  // arbitrary wire-form property bytes
    m.publisher = "pub-1";
    m.created_at_ms = 1'700'000'000'000;
    m.expiry_at_ms = 0;
    return m;
}

inline session_record sample_session(std::string client_id, bool with_will = true) {
    session_record s;
    s.client_id = std::move(client_id);
    s.protocol_version = 5;
    s.username = "user-\x01\xff";
    s.listener = "tcp.external";
    s.peer_address = "127.0.0.1:50000";
    s.expiry_interval_s = 3600;
    s.created_at_ms = 1'700'000'000'000;
    s.connected_at_ms = 1'700'000'000'100;
    s.disconnected_at_ms = 0;
    s.clean_disconnect = false;
    if (with_will) {
        will_record w;
        w.message = sample_message("will/topic", std::string("bye\0bye", 7));
        w.message.retain = true;
        w.message.qos = 2;
        w.delay_interval_s = 30;
        s.will = std::move(w);
    }
    s.receive_maximum = 100;
    s.maximum_packet_size = 1 << 20;
    s.topic_alias_maximum = 10;
    s.request_problem_information = false;
    s.first_generation = 0x00C0FFEE;
    s.generation = 0x00C0FFEF;
    return s;
}

inline subscription_record sample_subscription(std::string filter, std::uint8_t qos = 1) {
    subscription_record r;
    r.filter = std::move(filter);
    r.qos = qos;
    r.no_local = true;
    r.retain_as_published = true;
    r.retain_handling = 2;
    r.subscription_id = 268'435'455;  // largest Subscription Identifier
    return r;
}

inline queue_entry sample_entry(std::uint64_t seq, std::string payload = "payload") {
    queue_entry e;
    e.seq = seq;
    e.state = queue_state::queued;
    e.packet_id = 0;
    e.qos = 2;
    e.retain = false;
    e.subscription_ids = {1, 7, 268'435'455};
    e.message = sample_message(numbered("q/topic/", seq), std::move(payload));
    e.message.qos = 2;
    return e;
}

// Client ids that look alike: prefixes of each other, empty, NUL, '/', Redis hash-tag braces,
// and the longest id MQTT allows (65535 bytes), in two byte values.
inline std::vector<std::string> tricky_client_ids() {
    return {"a",
            "ab",
            std::string("a\0", 2),
            "",
            std::string("\0", 1),
            std::string("a\0b", 3),
            "a/b",
            "a/",
            "{a}",
            "{a}b",
            "{",
            "}",
            "a}",
            "\xff\xff",
            std::string(65535, 'x'),
            std::string(65535, '\xff')};
}

// ---- reading everything -----------------------------------------------------------------------
// (From a store, or from a reader it gave: store derives from store_reader.)

inline std::map<std::string, session_record> read_sessions(store_reader& s) {
    std::map<std::string, session_record> out;
    status st = s.for_each_session([&](session_record&& r) {
        std::string id = r.client_id;
        EXPECT_TRUE(out.emplace(std::move(id), std::move(r)).second) << "session listed twice";
        return true;
    });
    EXPECT_TRUE(st.is_ok()) << st.to_string();
    return out;
}

// Sorted by filter: the engines do not promise an order.
inline std::vector<subscription_record> read_subscriptions(store_reader& s,
                                                           std::string_view client_id) {
    std::vector<subscription_record> out;
    status st = s.load_subscriptions(client_id, out);
    EXPECT_TRUE(st.is_ok()) << st.to_string();
    std::sort(out.begin(), out.end(),
              [](const auto& a, const auto& b) { return a.filter < b.filter; });
    return out;
}

inline std::vector<queue_entry> read_queue(store_reader& s, std::string_view client_id,
                                           std::uint64_t from_seq = 0,
                                           std::size_t limit = static_cast<std::size_t>(-1)) {
    std::vector<queue_entry> out;
    status st = s.load_queue(client_id, from_seq, limit, out);
    EXPECT_TRUE(st.is_ok()) << st.to_string();
    return out;
}

inline std::optional<queue_bounds> read_bounds(store_reader& s, std::string_view client_id) {
    std::optional<queue_bounds> out;
    status st = s.load_queue_bounds(client_id, out);
    EXPECT_TRUE(st.is_ok()) << st.to_string();
    return out;
}

// Sorted: the engines do not promise an order.
inline std::vector<std::uint16_t> read_inbound_qos2(store_reader& s, std::string_view client_id) {
    std::vector<std::uint16_t> out;
    status st = s.load_inbound_qos2(client_id, out);
    EXPECT_TRUE(st.is_ok()) << st.to_string();
    std::sort(out.begin(), out.end());
    return out;
}

inline std::map<std::string, message_record> read_retained(store_reader& s) {
    std::map<std::string, message_record> out;
    status st = s.for_each_retained([&](message_record&& m) {
        std::string topic = m.topic;
        EXPECT_TRUE(out.emplace(std::move(topic), std::move(m)).second) << "topic listed twice";
        return true;
    });
    EXPECT_TRUE(st.is_ok()) << st.to_string();
    return out;
}

inline std::optional<std::string> read_meta(store_reader& s, std::string_view key) {
    std::optional<std::string> out;
    status st = s.get_meta(key, out);
    EXPECT_TRUE(st.is_ok()) << st.to_string();
    return out;
}

inline status write_ops(store& s, std::vector<operation> ops) {
    write_batch b;
    b.ops = std::move(ops);
    return s.write(b);
}

// ---- whole-store snapshots --------------------------------------------------------------------

struct client_snapshot {
    std::vector<subscription_record> subscriptions;
    std::vector<queue_entry> queue;
    std::optional<queue_bounds> bounds;
    std::vector<std::uint16_t> inbound_qos2;
};

struct store_snapshot {
    std::map<std::string, session_record> sessions;
    std::map<std::string, client_snapshot> clients;  // every client id asked about
    std::map<std::string, message_record> retained;
    std::map<std::string, std::optional<std::string>> meta;  // every meta key asked about
};

// Everything the read API shows for the given client ids and meta keys.
inline store_snapshot take_snapshot(store_reader& s, const std::vector<std::string>& client_ids,
                                    const std::vector<std::string>& meta_keys) {
    store_snapshot snap;
    snap.sessions = read_sessions(s);
    for (const auto& id : client_ids) {
        client_snapshot c;
        c.subscriptions = read_subscriptions(s, id);
        c.queue = read_queue(s, id);
        c.bounds = read_bounds(s, id);
        c.inbound_qos2 = read_inbound_qos2(s, id);
        snap.clients[id] = std::move(c);
    }
    snap.retained = read_retained(s);
    for (const auto& k : meta_keys)
        snap.meta[k] = read_meta(s, k);
    return snap;
}

// A printable, bounded rendering of a key (client ids can be 65535 binary bytes).
inline std::string printable(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size() && i < 40; ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x7f) {
            out += static_cast<char>(c);
        } else {
            static const char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    if (s.size() > 40) out += "...(" + std::to_string(s.size()) + " bytes)";
    return out;
}

// The first difference between two snapshots, or "" if they are equal.
inline std::string snapshot_difference(const store_snapshot& a, const store_snapshot& b) {
    std::ostringstream os;
    if (a.sessions.size() != b.sessions.size()) {
        os << "session count " << a.sessions.size() << " vs " << b.sessions.size();
        return os.str();
    }
    for (auto ia = a.sessions.begin(), ib = b.sessions.begin(); ia != a.sessions.end();
         ++ia, ++ib) {
        if (ia->first != ib->first)
            return "session ids differ: " + printable(ia->first) + " vs " + printable(ib->first);
        if (!(ia->second == ib->second)) return "session record differs: " + printable(ia->first);
    }
    for (const auto& [id, ca] : a.clients) {
        auto it = b.clients.find(id);
        if (it == b.clients.end()) return "client missing on one side: " + printable(id);
        const client_snapshot& cb = it->second;
        if (ca.subscriptions != cb.subscriptions) {
            os << "subscriptions differ for " << printable(id) << ": " << ca.subscriptions.size()
               << " vs " << cb.subscriptions.size() << " records";
            return os.str();
        }
        if (ca.queue.size() != cb.queue.size()) {
            os << "queue length differs for " << printable(id) << ": " << ca.queue.size() << " vs "
               << cb.queue.size();
            return os.str();
        }
        for (std::size_t i = 0; i < ca.queue.size(); ++i) {
            if (!(ca.queue[i] == cb.queue[i])) {
                os << "queue entry " << i << " differs for " << printable(id) << ": seq "
                   << ca.queue[i].seq << " state " << static_cast<int>(ca.queue[i].state) << " pid "
                   << ca.queue[i].packet_id << " vs seq " << cb.queue[i].seq << " state "
                   << static_cast<int>(cb.queue[i].state) << " pid " << cb.queue[i].packet_id;
                return os.str();
            }
        }
        if (ca.bounds.has_value() != cb.bounds.has_value() ||
            (ca.bounds && (ca.bounds->first_seq != cb.bounds->first_seq ||
                           ca.bounds->last_seq != cb.bounds->last_seq))) {
            return "queue bounds differ for " + printable(id);
        }
        if (ca.inbound_qos2 != cb.inbound_qos2) return "inbound qos2 differs for " + printable(id);
    }
    if (a.retained != b.retained) {
        os << "retained differs: " << a.retained.size() << " vs " << b.retained.size() << " topics";
        return os.str();
    }
    for (const auto& [k, v] : a.meta) {
        auto it = b.meta.find(k);
        if (it == b.meta.end() || it->second != v) return "meta differs for key " + printable(k);
    }
    return {};
}

}  // namespace rmqtt::storage::test
