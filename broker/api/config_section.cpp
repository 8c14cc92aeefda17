// config_section: typed reads of one configuration file's values (the tree the core's loader
// builds), RMQTT's value forms, and the record of which keys were read.
#include "rmqtt/broker/config_section.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

namespace rmqtt::broker {

namespace {

constexpr std::string_view unknown_note = "unknown key, ignored";
constexpr std::string_view compat_note = "accepted for RMQTT compatibility, not used";

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
        s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
        s.remove_suffix(1);
    return s;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}

// Reads the digits at the front of `s` into `value`; false on none or on overflow.
bool take_number(std::string_view& s, std::uint64_t& value) noexcept {
    std::size_t i = 0;
    value = 0;
    while (i < s.size() && is_digit(s[i])) {
        const auto d = static_cast<std::uint64_t>(s[i] - '0');
        if (value > (std::numeric_limits<std::uint64_t>::max() - d) / 10) return false;
        value = value * 10 + d;
        ++i;
    }
    if (i == 0) return false;
    s.remove_prefix(i);
    return true;
}

bool checked_mul_add(std::uint64_t& total, std::uint64_t value, std::uint64_t unit,
                     std::uint64_t limit) noexcept {
    if (value != 0 && unit > limit / value) return false;
    const std::uint64_t part = value * unit;
    if (part > limit - total) return false;
    total += part;
    return true;
}

std::string join(std::string_view prefix, std::string_view key) {
    return prefix.empty() ? std::string(key) : fmt::format("{}.{}", prefix, key);
}

std::string indexed(std::string_view key, std::size_t i) {
    return fmt::format("{}[{}]", key, i);
}

std::string range_text(std::int64_t lo, std::int64_t hi) {
    if (hi == std::numeric_limits<std::int64_t>::max()) return fmt::format("an integer >= {}", lo);
    return fmt::format("an integer from {} to {}", lo, hi);
}

using key_set = std::set<std::string, std::less<>>;

// Marks `full` and everything below it as read.
void mark_subtree(key_set& read, const std::string& full, const config_node& n) {
    read.insert(full);
    if (n.type == config_node::kind::table) {
        for (const auto& [k, child] : n.table)
            mark_subtree(read, join(full, k), child);
    } else if (n.type == config_node::kind::array) {
        for (std::size_t i = 0; i < n.items.size(); ++i) {
            if (n.items[i].type == config_node::kind::table) {
                mark_subtree(read, indexed(full, i), n.items[i]);
            }
        }
    }
}

// Reports the first key of every branch of `t` nobody read. Tables that were read are searched
// further; so are the elements of an array of tables that get_tables handed out.
void report_unread(const std::string& file, const key_set& read, const config_node& t,
                   const std::string& prefix, std::vector<std::string>& warnings) {
    for (const auto& [k, child] : t.table) {
        const std::string full = join(prefix, k);
        if (!read.contains(full)) {
            warnings.push_back(fmt::format("{}: {}: {}", file, full, unknown_note));
        } else if (child.type == config_node::kind::table) {
            report_unread(file, read, child, full, warnings);
        } else if (child.type == config_node::kind::array) {
            for (std::size_t i = 0; i < child.items.size(); ++i) {
                const std::string name = indexed(full, i);
                if (child.items[i].type == config_node::kind::table && read.contains(name)) {
                    report_unread(file, read, child.items[i], name, warnings);
                }
            }
        }
    }
}

}  // namespace

std::optional<std::chrono::microseconds> parse_duration_us(std::string_view text) noexcept {
    constexpr auto limit = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    text = trim(text);
    if (text.empty()) return std::nullopt;
    std::uint64_t total = 0;
    if (std::all_of(text.begin(), text.end(), is_digit)) {  // a bare number means seconds
        std::uint64_t secs = 0;
        if (!take_number(text, secs) || !checked_mul_add(total, secs, 1'000'000, limit)) {
            return std::nullopt;
        }
        return std::chrono::microseconds(static_cast<std::int64_t>(total));
    }
    while (!text.empty()) {  // one or more <number><unit>, e.g. "1h30m", "1h 30m", "500us"
        std::uint64_t value = 0;
        if (!take_number(text, value)) return std::nullopt;
        text = trim(text);
        std::size_t n = 0;
        while (n < text.size() && std::isalpha(static_cast<unsigned char>(text[n])))
            ++n;
        const std::string unit = lower(text.substr(0, n));
        text = trim(text.substr(n));
        std::uint64_t mult = 0;
        if (unit == "us") {
            mult = 1;
        } else if (unit == "ms") {
            mult = 1'000;
        } else if (unit == "s") {
            mult = 1'000'000;
        } else if (unit == "m") {
            mult = 60'000'000;
        } else if (unit == "h") {
            mult = 3'600'000'000;
        } else if (unit == "d") {
            mult = 86'400'000'000;
        } else {
            return std::nullopt;
        }
        if (!checked_mul_add(total, value, mult, limit)) return std::nullopt;
    }
    return std::chrono::microseconds(static_cast<std::int64_t>(total));
}

