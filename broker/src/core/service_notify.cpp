#include "core/service_notify.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

namespace rmqtt::broker::service_notify {
namespace {

// sd_notify(3) without libsystemd (which, with its own dependencies, costs about 1 MB of
// resident pages in every broker): one datagram to the unix socket named by $NOTIFY_SOCKET, a
// path or, starting with '@', an abstract address. 0 when NOTIFY_SOCKET is not set; negative
// errno when the message could not be sent.
int send_notification(const std::string& message) {
    const char* target = std::getenv("NOTIFY_SOCKET");
    if (!target || !*target) return 0;
    const std::size_t len = std::strlen(target);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if ((target[0] != '/' && target[0] != '@') || len > sizeof(addr.sun_path)) return -EINVAL;
    std::memcpy(addr.sun_path, target, len);
    if (target[0] == '@') addr.sun_path[0] = '\0';
    // A path needs no terminating zero past the length given; an abstract name is exactly `len`.
    const auto addr_len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len);
    const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int result = 0;
    if (::sendto(fd, message.data(), message.size(), MSG_NOSIGNAL,
                 reinterpret_cast<const sockaddr*>(&addr), addr_len) < 0)
        result = -errno;
    ::close(fd);
    return result;
}

void notify(std::string_view state, std::string_view text) {
    std::string message = state.empty() ? std::string() : fmt::format("{}\n", state);
    // One line: a newline in the text would start another assignment.
    std::string line(text);
    for (auto& c : line)
        if (c == '\n') c = ' ';
    message += fmt::format("STATUS={}", line);
    // A failed notification is logged and does not stop the broker (systemd acts on its timeout).
    if (const int r = send_notification(message); r < 0)
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
