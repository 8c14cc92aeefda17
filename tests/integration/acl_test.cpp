// rmqtt-acl against a real rmqttd with raw clients: connect decisions (client id, plain-text,
// bcrypt and PBKDF2 passwords), publish and subscribe decisions (placeholders with wildcard
// characters in the client id, deny rules that overlap a wider filter, $SYS), a superuser,
// disconnect_if_pub_rejected on 5.0 and 3.1.1, reloading the file while the broker runs, and a
// subscription revoked while its session was stored, across a restart (hostile-input #52, #53,
// #55).
#include <filesystem>
#include <string>
#include <vector>

#include "integration_util.hpp"

namespace rmqtt::test::integ {
namespace {

constexpr auto v311 = proto::version::v3_1_1;
constexpr auto v5 = proto::version::v5;

// "bcrypt-pw" (bcrypt, cost 4) and "secret-pw" (PBKDF2-SHA256, 1000 iterations), made with
// Python (crypt module; hashlib, the recipe in docs/configuration.md).
constexpr const char* bcrypt_hash = "$2b$04$X0ufRAfbHLyWbll82ErDZ.psE1eBJPu12dGFGdPK.CKKYuuNG7Sxm";
constexpr const char* pbkdf2_hash =
    "$pbkdf2-sha256$1000$MDEyMzQ1Njc4OWFiY2RlZg$6mx4nMAd4kFBUQL4oxExRJQRxORsSH.cbg93E0FJg9w";

std::string acl_rules(bool disconnect = false) {
    return cat("disconnect_if_pub_rejected = ", disconnect ? "true" : "false", "\n",
               "reload_interval = \"100ms\"\n", R"(rules = [
    ["deny", { clientid = "banned" }, "connect"],
    ["allow", { user = "admin", password = ")",
               bcrypt_hash, R"(", superuser = true }, "connect"],
    ["allow", { user = "hashed", password = ")",
               pbkdf2_hash, R"(" }, "connect"],
    ["allow", { user = "plain", password = "plain-pw" }, "connect"],
    ["deny", { user = "admin" }, "connect"],
    ["deny", { user = "hashed" }, "connect"],
    ["deny", { user = "plain" }, "connect"],
    ["allow", "all", "connect"],
    ["deny", "all", "subscribe", ["public/secret/#"]],
    ["allow", "all", "pubsub", ["devices/%c/#", "public/#"]],
    ["allow", { clientid = "watcher" }, "subscribe", ["devices/#"]]
]
)");
}

broker_ptr start_acl_broker(const std::string& rules, bool session_storage = false) {
    broker_process::options o;
    o.session_storage = session_storage;
    o.extra_plugins = {"rmqtt-acl"};
    o.plugin_files = {{"rmqtt-acl", rules}};
    return start_broker_with(std::move(o));
}

// Replaces the broker's rmqtt-acl.toml whole (a rename), as an editor that saves atomically.
void rewrite_acl(const broker_process& b, const std::string& text) {
    const std::string path = b.dir() + "/plugins/rmqtt-acl.toml";
    write_file(path + ".new", text);
    std::filesystem::rename(path + ".new", path);
}

proto::connect login(const std::string& id, proto::version v, const std::string& user = "",
                     const std::string& password = "") {
    auto c = make_connect(id, true, 60, v);
    if (!user.empty()) c.username = user;
    if (!password.empty()) c.password = password;
    return c;
}

std::uint8_t refused_code(proto::version v) {
    return v == v5
               ? code_of(proto::reason_code::bad_user_name_or_password)
               : static_cast<std::uint8_t>(proto::connect_return_code::bad_user_name_or_password);
}

std::uint8_t not_authorized(proto::version v) {
    return v == v5 ? code_of(proto::reason_code::not_authorized) : proto::suback_failure_v3;
}

TEST(acl, ConnectDecisions) {
    auto b = start_acl_broker(acl_rules());
    for (const auto v : {v311, v5}) {
        struct attempt {
            std::string id, user, password;
            bool ok;
        };
        const attempt attempts[] = {
            {"banned", "", "", false},
            {"a1", "admin", "bcrypt-pw", true},
            {"a2", "admin", "bcrypt-pW", false},
            {"h1", "hashed", "secret-pw", true},
            {"h2", "hashed", "secret", false},
            {"p1", "plain", "plain-pw", true},
            {"p2", "plain", "", false},
            {"anyone", "", "", true},
            {"named", "someone", "whatever", true},
        };
        for (const auto& a : attempts) {
            raw_client c(b->port(), v);
            auto ack = c.connect(login(a.id, v, a.user, a.password));
            ASSERT_TRUE(ack.has_value()) << a.id;
            if (a.ok) {
                EXPECT_EQ(ack->code, 0) << a.id << " " << static_cast<int>(v);
            } else {
                EXPECT_EQ(ack->code, refused_code(v)) << a.id << " " << static_cast<int>(v);
                EXPECT_TRUE(c.wait_closed(5s)) << a.id;
            }
        }
    }
    EXPECT_TRUE(b->running());
}

TEST(acl, PublishAndSubscribeDecisions) {
    auto b = start_acl_broker(acl_rules());
    for (const auto v : {v311, v5}) {
        auto dev = raw_connect(*b, login("dev1", v));
        const std::uint8_t no = not_authorized(v);
        EXPECT_EQ(raw_subscribe(*dev, 1,
                                {{"devices/dev1/#", 1},
                                 {"devices/dev2/#", 1},
                                 {"devices/+/#", 1},
                                 {"public/news/#", 1},
                                 {"public/#", 1},
                                 {"#", 1},
                                 {"$SYS/#", 1},
                                 {"other/+", 1}}),
                  (std::vector<std::uint8_t>{1, no, no, 1, no, no, no, no}))
            << "only filters a rule covers; deny rules refuse filters reaching public/secret; "
               "$SYS needs a rule that names it; no rule: refused";

        // A client id made of wildcard characters gets no wildcard (CVE-2017-7650).
        auto plus = raw_connect(*b, login("+", v));
        EXPECT_EQ(raw_subscribe(*plus, 1, {{"devices/+/#", 0}, {"devices/+/x", 0}}),
                  (std::vector<std::uint8_t>{no, no}));
        auto hash = raw_connect(*b, login("#", v));
        EXPECT_EQ(raw_subscribe(*hash, 1, {{"devices/#", 0}}), (std::vector<std::uint8_t>{no}));

        // PUBLISH: the client's own level is allowed and delivered; another's is refused (5.0:
        // PUBACK 0x87, 3.1.1: acknowledged and dropped).
        auto pub = raw_connect(*b, login("dev2", v));
        auto other = raw_connect(*b, login("watcher", v));
        subscribe_ok(*other, {{"devices/#", 1}});
        pub->send(make_publish("devices/dev2/t", "mine", 1, 1));
        auto ack = expect<proto::puback>(*pub);
        ASSERT_TRUE(ack);
        EXPECT_EQ(ack->code, proto::reason_code::success);
        pub->send(make_publish("devices/dev1/t", "not mine", 1, 2));
        ack = expect<proto::puback>(*pub);
        ASSERT_TRUE(ack);
        EXPECT_EQ(ack->code,
                  v == v5 ? proto::reason_code::not_authorized : proto::reason_code::success);
        auto got = expect<proto::publish>(*other);
        ASSERT_TRUE(got);
        EXPECT_EQ(got->payload, "mine");
        EXPECT_TRUE(raw_ack(*other, *got));
        EXPECT_FALSE(other->receive(300ms)) << "the refused message is not delivered";
        raw_disconnect(*pub);
        raw_disconnect(*other);
        raw_disconnect(*dev);
    }
}

// A superuser (allow rule with superuser = true) skips the ACL: $SYS and everything else.
TEST(acl, SuperuserSkipsTheAcl) {
    auto b = start_acl_broker(acl_rules());
    auto admin = raw_connect(*b, login("root", v5, "admin", "bcrypt-pw"));
    EXPECT_EQ(raw_subscribe(*admin, 1, {{"$SYS/#", 0}, {"public/secret/#", 0}}),
              (std::vector<std::uint8_t>{0, 0}));
    admin->send(make_publish("anywhere/t", "x", 1, 3));
    auto ack = expect<proto::puback>(*admin);
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->code, proto::reason_code::no_matching_subscribers) << "not refused";
    // The same for a client that is no superuser.
    auto plain = raw_connect(*b, login("p", v5, "plain", "plain-pw"));
    EXPECT_EQ(raw_subscribe(*plain, 1, {{"$SYS/#", 0}}),
              (std::vector<std::uint8_t>{code_of(proto::reason_code::not_authorized)}));
}

