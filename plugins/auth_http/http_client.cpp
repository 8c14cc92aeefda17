// rmqtt-auth-http's HTTP calls on cpp-httplib (the only file that includes it: it is slow to
// compile).
#include "auth_http/http_client.hpp"

#include <httplib.h>

#include <map>
#include <memory>

namespace rmqtt::plugins::auth_http {

namespace {

std::string base_url(const http_request& r) {
    const bool v6 = r.host.find(':') != std::string::npos;
    return std::string(r.https ? "https://" : "http://") + (v6 ? "[" : "") + r.host +
           (v6 ? "]" : "") + ":" + std::to_string(r.port);
}

// One client per server and thread: a client is not safe to share between threads, and keeping
// it keeps its connection open between calls.
httplib::ClientImpl& client_for(const http_request& r) {
    thread_local std::map<std::string, std::unique_ptr<httplib::ClientImpl>> clients;
    auto& c = clients[base_url(r)];
    if (!c) {
        // From host and port, not from a URL: httplib::Client parses the URL with a
        // function-local static std::regex inside the (uninstrumented) library, which
        // ThreadSanitizer reports as a race when several threads make clients at once.
        if (r.https)
            c = std::make_unique<httplib::SSLClient>(r.host, r.port);
        else
            c = std::make_unique<httplib::ClientImpl>(r.host, r.port);
        c->set_keep_alive(true);
    }
    return *c;
}

}  // namespace

http_response send_http(const http_request& r, std::chrono::milliseconds timeout) {
    http_response out;
    auto& c = client_for(r);
    if (!c.is_valid()) {
        out.error = "cannot make an HTTP client for " + base_url(r);
        return out;
    }
    c.set_connection_timeout(timeout);
    c.set_read_timeout(timeout);
    c.set_write_timeout(timeout);
    httplib::Headers headers;
    for (const auto& [name, value] : r.headers)
        headers.emplace(name, value);
    httplib::Result res = [&] {
        switch (r.method) {
            case http_endpoint::http_method::get:
                return c.Get(r.target, headers);
            case http_endpoint::http_method::put:
                return c.Put(r.target, headers, r.body, r.content_type);
            case http_endpoint::http_method::post:
                break;
        }
        return c.Post(r.target, headers, r.body, r.content_type);
    }();
    if (!res) {
        out.error =
            "HTTP request to " + base_url(r) + " failed: " + httplib::to_string(res.error());
        return out;
    }
    out.status = res->status;
    out.content_type = res->get_header_value("Content-Type");
    if (res->has_header("X-Superuser")) out.x_superuser = res->get_header_value("X-Superuser");
    if (res->has_header("X-Cache")) out.x_cache = res->get_header_value("X-Cache");
    out.body = std::move(res->body);
    return out;
}

}  // namespace rmqtt::plugins::auth_http
