#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

// A decision that a hook handler gives later: an HTTP call, a password hash on a thread pool.
// Part of the plugin API.
//
// A handler that answers at once returns its answer and allocates nothing. A handler that needs
// time calls scope.defer(), returns the "pending" value of its result type, and later calls
// resolve() on the handle it got, from any thread, exactly once. A handle dropped without
// resolve() resolves to the scope's fallback (a refusal), so a forgotten answer never lets a
// client through and never hangs its connection.
namespace rmqtt::broker {

namespace detail {
template <class T>
struct deferred_state {
    explicit deferred_state(T fallback_value) : fallback(std::move(fallback_value)) {}
    std::mutex mutex;
    std::optional<T> value;
    std::function<void(T)> continuation;
    T fallback;

    void resolve(T v) {
        std::function<void(T)> run;
        {
            std::lock_guard lock(mutex);
            if (value) return;  // resolved already: the first answer counts
            value = v;
            run = std::move(continuation);
        }
        if (run) run(std::move(v));
    }
    // Called once by whoever waits for the answer; runs `fn` at once when it is already known.
    void then(std::function<void(T)> fn) {
        std::optional<T> ready;
        {
            std::lock_guard lock(mutex);
            if (!value) {
                continuation = std::move(fn);
                return;
            }
            ready = value;
        }
        fn(std::move(*ready));
    }
};
}  // namespace detail

// The handle a deferring handler keeps. Move-only; resolve() may be called from any thread.
template <class T>
class deferred {
  public:
    deferred() = default;
    explicit deferred(std::shared_ptr<detail::deferred_state<T>> s) : state_(std::move(s)) {}
    deferred(deferred&&) noexcept = default;
    deferred& operator=(deferred&& other) noexcept {
        if (this != &other) {
            abandon();
            state_ = std::move(other.state_);
        }
        return *this;
    }
    deferred(const deferred&) = delete;
    deferred& operator=(const deferred&) = delete;
    ~deferred() { abandon(); }

    void resolve(T value) {
        if (auto s = std::exchange(state_, nullptr)) s->resolve(std::move(value));
    }
    explicit operator bool() const noexcept { return state_ != nullptr; }

  private:
    void abandon() {
        if (auto s = std::exchange(state_, nullptr)) s->resolve(s->fallback);
    }
    std::shared_ptr<detail::deferred_state<T>> state_;
};

// Given to a decision handler for one call.
template <class T>
class decision_scope {
  public:
    explicit decision_scope(T fallback) : fallback_(std::move(fallback)) {}
    decision_scope(const decision_scope&) = delete;
    decision_scope& operator=(const decision_scope&) = delete;

    // Turns this call into a deferred decision; the handler then returns the pending value.
    // Call at most once per scope.
    deferred<T> defer() {
        state_ = std::make_shared<detail::deferred_state<T>>(fallback_);
        return deferred<T>(state_);
    }

    // For the code that runs the chain.
    bool deferred_called() const noexcept { return state_ != nullptr; }
    std::shared_ptr<detail::deferred_state<T>> take_state() noexcept { return std::move(state_); }

  private:
    T fallback_;
    std::shared_ptr<detail::deferred_state<T>> state_;
};

// The caller's side of a decision that was deferred: filled in by the code that runs a hook
// chain when it returns pending. then() is called once; `fn` runs on the thread that resolves
// the decision (at once when it is already known).
template <class T>
class pending {
  public:
    void then(std::function<void(T)> fn) {
        if (state_) state_->then(std::move(fn));
    }
    explicit operator bool() const noexcept { return state_ != nullptr; }
    // For the code that runs the chain.
    std::shared_ptr<detail::deferred_state<T>>& state() noexcept { return state_; }

  private:
    std::shared_ptr<detail::deferred_state<T>> state_;
};

}  // namespace rmqtt::broker
