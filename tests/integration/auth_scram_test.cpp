// rmqtt-auth-scram against a real rmqttd: MQTT 5.0 enhanced authentication (section 4.12) with
// SCRAM-SHA-256 over raw CONNECT / AUTH packets. The client side of SCRAM here is written
// directly on OpenSSL from RFC 5802 section 3, independently of the plugin's code.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <climits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "integration_util.hpp"

namespace rmqtt::test::integ {
namespace {

constexpr const char* method = "SCRAM-SHA-256";
constexpr auto v5 = proto::version::v5;

// ---- SCRAM-SHA-256, client side ----------------------------------------------------------------

std::string b64(const std::string& in) {
    std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(in.data()),
                                  static_cast<int>(in.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

std::string unb64(const std::string& in) {
    std::string out(in.size() / 4 * 3, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(in.data()),
                                  static_cast<int>(in.size()));
    if (n < 0) return {};
    std::size_t pad = 0;
    for (auto it = in.rbegin(); it != in.rend() && *it == '=' && pad < 2; ++it)
        ++pad;
    out.resize(static_cast<std::size_t>(n) - pad);
    return out;
}

std::string hmac(const std::string& key, const std::string& data) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
         reinterpret_cast<const unsigned char*>(data.data()), data.size(), md, &len);
    return std::string(reinterpret_cast<const char*>(md), len);
}

std::string sha(const std::string& data) {
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
    return std::string(reinterpret_cast<const char*>(md), sizeof md);
}

class scram_client {
  public:
    scram_client(std::string user, std::string password, std::string nonce)
        : user_(std::move(user)), password_(std::move(password)), nonce_(std::move(nonce)) {}

    std::string client_first() {
        first_bare_ = "n=" + user_ + ",r=" + nonce_;
        return "n,," + first_bare_;
    }

    // client-final-message for the server-first-message; empty (and a test failure) when the
    // server's message is not what RFC 5802 section 7 describes.
    std::string client_final(const std::string& server_first) {
        const auto s_at = server_first.find(",s=");
        const auto i_at = server_first.find(",i=");
        if (server_first.rfind("r=" + nonce_, 0) != 0 || s_at == std::string::npos ||
            i_at == std::string::npos || i_at < s_at) {
            ADD_FAILURE() << "bad server-first-message: " << server_first;
            return {};
        }
        const std::string nonce = server_first.substr(2, s_at - 2);
        EXPECT_GT(nonce.size(), nonce_.size()) << "the server adds its own nonce";
        const std::string salt = unb64(server_first.substr(s_at + 3, i_at - s_at - 3));
        const int iterations = std::stoi(server_first.substr(i_at + 3));
        salted_.assign(32, '\0');
        PKCS5_PBKDF2_HMAC(password_.data(), static_cast<int>(password_.size()),
                          reinterpret_cast<const unsigned char*>(salt.data()),
                          static_cast<int>(salt.size()), iterations, EVP_sha256(), 32,
                          reinterpret_cast<unsigned char*>(salted_.data()));
        const std::string without_proof = "c=biws,r=" + nonce;
        auth_message_ = first_bare_ + "," + server_first + "," + without_proof;
        const std::string client_key = hmac(salted_, "Client Key");
        const std::string signature = hmac(sha(client_key), auth_message_);
        std::string proof = client_key;
        for (std::size_t i = 0; i < proof.size(); ++i)
            proof[i] = static_cast<char>(proof[i] ^ signature[i]);
        return without_proof + ",p=" + b64(proof);
    }

    // True when server-final-message carries the signature only the holder of the keys makes.
    bool verify_server_final(const std::string& server_final) const {
        return !auth_message_.empty() &&
               server_final == "v=" + b64(hmac(hmac(salted_, "Server Key"), auth_message_));
    }

