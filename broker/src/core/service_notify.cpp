#include "core/service_notify.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <cstring>
#include <string>

namespace rmqtt::broker::service_notify {
namespace {

void notify(std::string_view state, std::string_view text) {
    std::string message = state.empty() ? std::string() : fmt::format("{}\n", state);
    // One line: a newline in the text would start another assignment.
    std::string line(text);
    for (auto& c : line)
        if (c == '\n') c = ' ';
    message += fmt::format("STATUS={}", line);
    // 0 when NOTIFY_SOCKET is not set; negative errno when the message could not be sent. A
    // failed notification is logged and does not stop the broker (systemd acts on its timeout).
    if (const int r = sd_notify(0, message.c_str()); r < 0)
        spdlog::warn("systemd notification \"{}\" not sent: {}", state.empty() ? "STATUS" : state,
                     std::strerror(-r));
}

}  // namespace

void status(std::string_view text) {
    notify({}, text);
}

void ready(std::string_view text) {
    notify("READY=1", text);
}

void stopping(std::string_view text) {
    notify("STOPPING=1", text);
}

}  // namespace rmqtt::broker::service_notify