std::optional<duration> parse_duration(std::string_view text) noexcept {
    const auto us = parse_duration_us(text);
    if (!us || us->count() % 1000 != 0) return std::nullopt;
    return std::chrono::duration_cast<duration>(*us);
}

std::optional<std::uint64_t> parse_size(std::string_view text) noexcept {
    text = trim(text);
    std::uint64_t value = 0;
    if (!take_number(text, value)) return std::nullopt;
    const std::string unit = lower(trim(text));
    std::uint64_t mult = 0;
    if (unit.empty() || unit == "b") {
        mult = 1;
    } else if (unit == "k" || unit == "kb" || unit == "kib") {
        mult = 1ULL << 10;
    } else if (unit == "m" || unit == "mb" || unit == "mib") {
        mult = 1ULL << 20;
    } else if (unit == "g" || unit == "gb" || unit == "gib") {
        mult = 1ULL << 30;
    } else {
        return std::nullopt;
    }
    std::uint64_t total = 0;
    if (!checked_mul_add(total, value, mult, std::numeric_limits<std::uint64_t>::max())) {
        return std::nullopt;
    }
    return total;
}

std::string config_node::describe() const {
    switch (type) {
        case kind::boolean:
            return boolean ? "true" : "false";
        case kind::integer:
            return std::to_string(integer);
        case kind::floating:
            return fmt::format("{}", floating);
        case kind::string:
            return fmt::format("\"{}\"", string);
        case kind::array:
            return "an array";
        case kind::table:
            return "a table";
        case kind::other:
            break;
    }
    return "a date/time";
}

config_section::config_section()
    : warnings_(std::make_shared<std::vector<std::string>>()), read_(std::make_shared<key_set>()) {}

config_section::config_section(std::string file, std::shared_ptr<const config_node> root,
                               std::shared_ptr<std::vector<std::string>> warnings)
    : file_(std::move(file)),
      root_(std::move(root)),
      node_(root_.get()),
      warnings_(warnings ? std::move(warnings) : std::make_shared<std::vector<std::string>>()),
      read_(std::make_shared<key_set>()) {}

config_section::config_section(const config_section& parent, std::string prefix,
                               const config_node* node)
    : file_(parent.file_),
      root_(parent.root_),
      node_(node),
      prefix_(std::move(prefix)),
      node_id_(parent.node_id_),
      warnings_(parent.warnings_),
      read_(parent.read_) {}

std::string config_section::with_node(std::string text) const {
    const std::string node = std::to_string(node_id_);
    for (std::size_t at = text.find("{node}"); at != std::string::npos;
         at = text.find("{node}", at + node.size()))
        text.replace(at, 6, node);
    return text;
}

std::string config_section::full_key(std::string_view key) const {
    return key.empty() ? prefix_ : join(prefix_, key);
}

// Follows a dotted key through the tables; a step that is not a table is an error ("storage =
// 5" when storage.type is asked for), an absent step is an absent key.
const config_node* config_section::find(std::string_view key) const {
    if (node_ == nullptr || node_->type != config_node::kind::table) return nullptr;
    const config_node* n = node_;
    std::size_t start = 0;
    for (;;) {
        const auto dot = key.find('.', start);
        const auto part = key.substr(start, dot == std::string_view::npos ? dot : dot - start);
        if (n->type != config_node::kind::table) {
            fail_node(full_key(key.substr(0, start - 1)), *n, "a table");
        }
        const auto it = n->table.find(part);
        if (it == n->table.end()) return nullptr;
        n = &it->second;
        if (dot == std::string_view::npos) return n;
        start = dot + 1;
    }
}

const config_node& config_section::require(std::string_view key) const {
    const auto* n = find(key);
    if (n == nullptr) fail(key, "missing");
    return *n;
}

