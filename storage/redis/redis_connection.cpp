#include "redis_connection.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <ctime>

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <sys/time.h>

namespace rmqtt::storage::redis_detail {

namespace {

status invalid_url(std::string_view text, std::string_view why) {
    // The URL may hold a password: show only the part before any '@'-credential.
    std::string shown(text);
    if (const auto at = shown.rfind('@'); at != std::string::npos) {
        const auto scheme_end = shown.find("://");
        const std::size_t from = scheme_end == std::string::npos ? 0 : scheme_end + 3;
        shown = shown.substr(0, from) + "***" + shown.substr(at);
    }
    return status::error(status::code::invalid_argument,
                         "redis url '" + shown + "': " + std::string(why) +
                             " (expected redis://[[user]:password@]host[:port][/db])");
}

bool percent_decode(std::string_view in, std::string& out) {
    out.clear();
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '%') {
            out += in[i];
            continue;
        }
        if (i + 2 >= in.size()) return false;
        int value = 0;
        const auto r = std::from_chars(in.data() + i + 1, in.data() + i + 3, value, 16);
        if (r.ec != std::errc{} || r.ptr != in.data() + i + 3) return false;
        out += static_cast<char>(value);
        i += 2;
    }
    return true;
}

template <class T>
bool parse_number(std::string_view s, T& out) {
    if (s.empty()) return false;
    const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
    return r.ec == std::errc{} && r.ptr == s.data() + s.size();
}

timeval to_timeval(std::chrono::milliseconds ms) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    return tv;
}

// hiredis writes with write(2): a peer that went away raises SIGPIPE, whose default action
// kills the process. A library must not change the process-wide disposition, so SIGPIPE is
// blocked for this thread during I/O and a SIGPIPE raised meanwhile is consumed (the write
// itself fails with EPIPE, which hiredis reports).
class sigpipe_guard {
  public:
    sigpipe_guard() noexcept {
        sigemptyset(&pipe_);
        sigaddset(&pipe_, SIGPIPE);
        sigset_t pending;
        sigemptyset(&pending);
        was_pending_ = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
        blocked_ = pthread_sigmask(SIG_BLOCK, &pipe_, &old_) == 0;
    }
    ~sigpipe_guard() {
        if (!blocked_) return;
        sigset_t pending;
        sigemptyset(&pending);
        if (!was_pending_ && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) {
            timespec zero{};
            int r = 0;
            do {
                r = sigtimedwait(&pipe_, nullptr, &zero);
            } while (r == -1 && errno == EINTR);
        }
        pthread_sigmask(SIG_SETMASK, &old_, nullptr);
    }
    sigpipe_guard(const sigpipe_guard&) = delete;
    sigpipe_guard& operator=(const sigpipe_guard&) = delete;

  private:
    sigset_t pipe_{};
    sigset_t old_{};
    bool was_pending_ = false;
    bool blocked_ = false;
};

}  // namespace

// ---- URL
// -----------------------------------------------------------------------------------------

std::string redis_url::display() const {
    std::string out = "redis://";
    if (!username.empty()) {
        out += username;
        out += password ? ":***@" : "@";
    } else if (password) {
        out += ":***@";
    }
    if (host.find(':') != std::string::npos) {
        out += '[' + host + ']';
    } else {
        out += host;
    }
    out += ':' + std::to_string(port) + '/' + std::to_string(db);
    return out;
}

