#pragma once

// Private to the engines: how readers on other threads (store::open_reader) share an engine's
// state with the store until close(). A reader call holds a pass for its duration; close() stops
// new passes and waits until the last one is returned, so the engine can then be torn down.
// Passes nest: a reader's for_each_* callback may call the reader again.

#include <condition_variable>
#include <cstddef>
#include <mutex>

namespace rmqtt::storage::detail {

class reader_gate {
  public:
    class pass {
      public:
        explicit pass(reader_gate& gate) : gate_(gate.enter() ? &gate : nullptr) {}
        ~pass() {
            if (gate_) gate_->leave();
        }
        pass(const pass&) = delete;
        pass& operator=(const pass&) = delete;
        // False once the gate is closed: the call must fail without touching the engine.
        explicit operator bool() const noexcept { return gate_ != nullptr; }

      private:
        reader_gate* gate_;
    };

    // Refuses new passes, then waits for the passes in use. Must not be called while holding a
    // pass (it would wait for itself). Idempotent.
    void close() {
        std::unique_lock lock(mutex_);
        closed_ = true;
        idle_.wait(lock, [&] { return active_ == 0; });
    }

  private:
    bool enter() {
        std::lock_guard lock(mutex_);
        if (closed_) return false;
        ++active_;
        return true;
    }
    void leave() {
        std::lock_guard lock(mutex_);
        if (--active_ == 0) idle_.notify_all();
    }

    std::mutex mutex_;
    std::condition_variable idle_;
    std::size_t active_ = 0;
    bool closed_ = false;
};

}  // namespace rmqtt::storage::detail
