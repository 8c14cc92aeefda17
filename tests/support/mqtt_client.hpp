#pragma once

#include <mqtt/async_client.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rmqtt::test {

// A Paho MQTT C++ client for integration tests: synchronous calls with bounded waits, received
// messages through Paho's consumer queue. No client-side persistence.
class mqtt_client {
  public:
    struct received {
        std::string topic;
        std::string payload;
        int qos = 0;
        bool retained = false;
        bool dup = false;
        mqtt::properties props;
    };
    struct connect_result {
        bool session_present = false;
        int reason_code = 0;
        mqtt::properties props;
    };
    struct connect_options {
        bool clean = true;
        std::optional<std::uint32_t> session_expiry;  // 5.0 Session Expiry Interval
        int keep_alive = 60;
        std::optional<mqtt::will_options> will;
        std::optional<std::string> username;
        std::optional<std::string> password;
        mqtt::properties properties;           // extra 5.0 CONNECT properties
        std::optional<mqtt::ssl_options> ssl;  // for an ssl:// URI
    };

    // version: 3 (3.1), 4 (3.1.1) or 5.
    mqtt_client(const std::string& uri, const std::string& client_id, int version = 4);
    ~mqtt_client();

    // Throws mqtt::exception when the server refuses (reason_code() on the exception).
    connect_result connect(const connect_options& o);
    connect_result connect(bool clean = true) {
        connect_options o;
        o.clean = clean;
        return connect(o);
    }
    // Returns the SUBACK reason code / granted QoS.
    int subscribe(const std::string& filter, int qos,
                  const mqtt::subscribe_options& opts = mqtt::subscribe_options(),
                  const mqtt::properties& props = mqtt::properties());
    void unsubscribe(const std::string& filter);
    // Publishes and waits for the QoS flow to complete (PUBACK / PUBCOMP).
    void publish(const std::string& topic, const std::string& payload, int qos, bool retain = false,
                 const mqtt::properties& props = mqtt::properties());
    std::optional<received> next(std::chrono::milliseconds timeout = std::chrono::seconds(5));
    // Collects messages until `count` arrived or `timeout` passed.
    std::vector<received> take(std::size_t count,
                               std::chrono::milliseconds timeout = std::chrono::seconds(10));
    // Waits `quiet` and returns whatever arrived (for "nothing more arrives" checks).
    std::vector<received> drain(std::chrono::milliseconds quiet = std::chrono::milliseconds(300));
    void disconnect(const mqtt::properties& props = mqtt::properties(), int reason = 0);
    bool connected() const { return client_->is_connected(); }
    // True once the server closed the connection (waits up to `timeout`).
    bool wait_disconnected(std::chrono::milliseconds timeout = std::chrono::seconds(10));
    mqtt::async_client& raw() { return *client_; }
    int version() const noexcept { return version_; }

  private:
    int version_;
    std::unique_ptr<mqtt::async_client> client_;
};

}  // namespace rmqtt::test
