#include "stream_client.hpp"

#include <algorithm>
#include <ostream>

namespace rmqtt::test {

namespace {

template <class... F>
struct overloaded : F... {
    using F::operator()...;
};
template <class... F>
overloaded(F...) -> overloaded<F...>;

std::chrono::milliseconds left_until(std::chrono::steady_clock::time_point deadline) {
    return std::max(std::chrono::duration_cast<std::chrono::milliseconds>(
                        deadline - std::chrono::steady_clock::now()),
                    std::chrono::milliseconds(0));
}

}  // namespace

std::string_view to_string(transport_kind k) noexcept {
    switch (k) {
        case transport_kind::tcp:
            return "tcp";
        case transport_kind::tls:
            return "tls";
        case transport_kind::ws:
            return "ws";
        case transport_kind::wss:
            return "wss";
    }
    return "?";
}

std::ostream& operator<<(std::ostream& os, transport_kind k) {
    return os << to_string(k);
}

stream_client::stream_client(const options& o) : kind_(o.kind), ws_path_(o.ws_path) {
    switch (o.kind) {
        case transport_kind::tcp:
            client_ = std::make_unique<raw_client>(o.port, o.version);
            break;
        case transport_kind::tls:
        case transport_kind::wss:  // WebSocket over it once the TLS handshake is through
            client_ = std::make_unique<tls_client>(o.port, o.tls, o.version);
            break;
        case transport_kind::ws:
            client_ = std::make_unique<ws_client>(o.port);
            std::get<std::unique_ptr<ws_client>>(client_)->version = o.version;
            break;
    }
}

stream_client::~stream_client() = default;

protocol::version stream_client::version() const noexcept {
    return std::visit(overloaded{[](const std::unique_ptr<ws_client>& c) { return c->version; },
                                 [](const auto& c) { return c->version(); }},
                      client_);
}

void stream_client::set_version(protocol::version v) noexcept {
    std::visit(overloaded{[v](std::unique_ptr<ws_client>& c) { c->version = v; },
                          [v](auto& c) { c->set_version(v); }},
               client_);
}

bool stream_client::open(std::string* error) {
    if (kind_ == transport_kind::tcp) return true;
    if (auto* tls = std::get_if<std::unique_ptr<tls_client>>(&client_)) {
        if (!(*tls)->handshake(error)) return false;
        if (kind_ == transport_kind::tls) return true;
        const auto v = (*tls)->version();
        client_ = std::make_unique<ws_client>(std::move(*tls));
        std::get<std::unique_ptr<ws_client>>(client_)->version = v;
    }
    auto& ws = *std::get<std::unique_ptr<ws_client>>(client_);
    const auto head = ws.upgrade(ws::upgrade_request(ws_path_));
    if (head.starts_with("HTTP/1.1 101 ")) return true;
    if (error) *error = head.empty() ? "closed during the WebSocket upgrade" : head;
    return false;
}

void stream_client::send_bytes(const std::vector<std::uint8_t>& bytes) {
    std::visit(overloaded{[&](std::unique_ptr<raw_client>& c) { c->send_bytes(bytes); },
                          [&](std::unique_ptr<tls_client>& c) { c->send_bytes(bytes); },
                          [&](std::unique_ptr<ws_client>& c) { c->send_frame(ws::binary, bytes); }},
               client_);
}

void stream_client::send(const protocol::packet& p) {
    send_bytes(encode_packet(version(), p));
}

std::optional<protocol::packet> stream_client::receive(std::chrono::milliseconds timeout) {
    return std::visit(
        overloaded{[&](std::unique_ptr<ws_client>& c) { return c->receive_packet(timeout); },
                   [&](auto& c) { return c->receive(timeout); }},
        client_);
}

std::optional<protocol::connack> stream_client::connect(const protocol::connect& c) {
    set_version(c.protocol_version);
    send(c);
    auto p = receive();
    if (!p || !std::holds_alternative<protocol::connack>(*p)) return std::nullopt;
    return std::get<protocol::connack>(*p);
}

bool stream_client::wait_closed(std::chrono::milliseconds timeout,
                                std::vector<protocol::packet>* before) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    // Packets first: each client reads its stream only through them.
    while (auto p = receive(left_until(deadline))) {
        if (before) before->push_back(std::move(*p));
    }
    return std::visit(
        overloaded{
            [&](std::unique_ptr<raw_client>& c) { return c->wait_closed(left_until(deadline)); },
            [&](std::unique_ptr<tls_client>& c) {
                return c->wait_closed(left_until(deadline)) != tls_client::end::open;
            },
            [&](std::unique_ptr<ws_client>& c) {
                // The server's close frame (receive() stops at it) gets its answer.
                if (auto code = c->close_code())
                    c->send_frame(ws::close, ws::close_payload(*code == 0 ? 1000 : *code));
                return c->wait_closed(left_until(deadline));
            }},
        client_);
}

}  // namespace rmqtt::test
