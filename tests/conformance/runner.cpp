// The conformance runner: replays every case of cases/*.json against a real rmqttd, one broker
// per case, one ctest entry per case (conformance/case_test.run/v<version>_<spec id>_<tag>).
//
// A case file is {"area": "...", "description": "...", "cases": [case...]}. A case:
//   {"id": "MQTT-3.1.2-3", "tag": "reserved-flag", "name": "...", "version": 3 | 4 | 5,
//    "listener": ["max_inflight = 2", ...],   extra lines in [listener.tcp.external]
//    "config": ["..."],                        extra lines at the end of rmqtt.toml
//    "session_storage": true,                  rmqtt-session-storage plugin on (default off)
//    "steps": [step...]}
// "id" is the normative statement ([MQTT-x.y.z-n]) or, for rules without a number, the section
// ("sec-3.3.2.3.4"); "name" says what is sent and what rmqttd must answer, including which of the
// allowed answers rmqttd chose where the specification leaves a choice.
//
// Every step may name a "client" (default "a"); a client's TCP connection opens on first use.
// Steps (one action key each; "comment" is ignored everywhere):
//   {"open": true, "version": 5}    (re)open the client's connection (version: default the case's)
//   {"drop": true}                  close the client's socket without DISCONNECT
//   {"send": BYTES}                 BYTES: hex string, or an array of hex strings, {"text": "..."}
//                                   and {"repeat": "hex", "count": n}; "{var}" in hex is replaced
//                                   by a captured value
//   {"expect": BYTES}               the next packet is exactly BYTES
//   {"expect_packet": SPEC}         the next packet decodes (in the client's version) and matches
//   {"expect_connack": SPEC}        expect_packet with type connack
//   {"expect_disconnect": SPEC}     5.0 DISCONNECT matching SPEC (or just a reason code), then
//   close
//   {"expect_unordered": [...]}     the next n packets match these SPECs / BYTES in any order
//   {"expect_close": true}          the server closes the connection and sends nothing more
//   {"expect_silence_ms": n}        nothing arrives for n ms and the connection stays open
//   {"sleep_ms": n}                 only for time that must pass (an interval under test) or a
//                                   moment nothing outside rmqttd shows; a "comment" says which
//   {"wait_log": "text"}            waits until rmqttd's log shows "text" (something the broker
//                                   does that no packet shows, e.g. "session x expired")
//   {"stop_broker": true}           SIGTERM rmqttd and wait for it (it must exit with 0)
// SPEC: {"type": "publish", ...} with any of "code", "codes", "session_present", "packet_id",
// "topic", "payload", "payload_hex", "qos", "retain", "dup", "props": {name: value | true
// (present) | false (absent)}, and "capture_packet_id": "p1" (later usable as "{p1}").
// Expect steps and wait_log wait "timeout_ms" (default 5000).
//
// After the last step the runner checks that rmqttd still runs, answers a new CONNECT, and holds no
// more descriptors than before the case (B.4: "broker still up, fd counts back to baseline").
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "broker_process.hpp"
#include "raw_client.hpp"
#include "rmqtt/protocol/codec.hpp"

#ifndef RMQTT_CONFORMANCE_CASES
#error "RMQTT_CONFORMANCE_CASES must name the cases directory"
#endif

namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace proto = rmqtt::protocol;
using rmqtt::test::broker_process;
using rmqtt::test::raw_client;

using bytes = std::vector<std::uint8_t>;

// ---- loading
// -------------------------------------------------------------------------------------

struct conformance_case {
    std::string test_name;  // unique, [A-Za-z0-9_]
    std::string file;
    json data;
    std::string load_error;  // set for the single pseudo-case that reports a broken case file
};

void PrintTo(const conformance_case& c, std::ostream* os) {
    *os << c.test_name;
}

