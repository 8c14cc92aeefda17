#pragma once

#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>

#include <atomic>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "acl/acl_rules.hpp"
#include "rmqtt/broker/hooks.hpp"
#include "rmqtt/broker/plugin.hpp"

// rmqtt-acl: RMQTT's file-based access control (etc/plugins/rmqtt-acl.toml, acl_rules.hpp).
//  - authenticate: the connect rules, first match. A user rule with a password matches only when
//    the client's password is that one (hashes are checked on the plugin's pool, the decision
//    deferred); a matching allow rule with a password authenticates the client (allow), one
//    without lets the chain go on (next: other plugins and the listener's allow_anonymous still
//    apply); a matching deny rule, or no matching rule, refuses. superuser = true on the
//    matching allow rule makes the connection a superuser (no ACL checks).
//  - ACL: publish and subscribe rules, first match; no match denies. A denied PUBLISH with
//    disconnect_if_pub_rejected closes the connection (hook_result::deny_disconnect).
//  - Restored sessions (client_info::restored) are checked as their stored user, client id,
//    listener and last peer; user rules with a password match by the name.
//  - The file is watched: a changed file replaces the rules for new decisions; an invalid one
//    keeps the rules in use and logs why.
namespace rmqtt::plugins::acl {

// The rules in use, replaced whole on reload. Thread-safe.
class rule_store {
  public:
    explicit rule_store(acl_config c)
        : current_(std::make_shared<const acl_config>(std::move(c))) {}
    std::shared_ptr<const acl_config> get() const {
        std::lock_guard lock(mutex_);
        return current_;
    }
    void set(std::shared_ptr<const acl_config> c) {
        std::lock_guard lock(mutex_);
        current_ = std::move(c);
    }

  private:
    mutable std::mutex mutex_;
    std::shared_ptr<const acl_config> current_;
};

// Registers the authenticate and ACL handlers on `bus` at `priority` (higher runs first). With
// `pool`, password checks that cost a hash run there and the decision is deferred.
void register_hooks(broker::hook_bus& bus, std::shared_ptr<const rule_store> rules,
                    std::optional<asio::any_io_executor> pool, int priority);

// Watches rmqtt-acl.toml: every `interval` it compares the file's modification time, size and
// inode with what it last saw, and on a change reads and parses the file and swaps the rules.
// A file that does not parse (or disappeared) leaves the rules in use, with an error (warning)
// logged once per change.
class file_watcher : public std::enable_shared_from_this<file_watcher> {
  public:
    using reader = std::function<broker::config_section(
        const std::string& path, std::shared_ptr<std::vector<std::string>> warnings)>;
    enum class outcome { unchanged, reloaded, failed, missing };

    file_watcher(std::string path, std::shared_ptr<rule_store> rules, reader read,
                 asio::any_io_executor ex, duration interval);
    // Starts the periodic check on the executor; stop() ends it (a check in progress finishes).
    void start();
    void stop();
    // One check, now, on the calling thread (the timer's checks run on the executor's strand:
    // do not mix the two).
    outcome check();

  private:
    struct stamp {
        bool exists = false;
        std::timespec mtime{};
        long long size = 0;
        unsigned long long inode = 0;
        bool operator==(const stamp& o) const noexcept {
            return exists == o.exists && mtime.tv_sec == o.mtime.tv_sec &&
                   mtime.tv_nsec == o.mtime.tv_nsec && size == o.size && inode == o.inode;
        }
    };
    stamp current_stamp() const;
    void schedule();

    const std::string path_;
    const std::shared_ptr<rule_store> rules_;
    const reader read_;
    asio::strand<asio::any_io_executor> strand_;
    asio::steady_timer timer_;
    const duration interval_;
    stamp last_;
    std::atomic<bool> stopped_{false};
};

std::unique_ptr<broker::plugin> make_plugin();

}  // namespace rmqtt::plugins::acl
