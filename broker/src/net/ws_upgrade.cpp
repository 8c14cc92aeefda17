#include "net/ws_upgrade.hpp"

#include <http_parser.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <climits>

namespace rmqtt::broker {

namespace {

char lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                              [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

// Calls f(token) for each comma-separated token of each value (empty ones skipped).
template <class F>
void for_each_token(const std::vector<std::string_view>& values, F f) {
    for (auto v : values) {
        while (!v.empty()) {
            const auto comma = v.find(',');
            const auto token = trim(v.substr(0, comma));
            if (!token.empty()) f(token);
            if (comma == std::string_view::npos) break;
            v.remove_prefix(comma + 1);
        }
    }
}

bool has_token_ci(const std::vector<std::string_view>& values, std::string_view wanted) {
    bool found = false;
    for_each_token(values, [&](std::string_view t) { found = found || iequals(t, wanted); });
    return found;
}

bool is_base64_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

// RFC 6455 section 4.1: a base64-encoded 16-byte value, i.e. 22 characters and "==", the last
// character carrying 2 bits of data (so one of A, Q, g, w).
bool valid_key(std::string_view k) {
    if (k.size() != 24 || k[22] != '=' || k[23] != '=') return false;
    if (!std::all_of(k.begin(), k.begin() + 22, is_base64_char)) return false;
    return k[21] == 'A' || k[21] == 'Q' || k[21] == 'g' || k[21] == 'w';
}

// RFC 7230 section 3.2.6: a header name is a token. (Debian's http_parser is built lenient.)
bool is_token(std::string_view s) {
    static constexpr std::string_view specials = "!#$%&'*+-.^_`|~";
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               specials.find(c) != std::string_view::npos;
    });
}

// A header value holds visible characters, blanks and obs-text; no other control characters.
bool is_field_value(std::string_view s) {
    return std::none_of(s.begin(), s.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return (u < 0x20 && c != '\t') || u == 0x7F;
    });
}

struct status_line {
    int code;
    const char* reason;
};

status_line status_for(ws_error e) {
    switch (e) {
        case ws_error::request_too_large:
            return {431, "Request Header Fields Too Large"};
        case ws_error::method_not_allowed:
            return {405, "Method Not Allowed"};
        case ws_error::wrong_path:
            return {404, "Not Found"};
        case ws_error::not_websocket:
        case ws_error::websocket_version:
            return {426, "Upgrade Required"};
        default:
            return {400, "Bad Request"};
    }
}

}  // namespace

std::vector<std::string_view> ws_request::values(std::string_view name) const {
    std::vector<std::string_view> out;
    for (const auto& [n, v] : headers)
        if (n == name) out.emplace_back(v);
    return out;
}

// ---- parser

struct ws_upgrade_parser::impl {
    explicit impl(std::size_t max) : max_size(max) {
        http_parser_init(&parser, HTTP_REQUEST);
        parser.data = this;
        http_parser_settings_init(&settings);
        settings.on_url = on_url;
        settings.on_header_field = on_header_field;
        settings.on_header_value = on_header_value;
        settings.on_headers_complete = on_headers_complete;
        settings.on_message_complete = on_message_complete;
    }

    static impl& self(http_parser* p) { return *static_cast<impl*>(p->data); }

    static int on_url(http_parser* p, const char* at, std::size_t len) {
        self(p).req.target.append(at, len);
        return 0;
    }
    // http_parser hands a field or value over in pieces when it spans two reads.
    static int on_header_field(http_parser* p, const char* at, std::size_t len) {
        auto& s = self(p);
        if (!s.in_field) s.req.headers.emplace_back();
        s.in_field = true;
        auto& name = s.req.headers.back().first;
        for (std::size_t i = 0; i < len; ++i)
            name.push_back(lower(at[i]));
        return 0;
    }
    static int on_header_value(http_parser* p, const char* at, std::size_t len) {
        auto& s = self(p);
        s.in_field = false;
        if (s.req.headers.empty()) return 1;
        s.req.headers.back().second.append(at, len);
        return 0;
    }
    static int on_headers_complete(http_parser* p) {
        auto& s = self(p);
        s.req.method = http_method_str(static_cast<http_method>(p->method));
        s.req.http_major = p->http_major;
        s.req.http_minor = p->http_minor;
        s.req.has_body = (p->flags & F_CHUNKED) != 0 || p->uses_transfer_encoding != 0 ||
                         (p->content_length > 0 && p->content_length != ULLONG_MAX);
        return 1;  // never read a body: what follows the headers is the WebSocket stream
    }
    static int on_message_complete(http_parser* p) {
        self(p).done = true;
        http_parser_pause(p, 1);  // one request only; the next bytes are not HTTP
        return 0;
    }

    http_parser parser{};
    http_parser_settings settings{};
    ws_request req;
    std::size_t max_size;
    std::size_t seen = 0;  // bytes fed so far
    bool in_field = false;
    bool done = false;
    status state = status::need_more;
    ws_error err{};
};

ws_upgrade_parser::ws_upgrade_parser(std::size_t max_size)
    : impl_(std::make_unique<impl>(max_size)) {}

ws_upgrade_parser::~ws_upgrade_parser() = default;