std::string sanitize(const std::string& s) {
    std::string out;
    for (char ch : s) {
        const bool ok =
            (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        out.push_back(ok ? ch : '_');
    }
    return out;
}

std::vector<conformance_case> load_cases() {
    std::vector<conformance_case> out;
    std::vector<std::filesystem::path> files;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(RMQTT_CONFORMANCE_CASES, ec)) {
        if (e.path().extension() == ".json") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    std::map<std::string, std::string> seen;
    std::string errors;
    for (const auto& path : files) {
        try {
            std::ifstream in(path);
            const json doc = json::parse(in);
            for (const auto& c : doc.at("cases")) {
                conformance_case cc;
                cc.file = path.filename().string();
                cc.data = c;
                const int v = c.at("version").get<int>();
                std::string name = "v" + std::to_string(v) + "_" + c.at("id").get<std::string>();
                if (c.contains("tag")) name += "_" + c["tag"].get<std::string>();
                cc.test_name = sanitize(name);
                if (!c.contains("name") || !c.contains("steps") || (v != 4 && v != 5 && v != 3))
                    errors +=
                        cc.file + ": " + cc.test_name + ": needs name, steps, version 3/4/5\n";
                if (auto [it, fresh] = seen.emplace(cc.test_name, cc.file); !fresh) {
                    errors +=
                        cc.file + ": " + cc.test_name + " repeats a case of " + it->second + "\n";
                    cc.test_name += "_repeated_" + std::to_string(out.size());  // names stay unique
                }
                out.push_back(std::move(cc));
            }
        } catch (const std::exception& ex) {
            errors += path.filename().string() + ": " + ex.what() + "\n";
        }
    }
    if (files.empty()) errors += std::string("no case files in ") + RMQTT_CONFORMANCE_CASES + "\n";
    if (!errors.empty()) {
        conformance_case bad;
        bad.test_name = "case_files_invalid";
        bad.load_error = errors;
        out.insert(out.begin(), std::move(bad));
    }
    return out;
}

// ---- bytes
// ---------------------------------------------------------------------------------------

std::string to_hex(const bytes& b) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string s;
    for (std::size_t i = 0; i < b.size(); ++i) {
        if (i) s.push_back(' ');
        if (i == 256 && b.size() > 300) return s + "... (" + std::to_string(b.size()) + " bytes)";
        s.push_back(digits[b[i] >> 4]);
        s.push_back(digits[b[i] & 0xF]);
    }
    return s;
}

class case_error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

using variables = std::map<std::string, std::string>;

// Strict hex: digits and white space only, an even number of digits; "{name}" is replaced by a
// captured variable's hex first.
bytes parse_hex(std::string text, const variables& vars) {
    for (std::size_t at = text.find('{'); at != std::string::npos; at = text.find('{')) {
        const auto end = text.find('}', at);
        if (end == std::string::npos) throw case_error("unterminated {variable} in " + text);
        const auto name = text.substr(at + 1, end - at - 1);
        auto it = vars.find(name);
        if (it == vars.end()) throw case_error("variable not captured yet: " + name);
        text.replace(at, end - at + 1, it->second);
    }
    std::size_t digits = 0;
    for (char ch : text) {
        if (std::isxdigit(static_cast<unsigned char>(ch)))
            ++digits;
        else if (ch != ' ' && ch != '\n' && ch != '\t')
            throw case_error(std::string("not a hex digit: '") + ch + "' in " + text);
    }
    if (digits % 2 != 0) throw case_error("odd number of hex digits in " + text);
    return rmqtt::test::hex(text);
}

void append_bytes(const json& j, const variables& vars, bytes& out) {
    if (j.is_string()) {
        auto b = parse_hex(j.get<std::string>(), vars);
        out.insert(out.end(), b.begin(), b.end());
    } else if (j.is_array()) {
        for (const auto& item : j)
            append_bytes(item, vars, out);
    } else if (j.is_object() && j.contains("text")) {
        const auto s = j["text"].get<std::string>();
        out.insert(out.end(), s.begin(), s.end());
    } else if (j.is_object() && j.contains("repeat")) {
        const auto piece = parse_hex(j["repeat"].get<std::string>(), vars);
        const auto count = j.at("count").get<std::size_t>();
        for (std::size_t i = 0; i < count; ++i)
            out.insert(out.end(), piece.begin(), piece.end());
    } else {
        throw case_error("not a byte sequence: " + j.dump());
    }
}

