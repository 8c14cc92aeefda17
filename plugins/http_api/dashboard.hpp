#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

// The dashboard's static files: embedded in the binary at build time (plugins/http_api/dashboard/,
// embed_files.cmake), or read from dashboard_static_dir when that key is set.
namespace rmqtt::plugins::http_api {

struct embedded_file {
    std::string_view path;  // relative: "index.html", "js/app.js"
    std::string_view content;
};
std::span<const embedded_file> embedded_files();

struct static_file {
    std::string content;
    std::string content_type;
};

// The Content-Type for a file name, by its extension ("application/octet-stream" when unknown).
std::string_view content_type_of(std::string_view path);

// A relative path ("" = index.html) that stays inside the directory: no "..", no empty or
// dot-leading segment, no backslash or NUL, printable ASCII only. False for anything else.
bool safe_relative_path(std::string_view path);

// The file at `path` (relative, checked with safe_relative_path), from `dir` when set, else
// from the embedded files. nullopt when there is none (or the path is not safe).
std::optional<static_file> find_static_file(const std::optional<std::string>& dir,
                                            std::string_view path);

}  // namespace rmqtt::plugins::http_api
