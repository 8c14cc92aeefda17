// to_string for the protocol enums and the 5.0 -> 3.x CONNACK code mapping.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "rmqtt/protocol/types.hpp"

namespace rmqtt::protocol {
namespace {

TEST(Names, PacketTypes) {
    EXPECT_EQ(to_string(packet_type::connect), "CONNECT");
    EXPECT_EQ(to_string(packet_type::pubrel), "PUBREL");
    EXPECT_EQ(to_string(packet_type::auth), "AUTH");
    std::set<std::string> seen;
    for (int t = 1; t <= 15; ++t)
        seen.emplace(to_string(static_cast<packet_type>(t)));
    EXPECT_EQ(seen.size(), 15u);
    EXPECT_EQ(to_string(static_cast<packet_type>(0)), "reserved");
}

TEST(Names, ReasonCodes) {
    EXPECT_EQ(to_string(reason_code::success), "Success");
    EXPECT_EQ(to_string(reason_code::malformed_packet), "Malformed Packet");
    EXPECT_EQ(to_string(reason_code::protocol_error), "Protocol Error");
    EXPECT_EQ(to_string(reason_code::wildcard_subscriptions_not_supported),
              "Wildcard Subscriptions not supported");
    EXPECT_EQ(to_string(static_cast<reason_code>(0x42)), "unknown reason code");
}

TEST(Names, Versions) {
    EXPECT_EQ(to_string(version::v3_1), "3.1");
    EXPECT_EQ(to_string(version::v3_1_1), "3.1.1");
    EXPECT_EQ(to_string(version::v5), "5.0");
}

TEST(Names, V3ConnackMapping) {
    EXPECT_EQ(to_v3_connack(reason_code::success), connect_return_code::accepted);
    EXPECT_EQ(to_v3_connack(reason_code::unsupported_protocol_version),
              connect_return_code::unacceptable_protocol_version);
    EXPECT_EQ(to_v3_connack(reason_code::client_identifier_not_valid),
              connect_return_code::identifier_rejected);
    EXPECT_EQ(to_v3_connack(reason_code::server_unavailable),
              connect_return_code::server_unavailable);
    EXPECT_EQ(to_v3_connack(reason_code::server_busy), connect_return_code::server_unavailable);
    EXPECT_EQ(to_v3_connack(reason_code::bad_user_name_or_password),
              connect_return_code::bad_user_name_or_password);
    EXPECT_EQ(to_v3_connack(reason_code::not_authorized), connect_return_code::not_authorized);
    EXPECT_EQ(to_v3_connack(reason_code::banned), connect_return_code::not_authorized);
    EXPECT_TRUE(is_error(reason_code::unspecified_error));
    EXPECT_FALSE(is_error(reason_code::granted_qos2));
}

}  // namespace
}  // namespace rmqtt::protocol
