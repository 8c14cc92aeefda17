#include "persist/persistence.hpp"

#include <spdlog/spdlog.h>

namespace rmqtt::broker {

namespace {
storage::committer::options committer_options(const session_storage_config& cfg) {
    storage::committer::options o;
    o.window = cfg.commit_window;
    o.max_batch_ops = cfg.commit_max_ops;
    o.backend_timeout = cfg.backend_timeout;
    // Nobody waits for these writes (with ack = "async" that includes acknowledged messages):
    // the log line and the counters are all that is left of them.
    o.on_unobserved_failure = [](const storage::status& st, std::size_t ops) {
        spdlog::error(
            "session storage: {} operation(s) that nothing waited for were not stored: {}", ops,
            st.to_string());
    };
    return o;
}
}  // namespace

persistence::persistence(std::unique_ptr<storage::store> engine, const session_storage_config& cfg)
    : engine_(std::move(engine)),
      cfg_(cfg),
      durable_(cfg.ack == session_storage_config::ack_mode::durable),
      committer_(*engine_, committer_options(cfg)) {}

persistence::~persistence() {
    (void)close();
}  // errors were logged by the caller of close()

void persistence::submit(storage::write_batch batch, completion done) {
    if (durable_) {
        committer_.submit(std::move(batch), std::move(done));
        return;
    }
    committer_.submit(std::move(batch), {});
    if (done) done(storage::status::ok());
}

void persistence::submit(storage::operation op) {
    storage::write_batch b;
    b.ops.push_back(std::move(op));
    committer_.submit(std::move(b), {});
}

void persistence::submit(storage::write_batch batch) {
    if (batch.empty()) return;
    committer_.submit(std::move(batch), {});
}

void persistence::read(std::function<void(storage::store&)> fn) {
    // Completions run on the writer thread, in order, after the group they belong to has been
    // written: an empty batch's completion is a point where the engine is idle and up to date.
    committer_.submit({}, [this, fn = std::move(fn)](const storage::status&) { fn(*engine_); });
}

bool persistence::overloaded() const noexcept {
    return committer_.pending_bytes() > cfg_.max_pending_bytes || committer_.degraded();
}

std::string persistence::describe() const {
    return std::string(engine_->engine_name()) + " at " + engine_->location();
}

storage::status persistence::close() {
    if (closed_) return storage::status::ok();
    closed_ = true;
    committer_.stop();
    return engine_->close();
}

}  // namespace rmqtt::broker