ws_upgrade_parser::status ws_upgrade_parser::feed(std::span<const std::uint8_t> data,
                                                  std::size_t& consumed) {
    auto& s = *impl_;
    consumed = 0;
    if (s.state != status::need_more || data.empty()) return s.state;
    // Never parse more than one byte past the limit: a flood is refused after max_size bytes.
    const std::size_t room = s.max_size + 1 - std::min(s.seen, s.max_size);
    const std::size_t len = std::min(data.size(), room);
    const std::size_t n = http_parser_execute(&s.parser, &s.settings,
                                              reinterpret_cast<const char*>(data.data()), len);
    if (s.done) {
        s.seen += n;
        if (s.seen > s.max_size) {
            s.err = ws_error::request_too_large;
            return s.state = status::failed;
        }
        for (const auto& [name, value] : s.req.headers) {
            if (!is_token(name) || !is_field_value(value)) {
                s.err = ws_error::malformed_request;
                return s.state = status::failed;
            }
        }
        consumed = n;
        return s.state = status::complete;
    }
    s.seen += len;
    if (HTTP_PARSER_ERRNO(&s.parser) != HPE_OK) {
        s.err = ws_error::malformed_request;
        return s.state = status::failed;
    }
    if (s.seen > s.max_size) {
        s.err = ws_error::request_too_large;
        return s.state = status::failed;
    }
    return status::need_more;
}

const ws_request& ws_upgrade_parser::request() const noexcept {
    return impl_->req;
}

ws_error ws_upgrade_parser::error() const noexcept {
    return impl_->err;
}

// ---- answers

std::string ws_accept_key(std::string_view key) {
    static constexpr std::string_view guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    std::string input(key);
    input += guid;
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int digest_len = 0;
    if (EVP_Digest(input.data(), input.size(), digest.data(), &digest_len, EVP_sha1(), nullptr) !=
        1)
        return {};
    std::array<unsigned char, 64> out{};  // 4 * ceil(20 / 3) + NUL
    const int n = EVP_EncodeBlock(out.data(), digest.data(), static_cast<int>(digest_len));
    return std::string(reinterpret_cast<const char*>(out.data()), static_cast<std::size_t>(n));
}

ws_upgrade_answer refuse_upgrade(ws_error e) {
    const auto [code, reason] = status_for(e);
    const std::string body = make_error_code(e).message() + "\n";
    std::string r = "HTTP/1.1 " + std::to_string(code) + " " + reason + "\r\n";
    if (e == ws_error::method_not_allowed) r += "Allow: GET\r\n";
    if (e == ws_error::not_websocket) r += "Upgrade: websocket\r\n";
    if (e == ws_error::websocket_version) r += "Sec-WebSocket-Version: 13\r\n";
    r += "Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
    return ws_upgrade_answer{make_error_code(e), {}, std::move(r)};
}

ws_upgrade_answer answer_upgrade(const ws_request& r, std::string_view ws_path) {
    if (r.method != "GET") return refuse_upgrade(ws_error::method_not_allowed);
    if (r.http_major < 1 || (r.http_major == 1 && r.http_minor < 1))
        return refuse_upgrade(ws_error::http_version);
    const auto hosts = r.values("host");
    if (hosts.size() != 1 || trim(hosts.front()).empty())
        return refuse_upgrade(ws_error::missing_host);

    http_parser_url url;
    http_parser_url_init(&url);
    if (r.target.empty() || http_parser_parse_url(r.target.data(), r.target.size(), 0, &url) != 0)
        return refuse_upgrade(ws_error::malformed_request);
    std::string_view path = "/";
    if (url.field_set & (1u << UF_PATH)) {
        path = std::string_view(r.target).substr(url.field_data[UF_PATH].off,
                                                 url.field_data[UF_PATH].len);
    }
    if (!ws_path.empty() && path != ws_path) return refuse_upgrade(ws_error::wrong_path);

    if (!has_token_ci(r.values("upgrade"), "websocket") ||
        !has_token_ci(r.values("connection"), "upgrade"))
        return refuse_upgrade(ws_error::not_websocket);
    const auto versions = r.values("sec-websocket-version");
    if (versions.size() != 1 || trim(versions.front()) != "13")
        return refuse_upgrade(ws_error::websocket_version);
    const auto keys = r.values("sec-websocket-key");
    if (keys.size() != 1 || !valid_key(trim(keys.front())))
        return refuse_upgrade(ws_error::bad_key);
    if (r.has_body) return refuse_upgrade(ws_error::body_not_allowed);

    // Subprotocol names are case-sensitive (RFC 6455 section 4.1).
    bool mqtt = false;
    bool mqtt31 = false;
    for_each_token(r.values("sec-websocket-protocol"), [&](std::string_view t) {
        mqtt = mqtt || t == "mqtt";
        mqtt31 = mqtt31 || t == "mqttv3.1";
    });
    if (!mqtt && !mqtt31) return refuse_upgrade(ws_error::no_mqtt_subprotocol);  // [MQTT-6.0.0-3]

    ws_upgrade_answer a;
    a.subprotocol = mqtt ? "mqtt" : "mqttv3.1";  // [MQTT-6.0.0-4]
    a.response =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: " +
        ws_accept_key(trim(keys.front())) + "\r\nSec-WebSocket-Protocol: " + a.subprotocol +
        "\r\n\r\n";
    return a;
}

}  // namespace rmqtt::broker
