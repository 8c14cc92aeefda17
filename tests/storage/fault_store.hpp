#pragma once

// A memory store whose write() can be held at a gate (to make grouping deterministic) and made to
// fail on demand (to drive retries, give-ups and refusals). Reads, and readers, go to the memory
// engine; the calls of readers (open_reader) can be made to fail too (fail_reads), as a returning
// client's queue read does when the backend is down.
// Used by the committer tests and the broker's persistence and core tests.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rmqtt/storage/store.hpp"

namespace rmqtt::storage::test {

class fault_store final : public store {
  public:
    std::string_view engine_name() const noexcept override { return "memory"; }
    std::string location() const override { return "fake"; }

    status write(const write_batch& batch) override {
        std::unique_lock lock(mutex_);
        ++attempts_;
        writes_.push_back(batch);
        changed_.notify_all();
        changed_.wait(lock, [&] { return !held_; });
        if (fail_next_ > 0) {
            --fail_next_;
            return status::error(fail_code_, "injected failure");
        }
        if (fail_always_) return status::error(fail_code_, "injected outage");
        return inner_->write(batch);
    }

    status for_each_session(const std::function<bool(session_record&&)>& fn) override {
        return inner_->for_each_session(fn);
    }
    status load_subscriptions(std::string_view id, std::vector<subscription_record>& out) override {
        return inner_->load_subscriptions(id, out);
    }
    status load_queue(std::string_view id, std::uint64_t from, std::size_t limit,
                      std::vector<queue_entry>& out) override {
        return inner_->load_queue(id, from, limit, out);
    }
    status load_queue_bounds(std::string_view id, std::optional<queue_bounds>& out) override {
        return inner_->load_queue_bounds(id, out);
    }
    status load_inbound_qos2(std::string_view id, std::vector<std::uint16_t>& out) override {
        return inner_->load_inbound_qos2(id, out);
    }
    status for_each_message(
        const std::function<bool(std::uint64_t, message_record&&)>& fn) override {
        return inner_->for_each_message(fn);
    }
    bool supports_shared_messages() const noexcept override {
        return inner_->supports_shared_messages();
    }
    status max_message_id(std::uint64_t& out) override { return inner_->max_message_id(out); }
    status for_each_retained(const std::function<bool(message_record&&)>& fn) override {
        return inner_->for_each_retained(fn);
    }
    status get_meta(std::string_view key, std::optional<std::string>& out) override {
        return inner_->get_meta(key, out);
    }
    status open_reader(std::unique_ptr<store_reader>& out) override {
        std::unique_ptr<store_reader> inner;
        if (auto st = inner_->open_reader(inner); !st) return st;
        out = std::make_unique<faulty_reader>(std::move(inner), reads_fail_);
        return status::ok();
    }
    status check() override { return inner_->check(); }
    status close() override { return inner_->close(); }

    void hold() {
        std::lock_guard lock(mutex_);
        held_ = true;
    }
    void release() {
        {
            std::lock_guard lock(mutex_);
            held_ = false;
        }
        changed_.notify_all();
    }
    void fail_next(int n, status::code c) {
        std::lock_guard lock(mutex_);
        fail_next_ = n;
        fail_code_ = c;
    }
    void fail_always(bool on, status::code c = status::code::unavailable) {
        std::lock_guard lock(mutex_);
        fail_always_ = on;
        fail_code_ = c;
    }
    // Every call of a reader from open_reader() fails with `c` while on (the store's own reads,
    // used at start-up, are not affected).
    void fail_reads(bool on, status::code c = status::code::unavailable) {
        std::lock_guard lock(reads_fail_->mutex);
        reads_fail_->on = on;
        reads_fail_->code = c;
    }
    int attempts() {
        std::lock_guard lock(mutex_);
        return attempts_;
    }
    std::vector<write_batch> writes() {
        std::lock_guard lock(mutex_);
        return writes_;
    }
    // Waits (bounded) until write() has been entered `n` times.
    bool wait_attempts(int n) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, std::chrono::seconds(10), [&] { return attempts_ >= n; });
    }

  private:
    // Shared with the readers, which may be used from another thread.
    struct read_failure {
        std::mutex mutex;
        bool on = false;
        status::code code = status::code::unavailable;
        status check() {
            std::lock_guard lock(mutex);
            return on ? status::error(code, "injected read failure") : status::ok();
        }
    };

    class faulty_reader final : public store_reader {
      public:
        faulty_reader(std::unique_ptr<store_reader> inner, std::shared_ptr<read_failure> fail)
            : inner_(std::move(inner)), fail_(std::move(fail)) {}
        status for_each_session(const std::function<bool(session_record&&)>& fn) override {
            if (auto st = fail_->check(); !st) return st;
            return inner_->for_each_session(fn);
        }
        status load_subscriptions(std::string_view id,
                                  std::vector<subscription_record>& out) override {
            if (auto st = fail_->check(); !st) return st;
            return inner_->load_subscriptions(id, out);
        }
        status load_queue(std::string_view id, std::uint64_t from, std::size_t limit,
                          std::vector<queue_entry>& out) override {
            if (auto st = fail_->check(); !st) return st;
            return inner_->load_queue(id, from, limit, out);
        }
        status load_queue_bounds(std::string_view id, std::optional<queue_bounds>& out) override {
            if (auto st = fail_->check(); !st) return st;
            return inner_->load_queue_bounds(id, out);
        }
        status load_inbound_qos2(std::string_view id, std::vector<std::uint16_t>& out) override {
            if (auto st = fail_->check(); !st) return st;
            return inner_->load_inbound_qos2(id, out);
        }
        status load_recovery_state(const std::vector<std::string>& ids,
                                   std::vector<recovery_state>& out) override {
            if (auto st = fail_->check(); !st) return st;
            return inner_->load_recovery_state(ids, out);
        }
        status for_each_retained(const std::function<bool(message_record&&)>& fn) override {
            if (auto st = fail_->check(); !st) return st;
            return inner_->for_each_retained(fn);
        }
        status get_meta(std::string_view key, std::optional<std::string>& out) override {
            if (auto st = fail_->check(); !st) return st;
            return inner_->get_meta(key, out);
        }

      private:
        std::unique_ptr<store_reader> inner_;
        std::shared_ptr<read_failure> fail_;
    };

    std::unique_ptr<store> inner_ = make_memory_store();
    std::shared_ptr<read_failure> reads_fail_ = std::make_shared<read_failure>();
    std::mutex mutex_;
    std::condition_variable changed_;
    bool held_ = false;
    int fail_next_ = 0;
    bool fail_always_ = false;
    status::code fail_code_ = status::code::unavailable;
    int attempts_ = 0;
    std::vector<write_batch> writes_;
};

}  // namespace rmqtt::storage::test
