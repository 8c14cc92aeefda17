#include "auth_scram/auth_scram.hpp"

#include <asio/post.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <climits>
#include <stdexcept>
#include <utility>

namespace rmqtt::plugins::auth_scram {

namespace {

const unsigned char* bytes(std::string_view s) noexcept {
    return reinterpret_cast<const unsigned char*>(s.data());
}
unsigned char* bytes(std::string& s) noexcept {
    return reinterpret_cast<unsigned char*>(s.data());
}

bool fits_int(std::size_t n) noexcept {
    return n <= static_cast<std::size_t>(INT_MAX);
}

std::string xor_bytes(std::string_view a, std::string_view b) {
    std::string out(a);
    for (std::size_t i = 0; i < out.size() && i < b.size(); ++i)
        out[i] = static_cast<char>(out[i] ^ b[i]);
    return out;
}

std::string must_random(std::size_t n) {
    auto r = random_bytes(n);
    if (!r) throw std::runtime_error("rmqtt-auth-scram: the random generator failed");
    return std::move(*r);
}

}  // namespace

// ---- SCRAM maths
// ----------------------------------------------------------------------------------

std::string sha256(std::string_view data) {
    std::string out(key_size, '\0');
    SHA256(bytes(data), data.size(), bytes(out));
    return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
    std::string out(key_size, '\0');
    unsigned int len = 0;
    if (!fits_int(key.size()) || HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                                      bytes(data), data.size(), bytes(out), &len) == nullptr) {
        return {};
    }
    out.resize(len);
    return out;
}

std::string salted_password(std::string_view password, std::string_view salt,
                            std::uint32_t iterations) {
    std::string out(key_size, '\0');
    if (!fits_int(password.size()) || !fits_int(salt.size()) || iterations == 0 ||
        iterations > static_cast<std::uint32_t>(INT_MAX) ||
        PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()), bytes(salt),
                          static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                          static_cast<int>(key_size), bytes(out)) != 1) {
        return {};
    }
    return out;
}

std::optional<std::string> random_bytes(std::size_t n) {
    std::string out(n, '\0');
    if (!fits_int(n) || RAND_bytes(bytes(out), static_cast<int>(n)) != 1) return std::nullopt;
    return out;
}

bool equal_secret(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string escape_username(std::string_view name) {
    std::string out;
    out.reserve(name.size());
    for (char c : name) {
        if (c == ',') {
            out += "=2C";
        } else if (c == '=') {
            out += "=3D";
        } else {
            out += c;
        }
    }
    return out;
}

std::optional<std::string> unescape_username(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c == '\0' || c == ',') return std::nullopt;
        if (c != '=') {
            out += c;
            continue;
        }
        // RFC 5802 section 5.1: '=' only as "=2C" or "=3D"; anything else fails authentication.
        const auto code = s.substr(i + 1, 2);
        if (code == "2C") {
            out += ',';
        } else if (code == "3D") {
            out += '=';
        } else {
            return std::nullopt;
        }
        i += 2;
    }
    return out;
}

credentials derive_credentials(std::string_view password, std::string salt,
                               std::uint32_t iterations) {
    credentials c;
    const std::string salted = salted_password(password, salt, iterations);
    // An empty key would make the stored key independent of the password: refuse.
    if (salted.empty())
        throw std::invalid_argument("rmqtt-auth-scram: cannot derive keys with " +
                                    std::to_string(iterations) + " iterations");
    c.salt = std::move(salt);
    c.iterations = iterations;
    c.stored_key = sha256(hmac_sha256(salted, "Client Key"));
    c.server_key = hmac_sha256(salted, "Server Key");
    return c;
}

// ---- users
// ----------------------------------------------------------------------------------------

user_store::user_store() : dummy_salt_(must_random(16)) {}

