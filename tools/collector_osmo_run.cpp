#include "tools/collector_osmo_run.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "tools/bench_process.hpp"
#include "tools/loopback_port.hpp"

namespace fs = std::filesystem;

namespace pushcap::tools {
namespace {

constexpr double READY_SECONDS = 30;
// Waiting for the files after the senders are done ends when nothing has grown for this long:
// a collector that is still storing keeps its files growing.
constexpr double IDLE_SECONDS = 10;
constexpr double STOP_SECONDS = 60;
constexpr int POLL_US = 20'000;

std::string clientName(int i) {
    return "c" + std::to_string(i);
}

std::string clientAddress(int i) {
    return "127.0.0." + std::to_string(1 + i);  // as sendFor binds
}

std::string makeTempDir() {
    std::string path = (fs::temp_directory_path() / "pushcap-bench-osmo-XXXXXX").string();
    if (!::mkdtemp(path.data()))
        throw std::runtime_error("mkdtemp: " + std::string(std::strerror(errno)));
    return path;
}

std::string readText(const std::string& path) {
    std::ifstream in(path);
    return std::string((std::istreambuf_iterator<char>(in)), {});
}

// As an osmo-pcap-server operator writes it: one file per connection (no rotation, no size
// limit), so each client's run is one trace file.
std::string osmoConfig(const std::string& basePath, int port, int clients) {
    std::string text = "! pushcap-bench collector\nserver\n base-path " + basePath +
                       "\n server ip 127.0.0.1\n server port " + std::to_string(port) +
                       "\n no rotate-localtime\n no max-file-size\n max-snaplen 9000\n";
    for (int i = 0; i < clients; ++i)
        text += " client " + clientName(i) + " " + clientAddress(i) + " store\n";
    return text;
}

// Two ports that were free a moment ago (the collector's and the status endpoint's).
std::pair<int, int> twoFreePorts() {
    const int a = freeLoopbackPort();
    for (int tries = 0; tries < 100; ++tries) {
        if (const int b = freeLoopbackPort(); b != a)
            return {a, b};
    }
    throw std::runtime_error("no second free port on 127.0.0.1");
}

// pushcapd, watched without blocking: once it has exited it is reaped and `code` kept.
struct Child {
    pid_t pid = -1;
    bool exited = false;
    int code = 0;

    bool hasExited() {
        int st = 0;
        if (!exited && ::waitpid(pid, &st, WNOHANG) == pid) {
            exited = true;
            code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        return exited;
    }
};

// A connection from 127.0.0.(1 + index): an address that is no client's, so the probe is
// refused by the collector and never becomes a client's connection (or trace file).
bool listening(int port, int index) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in self{};
    self.sin_family = AF_INET;
    self.sin_addr.s_addr = htonl(0x7f000001u + std::uint32_t(index));
    sockaddr_in peer{};
    peer.sin_family = AF_INET;
    peer.sin_port = htons(std::uint16_t(port));
    peer.sin_addr.s_addr = htonl(0x7f000001u);
    const bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&self), sizeof self) == 0 &&
                    ::connect(fd, reinterpret_cast<sockaddr*>(&peer), sizeof peer) == 0;
    if (fd >= 0)
        ::close(fd);
    return ok;
}

// Until pushcapd says every client's output and the capture are ready and the port accepts:
// packets sent before a worker attached would measure start-up, not storing.
void waitReady(Child& d, const std::string& log, const std::string& err, int clients, int port) {
    auto ready = [&] {
        const std::string text = readText(log);
        if (text.find(" capture: ready") == std::string::npos)
            return false;
        for (int i = 0; i < clients; ++i) {
            if (text.find(" " + clientName(i) + ": ready") == std::string::npos)
                return false;
        }
        return listening(port, clients);
    };
    for (const auto start = BenchClock::now(); !ready(); ::usleep(POLL_US)) {
        if (d.hasExited()) {
            throw std::runtime_error("pushcapd --osmo-config exited (" + std::to_string(d.code) +
                                     ") before it was ready:\n" + readText(log) + readText(err));
        }
        if (secondsSince(start) > READY_SECONDS) {
            ::kill(d.pid, SIGKILL);
            waitProgram(d.pid);
            throw std::runtime_error("pushcapd --osmo-config was not ready in 30 s; see " + log);
        }
    }
}

