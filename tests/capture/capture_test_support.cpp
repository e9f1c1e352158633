#include "capture_test_support.hpp"

#include <fcntl.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "router/batch_records.hpp"
#include "router/ring_reader.hpp"

namespace pushcap::testing {
namespace {

std::uint64_t nowMs() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::uint64_t(ts.tv_sec) * 1000 + std::uint64_t(ts.tv_nsec) / 1'000'000;
}

std::vector<char*> cargs(const std::vector<std::string>& argv) {
    std::vector<char*> v;
    for (const auto& a : argv)
        v.push_back(const_cast<char*>(a.c_str()));
    v.push_back(nullptr);
    return v;
}

}  // namespace

std::string binDir() {
    const char* d = std::getenv("PUSHCAP_BIN_DIR");
    if (d == nullptr)
        throw std::runtime_error("PUSHCAP_BIN_DIR is not set (run through ctest)");
    return d;
}

double testScale() {
    const char* s = std::getenv("PUSHCAP_TEST_SCALE");
    return s ? std::atof(s) : 1.0;
}

std::string uniqueInstance(const std::string& prefix) {
    static std::atomic<int> counter{0};
    return prefix + std::to_string(::getpid()) + "x" + std::to_string(counter++);
}

std::string makeTempDir() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "pushcap-capture-test-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr)
        throw std::runtime_error("mkdtemp failed");
    return tmpl;
}

void removeTree(const std::string& dir) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

pid_t spawn(const std::vector<std::string>& argv, const std::string& stderrPath, int readyFd) {
    auto args = cargs(argv);
    const pid_t pid = ::fork();
    if (pid < 0)
        throw std::runtime_error("fork failed");
    if (pid == 0) {
        if (!stderrPath.empty()) {
            const int fd = ::open(stderrPath.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fd >= 0)
                ::dup2(fd, 2);
        }
        if (readyFd >= 0) {
            ::dup2(readyFd, 3);
        }
        ::execv(args[0], args.data());
        _exit(127);
    }
    return pid;
}

bool exited(pid_t pid, int& status) {
    int st = 0;
    if (::waitpid(pid, &st, WNOHANG) != pid)
        return false;
    status = WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
    return true;
}

int waitExit(pid_t pid, int timeoutMs) {
    const std::uint64_t deadline = nowMs() + std::uint64_t(timeoutMs);
    int status = 0;
    while (!exited(pid, status)) {
        if (nowMs() > deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
            return -1000;
        }
        ::poll(nullptr, 0, 5);  // a child exit has no descriptor to wait on here
    }
    return status;
}

