#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "rmqtt/broker/deferred.hpp"
#include "rmqtt/broker/events.hpp"
#include "rmqtt/broker/message.hpp"
#include "rmqtt/protocol/types.hpp"

// The hook bus: how plugins take part in what the broker decides (authentication,
// authorisation, enhanced authentication, what happens to a published message) and learn what
// it did (event hooks, events.hpp). Part of the plugin API.
//
// Decision handlers run in priority order (higher first; registration order among equal
// priorities). Each sees the result so far and returns allow, deny, next (no opinion: ask the
// next handler) or pending (it called scope.defer() and will resolve later, from any thread;
// the chain then goes on from the next handler on the resolving thread). The first allow or
// deny (or deny_disconnect) ends the chain; when every handler says next, the default decides
// (authentication: the listener's allow_anonymous rule; ACL: allow; publish: keep the message). A
// chain in which no handler defers allocates nothing.
//
// Concurrency rule: register before the server starts; afterwards the bus is read-only and
// every method may be called from any thread.
namespace rmqtt::broker {

// What the authenticate chain established about a connection. The core keeps one per
// connection; authenticate handlers may fill it in (before they answer, also when they defer),
// every later hook reads it through client_info::auth.
struct auth_state {
    // The client is a superuser: the core asks no ACL hook for this connection (PUBLISH,
    // SUBSCRIBE, will), as RMQTT does for AuthResult::Allow(superuser = true).
    bool superuser = false;
    // Facts a handler recorded for its own later decisions, each prefixed with the plugin's
    // name (rmqtt-acl: "rmqtt-acl:<id>" for each stored password the client's password
    // matched). Opaque to the core.
    std::vector<std::string> proofs;
};

struct client_info {
    std::string_view client_id;
    const std::optional<std::string>* username = nullptr;
    std::string_view peer;      // "ip:port" ("[v6]:port"); for a restored session the last one
    std::string_view listener;  // "tcp.external"
    protocol::version version = protocol::version::v3_1_1;
    // The connection's authentication state: written by authenticate handlers only, read-only
    // for every other hook. Null where there is no connection.
    auth_state* auth = nullptr;
    // A session rebuilt from the store at start-up, before the listeners open: restore.cpp asks
    // the subscribe ACL about each stored subscription (and the publish ACL about the will)
    // with the stored client id, username, listener and last peer. There is no connection, no
    // password and no auth state; what the client proved when it connected is unknown.
    bool restored = false;
};

// deny_disconnect: deny, and close the connection (a 5.0 client gets DISCONNECT 0x87 Not
// authorized first). The core honours it for the publish ACL of a client's PUBLISH (RMQTT's
// disconnect_if_pub_rejected); everywhere else it is a deny. Compare with denied(), never with
// `== deny` alone.
enum class hook_result { allow, deny, next, pending, deny_disconnect };
enum class acl_action { publish, subscribe };

constexpr bool denied(hook_result r) noexcept {
    return r == hook_result::deny || r == hook_result::deny_disconnect;
}

// One exchange of MQTT 5.0 enhanced authentication (section 4.12) for one connection.
class auth_exchange {
  public:
    virtual ~auth_exchange() = default;
    struct step {
        // pending: the method called scope.defer() and resolves the step later.
        enum class outcome { success, continue_authentication, failure, pending };
        outcome result = outcome::failure;
        std::string data;  // Authentication Data to send to the client (may be empty)
        protocol::reason_code failure_code = protocol::reason_code::not_authorized;
        std::string username;  // on success: the authenticated identity, if the method has one
    };
    // Called with the Authentication Data of CONNECT, then of every AUTH the client sends.
    virtual step on_data(std::string_view data) = 0;
    // The asynchronous form; the default answers at once with on_data(). An override that needs
    // time (a hash, a remote check) defers: `data` stays valid until the step is resolved.
    virtual step on_data(std::string_view data, decision_scope<step>& scope) {
        (void)scope;
        return on_data(data);
    }
};

// An enhanced authentication method, e.g. "SCRAM-SHA-256".
class auth_method {
  public:
    virtual ~auth_method() = default;
    virtual std::string_view name() const noexcept = 0;
    virtual std::unique_ptr<auth_exchange> start(const client_info& client) = 0;
};

class hook_bus {
  public:
    using authenticate_handler = std::function<hook_result(
        const client_info&, const std::optional<std::string>& password, hook_result so_far)>;
    using acl_handler = std::function<hook_result(const client_info&, acl_action,
                                                  std::string_view topic, hook_result so_far)>;
    // The asynchronous forms: a handler may call scope.defer() and return pending.
    using async_authenticate_handler =
        std::function<hook_result(const client_info&, const std::optional<std::string>& password,
                                  hook_result so_far, decision_scope<hook_result>& scope)>;
    using async_acl_handler =
        std::function<hook_result(const client_info&, acl_action, std::string_view topic,
                                  hook_result so_far, decision_scope<hook_result>& scope)>;
    // message.publish: a client's PUBLISH before it is routed. A handler may change the
    // message (topic, payload, QoS, retain, properties) and returns next (go on), allow (route
    // it now, skip later handlers) or deny (drop it; the publisher still gets its
    // acknowledgement, 5.0 with 0x87 Not authorized). A handler that defers must not touch the
    // message after resolving.
    using publish_handler = std::function<hook_result(
        message& msg, const client_info& from, hook_result so_far, decision_scope<hook_result>&)>;