bytes to_bytes(const json& j, const variables& vars) {
    bytes out;
    append_bytes(j, vars, out);
    return out;
}

// A number in JSON, or a string "0x8F" / "143".
std::uint32_t number(const json& j) {
    if (j.is_number_unsigned() || j.is_number_integer()) return j.get<std::uint32_t>();
    if (j.is_string())
        return static_cast<std::uint32_t>(std::stoul(j.get<std::string>(), nullptr, 0));
    throw case_error("not a number: " + j.dump());
}

std::string hex_of(const std::string& s) {
    return to_hex(bytes(s.begin(), s.end()));
}

// ---- packet matching
// -----------------------------------------------------------------------------

const std::map<std::string, proto::packet_type> packet_types = {
    {"connect", proto::packet_type::connect},   {"connack", proto::packet_type::connack},
    {"publish", proto::packet_type::publish},   {"puback", proto::packet_type::puback},
    {"pubrec", proto::packet_type::pubrec},     {"pubrel", proto::packet_type::pubrel},
    {"pubcomp", proto::packet_type::pubcomp},   {"subscribe", proto::packet_type::subscribe},
    {"suback", proto::packet_type::suback},     {"unsubscribe", proto::packet_type::unsubscribe},
    {"unsuback", proto::packet_type::unsuback}, {"pingreq", proto::packet_type::pingreq},
    {"pingresp", proto::packet_type::pingresp}, {"disconnect", proto::packet_type::disconnect},
    {"auth", proto::packet_type::auth},
};

struct matcher {
    std::vector<std::string> errors;
    variables* vars = nullptr;

    void fail(const std::string& what) { errors.push_back(what); }

    // `want`: a number, a string holding a number, or "{var}" naming a captured value.
    void eq(const std::string& field, std::uint32_t got, const json& want) {
        std::uint32_t w;
        if (want.is_string() && want.get<std::string>().starts_with('{')) {
            const auto s = want.get<std::string>();
            auto it = vars->find(s.substr(1, s.size() - 2));
            if (it == vars->end()) throw case_error("variable not captured yet: " + s);
            w = static_cast<std::uint32_t>(std::stoul(it->second, nullptr, 16));
        } else {
            w = number(want);
        }
        if (got != w)
            fail(field + " is " + std::to_string(got) + ", expected " + std::to_string(w));
    }
    void eq_bool(const std::string& field, bool got, const json& want) {
        if (got != want.get<bool>())
            fail(field + " is " + (got ? "true" : "false") + ", expected " + want.dump());
    }
    void eq_str(const std::string& field, const std::string& got, const json& want) {
        if (got != want.get<std::string>())
            fail(field + " is \"" + got + "\" (" + hex_of(got) + "), expected " + want.dump());
    }

    // true: present; false: absent; otherwise the value.
    template <typename T>
    void opt(const std::string& field, const std::optional<T>& got, const json& want) {
        if (want.is_boolean()) {
            if (got.has_value() != want.get<bool>())
                fail("property " + field + (got ? " is present" : " is absent"));
            return;
        }
        if (want.is_null()) {
            if (got) fail("property " + field + " is present");
            return;
        }
        if (!got) {
            fail("property " + field + " is absent, expected " + want.dump());
            return;
        }
        if constexpr (std::is_same_v<T, std::string>) {
            if (want.is_object() && want.contains("hex")) {
                const auto w = to_bytes(want["hex"], *vars);
                if (bytes(got->begin(), got->end()) != w)
                    fail("property " + field + " is " + hex_of(*got) + ", expected " + to_hex(w));
            } else {
                eq_str("property " + field, *got, want);
            }
        } else {
            eq("property " + field, *got, want);
        }
    }

