// rmqtt-acl's stored passwords: plain, bcrypt and PBKDF2-SHA256, wrong passwords, and the work
// an unknown user's check costs. The hashes here were made outside rmqttd: bcrypt with
// Python's crypt module (libxcrypt), PBKDF2 with the recipe in docs/configuration.md.
#include <gtest/gtest.h>

#include <string>

#include "acl/acl_password.hpp"

namespace rmqtt::test {
namespace {

using rmqtt::plugins::acl::credential;
using rmqtt::plugins::acl::hash_computations;
using rmqtt::plugins::acl::pbkdf2_sha256_hash;

// "bcrypt-pw", cost 4 and 5.
constexpr const char* bcrypt4 = "$2b$04$X0ufRAfbHLyWbll82ErDZ.psE1eBJPu12dGFGdPK.CKKYuuNG7Sxm";
constexpr const char* bcrypt5 = "$2b$05$NGeq9c0HzmFfJKuew482YePvL97V2JtX/TpAhE9AlNi0KtpiBxg5e";
// "secret-pw", salt "0123456789abcdef", 1000 iterations.
constexpr const char* pbkdf2 =
    "$pbkdf2-sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg$6mx4nMAd4kFBUQL4oxExRJQRxORsSH.cbg93E0FJg9w";

credential parse(const std::string& text) {
    std::string error;
    auto c = credential::parse(text, error);
    EXPECT_TRUE(c) << error;
    return c ? std::move(*c) : *credential::parse("x", error);
}

TEST(acl_password, PlainPasswords) {
    const auto c = parse("open sesame");
    EXPECT_EQ(c.type(), credential::kind::plain);
    EXPECT_FALSE(c.hashed());
    EXPECT_TRUE(c.verify("open sesame"));
    EXPECT_FALSE(c.verify("open sesame "));
    EXPECT_FALSE(c.verify("open"));
    EXPECT_FALSE(c.verify(""));
    EXPECT_FALSE(c.verify(std::string("open sesame\0", 12)));
}

TEST(acl_password, Bcrypt) {
    for (const char* h : {bcrypt4, bcrypt5}) {
        const auto c = parse(h);
        EXPECT_EQ(c.type(), credential::kind::bcrypt);
        EXPECT_TRUE(c.hashed());
        const auto before = hash_computations();
        EXPECT_TRUE(c.verify("bcrypt-pw")) << h;
        EXPECT_FALSE(c.verify("bcrypt-pW")) << h;
        EXPECT_FALSE(c.verify("")) << h;
        // crypt() stops at a NUL: such a password never matches.
        EXPECT_FALSE(c.verify(std::string("bcrypt-pw\0x", 11))) << h;
        EXPECT_EQ(hash_computations() - before, 4u) << "every check computes the hash";
    }
    // $2a$ and $2y$ are the same algorithm for these passwords.
    std::string y = bcrypt4;
    y[2] = 'y';
    EXPECT_TRUE(parse(y).verify("bcrypt-pw"));
}

TEST(acl_password, Pbkdf2Sha256) {
    const auto c = parse(pbkdf2);
    EXPECT_EQ(c.type(), credential::kind::pbkdf2_sha256);
    EXPECT_TRUE(c.verify("secret-pw"));
    EXPECT_FALSE(c.verify("secret-pw2"));
    EXPECT_FALSE(c.verify(""));
    // Our own encoder gives the same text as the independent recipe.
    EXPECT_EQ(pbkdf2_sha256_hash("secret-pw", "0123456789abcdef", 1000), pbkdf2);
    // Standard base64 ('+', '=' padding) is read too.
    const std::string made = pbkdf2_sha256_hash("p+w", std::string("\xfb\xff\xfe", 3), 1200);
    std::string standard = made;
    for (auto& ch : standard)
        if (ch == '.') ch = '+';
    EXPECT_TRUE(parse(made).verify("p+w"));
    EXPECT_TRUE(parse(standard).verify("p+w"));
    EXPECT_TRUE(parse(pbkdf2_sha256_hash("x", "salt", 1000, 64)).verify("x")) << "64-byte hash";
}

TEST(acl_password, MalformedHashesAreRefused) {
    for (const char* bad : {
             "$2b$10$short",
             "$2b$03$X0ufRAfbHLyWbll82ErDZ.psE1eBJPu12dGFGdPK.CKKYuuNG7Sxm",  // cost 3
             "$2b$04$X0ufRAfbHLyWbll82ErDZ.psE1eBJPu12dGFGdPK.CKKYuuNG7Sx!",
             "$2b$4$X0ufRAfbHLyWbll82ErDZ.psE1eBJPu12dGFGdPK.CKKYuuNG7Sxmm",
             "$pbkdf2-sha256$999$MDEyMzQ1Njc4OWFiY2RlZg$6mx4nMAd4kFBUQL4oxExRJQRxORsSH."
             "cbg93E0FJg9w",
             "$pbkdf2-sha256$x$MDEy$6mx4nMAd4kFBUQL4oxExRJQRxORsSH.cbg93E0FJg9w",
             "$pbkdf2-sha256$1000$$6mx4nMAd4kFBUQL4oxExRJQRxORsSH.cbg93E0FJg9w",
             "$pbkdf2-sha256$1000$MDEy$6mx4",
             "$pbkdf2-sha256$1000$MDEy",
             "$pbkdf2-sha256$1000$MDEy$6mx4nMAd4kFBUQL4oxExRJQRxORsSH.cbg93E0FJg9w$x",
             "$pbkdf2-sha256$1000$M*Ey$6mx4nMAd4kFBUQL4oxExRJQRxORsSH.cbg93E0FJg9w",
         }) {
        std::string error;
        EXPECT_FALSE(credential::parse(bad, error)) << bad;
        EXPECT_FALSE(error.empty()) << bad;
        EXPECT_EQ(error.find(bad), std::string::npos) << "the value is not quoted";
    }
    // Other '$' forms are plain passwords, as RMQTT has them.
    std::string error;
    auto other = credential::parse("$1$abc", error);
    ASSERT_TRUE(other);
    EXPECT_EQ(other->type(), credential::kind::plain);
}

// A stand-in of the same kind and cost that nothing matches: an unknown user's check costs one
// computation of the same hash.
TEST(acl_password, DummyCostsTheSameAndNeverMatches) {
    for (const char* h : {bcrypt4, pbkdf2}) {
        const auto c = parse(h);
        const auto d = c.dummy();
        EXPECT_EQ(d.type(), c.type());
        const auto before = hash_computations();
        EXPECT_FALSE(d.verify("bcrypt-pw"));
        EXPECT_FALSE(d.verify("secret-pw"));
        EXPECT_EQ(hash_computations() - before, 2u);
    }
}

TEST(acl_password, ProofsNameTheStoredPasswordWithoutRevealingIt) {
    const auto a = parse("pw-a");
    const auto b = parse("pw-b");
    EXPECT_NE(a.proof(), b.proof());
    EXPECT_EQ(a.proof(), parse("pw-a").proof()) << "stable across reloads";
    EXPECT_TRUE(a.proof().starts_with("rmqtt-acl:"));
    EXPECT_EQ(a.proof().find("pw-a"), std::string::npos);
    EXPECT_EQ(parse(bcrypt4).proof(), parse(bcrypt4).proof());
}

}  // namespace
}  // namespace rmqtt::test