status parse_redis_url(std::string_view text, redis_url& out) {
    out = redis_url{};
    constexpr std::string_view scheme = "redis://";
    if (text.starts_with("rediss://")) {
        return invalid_url(text, "TLS (rediss://) is not supported by this build (hiredis 0.14)");
    }
    if (!text.starts_with(scheme)) return invalid_url(text, "the scheme must be redis://");
    std::string_view rest = text.substr(scheme.size());
    if (rest.find_first_of("?#") != std::string_view::npos) {
        return invalid_url(text, "query parameters are not supported");
    }
    // The authority ends at the first '/' after the credentials (a password may contain '/'
    // only percent-encoded, as in any URL).
    std::string_view userinfo;
    if (const auto at = rest.rfind('@'); at != std::string_view::npos) {
        userinfo = rest.substr(0, at);
        rest = rest.substr(at + 1);
    }
    const auto slash = rest.find('/');
    std::string_view hostport = rest.substr(0, slash);
    std::string_view path =
        slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);

    if (!userinfo.empty()) {
        const auto colon = userinfo.find(':');
        if (colon == std::string_view::npos) {
            return invalid_url(text, "credentials need a ':' (redis://:password@host)");
        }
        std::string password;
        if (!percent_decode(userinfo.substr(0, colon), out.username) ||
            !percent_decode(userinfo.substr(colon + 1), password)) {
            return invalid_url(text, "bad percent-encoding in the credentials");
        }
        out.password = std::move(password);
    }

    std::string_view port_text;
    if (hostport.starts_with('[')) {
        const auto close = hostport.find(']');
        if (close == std::string_view::npos) return invalid_url(text, "unterminated '[' in host");
        out.host = std::string(hostport.substr(1, close - 1));
        std::string_view after = hostport.substr(close + 1);
        if (!after.empty()) {
            if (after[0] != ':') return invalid_url(text, "unexpected text after ']'");
            port_text = after.substr(1);
            if (port_text.empty()) return invalid_url(text, "empty port");
        }
    } else {
        const auto colon = hostport.find(':');
        out.host = std::string(hostport.substr(0, colon));
        if (colon != std::string_view::npos) {
            port_text = hostport.substr(colon + 1);
            if (port_text.empty()) return invalid_url(text, "empty port");
        }
    }
    if (out.host.empty()) return invalid_url(text, "missing host");
    if (!port_text.empty()) {
        unsigned port = 0;
        if (!parse_number(port_text, port) || port == 0 || port > 65535) {
            return invalid_url(text, "the port must be a number from 1 to 65535");
        }
        out.port = static_cast<std::uint16_t>(port);
    }
    if (!path.empty() && path != "/") {
        int db = -1;
        if (!parse_number(path.substr(1), db) || db < 0) {
            return invalid_url(text, "the path must be a database number (/0, /1, ...)");
        }
        out.db = db;
    }
    return status::ok();
}

// ---- RESP
// ----------------------------------------------------------------------------------------

void command_buffer::begin(std::size_t argc) {
    append_header('*', argc);
    ++count_;
}

void command_buffer::arg(std::string_view s) {
    append_header('$', s.size());
    data_ += s;
    data_ += "\r\n";
}

void command_buffer::append_header(char type, std::size_t n) {
    char buf[24];
    buf[0] = type;
    const auto r = std::to_chars(buf + 1, buf + sizeof buf - 2, n);
    char* end = r.ptr;
    *end++ = '\r';
    *end++ = '\n';
    data_.append(buf, static_cast<std::size_t>(end - buf));
}

void command_buffer::append(const command_buffer& other) {
    data_ += other.data_;
    count_ += other.count_;
}

void reply_deleter::operator()(redisReply* r) const noexcept {
    freeReplyObject(r);
}

reply_kind kind_of(const redisReply& r) noexcept {
    switch (r.type) {
        case REDIS_REPLY_STRING:
            return reply_kind::string;
        case REDIS_REPLY_ARRAY:
            return reply_kind::array;
        case REDIS_REPLY_INTEGER:
            return reply_kind::integer;
        case REDIS_REPLY_STATUS:
            return reply_kind::status;
        case REDIS_REPLY_ERROR:
            return reply_kind::error;
        default:
            return reply_kind::nil;
    }
}

std::string_view text_of(const redisReply& r) noexcept {
    if (r.str == nullptr) return {};
    return std::string_view(r.str, r.len);
}

long long integer_of(const redisReply& r) noexcept {
    return r.integer;
}

std::size_t size_of(const redisReply& r) noexcept {
    return r.type == REDIS_REPLY_ARRAY ? r.elements : 0;
}

const redisReply& element_of(const redisReply& r, std::size_t i) noexcept {
    return *r.element[i];
}

// ---- connection
// ----------------------------------------------------------------------------------

