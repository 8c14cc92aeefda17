// rmqtt-auth-jwt: the decisions (jwt_authenticator) and the plugin that wires them to the hooks.
#include "auth_jwt/auth_jwt_plugin.hpp"

#include <asio/post.hpp>

#include <spdlog/spdlog.h>

#include <stdexcept>
#include <utility>

namespace rmqtt::plugins::auth_jwt {

using broker::acl_action;
using broker::hook_result;

namespace {

constexpr std::string_view plugin_name = "rmqtt-auth-jwt";

std::int64_t system_now_s() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

using auth_common::to_hook;

}  // namespace

// ---- decisions ---------------------------------------------------------------------------------

jwt_authenticator::jwt_authenticator(auth_jwt_config cfg, verification_key key, clock now)
    : cfg_(std::move(cfg)),
      key_(std::move(key)),
      now_(now ? std::move(now) : clock(system_now_s)) {}

hook_result jwt_authenticator::authenticate(const broker::client_info& c,
                                            const std::optional<std::string>& password) {
    const std::optional<std::string>* token =
        cfg_.from == auth_jwt_config::token_source::password ? &password : c.username;
    if (token == nullptr || !token->has_value() || (*token)->empty()) {
        spdlog::info(
            "{}: {} ({}): no token in the {}", plugin_name, c.client_id, c.peer,
            cfg_.from == auth_jwt_config::token_source::password ? "password" : "user name");
        return hook_result::deny;
    }
    std::string why;
    auto t = verify_token(**token, key_, why);
    if (t && !check_claims(t->claims, cfg_.validate_claims, c, now_(), why)) t.reset();
    if (!t) {
        spdlog::info("{}: {} ({}): token refused: {}", plugin_name, c.client_id, c.peer, why);
        return hook_result::deny;
    }

    auto grant = std::make_shared<auth_common::connection_grant>();
    // RMQTT reads "superuser" as a boolean and anything else as false.
    if (const auto su = t->claims.find("superuser"); su != t->claims.end() && su->is_boolean())
        grant->superuser = su->get<bool>();
    if (const auto acl = t->claims.find("acl"); acl != t->claims.end() && !acl->is_null()) {
        auto rules = auth_common::parse_rules(*acl, c, why);
        if (!rules) {
            spdlog::info("{}: {} ({}): token refused: {}", plugin_name, c.client_id, c.peer, why);
            return hook_result::deny;
        }
        grant->rules = std::move(*rules);
    }
    if (cfg_.disconnect_if_expiry) grant->expire_at_s = numeric_date(t->claims, "exp");
    if (!grant->empty()) grants_.put(c, std::move(grant));
    spdlog::debug("{}: {} ({}): token accepted ({})", plugin_name, c.client_id, c.peer,
                  name_of(t->alg));
    return hook_result::allow;
}

hook_result jwt_authenticator::check_acl(const broker::client_info& c, acl_action a,
                                         std::string_view topic) const {
    const auto g = grants_.find(c);
    if (!g) return hook_result::next;
    if (g->superuser) return hook_result::allow;
    return to_hook(a == acl_action::subscribe ? auth_common::check_subscribe(g->rules, topic)
                                              : auth_common::check_publish_topic(g->rules, topic));
}

hook_result jwt_authenticator::check_message(const broker::message& m,
                                             const broker::client_info& from) const {
    const auto g = grants_.find(from);
    if (!g || g->superuser || !g->rules_need_message()) return hook_result::next;
    const auto v = auth_common::check_publish(g->rules, m.topic, m.qos, m.retain);
    return v == auth_common::verdict::deny ? hook_result::deny : hook_result::next;
}

verification_key load_key(const auth_jwt_config& cfg, const std::string& config_file) {
    if (cfg.encrypt == auth_jwt_config::key_type::public_key) {
        if (cfg.public_key.empty()) {
            throw std::runtime_error(fmt::format(
                "{}: public_key: missing; encrypt = \"public-key\" needs the PEM file of the "
                "public key",
                config_file));
        }
        return verification_key::from_pem_file(cfg.public_key);
    }
    if (cfg.hmac_secret.empty()) {
        throw std::runtime_error(fmt::format(
            "{}: hmac_secret: missing or empty; encrypt = \"hmac-based\" needs the secret the "
            "tokens are signed with",
            config_file));
    }
    return verification_key::hmac(cfg.hmac_secret);
}

// ---- the plugin --------------------------------------------------------------------------------

namespace {

// What the hooks share; lives as long as the longest-held hook (the hook bus outlives the plugin).
struct shared_state {
    shared_state(auth_jwt_config cfg, verification_key key, broker::plugin_context& context)
        : auth(std::move(cfg), std::move(key)), ctx(&context), executor(context.executor()) {}