void config_section::mark(std::string_view key) const {
    const std::string full = full_key(key);
    for (auto dot = full.find('.'); dot != std::string::npos; dot = full.find('.', dot + 1))
        read_->insert(full.substr(0, dot));
    read_->insert(full);
}

const config_node* config_section::take(std::string_view key) const {
    const auto* n = find(key);
    if (n != nullptr) mark(key);
    return n;
}

bool config_section::has(std::string_view key) const {
    return find(key) != nullptr;
}

std::vector<std::string> config_section::keys() const {
    std::vector<std::string> out;
    if (node_ == nullptr || node_->type != config_node::kind::table) return out;
    for (const auto& [k, v] : node_->table)
        out.push_back(k);
    return out;
}

std::optional<bool> config_section::get_bool(std::string_view key) const {
    const auto* n = take(key);
    if (n == nullptr) return std::nullopt;
    if (n->type != config_node::kind::boolean) fail_value(key, "true or false");
    return n->boolean;
}

std::optional<std::int64_t> config_section::get_int(std::string_view key, std::int64_t lo,
                                                    std::int64_t hi) const {
    const auto* n = take(key);
    if (n == nullptr) return std::nullopt;
    if (n->type != config_node::kind::integer || n->integer < lo || n->integer > hi) {
        fail_value(key, range_text(lo, hi));
    }
    return n->integer;
}

std::optional<double> config_section::get_number(std::string_view key) const {
    const auto* n = take(key);
    if (n == nullptr) return std::nullopt;
    if (n->type == config_node::kind::integer) return static_cast<double>(n->integer);
    if (n->type != config_node::kind::floating) fail_value(key, "a number");
    return n->floating;
}

std::optional<std::string> config_section::get_string(std::string_view key) const {
    const auto* n = take(key);
    if (n == nullptr) return std::nullopt;
    if (n->type != config_node::kind::string) fail_value(key, "a string");
    return n->string;
}

std::optional<std::string> config_section::get_choice(
    std::string_view key, std::initializer_list<std::string_view> choices) const {
    const auto* n = take(key);
    if (n == nullptr) return std::nullopt;
    std::string form = "one of";
    for (auto c : choices)
        form += fmt::format(" \"{}\"", c);
    if (n->type != config_node::kind::string) fail_value(key, form);
    const std::string got = lower(n->string);
    for (auto c : choices) {
        if (got == c) return std::string(c);
    }
    fail_value(key, form);
}

std::optional<std::vector<std::string>> config_section::get_strings(std::string_view key) const {
    constexpr std::string_view form = "an array of strings such as [\"a\", \"b\"]";
    const auto* n = take(key);
    if (n == nullptr) return std::nullopt;
    if (n->type != config_node::kind::array) fail_value(key, form);
    std::vector<std::string> out;
    for (const auto& e : n->items) {
        if (e.type != config_node::kind::string) fail_node(full_key(key), e, form);
        out.push_back(e.string);
    }
    return out;
}

std::optional<std::chrono::microseconds> config_section::get_duration_us(
    std::string_view key) const {
    const auto* n = take(key);
    if (n == nullptr) return std::nullopt;
    if (n->type == config_node::kind::integer && n->integer >= 0 &&
        n->integer <= std::numeric_limits<std::int64_t>::max() / 1'000'000) {
        return std::chrono::seconds(n->integer);
    }
    if (n->type == config_node::kind::string) {
        if (auto d = parse_duration_us(n->string)) return *d;
    }
    fail_value(key, duration_form);
}

std::optional<duration> config_section::get_duration(std::string_view key) const {
    const auto us = get_duration_us(key);
    if (!us) return std::nullopt;
    if (us->count() % 1000 != 0) {
        fail_value(key, fmt::format("{}, in whole milliseconds", duration_form));
    }
    return std::chrono::duration_cast<duration>(*us);
}

std::optional<duration> config_section::get_positive_duration(std::string_view key) const {
    const auto d = get_duration(key);
    if (d && d->count() == 0) fail_value(key, fmt::format("{}, greater than 0", duration_form));
    return d;
}

std::optional<std::uint64_t> config_section::get_size(std::string_view key, std::uint64_t lo,
                                                      std::uint64_t hi) const {
    const auto* n = take(key);
    if (n == nullptr) return std::nullopt;
    std::optional<std::uint64_t> v;
    if (n->type == config_node::kind::integer && n->integer >= 0) {
        v = static_cast<std::uint64_t>(n->integer);
    }
    if (n->type == config_node::kind::string) v = parse_size(n->string);
    if (!v) fail_value(key, size_form);
    if (*v < lo || *v > hi) {
        fail_value(key, hi == std::numeric_limits<std::uint64_t>::max()
                            ? fmt::format("{}, at least {} bytes", size_form, lo)
                            : fmt::format("{}, from {} to {} bytes", size_form, lo, hi));
    }
    return v;
}

