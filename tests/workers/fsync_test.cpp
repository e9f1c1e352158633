// A complete file must survive a power cut once it has its final name. A power cut cannot be
// had in a test, so this checks the order of the worker's system calls under strace instead:
// each file is fsynced between its creation and the rename that gives it its final name, and
// the directories that rename touched are fsynced after it. With --no-fsync nothing is synced.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "router/ring_janitor.hpp"
#include "worker_test_support.hpp"

using namespace pushcap::workers::test;
using namespace std::chrono_literals;
using pushcap::router::RingConfig;
using pushcap::router::RingJanitor;
using pushcap::router::RingMode;

namespace {

// One traced call: its name, the path of its fd argument (strace -y), its string arguments.
struct Call {
    std::string name;
    std::string fdPath;
    std::vector<std::string> strings;
};

std::vector<Call> readTrace(const std::string& file) {
    static const std::regex head(R"re(^(?:\d+ +)?(\w+)\((?:(\d+)<([^>]*)>)?)re");
    static const std::regex quoted(R"re("((?:[^"\\]|\\.)*)")re");
    std::vector<Call> calls;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
        std::smatch m;
        if (!std::regex_search(line, m, head))
            continue;  // "<... resumed>" halves, signals, exits
        Call c{m[1], m[3], {}};
        for (auto it = std::sregex_iterator(line.begin(), line.end(), quoted);
             it != std::sregex_iterator(); ++it)
            c.strings.push_back((*it)[1]);
        calls.push_back(std::move(c));
    }
    return calls;
}

bool isRename(const Call& c) {
    return (c.name == "rename" || c.name == "renameat2") && c.strings.size() >= 2;
}

bool isSync(const Call& c) {
    return c.name == "fsync" || c.name == "fdatasync";
}

std::string dirOf(const std::string& path) {
    return path.substr(0, path.rfind('/'));
}

// Index of the first call in [from, to) matching `want`, or `to`.
template <typename Want>
std::size_t find(const std::vector<Call>& calls, std::size_t from, std::size_t to, Want want) {
    for (std::size_t i = from; i < to; ++i) {
        if (want(calls[i]))
            return i;
    }
    return to;
}

// Checks, for the file that took the final name `path`, what a power cut needs.
void checkSyncedBeforeAndAfter(const std::vector<Call>& calls, const std::string& path) {
    INFO("final name " << path);
    const std::size_t n = calls.size();
    const std::size_t renamed =
        find(calls, 0, n, [&](const Call& c) { return isRename(c) && c.strings[1] == path; });
    REQUIRE(renamed < n);
    const std::string from = calls[renamed].strings[0];
    INFO("renamed from " << from);
    // Its last creation before the rename: a fsync of an older file of that name proves nothing.
    std::size_t created = n;
    for (std::size_t i = 0; i < renamed; ++i) {
        const Call& c = calls[i];
        if (c.name == "openat" && c.strings.size() == 1 && c.strings[0] == from)
            created = i;
    }
    REQUIRE(created < renamed);
    CHECK(find(calls, created, renamed,
               [&](const Call& c) { return isSync(c) && c.fdPath == from; }) < renamed);
    for (const std::string& dir : {dirOf(path), dirOf(from)}) {
        INFO("directory " << dir);
        CHECK(find(calls, renamed, n, [&](const Call& c) { return isSync(c) && c.fdPath == dir; }) <
              n);
    }
}

// strace's full path (Child execs without a PATH search), or "" if it is missing or cannot
// trace here (ptrace refused in some containers).
std::string usableStrace() {
    std::stringstream path(std::getenv("PATH") ? std::getenv("PATH") : "/usr/bin:/bin");
    for (std::string dir; std::getline(path, dir, ':');) {
        const std::string strace = dir + "/strace";
        if (::access(strace.c_str(), X_OK) == 0)
            return runShell(quote(strace) + " -f -o /dev/null true >/dev/null 2>&1") == 0 ? strace
                                                                                          : "";
    }
    return "";
}

enum class Place { InPlace, CompletedPath, OtherFilesystem };

// Paths are made per run: GENERATE keeps the values of the first run, whose directory is gone.
struct Setup {
    std::string name;
    Place place;
    bool fsync = true;
};

// A CompletedPath on another filesystem (tmpfs), removed with the run.
struct ShmDir {
    ShmDir() : path("/dev/shm/" + uniqueName("pushcap-fsync")) {}
    ~ShmDir() { runShell("rm -rf " + quote(path)); }
    ShmDir(const ShmDir&) = delete;
    ShmDir& operator=(const ShmDir&) = delete;
    std::string path;
};

std::vector<std::string> tracedWorker(const std::string& strace, const std::string& trace,
                                      const std::vector<std::string>& w) {
    // LeakSanitizer cannot run under ptrace and fails the traced worker's exit in the ASan
    // build; the other sanitizer checks stay on.
    const char* asan = std::getenv("ASAN_OPTIONS");
    const std::string asanOptions = std::string("ASAN_OPTIONS=") +
                                    (asan && *asan ? std::string(asan) + ":" : "") +
                                    "detect_leaks=0";
    std::vector<std::string> argv = {
        strace, "-f",  "-y", "-qq",       "-s", "4096",
        "-o",   trace, "-E", asanOptions, "-e", "trace=fsync,fdatasync,rename,renameat2,openat"};
    argv.insert(argv.end(), w.begin(), w.end());
    return argv;
}

bool shmIsAnotherFilesystem(const std::string& dir) {
    struct stat a, b;
    return ::stat(dir.c_str(), &a) == 0 && ::stat("/dev/shm", &b) == 0 && a.st_dev != b.st_dev;
}

}  // namespace

TEST_CASE("a complete file is fsynced before its final name, its directories after",
          "[e2e][multiproc]") {
    const std::string strace = usableStrace();
    if (strace.empty()) {
        WARN(
            "strace is missing or cannot trace here (scripts/install-deps.sh installs it): "
            "fsync ordering not checked");
        return;
    }
    TempDir tmpDir;
    const std::string tmp = std::filesystem::canonical(tmpDir.path).string();
    std::vector<Setup> setups = {{"in-place", Place::InPlace, true},
                                 {"completed-path", Place::CompletedPath, true},
                                 {"no-fsync", Place::CompletedPath, false}};
    if (shmIsAnotherFilesystem(tmp))
        setups.push_back({"completed-path-copy", Place::OtherFilesystem, true});
    else
        WARN("/dev/shm is on the same filesystem: the cross-filesystem copy is not checked");
    const Setup setup = GENERATE_COPY(from_range(setups));
    INFO(setup.name);
    const ShmDir shm;
    const std::string completedDir = setup.place == Place::InPlace         ? ""
                                     : setup.place == Place::CompletedPath ? tmp + "/done"
                                                                           : shm.path;

    const std::string in = makeInput(tmp, "--count 4000 --duration 4 --seed 21");
    RingConfig rc;
    rc.instance = uniqueName("wfs");
    rc.source = "src";
    rc.mode = RingMode::Lossless;
    RingJanitor ring(rc);
    ring.addConsumer("t");
    const std::string out = tmp + "/out";
    std::vector<std::string> extra = {"--split-byte", "150000"};
    if (!completedDir.empty())
        extra.insert(extra.end(), {"--completed-path", completedDir});
    if (!setup.fsync)
        extra.push_back("--no-fsync");
    const std::string trace = tmp + "/trace";
    Child w(tracedWorker(strace, trace, workerCommand(ring.name(), "t", out + "/f", extra)),
            tmp + "/worker.log", true);
    REQUIRE(w.waitReady(30s));
    Child feeder(feederCommand(ring.name(), in), tmp + "/feeder.log");
    REQUIRE(feeder.exitCode(60s) == 0);
    INFO(readFile(w.logFile()));
    REQUIRE(w.exitCode(60s) == 0);
    ring.remove();

    const std::string finalDir = completedDir.empty() ? out : completedDir;
    const std::vector<std::string> files = listFiles(finalDir);
    REQUIRE(files.size() >= 3);
    const std::vector<Call> calls = readTrace(trace);
    if (!setup.fsync) {
        CHECK(std::count_if(calls.begin(), calls.end(), isRename) >= 3);
        CHECK(std::none_of(calls.begin(), calls.end(), isSync));
        return;
    }
    for (const std::string& f : files) {
        CHECK(f.find(".pending") == std::string::npos);
        checkSyncedBeforeAndAfter(calls, finalDir + "/" + f);
    }
}
