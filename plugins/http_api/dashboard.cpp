#include "http_api/dashboard.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>

namespace rmqtt::plugins::http_api {

std::string_view content_type_of(std::string_view path) {
    struct type {
        std::string_view ext;
        std::string_view mime;
    };
    static constexpr type types[] = {
        {".html", "text/html; charset=utf-8"},
        {".htm", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".ico", "image/x-icon"},
        {".txt", "text/plain; charset=utf-8"},
        {".woff2", "font/woff2"},
    };
    for (const auto& t : types)
        if (path.ends_with(t.ext)) return t.mime;
    return "application/octet-stream";
}

bool safe_relative_path(std::string_view path) {
    if (path.empty()) return true;
    std::size_t start = 0;
    while (start <= path.size()) {
        auto end = path.find('/', start);
        if (end == std::string_view::npos) end = path.size();
        const auto segment = path.substr(start, end - start);
        if (segment.empty() || segment.front() == '.') return false;  // "", ".", "..", ".git"
        for (const char c : segment)
            if (c <= 0x20 || c >= 0x7f || c == '\\' || c == ':') return false;
        start = end + 1;
    }
    return true;
}

std::optional<static_file> find_static_file(const std::optional<std::string>& dir,
                                            std::string_view path) {
    if (!safe_relative_path(path)) return std::nullopt;
    const std::string_view name = path.empty() ? std::string_view("index.html") : path;
    if (!dir) {
        for (const auto& f : embedded_files())
            if (f.path == name)
                return static_file{std::string(f.content), std::string(content_type_of(name))};
        return std::nullopt;
    }
    const std::filesystem::path file = std::filesystem::path(*dir) / std::string(name);
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) return std::nullopt;
    // A symbolic link inside the directory must not lead out of it.
    const auto root = std::filesystem::weakly_canonical(*dir, ec);
    if (ec) return std::nullopt;
    const auto real = std::filesystem::weakly_canonical(file, ec);
    if (ec) return std::nullopt;
    const auto rel = real.lexically_relative(root);
    if (rel.empty() || rel.native().starts_with("..")) return std::nullopt;
    std::ifstream in(file, std::ios::binary);
    if (!in) return std::nullopt;
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) return std::nullopt;
    return static_file{std::move(content), std::string(content_type_of(name))};
}

}  // namespace rmqtt::plugins::http_api
