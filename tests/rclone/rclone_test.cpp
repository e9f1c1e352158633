// Issue 7: RCLONE targets against real remotes served on 127.0.0.1.
//   1. an offline push through pushcapd lands every file, byte-identical, on WebDAV and SFTP;
//   2. the same on an S3-compatible server (s3rver) with path-style access, AWS_CA_BUNDLE set;
//   3. the remote dies mid-push and comes back: every file arrives once, and a poller never
//      sees a final name with a partial object;
//   4. SIGKILL of the worker during uploads: the restarted worker drains the spool and the
//      remote holds each file once.
//   5. the worker's rclone rcd daemons are SIGKILLed during uploads: new ones take over and the
//      remote holds each file once;
//   6. SpoolMax with the remote down: the worker stops taking packets (the lossless producer
//      waits), says so, the spool stays bounded; when the remote is back, every packet arrives
//      once. On a live ring the producer does not wait and the ring counts what the worker
//      missed: what arrives plus what was counted lost is the whole feed.
// The oracle is a File target reading the same ring: same names, same bytes.
#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "../workers/worker_test_support.hpp"
#include "router/ring_janitor.hpp"
#include "tools/loopback_port.hpp"
#include "workers/slot_counters.hpp"

using namespace pushcap::workers::test;
using namespace std::chrono_literals;
using pushcap::tools::freeLoopbackPort;
using pushcap::tools::loopbackPortOpen;

namespace {

std::string commandOutput(const std::string& command) {
    std::string out;
    if (FILE* p = ::popen(command.c_str(), "r")) {
        char buffer[4096];
        while (std::size_t n = std::fread(buffer, 1, sizeof buffer, p))
            out.append(buffer, n);
        ::pclose(p);
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == '\r'))
        out.pop_back();
    return out;
}

std::string rcloneProgram() {
    return commandOutput("command -v rclone 2>/dev/null");
}

// A server process listening on `port` once started.
std::unique_ptr<Child> startServer(std::vector<std::string> argv, const std::string& log,
                                   int port) {
    auto server = std::make_unique<Child>(std::move(argv), log);
    REQUIRE(waitFor([&] { return loopbackPortOpen(port) || !server->running(); }, 30s));
    INFO(readFile(log));
    REQUIRE(server->running());
    return server;
}

std::unique_ptr<Child> webdavServer(const std::string& dir, int port, const std::string& log) {
    ::mkdir(dir.c_str(), 0755);
    return startServer({rcloneProgram(), "serve", "webdav", dir, "--addr",
                        "127.0.0.1:" + std::to_string(port), "--dir-cache-time", "1s"},
                       log, port);
}

// Remotes through environment variables, so no rclone.conf is needed.
std::vector<std::string> webdavEnv(const std::string& name, int port) {
    return {"RCLONE_CONFIG_" + name + "_TYPE=webdav",
            "RCLONE_CONFIG_" + name + "_URL=http://127.0.0.1:" + std::to_string(port),
            "RCLONE_CONFIG_" + name + "_VENDOR=other"};
}

std::string envPrefix(const std::vector<std::string>& env) {
    std::string s = "env -u AWS_CA_BUNDLE";
    for (const std::string& e : env) {
        if (e.rfind("AWS_CA_BUNDLE=", 0) != 0)
            s += " " + quote(e);
    }
    return s + " ";
}

// Non-hidden files of `dir` (hidden ones are upload temporaries).
std::vector<std::string> visibleFiles(const std::string& dir) {
    std::vector<std::string> out;
    for (const std::string& n : listFiles(dir)) {
        if (n[0] != '.')
            out.push_back(n);
    }
    return out;
}

