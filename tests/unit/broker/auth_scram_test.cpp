// rmqtt-auth-scram: the SCRAM-SHA-256 maths (RFC 5802, RFC 7677), the server side of the
// exchange as the broker drives it (auth_exchange::on_data), the user store, the plugin's
// registration on the hook bus and its configuration file as load_config reads it.
#include "auth_scram/auth_scram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../config/config_test_util.hpp"
#include "builtin.hpp"
#include "rmqtt/broker/config.hpp"
#include "rmqtt/broker/hooks.hpp"

namespace {

namespace scram = rmqtt::plugins::auth_scram;
using rmqtt::broker::auth_exchange;
using rmqtt::broker::client_info;
using rmqtt::broker::hook_bus;
using rmqtt::broker::hook_result;
using rmqtt::plugins::auth_scram_config;
using rmqtt::protocol::reason_code;
using outcome = auth_exchange::step::outcome;

// RFC 7677 section 3: user "user", password "pencil".
constexpr const char* rfc_salt = "W22ZaJ0SNY7soEsUEjb6gQ==";
constexpr const char* rfc_client_first = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr const char* rfc_server_nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr const char* rfc_server_first =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr const char* rfc_client_final =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
    "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr const char* rfc_server_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
// Computed independently (Python hashlib) from the RFC's password, salt and count.
constexpr const char* rfc_salted_password = "xKSVEDI6tPlSysH6mUQZOeeOp01r6B3fcJbodRPcYV0=";
constexpr const char* rfc_stored_key = "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=";
constexpr const char* rfc_server_key = "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";

std::string decode(const std::string& b64) {
    auto d = scram::base64_decode(b64);
    EXPECT_TRUE(d.has_value()) << b64;
    return d.value_or("");
}

// The client side of SCRAM-SHA-256, written from RFC 5802 section 3 for these tests.
struct scram_client {
    scram_client(std::string u, std::string p) : user(std::move(u)), password(std::move(p)) {}

    std::string user;
    std::string password;
    std::string client_nonce = "fyko+d2lbbFgONRv9qkxdawL";
    std::string gs2 = "n,,";
    std::string first_bare;
    std::string auth_message;
    std::string salted;

    std::string first() {
        first_bare = "n=" + scram::escape_username(user) + ",r=" + client_nonce;
        return gs2 + first_bare;
    }
    // Fields of server-first-message: r, s (decoded), i.
    struct server_first_fields {
        std::string nonce;
        std::string salt;
        std::uint32_t iterations = 0;
    };
    static std::optional<server_first_fields> parse(const std::string& m) {
        const auto s_at = m.find(",s=");
        const auto i_at = m.find(",i=");
        if (m.rfind("r=", 0) != 0 || s_at == std::string::npos || i_at == std::string::npos ||
            i_at < s_at) {
            return std::nullopt;
        }
        server_first_fields f;
        f.nonce = m.substr(2, s_at - 2);
        auto salt = scram::base64_decode(m.substr(s_at + 3, i_at - s_at - 3));
        if (!salt) return std::nullopt;
        f.salt = *salt;
        f.iterations = static_cast<std::uint32_t>(std::stoul(m.substr(i_at + 3)));
        return f;
    }
    std::string final_without_proof(const std::string& nonce) const {
        return "c=" + scram::base64_encode(gs2) + ",r=" + nonce;
    }
    std::string final_message(const std::string& server_first) {
        auto f = parse(server_first);
        if (!f) {
            ADD_FAILURE() << "bad server-first-message: " << server_first;
            return {};
        }
        EXPECT_EQ(f->nonce.rfind(client_nonce, 0), 0u) << "server nonce must extend ours";
        salted = scram::salted_password(password, f->salt, f->iterations);
        const std::string without_proof = final_without_proof(f->nonce);
        auth_message = first_bare + "," + server_first + "," + without_proof;
        const std::string client_key = scram::hmac_sha256(salted, "Client Key");
        const std::string signature = scram::hmac_sha256(scram::sha256(client_key), auth_message);
        std::string proof = client_key;
        for (std::size_t i = 0; i < proof.size(); ++i)
            proof[i] = static_cast<char>(proof[i] ^ signature[i]);
        return without_proof + ",p=" + scram::base64_encode(proof);
    }
    bool verify(const std::string& server_final) const {
        const std::string server_key = scram::hmac_sha256(salted, "Server Key");
        return server_final ==
               "v=" + scram::base64_encode(scram::hmac_sha256(server_key, auth_message));
    }
};

auth_scram_config::user password_user(std::string name, std::string password) {
    auth_scram_config::user u;
    u.username = std::move(name);
    u.password = std::move(password);
    return u;
}

auth_scram_config::user rfc_user() {
    auth_scram_config::user u;
    u.username = "user";
    u.salt = rfc_salt;
    u.iterations = 4096;
    u.stored_key = rfc_stored_key;
    u.server_key = rfc_server_key;
    return u;
}

auth_scram_config test_config() {
    auth_scram_config cfg;
    cfg.users.push_back(rfc_user());
    cfg.users.push_back(password_user("alice", "wonderland"));
    cfg.users.push_back(password_user("a,b=c", "escaped"));
    return cfg;
}

class scram_exchange : public ::testing::Test {
  protected:
    explicit scram_exchange(scram::scram_method::options o = {})
        : users_(std::make_shared<const scram::user_store>(test_config())),
          method_(users_, std::move(o)) {}

