// RCLONE configuration: Lua keys, their validation messages, the worker command line, and how a
// remote Path splits into remote directory and file-name prefix.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>

#include "supervisor/child_commands.hpp"
#include "supervisor/config.hpp"
#include "supervisor/config_error.hpp"
#include "workers/config_error.hpp"
#include "workers/rclone_remote.hpp"
#include "workers/slot_counters.hpp"
#include "workers/worker_config.hpp"

using namespace pushcap;

namespace {

std::string writeLua(const std::string& body) {
    static int n = 0;
    const std::string path = "/tmp/pushcap-rclone-unit-" + std::to_string(::getpid()) + "-" +
                             std::to_string(++n) + ".lua";
    std::ofstream(path) << "local Config = {}\nConfig.Target = {}\n" << body << "return Config\n";
    return path;
}

std::string loadError(const std::string& body) {
    const std::string path = writeLua(body);
    try {
        supervisor::loadConfig(path);
    } catch (const supervisor::ConfigError& e) {
        ::unlink(path.c_str());
        return e.what();
    }
    ::unlink(path.c_str());
    return "";
}

bool has(const std::vector<std::string>& args, const std::vector<std::string>& run) {
    return std::search(args.begin(), args.end(), run.begin(), run.end()) != args.end();
}

}  // namespace

TEST_CASE("RCLONE keys are read, defaulted and passed to the worker", "[unit][rclone]") {
    const std::string path = writeLua(
        "Config.StateDir = '/srv/state'\n"
        "table.insert(Config.Target, { Desc = 'up', Mode = 'rclone', Path = 's3:b/pcap/all',\n"
        "  RcloneConfig = '/etc/rc.conf', RclonePath = '/opt/rclone', SpoolMax = 1e9,\n"
        "  Uploads = 4, KeepLocal = true, UploadRetries = 10 })\n"
        "table.insert(Config.Target, { Desc = 'up2', Mode = 'RCLONE', Path = 'wd:x/',\n"
        "  SpoolDir = '/spool/x' })\n");
    const supervisor::PushConfig c = supervisor::loadConfig(path);
    ::unlink(path.c_str());
    REQUIRE(c.targets.size() == 2);
    const supervisor::TargetConfig& t = c.targets[0];
    CHECK(t.mode == supervisor::TargetMode::Rclone);
    CHECK(t.spoolDir == "/srv/state/spool/up");
    CHECK(c.targets[1].spoolDir == "/spool/x");
    CHECK(c.targets[1].uploads == 2);
    const std::vector<std::string> a = supervisor::workerArguments(t, "/ring", "", {});
    CHECK(has(a, {"--path", "s3:b/pcap/all"}));
    CHECK(has(a, {"--mode", "rclone", "--spool-dir", "/srv/state/spool/up", "--uploads", "4"}));
    CHECK(has(a, {"--spool-max", "1000000000"}));
    CHECK(has(a, {"--keep-local"}));
    CHECK(has(a, {"--rclone", "/opt/rclone"}));
    CHECK(has(a, {"--rclone-config", "/etc/rc.conf"}));
    CHECK(has(a, {"--upload-retries", "10"}));
    // The worker accepts what the supervisor gives it.
    const workers::WorkerConfig w = workers::parseWorkerArgs(a);
    CHECK(w.rclone());
    CHECK(w.remotePath == "s3:b/pcap/all");
    CHECK(w.naming.path == "/srv/state/spool/up/all");
    CHECK(w.uploads == 4);
    CHECK(w.keepLocal);
    CHECK(w.spoolMaxBytes == 1000000000ULL);
    // A different RCLONE setting restarts the target on reload.
    supervisor::TargetConfig changed = t;
    changed.uploads = 3;
    CHECK(changed.fingerprint() != t.fingerprint());
}

TEST_CASE("RCLONE configuration errors name the target and the key", "[unit][rclone]") {
    CHECK_THAT(loadError("table.insert(Config.Target, { Desc = 'a', Mode = 'RCLONE', "
                         "Path = '/local/dir' })\n"),
               Catch::Contains("Target[1] \"a\": Path \"/local/dir\": an RCLONE Path is"));
    CHECK_THAT(loadError("table.insert(Config.Target, { Desc = 'a', Mode = 'RCLONE', "
                         "Path = 'r:x/y', Uploads = 0 })\n"),
               Catch::Contains("Target[1] \"a\": Uploads: must be 1..64, got 0"));
    CHECK_THAT(loadError("table.insert(Config.Target, { Desc = 'a', Mode = 'RCLONE', "
                         "Path = 'r:x/y', KeepLocal = 'yes' })\n"),
               Catch::Contains("Target[1] \"a\": KeepLocal: expected true or false"));
    CHECK_THAT(loadError("table.insert(Config.Target, { Desc = 'a', Mode = 'RCLONE', "
                         "Path = 'r:x/y', CompletedPath = '/d' })\n"),
               Catch::Contains("Target[1] \"a\": CompletedPath: has no meaning with Mode"));
    CHECK_THAT(loadError("table.insert(Config.Target, { Desc = 'a', Path = '/d/x', "
                         "SpoolMax = 5 })\n"),
               Catch::Contains("Target[1] \"a\": SpoolMax: only used with Mode = \"RCLONE\""));
    CHECK_THAT(loadError("table.insert(Config.Target, { Desc = 'a', Mode = 'RCLONE', "
                         "Path = 'r:x/y', Upload = 2 })\n"),
               Catch::Contains("unknown key \"Upload\" (did you mean \"Uploads\"?)"));
    CHECK_THAT(loadError("Config.StateDir = ''\n"
                         "table.insert(Config.Target, { Desc = 'a', Path = '/d/x' })\n"),
               Catch::Contains("StateDir: must not be empty"));
}

TEST_CASE("remote Paths split like File Paths", "[unit][rclone]") {
    workers::RemotePath r = workers::splitRemotePath("s3:bucket/pcap/all");
    CHECK(r.remoteName == "s3");
    CHECK(r.directory == "s3:bucket/pcap");
    CHECK(r.prefix == "all");
    r = workers::splitRemotePath("s3:bucket/pcap/");
    CHECK(r.directory == "s3:bucket/pcap");
    CHECK(r.prefix.empty());
    r = workers::splitRemotePath("gdrive:all");
    CHECK(r.directory == "gdrive:");
    CHECK(r.prefix == "all");
    r = workers::splitRemotePath(":s3,provider=Minio:bucket/x/p");
    CHECK(r.remoteName.empty());
    CHECK(r.directory == ":s3,provider=Minio:bucket/x");
    CHECK(workers::remoteJoin("gdrive:", "a.pcap") == "gdrive:a.pcap");
    CHECK(workers::remoteJoin("s3:b/p", "a.pcap") == "s3:b/p/a.pcap");
    CHECK_THROWS_AS(workers::splitRemotePath("/local/path"), workers::ConfigError);
    CHECK_THROWS_AS(workers::parseWorkerArgs(
                        {"--ring", "r", "--name", "n", "--path", "s3:b/a", "--mode", "rclone"}),
                    workers::ConfigError);  // no --spool-dir
}

TEST_CASE("pending uploads pack files and bytes into one slot counter", "[unit][rclone]") {
    using namespace workers;
    const std::uint64_t p = packUploadPending(12, 5'000'000'000ULL);
    CHECK(uploadPendingFiles(p) == 12);
    CHECK(uploadPendingBytes(p) == 5'000'000'000ULL);
    CHECK(uploadPendingFiles(packUploadPending(1'000'000, 1)) == 0xffff);  // saturates
}
