#pragma once

#include <memory>
#include <optional>
#include <utility>

namespace rmqtt::broker {

// An optional value kept on the heap: one pointer while empty. For state most objects never
// hold (a session's will), where std::optional would keep room for the value inline. Reads
// like std::optional (bool test, *, ->, reset) and takes a std::optional on assignment.
template <typename T>
class heap_optional {
  public:
    heap_optional() = default;
    heap_optional(const heap_optional&) = delete;
    heap_optional& operator=(const heap_optional&) = delete;

    heap_optional& operator=(std::nullopt_t) noexcept {
        value_.reset();
        return *this;
    }
    heap_optional& operator=(std::optional<T>&& v) {
        if (v) {
            emplace(std::move(*v));
        } else {
            value_.reset();
        }
        return *this;
    }
    heap_optional& operator=(const std::optional<T>& v) {
        if (v) {
            emplace(*v);
        } else {
            value_.reset();
        }
        return *this;
    }
    template <typename... Args>
    T& emplace(Args&&... args) {
        value_ = std::make_unique<T>(std::forward<Args>(args)...);
        return *value_;
    }

    bool has_value() const noexcept { return value_ != nullptr; }
    explicit operator bool() const noexcept { return has_value(); }
    T& operator*() noexcept { return *value_; }
    const T& operator*() const noexcept { return *value_; }
    T* operator->() noexcept { return value_.get(); }
    const T* operator->() const noexcept { return value_.get(); }
    void reset() noexcept { value_.reset(); }
    std::optional<T> to_optional() const {
        return value_ ? std::optional<T>(*value_) : std::nullopt;
    }

  private:
    std::unique_ptr<T> value_;
};

}  // namespace rmqtt::broker