int runCommand(const std::vector<std::string>& argv, const std::string& stdoutPath) {
    auto args = cargs(argv);
    const pid_t pid = ::fork();
    if (pid == 0) {
        if (!stdoutPath.empty()) {
            const int fd = ::open(stdoutPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0)
                ::dup2(fd, 1);
        }
        const int devnull = ::open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            ::dup2(devnull, 2);
        ::execvp(args[0], args.data());
        _exit(127);
    }
    return waitExit(pid, 120'000);
}

std::string readText(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

VethNamespace::VethNamespace(const std::string& n) : name(n) {
    ok = runCommand({"ip", "netns", "add", name}) == 0 &&
         runCommand({"ip", "-n", name, "link", "add", "vinj", "type", "veth", "peer", "name",
                     "vcap"}) == 0 &&
         runCommand({"ip", "netns", "exec", name, "sysctl", "-qw",
                     "net.ipv6.conf.all.disable_ipv6=1"}) == 0 &&
         runCommand({"ip", "netns", "exec", name, "sysctl", "-qw",
                     "net.ipv6.conf.default.disable_ipv6=1"}) == 0 &&
         runCommand({"ip", "-n", name, "link", "set", "vinj", "up"}) == 0 &&
         runCommand({"ip", "-n", name, "link", "set", "vcap", "up"}) == 0;
}

VethNamespace::~VethNamespace() {
    runCommand({"ip", "netns", "del", name});
}

std::vector<Packet> readWithLibpcap(const std::string& path, std::uint16_t sourceId) {
    char err[PCAP_ERRBUF_SIZE];
    pcap_t* p =
        pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
    if (p == nullptr)
        throw std::runtime_error(path + ": " + err);
    std::vector<Packet> out;
    const auto link = static_cast<std::uint32_t>(pcap_datalink(p));
    pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    while (pcap_next_ex(p, &h, &data) == 1) {
        Packet pk;
        pk.sourceId = sourceId;
        pk.linkType = link;
        pk.sec = static_cast<std::uint32_t>(h->ts.tv_sec);
        pk.nsec = static_cast<std::uint32_t>(h->ts.tv_usec);
        pk.wireLen = h->len;
        pk.bytes.assign(data, data + h->caplen);
        out.push_back(std::move(pk));
    }
    pcap_close(p);
    return out;
}

std::vector<Packet> readWithTshark(const std::string& path,
                                   const std::vector<std::uint32_t>& linkTypes) {
    const std::string dir = makeTempDir();
    const std::string meta = dir + "/meta.txt", json = dir + "/raw.json";
    if (runCommand({"tshark", "-r", path, "-T", "fields", "-e", "frame.interface_id", "-e",
                    "frame.time_epoch", "-e", "frame.len"},
                   meta) != 0 ||
        runCommand({"tshark", "-r", path, "-T", "json", "-x"}, json) != 0) {
        removeTree(dir);
        throw std::runtime_error("tshark failed on " + path);
    }
    std::vector<Packet> out;
    std::istringstream m(readText(meta));
    std::string line;
    while (std::getline(m, line)) {
        Packet pk;
        unsigned iface = 0, len = 0;
        char epoch[64] = {};
        if (std::sscanf(line.c_str(), "%u\t%63s\t%u", &iface, epoch, &len) != 3)
            continue;
        const char* dot = std::strchr(epoch, '.');
        pk.sec = static_cast<std::uint32_t>(std::strtoul(epoch, nullptr, 10));
        pk.nsec = dot ? static_cast<std::uint32_t>(std::strtoul(dot + 1, nullptr, 10)) : 0;
        pk.sourceId = static_cast<std::uint16_t>(iface);
        pk.linkType = iface < linkTypes.size() ? linkTypes[iface] : 0;
        pk.wireLen = len;
        out.push_back(std::move(pk));
    }
    std::istringstream j(readText(json));
    std::size_t index = 0;
    bool next = false;
    while (std::getline(j, line)) {
        if (line.find("\"frame_raw\"") != std::string::npos) {
            next = true;
            continue;
        }
        if (!next)
            continue;
        next = false;
        const auto q1 = line.find('"'), q2 = line.rfind('"');
        if (index >= out.size() || q1 == std::string::npos || q2 <= q1)
            break;
        const std::string hex = line.substr(q1 + 1, q2 - q1 - 1);
        for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
            out[index].bytes.push_back(
                static_cast<std::uint8_t>(std::stoul(hex.substr(i, 2), nullptr, 16)));
        }
        ++index;
    }
    removeTree(dir);
    if (index != out.size())
        throw std::runtime_error("tshark output of " + path + " did not line up");
    return out;
}

struct RingConsumer::Impl {
    router::RingReader reader;
    Impl(const std::string& segment, const std::string& name) : reader(segment, name) {}
};

RingConsumer::RingConsumer(const std::string& segment, const std::string& name)
    : m_impl(new Impl(segment, name)) {}
RingConsumer::~RingConsumer() {
    delete m_impl;
}

bool RingConsumer::poll(std::vector<Packet>& out, int timeoutMs, std::size_t maxPackets) {
    const std::size_t before = out.size();
    const std::uint64_t deadline = nowMs() + std::uint64_t(timeoutMs);
    router::BatchView view;
    for (;;) {
        const std::uint64_t now = nowMs();
        const std::uint64_t left = deadline > now ? deadline - now : 0;
        const router::NextStatus st = m_impl->reader.next(view, left * 1'000'000);
        if (st == router::NextStatus::EndOfStream)
            return true;
        if (st == router::NextStatus::Timeout)
            return false;
        router::RecordCursor cursor(view);
        router::PacketRef ref;
        std::vector<Packet> batch;
        while (cursor.next(ref)) {
            Packet pk;
            pk.sourceId = view.sourceId;
            pk.linkType = view.linkType;
            pk.sec = ref.header.ts_sec;
            pk.nsec = ref.header.ts_nsec;
            pk.wireLen = ref.header.wirelen;
            const auto* b = reinterpret_cast<const std::uint8_t*>(ref.data);
            pk.bytes.assign(b, b + ref.header.caplen);
            batch.push_back(std::move(pk));
        }
        if (cursor.malformed())
            throw std::runtime_error("malformed batch in the ring");
        if (m_impl->reader.finish(view))
            out.insert(out.end(), batch.begin(), batch.end());
        m_impl->reader.commit();
        if (nowMs() >= deadline || out.size() - before >= maxPackets)
            return false;
    }
}

}  // namespace pushcap::testing
