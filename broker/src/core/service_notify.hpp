#pragma once

#include <string_view>

// systemd's service notification protocol (sd_notify(3)) for a Type=notify unit: READY=1 once
// the store is recovered and the listeners accept connections, STOPPING=1 when a graceful stop
// begins, STATUS= lines on the way (shown by `systemctl status`). When rmqttd was not started
// with NOTIFY_SOCKET (not by systemd), every call does nothing.
namespace rmqtt::broker::service_notify {

void status(std::string_view text);
void ready(std::string_view text);     // READY=1 with a STATUS= line
void stopping(std::string_view text);  // STOPPING=1 with a STATUS= line

}  // namespace rmqtt::broker::service_notify