  private:
    std::string user_, password_, nonce_;
    std::string first_bare_, salted_, auth_message_;
};

// ---- broker and packets ------------------------------------------------------------------------

const std::string users_file = R"(
[[users]]
username = "alice"
password = "wonderland"

# RFC 7677's example user, in the stored form (password "pencil").
[[users]]
username = "user"
salt = "W22ZaJ0SNY7soEsUEjb6gQ=="
iterations = 4096
stored_key = "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY="
server_key = "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
)";

broker_ptr start_scram_broker(const std::string& extra = "") {
    broker_process::options o;
    o.session_storage = false;
    o.extra_plugins = {"rmqtt-auth-scram"};
    o.plugin_files = {{"rmqtt-auth-scram", extra + users_file}};
    return start_broker_with(std::move(o));
}

proto::connect scram_connect(const std::string& id, const std::string& client_first) {
    auto c = make_connect(id, true, 60, v5);
    c.props.authentication_method = method;
    c.props.authentication_data = client_first;
    return c;
}

proto::auth auth_packet(proto::reason_code code, const std::string& data) {
    proto::auth a;
    a.code = code;
    a.props.authentication_method = method;
    a.props.authentication_data = data;
    return a;
}

// CONNECT with SCRAM up to the server-first-message; returns it (empty on failure).
std::string start_exchange(raw_client& c, const std::string& id, scram_client& s) {
    c.send(scram_connect(id, s.client_first()));
    auto a = expect<proto::auth>(c);
    if (!a) {
        ADD_FAILURE() << "no AUTH after the CONNECT";
        return {};
    }
    EXPECT_EQ(code_of(a->code), 0x18) << "[MQTT-4.12.0-2] AUTH Continue authentication";
    EXPECT_EQ(a->props.authentication_method, method) << "[MQTT-4.12.0-5]";
    return a->props.authentication_data.value_or("");
}

// A raw 5.0 client authenticated with SCRAM (fails the test otherwise).
std::unique_ptr<raw_client> scram_login(const broker_process& b, const std::string& id,
                                        const std::string& user, const std::string& password) {
    auto c = std::make_unique<raw_client>(b.port(), v5);
    scram_client s(user, password, "nonce-" + id);
    const std::string server_first = start_exchange(*c, id, s);
    c->send(auth_packet(proto::reason_code::continue_authentication,
                        s.client_final(server_first)));  // [MQTT-4.12.0-3]
    auto ack = expect<proto::connack>(*c);
    expect_connack_ok(ack, id);
    if (ack) {
        EXPECT_EQ(ack->props.authentication_method, method) << "[MQTT-4.12.0-5]";
        EXPECT_TRUE(s.verify_server_final(ack->props.authentication_data.value_or("")))
            << "server-final-message: " << ack->props.authentication_data.value_or("(none)");
    }
    return c;
}

// Re-authentication [MQTT-4.12.1-1]: AUTH 0x19 with client-first, AUTH 0x18 back, AUTH 0x18
// with client-final. Returns the server's last packet (AUTH 0x00 or DISCONNECT), if any.
std::optional<proto::packet> reauthenticate(raw_client& c, const std::string& user,
                                            const std::string& password, const std::string& nonce) {
    scram_client s(user, password, nonce);
    c.send(auth_packet(proto::reason_code::re_authenticate, s.client_first()));
    auto a = expect<proto::auth>(c);
    if (!a) {
        ADD_FAILURE() << "no AUTH answer to the re-authentication";
        return std::nullopt;
    }
    EXPECT_EQ(code_of(a->code), 0x18);
    EXPECT_EQ(a->props.authentication_method, method) << "[MQTT-4.12.0-5]";
    c.send(auth_packet(proto::reason_code::continue_authentication,
                       s.client_final(a->props.authentication_data.value_or(""))));
    auto last = c.receive(5s);
    if (last && std::holds_alternative<proto::auth>(*last)) {
        const auto& done = std::get<proto::auth>(*last);
        EXPECT_EQ(code_of(done.code), 0x00);
        EXPECT_EQ(done.props.authentication_method, method) << "[MQTT-4.12.0-5]";
        EXPECT_TRUE(s.verify_server_final(done.props.authentication_data.value_or("")));
    }
    return last;
}

// PINGREQ answered: the connection is up and serving.
bool alive(raw_client& c) {
    c.send(proto::pingreq{});
    return expect<proto::pingresp>(c).has_value();
}

// ---- tests -------------------------------------------------------------------------------------

TEST(auth_scram, ConnectSucceedsAndTheClientVerifiesTheServer) {
    auto b = start_scram_broker();
    auto alice = scram_login(*b, "scram-alice", "alice", "wonderland");
    EXPECT_TRUE(alive(*alice));
    // The stored-form user (RFC 7677's "user" / "pencil") too.
    auto user = scram_login(*b, "scram-user", "user", "pencil");
    EXPECT_TRUE(alive(*user));

    // The authenticated client works as any other: a message round trip.
    EXPECT_EQ(raw_subscribe(*alice, 1, {{"scram/t", 1}}), (std::vector<std::uint8_t>{1}));
    EXPECT_TRUE(raw_publish(*user, "scram/t", "hello", 1, 7));
    auto p = expect<proto::publish>(*alice);
    ASSERT_TRUE(p.has_value());
    EXPECT_EQ(p->payload, "hello");
}

TEST(auth_scram, WrongPasswordGetsConnack86AndClose) {
    auto b = start_scram_broker();
    raw_client c(b->port(), v5);
    scram_client s("alice", "looking-glass", "nonce-wrong");
    const std::string server_first = start_exchange(c, "scram-wrong", s);
    c.send(auth_packet(proto::reason_code::continue_authentication, s.client_final(server_first)));
    auto ack = expect<proto::connack>(c);
    ASSERT_TRUE(ack.has_value());
    EXPECT_EQ(ack->code, code_of(proto::reason_code::bad_user_name_or_password));
    EXPECT_TRUE(c.wait_closed(5s)) << "[MQTT-4.12.0-4] the server closes after refusing";
    EXPECT_TRUE(b->running());
}

TEST(auth_scram, UnknownUserIsRefusedLikeAWrongPassword) {
    auto b = start_scram_broker();
    raw_client c(b->port(), v5);
    scram_client s("mallory", "anything", "nonce-unknown");
    const std::string server_first = start_exchange(c, "scram-unknown", s);
    EXPECT_NE(server_first.find(",s="), std::string::npos) << "a salt is announced anyway";
    EXPECT_NE(server_first.find(",i=4096"), std::string::npos) << server_first;
    c.send(auth_packet(proto::reason_code::continue_authentication, s.client_final(server_first)));
    auto ack = expect<proto::connack>(c);
    ASSERT_TRUE(ack.has_value());
    EXPECT_EQ(ack->code, code_of(proto::reason_code::bad_user_name_or_password));
    EXPECT_TRUE(c.wait_closed(5s));
}

TEST(auth_scram, MalformedClientFirstIsRefused) {
    auto b = start_scram_broker();
    raw_client c(b->port(), v5);
    // Channel binding requested ("p="): this method does not offer it.
    c.send(scram_connect("scram-cbind", "p=tls-unique,,n=alice,r=abcdef"));
    auto ack = expect<proto::connack>(c);
    ASSERT_TRUE(ack.has_value());
    EXPECT_GE(ack->code, 0x80) << "[MQTT-4.12.0-4]";
    EXPECT_EQ(ack->code, code_of(proto::reason_code::not_authorized));
    EXPECT_TRUE(c.wait_closed(5s));
}

TEST(auth_scram, MethodWithoutThePluginGetsConnack8C) {
    broker_process::options o;
    o.session_storage = false;  // rmqtt-auth-scram not started
    o.plugin_files = {{"rmqtt-auth-scram", users_file}};
    auto b = start_broker_with(std::move(o));
    raw_client c(b->port(), v5);
    scram_client s("alice", "wonderland", "nonce-noplugin");
    c.send(scram_connect("scram-noplugin", s.client_first()));
    auto ack = expect<proto::connack>(c);
    ASSERT_TRUE(ack.has_value());
    EXPECT_EQ(ack->code, code_of(proto::reason_code::bad_authentication_method));
    EXPECT_TRUE(c.wait_closed(5s)) << "[MQTT-4.12.0-1]";
}

TEST(auth_scram, ReauthenticationSucceeds) {
    auto b = start_scram_broker();
    auto c = scram_login(*b, "scram-reauth", "alice", "wonderland");
    for (int i = 0; i < 2; ++i) {
        auto last = reauthenticate(*c, "alice", "wonderland", cat("reauth-", i));
        ASSERT_TRUE(last.has_value()) << "no answer to the re-authentication " << i;
        EXPECT_TRUE(std::holds_alternative<proto::auth>(*last))
            << "got packet type " << static_cast<int>(proto::type_of(*last));
        EXPECT_TRUE(alive(*c)) << "the connection stays up after re-authentication " << i;
    }
}

// A failed re-authentication: DISCONNECT with an error code, then the close [MQTT-4.12.1-2].
void expect_reauth_refused(raw_client& c, const std::string& user, const std::string& password,
                           const std::string& nonce) {
    auto last = reauthenticate(c, user, password, nonce);
    ASSERT_TRUE(last.has_value()) << "[MQTT-4.12.1-2] no (valid) DISCONNECT before the close";
    ASSERT_TRUE(std::holds_alternative<proto::disconnect>(*last))
        << "got packet type " << static_cast<int>(proto::type_of(*last));
    EXPECT_GE(code_of(std::get<proto::disconnect>(*last).code), 0x80);
    EXPECT_TRUE(c.wait_closed(5s)) << "[MQTT-4.12.1-2] the server closes the connection";
}

TEST(auth_scram, FailedReauthenticationDisconnects) {
    auto b = start_scram_broker();
    auto c = scram_login(*b, "scram-reauth-bad", "alice", "wonderland");
    // A DISCONNECT that decodes: its reason code must be one DISCONNECT may carry (0x86, the
    // CONNACK code for a wrong password, is not; 5.0 section 3.14.2.1).
    expect_reauth_refused(*c, "alice", "not-the-password", "reauth-bad");
}

TEST(auth_scram, ReauthenticationAsAnotherUserDisconnects) {
    // The identity of a connection does not change: re-authenticating as another (valid) user
    // fails like a wrong password.
    auto b = start_scram_broker();
    auto c = scram_login(*b, "scram-reauth-other", "alice", "wonderland");
    expect_reauth_refused(*c, "user", "pencil", "reauth-other");
}

TEST(auth_scram, PlainPasswordConnectUsesTheSameUsers) {
    auto b = start_scram_broker("allow_plain_password_connect = true\n");
    for (const auto v : {proto::version::v3_1_1, proto::version::v5}) {
        auto good = make_connect("plain-good", true, 60, v);
        good.username = "user";
        good.password = "pencil";
        raw_client c1(b->port(), v);
        auto ack = c1.connect(good);
        ASSERT_TRUE(ack.has_value());
        EXPECT_EQ(ack->code, 0);

        auto bad = make_connect("plain-bad", true, 60, v);
        bad.username = "alice";
        bad.password = "wrong";
        raw_client c2(b->port(), v);
        ack = c2.connect(bad);
        ASSERT_TRUE(ack.has_value());
        EXPECT_EQ(ack->code, v == proto::version::v5
                                 ? code_of(proto::reason_code::bad_user_name_or_password)
                                 : static_cast<std::uint8_t>(
                                       proto::connect_return_code::bad_user_name_or_password));
        EXPECT_TRUE(c2.wait_closed(5s));
    }
}

}  // namespace
}  // namespace rmqtt::test::integ