connection::connection(options opts) : opts_(std::move(opts)) {}

connection::~connection() {
    disconnect();
}

void connection::disconnect() noexcept {
    if (ctx_ != nullptr) {
        redisFree(ctx_);
        ctx_ = nullptr;
    }
}

status connection::fail(std::string what) {
    last_error_ = what;
    disconnect();
    return status::error(status::code::unavailable, "redis " + opts_.url.display() + ": " + what);
}

status connection::ensure() {
    if (ctx_ != nullptr) return status::ok();
    const auto now = std::chrono::steady_clock::now();
    if (backoff_.count() > 0 && now < next_attempt_) {
        const auto wait =
            std::chrono::duration_cast<std::chrono::milliseconds>(next_attempt_ - now).count();
        return status::error(status::code::unavailable,
                             "redis " + opts_.url.display() + ": not connected (" + last_error_ +
                                 "); next attempt in " + std::to_string(wait) + " ms");
    }
    status st = connect_once();
    if (st.is_ok()) {
        backoff_ = std::chrono::milliseconds{0};
        return st;
    }
    backoff_ =
        backoff_.count() == 0 ? opts_.backoff_initial : std::min(backoff_ * 2, opts_.backoff_max);
    next_attempt_ = std::chrono::steady_clock::now() + backoff_;
    return st;
}

status connection::connect_once() {
    disconnect();
    redisContext* c = redisConnectWithTimeout(opts_.url.host.c_str(), opts_.url.port,
                                              to_timeval(opts_.connect_timeout));
    if (c == nullptr) return fail("cannot allocate a hiredis context");
    if (c->err != 0) {
        std::string what = std::string("cannot connect: ") + c->errstr;
        redisFree(c);
        return fail(std::move(what));
    }
    if (redisSetTimeout(c, to_timeval(opts_.command_timeout)) != REDIS_OK) {
        std::string what = std::string("cannot set the command timeout: ") + c->errstr;
        redisFree(c);
        return fail(std::move(what));
    }
    // Detects a peer that vanished without a FIN while the connection is idle; failures here
    // only lose that early detection.
    (void)redisEnableKeepAlive(c);
    ctx_ = c;

    command_buffer hello;
    if (opts_.url.password) {
        if (opts_.url.username.empty()) {
            hello.add("AUTH", *opts_.url.password);
        } else {
            hello.add("AUTH", opts_.url.username, *opts_.url.password);
        }
    }
    if (opts_.url.db != 0) hello.add("SELECT", opts_.url.db);
    if (hello.count() > 0) {
        std::vector<reply_ptr> replies;
        status st = exchange(hello, replies);
        if (!st) return st;
        for (const auto& r : replies) {
            if (kind_of(*r) != reply_kind::error) continue;
            std::string what(text_of(*r));
            last_error_ = what;
            disconnect();
            // A wrong password or database is a configuration error: retrying will not help.
            return status::error(status::code::invalid_argument,
                                 "redis " + opts_.url.display() + ": AUTH/SELECT failed: " + what);
        }
    }
    ++generation_;
    return status::ok();
}

status connection::exchange(const command_buffer& cmds, std::vector<reply_ptr>& replies) {
    replies.clear();
    if (ctx_ == nullptr) return fail("not connected");
    if (cmds.count() == 0) return status::ok();
    sigpipe_guard guard;
    if (redisAppendFormattedCommand(ctx_, cmds.data().data(), cmds.data().size()) != REDIS_OK) {
        return fail(std::string("cannot buffer commands: ") + ctx_->errstr);
    }
    replies.reserve(cmds.count());
    for (std::size_t i = 0; i < cmds.count(); ++i) {
        void* raw = nullptr;
        if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) {
            std::string what = ctx_->errstr[0] != '\0' ? ctx_->errstr : "connection lost";
            if (ctx_->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                what = "no reply within the command timeout (" +
                       std::to_string(opts_.command_timeout.count()) + " ms)";
            }
            return fail(std::move(what));
        }
        replies.emplace_back(static_cast<redisReply*>(raw));
    }
    return status::ok();
}

}  // namespace rmqtt::storage::redis_detail
