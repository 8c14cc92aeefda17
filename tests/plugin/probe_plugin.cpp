#include "probe_plugin.hpp"

#include <asio/post.hpp>
#include <asio/strand.hpp>

#include <fstream>
#include <mutex>
#include <string>

namespace rmqtt::test {

namespace {

using namespace rmqtt::broker;

class probe final : public plugin {
  public:
    void configure(const config_section& s) override {
        auto file = s.get_string("events_file");
        if (!file || file->empty()) s.fail("events_file", "expected the path of a file to write");
        events_file_ = *file;
        deny_user_ = s.get_string("deny_user").value_or("intruder");
        forbidden_ = s.get_string("forbidden").value_or("forbidden/");
    }

    void start(plugin_context& ctx) override {
        // One strand: lines keep the order the events were raised in.
        ex_ = asio::make_strand(ctx.executor());
        out_.open(events_file_, std::ios::trunc);
        if (!out_) throw std::runtime_error("cannot write " + events_file_);
        auto& h = ctx.hooks();

        h.on_authenticate(
            10, hook_bus::async_authenticate_handler(
                    [this](const client_info& c, const std::optional<std::string>&, hook_result,
                           decision_scope<hook_result>& scope) {
                        const std::string user =
                            c.username && c.username->has_value() ? **c.username : std::string();
                        asio::post(ex_, [this, d = scope.defer(), user]() mutable {
                            record("decide authenticate user=" + user);
                            d.resolve(user == deny_user_ ? hook_result::deny : hook_result::next);
                        });
                        return hook_result::pending;
                    }));
        h.on_acl(10, hook_bus::async_acl_handler([this](const client_info&, acl_action a,
                                                        std::string_view topic, hook_result,
                                                        decision_scope<hook_result>& scope) {
                     const bool deny = a == acl_action::publish &&
                                       topic.substr(0, forbidden_.size()) == forbidden_;
                     asio::post(ex_, [d = scope.defer(), deny]() mutable {
                         d.resolve(deny ? hook_result::deny : hook_result::next);
                     });
                     return hook_result::pending;
                 }));
        h.on_message_publish(
            10, [](message& m, const client_info&, hook_result, decision_scope<hook_result>&) {
                if (m.topic == "probe/modify") m.payload += "+probe";
                return m.topic == "probe/drop" ? hook_result::deny : hook_result::next;
            });

        h.on<events::client_connected>([this](const events::client_connected& e) {
            note("client_connected id=" + e.who.client_id +
                 " session_present=" + std::to_string(e.session_present));
        });
        h.on<events::connect_refused>([this](const events::connect_refused& e) {
            note("connect_refused id=" + e.who.client_id +
                 " reason=" + std::to_string(static_cast<int>(e.reason)));
        });
        h.on<events::client_disconnected>([this](const events::client_disconnected& e) {
            note("client_disconnected id=" + e.who.client_id +
                 " reason=" + events::to_string(e.reason));
        });
        h.on<events::session_created>([this](const events::session_created& e) {
            note("session_created id=" + e.client_id);
        });
        h.on<events::session_resumed>([this](const events::session_resumed& e) {
            note("session_resumed id=" + e.client_id);
        });
        h.on<events::session_terminated>([this](const events::session_terminated& e) {
            note("session_terminated id=" + e.client_id + " reason=" + events::to_string(e.reason));
        });
        h.on<events::subscribed>([this](const events::subscribed& e) {
            note("subscribed id=" + e.client_id + " filter=" + e.filter);
        });
        h.on<events::unsubscribed>([this](const events::unsubscribed& e) {
            note("unsubscribed id=" + e.client_id + " filter=" + e.filter);
        });
        h.on<events::message_published>([this](const events::message_published& e) {
            note("message_published from=" + (e.from ? e.from->client_id : std::string("-")) +
                 " topic=" + e.msg->topic + " payload=" + e.msg->payload);
        });
        h.on<events::message_delivered>([this](const events::message_delivered& e) {
            note("message_delivered id=" + e.client_id + " topic=" + e.msg->topic +
                 " payload=" + e.msg->payload);
        });
        h.on<events::message_acked>([this](const events::message_acked& e) {
            note("message_acked id=" + e.client_id + " topic=" + e.msg->topic);
        });
        h.on<events::message_dropped>([this](const events::message_dropped& e) {
            note("message_dropped topic=" + e.msg->topic +
                 " reason=" + events::to_string(e.reason));
        });
    }

    void stop() override {
        std::lock_guard lock(mutex_);
        out_ << "stopped\n";
        out_.flush();
    }

  private:
    // Events are raised on io threads: the line is written on the plugin executor.
    void note(std::string line) {
        asio::post(ex_, [this, line = std::move(line)] { record(line); });
    }
    void record(const std::string& line) {
        std::lock_guard lock(mutex_);
        out_ << line << '\n';
        out_.flush();
    }

    std::string events_file_;
    std::string deny_user_;
    std::string forbidden_;
    asio::any_io_executor ex_;
    std::mutex mutex_;
    std::ofstream out_;
};

}  // namespace

std::unique_ptr<broker::plugin> make_probe_plugin() {
    return std::make_unique<probe>();
}

}  // namespace rmqtt::test