std::uint64_t fileSize(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

// Every file of `ref` is in `dir` with the same bytes, and `dir` holds nothing else.
void requireSameFiles(const std::string& ref, const std::string& dir) {
    const std::vector<std::string> names = listFiles(ref);
    REQUIRE(!names.empty());
    CHECK(listFiles(dir) == names);
    for (const std::string& n : names) {
        INFO(n);
        CHECK(readFile(dir + "/" + n) == readFile(ref + "/" + n));
    }
}

std::string writeConfig(const std::string& dir, const std::string& targets) {
    const std::string path = dir + "/push.lua";
    std::ofstream(path) << "local Config = {}\nConfig.StateDir = \"" << dir
                        << "/state\"\nConfig.Target = {}\n"
                        << targets << "return Config\n";
    return path;
}

std::string target(const std::string& desc, const std::string& mode, const std::string& path) {
    return "table.insert(Config.Target, { Desc = \"" + desc + "\", Mode = \"" + mode +
           "\", Path = \"" + path +
           "\", Split = \"--split-time 1e9\", FileName = \"--filename-epoch-sec-startend\" })\n";
}

std::string logs(const std::string& dir) {
    std::string all;
    for (const std::string& n : listFiles(dir + "/log"))
        all += "== " + n + "\n" + readFile(dir + "/log/" + n);
    return all;
}

std::unique_ptr<pushcap::router::RingJanitor> losslessRing(
    pushcap::router::RingMode mode = pushcap::router::RingMode::Lossless) {
    pushcap::router::RingConfig c;
    c.instance = uniqueName("rcl");
    c.source = "src";
    c.dataCapacity = 1 << 20;
    c.maxBatchBytes = 64 << 10;
    c.mode = mode;
    return std::make_unique<pushcap::router::RingJanitor>(c);
}

std::uint64_t slotCounter(pushcap::router::RingJanitor& ring, const std::string& consumer,
                          std::uint32_t index) {
    for (const auto& c : ring.snapshot().consumers) {
        if (c.name == consumer)
            return c.counters[index];
    }
    return 0;
}

const std::vector<std::string> SPLIT = {"--split-time", "5e8", "--filename-epoch-nsec"};

const pushcap::router::ConsumerSnapshot& consumerOf(const pushcap::router::RingSnapshot& ring,
                                                    const std::string& consumer) {
    for (const auto& c : ring.consumers) {
        if (c.name == consumer)
            return c;
    }
    FAIL("no consumer " << consumer << " in ring " << ring.name);
    throw std::logic_error("unreachable");
}

// The rclone processes whose parent is `parent` (a worker's rclone rcd daemons).
std::set<pid_t> rcloneChildren(pid_t parent) {
    std::set<pid_t> out;
    DIR* proc = ::opendir("/proc");
    if (proc == nullptr)
        return out;
    while (dirent* e = ::readdir(proc)) {
        const pid_t pid = static_cast<pid_t>(std::atoi(e->d_name));
        if (pid <= 0)
            continue;
        // "pid (comm) state ppid ...": comm may hold spaces, so read from its last ')'.
        const std::string stat = readFile("/proc/" + std::string(e->d_name) + "/stat");
        const std::size_t open = stat.find('(');
        const std::size_t close = stat.rfind(')');
        if (open == std::string::npos || close == std::string::npos || close + 4 >= stat.size())
            continue;
        const pid_t ppid = static_cast<pid_t>(std::atoi(stat.c_str() + close + 4));
        if (ppid == parent && stat.substr(open + 1, close - open - 1) == "rclone")
            out.insert(pid);
    }
    ::closedir(proc);
    return out;
}

bool endsWithText(const std::string& s, const std::string& tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Whole pcap records (16-byte header + captured bytes) of a concatenation of records.
std::vector<std::string> splitRecords(const std::string& records) {
    std::vector<std::string> out;
    for (std::size_t at = 0; at + 16 <= records.size();) {
        std::uint32_t caplen = 0;
        std::memcpy(&caplen, records.data() + at + 8, 4);
        out.push_back(records.substr(at, 16 + caplen));
        at += 16 + caplen;
    }
    return out;
}

// `part` is `whole` with some records left out, the rest in order.
bool isSubsequence(const std::vector<std::string>& part, const std::vector<std::string>& whole) {
    std::size_t w = 0;
    for (const std::string& r : part) {
        while (w < whole.size() && whole[w] != r)
            ++w;
        if (w == whole.size())
            return false;
        ++w;
    }
    return true;
}

// Bytes in the spool's top level: complete files and the open `.pending` one.
struct SpoolUse {
    std::uint64_t complete = 0;
    std::uint64_t total = 0;
};

SpoolUse spoolUse(const std::string& dir) {
    SpoolUse u;
    for (const std::string& n : visibleFiles(dir)) {
        const std::uint64_t size = fileSize(dir + "/" + n);
        u.total += size;
        if (!endsWithText(n, ".pending"))
            u.complete += size;
    }
    return u;
}

// True, with a warning, when rclone is not installed: the caller skips its test.
bool skipWithoutRclone() {
    if (!rcloneProgram().empty())
        return false;
    WARN("rclone not installed (scripts/install-deps.sh installs it): test skipped");
    return true;
}

// Where the worker-level tests run: a WebDAV remote "WD" for `dir`/wd on a free port (up once
// serve() is called), a ring with the consumer "up" (the RCLONE worker) and, by default, the
// oracle: a File worker "ref" writing `dir`/ref/all from the same ring.
struct UploadRigOptions {
    bool reference = true;
    pushcap::router::RingMode mode = pushcap::router::RingMode::Lossless;
};

struct UploadRig {
    explicit UploadRig(const std::string& where, UploadRigOptions o = {})
        : dir(where),
          port(freeLoopbackPort()),
          remoteDir(where + "/wd"),
          spool(where + "/spool"),
          env(webdavEnv("WD", port)),
          ring(losslessRing(o.mode)) {
        if (o.reference) {
            ring->addConsumer("ref");
            ref =
                std::make_unique<Child>(workerCommand(ring->name(), "ref", dir + "/ref/all", SPLIT),
                                        dir + "/ref.log", true);
        }
        ring->addConsumer("up");
    }
    void serve(const std::string& logName) {
        server = webdavServer(remoteDir, port, dir + "/" + logName);
    }
    // The RCLONE worker's argv: SPLIT, the spool, then `extra`.
    std::vector<std::string> uploadCommand(const std::vector<std::string>& extra) const {
        std::vector<std::string> args = SPLIT;
        args.insert(args.end(), {"--mode", "rclone", "--spool-dir", spool});
        args.insert(args.end(), extra.begin(), extra.end());
        return workerCommand(ring->name(), "up", "wd:push/all", args);
    }

    std::string dir;
    int port;
    std::string remoteDir, spool;
    std::vector<std::string> env;
    std::unique_ptr<pushcap::router::RingJanitor> ring;
    std::unique_ptr<Child> ref;
    std::unique_ptr<Child> server;
};

}  // namespace

TEST_CASE("offline push lands on WebDAV and SFTP remotes, byte-identical", "[rclone][e2e]") {
    if (skipWithoutRclone())
        return;
    TempDir tmp;
    const std::string in =
        makeInput(tmp.path, "--count " + std::to_string(long(20000 * testScale())) +
                                " --duration 6 --seed 5");
    const int webdavPort = freeLoopbackPort();
    auto webdav = webdavServer(tmp.path + "/wd", webdavPort, tmp.path + "/webdav.log");
    const int sftpPort = freeLoopbackPort();
    ::mkdir((tmp.path + "/sf").c_str(), 0755);
    auto sftp = startServer({rcloneProgram(), "serve", "sftp", tmp.path + "/sf", "--addr",
                             "127.0.0.1:" + std::to_string(sftpPort), "--user", "pushcap", "--pass",
                             "secret", "--dir-cache-time", "1s"},
                            tmp.path + "/sftp.log", sftpPort);
    std::vector<std::string> env = webdavEnv("WD", webdavPort);
    const std::string obscured = commandOutput(quote(rcloneProgram()) + " obscure secret");
    env.insert(env.end(), {"RCLONE_CONFIG_SF_TYPE=sftp", "RCLONE_CONFIG_SF_HOST=127.0.0.1",
                           "RCLONE_CONFIG_SF_PORT=" + std::to_string(sftpPort),
                           "RCLONE_CONFIG_SF_USER=pushcap", "RCLONE_CONFIG_SF_PASS=" + obscured,
                           "RCLONE_CONFIG_SF_SHELL_TYPE=none"});
    const std::string config = writeConfig(tmp.path, target("ref", "File", tmp.path + "/ref/all") +
                                                         target("wd", "RCLONE", "wd:push/all") +
                                                         target("sf", "rclone", "sf:push/all"));
    Child run(pushcapdCommand(config, tmp.path, {"--offline", in}), tmp.path + "/pushcapd.log",
              false, env);
    const auto code = run.exitCode(150s);
    INFO(readFile(tmp.path + "/pushcapd.log") << logs(tmp.path));
    REQUIRE(code == 0);
    requireSameFiles(tmp.path + "/ref", tmp.path + "/wd/push");
    requireSameFiles(tmp.path + "/ref", tmp.path + "/sf/push");
    // Uploaded files leave the spool.
    CHECK(listFiles(tmp.path + "/state/spool/wd").empty());
    CHECK(listFiles(tmp.path + "/state/spool/sf").empty());
}

TEST_CASE("offline push lands on an S3 remote (s3rver, path style)", "[rclone][e2e][s3]") {
    if (skipWithoutRclone())
        return;
    TempDir tmp;
    const std::string installer =
        std::string(std::getenv("PUSHCAP_SOURCE_DIR")) + "/tests/rclone/install_s3rver.sh";
    const std::string s3rver = commandOutput(quote(installer) + " 2>" + tmp.path + "/npm.log");
    if (s3rver.empty() || ::access(s3rver.c_str(), X_OK) != 0) {
        WARN("s3rver could not be installed with npm (" + readFile(tmp.path + "/npm.log") +
             "): test skipped");
        return;
    }
    const std::string in =
        makeInput(tmp.path, "--count " + std::to_string(long(10000 * testScale())) +
                                " --duration 4 --seed 6");
    const int port = freeLoopbackPort();
    ::mkdir((tmp.path + "/s3").c_str(), 0755);
    auto server =
        startServer({s3rver, "--directory", tmp.path + "/s3", "--port", std::to_string(port),
                     "--address", "127.0.0.1", "--silent", "--configure-bucket", "bucket"},
                    tmp.path + "/s3rver.log", port);
    // AWS_CA_BUNDLE stays set in this process's environment: the worker must drop it for rclone.
    const std::vector<std::string> env = {
        "RCLONE_CONFIG_S3_TYPE=s3",
        "RCLONE_CONFIG_S3_PROVIDER=Other",
        "RCLONE_CONFIG_S3_ENDPOINT=http://127.0.0.1:" + std::to_string(port),
        "RCLONE_CONFIG_S3_ACCESS_KEY_ID=S3RVER",
        "RCLONE_CONFIG_S3_SECRET_ACCESS_KEY=S3RVER",
        "RCLONE_CONFIG_S3_REGION=us-east-1",
        "RCLONE_CONFIG_S3_FORCE_PATH_STYLE=true",
        "AWS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt"};
    const std::string config =
        writeConfig(tmp.path, target("ref", "File", tmp.path + "/ref/all") +
                                  target("s3", "RCLONE", "s3:bucket/pcap/all"));
    Child run(pushcapdCommand(config, tmp.path, {"--offline", in}), tmp.path + "/pushcapd.log",
              false, env);
    const auto code = run.exitCode(150s);
    INFO(readFile(tmp.path + "/pushcapd.log") << logs(tmp.path));
    REQUIRE(code == 0);
    // Read back through rclone, an independent client of the same server.
    REQUIRE(runShell(envPrefix(env) + quote(rcloneProgram()) + " copy s3:bucket/pcap " +
                     quote(tmp.path + "/down") + " 2>" + quote(tmp.path + "/down.log")) == 0);
    requireSameFiles(tmp.path + "/ref", tmp.path + "/down");
}

TEST_CASE("a remote that dies mid-push gets every file once, never a partial one",
          "[rclone][e2e][multiproc]") {
    if (skipWithoutRclone())
        return;
    TempDir tmp;
    const double scale = testScale();
    const std::string in = makeInput(
        tmp.path, "--count " + std::to_string(long(20000 * scale)) + " --duration 8 --seed 7");
    UploadRig rig(tmp.path);
    rig.serve("webdav1.log");
    const std::string& remoteDir = rig.remoteDir;
    auto& ring = rig.ring;
    Child& ref = *rig.ref;
    Child up(rig.uploadCommand({"--upload-backoff-max-ms", "1000"}), tmp.path + "/up.log", true,
             rig.env);
    REQUIRE(ref.waitReady(20s));
    REQUIRE(up.waitReady(20s));

    // The poller: every final name it ever sees must already have its final size.
    std::atomic<bool> polling{true};
    std::mutex seenMutex;
    std::map<std::string, std::set<std::uint64_t>> seen;
    std::thread poller([&] {
        while (polling.load()) {
            for (const std::string& n : visibleFiles(remoteDir + "/push")) {
                const std::uint64_t size = fileSize(remoteDir + "/push/" + n);
                std::lock_guard<std::mutex> lock(seenMutex);
                seen[n].insert(size);
            }
            std::this_thread::sleep_for(5ms);
        }
    });

    // Paced: the files complete over a few seconds, so the outage falls inside the push.
    const unsigned delayUs = static_cast<unsigned>(1500 / scale);
    Child feeder(
        feederCommand(ring->name(), in,
                      {"--batch-packets", "16", "--batch-delay-us", std::to_string(delayUs)}),
        tmp.path + "/feeder.log");
    REQUIRE(waitFor([&] { return visibleFiles(remoteDir + "/push").size() >= 2; }, 60s));
    rig.server->kill(SIGKILL);
    REQUIRE(rig.server->exitCode(10s).has_value());
    // Down until the worker has seen uploads fail.
    REQUIRE(waitFor(
        [&] { return slotCounter(*ring, "up", pushcap::workers::WORKER_UPLOAD_FAILURES) >= 2; },
        60s));
    rig.serve("webdav2.log");

    REQUIRE(feeder.exitCode(120s) == 0);
    REQUIRE(ref.exitCode(60s) == 0);
    const auto code = up.exitCode(120s);
    polling = false;
    poller.join();
    INFO(readFile(tmp.path + "/up.log"));
    REQUIRE(code == 0);
    requireSameFiles(tmp.path + "/ref", remoteDir + "/push");
    CHECK(visibleFiles(tmp.path + "/spool").empty());
    REQUIRE(!seen.empty());
    for (const auto& [name, sizes] : seen) {
        INFO(name);
        CHECK(sizes == std::set<std::uint64_t>{fileSize(tmp.path + "/ref/" + name)});
    }
    CHECK(slotCounter(*ring, "up", pushcap::workers::WORKER_UPLOADS_COMPLETED) ==
          listFiles(tmp.path + "/ref").size());
    CHECK(pushcap::workers::uploadPendingFiles(
              slotCounter(*ring, "up", pushcap::workers::WORKER_UPLOAD_PENDING)) == 0);
    ring->remove();
}

TEST_CASE("SIGKILL of the worker during uploads: the restarted worker drains the spool once",
          "[rclone][e2e][multiproc]") {
    if (skipWithoutRclone())
        return;
    TempDir tmp;
    const std::string in =
        makeInput(tmp.path, "--count " + std::to_string(long(20000 * testScale())) +
                                " --duration 8 --seed 8");
    UploadRig rig(tmp.path);
    rig.serve("webdav.log");
    const std::string& remoteDir = rig.remoteDir;
    auto& ring = rig.ring;
    Child& ref = *rig.ref;
    const std::vector<std::string> command = rig.uploadCommand({"--uploads", "2"});
    auto up = std::make_unique<Child>(command, tmp.path + "/up1.log", true, rig.env);
    REQUIRE(ref.waitReady(20s));
    REQUIRE(up->waitReady(20s));
    Child feeder(feederCommand(ring->name(), in), tmp.path + "/feeder.log");
    REQUIRE(feeder.exitCode(60s) == 0);
    REQUIRE(ref.exitCode(60s) == 0);
    const std::size_t total = listFiles(tmp.path + "/ref").size();
    REQUIRE(total >= 8);

    // Kill twice while uploads run: once early, once after the restart made progress.
    int kills = 0;
    for (int round = 1; round <= 2; ++round) {
        const std::size_t before = visibleFiles(remoteDir + "/push").size();
        REQUIRE(waitFor([&] { return visibleFiles(remoteDir + "/push").size() > before; }, 60s));
        if (visibleFiles(tmp.path + "/spool").size() < 2)
            break;  // too fast to catch mid-upload: the restart still has to be clean
        up->kill(SIGKILL);
        ++kills;
        REQUIRE(up->exitCode(10s).has_value());
        up = std::make_unique<Child>(command, tmp.path + "/up" + std::to_string(round + 1) + ".log",
                                     true, rig.env);
        REQUIRE(up->waitReady(20s));
    }
    const auto code = up->exitCode(120s);
    INFO(readFile(tmp.path + "/up1.log")
         << readFile(tmp.path + "/up2.log") << readFile(tmp.path + "/up3.log"));
    REQUIRE(code == 0);
    CHECK(kills >= 1);
    requireSameFiles(tmp.path + "/ref", remoteDir + "/push");
    CHECK(visibleFiles(tmp.path + "/spool").empty());
    // Never more than one count per file. A kill can lose the count of each upload that ended in
    // the instant before it (local copy deleted, counters not yet committed): one per thread.
    const std::uint64_t completed =
        slotCounter(*ring, "up", pushcap::workers::WORKER_UPLOADS_COMPLETED);
    CHECK(completed <= total);
    CHECK(completed + 2 * std::uint64_t(kills) >= total);
    ring->remove();
}

TEST_CASE("killed rclone rcd daemons are replaced: every file arrives once",
          "[rclone][e2e][multiproc]") {
    if (skipWithoutRclone())
        return;
    TempDir tmp;
    const double scale = testScale();
    const std::string in = makeInput(
        tmp.path, "--count " + std::to_string(long(20000 * scale)) + " --duration 8 --seed 11");
    UploadRig rig(tmp.path);
    rig.serve("webdav.log");
    const std::string& remoteDir = rig.remoteDir;
    auto& ring = rig.ring;
    Child& ref = *rig.ref;
    // Slow transfers (the daemons inherit the worker's environment), so the kill lands while
    // files are still waiting and transfers run.
    rig.env.push_back("RCLONE_BWLIMIT=" + std::to_string(std::max(64L, long(1024 * scale))) + "k");
    Child up(rig.uploadCommand({"--uploads", "2", "--upload-backoff-max-ms", "500"}),
             tmp.path + "/up.log", true, rig.env);
    REQUIRE(ref.waitReady(20s));
    REQUIRE(up.waitReady(20s));
    Child feeder(feederCommand(ring->name(), in), tmp.path + "/feeder.log");
    REQUIRE(feeder.exitCode(60s) == 0);
    REQUIRE(ref.exitCode(60s) == 0);
    const std::size_t total = listFiles(tmp.path + "/ref").size();
    REQUIRE(total >= 8);

    REQUIRE(waitFor([&] { return !visibleFiles(remoteDir + "/push").empty(); }, 60s));
    const std::set<pid_t> killed = rcloneChildren(up.pid());
    REQUIRE(killed.size() == 2);  // one per upload thread
    CHECK(visibleFiles(tmp.path + "/spool").size() >= 2);
    for (const pid_t pid : killed)
        ::kill(pid, SIGKILL);
    // Replaced on the next call.
    std::set<pid_t> replacements;
    REQUIRE(waitFor(
        [&] {
            for (const pid_t pid : rcloneChildren(up.pid())) {
                if (killed.count(pid) == 0)
                    replacements.insert(pid);
            }
            return !replacements.empty();
        },
        60s));

    const auto code = up.exitCode(120s);
    INFO(readFile(up.logFile()));
    REQUIRE(code == 0);
    requireSameFiles(tmp.path + "/ref", remoteDir + "/push");
    CHECK(visibleFiles(tmp.path + "/spool").empty());
    CHECK(slotCounter(*ring, "up", pushcap::workers::WORKER_UPLOADS_COMPLETED) == total);
    // No daemon outlives its worker (the worker reaps them before it exits).
    for (const pid_t pid : replacements)
        CHECK(::kill(pid, 0) != 0);
    ring->remove();
}

TEST_CASE("SpoolMax: a dead remote stops the worker, back-pressures the feed, loses nothing",
          "[rclone][e2e][multiproc]") {
    if (skipWithoutRclone())
        return;
    TempDir tmp;
    // Not scaled: the sizes are chosen against the ring (1 MiB) and SpoolMax, so the feed must
    // outgrow both (~4.4 MB in 16 files of ~275 KB), and that is small even under sanitizers.
    const std::string in = makeInput(tmp.path, "--count 12000 --duration 8 --seed 10");
    const std::uint64_t spoolMax = 600'000;
    UploadRig rig(tmp.path);
    const std::string& remoteDir = rig.remoteDir;
    const std::string& spool = rig.spool;
    auto& ring = rig.ring;
    Child& ref = *rig.ref;
    // The remote is down from the start: nothing leaves the spool.
    Child up(rig.uploadCommand(
                 {"--spool-max", std::to_string(spoolMax), "--upload-backoff-max-ms", "300"}),
             tmp.path + "/up.log", true, rig.env);
    REQUIRE(ref.waitReady(20s));
    REQUIRE(up.waitReady(20s));

    // The spool's high-water marks over the whole run.
    std::atomic<bool> polling{true};
    std::atomic<std::uint64_t> maxComplete{0}, maxTotal{0};
    std::thread poller([&] {
        while (polling.load()) {
            const SpoolUse u = spoolUse(spool);
            maxComplete.store(std::max(maxComplete.load(), u.complete));
            maxTotal.store(std::max(maxTotal.load(), u.total));
            std::this_thread::sleep_for(2ms);
        }
    });
    struct StopPoller {
        std::atomic<bool>& polling;
        std::thread& poller;
        ~StopPoller() {
            polling = false;
            if (poller.joinable())
                poller.join();
        }
    } stopPoller{polling, poller};

    Child feeder(feederCommand(ring->name(), in), tmp.path + "/feeder.log");
    const std::string fullLine = "taking no packets until uploads catch up";
    REQUIRE(
        waitFor([&] { return readFile(up.logFile()).find(fullLine) != std::string::npos; }, 60s));
    // Back-pressure: the ring fills up behind the stopped worker until the producer cannot
    // reserve its next batch (a whole max-size batch, after padding to the ring's end). The
    // worker may still commit what it read before it stopped (with its next counters), and that
    // frees room: the stall is the state where it has committed all it read and the producer is
    // blocked even so.
    const std::uint64_t capacity = ring->snapshot().capacity;
    const std::uint64_t maxBatch = 64 << 10;
    REQUIRE(waitFor(
        [&] {
            const auto s = ring->snapshot();
            const auto& up = consumerOf(s, "up");
            const std::uint64_t offset = s.writePos % capacity;
            const std::uint64_t pad = offset + maxBatch > capacity ? capacity - offset : 0;
            return s.producerWaits > 0 && up.committedPos == up.readPos &&
                   s.writePos + pad + maxBatch > up.committedPos + capacity;
        },
        60s));
    const auto stalled = ring->snapshot();
    const auto& upStalled = consumerOf(stalled, "up");
    // While the worker keeps failing uploads (so it is alive, retrying and committing its
    // counters), it reads nothing and the producer stays blocked.
    const std::uint64_t failures =
        slotCounter(*ring, "up", pushcap::workers::WORKER_UPLOAD_FAILURES);
    REQUIRE(waitFor(
        [&] {
            return slotCounter(*ring, "up", pushcap::workers::WORKER_UPLOAD_FAILURES) >=
                   failures + 3;
        },
        60s));
    const auto later = ring->snapshot();
    const auto& upLater = consumerOf(later, "up");
    CHECK(upLater.readPos == upStalled.readPos);
    CHECK(upLater.committedPos == upStalled.committedPos);
    CHECK(later.writePos == stalled.writePos);
    CHECK(later.publishedPackets < 12000);
    CHECK(feeder.running());
    // Reported: the pending gauge in the slot is at or above SpoolMax, and nothing went up.
    const std::uint64_t pending = slotCounter(*ring, "up", pushcap::workers::WORKER_UPLOAD_PENDING);
    CHECK(pushcap::workers::uploadPendingBytes(pending) >= spoolMax);
    CHECK(pushcap::workers::uploadPendingFiles(pending) >= 1);
    CHECK(slotCounter(*ring, "up", pushcap::workers::WORKER_UPLOADS_COMPLETED) == 0);
    CHECK(spoolUse(spool).complete == pushcap::workers::uploadPendingBytes(pending));

    // The remote comes back: the spool drains, the worker reads again, the push completes.
    rig.serve("webdav.log");
    REQUIRE(feeder.exitCode(120s) == 0);
    REQUIRE(ref.exitCode(60s) == 0);
    const auto code = up.exitCode(120s);
    polling = false;
    poller.join();
    INFO(readFile(up.logFile()));
    REQUIRE(code == 0);
    CHECK(readFile(up.logFile()).find("spool below SpoolMax again: taking packets") !=
          std::string::npos);

    // Every packet exactly once, byte-identical: same files as the File target, and together
    // the same records as tcpdump reads from the input.
    requireSameFiles(tmp.path + "/ref", remoteDir + "/push");
    CHECK(concatenatedRecords(remoteDir + "/push", ".pcap") == oracle(in, "", tmp.path).records);
    CHECK(visibleFiles(spool).empty());
    const std::size_t files = listFiles(tmp.path + "/ref").size();
    CHECK(slotCounter(*ring, "up", pushcap::workers::WORKER_UPLOADS_COMPLETED) == files);

    // Bounded: complete files overshoot SpoolMax by at most the file that crossed it, and the
    // open file then holds at most the rest of that batch.
    std::uint64_t largest = 0;
    for (const std::string& n : listFiles(tmp.path + "/ref"))
        largest = std::max(largest, fileSize(tmp.path + "/ref/" + n));
    CHECK(maxComplete.load() >= spoolMax);
    CHECK(maxComplete.load() < spoolMax + largest);
    CHECK(maxTotal.load() <= spoolMax + largest + maxBatch + 24);
    ring->remove();
}

TEST_CASE("SpoolMax on a live ring: the producer goes on, the ring counts what the worker missed",
          "[rclone][e2e][multiproc]") {
    if (skipWithoutRclone())
        return;
    TempDir tmp;
    // As in the lossless case: sized against the ring and SpoolMax, not scaled.
    const std::uint64_t total = 12000;
    const std::string in = makeInput(tmp.path, "--count 12000 --duration 8 --seed 12");
    const std::uint64_t spoolMax = 600'000;
    UploadRig rig(tmp.path, {.reference = false, .mode = pushcap::router::RingMode::Live});
    const std::string& remoteDir = rig.remoteDir;
    const std::string& spool = rig.spool;
    auto& ring = rig.ring;
    Child up(rig.uploadCommand(
                 {"--spool-max", std::to_string(spoolMax), "--upload-backoff-max-ms", "300"}),
             tmp.path + "/up.log", true, rig.env);
    REQUIRE(up.waitReady(20s));
    std::atomic<bool> polling{true};
    std::atomic<std::uint64_t> maxComplete{0};
    std::thread poller([&] {
        while (polling.load()) {
            maxComplete.store(std::max(maxComplete.load(), spoolUse(spool).complete));
            std::this_thread::sleep_for(2ms);
        }
    });
    struct StopPoller {
        std::atomic<bool>& polling;
        std::thread& poller;
        ~StopPoller() {
            polling = false;
            if (poller.joinable())
                poller.join();
        }
    } stopPoller{polling, poller};

    // Paced so that a worker taking packets keeps up: what it misses is missed because it
    // stopped. The remote is down from the start.
    Child feeder(
        feederCommand(ring->name(), in, {"--batch-packets", "16", "--batch-delay-us", "1500"}),
        tmp.path + "/feeder.log");
    REQUIRE(waitFor(
        [&] {
            return readFile(up.logFile()).find("taking no packets until uploads catch up") !=
                   std::string::npos;
        },
        60s));
    // Not back-pressured: the feed completes while the worker takes nothing.
    REQUIRE(feeder.exitCode(120s) == 0);
    CHECK(slotCounter(*ring, "up", pushcap::workers::WORKER_UPLOADS_COMPLETED) == 0);

    rig.serve("webdav.log");
    const auto code = up.exitCode(120s);
    polling = false;
    poller.join();
    INFO(readFile(up.logFile()));
    REQUIRE(code == 0);

    const std::uint64_t lost = slotCounter(*ring, "up", pushcap::router::COUNTER_PACKETS_LOST);
    const std::uint64_t written =
        slotCounter(*ring, "up", pushcap::workers::WORKER_PACKETS_WRITTEN);
    CHECK(lost > 0);
    CHECK(written + lost == total);
    // What arrived is the input minus the lost packets, in order, each once, byte-identical.
    const std::vector<std::string> arrived =
        splitRecords(concatenatedRecords(remoteDir + "/push", ".pcap"));
    CHECK(arrived.size() == written);
    CHECK(isSubsequence(arrived, splitRecords(oracle(in, "", tmp.path).records)));
    CHECK(visibleFiles(spool).empty());
    const std::vector<std::string> files = visibleFiles(remoteDir + "/push");
    CHECK(slotCounter(*ring, "up", pushcap::workers::WORKER_UPLOADS_COMPLETED) == files.size());
    std::uint64_t largest = 0;
    for (const std::string& n : files)
        largest = std::max(largest, fileSize(remoteDir + "/push/" + n));
    CHECK(maxComplete.load() >= spoolMax);
    CHECK(maxComplete.load() < spoolMax + largest);
    ring->remove();
}
