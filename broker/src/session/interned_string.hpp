#pragma once

#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

namespace rmqtt::broker {

// A string from a small set that many objects repeat (a listener's id: "tcp.external"), kept
// once for the process's life: 8 bytes in each object instead of a std::string's 32. Interning
// takes a global lock; the set only grows (listener ids from the configuration and the store).
class interned_string {
  public:
    interned_string() noexcept : s_(&empty_string()) {}
    explicit interned_string(std::string_view s) : s_(&intern(s)) {}
    interned_string& operator=(std::string_view s) {
        s_ = &intern(s);
        return *this;
    }

    const std::string& str() const noexcept { return *s_; }
    operator const std::string&() const noexcept { return *s_; }
    bool empty() const noexcept { return s_->empty(); }
    friend bool operator==(const interned_string& a, std::string_view b) noexcept {
        return a.str() == b;
    }

    // The interned copy of `s`: its address stays valid until the process ends.
    static const std::string& intern(std::string_view s) {
        if (s.empty()) return empty_string();
        static std::mutex mutex;
        static std::unordered_set<std::string>* set = new std::unordered_set<std::string>;
        std::lock_guard lock(mutex);
        return *set->emplace(s).first;
    }

  private:
    static const std::string& empty_string() noexcept {
        static const std::string* e = new std::string;
        return *e;
    }
    const std::string* s_;
};

}  // namespace rmqtt::broker
