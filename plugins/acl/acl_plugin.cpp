// The rmqtt-acl plugin: hooks over the rules of rmqtt-acl.toml, and the file watch.
#include "acl/acl_plugin.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <asio/post.hpp>

#include <utility>

namespace rmqtt::plugins::acl {

using broker::acl_action;
using broker::client_info;
using broker::decision_scope;
using broker::hook_result;

namespace {

const std::string* username_of(const client_info& c) {
    if (c.username == nullptr || !c.username->has_value()) return nullptr;
    return &**c.username;
}

subject subject_of(const client_info& c, std::span<const std::string> proofs) {
    subject s;
    s.client_id = c.client_id;
    s.username = username_of(c);
    s.peer = c.peer;
    s.protocol = static_cast<int>(c.version);
    s.proofs = proofs;
    s.restored = c.restored;
    return s;
}

// The proofs of the stored passwords `password` matches, among the user's. When any stored
// password is hashed, every check costs at least one hash computation (the dummy for a user
// with no hashed password, or an unknown one), so the time does not tell which users exist.
std::vector<std::string> check_password(const acl_config& cfg, const std::string* user,
                                        const std::optional<std::string>& password) {
    std::vector<std::string> proofs;
    if (user == nullptr || !password) return proofs;
    std::size_t hashed = 0;
    for (const credential* c : credentials_for(cfg, *user)) {
        if (c->hashed()) ++hashed;
        if (c->verify(*password)) proofs.push_back(c->proof());
    }
    if (hashed == 0 && cfg.dummy) (void)cfg.dummy->verify(*password);
    return proofs;
}

// The connect decision, recorded in the connection's auth state before it is given.
hook_result decide_connect(const acl_config& cfg, const client_info& c,
                           std::vector<std::string> proofs) {
    const auto d = check_connect(cfg, subject_of(c, proofs));
    if (c.auth != nullptr) {
        for (auto& p : proofs)
            c.auth->proofs.push_back(std::move(p));
    }
    if (d.v != verdict::allow) {
        spdlog::debug("rmqtt-acl: {} may not connect ({})", c.client_id,
                      d.by ? d.by->name : "no rule matches");
        return hook_result::deny;
    }
    if (d.by->who.superuser && c.auth != nullptr) c.auth->superuser = true;
    // A rule that checked a password authenticates; one that did not only does not object.
    return d.by->who.password ? hook_result::allow : hook_result::next;
}

// A client_info that owns its strings, for a decision made on the pool.
struct owned_client {
    explicit owned_client(const client_info& c)
        : client_id(c.client_id),
          username(c.username ? *c.username : std::nullopt),
          peer(c.peer),
          listener(c.listener),
          version(c.version),
          auth(c.auth) {}
    client_info view() const {
        client_info v;
        v.client_id = client_id;
        v.username = &username;
        v.peer = peer;
        v.listener = listener;
        v.version = version;
        v.auth = auth;  // the connection's: it waits for this decision
        return v;
    }
    std::string client_id;
    std::optional<std::string> username;
    std::string peer;
    std::string listener;
    protocol::version version;
    broker::auth_state* auth;
};

}  // namespace

void register_hooks(broker::hook_bus& bus, std::shared_ptr<const rule_store> rules,
                    std::optional<asio::any_io_executor> pool, int priority) {
    bus.on_authenticate(
        priority,
        broker::hook_bus::async_authenticate_handler(
            [rules, pool](const client_info& c, const std::optional<std::string>& password,
                          hook_result, decision_scope<hook_result>& scope) -> hook_result {
                auto cfg = rules->get();
                const std::string* user = username_of(c);
                if (!pool || !password || user == nullptr || !cfg->has_hashed)
                    return decide_connect(*cfg, c, check_password(*cfg, user, password));
                // Hashes: on the pool, with copies of what they need.
                asio::post(*pool, [cfg, client = owned_client(c), password = *password,
                                   d = scope.defer()]() mutable {
                    const client_info view = client.view();
                    auto proofs = check_password(*cfg, username_of(view), password);
                    d.resolve(decide_connect(*cfg, view, std::move(proofs)));
                });
                return hook_result::pending;
            }));

    bus.on_acl(priority,
               [rules](const client_info& c, acl_action a, std::string_view topic, hook_result) {
                   auto cfg = rules->get();
                   std::span<const std::string> proofs;
                   if (c.auth != nullptr) proofs = c.auth->proofs;
                   const subject s = subject_of(c, proofs);
                   if (c.restored) {
                       // No connection to carry a superuser flag: the connect rules decide it
                       // again.
                       const auto d = check_connect(*cfg, s);
                       if (d.v == verdict::allow && d.by->who.superuser) return hook_result::allow;
                   }
                   const auto d = a == acl_action::publish ? check_publish(*cfg, s, topic)
                                                           : check_subscribe(*cfg, s, topic);
                   if (d.v == verdict::allow) return hook_result::allow;
                   spdlog::debug("rmqtt-acl: {} may not {} '{}' ({})", c.client_id,
                                 a == acl_action::publish ? "publish to" : "subscribe to", topic,
                                 d.by ? d.by->name : "no rule matches");
                   if (a == acl_action::publish && cfg->disconnect_if_pub_rejected && !c.restored)
                       return hook_result::deny_disconnect;
                   return hook_result::deny;
               });
}

// ---- file watch -------------------------------------------------------------------------------

file_watcher::file_watcher(std::string path, std::shared_ptr<rule_store> rules, reader read,
                           asio::any_io_executor ex, duration interval)
    : path_(std::move(path)),
      rules_(std::move(rules)),
      read_(std::move(read)),
      strand_(asio::make_strand(ex)),
      timer_(strand_),
      interval_(interval),
      last_(current_stamp()) {}

file_watcher::stamp file_watcher::current_stamp() const {
    stamp s;
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) return s;
    s.exists = true;
    s.mtime = st.st_mtim;
    s.size = static_cast<long long>(st.st_size);
    s.inode = static_cast<unsigned long long>(st.st_ino);
    return s;
}

