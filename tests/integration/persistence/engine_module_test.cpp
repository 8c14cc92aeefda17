// The RocksDB engine module (librmqtt_rocksdb.so, rmqtt/storage/rocksdb_module.hpp): rmqttd maps
// it (and RocksDB) only when it opens a RocksDB store; without it, a broker with storage off
// still serves, and one that needs RocksDB (the broker, `rmqttd store`) stops with a clear
// message and a non-zero exit, never a crash or a silent start without its store.
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "persistence_util.hpp"

namespace rmqtt::test::persist {
namespace {

namespace fs = std::filesystem;

constexpr const char* module_file = "librmqtt_rocksdb.so";

// A copy of rmqttd in a directory of its own: no module next to it unless the test puts one.
class lone_binary {
  public:
    lone_binary() : dir_("rmqtt-lone") {
        fs::copy_file(rmqttd_binary(), path());
        fs::permissions(path(), fs::perms::owner_all, fs::perm_options::add);
    }
    std::string path() const { return dir_.file("rmqttd"); }
    std::string module_path() const { return dir_.file(module_file); }

  private:
    temp_dir dir_;
};

// The shared objects a running process has mapped (/proc/<pid>/maps).
std::string mappings(pid_t pid) {
    return read_file("/proc/" + std::to_string(pid) + "/maps");
}

// Starts `b`, which must refuse to start; returns the log of that start.
std::string refused_start_log(broker_process& b) {
    expect_refused_start(b, "without its RocksDB engine");
    return b.log();
}

TEST(EngineModule, StorageOffNeverMapsRocksDB) {
    broker_process::options o;
    o.session_storage = false;
    broker_process b(std::move(o));
    b.start();
    const auto maps = mappings(b.pid());
    EXPECT_EQ(maps.find(module_file), std::string::npos) << maps;
    EXPECT_EQ(maps.find("librocksdb"), std::string::npos) << maps;
    EXPECT_EQ(b.stop(), 0);
}

TEST(EngineModule, RocksDBStorageLoadsTheModule) {
    broker_process b;  // storage.type = "rocksdb"
    b.start();
    const auto maps = mappings(b.pid());
    EXPECT_NE(maps.find(module_file), std::string::npos) << maps;
    EXPECT_EQ(b.stop(), 0);
}

TEST(EngineModule, StorageOffServesWithoutTheModule) {
    lone_binary bin;
    broker_process::options o;
    o.session_storage = false;
    o.binary = bin.path();
    broker_process b(std::move(o));
    b.start();
    auto c = raw_connect_or_null(b, make_connect("no-module", proto::version::v3_1_1, true));
    EXPECT_TRUE(c);
    EXPECT_EQ(b.stop(), 0);
}

TEST(EngineModule, AMissingModuleIsAClearStartError) {
    lone_binary bin;
    broker_process::options o;
    o.binary = bin.path();
    broker_process b(std::move(o));
    const auto log = refused_start_log(b);
    EXPECT_NE(log.find("cannot open the session store"), std::string::npos) << log;
    EXPECT_NE(log.find(bin.module_path()), std::string::npos) << log;
    EXPECT_NE(log.find("cannot be loaded"), std::string::npos) << log;
}

TEST(EngineModule, AnUnloadableModuleIsAClearStartError) {
    lone_binary bin;
    {
        std::ofstream f(bin.module_path());
        f << "not a shared object\n";
    }
    broker_process::options o;
    o.binary = bin.path();
    o.retainer_type = "rocksdb";  // the retainer keeps its messages in the session store
    broker_process b(std::move(o));
    const auto log = refused_start_log(b);
    EXPECT_NE(log.find(bin.module_path()), std::string::npos) << log;
    EXPECT_NE(log.find("cannot be loaded"), std::string::npos) << log;
}

TEST(EngineModule, TheStoreToolSaysWhenTheModuleIsMissing) {
    lone_binary bin;
    temp_dir data("rmqtt-lone-store");
    // Appended piece by piece: GCC 12 reports a false -Wrestrict for "literal" + std::string&&.
    std::string cmd = "'";
    cmd.append(bin.path()).append("' store inspect --rocksdb '").append(data.path());
    cmd.append("' >/dev/null 2>'").append(data.file("stderr")).append("'");
    const int status = std::system(cmd.c_str());
    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), 4);  // exit_error: the store cannot be read
    const auto err = read_file(data.file("stderr"));
    EXPECT_NE(err.find(bin.module_path()), std::string::npos) << err;
    EXPECT_NE(err.find("cannot be loaded"), std::string::npos) << err;
}

}  // namespace
}  // namespace rmqtt::test::persist
