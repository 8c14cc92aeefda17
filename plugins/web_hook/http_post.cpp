// rmqtt-web-hook's HTTP POST on cpp-httplib (the only file of the plugin that includes it).
#include "web_hook/http_post.hpp"

#include <httplib.h>

#include <map>
#include <memory>

namespace rmqtt::plugins::web_hook {

namespace {

std::string base_url(const target& t) {
    const bool v6 = t.host.find(':') != std::string::npos;
    return std::string(t.https ? "https://" : "http://") + (v6 ? "[" : "") + t.host +
           (v6 ? "]" : "") + ":" + std::to_string(t.port);
}

// One client per server and thread: a client is not safe to share between threads, and keeping
// it keeps its connection open between calls.
httplib::ClientImpl& client_for(const target& t) {
    thread_local std::map<std::string, std::unique_ptr<httplib::ClientImpl>> clients;
    auto& c = clients[base_url(t)];
    if (!c) {
        // From host and port, not from a URL: httplib::Client parses the URL with a
        // function-local static std::regex inside the (uninstrumented) library, which
        // ThreadSanitizer reports as a race when several threads make clients at once.
        if (t.https)
            c = std::make_unique<httplib::SSLClient>(t.host, t.port);
        else
            c = std::make_unique<httplib::ClientImpl>(t.host, t.port);
        c->set_keep_alive(true);
    }
    return *c;
}

}  // namespace

post_result post_json(const target& t, const std::string& body, std::chrono::milliseconds timeout) {
    post_result out;
    auto& c = client_for(t);
    if (!c.is_valid()) {
        out.error = "cannot make an HTTP client for " + base_url(t);
        return out;
    }
    c.set_connection_timeout(timeout);
    c.set_read_timeout(timeout);
    c.set_write_timeout(timeout);
    auto res = c.Post(t.path, body, "application/json");
    if (!res) {
        out.error = httplib::to_string(res.error());
        return out;
    }
    out.status = res->status;
    return out;
}

}  // namespace rmqtt::plugins::web_hook