    void props(const proto::properties& p, const json& want) {
        for (const auto& [k, v] : want.items()) {
            if (k == "payload_format_indicator")
                opt(k, p.payload_format_indicator, v);
            else if (k == "message_expiry_interval")
                opt(k, p.message_expiry_interval, v);
            else if (k == "content_type")
                opt(k, p.content_type, v);
            else if (k == "response_topic")
                opt(k, p.response_topic, v);
            else if (k == "correlation_data")
                opt(k, p.correlation_data, v);
            else if (k == "session_expiry_interval")
                opt(k, p.session_expiry_interval, v);
            else if (k == "assigned_client_identifier")
                opt(k, p.assigned_client_identifier, v);
            else if (k == "server_keep_alive")
                opt(k, p.server_keep_alive, v);
            else if (k == "authentication_method")
                opt(k, p.authentication_method, v);
            else if (k == "authentication_data")
                opt(k, p.authentication_data, v);
            else if (k == "response_information")
                opt(k, p.response_information, v);
            else if (k == "server_reference")
                opt(k, p.server_reference, v);
            else if (k == "reason_string")
                opt(k, p.reason_string, v);
            else if (k == "receive_maximum")
                opt(k, p.receive_maximum, v);
            else if (k == "topic_alias_maximum")
                opt(k, p.topic_alias_maximum, v);
            else if (k == "topic_alias")
                opt(k, p.topic_alias, v);
            else if (k == "maximum_qos")
                opt(k, p.maximum_qos, v);
            else if (k == "retain_available")
                opt(k, p.retain_available, v);
            else if (k == "maximum_packet_size")
                opt(k, p.maximum_packet_size, v);
            else if (k == "wildcard_subscription_available")
                opt(k, p.wildcard_subscription_available, v);
            else if (k == "subscription_identifier_available")
                opt(k, p.subscription_identifier_available, v);
            else if (k == "shared_subscription_available")
                opt(k, p.shared_subscription_available, v);
            else if (k == "subscription_identifiers") {
                std::vector<std::uint32_t> w;
                for (const auto& x : v)
                    w.push_back(number(x));
                if (p.subscription_identifiers != w)
                    fail("property subscription_identifiers differ: got " +
                         json(p.subscription_identifiers).dump() + ", expected " + v.dump());
            } else if (k == "user_properties") {
                json got = json::array();
                for (const auto& u : p.user_properties)
                    got.push_back({u.key, u.value});
                if (got != v) fail("user properties are " + got.dump() + ", expected " + v.dump());
            } else {
                throw case_error("unknown property in case: " + k);
            }
        }
    }

    void capture(const json& spec, std::uint16_t packet_id) {
        if (!spec.contains("capture_packet_id")) return;
        char buf[8];
        std::snprintf(buf, sizeof buf, "%04X", packet_id);
        (*vars)[spec["capture_packet_id"].get<std::string>()] = buf;
    }

    template <typename Ack>
    void ack(const Ack& a, const json& spec) {
        if (spec.contains("packet_id")) eq("packet_id", a.packet_id, spec["packet_id"]);
        if (spec.contains("code"))
            eq("reason code", static_cast<std::uint8_t>(a.code), spec["code"]);
        if (spec.contains("props")) props(a.props, spec["props"]);
        capture(spec, a.packet_id);
    }