// What base-path holds, sorted by name (a trace file's name holds its start time).
struct BaseFiles {
    std::vector<std::vector<std::string>> traces;  // per client, complete trace-<name>-*.pcap
    std::vector<std::string> pending, strays;
    std::uint64_t bytes = 0;
};

BaseFiles listBase(const std::string& base, int clients) {
    BaseFiles out;
    out.traces.resize(std::size_t(clients));
    std::vector<fs::path> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(base, ec)) {
        names.push_back(e.path());
        out.bytes += e.is_regular_file(ec) ? e.file_size(ec) : 0;
    }
    std::sort(names.begin(), names.end());
    for (const fs::path& p : names) {
        const std::string name = p.filename().string();
        bool trace = false;
        for (int i = 0; i < clients && !trace; ++i) {
            trace = name.starts_with("trace-" + clientName(i) + "-") && name.ends_with(".pcap");
            if (trace)
                out.traces[std::size_t(i)].push_back(p.string());
        }
        if (!trace)
            (name.ends_with(".pending") ? out.pending : out.strays).push_back(p.string());
    }
    return out;
}

// The collector completes a connection's file when the connection ends: once every client has
// a complete file and nothing is pending, all that was sent and read is stored.
bool waitFilesComplete(Child& d, const std::string& base, int clients) {
    std::uint64_t lastBytes = 0;
    for (auto idle = BenchClock::now(); secondsSince(idle) < IDLE_SECONDS; ::usleep(POLL_US)) {
        const BaseFiles f = listBase(base, clients);
        const bool complete =
            f.pending.empty() &&
            std::all_of(f.traces.begin(), f.traces.end(), [](const auto& t) { return !t.empty(); });
        if (complete)
            return true;
        if (f.bytes != lastBytes) {
            lastBytes = f.bytes;
            idle = BenchClock::now();
        }
        if (d.hasExited())
            return false;
    }
    return false;
}

// SIGTERM, as an operator stops it: the capture stops and the workers complete their files.
int stopPushcapd(Child& d, const std::string& instance, bool& killed) {
    if (d.hasExited())
        return d.code;
    ::kill(d.pid, SIGTERM);
    for (const auto start = BenchClock::now(); secondsSince(start) < STOP_SECONDS;
         ::usleep(POLL_US)) {
        if (d.hasExited())
            return d.code;
    }
    killed = true;
    ::kill(d.pid, SIGKILL);
    const int code = waitProgram(d.pid);
    // A killed supervisor leaves its ring segments behind.
    std::error_code ec;
    for (const auto& e : fs::directory_iterator("/dev/shm", ec)) {
        if (e.path().filename().string().starts_with("pushcap." + instance + "."))
            fs::remove(e.path(), ec);
    }
    return code;
}

std::uint64_t lostPackets(const OsmoConnection& c) {
    return c.sent.packets - std::min(c.sent.packets, c.stored.packets);
}

struct Totals {
    std::uint64_t sentPackets = 0, sentBytes = 0, storedPackets = 0, storedBytes = 0, lost = 0;
    int exact = 0;
};

Totals totals(const OsmoRunResult& r) {
    Totals t;
    for (const OsmoConnection& c : r.connections) {
        t.sentPackets += c.sent.packets;
        t.sentBytes += c.sent.bytes;
        t.storedPackets += c.stored.packets;
        t.storedBytes += c.stored.bytes;
        t.lost += lostPackets(c);  // per connection: one's extra packets never hide another's loss
        t.exact += c.stored.exact ? 1 : 0;
    }
    return t;
}

