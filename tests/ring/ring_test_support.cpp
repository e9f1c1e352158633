#include "ring_test_support.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace pushcap::ringtest {
namespace {

std::uint64_t mix64(std::uint64_t x) {
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

// Word i of packet seq's data (i >= 1; word 0 is seq itself).
inline std::uint64_t dataWord(std::uint64_t seed, std::uint64_t i) {
    return mix64(seed + i * 0x9E3779B97F4A7C15ULL);
}

}  // namespace

std::uint32_t packetCaplen(std::uint64_t seq) {
    if (seq % 1000 == 1)
        return 1514;
    if (seq % 1000 == 2)
        return 60;
    const std::uint64_t h = mix64(seq ^ 0x5EEDULL);
    if ((h & 7) == 0)
        return 60 + static_cast<std::uint32_t>((h >> 8) % 1455);
    return 60 + static_cast<std::uint32_t>((h >> 8) % 200);
}

PcapRecordHeader packetHeader(std::uint64_t seq) {
    PcapRecordHeader h{};
    h.ts_sec = static_cast<std::uint32_t>(1'600'000'000ULL + seq / 1'000'000);
    h.ts_nsec = static_cast<std::uint32_t>((seq % 1'000'000) * 1000 + seq % 7);
    h.caplen = packetCaplen(seq);
    h.wirelen = h.caplen + (seq % 5 == 0 ? 100 : 0);
    return h;
}

std::uint32_t writePacketRecord(std::uint64_t seq, std::byte* out) {
    const PcapRecordHeader h = packetHeader(seq);
    std::memcpy(out, &h, sizeof h);
    std::byte* data = out + sizeof h;
    std::memcpy(data, &seq, 8);
    const std::uint64_t seed = mix64(seq);
    std::uint32_t off = 8;
    for (std::uint64_t i = 1; off < h.caplen; ++i, off += 8) {
        const std::uint64_t w = dataWord(seed, i);
        std::memcpy(data + off, &w, std::min<std::uint32_t>(8, h.caplen - off));
    }
    return static_cast<std::uint32_t>(sizeof h) + h.caplen;
}

std::uint64_t hashBytes(const std::byte* data, std::uint32_t length) {
    std::uint64_t h = length;
    std::uint32_t off = 0;
    for (; off + 8 <= length; off += 8) {
        std::uint64_t w;
        std::memcpy(&w, data + off, 8);
        h = (h ^ w) * 0x100000001B3ULL;
    }
    for (; off < length; ++off)
        h = (h ^ std::to_integer<std::uint64_t>(data[off])) * 0x100000001B3ULL;
    return h;
}

bool packetMatches(std::uint64_t seq, const PcapRecordHeader& header, const std::byte* data) {
    const PcapRecordHeader want = packetHeader(seq);
    if (std::memcmp(&want, &header, sizeof want) != 0)
        return false;
    std::uint64_t first;
    std::memcpy(&first, data, 8);
    if (first != seq)
        return false;
    const std::uint64_t seed = mix64(seq);
    std::uint32_t off = 8;
    for (std::uint64_t i = 1; off < want.caplen; ++i, off += 8) {
        const std::uint64_t w = dataWord(seed, i);
        const std::uint32_t n = std::min<std::uint32_t>(8, want.caplen - off);
        if (std::memcmp(data + off, &w, n) != 0)
            return false;
    }
    return true;
}

std::uint64_t streamBytes(std::uint64_t count) {
    std::uint64_t total = 0;
    for (std::uint64_t s = 0; s < count; ++s)
        total += packetCaplen(s);
    return total;
}

std::uint64_t streamChecksum(std::uint64_t count) {
    std::vector<std::byte> record(sizeof(PcapRecordHeader) + 1514);
    std::uint64_t sum = 0;
    for (std::uint64_t s = 0; s < count; ++s) {
        const std::uint32_t n = writePacketRecord(s, record.data());
        sum =
            chainChecksum(sum, hashBytes(record.data() + sizeof(PcapRecordHeader),
                                         n - static_cast<std::uint32_t>(sizeof(PcapRecordHeader))));
    }
    return sum;
}

double testScale() {
    const char* s = std::getenv("PUSHCAP_TEST_SCALE");
    if (s == nullptr || *s == '\0')
        return 1.0;
    const double v = std::strtod(s, nullptr);
    return v > 0 ? v : 1.0;
}

std::uint64_t scaled(std::uint64_t count, std::uint64_t floor) {
    const auto v = static_cast<std::uint64_t>(static_cast<double>(count) * testScale());
    return std::max(v, floor);
}

std::string uniqueInstance(const std::string& tag) {
    return "t" + std::to_string(::getpid()) + tag;
}

SegmentGuard::~SegmentGuard() {
    router::RingSegment::remove(m_name);
}

TempDir::TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/ringtest.XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr)
        throw std::runtime_error("mkdtemp failed");
    m_path = tmpl;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(m_path, ec);
}

