// RCLONE configuration: Lua keys, their validation messages, the worker command line, and how a
// remote Path splits into remote directory and file-name prefix; the rc JSON helpers, and the
// rclone rcd an uploader drives (against local directories, so no server is needed).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "supervisor/child_commands.hpp"
#include "supervisor/config.hpp"
#include "supervisor/config_error.hpp"
#include "workers/config_error.hpp"
#include "workers/rclone_rcd.hpp"
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

TEST_CASE("rc requests quote names; rc answers are read back", "[unit][rclone]") {
    using namespace workers;
    CHECK(jsonQuote("a\"b\\c\nd") == "\"a\\\"b\\\\c\\u000ad\"");
    CHECK(jsonQuote("caf\xc3\xa9") == "\"caf\xc3\xa9\"");  // UTF-8 passes through
    const std::string error =
        "{\n\t\"error\": \"read metadata failed: Propfind \\\"http://x/push\\\": refused "
        "\\u00e9\",\n\t\"input\": {\"fs\": \"error\"},\n\t\"status\": 500\n}\n";
    CHECK(jsonStringField(error, "error") ==
          std::optional<std::string>("read metadata failed: Propfind \"http://x/push\": "
                                     "refused \xc3\xa9"));
    CHECK(jsonStringField(error, "status") == std::nullopt);                // a number
    CHECK(jsonStringField("{\"a\": \"error\"}", "error") == std::nullopt);  // a value, not a key
    CHECK(statSize("{\n\t\"item\": null\n}") == -1);
    CHECK(statSize("{\"item\": {\"Path\": \"a\\\"Size\\\": 7\", \"Name\": \"Size\", "
                   "\"Size\": 4280075, \"IsDir\": false}}") == 4280075);
    CHECK(statSize("{}") == std::nullopt);
    CHECK(statSize("{\"item\": {\"Name\": \"x\"}}") == std::nullopt);
}

TEST_CASE("the rclone rcd copies, moves, answers errors and is restarted after it dies",
          "[unit][rclone]") {
    using namespace workers;
    if (std::system("command -v rclone >/dev/null 2>&1") != 0) {
        WARN("rclone not installed (scripts/install-deps.sh installs it): test skipped");
        return;
    }
    char tmpl[] = "/tmp/pushcap-rcd-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    const std::string dir = tmpl;
    REQUIRE(::mkdir((dir + "/src").c_str(), 0755) == 0);
    std::ofstream(dir + "/src/a.pcap") << std::string(100000, 'x');
    const std::string dst = jsonQuote(dir + "/dst");

    RcloneDaemon rclone(RcloneSettings{});
    RcReply r =
        rclone.call("operations/copyfile", "{\"srcFs\":" + jsonQuote(dir + "/src") +
                                               ",\"srcRemote\":\"a.pcap\",\"dstFs\":" + dst +
                                               ",\"dstRemote\":\".a.tmp\"}");
    INFO(r.summary());
    REQUIRE(r.ok());
    const pid_t first = rclone.pid();
    CHECK(first > 0);
    r = rclone.call("operations/stat", "{\"fs\":" + dst + ",\"remote\":\".a.tmp\"}");
    CHECK(statSize(r.body) == 100000);
    r = rclone.call("operations/movefile", "{\"srcFs\":" + dst + ",\"srcRemote\":\".a.tmp\"," +
                                               "\"dstFs\":" + dst + ",\"dstRemote\":\"a.pcap\"}");
    CHECK(r.ok());
    r = rclone.call("operations/stat", "{\"fs\":" + dst + ",\"remote\":\".a.tmp\"}");
    CHECK(statSize(r.body) == -1);
    // rclone's own message comes back with the HTTP status.
    r = rclone.call("operations/copyfile", "{\"srcFs\":" + jsonQuote(dir + "/src") +
                                               ",\"srcRemote\":\"missing\",\"dstFs\":" + dst +
                                               ",\"dstRemote\":\"x\"}");
    CHECK(r.status == 404);
    CHECK(r.summary() == "HTTP 404: object not found");

    // Killed: the next call starts a new daemon and succeeds.
    REQUIRE(::kill(first, SIGKILL) == 0);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (rclone.pid() == first && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    r = rclone.call("operations/stat", "{\"fs\":" + dst + ",\"remote\":\"a.pcap\"}");
    INFO(r.summary());
    CHECK(statSize(r.body) == 100000);
    CHECK(rclone.pid() > 0);
    CHECK(rclone.pid() != first);

    rclone.stop();
    CHECK(rclone.pid() == 0);
    r = rclone.call("operations/stat", "{\"fs\":" + dst + ",\"remote\":\"a.pcap\"}");
    CHECK(r.status == 0);
    CHECK_THAT(r.error, Catch::Contains("stopping"));
    CHECK(std::system(("rm -rf '" + dir + "'").c_str()) == 0);
}

TEST_CASE("a missing rclone is reported by the rcd call, not thrown", "[unit][rclone]") {
    workers::RcloneDaemon rclone(workers::RcloneSettings{"/nonexistent/rclone", ""});
    const workers::RcReply r = rclone.call("rc/noop", "{}");
    CHECK(r.status == 0);
    CHECK_THAT(r.summary(), Catch::Contains("cannot run /nonexistent/rclone: not found"));
}