double storedGbps(const OsmoRunResult& r, const Totals& t) {
    return r.sendSeconds > 0 ? double(t.storedBytes) * 8 / r.sendSeconds / 1e9 : 0;
}

void printNotes(const OsmoRunResult& r) {
    for (const OsmoConnection& c : r.connections) {
        const StoredTrace& s = c.stored;
        if (!s.exact && s.problem.empty()) {
            std::printf("  %s: stored records equal the sent ones up to packet %llu, not after\n",
                        c.name.c_str(), (unsigned long long)s.firstDifference);
        }
        if (!s.problem.empty())
            std::printf("  %s: %s\n", c.name.c_str(), s.problem.c_str());
        if (s.files != 1)
            std::printf("  %s: %zu trace files (one expected: one connection, no rotation)\n",
                        c.name.c_str(), s.files);
    }
    if (r.completeSeconds > 0) {
        std::printf("  every client's file was complete %.2f s after the first send\n",
                    r.completeSeconds);
    } else {
        std::printf(
            "  the files were NOT all complete %.0f s after the senders stopped growing them; "
            "pushcapd was stopped anyway\n",
            IDLE_SECONDS);
    }
    for (const std::string& p : r.pending)
        std::printf("  left pending after pushcapd exited: %s\n", p.c_str());
    for (const std::string& p : r.strays)
        std::printf("  unexpected file in base-path: %s\n", p.c_str());
    if (r.exitCode != 0 || r.killed) {
        std::printf("  pushcapd exited with %d%s\n", r.exitCode,
                    r.killed ? " (killed: it did not exit within 60 s of SIGTERM)" : "");
    }
    if (!r.keptDir.empty())
        std::printf("  configuration and logs kept in %s\n", r.keptDir.c_str());
}

}  // namespace

OsmoRunResult runOsmoCollector(const OsmoRunOptions& o, const Stream& stream) {
    const std::string bin = selfDir();
    const std::string temp = makeTempDir();
    fs::remove_all(o.basePath);
    fs::create_directories(o.basePath);
    const auto [port, statusPort] = twoFreePorts();
    const std::string config = temp + "/osmo-pcap-server.cfg";
    std::ofstream(config) << osmoConfig(o.basePath, port, o.senders);
    const std::string instance = "cbosmo" + std::to_string(::getpid());
    const std::string log = temp + "/pushcapd.log", err = temp + "/pushcapd.err";
    Child d;
    d.pid = spawnProgram(
        {bin + "/pushcapd", "--osmo-config", config, "--instance", instance, "--status",
         "tcp://127.0.0.1:" + std::to_string(statusPort), "--log-dir", temp + "/log"},
        log, -1, err);
    waitReady(d, log, err, o.senders, port);

    OsmoRunResult r;
    const auto start = BenchClock::now();
    std::vector<SendResult> sent;
    try {
        sent = runSendersEach(o.senders, std::uint16_t(port), stream, o.seconds);  // closes them
    } catch (...) {
        stopPushcapd(d, instance, r.killed);  // not left running behind a failed bench
        throw;
    }
    r.sendSeconds = secondsSince(start);
    if (waitFilesComplete(d, o.basePath, o.senders))
        r.completeSeconds = secondsSince(start);
    r.exitCode = stopPushcapd(d, instance, r.killed);

    const BaseFiles files = listBase(o.basePath, o.senders);
    r.pending = files.pending;
    r.strays = files.strays;
    for (int i = 0; i < o.senders; ++i) {
        const std::size_t k = std::size_t(i);
        r.connections.push_back({clientName(i), clientAddress(i), sent[k],
                                 checkTrace(files.traces[k], stream, sent[k].packets)});
    }
    fs::remove_all(o.basePath);
    if (r.exitCode != 0 || r.killed || !r.pending.empty() || r.completeSeconds == 0)
        r.keptDir = temp;
    else
        fs::remove_all(temp);
    return r;
}

