#pragma once

#include <asio/ip/tcp.hpp>

#include <string>

#include "net/proxy_protocol.hpp"
#include "net/tcp_socket.hpp"

namespace rmqtt::broker {

// "ip:port" of the socket's peer ("[ip]:port" for IPv6); "unknown" when it has none.
std::string peer_address(const tcp_socket& s);
std::string peer_address(int fd);

// The client address a transport reports: the PROXY header's source when it has one, else the
// socket's peer (v1 UNKNOWN, v2 LOCAL).
std::string client_address(const tcp_socket& s, const proxy_header& h);

}  // namespace rmqtt::broker