// disconnect_if_pub_rejected = true: a refused PUBLISH ends the connection, 5.0 with DISCONNECT
// 0x87 first, 3.1.1 by closing; no acknowledgement either way.
TEST(acl, DisconnectIfPubRejected) {
    auto b = start_acl_broker(acl_rules(true));
    for (const auto v : {v5, v311}) {
        auto c = raw_connect(*b, login("dev3", v));
        EXPECT_TRUE(raw_publish(*c, "devices/dev3/ok", "x", 1, 1)) << "allowed: PUBACK";
        c->send(make_publish("devices/dev4/no", "x", 1, 2));
        std::vector<std::uint8_t> before;
        ASSERT_TRUE(c->wait_closed(5s, &before));
        if (v == v5) {
            ASSERT_GE(before.size(), 3u);
            EXPECT_EQ(before[0], 0xE0) << "DISCONNECT";
            // The reason code follows the remaining length (a reason string may follow it).
            EXPECT_EQ(before[2], 0x87);
        } else {
            EXPECT_TRUE(before.empty()) << "3.1.1: no PUBACK, only the close";
        }
    }
    EXPECT_TRUE(b->running());
}

// A changed file takes effect without a restart; an invalid one is refused with an error that
// names the file and the key, and the rules in use stay.
TEST(acl, ReloadWhileRunning) {
    const std::string v1 = R"(reload_interval = "100ms"
rules = [["allow", "all", "connect"], ["allow", "all", "subscribe", ["v1/#"]]]
)";
    const std::string v2 = R"(reload_interval = "100ms"