void printOsmoRun(const OsmoRunResult& r, double floorGbps) {
    const Totals t = totals(r);
    std::printf(
        "pushcap-bench collector: pushcapd --osmo-config, %zu clients on loopback, IMIX "
        "osmo-pcap (pcap mode), unpaced, %.2f s of sending\n\n",
        r.connections.size(), r.sendSeconds);
    std::printf("%-14s %12s %14s %12s %14s %12s  %s\n", "connection", "sent pkts", "sent bytes",
                "stored pkts", "stored bytes", "lost pkts", "in order, byte-exact");
    auto row = [](const std::string& name, std::uint64_t sp, std::uint64_t sb, std::uint64_t tp,
                  std::uint64_t tb, std::uint64_t lost, const std::string& exact) {
        std::printf("%-14s %12llu %14llu %12llu %14llu %12llu  %s\n", name.c_str(),
                    (unsigned long long)sp, (unsigned long long)sb, (unsigned long long)tp,
                    (unsigned long long)tb, (unsigned long long)lost, exact.c_str());
    };
    for (const OsmoConnection& c : r.connections) {
        row(c.name + " " + c.address, c.sent.packets, c.sent.bytes, c.stored.packets,
            c.stored.bytes, lostPackets(c), c.stored.exact ? "yes" : "no");
    }
    row("all", t.sentPackets, t.sentBytes, t.storedPackets, t.storedBytes, t.lost,
        std::to_string(t.exact) + " of " + std::to_string(r.connections.size()));
    const double gbps = storedGbps(r, t);
    const double ratio = floorGbps > 0 ? gbps / floorGbps : 0;
    std::printf("\n%-14s %8.2f Gbit/s   floor %.2f Gbit/s   %.2f x floor\n", "stored", gbps,
                floorGbps, ratio);
    const bool met = t.lost == 0 && t.exact == int(r.connections.size()) && ratio >= 0.7;
    std::printf("goal (every packet stored, byte-exact, at >= 0.7 x floor): %s\n",
                met ? "met" : "NOT met");
    std::printf(
        "\nBytes: the osmo-pcap stream bytes of the packets (4 B message + 16 B record header +\n"
        "data each), as the floor counts them; stored = read back from the trace files after\n"
        "pushcapd exited. Gbit/s: stored bytes over the first send to the last sender done.\n");
    printNotes(r);
    std::printf("\n");
    std::fflush(stdout);
}

std::string osmoRunJson(const OsmoRunResult& r, double floorGbps) {
    const Totals t = totals(r);
    const double gbps = storedGbps(r, t);
    std::string lost;
    for (const OsmoConnection& c : r.connections)
        lost += (lost.empty() ? "" : ",") + std::to_string(lostPackets(c));
    char head[512], tail[512];
    std::snprintf(head, sizeof head,
                  ",\"osmo_send_seconds\":%.3f,\"osmo_sent_packets\":%llu,"
                  "\"osmo_sent_bytes\":%llu,\"osmo_stored_packets\":%llu,"
                  "\"osmo_stored_bytes\":%llu,\"osmo_lost_packets\":%llu,"
                  "\"osmo_lost_per_connection\":[",
                  r.sendSeconds, (unsigned long long)t.sentPackets, (unsigned long long)t.sentBytes,
                  (unsigned long long)t.storedPackets, (unsigned long long)t.storedBytes,
                  (unsigned long long)t.lost);
    std::snprintf(tail, sizeof tail,
                  "],\"osmo_exact_connections\":%d,\"osmo_connections\":%zu,"
                  "\"osmo_stored_gbps\":%.3f,\"osmo_x_floor\":%.3f,"
                  "\"osmo_complete_seconds\":%.3f,\"osmo_pending_files\":%zu,"
                  "\"osmo_exit_code\":%d",
                  t.exact, r.connections.size(), gbps, floorGbps > 0 ? gbps / floorGbps : 0,
                  r.completeSeconds, r.pending.size(), r.exitCode);
    return head + lost + tail;
}

}  // namespace pushcap::tools
