#include "worker_test_support.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace pushcap::workers::test {

namespace {
std::string env(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return v ? v : fallback;
}
}  // namespace

std::string binDir() {
    return env("PUSHCAP_BIN_DIR", "./bin");
}
std::string testBinDir() {
    return env("PUSHCAP_TEST_BIN_DIR", "./tests");
}
double testScale() {
    return std::atof(env("PUSHCAP_TEST_SCALE", "1").c_str());
}

std::string uniqueName(const std::string& what) {
    static std::atomic<int> counter{0};
    return what + std::to_string(::getpid()) + "x" + std::to_string(++counter);
}

TempDir::TempDir(const std::string& base) {
    std::string tmpl = base + "/pushcap-wt-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr)
        throw std::runtime_error("mkdtemp in " + base + " failed");
    path = tmpl;
}

TempDir::~TempDir() {
    if (std::getenv("PUSHCAP_KEEP_TMP") == nullptr)
        runShell("rm -rf " + quote(path));
}

Child::Child(std::vector<std::string> argv, const std::string& logFile, bool readyPipe,
             std::vector<std::string> extraEnv)
    : m_log(logFile) {
    int fds[2] = {-1, -1};
    if (readyPipe && ::pipe2(fds, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe failed");
    m_pid = ::fork();
    if (m_pid < 0)
        throw std::runtime_error("fork failed");
    if (m_pid == 0) {
        const int out = ::open(logFile.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        ::dup2(out, 1);
        ::dup2(out, 2);
        if (readyPipe)
            ::dup2(fds[1], 3);  // dup2 clears close-on-exec
        for (const std::string& e : extraEnv)
            ::putenv(const_cast<char*>(e.c_str()));
        std::vector<char*> args;
        for (std::string& a : argv)
            args.push_back(a.data());
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        _exit(127);
    }
    if (readyPipe) {
        ::close(fds[1]);
        m_readyFd = fds[0];
    }
}

Child::~Child() {
    if (running()) {
        ::kill(m_pid, SIGKILL);
        exitCode(std::chrono::seconds(10));
    }
    if (m_readyFd >= 0)
        ::close(m_readyFd);
}

bool Child::waitReady(std::chrono::milliseconds deadline) {
    pollfd p{m_readyFd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(deadline.count())) != 1)
        return false;
    char byte;
    return ::read(m_readyFd, &byte, 1) == 1;
}

std::optional<int> Child::exitCode(std::chrono::milliseconds deadline) {
    const auto end = std::chrono::steady_clock::now() + deadline;
    while (!m_reaped) {
        const pid_t r = ::waitpid(m_pid, &m_status, WNOHANG);
        if (r == m_pid) {
            m_reaped = true;
            break;
        }
        if (std::chrono::steady_clock::now() >= end)
            return std::nullopt;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (WIFEXITED(m_status))
        return WEXITSTATUS(m_status);
    return 128 + WTERMSIG(m_status);
}

bool Child::running() {
    return !exitCode(std::chrono::milliseconds(0)).has_value();
}

void Child::kill(int signal) {
    if (!m_reaped)
        ::kill(m_pid, signal);
}

std::string readFile(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<pid_t> childrenMatching(pid_t parent, const std::string& needle) {
    std::vector<pid_t> out;
    DIR* proc = ::opendir("/proc");
    if (proc == nullptr)
        return out;
    while (dirent* e = ::readdir(proc)) {
        const pid_t pid = std::atoi(e->d_name);
        if (pid <= 0)
            continue;
        const std::string stat = readFile("/proc/" + std::string(e->d_name) + "/stat");
        const std::size_t close = stat.rfind(')');
        if (close == std::string::npos || stat.size() < close + 4 || stat[close + 2] == 'Z')
            continue;
        if (std::atoi(stat.c_str() + close + 4) != parent)
            continue;
        std::string cmd = readFile("/proc/" + std::string(e->d_name) + "/cmdline");
        std::replace(cmd.begin(), cmd.end(), '\0', ' ');
        if (cmd.find(needle) != std::string::npos)
            out.push_back(pid);
    }
    ::closedir(proc);
    return out;
}

RingSweeper::~RingSweeper() {
    if (DIR* d = ::opendir("/dev/shm")) {
        while (dirent* e = ::readdir(d)) {
            if (std::string(e->d_name).rfind(prefix, 0) == 0)
                ::unlink(("/dev/shm/" + std::string(e->d_name)).c_str());
        }
        ::closedir(d);
    }
}

std::vector<std::string> listFiles(const std::string& dir) {
    std::vector<std::string> names;
    if (DIR* d = ::opendir(dir.c_str())) {
        while (dirent* e = ::readdir(d)) {
            const std::string n = e->d_name;
            if (n != "." && n != "..")
                names.push_back(n);
        }
        ::closedir(d);
    }
    std::sort(names.begin(), names.end());
    return names;
}

bool waitFor(const std::function<bool()>& condition, std::chrono::milliseconds deadline) {
    const auto end = std::chrono::steady_clock::now() + deadline;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= end)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

int runShell(const std::string& command) {
    const int rc = std::system(command.c_str());
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

std::string quote(const std::string& s) {
    std::string q = "'";
    for (char c : s)
        q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

std::string makeInput(const std::string& dir, const std::string& args) {
    const std::string gen = binDir() + "/pushcap-gen";
    const std::string out = dir + "/" + uniqueName("in") + ".pcap";
    if (::access(gen.c_str(), X_OK) != 0)
        throw std::runtime_error("pushcap-gen not built: " + gen);
    if (runShell(quote(gen) + " --quiet --out " + quote(out) + " " + args) != 0) {
        throw std::runtime_error("pushcap-gen failed");
    }
    return out;
}

PcapFile readPcap(const std::string& path) {
    PcapFile f;
    const std::string data = readFile(path);
    if (data.size() < 24)
        return f;
    std::memcpy(&f.magic, data.data(), 4);
    std::memcpy(&f.snaplen, data.data() + 16, 4);
    std::memcpy(&f.linkType, data.data() + 20, 4);
    const std::uint64_t scale = f.magic == 0xa1b23c4d ? 1 : 1000;
    std::size_t at = 24;
    while (at + 16 <= data.size()) {
        std::uint32_t h[4];
        std::memcpy(h, data.data() + at, 16);
        if (at + 16 + h[2] > data.size())
            break;
        const std::uint64_t ts =
            std::uint64_t(h[0]) * 1'000'000'000ULL + std::uint64_t(h[1]) * scale;
        if (f.packets == 0)
            f.firstTs = ts;
        f.lastTs = ts;
        ++f.packets;
        at += 16 + h[2];
    }
    f.wellFormed = at == data.size();
    f.records = data.substr(24, at - 24);
    return f;
}

PcapFile oracle(const std::string& in, const std::string& filter, const std::string& scratchDir) {
    const std::string out = scratchDir + "/" + uniqueName("oracle") + ".pcap";
    const std::string cmd = "tcpdump --time-stamp-precision=nano -r " + quote(in) + " -w " +
                            quote(out) + " " + quote(filter) + " 2>/dev/null";
    if (runShell(cmd) != 0)
        throw std::runtime_error("tcpdump failed: " + cmd);
    PcapFile f = readPcap(out);
    ::unlink(out.c_str());
    return f;
}

std::string concatenatedRecords(const std::string& dir, const std::string& suffix,
                                std::vector<std::string>* names) {
    struct Entry {
        std::uint64_t first;
        std::string name;
        std::string records;
    };
    std::vector<Entry> entries;
    for (const std::string& n : listFiles(dir)) {
        if (n.size() < suffix.size() ||
            n.compare(n.size() - suffix.size(), suffix.size(), suffix) != 0) {
            continue;
        }
        PcapFile f = readPcap(dir + "/" + n);
        entries.push_back(Entry{f.firstTs, n, std::move(f.records)});
    }
    std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
        return a.first != b.first ? a.first < b.first : a.name < b.name;
    });
    std::string all;
    for (Entry& e : entries) {
        all += e.records;
        if (names)
            names->push_back(e.name);
    }
    return all;
}

}  // namespace pushcap::workers::test

namespace pushcap::workers::test {

std::vector<std::string> workerCommand(const std::string& ring, const std::string& name,
                                       const std::string& path, std::vector<std::string> extra) {
    std::vector<std::string> argv = {binDir() + "/pushcap-worker",
                                     "--ring",
                                     ring,
                                     "--name",
                                     name,
                                     "--path",
                                     path,
                                     "--ready-fd",
                                     "3"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
}

std::vector<std::string> feederCommand(const std::string& ring, const std::string& in,
                                       std::vector<std::string> extra) {
    std::vector<std::string> argv = {testBinDir() + "/ring_feeder", "--ring", ring, "--in", in};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
}

std::vector<std::string> pushcapdCommand(const std::string& config, const std::string& dir,
                                         std::vector<std::string> extra,
                                         const std::string& instance, const std::string& program) {
    std::vector<std::string> argv = {program.empty() ? binDir() + "/pushcapd" : program,
                                     "-c",
                                     config,
                                     "--instance",
                                     instance.empty() ? uniqueName("pcd") : instance,
                                     "--status",
                                     "ipc://" + dir + "/status.sock",
                                     "--log-dir",
                                     dir + "/log",
                                     "--no-progress"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
}

}  // namespace pushcap::workers::test