user_store::user_store(const plugins::auth_scram_config& cfg)
    : dummy_salt_(must_random(16)), dummy_iterations_(cfg.iterations) {
    for (const auto& u : cfg.users) {
        if (u.password) {
            add(u.username, derive_credentials(*u.password, must_random(16), u.iterations));
            continue;
        }
        auto salt = base64_decode(u.salt);
        auto stored = base64_decode(u.stored_key);
        auto server = base64_decode(u.server_key);
        if (!salt || salt->empty() || !stored || stored->size() != key_size || !server ||
            server->size() != key_size || u.iterations == 0) {
            throw std::invalid_argument("rmqtt-auth-scram: user \"" + u.username +
                                        "\": salt, stored_key or server_key is not valid");
        }
        add(u.username,
            credentials{std::move(*salt), u.iterations, std::move(*stored), std::move(*server)});
    }
}

void user_store::add(std::string username, credentials c) {
    users_.insert_or_assign(std::move(username), std::move(c));
}

const credentials* user_store::find(std::string_view username) const {
    auto it = users_.find(username);
    return it == users_.end() ? nullptr : &it->second;
}

bool user_store::check_password(std::string_view username, std::string_view password) const {
    const credentials* c = find(username);
    const std::string salted =
        c ? salted_password(password, c->salt, c->iterations)
          : salted_password(password, dummy_salt_, dummy_iterations_);  // same work, no answer
    if (!c || salted.empty()) return false;
    return equal_secret(sha256(hmac_sha256(salted, "Client Key")), c->stored_key);
}

// ---- the exchange
// ---------------------------------------------------------------------------------

namespace {

using broker::auth_exchange;
using protocol::reason_code;

// A SCRAM message longer than this is refused (real ones are about 100 bytes).
constexpr std::size_t max_message_size = 4096;

// printable of RFC 5802 section 7: %x21-2B / %x2D-7E (no ',').
bool is_printable(std::string_view s) noexcept {
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return c >= 0x21 && c <= 0x7E && c != ','; });
}

// The value of the attribute `name` ("n", "r", ...) at the front of `s`, up to the next ','.
// On success `s` is left after that ',' (or empty).
std::optional<std::string_view> take_attribute(std::string_view& s, char name) noexcept {
    if (s.size() < 2 || s[0] != name || s[1] != '=') return std::nullopt;
    const auto comma = s.find(',');
    const auto value = s.substr(2, comma == std::string_view::npos ? s.npos : comma - 2);
    s = comma == std::string_view::npos ? std::string_view() : s.substr(comma + 1);
    return value;
}

class scram_exchange final : public auth_exchange {
  public:
    scram_exchange(const scram_method& method, std::optional<std::string> connect_username)
        : method_(method), connect_username_(std::move(connect_username)) {}

    step on_data(std::string_view data) override {
        switch (stage_) {
            case stage::client_first:
                return on_client_first(data);
            case stage::client_final:
                return on_client_final(data);
            case stage::done:
                break;
        }
        return fail(reason_code::not_authorized);  // the exchange is over
    }

  private:
    enum class stage { client_first, client_final, done };

    step fail(reason_code code) {
        stage_ = stage::done;
        step s;
        s.result = step::outcome::failure;
        s.failure_code = code;
        return s;
    }