bool waitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto pause = std::chrono::microseconds(50);
    for (;;) {
        if (condition())
            return true;
        if (std::chrono::steady_clock::now() >= deadline)
            return false;
        std::this_thread::sleep_for(pause);
        // Short polls while things move fast, but a slow condition must not cost a core.
        pause = std::min(pause * 2, std::chrono::microseconds(2000));
    }
}

std::string peerProgram() {
    const char* dir = std::getenv("PUSHCAP_TEST_BIN_DIR");
    if (dir == nullptr || *dir == '\0')
        throw std::runtime_error("PUSHCAP_TEST_BIN_DIR is not set");
    return std::string(dir) + "/ring_peer";
}

Peer::Peer(const std::vector<std::string>& args, std::string stdoutPath)
    : m_stdoutPath(std::move(stdoutPath)) {
    const std::string program = peerProgram();
    std::vector<std::string> argvStore;
    argvStore.push_back(program);
    argvStore.insert(argvStore.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : argvStore)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t parent = ::getpid();
    m_pid = ::fork();
    if (m_pid < 0)
        throw std::runtime_error("fork failed");
    if (m_pid == 0) {
        // Between fork and exec only async-signal-safe calls.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent)
            ::_exit(120);
        int fd = ::open(m_stdoutPath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0 || ::dup2(fd, STDOUT_FILENO) < 0)
            ::_exit(121);
        ::execv(argv[0], argv.data());
        ::_exit(122);
    }
}

Peer::~Peer() {
    if (running())
        kill();
}

bool Peer::poll() {
    if (m_reaped)
        return true;
    int st = 0;
    pid_t r = ::waitpid(m_pid, &st, WNOHANG);
    if (r == m_pid) {
        m_reaped = true;
        m_status = st;
    }
    return m_reaped;
}

int Peer::wait(std::chrono::milliseconds timeout) {
    if (!waitUntil([this] { return poll(); }, timeout))
        return -1;
    return m_status;
}

void Peer::signal(int sig) const {
    if (!m_reaped)
        ::kill(m_pid, sig);
}

void Peer::kill() {
    if (m_reaped)
        return;
    ::kill(m_pid, SIGKILL);
    int st = 0;
    while (::waitpid(m_pid, &st, 0) < 0 && errno == EINTR) {
    }
    m_reaped = true;
    m_status = st;
}

bool Peer::exitedCleanly() const {
    return m_reaped && WIFEXITED(m_status) && WEXITSTATUS(m_status) == 0;
}

std::map<std::string, std::uint64_t> Peer::result() const {
    std::ifstream in(m_stdoutPath);
    std::string line, last;
    while (std::getline(in, line)) {
        if (!line.empty())
            last = line;
    }
    std::map<std::string, std::uint64_t> out;
    std::istringstream words(last);
    std::string word;
    while (words >> word) {
        const auto eq = word.find('=');
        if (eq == std::string::npos)
            continue;
        out[word.substr(0, eq)] = std::strtoull(word.c_str() + eq + 1, nullptr, 10);
    }
    return out;
}

namespace {

// Fields after the command name of /proc/PID/stat (the name may hold spaces and parentheses).
bool statFields(pid_t pid, std::vector<std::string>& fields) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto close = all.rfind(')');
    if (close == std::string::npos)
        return false;
    std::istringstream rest(all.substr(close + 1));
    std::string f;
    fields.clear();
    while (rest >> f)
        fields.push_back(f);
    return fields.size() > 13;
}

}  // namespace

std::uint64_t processCpuMs(pid_t pid) {
    std::vector<std::string> f;
    if (!statFields(pid, f))
        return 0;
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    const std::uint64_t ticks = std::stoull(f[11]) + std::stoull(f[12]);
    return ticks * 1000 / static_cast<std::uint64_t>(::sysconf(_SC_CLK_TCK));
}

char processState(pid_t pid) {
    std::vector<std::string> f;
    if (!statFields(pid, f) || f[0].empty())
        return '?';
    return f[0][0];
}

std::map<std::string, std::string> parseOptions(int argc, char** argv, int first) {
    std::map<std::string, std::string> out;
    for (int i = first; i < argc; ++i) {
        std::string a = argv[i];
        const auto eq = a.find('=');
        if (eq == std::string::npos)
            throw std::runtime_error("expected key=value, got '" + a + "'");
        out[a.substr(0, eq)] = a.substr(eq + 1);
    }
    return out;
}

}  // namespace pushcap::ringtest
