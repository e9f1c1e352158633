// pushcapd end to end: real pushcapd, capture and worker processes, real signals, and output
// compared byte for byte with tcpdump's.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <random>
#include <regex>
#include <thread>
#include <zmq.hpp>

#include "../workers/worker_test_support.hpp"
#include "router/ring_janitor.hpp"
#include "status.pb.h"

using namespace pushcap::workers::test;
using namespace std::chrono_literals;

namespace {

// Rings of this process's pushcapd instances ("e2e<pid>x<n>") that a pushcapd killed before its
// clean-up left in /dev/shm, removed when the test program ends.
RingSweeper g_ringSweeper("pushcap.e2e" + std::to_string(::getpid()) + "x");

const char* const TCP_FILTER = "net 192.168.1.0/24 and tcp";

std::string sourceDir() {
    return std::getenv("PUSHCAP_SOURCE_DIR");
}

// Whether process `pid` ignores `sig` (its SigIgn mask in /proc).
bool ignoresSignal(pid_t pid, int sig) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    for (std::string line; std::getline(in, line);) {
        if (line.rfind("SigIgn:", 0) == 0)
            return (std::stoull(line.substr(7), nullptr, 16) >> (sig - 1)) & 1;
    }
    return false;
}

std::size_t countOf(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1))
        ++n;
    return n;
}

// FMADIO's example, saved unchanged, with its two Paths pointed into `dir`.
std::string exampleConfig(const std::string& dir) {
    std::string text = readFile(sourceDir() + "/examples/push_realtime.lua");
    text = std::regex_replace(text, std::regex("/mnt/remote0/push/all"), dir + "/all/all");
    text = std::regex_replace(text, std::regex("/mnt/remote0/push/tcp"), dir + "/tcp/tcp");
    const std::string path = dir + "/push_realtime.lua";
    std::ofstream(path) << text;
    return path;
}

std::vector<std::string> pushcapd(const std::string& config, const std::string& dir,
                                  std::vector<std::string> extra, const std::string& program = "") {
    // The "e2e" instance prefix is what g_ringSweeper removes.
    return pushcapdCommand(config, dir, std::move(extra), uniqueName("e2e"), program);
}

std::uint64_t bytesIn(const std::string& dir) {
    std::uint64_t total = 0;
    for (const std::string& name : listFiles(dir)) {
        struct stat st {};
        if (::stat((dir + "/" + name).c_str(), &st) == 0)
            total += static_cast<std::uint64_t>(st.st_size);
    }
    return total;
}

std::size_t countPending(const std::string& dir) {
    std::size_t n = 0;
    for (const char* sub : {"/all", "/tcp"}) {
        for (const std::string& name : listFiles(dir + sub))
            n += name.find(".pending") != std::string::npos;
    }
    return n;
}

void requireOracleOutput(const std::string& dir, const std::string& input) {
    const PcapFile all = oracle(input, "", dir);
    const PcapFile tcp = oracle(input, TCP_FILTER, dir);
    REQUIRE(all.packets > 0);
    REQUIRE(tcp.packets > 0);
    CHECK(concatenatedRecords(dir + "/all", ".pcap") == all.records);
    CHECK(concatenatedRecords(dir + "/tcp", ".pcap") == tcp.records);
    CHECK(countPending(dir) == 0);
}

// Like waitFor, but polling every 100 us: a worker at full speed commits many times a
// millisecond, and a kill meant for "just after its first commit" must not come many commits
// later.
bool waitClosely(const std::function<bool()>& condition, std::chrono::milliseconds deadline) {
    const auto end = std::chrono::steady_clock::now() + deadline;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= end)
            return false;
        std::this_thread::sleep_for(100us);
    }
    return true;
}

// `consumer`'s slot in `ring` (empty if it has none).
pushcap::router::ConsumerSnapshot slotOf(const pushcap::router::RingJanitor& ring,
                                         const std::string& consumer) {
    for (pushcap::router::ConsumerSnapshot& c : ring.snapshot().consumers) {
        if (c.name == consumer)
            return c;
    }
    return {};
}

// The parent of process `pid`, or 0 once it is dead (a zombie or gone).
pid_t liveParentOf(pid_t pid) {
    const std::string stat = readFile("/proc/" + std::to_string(pid) + "/stat");
    const std::size_t close = stat.rfind(')');
    if (close == std::string::npos || stat.size() < close + 4 || stat[close + 2] == 'Z')
        return 0;
    return std::atoi(stat.c_str() + close + 4);
}

// A copy of pushcapd in `dir`/bin, where its child program `child` (pushcap-worker or
// pushcap-capture) is the sh script `body`, and the other one the real program: pushcapd runs
// its children from next to its own executable. REAL in `body` is the real program's path.
std::string pushcapdWithWrapped(const std::string& dir, const std::string& child,
                                const std::string& body) {
    const std::string bin = dir + "/bin";
    const std::string other = child == "pushcap-worker" ? "pushcap-capture" : "pushcap-worker";
    REQUIRE(runShell("mkdir -p " + quote(bin) + " && cp " + quote(binDir() + "/pushcapd") + " " +
                     quote(bin) + " && ln -s " + quote(binDir() + "/" + other) + " " +
                     quote(bin)) == 0);
    std::ofstream(bin + "/" + child)
        << "#!/bin/sh\n"
        << std::regex_replace(body, std::regex("REAL"), quote(binDir() + "/" + child)) << "\n";
    ::chmod((bin + "/" + child).c_str(), 0755);
    return bin + "/pushcapd";
}

