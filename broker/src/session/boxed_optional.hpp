#pragma once

#include <memory>
#include <optional>
#include <utility>

namespace rmqtt::broker {

// A std::optional kept on the heap while it holds a value: one pointer, where an inline
// std::optional<std::string> takes 40 bytes. Unlike heap_optional it hands out a
// `const std::optional<T>&` (a shared empty one while unset), for APIs that point at one
// (client_info::username). A value assigned over a value is assigned in place, so a reference
// taken while set stays valid until it is reset.
template <typename T>
class boxed_optional {
  public:
    boxed_optional() = default;
    boxed_optional(const boxed_optional& o) { *this = o.get(); }
    boxed_optional& operator=(const boxed_optional& o) {
        if (this != &o) *this = o.get();
        return *this;
    }

    boxed_optional& operator=(const std::optional<T>& v) { return assign(v); }
    boxed_optional& operator=(std::optional<T>&& v) { return assign(std::move(v)); }

    const std::optional<T>& get() const noexcept { return box_ ? *box_ : none(); }
    operator const std::optional<T>&() const noexcept { return get(); }

  private:
    template <typename V>
    boxed_optional& assign(V&& v) {
        if (!v) {
            box_.reset();
        } else if (box_) {
            *box_ = std::forward<V>(v);
        } else {
            box_ = std::make_unique<std::optional<T>>(std::forward<V>(v));
        }
        return *this;
    }
    static const std::optional<T>& none() noexcept {
        static const std::optional<T>* empty = new std::optional<T>;  // never destroyed
        return *empty;
    }
    std::unique_ptr<std::optional<T>> box_;
};

}  // namespace rmqtt::broker
