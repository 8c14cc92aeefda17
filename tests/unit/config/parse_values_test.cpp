// parse_duration / parse_duration_us / parse_size: the value forms RMQTT files use.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "rmqtt/broker/config.hpp"

namespace {

using namespace std::chrono_literals;
using rmqtt::broker::parse_duration;
using rmqtt::broker::parse_duration_us;
using rmqtt::broker::parse_size;

struct duration_case {
    const char* text;
    std::optional<std::chrono::milliseconds> expected;
};

TEST(config_parse_duration, AcceptsRmqttForms) {
    const duration_case cases[] = {
        {"30s", 30s},      {"2h", 2h},      {"5m", 5min}, {"100ms", 100ms}, {"1h30m", 90min},
        {"1h 30m", 90min}, {"1d", 24h},     {"0", 0ms},   {"0s", 0ms},      {"0h", 0ms},
        {"0m", 0ms},       {"15", 15s},  // a bare number means seconds
        {" 20s ", 20s},    {"600s", 10min}, {"2S", 2s},   {"1000us", 1ms},  {"1s500ms", 1500ms},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(parse_duration(c.text), c.expected) << c.text;
    }
}

TEST(config_parse_duration, RejectsWhatIsNotADuration) {
    for (const char* text : {"", " ", "s", "-1s", "1.5s", "30 seconds", "1x", "abc", "1h30",
                             "99999999999999999999s", "9999999999999999d", "1s-", "u32::MAX"}) {
        EXPECT_EQ(parse_duration(text), std::nullopt) << text;
    }
}

TEST(config_parse_duration, SubMillisecondOnlyThroughTheMicrosecondParser) {
    EXPECT_EQ(parse_duration("500us"), std::nullopt);  // not a whole number of ms
    EXPECT_EQ(parse_duration("1500us"), std::nullopt);
    EXPECT_EQ(parse_duration_us("500us"), 500us);
    EXPECT_EQ(parse_duration_us("1ms"), 1000us);
    EXPECT_EQ(parse_duration_us("2s"), 2'000'000us);
    EXPECT_EQ(parse_duration_us("1ms250us"), 1250us);
    EXPECT_EQ(parse_duration_us("0"), 0us);
    EXPECT_EQ(parse_duration_us("1.5ms"), std::nullopt);
}

struct size_case {
    const char* text;
    std::optional<std::uint64_t> expected;
};

TEST(config_parse_size, AcceptsRmqttForms) {
    const size_case cases[] = {
        {"1MB", 1048576},
        {"1mb", 1048576},
        {"1m", 1048576},  // RMQTT's shipped max_packet_size = "1m"
        {"1M", 1048576},
        {"3G", 3ULL << 30},
        {"3gb", 3ULL << 30},
        {"512KB", 512 * 1024},
        {"512k", 512 * 1024},
        {"1024", 1024},
        {"0", 0},
        {"10B", 10},
        {"10b", 10},
        {"1 MB", 1048576},
        {"64MiB", 64ULL << 20},
        {" 2K ", 2048},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(parse_size(c.text), c.expected) << c.text;
    }
}

TEST(config_parse_size, RejectsWhatIsNotASize) {
    for (const char* text : {"", "MB", "1 megabyte", "-1", "1.5MB", "1TB", "1 M B", "0x10",
                             "99999999999999999999", "99999999999G", "1MBB"}) {
        EXPECT_EQ(parse_size(text), std::nullopt) << text;
    }
}

}  // namespace
