#pragma once

// Helpers for the TLS and PROXY protocol integration tests: certificates made at test time, a
// broker with a tls listener next to its tcp one, Paho TLS options, mosquitto_pub over TLS.
// Every wait here is bounded.

#include <sys/wait.h>

#include <string>
#include <vector>

#include "integration_util.hpp"
#include "test_certs.hpp"
#include "tls_client.hpp"

namespace rmqtt::test::integ {

// A broker with tcp.external (as start_broker) and tls.external on its own port; optionally a
// second tls listener, tls.second. With kind = "wss" the two are wss listeners (WebSocket over
// TLS, at ws_path /mqtt). Set the lines, then start().
struct tls_broker {
    std::string kind = "tls";
    temp_dir dir{"rmqttd-tls"};
    test_certs certs = make_test_certs(dir.path());
    std::uint16_t tls_port = free_port();
    std::uint16_t tls_port2 = free_port();
    std::vector<std::string> tls;     // extra lines of tls.external
    std::vector<std::string> second;  // lines of tls.second (none: no such listener)
    std::vector<std::string> tcp;     // extra lines of tcp.external
    std::string log_level = "info";
    broker_ptr broker;

    std::vector<std::string> tls_listener(const std::string& name, std::uint16_t port,
                                          const std::vector<std::string>& lines) const {
        std::vector<std::string> out = {
            cat("[listener.", kind, ".", name, "]"), cat("addr = \"127.0.0.1:", port, "\""),
            cat("cert = \"", certs.server_cert, "\""), cat("key = \"", certs.server_key, "\"")};
        bool anonymous_set = false;
        for (const auto& l : lines)
            anonymous_set = anonymous_set || l.starts_with("allow_anonymous");
        if (!anonymous_set) out.push_back("allow_anonymous = true");
        out.insert(out.end(), lines.begin(), lines.end());
        return out;
    }
    void start() {
        broker_process::options o;
        o.listener = tcp;
        o.log_level = log_level;
        o.main_config = tls_listener("external", tls_port, tls);
        if (!second.empty()) {
            auto more = tls_listener("second", tls_port2, second);
            o.main_config.insert(o.main_config.end(), more.begin(), more.end());
        }
        broker = start_broker_with(std::move(o));
        // The tcp listener opens first: wait for these too.
        for (auto port : {tls_port, tls_port2}) {
            if (port == tls_port2 && second.empty()) continue;
            if (!wait_for_port(port, std::chrono::seconds(10)))
                throw std::runtime_error("a " + kind + " listener did not open:\n" + broker->log());
        }
    }
    // ssl://127.0.0.1:<tls_port>, or wss://127.0.0.1:<tls_port>/mqtt.
    std::string ssl_uri() const {
        return kind == "wss" ? cat("wss://127.0.0.1:", tls_port, "/mqtt")
                             : cat("ssl://127.0.0.1:", tls_port);
    }
    // Paho options that verify the server against the test CA (and its address, 127.0.0.1).
    mqtt::ssl_options paho_ssl(bool client_cert = false) const {
        auto b = mqtt::ssl_options_builder();
        b.trust_store(certs.ca);
        b.enable_server_cert_auth(true);
        b.verify(true);
        if (client_cert) {
            b.key_store(certs.client_cert);
            b.private_key(certs.client_key);
        }
        return b.finalize();
    }
    tls_client::options tls_options() const {
        tls_client::options o;
        o.ca_file = certs.ca;
        return o;
    }
};

inline int exit_code_of(std::optional<int> status) {
    if (!status) return -1;
    return WIFEXITED(*status) ? WEXITSTATUS(*status) : 128 + WTERMSIG(*status);
}

// mosquitto_pub to 127.0.0.1:port (ended after 20 s); its exit code, output in `log`.
inline int run_mosquitto_pub(std::uint16_t port, const std::string& log,
                             std::vector<std::string> args) {
    std::vector<std::string> argv = {"mosquitto_pub", "-h", "127.0.0.1", "-p",
                                     std::to_string(port)};
    argv.insert(argv.end(), args.begin(), args.end());
    child_process p(argv, log);
    auto st = p.wait_for(std::chrono::seconds(20));
    if (!st) p.kill_hard();
    return exit_code_of(st);
}

}  // namespace rmqtt::test::integ