    void match(const proto::packet& p, const json& spec) {
        const auto want = packet_types.find(spec.at("type").get<std::string>());
        if (want == packet_types.end()) throw case_error("unknown packet type " + spec.dump());
        if (proto::type_of(p) != want->second) {
            fail("packet is " + std::string(proto::to_string(proto::type_of(p))) + ", expected " +
                 std::string(proto::to_string(want->second)));
            return;
        }
        static const std::set<std::string> known = {"type",
                                                    "code",
                                                    "codes",
                                                    "session_present",
                                                    "props",
                                                    "packet_id",
                                                    "capture_packet_id",
                                                    "topic",
                                                    "payload",
                                                    "payload_hex",
                                                    "qos",
                                                    "retain",
                                                    "dup",
                                                    "comment"};
        for (const auto& item : spec.items()) {
            if (!known.contains(item.key()))
                throw case_error("unknown field in packet spec: " + item.key());
        }
        std::visit(
            [&](const auto& x) {
                using T = std::decay_t<decltype(x)>;
                if constexpr (std::is_same_v<T, proto::connack>) {
                    if (spec.contains("code")) eq("connack code", x.code, spec["code"]);
                    if (spec.contains("session_present"))
                        eq_bool("session_present", x.session_present, spec["session_present"]);
                    if (spec.contains("props")) props(x.props, spec["props"]);
                } else if constexpr (std::is_same_v<T, proto::publish>) {
                    if (spec.contains("topic")) eq_str("topic", x.topic, spec["topic"]);
                    if (spec.contains("payload")) eq_str("payload", x.payload, spec["payload"]);
                    if (spec.contains("payload_hex")) {
                        const auto w = to_bytes(spec["payload_hex"], *vars);
                        if (bytes(x.payload.begin(), x.payload.end()) != w)
                            fail("payload is " + hex_of(x.payload) + ", expected " + to_hex(w));
                    }
                    if (spec.contains("qos"))
                        eq("qos", static_cast<std::uint8_t>(x.qos_level), spec["qos"]);
                    if (spec.contains("retain")) eq_bool("retain", x.retain, spec["retain"]);
                    if (spec.contains("dup")) eq_bool("dup", x.dup, spec["dup"]);
                    if (spec.contains("packet_id")) eq("packet_id", x.packet_id, spec["packet_id"]);
                    if (spec.contains("props")) props(x.props, spec["props"]);
                    capture(spec, x.packet_id);
                } else if constexpr (std::is_same_v<T, proto::puback> ||
                                     std::is_same_v<T, proto::pubrec> ||
                                     std::is_same_v<T, proto::pubrel> ||
                                     std::is_same_v<T, proto::pubcomp>) {
                    ack(x, spec);
                } else if constexpr (std::is_same_v<T, proto::suback>) {
                    if (spec.contains("packet_id")) eq("packet_id", x.packet_id, spec["packet_id"]);
                    if (spec.contains("codes")) {
                        std::vector<std::uint32_t> w;
                        for (const auto& c : spec["codes"])
                            w.push_back(number(c));
                        std::vector<std::uint32_t> g(x.codes.begin(), x.codes.end());
                        if (g != w)
                            fail("SUBACK codes " + json(g).dump() + ", expected " + json(w).dump());
                    }
                    if (spec.contains("props")) props(x.props, spec["props"]);
                } else if constexpr (std::is_same_v<T, proto::unsuback>) {
                    if (spec.contains("packet_id")) eq("packet_id", x.packet_id, spec["packet_id"]);
                    if (spec.contains("codes")) {
                        std::vector<std::uint32_t> w;
                        for (const auto& c : spec["codes"])
                            w.push_back(number(c));
                        std::vector<std::uint32_t> g;
                        for (auto c : x.codes)
                            g.push_back(static_cast<std::uint8_t>(c));
                        if (g != w)
                            fail("UNSUBACK codes " + json(g).dump() + ", expected " +
                                 json(w).dump());
                    }
                    if (spec.contains("props")) props(x.props, spec["props"]);
                } else if constexpr (std::is_same_v<T, proto::disconnect> ||
                                     std::is_same_v<T, proto::auth>) {
                    if (spec.contains("code"))
                        eq("reason code", static_cast<std::uint8_t>(x.code), spec["code"]);
                    if (spec.contains("props")) props(x.props, spec["props"]);
                }
            },
            p);
    }
};

// Open descriptors of a process (Linux /proc); 0 when unknown.
std::size_t fd_count(pid_t pid) {
    std::error_code ec;
    std::size_t n = 0;
    for (std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end;
         !ec && it != end; it.increment(ec))
        ++n;
    return n;
}

// The descriptor count once it stopped changing for 100 ms (bounded to about 2 s).
std::size_t stable_fd_count(pid_t pid) {
    std::size_t last = fd_count(pid);
    int same = 0;
    for (int i = 0; i < 100 && same < 5; ++i) {
        std::this_thread::sleep_for(20ms);
        const std::size_t n = fd_count(pid);
        same = n == last ? same + 1 : 0;
        last = n;
    }
    return last;
}

// ---- running a case
// ------------------------------------------------------------------------------