void file_watcher::start() {
    asio::post(strand_, [self = shared_from_this()] { self->schedule(); });
}

void file_watcher::stop() {
    stopped_ = true;
    asio::post(strand_, [self = shared_from_this()] { self->timer_.cancel(); });
}

void file_watcher::schedule() {
    if (stopped_) return;
    timer_.expires_after(interval_);
    timer_.async_wait([self = shared_from_this()](std::error_code ec) {
        if (ec || self->stopped_) return;
        (void)self->check();
        self->schedule();
    });
}

namespace {

// Reads and parses the file (its warnings logged); throws config_error for a file that cannot be
// used.
acl_config read_acl_file(const file_watcher::reader& read, const std::string& path) {
    auto warnings = std::make_shared<std::vector<std::string>>();
    const auto section = read(path, warnings);
    auto cfg = parse_acl_config(section);
    section.report_unknown();
    for (const auto& w : *warnings)
        spdlog::warn("config: {}", w);
    return cfg;
}

// Replaces the rules in use; priority and reload_interval keep their values until the next
// start. Returns the number of rules.
std::size_t replace_rules(rule_store& rules, acl_config cfg, const std::string& path) {
    const auto old = rules.get();
    if (cfg.priority != old->priority || cfg.reload_interval != old->reload_interval) {
        spdlog::warn("rmqtt-acl: {}: priority and reload_interval take effect at the next start",
                     path);
        cfg.priority = old->priority;
        cfg.reload_interval = old->reload_interval;
    }
    const auto n = cfg.rules.size();
    rules.set(std::make_shared<const acl_config>(std::move(cfg)));
    spdlog::info("rmqtt-acl: {} reloaded, {} rules", path, n);
    return n;
}

}  // namespace

file_watcher::outcome file_watcher::check() {
    const stamp now = current_stamp();
    if (now == last_) return outcome::unchanged;
    last_ = now;
    if (!now.exists) {
        spdlog::warn("rmqtt-acl: {} is gone; the rules in use stay", path_);
        return outcome::missing;
    }
    try {
        (void)replace_rules(*rules_, read_acl_file(read_, path_), path_);
        return outcome::reloaded;
    } catch (const std::exception& e) {
        spdlog::error("rmqtt-acl: not reloaded, the rules in use stay: {}", e.what());
        return outcome::failed;
    }
}

// ---- the plugin -------------------------------------------------------------------------------

namespace {

class acl_plugin final : public broker::plugin {
  public:
    void configure(const broker::config_section& section) override {
        config_ = parse_acl_config(section);
        file_ = section.file();
    }

    void start(broker::plugin_context& ctx) override {
        const auto n = config_.rules.size();
        const auto interval = config_.reload_interval;
        const auto priority = config_.priority;
        const bool disconnect = config_.disconnect_if_pub_rejected;
        auto rules = std::make_shared<rule_store>(std::move(config_));
        rules_ = rules;
        register_hooks(ctx.hooks(), rules, ctx.executor(), priority);
        if (interval.count() > 0 && !file_.empty()) {
            // The context outlives the plugin's pool work (the pool is joined after stop()).
            watcher_ = std::make_shared<file_watcher>(
                file_, rules,
                [&ctx](const std::string& path, std::shared_ptr<std::vector<std::string>> w) {
                    return ctx.read_config_file(path, std::move(w));
                },
                ctx.executor(), interval);
            watcher_->start();
        }
        spdlog::info("rmqtt-acl: {} rules from {}{}; {}", n, file_.empty() ? "(none)" : file_,
                     disconnect ? ", a denied PUBLISH disconnects" : "",
                     watcher_ ? fmt::format("checked for changes every {} ms", interval.count())
                              : std::string("not watched"));
    }

    void stop() override {
        if (watcher_) watcher_->stop();
    }

    // PUT /api/v1/plugins/{node}/rmqtt-acl/config/reload: the file now, also when unchanged or
    // not watched. A file that cannot be used throws; the rules in use stay.
    bool reloadable() const noexcept override { return true; }
    void reload(broker::plugin_context& ctx) override {
        if (file_.empty() || !rules_) throw broker::config_error("rmqtt-acl: no file to reload");
        const auto read = [&ctx](const std::string& path,
                                 std::shared_ptr<std::vector<std::string>> w) {
            return ctx.read_config_file(path, std::move(w));
        };
        (void)replace_rules(*rules_, read_acl_file(read, file_), file_);
    }

  private:
    acl_config config_;
    std::shared_ptr<rule_store> rules_;
    std::string file_;
    std::shared_ptr<file_watcher> watcher_;
};

}  // namespace

std::unique_ptr<broker::plugin> make_plugin() {
    return std::make_unique<acl_plugin>();
}

}  // namespace rmqtt::plugins::acl