    std::unique_ptr<auth_exchange> start(const std::optional<std::string>* username = nullptr) {
        client_info ci;
        ci.client_id = "c1";
        ci.username = username;
        ci.version = rmqtt::protocol::version::v5;
        return method_.start(ci);
    }

    // A whole exchange for `client`; returns the final step.
    auth_exchange::step run(scram_client& client,
                            const std::optional<std::string>* connect_username = nullptr) {
        auto ex = start(connect_username);
        auto first = ex->on_data(client.first());
        EXPECT_EQ(first.result, outcome::continue_authentication);
        if (first.result != outcome::continue_authentication) return first;
        return ex->on_data(client.final_message(first.data));
    }

    // An exchange that has answered a valid client-first for alice.
    std::unique_ptr<auth_exchange> after_first(scram_client& client, std::string& server_first) {
        auto ex = start();
        auto s = ex->on_data(client.first());
        EXPECT_EQ(s.result, outcome::continue_authentication);
        server_first = s.data;
        return ex;
    }

    std::shared_ptr<const scram::user_store> users_;
    scram::scram_method method_;
};

class scram_rfc_exchange : public scram_exchange {
  protected:
    scram_rfc_exchange() : scram_exchange(pinned()) {}
    static scram::scram_method::options pinned() {
        scram::scram_method::options o;
        o.nonce = [] { return std::string(rfc_server_nonce); };
        return o;
    }
};

// ---- maths --------------------------------------------------------------------------------------

TEST(scram_maths, Rfc7677KeysFromThePassword) {
    const std::string salt = decode(rfc_salt);
    EXPECT_EQ(scram::base64_encode(scram::salted_password("pencil", salt, 4096)),
              rfc_salted_password);
    const auto c = scram::derive_credentials("pencil", salt, 4096);
    EXPECT_EQ(c.salt, salt);
    EXPECT_EQ(c.iterations, 4096u);
    EXPECT_EQ(scram::base64_encode(c.stored_key), rfc_stored_key);
    EXPECT_EQ(scram::base64_encode(c.server_key), rfc_server_key);
    // A different password or count gives different keys.
    EXPECT_NE(scram::derive_credentials("pencil2", salt, 4096).stored_key, c.stored_key);
    EXPECT_NE(scram::derive_credentials("pencil", salt, 4097).stored_key, c.stored_key);
}

TEST(scram_maths, Sha256AndHmacKnownAnswers) {
    // FIPS 180-2 "abc"; RFC 4231 test case 2.
    EXPECT_EQ(scram::base64_encode(scram::sha256("abc")),
              "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
    EXPECT_EQ(scram::base64_encode(scram::hmac_sha256("Jefe", "what do ya want for nothing?")),
              "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=");
}

TEST(scram_maths, Base64IsStrict) {
    for (const std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
        const auto e = scram::base64_encode(s);
        EXPECT_EQ(e.size() % 4, 0u);
        EXPECT_EQ(scram::base64_decode(e), s) << e;
    }
    EXPECT_EQ(scram::base64_encode("foobar"), "Zm9vYmFy");
    EXPECT_EQ(scram::base64_encode("fo"), "Zm8=");
    for (const char* bad : {"Zg=", "Zm9", "Z===", "Zm9v\n", " Zm9v", "Zm9*", "Zm=v", "=Zm9",
                            "Zm9vY", "Zm9v-_==", "biws,"}) {
        EXPECT_FALSE(scram::base64_decode(bad).has_value()) << bad;
    }
}

TEST(scram_maths, UsernameEscapingRfc5802) {
    EXPECT_EQ(scram::escape_username("a,b=c"), "a=2Cb=3Dc");
    EXPECT_EQ(scram::escape_username("plain"), "plain");
    EXPECT_EQ(scram::unescape_username("a=2Cb=3Dc"), "a,b=c");
    EXPECT_EQ(scram::unescape_username("=3D=3D"), "==");
    for (const char* bad : {"=", "a=", "=2", "=2c", "=3d", "=41", "a,b", "=2D"}) {
        EXPECT_FALSE(scram::unescape_username(bad).has_value()) << bad;
    }
    EXPECT_FALSE(scram::unescape_username(std::string("a\0b", 3)).has_value());
}

TEST(scram_maths, EqualSecretComparesLengthAndBytes) {
    EXPECT_TRUE(scram::equal_secret("abc", "abc"));
    EXPECT_FALSE(scram::equal_secret("abc", "abd"));
    EXPECT_FALSE(scram::equal_secret("abc", "abcd"));
}

// ---- the exchange -------------------------------------------------------------------------------

TEST_F(scram_rfc_exchange, Rfc7677TestVector) {
    auto ex = start();
    auto first = ex->on_data(rfc_client_first);
    ASSERT_EQ(first.result, outcome::continue_authentication);
    EXPECT_EQ(first.data, rfc_server_first);
    auto fin = ex->on_data(rfc_client_final);
    ASSERT_EQ(fin.result, outcome::success);
    EXPECT_EQ(fin.data, rfc_server_final);
    EXPECT_EQ(fin.username, "user");
}

TEST_F(scram_rfc_exchange, Rfc7677VectorWithATamperedProofFails) {
    auto ex = start();
    ASSERT_EQ(ex->on_data(rfc_client_first).result, outcome::continue_authentication);
    std::string final_msg = rfc_client_final;
    final_msg[final_msg.size() - 3] = final_msg[final_msg.size() - 3] == 'A' ? 'B' : 'A';
    auto fin = ex->on_data(final_msg);
    EXPECT_EQ(fin.result, outcome::failure);
    EXPECT_EQ(fin.failure_code, reason_code::bad_user_name_or_password);
    EXPECT_TRUE(fin.data.empty());
}

TEST_F(scram_exchange, FullExchangeWithAPasswordUser) {
    scram_client client{"alice", "wonderland"};
    auto ex = start();
    auto first = ex->on_data(client.first());
    ASSERT_EQ(first.result, outcome::continue_authentication);
    const auto f = scram_client::parse(first.data);
    ASSERT_TRUE(f.has_value()) << first.data;
    EXPECT_GT(f->nonce.size(), client.client_nonce.size());  // a server part was added
    EXPECT_EQ(f->salt.size(), 16u);
    EXPECT_EQ(f->iterations, 4096u);
    auto fin = ex->on_data(client.final_message(first.data));
    ASSERT_EQ(fin.result, outcome::success);
    EXPECT_TRUE(client.verify(fin.data)) << fin.data;  // the server knows the keys too
    EXPECT_EQ(fin.username, "alice");
    // The exchange is over: more data fails.
    EXPECT_EQ(ex->on_data(client.first()).result, outcome::failure);
}

TEST_F(scram_exchange, ServerNoncesDifferBetweenExchanges) {
    scram_client client{"alice", "wonderland"};
    auto a = start()->on_data(client.first());
    auto b = start()->on_data(client.first());
    ASSERT_EQ(a.result, outcome::continue_authentication);
    ASSERT_EQ(b.result, outcome::continue_authentication);
    EXPECT_NE(scram_client::parse(a.data)->nonce, scram_client::parse(b.data)->nonce);
}

TEST_F(scram_exchange, WrongPasswordFailsWithBadUserNameOrPassword) {
    scram_client client{"alice", "looking-glass"};
    auto fin = run(client);
    EXPECT_EQ(fin.result, outcome::failure);
    EXPECT_EQ(fin.failure_code, reason_code::bad_user_name_or_password);
    EXPECT_TRUE(fin.username.empty());
}

TEST_F(scram_exchange, UnknownUserLooksLikeAWrongPassword) {
    // RFC 5802 section 9: the server answers with a plausible salt and count, and fails at the
    // proof with the same code as for a wrong password.
    scram_client client{"mallory", "anything"};
    auto ex = start();
    auto first = ex->on_data(client.first());
    ASSERT_EQ(first.result, outcome::continue_authentication);
    const auto f = scram_client::parse(first.data);
    ASSERT_TRUE(f.has_value()) << first.data;
    EXPECT_EQ(f->salt.size(), 16u);
    EXPECT_EQ(f->iterations, 4096u);
    auto fin = ex->on_data(client.final_message(first.data));
    EXPECT_EQ(fin.result, outcome::failure);
    EXPECT_EQ(fin.failure_code, reason_code::bad_user_name_or_password);

    // The fake salt is stable per name (asking twice does not reveal the user is unknown) and
    // differs between names.
    auto again = scram_client::parse(start()->on_data(client.first()).data);
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->salt, f->salt);
    scram_client other{"trent", "x"};
    auto other_first = scram_client::parse(start()->on_data(other.first()).data);
    ASSERT_TRUE(other_first.has_value());
    EXPECT_NE(other_first->salt, f->salt);
    // A real user's salt is stable too.
    scram_client alice{"alice", "x"};
    EXPECT_EQ(scram_client::parse(start()->on_data(alice.first()).data)->salt,
              scram_client::parse(start()->on_data(alice.first()).data)->salt);
}

TEST(scram_fake_iterations, FakeIterationsFollowTheConfiguredDefault) {
    auth_scram_config cfg = test_config();
    cfg.iterations = 8192;
    scram::scram_method::options o;
    o.fake_iterations = cfg.iterations;
    scram::scram_method m(std::make_shared<const scram::user_store>(cfg), o);
    scram_client client{"nobody", "x"};
    client_info ci;
    auto f = scram_client::parse(m.start(ci)->on_data(client.first()).data);
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(f->iterations, 8192u);
}

TEST_F(scram_exchange, MalformedClientFirstMessagesFail) {
    const std::vector<std::string> bad = {
        "",                             // nothing
        "n=user,r=abcdef",              // no gs2 header
        ",,n=user,r=abcdef",            // no gs2 cbind flag
        "x,,n=user,r=abcdef",           // unknown cbind flag
        "p=tls-unique,,n=user,r=abcd",  // channel binding requested: not offered (RFC 5802 s6)
        "n,n=user,r=abcdef",            // authzid part missing
        "n,b=x,n=user,r=abcdef",        // authzid without "a="
        "n,a=,n=user,r=abcdef",         // empty authzid
        "n,a=other,n=alice,r=abcdef",   // authorization as another identity
        "n,,m=ext,n=alice,r=abcdef",    // mandatory extension (RFC 5802 section 5.1)
        "n,,n=,r=abcdef",               // empty user name
        "n,,n=ali=ce,r=abcdef",         // '=' not escaped
        "n,,n=ali=2cce,r=abcdef",       // lower-case escape
        "n,,r=abcdef,n=alice",          // attributes out of order
        "n,,n=alice",                   // no nonce
        "n,,n=alice,r=",                // empty nonce
        "n,,n=alice,r=ab cd",           // nonce with a non-printable character
        "n,,n=alice,x=abcdef",          // nonce attribute missing
        "n,,n=alice,r=" + std::string(5000, 'a'),  // oversized
    };
    for (const auto& m : bad) {
        auto s = start()->on_data(m);
        EXPECT_EQ(s.result, outcome::failure) << m;
        EXPECT_EQ(s.failure_code, reason_code::not_authorized) << m;
        EXPECT_TRUE(s.data.empty()) << m;
    }
}

TEST_F(scram_exchange, AcceptedClientFirstVariants) {
    // "y": the client supports channel binding but thinks the server does not (true here);
    // an authzid equal to the user; extensions after the nonce are ignored.
    for (const std::string gs2 : {"y,,", "n,a=alice,"}) {
        scram_client client{"alice", "wonderland"};
        client.gs2 = gs2;
        auto fin = run(client);
        EXPECT_EQ(fin.result, outcome::success) << gs2;
        EXPECT_TRUE(client.verify(fin.data)) << gs2;
    }
    scram_client client{"alice", "wonderland"};
    auto ex = start();
    const std::string first = client.first() + ",x=extension";
    client.first_bare += ",x=extension";
    auto s = ex->on_data(first);
    ASSERT_EQ(s.result, outcome::continue_authentication);
    auto fin = ex->on_data(client.final_message(s.data));
    EXPECT_EQ(fin.result, outcome::success);
}

TEST_F(scram_exchange, MalformedClientFinalMessagesFail) {
    scram_client client{"alice", "wonderland"};
    const auto good_proof_of = [&](const std::string& sf) {
        return client.final_message(sf);  // valid final for that server-first
    };

    struct mutation {
        const char* what;
        std::string (*make)(const std::string& good, const std::string& nonce);
    };
    const std::vector<mutation> mutations = {
        {"proof not base64",
         [](const std::string& g, const std::string&) {
             return g.substr(0, g.rfind(",p=")) + ",p=!!!!";
         }},
        {"proof of the wrong length",
         [](const std::string& g, const std::string&) {
             return g.substr(0, g.rfind(",p=")) + ",p=" + scram::base64_encode("short");
         }},
        {"no proof",
         [](const std::string& g, const std::string&) { return g.substr(0, g.rfind(",p=")); }},
        {"channel binding not base64",
         [](const std::string& g, const std::string&) { return "c=b!ws" + g.substr(6); }},
        {"channel binding of another gs2 header (y,,)",
         [](const std::string& g, const std::string&) { return "c=eSws" + g.substr(6); }},
        {"no channel binding attribute",
         [](const std::string& g, const std::string&) { return g.substr(7); }},
        {"nonce of the client only",
         [](const std::string& g, const std::string& n) {
             std::string out = g;
             const auto at = out.find(",r=") + 3;
             return out.replace(at, n.size(), "fyko+d2lbbFgONRv9qkxdawL");
         }},
        {"nonce with one more character",
         [](const std::string& g, const std::string& n) {
             std::string out = g;
             return out.insert(out.find(",r=") + 3 + n.size(), "x");
         }},
        {"nonce changed",
         [](const std::string& g, const std::string& n) {
             std::string out = g;
             const auto last = out.find(",r=") + 3 + n.size() - 1;
             out[last] = out[last] == 'A' ? 'B' : 'A';
             return out;
         }},
        {"empty", [](const std::string&, const std::string&) { return std::string(); }},
    };
    for (const auto& m : mutations) {
        std::string sf;
        auto ex = after_first(client, sf);
        const auto fields = scram_client::parse(sf);
        ASSERT_TRUE(fields.has_value());
        const std::string msg = m.make(good_proof_of(sf), fields->nonce);
        auto s = ex->on_data(msg);
        EXPECT_EQ(s.result, outcome::failure) << m.what << ": " << msg;
        EXPECT_EQ(s.failure_code, reason_code::not_authorized) << m.what;
        EXPECT_TRUE(s.username.empty()) << m.what;
    }
    // And the unmodified message does succeed, so the failures above come from the mutations.
    std::string sf;
    auto ex = after_first(client, sf);
    EXPECT_EQ(ex->on_data(good_proof_of(sf)).result, outcome::success);
}

TEST_F(scram_exchange, EscapedUsernameIsUnescapedBeforeTheLookup) {
    scram_client client{"a,b=c", "escaped"};
    EXPECT_EQ(client.first(), "n,,n=a=2Cb=3Dc,r=" + client.client_nonce);
    auto fin = run(client);
    ASSERT_EQ(fin.result, outcome::success);
    EXPECT_EQ(fin.username, "a,b=c");
    EXPECT_TRUE(client.verify(fin.data));

    // Sent without escaping, the name does not parse (',' ends it; a bare '=' is invalid).
    auto s = start()->on_data("n,,n=a,b=c,r=abcdef");
    EXPECT_EQ(s.result, outcome::failure);
}

TEST_F(scram_exchange, ConnectUserNameMustBeTheScramUser) {
    const std::optional<std::string> alice = "alice";
    const std::optional<std::string> bob = "bob";
    const std::optional<std::string> none;
    scram_client c1{"alice", "wonderland"};
    EXPECT_EQ(run(c1, &alice).result, outcome::success);
    scram_client c2{"alice", "wonderland"};
    EXPECT_EQ(run(c2, &none).result, outcome::success);
    // Another name in CONNECT (or, on re-authentication, the connection's user): the exchange
    // runs on but fails at the proof, like a wrong password.
    scram_client c3{"alice", "wonderland"};
    auto fin = run(c3, &bob);
    EXPECT_EQ(fin.result, outcome::failure);
    EXPECT_EQ(fin.failure_code, reason_code::bad_user_name_or_password);
}

TEST_F(scram_exchange, ReauthenticationStartsAFreshExchangeOnTheSameMethod) {
    // MQTT 5.0 section 4.12.1: AUTH 0x19 starts the method again on the same connection.
    const std::optional<std::string> alice = "alice";
    for (int i = 0; i < 3; ++i) {
        scram_client client{"alice", "wonderland"};
        client.client_nonce += std::to_string(i);
        auto fin = run(client, &alice);
        EXPECT_EQ(fin.result, outcome::success) << i;
        EXPECT_TRUE(client.verify(fin.data)) << i;
    }
    scram_client wrong{"alice", "bad"};
    EXPECT_EQ(run(wrong, &alice).result, outcome::failure);
}

TEST_F(scram_exchange, AFailedExchangeStaysFailed) {
    scram_client client{"alice", "wonderland"};
    auto ex = start();
    EXPECT_EQ(ex->on_data("garbage").result, outcome::failure);
    // The valid client-first that follows does not restart it.
    EXPECT_EQ(ex->on_data(client.first()).result, outcome::failure);
}

// ---- users --------------------------------------------------------------------------------------

TEST(scram_users, StoreFromConfig) {
    const auto cfg = test_config();
    const scram::user_store a(cfg);
    const scram::user_store b(cfg);
    ASSERT_EQ(a.size(), 3u);
    // Stored form: taken as given.
    const auto* user = a.find("user");
    ASSERT_NE(user, nullptr);
    EXPECT_EQ(scram::base64_encode(user->salt), rfc_salt);
    EXPECT_EQ(scram::base64_encode(user->stored_key), rfc_stored_key);
    EXPECT_EQ(scram::base64_encode(user->server_key), rfc_server_key);
    // Password form: a random salt per load, keys that match the password.
    const auto* alice_a = a.find("alice");
    const auto* alice_b = b.find("alice");
    ASSERT_NE(alice_a, nullptr);
    ASSERT_NE(alice_b, nullptr);
    EXPECT_EQ(alice_a->salt.size(), 16u);
    EXPECT_NE(alice_a->salt, alice_b->salt);
    EXPECT_EQ(alice_a->iterations, 4096u);
    EXPECT_EQ(alice_a->stored_key,
              scram::derive_credentials("wonderland", alice_a->salt, 4096).stored_key);
    EXPECT_EQ(a.find("nobody"), nullptr);
}

TEST(scram_users, InvalidStoredFormThrows) {
    auth_scram_config cfg;
    cfg.users.push_back(rfc_user());
    cfg.users.back().stored_key = "c2hvcnQ=";  // 5 bytes
    EXPECT_THROW(scram::user_store{cfg}, std::invalid_argument);
}

TEST(scram_users, CheckPassword) {
    const scram::user_store users(test_config());
    EXPECT_TRUE(users.check_password("user", "pencil"));
    EXPECT_TRUE(users.check_password("alice", "wonderland"));
    EXPECT_FALSE(users.check_password("alice", "Wonderland"));
    EXPECT_FALSE(users.check_password("alice", ""));
    EXPECT_FALSE(users.check_password("nobody", "wonderland"));
}

// ---- registration -------------------------------------------------------------------------------

TEST(scram_plugin, IsInThePluginListAndRegistersTheMethod) {
    const auto known = rmqtt::plugins::builtin_plugins();
    const auto it = std::find_if(known.begin(), known.end(),
                                 [](const auto& p) { return p.name == "rmqtt-auth-scram"; });
    ASSERT_NE(it, known.end());
    EXPECT_TRUE(it->make != nullptr);

    hook_bus bus;
    EXPECT_EQ(bus.find_auth_method("SCRAM-SHA-256"), nullptr);
    auto m = scram::register_plugin(bus, test_config());
    EXPECT_EQ(bus.find_auth_method("SCRAM-SHA-256"), m.get());
    EXPECT_EQ(bus.find_auth_method("SCRAM-SHA-1"), nullptr);

    // Without allow_plain_password_connect, CONNECT passwords are not judged.
    const std::optional<std::string> alice = "alice";
    client_info ci;
    ci.username = &alice;
    EXPECT_EQ(bus.authenticate(ci, std::optional<std::string>("wrong")), hook_result::next);
}

TEST(scram_plugin, PlainPasswordConnectChecksTheSameUsers) {
    auto cfg = test_config();
    cfg.allow_plain_password_connect = true;
    hook_bus bus;
    (void)scram::register_plugin(bus, cfg);
    const auto verdict = [&](std::optional<std::string> user, std::optional<std::string> pw) {
        client_info ci;
        ci.username = &user;
        return bus.authenticate(ci, pw);
    };
    EXPECT_EQ(verdict("alice", "wonderland"), hook_result::allow);
    EXPECT_EQ(verdict("user", "pencil"), hook_result::allow);  // stored form
    EXPECT_EQ(verdict("alice", "wrong"), hook_result::deny);
    EXPECT_EQ(verdict("alice", std::nullopt), hook_result::deny);
    EXPECT_EQ(verdict("nobody", "wonderland"), hook_result::deny);
    EXPECT_EQ(verdict(std::nullopt, std::nullopt), hook_result::next);  // listener decides
}

// ---- configuration file -------------------------------------------------------------------------
// Through load_config, up to the user store the plugin builds (the file's own rules:
// tests/unit/plugins/auth_scram_config_test.cpp).

using rmqtt::test::config_tree;

TEST(scram_config, BothUserFormsAndOptions) {
    config_tree t("plugins.default_startups = [\"rmqtt-auth-scram\"]\n", {{"rmqtt-auth-scram", R"(
iterations = 5000
allow_plain_password_connect = true

[[users]]
username = "alice"
password = "wonderland"

[[users]]
username = "bob"
password = "builder"
iterations = 6000

[[users]]
username = "user"
salt = "W22ZaJ0SNY7soEsUEjb6gQ=="
iterations = 4096
stored_key = "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
server_key = "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
)"}});
    const auto cfg = t.load();
    EXPECT_TRUE(cfg.plugin_enabled("rmqtt-auth-scram"));
    const auto& s = cfg.auth_scram;
    EXPECT_EQ(s.iterations, 5000u);
    EXPECT_TRUE(s.allow_plain_password_connect);
    ASSERT_EQ(s.users.size(), 3u);
    EXPECT_EQ(s.users[0].username, "alice");
    EXPECT_EQ(s.users[0].password, "wonderland");
    EXPECT_EQ(s.users[0].iterations, 5000u);  // the file's default
    EXPECT_EQ(s.users[1].iterations, 6000u);
    EXPECT_FALSE(s.users[2].password.has_value());
    EXPECT_EQ(s.users[2].salt, rfc_salt);
    EXPECT_EQ(s.users[2].stored_key, rfc_stored_key);
    EXPECT_EQ(s.users[2].server_key, rfc_server_key);
    EXPECT_TRUE(cfg.warnings.empty()) << rmqtt::test::all_warnings(cfg);

    // What the loader accepted, the plugin can use.
    const scram::user_store users(s);
    EXPECT_TRUE(users.check_password("user", "pencil"));
    EXPECT_TRUE(users.check_password("bob", "builder"));
    EXPECT_EQ(users.find("bob")->iterations, 6000u);
}

}  // namespace