struct client_state {
    std::unique_ptr<raw_client> sock;
    proto::version version = proto::version::v3_1_1;
};

class case_test : public ::testing::TestWithParam<conformance_case> {
  protected:
    void TearDown() override {
        if (broker_ && HasFailure()) {
            auto log = broker_->log();
            // A sanitizer report is what matters most: show it from its first line.
            std::size_t from = std::string::npos;
            for (const char* mark :
                 {"ERROR: AddressSanitizer", "runtime error:", "WARNING: ThreadSanitizer"})
                from = std::min(from, log.find(mark));
            if (from != std::string::npos) {
                const auto line = log.rfind('\n', from);
                log = log.substr(line == std::string::npos ? 0 : line + 1, 12000);
            } else if (log.size() > 6000) {
                log = "...\n" + log.substr(log.size() - 6000);
            }
            std::cout << "---- rmqttd log (tail) ----\n" << log << "---------------------------\n";
        }
    }

    std::unique_ptr<broker_process> broker_;
};

class case_runner {
  public:
    case_runner(const json& c, broker_process& b) : case_(c), broker_(b) {
        default_version_ = static_cast<proto::version>(c.at("version").get<int>());
    }

    // Returns an empty string on success, else what went wrong.
    std::string run() {
        const auto& steps = case_.at("steps");
        for (std::size_t i = 0; i < steps.size(); ++i) {
            const auto& s = steps[i];
            std::string err;
            try {
                err = step(s);
            } catch (const case_error& e) {
                err = std::string("bad case: ") + e.what();
            } catch (const nlohmann::json::exception& e) {
                err = std::string("bad case: ") + e.what();
            }
            if (!err.empty())
                return "step " + std::to_string(i + 1) + " " + s.dump() + ":\n  " + err;
        }
        return {};
    }

  private:
    client_state& client(const json& s, bool reopen = false) {
        const auto name = s.value("client", std::string("a"));
        auto& c = clients_[name];
        if (!c.sock || reopen) {
            c.sock.reset();
            c.version = s.contains("version") ? static_cast<proto::version>(s["version"].get<int>())
                                              : default_version_;
            c.sock = std::make_unique<raw_client>(broker_.port(), c.version);
        }
        return c;
    }

    static std::chrono::milliseconds timeout(const json& s) {
        return std::chrono::milliseconds(s.value("timeout_ms", 5000));
    }

    // The next packet's bytes, or an explanation of why there is none.
    std::optional<bytes> next_frame(client_state& c, std::chrono::milliseconds t,
                                    std::string& err) {
        auto f = c.sock->receive_frame(t);
        if (f) return f;
        bytes before;
        const bool closed = c.sock->wait_closed(1ms, &before);
        err = closed ? "connection closed instead"
                     : "nothing received within " + std::to_string(t.count()) + " ms";
        if (!before.empty()) err += " (partial bytes: " + to_hex(before) + ")";
        return std::nullopt;
    }

    std::string match_frame(client_state& c, const bytes& frame, const json& spec) {
        if (!spec.is_object() || spec.contains("bytes")) {
            const auto want = to_bytes(spec.is_object() ? spec["bytes"] : spec, vars_);
            if (frame != want) return "received " + to_hex(frame) + ", expected " + to_hex(want);
            return {};
        }
        proto::frame f;
        (void)proto::parse_frame(frame, 0, f);
        proto::packet p;
        const auto r = proto::decode(c.version, f, p);
        if (!r) return "received " + to_hex(frame) + ", which does not decode: " + r.detail;
        matcher m;
        m.vars = &vars_;
        m.match(p, spec);
        if (m.errors.empty()) return {};
        std::string out = "received " + to_hex(frame) + ":";
        for (const auto& e : m.errors)
            out += "\n    " + e;
        return out;
    }

    std::string expect_spec(client_state& c, const json& spec, std::chrono::milliseconds t) {
        std::string err;
        auto frame = next_frame(c, t, err);
        if (!frame) return "expected " + spec.dump() + ": " + err;
        return match_frame(c, *frame, spec);
    }

