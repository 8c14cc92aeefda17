#pragma once

// The export format of `rmqttd store export` / `import`: JSON Lines, one record per line, a
// header line first and an end line last (docs/store-format.md describes every field).

#include <cstdint>
#include <iosfwd>
#include <string>
#include <vector>

#include "rmqtt/storage/store.hpp"
#include "store_image.hpp"
#include "store_source.hpp"

namespace rmqtt::store_tool {

inline constexpr const char* format_name = "rmqttd-store";
inline constexpr int format_version = 1;

struct export_info {
    std::string engine;
    std::string source;
    std::uint64_t node = 0;
    std::int64_t now_ms = 0;
};

// Writes every session (with its subscriptions, queue entries and inbound QoS 2 ids), retained
// message and meta record of `image`, sorted, so two stores holding the same records export
// the same lines after the header. Orphans are not written. Returns the records written.
std::size_t write_jsonl(const store_image& image, const export_info& info, std::ostream& out,
                        progress& p);

struct import_data {
    std::vector<storage::operation> ops;  // in file order, sessions before their records
    std::size_t records = 0;
    std::size_t sessions = 0;
    std::string source;  // the header's engine and source, for the report
};

// Reads and validates every line. A bad line throws tool_error(exit_error) naming `name` and the
// line number; nothing is returned partly.
import_data read_jsonl(std::istream& in, const std::string& name, progress& p);

}  // namespace rmqtt::store_tool
