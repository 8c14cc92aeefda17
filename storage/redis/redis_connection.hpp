#pragma once

// Private to the Redis engine: the redis:// URL, a RESP command buffer for pipelining, and one
// synchronous hiredis connection that reconnects with backoff. Not thread-safe: one thread at a
// time, like the store that owns it.

#include <charconv>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rmqtt/storage/status.hpp"

struct redisContext;
struct redisReply;

namespace rmqtt::storage::redis_detail {

// redis://[[user]:password@]host[:port][/db]. The password may be percent-encoded.
struct redis_url {
    std::string host;
    std::uint16_t port = 6379;
    std::string username;                 // ACL user (Redis 6+); empty = the default user
    std::optional<std::string> password;  // AUTH when set
    int db = 0;                           // SELECT when not 0
    // The URL without the password, for logs and error messages.
    std::string display() const;
};
status parse_redis_url(std::string_view text, redis_url& out);

// Commands in RESP wire form, appended back to back, so a whole pipeline goes out in one write.
class command_buffer {
  public:
    // Starts a command of `argc` arguments; exactly `argc` calls to arg() must follow.
    void begin(std::size_t argc);
    void arg(std::string_view s);
    template <std::integral T>
    void arg(T v) {
        char buf[24];
        const auto r = std::to_chars(buf, buf + sizeof buf, v);
        arg(std::string_view(buf, static_cast<std::size_t>(r.ptr - buf)));
    }
    // A complete command with a fixed argument list.
    template <class... Args>
    void add(const Args&... args) {
        begin(sizeof...(Args));
        (arg(args), ...);
    }
    // Appends every command of `other`.
    void append(const command_buffer& other);

    std::size_t count() const noexcept { return count_; }
    const std::string& data() const noexcept { return data_; }
    void clear() noexcept {
        data_.clear();
        count_ = 0;
    }

  private:
    void append_header(char type, std::size_t n);  // "*<n>\r\n" or "$<n>\r\n"
    std::string data_;
    std::size_t count_ = 0;
};

struct reply_deleter {
    void operator()(redisReply* r) const noexcept;
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

// Views of a reply, for code that does not include hiredis.
enum class reply_kind { string, array, integer, nil, status, error };
reply_kind kind_of(const redisReply& r) noexcept;
std::string_view text_of(const redisReply& r) noexcept;  // string, status or error text
long long integer_of(const redisReply& r) noexcept;
std::size_t size_of(const redisReply& r) noexcept;  // array length
const redisReply& element_of(const redisReply& r, std::size_t i) noexcept;

class connection {
  public:
    struct options {
        redis_url url;
        std::chrono::milliseconds connect_timeout{3000};
        std::chrono::milliseconds command_timeout{15000};
        std::chrono::milliseconds backoff_initial{100};
        std::chrono::milliseconds backoff_max{2000};
    };
    explicit connection(options opts);
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    // Connects (TCP, AUTH, SELECT) unless connected. After a failed attempt the next one is made
    // only once the backoff has passed; until then this returns `unavailable` at once, so a
    // caller retrying in a loop never blocks longer than the connect timeout per attempt.
    // A bad password or db gives invalid_argument.
    status ensure();
    bool connected() const noexcept { return ctx_ != nullptr; }
    // Incremented on every successful connect: state bound to one connection (loaded scripts)
    // is stale when this changes.
    std::uint64_t generation() const noexcept { return generation_; }

    // Sends every command of `cmds` in one write and reads exactly cmds.count() replies into
    // `replies` (cleared first). Error replies are returned as replies; only a connection
    // failure (refused, reset, timeout, protocol error) fails the call, with `unavailable`, and
    // drops the connection so the next call reconnects.
    status exchange(const command_buffer& cmds, std::vector<reply_ptr>& replies);

    // Drops the connection; ensure() reconnects without waiting for a backoff.
    void disconnect() noexcept;

    const redis_url& url() const noexcept { return opts_.url; }

  private:
    status connect_once();
    status fail(std::string what);

    options opts_;
    redisContext* ctx_ = nullptr;
    std::uint64_t generation_ = 0;
    std::chrono::milliseconds backoff_{0};
    std::chrono::steady_clock::time_point next_attempt_{};
    std::string last_error_;
};

}  // namespace rmqtt::storage::redis_detail
