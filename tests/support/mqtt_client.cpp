#include "mqtt_client.hpp"

#include <thread>

namespace rmqtt::test {

namespace {
constexpr auto op_timeout = std::chrono::seconds(10);

int paho_version(int v) {
    switch (v) {
        case 3:
            return MQTTVERSION_3_1;
        case 5:
            return MQTTVERSION_5;
        default:
            return MQTTVERSION_3_1_1;
    }
}
}  // namespace

mqtt_client::mqtt_client(const std::string& uri, const std::string& client_id, int version)
    : version_(version),
      client_(std::make_unique<mqtt::async_client>(
          uri, client_id, mqtt::create_options(paho_version(version)), nullptr)) {
    client_->start_consuming();
}

mqtt_client::~mqtt_client() {
    try {
        if (client_->is_connected()) client_->disconnect()->wait_for(std::chrono::seconds(2));
    } catch (...) {
        // A test that ends with a broken connection must not throw from a destructor.
    }
}

mqtt_client::connect_result mqtt_client::connect(const connect_options& o) {
    auto b = mqtt::connect_options_builder();
    b.mqtt_version(paho_version(version_));
    b.keep_alive_interval(std::chrono::seconds(o.keep_alive));
    b.connect_timeout(std::chrono::seconds(10));
    b.automatic_reconnect(false);
    if (version_ == 5) {
        b.clean_start(o.clean);
        mqtt::properties props = o.properties;
        if (o.session_expiry)
            props.add(mqtt::property(mqtt::property::SESSION_EXPIRY_INTERVAL,
                                     static_cast<int>(*o.session_expiry)));
        b.properties(props);
    } else {
        b.clean_session(o.clean);
    }
    if (o.will) b.will(*o.will);
    if (o.username) b.user_name(*o.username);
    if (o.password) b.password(*o.password);
    if (o.ssl) b.ssl(*o.ssl);
    auto tok = client_->connect(b.finalize());
    if (!tok->wait_for(op_timeout)) throw std::runtime_error("CONNECT timed out");
    auto rsp = tok->get_connect_response();
    connect_result r;
    r.session_present = rsp.is_session_present();
    r.reason_code = tok->get_reason_code();
    r.props = rsp.get_properties();
    return r;
}

int mqtt_client::subscribe(const std::string& filter, int qos, const mqtt::subscribe_options& opts,
                           const mqtt::properties& props) {
    auto tok = client_->subscribe(filter, qos, opts, props);
    if (!tok->wait_for(op_timeout)) throw std::runtime_error("SUBSCRIBE timed out");
    // Paho fills the reason codes from the SUBACK for every version (3.x: granted QoS / 0x80).
    auto rcs = tok->get_subscribe_response().get_reason_codes();
    return rcs.empty() ? -1 : rcs.front();
}

void mqtt_client::unsubscribe(const std::string& filter) {
    if (!client_->unsubscribe(filter)->wait_for(op_timeout))
        throw std::runtime_error("UNSUBSCRIBE timed out");
}

void mqtt_client::publish(const std::string& topic, const std::string& payload, int qos,
                          bool retain, const mqtt::properties& props) {
    auto msg = mqtt::message::create(topic, payload, qos, retain, props);
    if (!client_->publish(msg)->wait_for(op_timeout))
        throw std::runtime_error("PUBLISH to " + topic + " timed out");
}

std::optional<mqtt_client::received> mqtt_client::next(std::chrono::milliseconds timeout) {
    mqtt::const_message_ptr m;
    if (!client_->try_consume_message_for(&m, timeout) || !m) return std::nullopt;
    received r;
    r.topic = m->get_topic();
    r.payload = m->to_string();
    r.qos = m->get_qos();
    r.retained = m->is_retained();
    r.dup = m->is_duplicate();
    r.props = m->get_properties();
    return r;
}

std::vector<mqtt_client::received> mqtt_client::take(std::size_t count,
                                                     std::chrono::milliseconds timeout) {
    std::vector<received> out;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (out.size() < count) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        if (auto m = next(left)) out.push_back(std::move(*m));
    }
    return out;
}

std::vector<mqtt_client::received> mqtt_client::drain(std::chrono::milliseconds quiet) {
    std::vector<received> out;
    while (auto m = next(quiet))
        out.push_back(std::move(*m));
    return out;
}

void mqtt_client::disconnect(const mqtt::properties& props, int reason) {
    if (!client_->is_connected()) return;
    auto b = mqtt::disconnect_options_builder();
    if (version_ == 5) {
        b.properties(props);
        b.reason_code(static_cast<mqtt::ReasonCode>(reason));
    }
    client_->disconnect(b.finalize())->wait_for(op_timeout);
}

bool mqtt_client::wait_disconnected(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (client_->is_connected()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

}  // namespace rmqtt::test