    std::string expect_close(client_state& c, std::chrono::milliseconds t) {
        bytes before;
        if (!c.sock->wait_closed(t, &before))
            return "connection still open after " + std::to_string(t.count()) + " ms" +
                   (before.empty() ? "" : " (received " + to_hex(before) + ")");
        if (!before.empty()) return "received " + to_hex(before) + " before the close";
        return {};
    }

    std::string step(const json& s) {
        if (s.size() == 1 && s.contains("comment")) return {};
        if (s.contains("sleep_ms")) {
            std::this_thread::sleep_for(std::chrono::milliseconds(s["sleep_ms"].get<int>()));
            return {};
        }
        if (s.contains("wait_log")) {
            const auto text = s["wait_log"].get<std::string>();
            const auto t = timeout(s);
            const auto deadline = std::chrono::steady_clock::now() + t;
            while (broker_.log().find(text) == std::string::npos) {
                if (std::chrono::steady_clock::now() >= deadline)
                    return "rmqttd did not log \"" + text + "\" within " +
                           std::to_string(t.count()) + " ms";
                std::this_thread::sleep_for(20ms);
            }
            return {};
        }
        if (s.contains("stop_broker")) {
            // SIGTERM and wait: what the clients receive is read by the following steps.
            stopped_ = true;
            const int rc = broker_.stop();
            if (rc != 0) return "rmqttd exited with " + std::to_string(rc) + " on SIGTERM";
            return {};
        }
        if (s.contains("open")) {
            client(s, true);
            return {};
        }
        auto& c = client(s);
        if (s.contains("drop")) {
            c.sock.reset();
            clients_.erase(s.value("client", std::string("a")));
            return {};
        }
        if (s.contains("send")) {
            c.sock->send_bytes(to_bytes(s["send"], vars_));
            return {};
        }
        if (s.contains("expect")) return expect_spec(c, s["expect"], timeout(s));
        if (s.contains("expect_packet")) return expect_spec(c, s["expect_packet"], timeout(s));
        if (s.contains("expect_connack")) {
            json spec = s["expect_connack"];
            spec["type"] = "connack";
            return expect_spec(c, spec, timeout(s));
        }
        if (s.contains("expect_disconnect")) {
            json spec = s["expect_disconnect"];
            if (!spec.is_object()) spec = json{{"code", spec}};
            spec["type"] = "disconnect";
            if (auto err = expect_spec(c, spec, timeout(s)); !err.empty()) return err;
            return expect_close(c, timeout(s));
        }
        if (s.contains("expect_close")) return expect_close(c, timeout(s));
        if (s.contains("expect_silence_ms")) {
            const std::chrono::milliseconds t(s["expect_silence_ms"].get<int>());
            bytes before;
            if (c.sock->wait_closed(t, &before)) {
                return "connection closed" +
                       (before.empty() ? std::string() : " after " + to_hex(before));
            }
            if (!before.empty()) return "received " + to_hex(before) + " (expected nothing)";
            return {};
        }
        if (s.contains("expect_unordered")) {
            std::vector<json> pending(s["expect_unordered"].begin(), s["expect_unordered"].end());
            while (!pending.empty()) {
                std::string err;
                auto frame = next_frame(c, timeout(s), err);
                if (!frame) return "expected one of " + json(pending).dump() + ": " + err;
                std::string why;
                bool matched = false;
                for (auto it = pending.begin(); it != pending.end(); ++it) {
                    auto saved = vars_;
                    auto e = match_frame(c, *frame, *it);
                    if (e.empty()) {
                        pending.erase(it);
                        matched = true;
                        break;
                    }
                    vars_ = std::move(saved);
                    why += "\n  " + e;
                }
                if (!matched) return "no expectation matches:" + why;
            }
            return {};
        }
        throw case_error("step has no known action");
    }

  public:
    bool stopped() const noexcept { return stopped_; }

  private:
    bool stopped_ = false;
    const json& case_;
    broker_process& broker_;
    proto::version default_version_;
    std::map<std::string, client_state> clients_;
    variables vars_;
};