    jwt_authenticator auth;
    broker::plugin_context* ctx;  // the plugin host, which outlives every connection
    asio::any_io_executor executor;
    // Owned by the plugin, which drops it in stop() (see expiry_watch).
    std::weak_ptr<auth_common::expiry_watch> watch;
};

// Kicks the client if (listener, peer) is still its connection, on the plugin pool.
void kick_later(const std::shared_ptr<shared_state>& st, const broker::client_info& c,
                std::string why) {
    asio::post(st->executor, [st, id = std::string(c.client_id), l = std::string(c.listener),
                              p = std::string(c.peer), why = std::move(why)] {
        auth_common::kick_connection(st->ctx->broker(), id, l, p, why);
    });
}

class auth_jwt_plugin final : public broker::plugin {
  public:
    void configure(const broker::config_section& section) override {
        config_ = parse_auth_jwt_config(section);
        file_ = section.file();
    }

    void start(broker::plugin_context& ctx) override {
        auto key = load_key(config_, file_);
        if (config_.encrypt == auth_jwt_config::key_type::hmac_based &&
            config_.hmac_secret == "rmqttsecret") {
            spdlog::warn("{}: hmac_secret is RMQTT's sample secret \"rmqttsecret\"; set your own",
                         plugin_name);
        }
        if (key.describe().starts_with("an RSA") && key.bits() < 2048)
            spdlog::warn("{}: {}: a {}-bit RSA key is weak", plugin_name, config_.public_key,
                         key.bits());
        spdlog::info(
            "{}: tokens from the {}, checked with {}", plugin_name,
            config_.from == auth_jwt_config::token_source::password ? "password" : "user name",
            key.describe());
        auto st = std::make_shared<shared_state>(config_, std::move(key), ctx);
        const int prio = config_.priority;
        auto& bus = ctx.hooks();

        bus.on_authenticate(
            prio, broker::hook_bus::authenticate_handler(
                      [st](const broker::client_info& c, const std::optional<std::string>& password,
                           hook_result) { return st->auth.authenticate(c, password); }));
        bus.on_acl(prio,
                   broker::hook_bus::acl_handler([st](const broker::client_info& c, acl_action a,
                                                      std::string_view topic, hook_result) {
                       const auto r = st->auth.check_acl(c, a, topic);
                       if (r == hook_result::deny && a == acl_action::publish &&
                           st->auth.config().disconnect_if_pub_rejected) {
                           kick_later(st, c,
                                      "PUBLISH to \"" + std::string(topic) +
                                          "\" refused by the token's acl "
                                          "(disconnect_if_pub_rejected)");
                       }
                       return r;
                   }));
        bus.on_message_publish(prio, [st](broker::message& m, const broker::client_info& from,
                                          hook_result, broker::decision_scope<hook_result>&) {
            const auto r = st->auth.check_message(m, from);
            if (r == hook_result::deny && st->auth.config().disconnect_if_pub_rejected) {
                kick_later(st, from,
                           "PUBLISH to \"" + m.topic +
                               "\" refused by the token's acl "
                               "(disconnect_if_pub_rejected)");
            }
            return r;
        });

        if (config_.disconnect_if_expiry) {
            std::weak_ptr<shared_state> weak = st;
            watch_ = std::make_shared<auth_common::expiry_watch>(
                ctx.executor(), [weak](const std::string& conn) {
                    const auto s = weak.lock();
                    if (!s || !s->auth.grants().find(conn)) return;
                    // conn: client id NUL listener NUL peer
                    const auto a = conn.find('\0');
                    const auto b = conn.find('\0', a + 1);
                    auth_common::kick_connection(s->ctx->broker(), conn.substr(0, a),
                                                 conn.substr(a + 1, b - a - 1), conn.substr(b + 1),
                                                 "the token expired (disconnect_if_expiry)");
                });
            st->watch = watch_;
        }
        bus.on<broker::events::client_connected>([st](const broker::events::client_connected& e) {
            const auto g = st->auth.grants().confirm(e.who);
            if (!g || !g->expire_at_s) return;
            if (const auto w = st->watch.lock()) {
                w->watch(
                    auth_common::connection_grants::key_of(e.who),
                    std::chrono::system_clock::time_point(std::chrono::seconds(*g->expire_at_s)));
            }
        });
        const auto gone = [st](const broker::events::client& who) {
            if (!st->auth.grants().erase(who)) return;
            if (const auto w = st->watch.lock())
                w->forget(auth_common::connection_grants::key_of(who));
        };
        bus.on<broker::events::client_disconnected>(
            [gone](const broker::events::client_disconnected& e) { gone(e.who); });
        bus.on<broker::events::connect_refused>(
            [gone](const broker::events::connect_refused& e) { gone(e.who); });
    }

    void stop() override {
        if (watch_) watch_->stop();
        watch_.reset();
    }

  private:
    auth_jwt_config config_;
    std::string file_;
    std::shared_ptr<auth_common::expiry_watch> watch_;
};

}  // namespace

std::unique_ptr<broker::plugin> make_plugin() {
    return std::make_unique<auth_jwt_plugin>();
}

}  // namespace rmqtt::plugins::auth_jwt