// The same, with a pushcap-worker that runs `prelude` (sh) before exec'ing the real worker.
std::string pushcapdWithWorkerPrelude(const std::string& dir, const std::string& prelude) {
    return pushcapdWithWrapped(dir, "pushcap-worker", prelude + "\nexec REAL \"$@\"");
}

// The example config with `lines` (Lua) added before its `return Config`.
std::string exampleConfigWith(const std::string& dir, const std::string& lines) {
    std::string config = readFile(exampleConfig(dir));
    config = std::regex_replace(config, std::regex("return Config"), lines + "\nreturn Config");
    std::ofstream(dir + "/push_realtime.lua") << config;
    return dir + "/push_realtime.lua";
}

}  // namespace

TEST_CASE(
    "the FMADIO example config pushes a capture offline: every packet, tcpdump's tcp subset, "
    "aligned names",
    "[e2e][multiproc][supervisor]") {
    TempDir dir;
    const std::string input =
        makeInput(dir.path, "--count 20000 --duration 185 --start 1700000010 --seed 11");
    Child d(pushcapd(exampleConfig(dir.path), dir.path, {"--offline", input}),
            dir.path + "/pushcapd.log");
    const auto code = d.exitCode(120s);
    INFO(readFile(dir.path + "/pushcapd.log"));
    REQUIRE(code == 0);
    requireOracleOutput(dir.path, input);

    std::vector<std::string> names;
    concatenatedRecords(dir.path + "/all", ".pcap", &names);
    REQUIRE(names.size() == 4);  // 1700000010 .. 1700000195 spans four aligned minutes
    const std::regex form(R"(all_(\d+)-(\d+)\.pcap)");
    for (const std::string& n : names) {
        std::smatch m;
        REQUIRE(std::regex_match(n, m, form));
        const long start = std::stol(m[1]), end = std::stol(m[2]);
        CHECK(start % 60 == 0);
        CHECK(end - start == 60);
        const PcapFile f = readPcap(dir.path + "/all/" + n);
        CHECK(f.firstTs / 1'000'000'000 >= std::uint64_t(start));
        CHECK(f.lastTs / 1'000'000'000 < std::uint64_t(end));
    }
    CHECK(names.front() == "all_1699999980-1700000040.pcap");
}

TEST_CASE("SIGKILLed workers are restarted and the output still equals the oracle",
          "[e2e][multiproc][supervisor]") {
    TempDir dir;
    // Not scaled down under sanitizers: the push must last long enough to be killed into.
    const std::string input = makeInput(dir.path, "--count 300000 --duration 600 --seed 5");
    Child d(pushcapd(exampleConfig(dir.path), dir.path, {"--offline", input}),
            dir.path + "/pushcapd.log");
    std::mt19937 rng(1234);
    int kills = 0;
    // At most 4 kills per target: the output checks hold even if none came after a commit
    // (5 crashes without progress within 30 s would mark it FAILED).
    for (int round = 0; round < 8 && d.running(); ++round) {
        const std::string target = round % 2 ? "pcap-tcp" : "pcap-all";
        std::vector<pid_t> pids;
        if (!waitFor(
                [&] {
                    return !(pids = childrenMatching(d.pid(), "--name " + target)).empty() ||
                           !d.running();
                },
                30s)) {
            FAIL("no worker for " << target);
        }
        if (pids.empty())
            break;
        // Kill it mid-stream, once it has written a random amount more.
        const std::string out = dir.path + (target == "pcap-all" ? "/all" : "/tcp");
        const std::uint64_t goal =
            bytesIn(out) + std::uniform_int_distribution<std::uint64_t>(0, 4 << 20)(rng);
        waitFor([&] { return bytesIn(out) >= goal || !d.running(); }, 30s);
        if (::kill(pids.front(), SIGKILL) == 0)
            ++kills;
        waitFor(
            [&] { return childrenMatching(d.pid(), "--name " + target) != pids || !d.running(); },
            30s);
    }
    const auto code = d.exitCode(300s);
    INFO(readFile(dir.path + "/pushcapd.log"));
    REQUIRE(code == 0);
    CHECK(kills >= 2);
    const std::string log = readFile(dir.path + "/pushcapd.log");
    CHECK(log.find("restart #1") != std::string::npos);
    requireOracleOutput(dir.path, input);
}

TEST_CASE(
    "a worker SIGKILLed 100 times while it makes progress completes; output equals the oracle",
    "[e2e][multiproc][supervisor]") {
    TempDir dir;
    // A 1 MiB ring: workers commit every 128 KiB, so each kill costs little of the input (the
    // lossless capture is never more than the ring ahead of pcap-all). Kills came 220-400 KB
    // apart on average here, under load: 100 of them take 25-50 MB of this 290 MB push.
    const std::string config = exampleConfigWith(dir.path, "Config.RingSize = 1048576");
    const std::string input = makeInput(dir.path, "--count 800000 --duration 600 --seed 21");
    const std::string instance = uniqueName("e2e");
    std::vector<std::string> argv =
        pushcapdCommand(config, dir.path, {"--offline", input}, instance);
    // Niced, so this test is scheduled the moment its poll is due: a worker it had to wait for
    // would run ahead many commits between the one awaited and the kill.
    argv.insert(argv.begin(), {"/usr/bin/nice", "-n", "19"});
    Child d(argv, dir.path + "/pushcapd.log");
    // The ring exists once pushcapd started the workers.
    REQUIRE(waitFor(
        [&] { return !childrenMatching(d.pid(), "--name pcap-all").empty() || !d.running(); },
        30s));
    const pushcap::router::RingJanitor ring(pushcap::router::segmentName(instance, "capture"));

    std::mt19937 rng(4321);
    int kills = 0;
    std::uint64_t resumedAt = slotOf(ring, "pcap-all").committedPos;
    while (kills < 100) {
        // At a random point after the worker's first commit past where it resumed.
        const std::uint64_t goal =
            resumedAt + 1 + std::uniform_int_distribution<std::uint64_t>(0, 64 << 10)(rng);
        pushcap::router::ConsumerSnapshot slot;
        REQUIRE(waitClosely(
            [&] {
                slot = slotOf(ring, "pcap-all");
                return slot.committedPos >= goal || !d.running();
            },
            60s));
        if (slot.committedPos < goal)
            break;  // pushcapd ended
        // That commit came from the worker that owns the slot now, the one to kill. Read again:
        // the snapshot may have read the owner before that worker attached.
        const auto worker = static_cast<pid_t>(slotOf(ring, "pcap-all").ownerPid);
        REQUIRE(worker > 0);
        REQUIRE(liveParentOf(worker) == d.pid());
        REQUIRE(::kill(worker, SIGKILL) == 0);
        ++kills;
        // Dead, its last commit is where the next worker resumes.
        REQUIRE(waitClosely([&] { return liveParentOf(worker) == 0; }, 30s));
        resumedAt = slotOf(ring, "pcap-all").committedPos;
    }
    INFO("the last kill left pcap-all at ring position " << resumedAt << " of "
                                                         << ring.snapshot().writePos);
    const auto code = d.exitCode(300s);
    const std::string log = readFile(dir.path + "/pushcapd.log");
    INFO(log);
    REQUIRE(code == 0);
    CHECK(kills == 100);
    CHECK(log.find("pcap-all: exited with signal Killed; restart #100 ") != std::string::npos);
    CHECK(log.find("no progress") == std::string::npos);
    requireOracleOutput(dir.path, input);
}

TEST_CASE("a SIGKILLed capture process is restarted and resumes: output equals the oracle",
          "[e2e][multiproc][supervisor]") {
    TempDir dir;
    const auto count = std::to_string(std::max(20000, int(400000 * testScale())));
    const std::string input = makeInput(dir.path, "--count " + count + " --duration 300 --seed 6");
    Child d(pushcapd(exampleConfig(dir.path), dir.path, {"--offline", input}),
            dir.path + "/pushcapd.log");
    int kills = 0;
    for (int round = 0; round < 3 && d.running(); ++round) {
        std::vector<pid_t> pids;
        waitFor(
            [&] {
                return !(pids = childrenMatching(d.pid(), "pushcap-capture")).empty() ||
                       !d.running();
            },
            30s);
        if (pids.empty())
            break;
        if (::kill(pids.front(), SIGKILL) == 0)
            ++kills;
        waitFor(
            [&] { return childrenMatching(d.pid(), "pushcap-capture") != pids || !d.running(); },
            30s);
    }
    const auto code = d.exitCode(300s);
    INFO(readFile(dir.path + "/pushcapd.log"));
    REQUIRE(code == 0);
    CHECK(kills >= 1);
    requireOracleOutput(dir.path, input);
}

TEST_CASE("a worker that crashes on every start goes FAILED; the other targets complete",
          "[e2e][multiproc][supervisor]") {
    TempDir dir;
    const std::string program = pushcapdWithWorkerPrelude(
        dir.path, "case \"$*\" in *'--name crasher'*) kill -SEGV $$;; esac");
    const std::string config = exampleConfigWith(
        dir.path, "table.insert(Config.Target, { Desc = \"crasher\", Mode = \"File\", Path = \"" +
                      dir.path + "/crash/c\" })");
    const std::string input = makeInput(dir.path, "--count 20000 --duration 120 --seed 3");
    Child d(pushcapd(config, dir.path, {"--offline", input}, program), dir.path + "/pushcapd.log");
    const auto code = d.exitCode(120s);
    const std::string log = readFile(dir.path + "/pushcapd.log");
    INFO(log);
    CHECK(code == 1);  // the push completed, but not for every target
    CHECK(log.find("crasher: FAILED") != std::string::npos);
    CHECK(log.find("restart intensity exceeded") != std::string::npos);
    requireOracleOutput(dir.path, input);
}

TEST_CASE(
    "a worker that crashes on the same packet after every resume goes FAILED within the "
    "intensity; the other targets complete",
    "[e2e][multiproc][supervisor]") {
    TempDir dir;
    // The poison: a file size limit (1 MiB, in 512-byte blocks) that the target's first file
    // outgrows. The worker dies of SIGXFSZ writing the packet that crosses it; each restart
    // reopens the file at its committed size and dies on that same packet, once its commits
    // have crept up to the last one before the limit, without progress.
    const std::string program = pushcapdWithWorkerPrelude(
        dir.path, "case \"$*\" in *'--name poison'*) ulimit -f 2048;; esac");
    const std::string config = exampleConfigWith(
        dir.path, "table.insert(Config.Target, { Desc = \"poison\", Mode = \"File\", Path = \"" +
                      dir.path + "/poison/p\" })");
    const std::string input = makeInput(dir.path, "--count 20000 --duration 120 --seed 4");
    Child d(pushcapd(config, dir.path, {"--offline", input}, program), dir.path + "/pushcapd.log");
    const auto code = d.exitCode(120s);
    const std::string log = readFile(dir.path + "/pushcapd.log");
    INFO(log);
    CHECK(code == 1);  // the push completed, but not for every target
    // Its first run wrote and committed up to the limit: that crash made progress.
    CHECK(log.find("poison: exited with signal File size limit exceeded; restart #1 ") !=
          std::string::npos);
    CHECK(log.find("poison: FAILED: 6 crashes without progress within 30 s: restart intensity "
                   "exceeded") != std::string::npos);
    CHECK(countOf(log, "poison: exited with signal File size limit exceeded (no progress") == 5);
    // It resumed its file each time and never wrote past the poison packet.
    CHECK(bytesIn(dir.path + "/poison") > (512u << 10));
    CHECK(bytesIn(dir.path + "/poison") <= (1u << 20));
    requireOracleOutput(dir.path, input);
}

TEST_CASE("SIGTERM during an offline push: exit 0, files complete, nothing pending",
          "[e2e][multiproc][supervisor]") {
    TempDir dir;
    const auto count = std::to_string(std::max(20000, int(600000 * testScale())));
    const std::string input = makeInput(dir.path, "--count " + count + " --duration 300 --seed 8");
    Child d(pushcapd(exampleConfig(dir.path), dir.path, {"--offline", input}),
            dir.path + "/pushcapd.log");
    // Stop it once both targets have started writing.
    waitFor([&] { return !listFiles(dir.path + "/all").empty() || !d.running(); }, 60s);
    d.kill(SIGTERM);
    const auto code = d.exitCode(60s);
    INFO(readFile(dir.path + "/pushcapd.log"));
    REQUIRE(code == 0);
    CHECK(countPending(dir.path) == 0);
    // What was written is a prefix of the oracle: nothing lost before the stop, nothing invented.
    const PcapFile all = oracle(input, "", dir.path);
    const std::string written = concatenatedRecords(dir.path + "/all", ".pcap");
    CHECK(all.records.compare(0, written.size(), written) == 0);
}

TEST_CASE("a capture that dies of the SIGTERM that stops it: pushcapd still stops at once, exit 0",
          "[e2e][multiproc][supervisor]") {
    TempDir dir;
    // As when SIGTERM comes before the capture has installed its handler: this capture dies of
    // the signal (its real process killed first, so nothing publishes after it).
    const std::string program = pushcapdWithWrapped(
        dir.path, "pushcap-capture",
        "REAL \"$@\" &\npid=$!\ntrap 'kill -KILL $pid; trap - TERM; kill -TERM $$' TERM\n"
        "wait $pid");
    const auto count = std::to_string(std::max(20000, int(600000 * testScale())));
    const std::string input = makeInput(dir.path, "--count " + count + " --duration 300 --seed 9");
    Child d(pushcapd(exampleConfig(dir.path), dir.path, {"--offline", input}, program),
            dir.path + "/pushcapd.log");
    waitFor([&] { return !listFiles(dir.path + "/all").empty() || !d.running(); }, 60s);
    REQUIRE(d.running());
    const auto stopAt = std::chrono::steady_clock::now();
    d.kill(SIGTERM);
    const auto code = d.exitCode(60s);
    const std::string log = readFile(dir.path + "/pushcapd.log");
    INFO(log);
    CHECK(code == 0);
    // Well inside the 30 s shutdown timeout that a pending capture restart used to wait out.
    CHECK(std::chrono::steady_clock::now() - stopAt < 20s);
    CHECK(log.find("capture: did not stop cleanly") != std::string::npos);
    CHECK(countPending(dir.path) == 0);
    const PcapFile all = oracle(input, "", dir.path);
    const std::string written = concatenatedRecords(dir.path + "/all", ".pcap");
    CHECK(all.records.compare(0, written.size(), written) == 0);
}

TEST_CASE("every program answers --help with its usage on stdout and exit 0", "[e2e][supervisor]") {
    TempDir dir;
    for (const char* program : {"pushcapd", "pushcap-capture", "pushcap-worker", "pushcap-status",
                                "pushcap-web", "pushcap-gen", "pushcap-bench"}) {
        INFO(program);
        const std::string out = dir.path + "/" + program + ".out";
        CHECK(runShell(quote(binDir() + "/" + program) + " --help >" + quote(out) + " 2>&1") == 0);
        CHECK(readFile(out).find("usage") != std::string::npos);
    }
    // After the subcommand too, where a user asks first.
    const std::string out = dir.path + "/bench-collector.out";
    CHECK(runShell(quote(binDir() + "/pushcap-bench") + " collector --help >" + quote(out) +
                   " 2>&1") == 0);
    CHECK(readFile(out).find("pushcap-bench collector") != std::string::npos);
}

TEST_CASE("pushcapd --check reports broken configurations clearly", "[e2e][supervisor]") {
    TempDir dir;
    auto check = [&](const std::string& body) {
        const std::string path = dir.path + "/" + uniqueName("c") + ".lua";
        std::ofstream(path) << body;
        const std::string out = dir.path + "/" + uniqueName("out");
        int code = runShell(quote(binDir() + "/pushcapd") + " -c " + quote(path) +
                            " --check -i lo > " + quote(out) + " 2>&1");
        return std::make_pair(code, readFile(out));
    };
    auto target = [&](const std::string& fields) {
        return "local Config = {}\nConfig.Target = {}\nConfig.LogDir = '" + dir.path +
               "/log'\ntable.insert(Config.Target, {" + fields + "})\nreturn Config\n";
    };
    const std::string ok = "Desc = 'x', Mode = 'File', Path = '" + dir.path + "/out/x'";

    auto [code, out] = check(target(ok));
    CHECK(code == 0);
    CHECK_THAT(out, Catch::Contains("OK: 1 target(s) would run"));

    std::tie(code, out) = check("local Config = {\nConfig.Target = {}\n");
    CHECK(code == 78);
    CHECK_THAT(out, Catch::Matches(R"((.|\n)*\.lua:\d+:(.|\n)*)"));

    std::tie(code, out) = check(target(ok + ", Fliter = 'tcp'"));
    CHECK(code == 78);
    CHECK_THAT(out, Catch::Contains("unknown key \"Fliter\""));

    std::tie(code, out) = check(target(ok + ", Split = '--split-tim 60e9'"));
    CHECK(code == 78);
    CHECK_THAT(
        out,
        Catch::Contains(
            R"(Target[1] "x": Split: expected "--split-time NS" or "--split-byte N", got "--split-tim 60e9")"));

    std::tie(code, out) = check(target(ok + ", FilterBPF = 'tcp port'"));
    CHECK(code == 78);
    CHECK_THAT(out, Catch::Contains(R"(Target[1] "x": FilterBPF: "tcp port")"));

    std::ofstream(dir.path + "/afile") << "x";
    std::tie(code, out) =
        check(target("Desc = 'x', Mode = 'File', Path = '" + dir.path + "/afile/sub/x'"));
    CHECK(code == 78);
    CHECK_THAT(out, Catch::Contains(R"(Target[1] "x": Path: )"));
    CHECK_THAT(out, Catch::Contains("not a directory"));
}

TEST_CASE("an independent Python subscriber decodes the status stream and it matches the disk",
          "[e2e][multiproc][supervisor][status]") {
    TempDir dir;
    const std::string input = makeInput(dir.path, "--count 100000 --duration 300 --seed 9");
    const std::string ready = dir.path + "/subscriber.ready";
    const std::string endpoint = "ipc://" + dir.path + "/status.sock";
    Child sub({"/usr/bin/python3", sourceDir() + "/tests/supervisor/status_subscriber.py", endpoint,
               testBinDir() + "/python", ready, dir.path + "/all", dir.path + "/tcp"},
              dir.path + "/subscriber.log");
    REQUIRE(waitFor([&] { return ::access(ready.c_str(), F_OK) == 0 || !sub.running(); }, 30s));
    REQUIRE(sub.running());
    Child d(pushcapd(exampleConfig(dir.path), dir.path, {"--offline", input}),
            dir.path + "/pushcapd.log");
    REQUIRE(d.exitCode(120s) == 0);
    const auto code = sub.exitCode(60s);
    INFO(readFile(dir.path + "/subscriber.log"));
    CHECK(code == 0);
}

TEST_CASE(
    "SIGHUP reloads: unchanged targets keep their pid, others start, stop or restart; a bad file "
    "is rejected",
    "[e2e][multiproc][supervisor][root]") {
    if (::geteuid() != 0) {
        WARN("skipped: live capture on lo needs root");
        return;
    }
    TempDir dir;
    auto write = [&](const std::vector<std::string>& targets) {
        std::string text = "local Config = {}\nConfig.Target = {}\n";
        for (const std::string& t : targets)
            text += "table.insert(Config.Target, {" + t + "})\n";
        std::ofstream(dir.path + "/live.lua") << text << "return Config\n";
    };
    auto target = [&](const std::string& name, const std::string& filter) {
        return "Desc = '" + name + "', Mode = 'File', Path = '" + dir.path + "/" + name +
               "/x', FilterBPF = '" + filter + "'";
    };
    write({target("keep", "tcp"), target("change", "udp"), target("drop", "icmp")});
    Child d(pushcapd(dir.path + "/live.lua", dir.path, {"-i", "lo"}), dir.path + "/pushcapd.log");
    auto pidOf = [&](const std::string& name) {
        std::vector<pid_t> p = childrenMatching(d.pid(), "--name " + name + " ");
        return p.empty() ? pid_t(0) : p.front();
    };
    REQUIRE(waitFor([&] { return pidOf("keep") && pidOf("change") && pidOf("drop"); }, 30s));
    const pid_t keep = pidOf("keep"), change = pidOf("change");

    write({target("keep", "tcp"), target("change", "udp port 53"), target("add", "arp")});
    d.kill(SIGHUP);
    INFO(readFile(dir.path + "/pushcapd.log"));
    CHECK(waitFor(
        [&] {
            return pidOf("add") && !pidOf("drop") && pidOf("change") && pidOf("change") != change;
        },
        30s));
    CHECK(pidOf("keep") == keep);

    std::ofstream(dir.path + "/live.lua") << "this is not lua";
    d.kill(SIGHUP);
    CHECK(waitFor(
        [&] {
            return readFile(dir.path + "/pushcapd.log").find("reload rejected") !=
                   std::string::npos;
        },
        30s));
    CHECK(pidOf("keep") == keep);
    CHECK(pidOf("add") != 0);
    // A SIGHUP that reaches a child too (pkill -HUP pushcap, a hung-up process group) is
    // pushcapd's to act on: the children ignore it.
    CHECK(ignoresSignal(keep, SIGHUP));
    ::kill(keep, SIGHUP);
    d.kill(SIGHUP);  // the reload after it is logged once the signal was delivered, or not
    CHECK(waitFor(
        [&] { return countOf(readFile(dir.path + "/pushcapd.log"), "reload rejected") >= 2; },
        30s));
    CHECK(pidOf("keep") == keep);

    d.kill(SIGTERM);
    const auto code = d.exitCode(60s);
    INFO(readFile(dir.path + "/pushcapd.log"));
    CHECK(code == 0);
    for (const char* name : {"keep", "change", "add", "drop"}) {
        for (const std::string& f : listFiles(dir.path + "/" + name))
            CHECK(f.find(".pending") == std::string::npos);
    }
}

// A configuration with one File target writing to DIR/s/.
static std::string shortConfig(const std::string& dir, const std::string& extra = "") {
    std::ofstream(dir + "/short.lua")
        << "local Config = {}\nConfig.Target = {}\n"
        << extra << "table.insert(Config.Target, { Desc = 'short', Mode = 'File', Path = '" << dir
        << "/s/x' })\nreturn Config\n";
    return dir + "/short.lua";
}

TEST_CASE(
    "a Python subscriber started before a short offline push gets every message from sequence 1, "
    "live or by replay, and every completed file",
    "[e2e][multiproc][supervisor][status]") {
    TempDir dir;
    // Short: over before a subscriber's first reconnect would have joined a plain PUB socket.
    const std::string input = makeInput(dir.path, "--count 2000 --duration 130 --seed 12");
    const std::string ready = dir.path + "/subscriber.ready";
    const std::string endpoint = "ipc://" + dir.path + "/status.sock";
    Child sub({"/usr/bin/python3", sourceDir() + "/tests/supervisor/status_replay_subscriber.py",
               endpoint, testBinDir() + "/python", ready, dir.path + "/all", dir.path + "/tcp"},
              dir.path + "/subscriber.log");
    REQUIRE(waitFor([&] { return ::access(ready.c_str(), F_OK) == 0 || !sub.running(); }, 30s));
    REQUIRE(sub.running());
    // No --status-linger: the default bound, and pushcapd waits for this subscriber only.
    Child d(pushcapd(exampleConfig(dir.path), dir.path, {"--offline", input}),
            dir.path + "/pushcapd.log");
    REQUIRE(d.exitCode(120s) == 0);
    const auto code = sub.exitCode(60s);
    INFO(readFile(dir.path + "/pushcapd.log"));
    INFO(readFile(dir.path + "/subscriber.log"));
    CHECK(code == 0);
    CHECK(readFile(dir.path + "/pushcapd.log").find("not caught up") == std::string::npos);
}

TEST_CASE("pushcap-status --json started before a short push prints every message from 1",
          "[e2e][multiproc][supervisor][status]") {
    TempDir dir;
    const std::string input = makeInput(dir.path, "--count 2000 --duration 10 --seed 5");
    // Subscribing before pushcapd binds: ZeroMQ connects on its next retry, after a push this
    // short has long finished; what it missed comes from the replay.
    const std::string json = dir.path + "/status.json";
    Child watcher({binDir() + "/pushcap-status", "--endpoint", "ipc://" + dir.path + "/status.sock",
                   "--json", "--timeout", "30"},
                  json);
    Child d(pushcapd(shortConfig(dir.path), dir.path, {"--offline", input}),
            dir.path + "/pushcapd.log");
    const auto code = d.exitCode(60s);
    INFO(readFile(dir.path + "/pushcapd.log"));
    REQUIRE(code == 0);
    const bool finalStatusSeen = waitFor(
        [&] {
            const std::string text = readFile(json);
            return text.find("\"desc\":\"short\"") != std::string::npos &&
                   text.find("\"state\":\"STOPPED\"") != std::string::npos &&
                   text.find("\"final\":true") != std::string::npos &&
                   text.find("\"packets_written\":\"2000\"") != std::string::npos;
        },
        10s);
    const std::string text = readFile(json);
    INFO(text);
    CHECK(finalStatusSeen);
    // Every line in sequence order from 1, none twice.
    std::regex sequence(R"re("sequence":"(\d+)")re");
    std::uint64_t expected = 1;
    for (auto it = std::sregex_iterator(text.begin(), text.end(), sequence);
         it != std::sregex_iterator(); ++it) {
        CHECK(std::stoull((*it)[1]) == expected);
        ++expected;
    }
    CHECK(expected > 3);
}

TEST_CASE("a subscriber connecting mid-run gets a snapshot at once, not at the next interval",
          "[e2e][multiproc][supervisor][status][root]") {
    if (::geteuid() != 0) {
        WARN("skipped: live capture on lo needs root");
        return;
    }
    TempDir dir;
    Child d(
        pushcapd(shortConfig(dir.path, "Config.StatusInterval = 600\n"), dir.path, {"-i", "lo"}),
        dir.path + "/pushcapd.log");
    const std::string endpoint = "ipc://" + dir.path + "/status.sock";
    // Mid-run: the capture and the target are ready, so the first snapshot (at start) is long
    // published and the next is 600 s away. (Ready, too, so that the SIGTERM below does not
    // land before the capture handles it.)
    const std::string log = dir.path + "/pushcapd.log";
    REQUIRE(waitFor(
        [&] {
            const std::string text = readFile(log);
            return text.find("capture: ready") != std::string::npos &&
                   text.find("short: ready") != std::string::npos;
        },
        30s));
    zmq::context_t ctx;
    zmq::socket_t sub(ctx, zmq::socket_type::sub);
    sub.set(zmq::sockopt::subscribe, "pushcap.status");
    sub.set(zmq::sockopt::rcvtimeo, 10000);
    const auto joined = std::chrono::steady_clock::now();
    sub.connect(endpoint);
    zmq::message_t topic, body;
    REQUIRE(sub.recv(topic).has_value());
    const auto waited = std::chrono::steady_clock::now() - joined;
    REQUIRE(sub.recv(body).has_value());
    pushcap::v1::Snapshot s;
    REQUIRE(s.ParseFromArray(body.data(), static_cast<int>(body.size())));
    CHECK(topic.to_string() == "pushcap.status");
    CHECK(s.sequence() > 1);
    CHECK(!s.final());
    CHECK(s.replay_endpoint() == endpoint + ".replay");
    CHECK(waited < 5s);
    d.kill(SIGTERM);
    const auto code = d.exitCode(60s);
    INFO(readFile(log));
    CHECK(code == 0);
}

TEST_CASE("pushcap-status shows the live table, JSON lines, and says when nothing publishes",
          "[e2e][multiproc][supervisor][status][root]") {
    if (::geteuid() != 0) {
        WARN("skipped: live capture on lo needs root");
        return;
    }
    TempDir dir;
    std::ofstream(dir.path + "/live.lua")
        << "local Config = {}\nConfig.Target = {}\nConfig.StatusInterval = 0.2\n"
        << "table.insert(Config.Target, { Desc = 'watched', Mode = 'File', Path = '" << dir.path
        << "/w/x', FilterBPF = 'tcp' })\nreturn Config\n";
    Child d(pushcapd(dir.path + "/live.lua", dir.path, {"-i", "lo"}), dir.path + "/pushcapd.log");
    const std::string status = quote(binDir() + "/pushcap-status") + " --endpoint " +
                               quote("ipc://" + dir.path + "/status.sock");
    const std::string table = dir.path + "/table.txt", json = dir.path + "/json.txt";
    // The target is RUNNING once its worker said it is ready.
    REQUIRE(waitFor(
        [&] {
            return runShell(status + " --once --timeout 10 > " + quote(table) + " 2>&1") == 0 &&
                   readFile(table).find("RUNNING") != std::string::npos;
        },
        30s));
    const std::string text = readFile(table);
    INFO(text);
    CHECK(text.find("TARGET") != std::string::npos);
    CHECK(text.find("watched") != std::string::npos);
    CHECK(text.find("capture capture") != std::string::npos);

    REQUIRE(runShell(status + " --once --json --timeout 10 > " + quote(json) + " 2>&1") == 0);
    const std::string line = readFile(json);
    INFO(line);
    CHECK(line.rfind("{\"topic\":\"pushcap.status\",\"message\":{", 0) == 0);
    CHECK(line.find("\"desc\":\"watched\"") != std::string::npos);

    d.kill(SIGTERM);
    REQUIRE(d.exitCode(60s) == 0);
    const std::string none = dir.path + "/none.txt";
    CHECK(runShell(status + " --once --timeout 1 > " + quote(none) + " 2>&1") == 1);
    CHECK(readFile(none).find("nothing is publishing") != std::string::npos);
}

TEST_CASE("children die with pushcapd, even when it is SIGKILLed",
          "[e2e][multiproc][supervisor][root]") {
    if (::geteuid() != 0) {
        WARN("skipped: live capture on lo needs root");
        return;
    }
    TempDir dir;
    std::ofstream(dir.path + "/live.lua")
        << "local Config = {}\nConfig.Target = {}\n"
        << "table.insert(Config.Target, { Desc = 'orphan', Mode = 'File', Path = '" << dir.path
        << "/o/x' })\nreturn Config\n";
    Child d(pushcapd(dir.path + "/live.lua", dir.path, {"-i", "lo"}), dir.path + "/pushcapd.log");
    std::vector<pid_t> children;
    REQUIRE(waitFor(
        [&] {
            children = childrenMatching(d.pid(), "pushcap-");
            return children.size() == 2;  // the capture and the worker
        },
        30s));
    d.kill(SIGKILL);
    REQUIRE(d.exitCode(10s).has_value());
    // PR_SET_PDEATHSIG delivers SIGTERM: they stop cleanly on their own.
    CHECK(waitFor(
        [&] {
            return std::none_of(children.begin(), children.end(), [](pid_t p) {
                const std::string stat = readFile("/proc/" + std::to_string(p) + "/stat");
                const std::size_t close = stat.rfind(')');
                return close != std::string::npos && stat.size() > close + 2 &&
                       stat[close + 2] != 'Z';
            });
        },
        30s));
}

TEST_CASE("the systemd unit passes systemd-analyze verify", "[e2e][supervisor]") {
    if (runShell("command -v systemd-analyze > /dev/null") != 0) {
        WARN("skipped: systemd-analyze is not installed");
        return;
    }
    TempDir dir;
    // The unit names the installed paths; point them at this build to verify the rest.
    std::string unit = readFile(binDir() + "/../pushcapd.service");
    REQUIRE_FALSE(unit.empty());
    const std::size_t cut = unit.find("/pushcapd ");
    REQUIRE(cut != std::string::npos);
    const std::string installedBin =
        unit.substr(unit.rfind('=', cut) + 1, cut - unit.rfind('=', cut) - 1);
    unit = std::regex_replace(unit, std::regex(installedBin + "/"), binDir() + "/");
    std::ofstream(dir.path + "/pushcapd.service") << unit;
    const std::string out = dir.path + "/verify.txt";
    const int code = runShell("systemd-analyze verify " + quote(dir.path + "/pushcapd.service") +
                              " > " + quote(out) + " 2>&1");
    INFO(readFile(out));
    CHECK(code == 0);
    // verify exits 0 even for directives it ignores; those are printed with the file's name.
    CHECK(readFile(out).find("pushcapd.service") == std::string::npos);
}

TEST_CASE("Mode Remote streams a target to a collector: what it stores equals tcpdump's filter",
          "[e2e][multiproc][supervisor][forwarder]") {
    TempDir dir;
    // Microsecond input: the osmo-pcap protocol carries microseconds, so nothing is rounded.
    const std::string input = makeInput(dir.path, "--count 20000 --duration 100 --seed 17 --usec");

    // The receiving side: a collector into its own ring, and a File worker storing that ring.
    pushcap::router::RingConfig rc;
    rc.instance = uniqueName("coll");
    rc.source = "remote";
    rc.mode = pushcap::router::RingMode::Live;
    pushcap::router::RingJanitor ring(rc);
    ring.addConsumer("store");
    Child store({binDir() + "/pushcap-worker", "--ring", ring.name(), "--name", "store", "--path",
                 dir.path + "/stored/s", "--ready-fd", "3"},
                dir.path + "/store.log", true);
    REQUIRE(store.waitReady(30s));
    Child collector({binDir() + "/pushcap-capture", "--ring", ring.name(), "--listen",
                     "127.0.0.1:0", "--client", "fwd=127.0.0.1"},
                    dir.path + "/collector.log");
    std::smatch port;
    std::string collectorLog;  // `port` points into it
    const std::regex bound(R"(listening on 127\.0\.0\.1:(\d+))");
    REQUIRE(waitFor(
        [&] {
            collectorLog = readFile(dir.path + "/collector.log");
            return std::regex_search(collectorLog, port, bound);
        },
        30s));
    const std::string portText = port[1].str();

    const std::string config = dir.path + "/remote.lua";
    std::ofstream(config)
        << "local Config = {}\nConfig.Target = {}\n"
        << "table.insert(Config.Target, { Desc = 'fwd', Mode = 'Remote', Path = '127.0.0.1:"
        << portText << "', RemoteFormat = 'pcapng', FilterBPF = '" << TCP_FILTER
        << "' })\nreturn Config\n";
    Child d(pushcapd(config, dir.path, {"--offline", input}), dir.path + "/pushcapd.log");
    const auto code = d.exitCode(120s);
    INFO(readFile(dir.path + "/pushcapd.log"));
    REQUIRE(code == 0);

    // Stop the receiving side: the collector ends its ring, the store worker completes its file.
    collector.kill(SIGTERM);
    CHECK(collector.exitCode(30s) == 0);
    CHECK(store.exitCode(30s) == 0);
    INFO(readFile(dir.path + "/collector.log"));
    ring.remove();
    const PcapFile want = oracle(input, TCP_FILTER, dir.path);
    REQUIRE(want.packets > 0);
    CHECK(concatenatedRecords(dir.path + "/stored", ".pcap") == want.records);
}