TEST_P(case_test, run) {
    const auto& cc = GetParam();
    ASSERT_TRUE(cc.load_error.empty()) << cc.load_error;
    const auto& c = cc.data;
    RecordProperty("spec_id", c.at("id").get<std::string>());
    SCOPED_TRACE(cc.file + ": " + c.at("id").get<std::string>() + ": " +
                 c.at("name").get<std::string>());

    broker_process::options o;
    o.log_level = "debug";
    o.session_storage = c.value("session_storage", false);
    if (c.contains("listener")) o.listener = c["listener"].get<std::vector<std::string>>();
    if (c.contains("config")) o.main_config = c["config"].get<std::vector<std::string>>();
    // free_port() can race with other processes taking the same port: then rmqttd exits and
    // something else answers on the port. Confirm from rmqttd's own log that it listens, and
    // retry on a fresh port a bounded number of times.
    bool listening = false;
    for (int attempt = 0; attempt < 3 && !listening; ++attempt) {
        broker_ = std::make_unique<broker_process>(o);
        ASSERT_NO_THROW(broker_->start());
        const auto mark = "listening on 127.0.0.1:" + std::to_string(broker_->port());
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < deadline && broker_->running()) {
            if (broker_->log().find(mark) != std::string::npos) {
                listening = true;
                break;
            }
            std::this_thread::sleep_for(20ms);
        }
    }
    ASSERT_TRUE(listening) << "rmqttd did not start listening";
    // rmqttd opens a few descriptors lazily with its first connections (per-worker reactor
    // timers): warm every worker up before taking the descriptor baseline.
    for (int i = 0; i < 4; ++i) {
        raw_client warm(broker_->port(), proto::version::v3_1_1);
        ASSERT_TRUE(warm.connect("w" + std::to_string(i)).has_value());
        warm.send_bytes({0xE0, 0x00});
        ASSERT_TRUE(warm.wait_closed());
    }
    const std::size_t fds_at_start = stable_fd_count(broker_->pid());
    ASSERT_GT(fds_at_start, 0u) << "cannot read /proc/" << broker_->pid() << "/fd";

    bool stopped = false;
    {
        case_runner r(c, *broker_);
        const auto err = r.run();
        EXPECT_TRUE(err.empty()) << err;
        stopped = r.stopped();
    }
    // A sanitizer build of rmqttd reports into its log (stderr); UBSan goes on after a report.
    const auto log = broker_->log();
    for (const char* mark : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                             "runtime error:", "WARNING: ThreadSanitizer"})
        EXPECT_EQ(log.find(mark), std::string::npos) << "rmqttd log reports \"" << mark << "\"";
    if (stopped) return;  // the case stopped rmqttd itself

    // Whatever the case did, the broker must still be up and serving.
    ASSERT_TRUE(broker_->running()) << "rmqttd exited during the case";
    {
        // 5.0 and a short id: no case's listener limits (keep alive, client id length) refuse it.
        raw_client probe(broker_->port(), proto::version::v5);
        auto ack = probe.connect("pr");
        ASSERT_TRUE(ack.has_value()) << "rmqttd did not answer a CONNECT after the case";
        EXPECT_EQ(ack->code, 0);
    }
    // Every connection is gone now: the broker's descriptors must come back to what it had
    // before the first client (B.4: no fd leak per hostile input). The session store may open
    // files of its own (log rotation, flushes), hence a little slack there.
    const std::size_t slack = o.session_storage ? 8 : 0;
    std::size_t now = fd_count(broker_->pid());
    for (int i = 0; i < 250 && now > fds_at_start + slack; ++i) {
        std::this_thread::sleep_for(20ms);
        now = fd_count(broker_->pid());
    }
    EXPECT_LE(now, fds_at_start + slack)
        << "rmqttd holds " << now << " descriptors after the case, " << fds_at_start << " before";
}

std::string case_name(const ::testing::TestParamInfo<conformance_case>& info) {
    return info.param.test_name;
}

INSTANTIATE_TEST_SUITE_P(conformance, case_test, ::testing::ValuesIn(load_cases()), case_name);

}  // namespace
