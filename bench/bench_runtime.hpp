#pragma once

#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <asio.hpp>
#include <asio/experimental/as_tuple.hpp>

// Threads and task bookkeeping of the load generator: N io_contexts, one thread each; clients are
// spread over them round-robin and each stays on its own context.
namespace rmqtt::bench {

class runtime {
  public:
    explicit runtime(unsigned threads) {
        for (unsigned i = 0; i < std::max(threads, 1u); ++i)
            contexts_.push_back(std::make_unique<asio::io_context>(1));
    }

    asio::any_io_executor main_executor() { return contexts_[0]->get_executor(); }
    asio::any_io_executor next_executor() {
        return contexts_[next_++ % contexts_.size()]->get_executor();
    }

    // Runs `body` on the first context while every context runs on its own thread. Returns the
    // body's result, or nothing when it did not finish by `deadline` (the caller then exits
    // without unwinding the clients that are still running).
    std::optional<int> run(std::function<asio::awaitable<int>()> body,
                           std::chrono::steady_clock::time_point deadline) {
        std::vector<asio::executor_work_guard<asio::io_context::executor_type>> guards;
        for (auto& c : contexts_)
            guards.push_back(asio::make_work_guard(*c));
        std::promise<int> done;
        auto result = done.get_future();
        asio::co_spawn(*contexts_[0], body(), [&done](std::exception_ptr e, int r) {
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& x) {
                    std::fprintf(stderr, "error: %s\n", x.what());
                }
                r = 3;
            }
            done.set_value(r);
        });
        std::vector<std::thread> threads;
        for (auto& c : contexts_)
            threads.emplace_back([&c] { c->run(); });
        const bool finished = result.wait_until(deadline) == std::future_status::ready;
        if (!finished) return std::nullopt;
        guards.clear();
        for (auto& c : contexts_)
            c->stop();
        for (auto& t : threads)
            t.join();
        return result.get();
    }

  private:
    std::vector<std::unique_ptr<asio::io_context>> contexts_;
    std::size_t next_ = 0;
};

// Coroutines spawned on any context, awaited by the orchestrating coroutine. The atomic counter's
// release / acquire pair makes everything a finished task wrote visible to the waiter.
class task_group {
  public:
    // `f` is a callable returning asio::awaitable<void>. co_spawn keeps the callable (and so a
    // lambda's captures) alive until the coroutine ends.
    template <class F>
    void spawn(asio::any_io_executor ex, F&& f) {
        pending_.fetch_add(1, std::memory_order_relaxed);
        asio::co_spawn(ex, std::forward<F>(f), [this](std::exception_ptr e) {
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& x) {
                    std::fprintf(stderr, "task failed: %s\n", x.what());
                }
                failed_.fetch_add(1, std::memory_order_relaxed);
            }
            pending_.fetch_sub(1, std::memory_order_release);
        });
    }

    // Polls (every 2 ms) until no task is pending or `deadline`. True when all finished.
    asio::awaitable<bool> wait(std::chrono::steady_clock::time_point deadline) {
        asio::steady_timer t(co_await asio::this_coro::executor);
        while (pending_.load(std::memory_order_acquire) > 0) {
            if (std::chrono::steady_clock::now() >= deadline) co_return false;
            t.expires_after(std::chrono::milliseconds(2));
            co_await t.async_wait(asio::experimental::as_tuple(asio::use_awaitable));
        }
        co_return true;
    }

    std::size_t pending() const noexcept { return pending_.load(std::memory_order_acquire); }
    std::size_t failed() const noexcept { return failed_.load(std::memory_order_relaxed); }

  private:
    std::atomic<std::size_t> pending_{0};
    std::atomic<std::size_t> failed_{0};
};

}  // namespace rmqtt::bench