    // client-first-message = gs2-header client-first-message-bare (RFC 5802 section 7).
    step on_client_first(std::string_view m) {
        // Malformed messages and unsupported features fail with "not authorized"; only a wrong
        // proof (or an unknown user, indistinguishably) gets "bad user name or password".
        if (m.empty() || m.size() > max_message_size) return fail(reason_code::not_authorized);
        // gs2-cbind-flag: "p=" asks for channel binding, which this method (not the -PLUS
        // variant) does not offer (RFC 5802 section 6). "y": the client could bind but thinks
        // the server cannot, which is true.
        if (!m.starts_with("n,") && !m.starts_with("y,")) return fail(reason_code::not_authorized);
        const auto authz_end = m.find(',', 2);
        if (authz_end == std::string_view::npos) return fail(reason_code::not_authorized);
        std::optional<std::string> authzid;
        if (const auto a = m.substr(2, authz_end - 2); !a.empty()) {
            if (!a.starts_with("a=")) return fail(reason_code::not_authorized);
            authzid = unescape_username(a.substr(2));
            if (!authzid || authzid->empty()) return fail(reason_code::not_authorized);
        }
        gs2_header_ = std::string(m.substr(0, authz_end + 1));
        client_first_bare_ = std::string(m.substr(authz_end + 1));

        std::string_view rest = client_first_bare_;
        // "m=": a mandatory extension this server does not know: fail (RFC 5802 section 5.1).
        const auto saslname = take_attribute(rest, 'n');
        if (!saslname) return fail(reason_code::not_authorized);
        auto username = unescape_username(*saslname);
        if (!username || username->empty()) return fail(reason_code::not_authorized);
        const auto client_nonce = take_attribute(rest, 'r');
        if (!client_nonce || client_nonce->empty() || !is_printable(*client_nonce)) {
            return fail(reason_code::not_authorized);
        }
        // Identity change is not offered: an authorization identity must be the user itself.
        if (authzid && *authzid != *username) return fail(reason_code::not_authorized);

        // An unknown user, or a name other than the CONNECT User Name (or, on
        // re-authentication, the connection's user), goes on with fake credentials and fails
        // at the proof, exactly like a wrong password.
        const credentials* c = method_.users().find(*username);
        const bool same_identity = !connect_username_ || *connect_username_ == *username;
        known_ = c != nullptr && same_identity;
        creds_ = known_ ? *c : method_.fake_credentials(*username);
        username_ = std::move(*username);

        const std::string server_nonce = method_.make_nonce();
        if (server_nonce.empty() || !is_printable(server_nonce)) {
            return fail(reason_code::unspecified_error);
        }
        nonce_ = std::string(*client_nonce) + server_nonce;
        server_first_ = "r=" + nonce_ + ",s=" + base64_encode(creds_.salt) +
                        ",i=" + std::to_string(creds_.iterations);
        stage_ = stage::client_final;
        step s;
        s.result = step::outcome::continue_authentication;
        s.data = server_first_;
        return s;
    }

    // client-final-message = channel-binding "," nonce ["," extensions] "," proof.
    step on_client_final(std::string_view m) {
        if (m.empty() || m.size() > max_message_size) return fail(reason_code::not_authorized);
        const auto proof_at = m.rfind(",p=");
        if (proof_at == std::string_view::npos) return fail(reason_code::not_authorized);
        const auto without_proof = m.substr(0, proof_at);
        const auto proof = base64_decode(m.substr(proof_at + 3));
        if (!proof || proof->size() != key_size) return fail(reason_code::not_authorized);

        std::string_view rest = without_proof;
        // c=: base64 of the gs2 header sent in client-first (no channel binding data).
        const auto cbind = take_attribute(rest, 'c');
        if (!cbind) return fail(reason_code::not_authorized);
        const auto cbind_bytes = base64_decode(*cbind);
        if (!cbind_bytes || *cbind_bytes != gs2_header_) return fail(reason_code::not_authorized);
        // r=: must repeat the combined nonce of server-first exactly.
        const auto nonce = take_attribute(rest, 'r');
        if (!nonce || *nonce != nonce_) return fail(reason_code::not_authorized);

        // RFC 5802 section 3.
        const std::string auth_message =
            client_first_bare_ + "," + server_first_ + "," + std::string(without_proof);
        const std::string client_signature = hmac_sha256(creds_.stored_key, auth_message);
        const std::string client_key = xor_bytes(*proof, client_signature);
        const bool proof_ok = equal_secret(sha256(client_key), creds_.stored_key);
        if (!proof_ok || !known_) return fail(reason_code::bad_user_name_or_password);

        stage_ = stage::done;
        step s;
        s.result = step::outcome::success;
        s.data = "v=" + base64_encode(hmac_sha256(creds_.server_key, auth_message));
        s.username = username_;
        return s;
    }

    const scram_method& method_;
    std::optional<std::string> connect_username_;
    stage stage_ = stage::client_first;
    bool known_ = false;
    credentials creds_;
    std::string username_;
    std::string gs2_header_;
    std::string client_first_bare_;
    std::string nonce_;
    std::string server_first_;
};

}  // namespace

