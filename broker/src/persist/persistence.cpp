#include "persist/persistence.hpp"

#include <spdlog/spdlog.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rmqtt::broker {

namespace {
storage::committer::options committer_options(const session_storage_config& cfg) {
    storage::committer::options o;
    o.window = cfg.commit_window;
    o.max_batch_ops = cfg.commit_max_ops;
    o.backend_timeout = cfg.backend_timeout;
    // A message its subscribers acknowledged before its put was written needs no write: its
    // publisher's acknowledgement goes at once, not after the batches in front of it.
    o.complete_cancelled_early = true;
    // Nobody waits for these writes (with ack = "async" that includes acknowledged messages):
    // the log line and the counters are all that is left of them.
    o.on_unobserved_failure = [](const storage::status& st, std::size_t ops) {
        spdlog::error(
            "session storage: {} operation(s) that nothing waited for were not stored: {}", ops,
            st.to_string());
    };
    return o;
}

// What read_async functions get once the store is closed.
class closed_reader final : public storage::store_reader {
  public:
    storage::status for_each_session(
        const std::function<bool(storage::session_record&&)>&) override {
        return closed();
    }
    storage::status load_subscriptions(std::string_view,
                                       std::vector<storage::subscription_record>&) override {
        return closed();
    }
    storage::status load_queue(std::string_view, std::uint64_t, std::size_t,
                               std::vector<storage::queue_entry>&) override {
        return closed();
    }
    storage::status load_queue_bounds(std::string_view,
                                      std::optional<storage::queue_bounds>&) override {
        return closed();
    }
    storage::status load_inbound_qos2(std::string_view, std::vector<std::uint16_t>&) override {
        return closed();
    }
    storage::status load_recovery_state(const std::vector<std::string>&,
                                        std::vector<storage::recovery_state>&) override {
        return closed();
    }
    storage::status for_each_retained(
        const std::function<bool(storage::message_record&&)>&) override {
        return closed();
    }
    storage::status get_meta(std::string_view, std::optional<std::string>&) override {
        return closed();
    }

  private:
    static storage::status closed() {
        return storage::status::error(storage::status::code::invalid_argument,
                                      "the session store is closed");
    }
};
}  // namespace

persistence::persistence(std::unique_ptr<storage::store> engine, const session_storage_config& cfg)
    : engine_(std::move(engine)),
      cfg_(cfg),
      durable_(cfg.ack == session_storage_config::ack_mode::durable),
      committer_(*engine_, committer_options(cfg)) {
    // Nothing has been submitted yet, so the engine is idle for this read.
    if (engine_->supports_shared_messages()) {
        std::uint64_t max_id = 0;
        if (auto st = engine_->max_message_id(max_id); !st) {
            spdlog::warn(
                "session storage: cannot read the shared message ids of {} ({}); every "
                "queued copy is stored with its message",
                describe(), st.to_string());
        } else {
            shared_messages_ = true;
            next_message_id_.store(max_id + 1, std::memory_order_relaxed);
        }
    }
    if (auto st = engine_->open_reader(reader_); !st) {
        reader_.reset();
        spdlog::warn("session storage: no reader for {} ({}); reads run between commits",
                     describe(), st.to_string());
        return;
    }
    has_reader_ = true;
    reader_thread_ = std::thread([this] { run_reads(); });
}

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

void persistence::read_async(std::function<void(storage::store_reader&)> fn) {
    // The barrier: an empty batch completes after every batch submitted before it (completions
    // run in submission order), and its completion only hands `fn` over.
    committer_.submit({}, [this, fn = std::move(fn)](const storage::status&) mutable {
        start_read(std::move(fn));
    });
}

void persistence::start_read(read_fn fn) {
    if (!has_reader_) {
        fn(*engine_);  // no reader: on the committer's thread, like read()
        return;
    }
    {
        std::lock_guard lock(reads_mutex_);
        if (!reads_stopping_) {
            reads_.push_back(std::move(fn));
            reads_wake_.notify_one();
            return;
        }
    }
    closed_reader closed;  // close() has stopped the reader thread
    fn(closed);
}

void persistence::run_reads() {
    std::unique_lock lock(reads_mutex_);
    for (;;) {
        reads_wake_.wait(lock, [&] { return reads_stopping_ || !reads_.empty(); });
        if (reads_.empty()) return;  // stopping, and every read handed over has run
        read_fn fn = std::move(reads_.front());
        reads_.pop_front();
        lock.unlock();
        fn(*reader_);
        lock.lock();
    }
}

void persistence::stop_reads() {
    {
        std::lock_guard lock(reads_mutex_);
        reads_stopping_ = true;
    }
    reads_wake_.notify_all();
    if (reader_thread_.joinable()) reader_thread_.join();
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
    committer_.stop();  // the last barrier completions hand their reads over
    stop_reads();       // runs them, then joins
    reader_.reset();
    return engine_->close();
}

}  // namespace rmqtt::broker
