#include "tools/collector_osmo_run.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>
#include <utility>

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

// A client in the configuration; its sender binds 127.0.0.(1 + index), as sendFor does.
struct Client {
    std::string name;
    int index = 0;
    std::string address() const { return "127.0.0." + std::to_string(1 + index); }
};

// The floods c0.. first, then the slow client at the next address.
std::vector<Client> clientsOf(const OsmoRunOptions& o) {
    std::vector<Client> out;
    for (int i = 0; i < o.senders; ++i)
        out.push_back({"c" + std::to_string(i), i});
    if (o.slowMbps > 0)
        out.push_back({"slow", o.senders});
    return out;
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
std::string osmoConfig(const std::string& basePath, int port, const std::vector<Client>& clients) {
    std::string text = "! pushcap-bench collector\nserver\n base-path " + basePath +
                       "\n server ip 127.0.0.1\n server port " + std::to_string(port) +
                       "\n no rotate-localtime\n no max-file-size\n max-snaplen 9000\n";
    for (const Client& c : clients)
        text += " client " + c.name + " " + c.address() + " store\n";
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

// A connection from 127.0.0.(1 + index), an address that must be no client's: the probe is
// then refused by the collector and never becomes a client's connection (or trace file).
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
void waitReady(Child& d, const std::string& log, const std::string& err,
               const std::vector<Client>& clients, int port) {
    // The address after the last client's (clients are numbered from index 0 up).
    const int probeIndex = clients.empty() ? 0 : clients.back().index + 1;
    auto ready = [&] {
        const std::string text = readText(log);
        if (text.find(" capture: ready") == std::string::npos)
            return false;
        for (const Client& c : clients) {
            if (text.find(" " + c.name + ": ready") == std::string::npos)
                return false;
        }
        return listening(port, probeIndex);
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

BaseFiles listBase(const std::string& base, const std::vector<Client>& clients) {
    BaseFiles out;
    out.traces.resize(clients.size());
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
        for (std::size_t i = 0; i < clients.size() && !trace; ++i) {
            trace = name.starts_with("trace-" + clients[i].name + "-") && name.ends_with(".pcap");
            if (trace)
                out.traces[i].push_back(p.string());
        }
        if (!trace)
            (name.ends_with(".pending") ? out.pending : out.strays).push_back(p.string());
    }
    return out;
}

// The collector completes a connection's file when the connection ends: once every client has
// a complete file and nothing is pending, all that was sent and read is stored.
bool waitFilesComplete(Child& d, const std::string& base, const std::vector<Client>& clients) {
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

// The value `fraction` of the way up the sorted `v` (nearest rank).
double quantile(const std::vector<double>& v, double fraction) {
    if (v.empty())
        return 0;
    const std::size_t rank = std::size_t(std::ceil(fraction * double(v.size())));
    return v[std::clamp<std::size_t>(rank, 1, v.size()) - 1];
}

OsmoSlowClient slowClient(OsmoConnection c, const OsmoRunOptions& o) {
    OsmoSlowClient s;
    std::vector<double> late = std::move(c.sent.lateness);
    c.sent.lateness.clear();  // summarised below; the table has no use for every slice
    std::sort(late.begin(), late.end());
    s.connection = std::move(c);
    s.offeredMbps = o.slowMbps;
    s.sliceBytes = o.slowSliceBytes;
    s.slices = late.size();
    s.latenessP50 = quantile(late, 0.50);
    s.latenessP99 = quantile(late, 0.99);
    s.latenessMax = late.empty() ? 0 : late.back();
    return s;
}

void printNotes(const OsmoRunResult& r) {
    std::vector<const OsmoConnection*> all;
    for (const OsmoConnection& c : r.connections)
        all.push_back(&c);
    for (const OsmoSlowClient& s : r.slow)
        all.push_back(&s.connection);
    for (const OsmoConnection* cp : all) {
        const OsmoConnection& c = *cp;
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

double OsmoSlowClient::sentMbps() const {
    const SendResult& s = connection.sent;
    return s.seconds > 0 ? double(s.bytes) * 8 / s.seconds / 1e6 : 0;
}

OsmoRunResult runOsmoCollector(const OsmoRunOptions& o, const Stream& stream) {
    const std::string bin = selfDir();
    const std::string temp = makeTempDir();
    fs::remove_all(o.basePath);
    fs::create_directories(o.basePath);
    const auto [port, statusPort] = twoFreePorts();
    const std::vector<Client> clients = clientsOf(o);
    const std::string config = temp + "/osmo-pcap-server.cfg";
    std::ofstream(config) << osmoConfig(o.basePath, port, clients);
    const std::string instance = "cbosmo" + std::to_string(::getpid());
    const std::string log = temp + "/pushcapd.log", err = temp + "/pushcapd.err";
    Child d;
    d.pid = spawnProgram(
        {bin + "/pushcapd", "--osmo-config", config, "--instance", instance, "--status",
         "tcp://127.0.0.1:" + std::to_string(statusPort), "--log-dir", temp + "/log"},
        log, -1, err);
    waitReady(d, log, err, clients, port);

    OsmoRunResult r;
    const auto start = BenchClock::now();
    std::vector<SendResult> sent;
    SendResult slowSent;
    std::exception_ptr slowFailure;
    // Started first, so that it is already paced when the floods fill the collector's rings.
    std::thread slow;
    if (o.slowMbps > 0) {
        slow = std::thread([&] {
            try {
                slowSent = sendFor(clients.back().index, std::uint16_t(port), stream, o.seconds,
                                   {.bytesPerSecond = o.slowMbps * 1e6 / 8,
                                    .sliceBytes = o.slowSliceBytes,
                                    .sendBufferBytes = o.slowSendBufferBytes,
                                    .recordLateness = true});
            } catch (...) {
                slowFailure = std::current_exception();
            }
        });
    }
    try {
        sent = runSendersEach(o.senders, std::uint16_t(port), stream, o.seconds);  // closes them
        // The floods' own time: the slow client ending a slice later does not dilute their rate.
        r.sendSeconds = secondsSince(start);
    } catch (...) {
        if (slow.joinable())
            slow.join();
        stopPushcapd(d, instance, r.killed);  // not left running behind a failed bench
        throw;
    }
    if (slow.joinable())
        slow.join();
    if (slowFailure) {
        stopPushcapd(d, instance, r.killed);
        std::rethrow_exception(slowFailure);
    }
    if (waitFilesComplete(d, o.basePath, clients))
        r.completeSeconds = secondsSince(start);
    r.exitCode = stopPushcapd(d, instance, r.killed);

    const BaseFiles files = listBase(o.basePath, clients);
    r.pending = files.pending;
    r.strays = files.strays;
    for (int i = 0; i < o.senders; ++i) {
        const std::size_t k = std::size_t(i);
        r.connections.push_back({clients[k].name, clients[k].address(), sent[k],
                                 checkTrace(files.traces[k], stream, sent[k].packets)});
    }
    if (o.slowMbps > 0) {
        OsmoConnection c{clients.back().name, clients.back().address(), slowSent,
                         checkTrace(files.traces.back(), stream, slowSent.packets)};
        r.slow.push_back(slowClient(std::move(c), o));
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
    for (const OsmoSlowClient& s : r.slow) {
        const OsmoConnection& c = s.connection;
        row(c.name + " " + c.address, c.sent.packets, c.sent.bytes, c.stored.packets,
            c.stored.bytes, lostPackets(c), c.stored.exact ? "yes" : "no");
    }
    const double gbps = storedGbps(r, t);
    const double ratio = floorGbps > 0 ? gbps / floorGbps : 0;
    std::printf("\n%-14s %8.2f Gbit/s   floor %.2f Gbit/s   %.2f x floor\n", "stored", gbps,
                floorGbps, ratio);
    const bool met = t.lost == 0 && t.exact == int(r.connections.size()) && ratio >= 0.7;
    std::printf("goal (every packet stored, byte-exact, at >= 0.7 x floor): %s\n",
                met ? "met" : "NOT met");
    for (const OsmoSlowClient& s : r.slow) {
        const OsmoConnection& c = s.connection;
        const std::string stored = lostPackets(c) == 0 && c.stored.exact
                                       ? std::string("stored every packet (byte-exact)")
                                       : "stored " + std::to_string(c.stored.packets) + " of " +
                                             std::to_string(c.sent.packets) + " packets" +
                                             (c.stored.exact ? "" : ", NOT byte-exact");
        std::printf(
            "slow client beside the floods: offered %.1f Mbit/s, sent %.1f, %s, slice lateness "
            "p99 %.1f ms, max %.1f ms\n",
            s.offeredMbps, s.sentMbps(), stored.c_str(), s.latenessP99 * 1e3, s.latenessMax * 1e3);
    }
    std::printf(
        "\nBytes: the osmo-pcap stream bytes of the packets (4 B message + 16 B record header +\n"
        "data each), as the floor counts them; stored = read back from the trace files after\n"
        "pushcapd exited. Gbit/s: the floods' stored bytes over the first send to the last flood\n"
        "done (\"all\" and the goal are the floods only).\n");
    for (const OsmoSlowClient& s : r.slow) {
        const int buffer = s.connection.sent.sendBufferBytes;
        std::printf(
            "Slow client: %s paced on a schedule in %zu B slices for as long as the floods, its\n"
            "trace checked as theirs. Lateness: when a slice's send() completed minus when the\n"
            "schedule wanted it sent, over %zu slices (p50 %.2f ms). Its send buffer is %d KiB\n"
            "(%.0f ms of its rate); with the collector's receive window it hides a pause in\n"
            "reading it that is shorter than the two hold.\n",
            s.connection.address.c_str(), s.sliceBytes, s.slices, s.latenessP50 * 1e3, buffer >> 10,
            s.offeredMbps > 0 ? double(buffer) * 8 / (s.offeredMbps * 1e6) * 1e3 : 0);
    }
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
    std::string slow;
    for (const OsmoSlowClient& s : r.slow) {
        const OsmoConnection& c = s.connection;
        char text[1024];
        std::snprintf(
            text, sizeof text,
            ",\"osmo_slow_offered_mbps\":%.3f,\"osmo_slow_sent_mbps\":%.3f,"
            "\"osmo_slow_send_seconds\":%.3f,\"osmo_slow_sent_packets\":%llu,"
            "\"osmo_slow_sent_bytes\":%llu,\"osmo_slow_stored_packets\":%llu,"
            "\"osmo_slow_stored_bytes\":%llu,\"osmo_slow_lost_packets\":%llu,"
            "\"osmo_slow_exact\":%s,\"osmo_slow_slice_bytes\":%zu,\"osmo_slow_slices\":%zu,"
            "\"osmo_slow_send_buffer_bytes\":%d,\"osmo_slow_lateness_p50_ms\":%.3f,"
            "\"osmo_slow_lateness_p99_ms\":%.3f,\"osmo_slow_lateness_max_ms\":%.3f",
            s.offeredMbps, s.sentMbps(), c.sent.seconds, (unsigned long long)c.sent.packets,
            (unsigned long long)c.sent.bytes, (unsigned long long)c.stored.packets,
            (unsigned long long)c.stored.bytes, (unsigned long long)lostPackets(c),
            c.stored.exact ? "true" : "false", s.sliceBytes, s.slices, c.sent.sendBufferBytes,
            s.latenessP50 * 1e3, s.latenessP99 * 1e3, s.latenessMax * 1e3);
        slow += text;
    }
    return head + lost + tail + slow;
}

}  // namespace pushcap::tools