    void on_authenticate(int priority, authenticate_handler h);
    void on_authenticate(int priority, async_authenticate_handler h);
    void on_acl(int priority, acl_handler h);
    void on_acl(int priority, async_acl_handler h);
    void on_message_publish(int priority, publish_handler h);
    // Registering a second method with the same name is an error (std::invalid_argument): a
    // registration never silently replaces another.
    void add_auth_method(std::shared_ptr<auth_method> m);

    // Event hooks (events.hpp), in registration order.
    template <class Event>
    void on(std::function<void(const Event&)> handler) {
        std::get<std::vector<std::function<void(const Event&)>>>(events_).push_back(
            std::move(handler));
    }
    // Drops every handler and auth method, and what they hold. Only once nothing runs the hooks
    // any more: the server calls it after its workers stopped, before the plugins (whose thread
    // pool's timers and strands the handlers may hold) are destroyed.
    void clear() noexcept {
        authenticate_.clear();
        acl_.clear();
        publish_.clear();
        methods_.clear();
        std::apply([](auto&... v) { (v.clear(), ...); }, events_);
    }
    // True when a handler is registered for Event: build the event only then.
    template <class Event>
    bool wants() const noexcept {
        return !std::get<std::vector<std::function<void(const Event&)>>>(events_).empty();
    }
    template <class Event>
    void emit(const Event& e) const {
        for (const auto& h : std::get<std::vector<std::function<void(const Event&)>>>(events_))
            h(e);
    }

    // Running the chains. Each returns the result when every handler answered at once. When a
    // handler deferred, it returns pending and `wait` delivers the result (wait.then(...)); the
    // arguments (and what their views point to) must stay valid until then. Without `wait` a
    // deferring handler counts as deny. Nothing is allocated unless a handler defers.
    hook_result authenticate(const client_info& c, const std::optional<std::string>& password,
                             pending<hook_result>* wait = nullptr) const;
    hook_result check_acl(const client_info& c, acl_action a, std::string_view topic,
                          pending<hook_result>* wait = nullptr) const;
    hook_result message_publish(message& msg, const client_info& from,
                                pending<hook_result>* wait = nullptr) const;
    // Null when no plugin provides the method.
    auth_method* find_auth_method(std::string_view name) const;

    bool has_acl() const noexcept { return !acl_.empty(); }
    bool has_authenticate() const noexcept { return !authenticate_.empty(); }
    bool has_message_publish() const noexcept { return !publish_.empty(); }

  private:
    template <typename H>
    struct entry {
        int priority;
        std::size_t order;
        H handler;
    };
    std::vector<entry<async_authenticate_handler>> authenticate_;
    std::vector<entry<async_acl_handler>> acl_;
    std::vector<entry<publish_handler>> publish_;
    std::map<std::string, std::shared_ptr<auth_method>, std::less<>> methods_;
    std::size_t order_ = 0;
    std::tuple<std::vector<std::function<void(const events::client_connected&)>>,
               std::vector<std::function<void(const events::connect_refused&)>>,
               std::vector<std::function<void(const events::client_disconnected&)>>,
               std::vector<std::function<void(const events::session_created&)>>,
               std::vector<std::function<void(const events::session_resumed&)>>,
               std::vector<std::function<void(const events::session_terminated&)>>,
               std::vector<std::function<void(const events::subscribed&)>>,
               std::vector<std::function<void(const events::unsubscribed&)>>,
               std::vector<std::function<void(const events::message_published&)>>,
               std::vector<std::function<void(const events::message_delivered&)>>,
               std::vector<std::function<void(const events::message_acked&)>>,
               std::vector<std::function<void(const events::message_dropped&)>>>
        events_;
};

}  // namespace rmqtt::broker