// ---- the method
// -----------------------------------------------------------------------------------

scram_method::scram_method(std::shared_ptr<const user_store> users)
    : scram_method(std::move(users), options{}) {}

scram_method::scram_method(std::shared_ptr<const user_store> users, options o)
    : users_(std::move(users)), options_(std::move(o)), secret_(must_random(32)) {}

std::unique_ptr<broker::auth_exchange> scram_method::start(const broker::client_info& client) {
    std::optional<std::string> connect_username;
    if (client.username != nullptr && client.username->has_value()) {
        connect_username = **client.username;
    }
    return std::make_unique<scram_exchange>(*this, std::move(connect_username));
}

credentials scram_method::fake_credentials(std::string_view username) const {
    const std::string name(username);
    credentials c;
    c.salt = hmac_sha256(secret_, "salt:" + name).substr(0, 16);
    c.iterations = options_.fake_iterations;
    c.stored_key = hmac_sha256(secret_, "stored-key:" + name);
    c.server_key = hmac_sha256(secret_, "server-key:" + name);
    return c;
}

std::string scram_method::make_nonce() const {
    if (options_.nonce) return options_.nonce();
    auto r = random_bytes(24);
    return r ? base64_encode(*r) : std::string();
}

std::shared_ptr<scram_method> register_plugin(broker::hook_bus& bus,
                                              const plugins::auth_scram_config& cfg) {
    return register_plugin(bus, cfg, std::nullopt);
}

std::shared_ptr<scram_method> register_plugin(broker::hook_bus& bus,
                                              const plugins::auth_scram_config& cfg,
                                              std::optional<asio::any_io_executor> pool) {
    auto users = std::make_shared<const user_store>(cfg);
    scram_method::options o;
    o.fake_iterations = cfg.iterations;
    auto method = std::make_shared<scram_method>(users, std::move(o));
    bus.add_auth_method(method);
    if (cfg.allow_plain_password_connect) {
        // A CONNECT with a User Name is checked against the users: unknown name or wrong
        // password is denied (0x86 / return code 4); without a User Name the listener's
        // allow_anonymous rule decides. The check costs a PBKDF2 derivation (`iterations`
        // rounds): with a pool it runs there, off the io threads, and the decision is deferred.
        bus.on_authenticate(
            0, broker::hook_bus::async_authenticate_handler(
                   [users, pool](const broker::client_info& c,
                                 const std::optional<std::string>& password, broker::hook_result,
                                 broker::decision_scope<broker::hook_result>& scope) {
                       if (c.username == nullptr || !c.username->has_value()) {
                           return broker::hook_result::next;
                       }
                       if (!pool) {
                           return users->check_password(**c.username, password.value_or(""))
                                      ? broker::hook_result::allow
                                      : broker::hook_result::deny;
                       }
                       asio::post(*pool, [users, d = scope.defer(), name = **c.username,
                                          pw = password.value_or("")]() mutable {
                           d.resolve(users->check_password(name, pw) ? broker::hook_result::allow
                                                                     : broker::hook_result::deny);
                       });
                       return broker::hook_result::pending;
                   }));
    }
    if (users->size() == 0) {
        spdlog::warn("rmqtt-auth-scram: no users configured: every {} authentication fails",
                     method_name);
    } else {
        spdlog::info("rmqtt-auth-scram: {} users, method {}{}", users->size(), method_name,
                     cfg.allow_plain_password_connect ? ", CONNECT passwords checked too" : "");
    }
    return method;
}

namespace {

class auth_scram_plugin final : public broker::plugin {
  public:
    void configure(const broker::config_section& section) override {
        config_ = parse_auth_scram_config(section);
    }
    void start(broker::plugin_context& ctx) override {
        (void)register_plugin(ctx.hooks(), config_, ctx.executor());
    }

  private:
    plugins::auth_scram_config config_;
};

}  // namespace

std::unique_ptr<broker::plugin> make_plugin() {
    return std::make_unique<auth_scram_plugin>();
}

}  // namespace rmqtt::plugins::auth_scram