rules = [["allow", "all", "connect"], ["allow", "all", "subscribe", ["v2/#"]], ["allow", "all", "subscribe", ["extra"]]]
)";
    auto b = start_acl_broker(v1);
    const auto granted = [&](const std::string& filter) {
        auto c = raw_connect(*b, login("reload", v5));
        const auto codes = raw_subscribe(*c, 1, {{filter, 0}});
        raw_disconnect(*c);
        return codes == std::vector<std::uint8_t>{0};
    };
    EXPECT_TRUE(granted("v1/x"));
    EXPECT_FALSE(granted("v2/x"));
    rewrite_acl(*b, v2);
    EXPECT_TRUE(eventually([&] { return granted("v2/x"); }, 15s)) << "the new rules never applied";
    EXPECT_FALSE(granted("v1/x"));

    rewrite_acl(*b, "rules = [\n  [\"allow\", { ipaddr = \"not-an-address\" }]]\n");
    const std::string path = b->dir() + "/plugins/rmqtt-acl.toml";
    EXPECT_TRUE(eventually(
        [&] { return b->log().find(path + ": rules[0][1].ipaddr") != std::string::npos; }, 15s))
        << "no error naming the file and the key";
    EXPECT_TRUE(granted("v2/x")) << "the rules in use stay";
    EXPECT_TRUE(b->running());
}

// Hostile-input #55 (CVE-2021-34434): a subscription the rules no longer allow is removed from
// a stored session at the restart, before the listeners open, and from the store.
TEST(acl, RestartRemovesARevokedSubscription) {
    const std::string open_rules = R"(rules = [["allow", "all"]]
)";
    const std::string revoked = R"(rules = [
    ["allow", "all", "connect"],
    ["allow", { clientid = "publisher" }, "publish", ["#"]],
    ["allow", "all", "pubsub", ["other/#"]]
]
)";
    auto b = start_acl_broker(open_rules, /*session_storage*/ true);
    const auto keeper = make_connect("keeper", v311, /*clean*/ false);
    {
        auto c = raw_connect(*b, keeper);
        subscribe_ok(*c, {{"news/#", 1}, {"other/#", 1}});
        raw_disconnect(*c);
    }
    ASSERT_EQ(b->stop(), 0);
    rewrite_acl(*b, revoked);
    b->restart();
    EXPECT_NE(b->log().find("restored session keeper: subscription 'news/#' is no longer allowed"),
              std::string::npos)
        << "the revocation is logged";

    const auto publish_both = [&](const std::string& tag) {
        auto p = raw_connect(*b, make_connect("publisher", v311, true));
        EXPECT_TRUE(raw_publish(*p, "news/" + tag, "news-" + tag, 1, 1));
        EXPECT_TRUE(raw_publish(*p, "other/" + tag, "other-" + tag, 1, 2));
        raw_disconnect(*p);
    };
    const auto received = [&] {
        bool present = false;
        auto c = raw_connect(*b, keeper, &present);
        EXPECT_TRUE(present);
        std::vector<std::string> got;
        while (auto p = expect<proto::publish>(*c, 1s)) {
            got.push_back(p->payload);
            raw_ack(*c, *p);
        }
        raw_disconnect(*c);
        return got;
    };
    publish_both("1");
    EXPECT_EQ(received(), std::vector<std::string>{"other-1"});

    // Gone from the store too: with the open rules back, a restart does not bring it back.
    ASSERT_EQ(b->stop(), 0);
    rewrite_acl(*b, open_rules);
    b->restart();
    publish_both("2");
    EXPECT_EQ(received(), std::vector<std::string>{"other-2"});
}

}  // namespace
}  // namespace rmqtt::test::integ
