#include "net/tcp_socket.hpp"

#include <unistd.h>

namespace rmqtt::broker {

accepted_socket::~accepted_socket() {
    if (fd_ >= 0) ::close(fd_);
}

tcp_socket accepted_socket::to_socket() && {
    tcp_socket s(executor_);
    std::error_code ec;
    const int fd = release();
    s.assign(protocol_, fd, ec);
    if (ec) {
        ::close(fd);
        throw std::system_error(ec, "cannot register an accepted socket");
    }
    return s;
}

}  // namespace rmqtt::broker
