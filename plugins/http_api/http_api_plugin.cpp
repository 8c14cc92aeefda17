// The HTTP server of rmqtt-http-api (the only file that includes cpp-httplib: it is slow to
// compile).
#include "http_api/http_api_plugin.hpp"

#include <fmt/format.h>
#include <httplib.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "http_api/api_routes.hpp"
#include "http_api/dashboard.hpp"
#include "http_api/http_api_config.hpp"

namespace rmqtt::plugins::http_api {

namespace {

constexpr std::size_t max_body_bytes = 16 * 1024 * 1024;

// Compares without leaking where the first difference is (the length is not secret).
bool same_secret(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    unsigned diff = 0;
    for (std::size_t i = 0; i < a.size(); ++i)
        diff |= static_cast<unsigned>(static_cast<unsigned char>(a[i]) ^
                                      static_cast<unsigned char>(b[i]));
    return diff == 0;
}

void set_json(httplib::Response& res, const api_response& r) {
    res.status = r.status;
    for (const auto& [k, v] : r.headers)
        res.set_header(k, v);
    res.set_content(r.body, r.content_type.c_str());
}

class http_api_plugin final : public broker::plugin {
  public:
    void configure(const broker::config_section& section) override {
        config_ = parse_http_api_config(section);
    }

    void start(broker::plugin_context& ctx) override {
        routes_ = std::make_unique<api_routes>(config_, ctx.broker());
        server_ = std::make_unique<httplib::Server>();
        auto& s = *server_;
        const auto workers = config_.http_workers;
        s.new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
        s.set_payload_max_length(max_body_bytes);
        s.set_keep_alive_timeout(1);
        const bool reuseaddr = config_.http_reuseaddr;
        const bool reuseport = config_.http_reuseport;
        s.set_socket_options([reuseaddr, reuseport](socket_t sock) {
            const int on = 1;
            if (reuseaddr) (void)setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
            if (reuseport) (void)setsockopt(sock, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on);
        });
        s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
            return authorized(req, res) ? httplib::Server::HandlerResponse::Unhandled
                                        : httplib::Server::HandlerResponse::Handled;
        });
        const auto api = [this](const httplib::Request& req, httplib::Response& res) {
            api_request r;
            r.method = req.method;
            r.path = req.matches.size() > 1 ? req.matches[1].str() : std::string();
            if (r.path == "/") r.path.clear();
            for (const auto& [k, v] : req.params)
                r.query.emplace(k, v);
            r.body = req.body;
            set_json(res, routes_->handle(r));
        };
        const char* api_pattern = R"(/api/v1(/.*)?)";
        s.Get(api_pattern, api);
        s.Post(api_pattern, api);
        s.Put(api_pattern, api);
        s.Delete(api_pattern, api);
        s.Patch(api_pattern, api);
        s.Options(api_pattern, api);
        s.Get(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
            serve_static(req.path, res);
        });
        s.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
            if (!res.body.empty()) return;
            std::string message = fmt::format("HTTP {}", res.status);
            if (res.status == 404) message = "no such route: " + req.path;
            // cpp-httplib refuses a request with a body method and no Content-Length.
            if (res.status == 400 && !req.has_header("Content-Length") &&
                (req.method == "POST" || req.method == "PUT" || req.method == "PATCH"))
                message = "bad request: " + req.method +
                          " needs a Content-Length header (curl: -d '' for an empty body)";
            if (res.status == 413) message = "the request body is too large";
            set_json(res, error_response(res.status, message));
        });
        s.set_exception_handler(
            [](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
                std::string what = "internal error";
                try {
                    if (ep) std::rethrow_exception(ep);
                } catch (const std::exception& e) {
                    what = e.what();
                } catch (...) {
                }
                set_json(res, error_response(500, what));
            });
        if (config_.http_request_log) {
            s.set_logger([](const httplib::Request& req, const httplib::Response& res) {
                spdlog::info("rmqtt-http-api: {} {} {} -> {}", req.remote_addr, req.method,
                             req.path, res.status);
            });
        }
        if (!s.bind_to_port(config_.host, config_.port))
            throw std::runtime_error(fmt::format(
                "rmqtt-http-api: cannot listen on {}:{} (http_laddr)", config_.host, config_.port));
        thread_ = std::thread([this] {
            if (!server_->listen_after_bind()) spdlog::error("rmqtt-http-api: the server stopped");
        });
        spdlog::info("rmqtt-http-api: listening on {}:{}{}", config_.host, config_.port,
                     config_.http_bearer_token || config_.http_basic_auth_user
                         ? " (authentication required)"
                         : "");
    }

    void stop() override {
        if (!server_) return;
        // listen_after_bind() marks the server running as it starts; stop() before that would
        // leave it listening. Bounded: the thread starts at once.
        for (int i = 0; i < 2000 && !server_->is_running() && thread_.joinable(); ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        server_->stop();
        if (thread_.joinable()) thread_.join();
        server_.reset();
    }

    ~http_api_plugin() override { stop(); }

  private:
    // Every /api/ request except the health check (for probes such as Docker's HEALTHCHECK)
    // needs the bearer token or the basic credentials when either is configured; the dashboard's
    // static files do not (they hold no data).
    bool authorized(const httplib::Request& req, httplib::Response& res) const {
        const bool bearer = config_.http_bearer_token.has_value();
        const bool basic = config_.http_basic_auth_user.has_value();
        if (!bearer && !basic) return true;
        if (!req.path.starts_with("/api/") || req.path.starts_with("/api/v1/health/check"))
            return true;
        const auto header = req.get_header_value("Authorization");
        if (bearer && header.starts_with("Bearer ") &&
            same_secret(std::string_view(header).substr(7), *config_.http_bearer_token))
            return true;
        if (basic && header.starts_with("Basic ")) {
            const auto decoded = base64_decode(std::string_view(header).substr(6));
            if (decoded && same_secret(*decoded, *config_.http_basic_auth_user + ":" +
                                                     *config_.http_basic_auth_password))
                return true;
        }
        std::string challenge;
        if (bearer) challenge = "Bearer realm=\"rmqttd\"";
        if (basic)
            challenge += std::string(challenge.empty() ? "" : ", ") + "Basic realm=\"rmqttd\"";
        auto r =
            error_response(401, header.empty() ? "authentication required" : "wrong credentials");
        r.headers.emplace_back("WWW-Authenticate", challenge);
        set_json(res, r);
        return false;
    }

    // The dashboard: / and /dashboard/ are its index.html, /x and /dashboard/x its files.
    void serve_static(const std::string& path, httplib::Response& res) const {
        if (path == "/dashboard") {
            res.status = 301;
            res.set_header("Location", "/dashboard/");
            return;
        }
        std::string_view rel = path;
        if (rel.starts_with("/dashboard/"))
            rel.remove_prefix(11);
        else
            rel.remove_prefix(1);
        auto f = find_static_file(config_.dashboard_static_dir, rel);
        if (!f) {
            set_json(res, error_response(404, "no such file: " + path));
            return;
        }
        res.set_content(std::move(f->content), f->content_type.c_str());
    }

    http_api_config config_;
    std::unique_ptr<api_routes> routes_;
    std::unique_ptr<httplib::Server> server_;
    std::thread thread_;
};

}  // namespace

std::unique_ptr<broker::plugin> make_plugin() {
    return std::make_unique<http_api_plugin>();
}

}  // namespace rmqtt::plugins::http_api
