#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rmqtt/protocol/types.hpp"

// The hook bus: how plugins take part in authentication, authorisation and enhanced
// authentication. Part of the small API plugins may see.
//
// Handlers run in priority order (higher first; registration order among equal priorities).
// Each sees the result so far and returns allow, deny, or next (no opinion: ask the next
// handler). The first allow or deny ends the chain; when every handler says next, the default
// decides (authentication: the listener's allow_anonymous rule; ACL: allow).
//
// Concurrency rule: register handlers before the server starts; afterwards the bus is read-only
// and every method may be called from any thread.
namespace rmqtt::broker {

struct client_info {
    std::string_view client_id;
    const std::optional<std::string>* username = nullptr;
    std::string_view peer;      // "ip:port"
    std::string_view listener;  // "tcp.external"
    protocol::version version = protocol::version::v3_1_1;
};

enum class hook_result { allow, deny, next };
enum class acl_action { publish, subscribe };

// One exchange of MQTT 5.0 enhanced authentication (section 4.12) for one connection.
class auth_exchange {
  public:
    virtual ~auth_exchange() = default;
    struct step {
        enum class outcome { success, continue_authentication, failure };
        outcome result = outcome::failure;
        std::string data;  // Authentication Data to send to the client (may be empty)
        protocol::reason_code failure_code = protocol::reason_code::not_authorized;
        std::string username;  // on success: the authenticated identity, if the method has one
    };
    // Called with the Authentication Data of CONNECT, then of every AUTH the client sends.
    virtual step on_data(std::string_view data) = 0;
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

    void on_authenticate(int priority, authenticate_handler h);
    void on_acl(int priority, acl_handler h);
    void add_auth_method(std::shared_ptr<auth_method> m);

    // next when no handler decided.
    hook_result authenticate(const client_info& c,
                             const std::optional<std::string>& password) const;
    hook_result check_acl(const client_info& c, acl_action a, std::string_view topic) const;
    // Null when no plugin provides the method.
    auth_method* find_auth_method(std::string_view name) const;

    bool has_acl() const noexcept { return !acl_.empty(); }

  private:
    template <typename H>
    struct entry {
        int priority;
        std::size_t order;
        H handler;
    };
    std::vector<entry<authenticate_handler>> authenticate_;
    std::vector<entry<acl_handler>> acl_;
    std::map<std::string, std::shared_ptr<auth_method>, std::less<>> methods_;
    std::size_t order_ = 0;
};

}  // namespace rmqtt::broker
