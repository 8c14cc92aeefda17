#pragma once

#include <string>

namespace rmqtt::broker {

// What the router knows of a subscribing session. Implemented by broker::session; tests use
// their own. Methods may be called from any thread.
class subscriber {
  public:
    virtual ~subscriber() = default;
    virtual const std::string& client_id() const noexcept = 0;
    // True while a network connection is attached (shared-subscription strategies prefer online
    // members). Must be cheap and thread-safe (an atomic read).
    virtual bool is_online() const noexcept = 0;
};

}  // namespace rmqtt::broker