std::optional<config_section> config_section::get_table(std::string_view key) const {
    const auto* n = take(key);
    if (n == nullptr) return std::nullopt;
    if (n->type != config_node::kind::table) fail_value(key, "a table");
    return config_section(*this, full_key(key), n);
}

std::vector<config_section> config_section::get_tables(std::string_view key) const {
    std::vector<config_section> out;
    const auto* n = take(key);
    if (n == nullptr) return out;
    if (n->type != config_node::kind::array) {
        fail_value(key, fmt::format("an array of tables such as [[{}]]", full_key(key)));
    }
    for (std::size_t i = 0; i < n->items.size(); ++i) {
        std::string name = indexed(full_key(key), i);
        if (n->items[i].type != config_node::kind::table) fail_node(name, n->items[i], "a table");
        read_->insert(name);
        out.push_back(config_section(*this, std::move(name), &n->items[i]));
    }
    return out;
}

const config_node* config_section::get_node(std::string_view key) const {
    return take(key);
}

void config_section::accept_unused(std::string_view key, std::string_view note) const {
    const auto* n = take(key);
    if (n == nullptr) return;
    mark_subtree(*read_, full_key(key), *n);
    if (!note.empty()) warn(key, note);
}

void config_section::fail(std::string_view key, std::string_view message) const {
    throw config_error(fmt::format("{}: {}: {}", file_, full_key(key), message));
}

void config_section::fail_value(std::string_view key, std::string_view expected) const {
    fail_node(full_key(key), require(key), expected);
}

void config_section::fail_node(std::string_view full, const config_node& n,
                               std::string_view expected) const {
    throw config_error(fmt::format("{}: {}: expected {}, got {}{}", file_, full, expected,
                                   n.describe(),
                                   n.line > 0 ? fmt::format(" (line {})", n.line) : std::string()));
}

void config_section::warn(std::string_view key, std::string_view message) const {
    warnings_->push_back(fmt::format("{}: {}: {}", file_, full_key(key), message));
}

void config_section::report_unknown() const {
    if (node_ == nullptr || node_->type != config_node::kind::table) return;
    report_unread(file_, *read_, *node_, prefix_, *warnings_);
}

namespace {

enum class cb_kind { number, string, integer, duration };

constexpr std::array<std::pair<std::string_view, cb_kind>, 10> circuit_breaker_fields{{
    {"circuit_breaker.failure_rate_threshold", cb_kind::number},
    {"circuit_breaker.sliding_window_type", cb_kind::string},
    {"circuit_breaker.sliding_window_size", cb_kind::integer},
    {"circuit_breaker.sliding_window_duration", cb_kind::duration},
    {"circuit_breaker.minimum_number_of_calls", cb_kind::integer},
    {"circuit_breaker.wait_duration_in_open", cb_kind::duration},
    {"circuit_breaker.slow_call_duration_threshold", cb_kind::duration},
    {"circuit_breaker.slow_call_rate_threshold", cb_kind::number},
    {"circuit_breaker.operation_timeout", cb_kind::duration},
    {"circuit_breaker.permitted_calls_in_half_open", cb_kind::integer},
}};

constexpr auto circuit_breaker_names = [] {
    std::array<std::string_view, circuit_breaker_fields.size()> out{};
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = circuit_breaker_fields[i].first;
    return out;
}();

}  // namespace

void accept_rmqtt_circuit_breaker(const config_section& s) {
    if (!s.get_table("circuit_breaker")) return;
    for (const auto& [key, kind] : circuit_breaker_fields) {
        switch (kind) {
            case cb_kind::number:
                (void)s.get_number(key);
                break;
            case cb_kind::string:
                (void)s.get_string(key);
                break;
            case cb_kind::integer:
                (void)s.get_int(key);
                break;
            case cb_kind::duration:
                (void)s.get_duration_us(key);
                break;
        }
    }
    s.warn("circuit_breaker", compat_note);
}

std::span<const std::string_view> rmqtt_circuit_breaker_keys() noexcept {
    return circuit_breaker_names;
}

}  // namespace rmqtt::broker
