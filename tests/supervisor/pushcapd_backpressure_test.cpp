// Delivery under pressure, end to end: real pushcapd, capture and worker processes, real signals.
// A collector alone runs a backpressured ring: a stopped or crashing lossless target holds the
// clients (over TCP) and loses nothing, while a best-effort target is lapped and counts exactly
// what it lost. With an interface the ring is live: a stopped target never stalls the capture.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <thread>
#include <zmq.hpp>

#include "../capture/capture_test_support.hpp"
#include "../workers/worker_test_support.hpp"
#include "status.pb.h"
#include "tools/loopback_port.hpp"

using namespace pushcap::workers::test;
using namespace std::chrono_literals;
using pushcap::tools::freeLoopbackPort;
namespace v1 = pushcap::v1;

namespace {

// Every pushcapd here runs as instance "e2e<pid>x<n>" (uniqueName("e2e")); rings a killed
// pushcapd left behind are removed when the program ends.
RingSweeper g_ringSweeper("pushcap.e2e" + std::to_string(::getpid()) + "x");

constexpr std::uint32_t RING_BYTES = 4u << 20;  // small: a stopped target fills it at once
// The live case's ring: 0.8 s of its 20 MB/s, so that the running target keeps up even on a
// machine busy with other work (a live target that is starved for longer is lapped, by design).
constexpr std::uint32_t LIVE_RING_BYTES = 16u << 20;

// ---------------------------------------------------------------------------------------------
// Status: an in-process subscriber keeping the latest snapshot.

class StatusWatcher {
  public:
    explicit StatusWatcher(const std::string& endpoint)
        : m_thread([this, endpoint] { run(endpoint); }) {}
    ~StatusWatcher() {
        m_stop = true;
        m_thread.join();
    }
    std::optional<v1::Snapshot> latest() const {
        std::lock_guard lock(m_mutex);
        return m_latest;
    }
    // The snapshot pushcapd publishes when every child has stopped, if it arrived.
    std::optional<v1::Snapshot> finalSnapshot() const {
        std::lock_guard lock(m_mutex);
        return m_final;
    }
    // Waits for a snapshot for which `ok` holds; it is then in `*out`.
    bool waitFor(const std::function<bool(const v1::Snapshot&)>& ok,
                 std::chrono::milliseconds deadline, v1::Snapshot* out = nullptr) const {
        return pushcap::workers::test::waitFor(
            [&] {
                const std::optional<v1::Snapshot> s = latest();
                if (!s || !ok(*s))
                    return false;
                if (out)
                    *out = *s;
                return true;
            },
            deadline);
    }

  private:
    void run(const std::string& endpoint) {
        zmq::context_t context(1);
        zmq::socket_t sub(context, zmq::socket_type::sub);
        sub.set(zmq::sockopt::subscribe, "pushcap.status");
        sub.set(zmq::sockopt::rcvtimeo, 100);
        sub.set(zmq::sockopt::reconnect_ivl, 10);  // pushcapd binds after we connect
        sub.set(zmq::sockopt::linger, 0);
        sub.connect(endpoint);
        while (!m_stop) {
            zmq::message_t topic, body;
            if (!sub.recv(topic) || !topic.more() || !sub.recv(body))
                continue;
            v1::Snapshot s;
            if (!s.ParseFromArray(body.data(), static_cast<int>(body.size())))
                continue;
            const bool stopped =
                s.targets_size() > 0 &&
                std::all_of(s.targets().begin(), s.targets().end(),
                            [](const v1::TargetStatus& t) { return t.state() == v1::STOPPED; });
            std::lock_guard lock(m_mutex);
            m_latest = s;
            if (stopped)
                m_final = s;
        }
    }

    std::atomic<bool> m_stop{false};
    mutable std::mutex m_mutex;
    std::optional<v1::Snapshot> m_latest, m_final;
    std::thread m_thread;
};

const v1::TargetStatus* target(const v1::Snapshot& s, const std::string& desc) {
    for (const v1::TargetStatus& t : s.targets()) {
        if (t.desc() == desc)
            return &t;
    }
    return nullptr;
}

const v1::CollectorClient* client(const v1::Snapshot& s, const std::string& name) {
    if (s.captures_size() == 0)
        return nullptr;
    for (const v1::CollectorClient& c : s.captures(0).clients()) {
        if (c.name() == name)
            return &c;
    }
    return nullptr;
}

bool allRunning(const v1::Snapshot& s, const std::vector<std::string>& descs) {
    if (s.captures_size() == 0 || s.captures(0).state() != "running")
        return false;
    return std::all_of(descs.begin(), descs.end(), [&](const std::string& d) {
        const v1::TargetStatus* t = target(s, d);
        return t && t->state() == v1::RUNNING && t->pid() > 0;
    });
}

std::string describe(const std::optional<v1::Snapshot>& snap) {
    if (!snap)
        return "no status snapshot received";
    std::ostringstream o;
    o << "snapshot #" << snap->sequence() << ":\n";
    for (const v1::CaptureStatus& c : snap->captures()) {
        o << "  capture " << c.state() << " ring " << c.ring_mode() << " packets " << c.packets()
          << " bytes " << c.bytes() << " held " << c.held_seconds() << " s kernel_drops "
          << c.kernel_drops() << "/" << c.kernel_if_drops() << "\n";
        for (const v1::CollectorClient& k : c.clients()) {
            o << "    client " << k.name() << (k.connected() ? " connected" : " closed")
              << " packets " << k.packets() << " connections " << k.connections() << " last_close '"
              << k.last_close() << "'\n";
        }
    }
    for (const v1::TargetStatus& t : snap->targets()) {
        o << "  target " << t.desc() << " state " << v1::TargetState_Name(t.state()) << " pid "
          << t.pid() << " restarts " << t.restarts() << " delivery " << t.delivery() << " seen "
          << t.packets_seen() << " written " << t.packets_written() << " lost " << t.packets_lost()
          << " held " << t.held_source_seconds() << " s lag " << t.lag_bytes() << " files "
          << t.files_completed() << " error '" << t.last_error() << "'\n";
    }
    return o.str();
}

// A process stopped with SIGSTOP is continued however the test ends, so that nothing it
// belongs to (pushcapd's clean-up, PDEATHSIG) waits on it forever.
struct StoppedProcess {
    pid_t pid = 0;
    void stop(pid_t p) {
        pid = p;
        REQUIRE(::kill(pid, SIGSTOP) == 0);
    }
    void resume() {
        if (pid > 0)
            ::kill(pid, SIGCONT);
        pid = 0;
    }
    ~StoppedProcess() { resume(); }
};

// ---------------------------------------------------------------------------------------------
// The clients' packets: packet `seq` of client `k` is known from (k, seq) alone, so what a
// sender sent is known from its count, and any record read back tells which packet it is.

constexpr std::uint32_t SIZES[8] = {60, 1500, 60, 576, 60, 1000, 60, 300};
constexpr std::size_t PREFIX = 9;  // payload: u64 seq (little-endian), u8 client, then fill

std::uint32_t sizeOf(std::uint64_t seq) {
    return SIZES[seq % 8];
}
std::uint32_t secOf(std::uint64_t seq) {
    return 1700000000u + std::uint32_t(seq / 100000);
}
std::uint32_t usecOf(std::uint64_t seq) {
    return std::uint32_t(seq % 100000) * 10;
}
std::uint8_t fillOf(int k, std::uint64_t seq) {
    return std::uint8_t(seq * 31 + std::uint64_t(k) * 101 + 7);
}

// Appends packet `seq` of client `k` as an osmo-pcap data message (type 1, pcap record).
void appendMessage(std::vector<char>& out, int k, std::uint64_t seq) {
    const std::uint32_t size = sizeOf(seq);
    const std::size_t len = 16 + size;
    const std::size_t at = out.size();
    out.resize(at + 4 + len);
    char* p = out.data() + at;
    p[0] = 1;
    p[1] = 0;
    p[2] = char((len >> 8) & 0xff);
    p[3] = char(len & 0xff);
    const std::uint32_t rh[4] = {secOf(seq), usecOf(seq), size, size};
    std::memcpy(p + 4, rh, sizeof rh);
    std::memcpy(p + 20, &seq, 8);
    p[28] = char(k);
    std::memset(p + 20 + PREFIX, fillOf(k, seq), size - PREFIX);
}

// One osmo-pcap client: from 127.0.0.(k+1), a pcap link header, then packets 0, 1, 2, ... as
// fast as TCP takes them, in whole messages, until stopped. sent() is exact once joined.
class Sender {
  public:
    Sender(int k, int port) : m_k(k), m_port(port), m_thread([this] { run(); }) {}
    ~Sender() { finish(); }
    // Stops after the chunk in flight; a collector that never reads it again (a failed test)
    // gets the socket shut down under the sender after 30 s.
    void finish() {
        m_stop = true;
        if (!m_thread.joinable())
            return;
        if (!pushcap::workers::test::waitFor([&] { return m_done.load(); }, 30s)) {
            const int fd = m_fd.load();
            if (fd >= 0)
                ::shutdown(fd, SHUT_RDWR);
        }
        m_thread.join();
    }
    std::uint64_t sent() const { return m_sent; }
    const std::string& error() const { return m_error; }  // after finish()

  private:
    void run() {
        runOn(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        const int fd = m_fd.exchange(-1);
        if (fd >= 0)
            ::close(fd);
        m_done = true;
    }
    void runOn(const int fd) {
        m_fd = fd;
        sockaddr_in self{};
        self.sin_family = AF_INET;
        self.sin_addr.s_addr = htonl(0x7f000001u + std::uint32_t(m_k));
        sockaddr_in peer{};
        peer.sin_family = AF_INET;
        peer.sin_port = htons(static_cast<std::uint16_t>(m_port));
        peer.sin_addr.s_addr = htonl(0x7f000001u);
        if (::bind(fd, reinterpret_cast<sockaddr*>(&self), sizeof self) != 0 ||
            ::connect(fd, reinterpret_cast<sockaddr*>(&peer), sizeof peer) != 0) {
            m_error = std::string("bind/connect: ") + std::strerror(errno);
            return;
        }
        auto sendAll = [&](const std::vector<char>& b) {
            for (std::size_t off = 0; off < b.size();) {
                const ssize_t n = ::send(fd, b.data() + off, b.size() - off, MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n <= 0) {
                    m_error = std::string("send: ") + std::strerror(errno);
                    return false;
                }
                off += std::size_t(n);
            }
            return true;
        };
        std::vector<char> chunk;
        const std::uint32_t global[6] = {0xa1b2c3d4, 2 | (4u << 16), 0, 0, 9000, 1};
        chunk.resize(4 + sizeof global);  // link header: type 0, a pcap global header
        chunk[0] = chunk[1] = chunk[2] = 0;
        chunk[3] = char(sizeof global);
        std::memcpy(chunk.data() + 4, global, sizeof global);
        bool ok = sendAll(chunk);
        std::uint64_t seq = 0;
        while (ok && !m_stop) {
            chunk.clear();
            std::uint64_t next = seq;
            while (chunk.size() < (256u << 10))
                appendMessage(chunk, m_k, next++);
            if ((ok = sendAll(chunk)))
                m_sent = seq = next;
        }
        ::shutdown(fd, SHUT_WR);
    }

    int m_k, m_port;
    std::atomic<bool> m_stop{false}, m_done{false};
    std::atomic<int> m_fd{-1};
    std::atomic<std::uint64_t> m_sent{0};
    std::string m_error;
    std::thread m_thread;
};

// ---------------------------------------------------------------------------------------------
// Reading the clients' packets back from pcap files, file by file (mapped, not loaded).

struct MappedFile {
    explicit MappedFile(const std::string& path) {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        struct stat st {};
        if (fd >= 0 && ::fstat(fd, &st) == 0 && st.st_size > 0) {
            size = std::size_t(st.st_size);
            void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
            data = p == MAP_FAILED ? nullptr : static_cast<const char*>(p);
            if (data)
                ::madvise(p, size, MADV_SEQUENTIAL);
        }
        if (fd >= 0)
            ::close(fd);
        if (!data)
            size = 0;
    }
    ~MappedFile() {
        if (data)
            ::munmap(const_cast<char*>(data), size);
    }
    const char* data = nullptr;
    std::size_t size = 0;
};

// Full paths of the complete files in `dir` whose names start with `prefix` and end in
// `suffix`, in packet order: by first packet time, then by name (as concatenatedRecords).
std::vector<std::string> filesInOrder(const std::string& dir, const std::string& prefix,
                                      const std::string& suffix = ".pcap") {
    std::vector<std::pair<std::uint64_t, std::string>> found;
    for (const std::string& n : listFiles(dir)) {
        if (n.rfind(prefix, 0) != 0 || n.size() < suffix.size() ||
            n.compare(n.size() - suffix.size(), suffix.size(), suffix) != 0) {
            continue;
        }
        MappedFile f(dir + "/" + n);
        std::uint64_t first = ~0ULL;
        if (f.size >= 40) {
            std::uint32_t sec = 0, frac = 0, magic = 0;
            std::memcpy(&magic, f.data, 4);
            std::memcpy(&sec, f.data + 24, 4);
            std::memcpy(&frac, f.data + 28, 4);
            first = std::uint64_t(sec) * 1'000'000'000ULL +
                    std::uint64_t(frac) * (magic == 0xa1b23c4d ? 1 : 1000);
        }
        found.emplace_back(first, dir + "/" + n);
    }
    std::sort(found.begin(), found.end());
    std::vector<std::string> out;
    for (auto& [first, path] : found)
        out.push_back(std::move(path));
    return out;
}

struct Scan {
    std::uint64_t packets = 0;  // records that are packets of this client, as sent
    std::string error;          // the first problem: which file, which record, what
};

// Reads `files` in order, every record must be client `k`'s packet, byte for byte as sent, with
// a sequence number below `sent`. `contiguous`: the packets are 0, 1, 2, ... (every packet once,
// in order); otherwise strictly increasing (a subsequence, in order).
Scan scanClient(const std::vector<std::string>& files, int k, std::uint64_t sent, bool contiguous) {
    Scan r;
    std::uint64_t next = 0;  // the lowest sequence number the next record may have
    char fill[1500];
    for (const std::string& path : files) {
        MappedFile f(path);
        auto fail = [&](std::size_t at, const std::string& what) {
            std::ostringstream o;
            o << path << ": record " << r.packets << " at byte " << at << ": " << what;
            r.error = o.str();
            return r;
        };
        if (f.size < 24)
            return fail(0, "shorter than a pcap header");
        std::uint32_t magic = 0, link = 0;
        std::memcpy(&magic, f.data, 4);
        std::memcpy(&link, f.data + 20, 4);
        if (magic != 0xa1b2c3d4 && magic != 0xa1b23c4d)
            return fail(0, "not a little-endian pcap file");
        if (link != 1)
            return fail(0, "link type " + std::to_string(link));
        const std::uint32_t fracScale = magic == 0xa1b23c4d ? 1000 : 1;
        std::size_t at = 24;
        while (at < f.size) {
            if (at + 16 > f.size)
                return fail(at, "truncated record header");
            std::uint32_t h[4];
            std::memcpy(h, f.data + at, 16);
            const char* d = f.data + at + 16;
            if (h[2] < PREFIX || at + 16 + h[2] > f.size)
                return fail(at, "caplen " + std::to_string(h[2]));
            std::uint64_t seq = 0;
            std::memcpy(&seq, d, 8);
            if (std::uint8_t(d[8]) != k)
                return fail(at, "a packet of client " + std::to_string(std::uint8_t(d[8])));
            if (seq >= sent)
                return fail(at, "packet " + std::to_string(seq) + ", but only " +
                                    std::to_string(sent) + " were sent");
            if (contiguous ? seq != next : seq < next)
                return fail(at, "packet " + std::to_string(seq) + " where " +
                                    (contiguous ? "" : "at least ") + std::to_string(next) +
                                    " was due");
            if (h[0] != secOf(seq) || h[1] != usecOf(seq) * fracScale || h[2] != sizeOf(seq) ||
                h[3] != sizeOf(seq)) {
                return fail(at, "record header of packet " + std::to_string(seq) + " differs");
            }
            std::memset(fill, fillOf(k, seq), h[2] - PREFIX);
            if (std::memcmp(d + PREFIX, fill, h[2] - PREFIX) != 0)
                return fail(at, "data of packet " + std::to_string(seq) + " differs");
            next = seq + 1;
            ++r.packets;
            at += 16 + h[2];
        }
    }
    return r;
}

// Packets in `files` as capinfos (Wireshark) counts them: an independent reader.
std::optional<std::uint64_t> capinfosCount(const std::vector<std::string>& files,
                                           const std::string& scratch) {
    if (files.empty())
        return 0;
    std::string cmd = "capinfos -T -r -c -M";
    for (const std::string& f : files)
        cmd += " " + quote(f);
    const std::string out = scratch + "/" + uniqueName("capinfos");
    if (runShell(cmd + " > " + quote(out) + " 2>&1") != 0)
        return std::nullopt;
    std::istringstream lines(readFile(out));
    std::uint64_t total = 0;
    std::string line;
    std::size_t rows = 0;
    while (std::getline(lines, line)) {
        const std::size_t tab = line.rfind('\t');
        if (tab == std::string::npos)
            return std::nullopt;
        total += std::stoull(line.substr(tab + 1));
        ++rows;
    }
    return rows == files.size() ? std::optional(total) : std::nullopt;
}

std::vector<std::string> pendingFiles(const std::vector<std::string>& dirs) {
    std::vector<std::string> out;
    for (const std::string& d : dirs) {
        for (const std::string& n : listFiles(d)) {
            if (n.find(".pending") != std::string::npos)
                out.push_back(d + "/" + n);
        }
    }
    return out;
}

bool haveCapinfos() {
    return runShell("command -v capinfos > /dev/null") == 0;
}

// ---------------------------------------------------------------------------------------------
// A collector with four clients c0..c3 (127.0.0.1..4) and their default outputs (lossless) in
// dir/trace, plus, with `bestEffort`, target "be": every packet of c0, best-effort, in dir/be.

// c3 connects in the first case only while the collector holds the others.
const std::vector<std::string> CLIENTS = {"c0", "c1", "c2", "c3"};
constexpr int LATE_CLIENT = 3;

std::string collectorConfig(const std::string& dir, int port, bool bestEffort) {
    std::ostringstream o;
    o << "local Config = {}\nConfig.Target = {}\n"
      << "Config.RingSize = " << RING_BYTES << "\nConfig.StatusInterval = 0.2\n"
      << "Config.Collector = {\n  Listen = '127.0.0.1:" << port << "',\n  Clients = {\n";
    for (std::size_t k = 0; k < CLIENTS.size(); ++k)
        o << "    { Name = '" << CLIENTS[k] << "', Address = '127.0.0." << k + 1 << "' },\n";
    o << "  },\n  Output = { BasePath = '" << dir << "/trace' },\n}\n";
    if (bestEffort) {
        o << "table.insert(Config.Target, { Desc = 'be', Mode = 'File', Path = '" << dir
          << "/be/be', Delivery = 'best-effort', Source = 'c0' })\n";
    }
    o << "return Config\n";
    const std::string path = dir + "/collector.lua";
    std::ofstream(path) << o.str();
    return path;
}

// pushcapd with that config, its status watched, until every target runs and the collector
// listens.
struct Collector {
    Collector(const std::string& dir, bool bestEffort)
        : dir(dir),
          port(freeLoopbackPort()),
          log(dir + "/pushcapd.log"),
          status("ipc://" + dir + "/status.sock"),
          d(pushcapdCommand(collectorConfig(dir, port, bestEffort), dir, {}, uniqueName("e2e")),
            log) {
        targets = CLIENTS;
        if (bestEffort)
            targets.push_back("be");
    }
    // True once the collector listens and every target is RUNNING.
    bool ready() {
        const std::string listening = "collector: listening on 127.0.0.1:" + std::to_string(port);
        return waitFor(
                   [&] {
                       return readFile(log).find(listening) != std::string::npos || !d.running();
                   },
                   30s) &&
               status.waitFor([&](const v1::Snapshot& s) { return allRunning(s, targets); }, 30s) &&
               d.running();
    }
    // Waits until the collector took every packet the senders sent and every target has read
    // the ring to its end.
    bool drained(const std::vector<std::uint64_t>& sent, v1::Snapshot* out) {
        std::uint64_t total = 0;
        for (std::uint64_t n : sent)
            total += n;
        return status.waitFor(
            [&](const v1::Snapshot& s) {
                if (s.captures_size() == 0 || s.captures(0).packets() != total)
                    return false;
                for (std::size_t k = 0; k < CLIENTS.size(); ++k) {
                    const v1::CollectorClient* c = client(s, CLIENTS[k]);
                    if (!c || c->connected() || c->packets() != sent[k])
                        return false;
                }
                return std::all_of(targets.begin(), targets.end(), [&](const std::string& t) {
                    const v1::TargetStatus* ts = target(s, t);
                    return ts && ts->state() == v1::RUNNING && ts->lag_bytes() == 0;
                });
            },
            60s, out);
    }

    std::string dir;
    int port;
    std::string log;
    StatusWatcher status;
    Child d;
    std::vector<std::string> targets;
};

std::string logs(const Collector& c) {
    std::string out = "pushcapd.log:\n" + readFile(c.log);
    for (const std::string& n : listFiles(c.dir + "/log"))
        out += "\n" + n + ":\n" + readFile(c.dir + "/log/" + n);
    return out;
}

// Every client's trace files hold exactly what it sent: every packet once, in order, byte for
// byte; capinfos counts the same.
void checkClientsStored(const std::string& dir, const std::vector<std::uint64_t>& sent) {
    for (std::size_t k = 0; k < CLIENTS.size(); ++k) {
        const std::vector<std::string> files =
            filesInOrder(dir + "/trace", "trace-" + CLIENTS[k] + "-");
        INFO("client " << CLIENTS[k] << ": sent " << sent[k] << " packets, " << files.size()
                       << " trace file(s)");
        CHECK(sent[k] > 0);
        CHECK(!files.empty());
        const Scan scan = scanClient(files, int(k), sent[k], /*contiguous=*/true);
        INFO(scan.error);
        CHECK(scan.error.empty());
        CHECK(scan.packets == sent[k]);
        if (haveCapinfos())
            CHECK(capinfosCount(files, dir) == std::optional(sent[k]));
    }
}

}  // namespace

TEST_CASE(
    "an unpaced collector flood with a SIGSTOPped lossless output: nothing lost, clients held, "
    "the best-effort target counts its loss exactly",
    "[e2e][multiproc][supervisor][collector][backpressure]") {
    TempDir dir;
    Collector c(dir.path, /*bestEffort=*/true);
    if (!c.ready())
        FAIL("pushcapd did not come up\n" << describe(c.status.latest()) << logs(c));

    std::vector<std::unique_ptr<Sender>> senders;
    for (int k = 0; k < LATE_CLIENT; ++k)
        senders.push_back(std::make_unique<Sender>(k, c.port));
    // The flood is on once every client's packets reach its output.
    v1::Snapshot s;
    REQUIRE(c.status.waitFor(
        [](const v1::Snapshot& s) {
            return std::all_of(CLIENTS.begin(), CLIENTS.begin() + LATE_CLIENT,
                               [&](const std::string& name) {
                                   const v1::TargetStatus* t = target(s, name);
                                   return t && t->packets_written() > 0;
                               });
        },
        30s, &s));
    std::this_thread::sleep_for(500ms);  // flooding

    StoppedProcess stopped;
    REQUIRE(c.status.waitFor([](const v1::Snapshot&) { return true; }, 5s, &s));
    const pid_t c0 = pid_t(target(s, "c0")->pid());
    const double heldBefore = target(s, "c0")->held_source_seconds();
    REQUIRE(c0 > 0);
    stopped.stop(c0);
    const auto stoppedAt = std::chrono::steady_clock::now();
    // The ring fills and the collector holds every client; a client that connects now is still
    // accepted and its link header read (its packets wait like the others').
    INFO(describe(c.status.latest()));
    REQUIRE(c.status.waitFor(
        [&](const v1::Snapshot& s) {
            const v1::TargetStatus* t = target(s, "c0");
            return t && t->held_source_seconds() > heldBefore;
        },
        10s));
    senders.push_back(std::make_unique<Sender>(LATE_CLIENT, c.port));
    CHECK(c.status.waitFor(
        [](const v1::Snapshot& s) {
            const v1::CollectorClient* k = client(s, CLIENTS[LATE_CLIENT]);
            return k && k->connected();
        },
        10s));
    std::this_thread::sleep_until(stoppedAt + 2s);
    stopped.resume();
    std::this_thread::sleep_for(1s);  // flooding again

    std::vector<std::uint64_t> sent;
    for (auto& snd : senders) {
        snd->finish();
        INFO("sender " << sent.size());
        CHECK(snd->error().empty());  // a held client is slowed down, never disconnected
        sent.push_back(snd->sent());
    }
    INFO("sent: c0 " << sent[0] << ", c1 " << sent[1] << ", c2 " << sent[2] << ", c3 " << sent[3]);

    v1::Snapshot drained;
    if (!c.drained(sent, &drained))
        FAIL("the collector and its targets did not drain\n"
             << describe(c.status.latest()) << logs(c));
    INFO("drained " << describe(drained));
    // Best-effort: what it wrote and what it lost add up to what came in (waited for only so
    // that the snapshot used below is the final one; the files are the judge).
    c.status.waitFor(
        [&](const v1::Snapshot& s) {
            const v1::TargetStatus* t = target(s, "be");
            return t && t->packets_written() + t->packets_lost() == sent[0];
        },
        10s, &drained);

    c.d.kill(SIGTERM);
    const auto code = c.d.exitCode(60s);
    INFO(logs(c));
    REQUIRE(code == 0);
    const std::optional<v1::Snapshot> fin = c.status.finalSnapshot();
    const v1::Snapshot& last = fin ? *fin : drained;
    INFO((fin ? "final " : "(no final snapshot arrived) pre-SIGTERM ") << describe(last));

    // (a) Every client's files hold exactly what it sent.
    checkClientsStored(dir.path, sent);

    // (b) The best-effort target: its files are c0's packets in order, and with what it lost
    // they are every packet c0 sent.
    const v1::TargetStatus* be = target(last, "be");
    REQUIRE(be != nullptr);
    CHECK(be->delivery() == "best-effort");
    const std::vector<std::string> beFiles = filesInOrder(dir.path + "/be", "be_");
    CHECK(!beFiles.empty());
    const Scan beScan = scanClient(beFiles, 0, sent[0], /*contiguous=*/false);
    INFO(beScan.error);
    CHECK(beScan.error.empty());
    INFO("be: " << beScan.packets << " packets in its files, packets_lost " << be->packets_lost()
                << ", packets_written " << be->packets_written() << ", c0 sent " << sent[0]);
    CHECK(beScan.packets + be->packets_lost() == sent[0]);
    if (haveCapinfos())
        CHECK(capinfosCount(beFiles, dir.path) == std::optional(beScan.packets));

    // (c) The held clients were slowed, not dropped: one connection each.
    for (const std::string& name : CLIENTS) {
        const v1::CollectorClient* k = client(last, name);
        REQUIRE(k != nullptr);
        INFO(name);
        CHECK(k->connections() == 1);
    }
    // (d) c0's output held the source while it was stopped; nothing was lost by a lossless one.
    for (const std::string& name : CLIENTS) {
        const v1::TargetStatus* t = target(last, name);
        REQUIRE(t != nullptr);
        INFO(name);
        CHECK(t->delivery() == "lossless");
        CHECK(t->packets_lost() == 0);
        CHECK(t->restarts() == 0);
    }
    CHECK(target(last, "c0")->held_source_seconds() > 0);
    CHECK(last.captures(0).ring_mode() == "backpressured");

    const std::vector<std::string> pending = pendingFiles({dir.path + "/trace", dir.path + "/be"});
    INFO(pending.size() << " .pending file(s), first: " << (pending.empty() ? "" : pending[0]));
    CHECK(pending.empty());
}

TEST_CASE(
    "a lossless collector output SIGKILLed again and again under an unpaced flood stores every "
    "packet exactly once",
    "[e2e][multiproc][supervisor][collector][backpressure]") {
    TempDir dir;
    Collector c(dir.path, /*bestEffort=*/false);
    if (!c.ready())
        FAIL("pushcapd did not come up\n" << describe(c.status.latest()) << logs(c));

    std::vector<std::unique_ptr<Sender>> senders;
    for (int k = 0; k < int(CLIENTS.size()); ++k)
        senders.push_back(std::make_unique<Sender>(k, c.port));
    REQUIRE(c.status.waitFor(
        [](const v1::Snapshot& s) {
            const v1::TargetStatus* t = target(s, "c0");
            return t && t->packets_written() > 0;
        },
        30s));

    // pushcapd fails a target past 5 restarts within 30 s (not configurable): 5 kills is the
    // most one run can take without the target going FAILED.
    const int KILLS = 5;
    const unsigned seed = std::random_device{}();
    INFO("kill intervals seed " << seed);
    std::mt19937 rng(seed);
    int kills = 0;
    pid_t last = 0;
    for (int i = 0; i < KILLS; ++i) {
        std::vector<pid_t> pids;
        // The restarted worker (the first one before the first kill).
        const bool up = waitFor(
            [&] {
                pids = childrenMatching(c.d.pid(), "--name c0 ");
                return (!pids.empty() && pids.front() != last) || !c.d.running();
            },
            30s);
        INFO(describe(c.status.latest()));
        REQUIRE(up);
        REQUIRE(c.d.running());
        std::this_thread::sleep_for(
            std::chrono::milliseconds(std::uniform_int_distribution<int>(100, 300)(rng)));
        last = pids.front();
        if (::kill(last, SIGKILL) == 0)
            ++kills;
    }
    // The last restart runs and stores again, under the flood.
    v1::Snapshot s;
    REQUIRE(c.status.waitFor(
        [&](const v1::Snapshot& s) {
            const v1::TargetStatus* t = target(s, "c0");
            return t && t->state() == v1::RUNNING && t->pid() > 0 && pid_t(t->pid()) != last &&
                   t->restarts() == std::uint64_t(kills);
        },
        30s, &s));
    const std::uint64_t before = target(s, "c0")->packets_written();
    INFO("restarted: " << describe(s) << logs(c));
    REQUIRE(c.status.waitFor(
        [&](const v1::Snapshot& s) {
            const v1::TargetStatus* t = target(s, "c0");
            return t && t->packets_written() > before;
        },
        30s));
    std::this_thread::sleep_for(1s);  // flooding

    std::vector<std::uint64_t> sent;
    for (auto& snd : senders) {
        snd->finish();
        INFO("sender " << sent.size());
        CHECK(snd->error().empty());
        sent.push_back(snd->sent());
    }
    INFO("sent: c0 " << sent[0] << ", c1 " << sent[1] << ", c2 " << sent[2] << "; " << kills
                     << " kills");
    v1::Snapshot drained;
    if (!c.drained(sent, &drained))
        FAIL("the collector and its targets did not drain\n"
             << describe(c.status.latest()) << logs(c));
    INFO("drained " << describe(drained));

    c.d.kill(SIGTERM);
    const auto code = c.d.exitCode(60s);
    INFO(logs(c));
    REQUIRE(code == 0);
    CHECK(kills == KILLS);
    const v1::TargetStatus* t0 = target(drained, "c0");
    REQUIRE(t0 != nullptr);
    CHECK(t0->restarts() == std::uint64_t(KILLS));
    CHECK(t0->packets_lost() == 0);
    for (const std::string& name : CLIENTS) {
        const v1::CollectorClient* k = client(drained, name);
        REQUIRE(k != nullptr);
        INFO(name);
        CHECK(k->connections() == 1);
    }
    // Exactly once: every packet of every client, in order, byte for byte, nothing twice.
    checkClientsStored(dir.path, sent);
    const std::vector<std::string> pending = pendingFiles({dir.path + "/trace"});
    INFO(pending.size() << " .pending file(s), first: " << (pending.empty() ? "" : pending[0]));
    CHECK(pending.empty());
}

TEST_CASE(
    "live capture with a SIGSTOPped target: the capture never stalls, the other target gets "
    "every packet, the stopped one counts exactly what it lost",
    "[e2e][multiproc][supervisor][live][root][backpressure]") {
    if (::geteuid() != 0) {
        WARN("skipped: live capture needs root to create a network namespace and a veth pair");
        return;
    }
    TempDir dir;
    TempDir out("/dev/shm");
    pushcap::testing::VethNamespace ns(uniqueName("pcbp"));
    if (!ns.ok) {
        WARN("skipped: cannot create a network namespace with a veth pair here");
        return;
    }
    // 1000-byte frames at 20000/s: 20 MB/s, above a ring a second, far below what the capture
    // takes (no kernel drop) and far above what a stopped target can keep. The targets write to
    // tmpfs, so that a busy disk never stalls the running one.
    const std::uint64_t N = 60000;
    const std::vector<std::string> gen = {"--count", std::to_string(N), "--size",
                                          "1000",    "--seed",          "43"};
    const std::string expectedPath = dir.path + "/expected.pcap";
    {
        std::vector<std::string> argv = {binDir() + "/pushcap-gen", "--out", expectedPath,
                                         "--quiet"};
        argv.insert(argv.end(), gen.begin(), gen.end());
        Child g(argv, dir.path + "/gen.log");
        REQUIRE(g.exitCode(60s) == 0);
    }
    const std::vector<pushcap::testing::Packet> want =
        pushcap::testing::readWithLibpcap(expectedPath);
    REQUIRE(want.size() == N);

    const std::string config = dir.path + "/live.lua";
    std::ofstream(config)
        << "local Config = {}\nConfig.Target = {}\nConfig.Interface = { 'vcap' }\n"
        << "Config.RingSize = " << LIVE_RING_BYTES << "\nConfig.StatusInterval = 0.2\n"
        << "table.insert(Config.Target, { Desc = 'A', Mode = 'File', Path = '" << out.path
        << "/a/a' })\n"
        << "table.insert(Config.Target, { Desc = 'B', Mode = 'File', Path = '" << out.path
        << "/b/b' })\nreturn Config\n";
    std::vector<std::string> argv = {"/usr/bin/ip", "netns", "exec", ns.name};
    for (const std::string& a : pushcapdCommand(config, dir.path, {}, uniqueName("e2e")))
        argv.push_back(a);
    const std::string log = dir.path + "/pushcapd.log";
    StatusWatcher status("ipc://" + dir.path + "/status.sock");
    Child d(argv, log);
    auto allLogs = [&] {
        std::string out = "pushcapd.log:\n" + readFile(log);
        for (const std::string& n : listFiles(dir.path + "/log"))
            out += "\n" + n + ":\n" + readFile(dir.path + "/log/" + n);
        return out;
    };
    v1::Snapshot s;
    if (!status.waitFor([](const v1::Snapshot& s) { return allRunning(s, {"A", "B"}); }, 30s, &s)) {
        FAIL("pushcapd did not come up\n" << describe(status.latest()) << allLogs());
    }
    REQUIRE(s.captures(0).ring_mode() == "live");

    StoppedProcess stopped;
    stopped.stop(pid_t(target(s, "A")->pid()));
    std::vector<std::string> inject = {
        "/usr/bin/ip", "netns", "exec",  ns.name, binDir() + "/pushcap-gen",
        "--inject",    "vinj",  "--pps", "20000", "--quiet"};
    inject.insert(inject.end(), gen.begin(), gen.end());
    Child injector(inject, dir.path + "/inject.log");
    // A stays stopped while the capture publishes two rings' worth.
    const bool lapped = status.waitFor(
        [](const v1::Snapshot& s) {
            return s.captures_size() > 0 && s.captures(0).bytes() > 2ull * LIVE_RING_BYTES;
        },
        30s);
    INFO(describe(status.latest()));
    REQUIRE(lapped);
    stopped.resume();
    const auto injected = injector.exitCode(60s);
    INFO(readFile(dir.path + "/inject.log"));
    REQUIRE(injected == 0);

    // Everything injected is captured; both targets read the ring to its end.
    v1::Snapshot done;
    const bool drained = status.waitFor(
        [&](const v1::Snapshot& s) {
            if (s.captures_size() == 0 || s.captures(0).packets() < N)
                return false;
            for (const char* name : {"A", "B"}) {
                const v1::TargetStatus* t = target(s, name);
                if (!t || t->lag_bytes() != 0 || t->packets_written() + t->packets_lost() < N)
                    return false;
            }
            return true;
        },
        60s, &done);
    if (!drained)
        FAIL("the targets did not drain\n" << describe(status.latest()) << allLogs());

    d.kill(SIGTERM);
    const auto code = d.exitCode(60s);
    INFO(allLogs());
    REQUIRE(code == 0);
    const std::optional<v1::Snapshot> fin = status.finalSnapshot();
    const v1::Snapshot& last = fin ? *fin : done;
    INFO((fin ? "final " : "(no final snapshot arrived) pre-SIGTERM ") << describe(last));

    // The capture never waited and the kernel dropped nothing: every injected packet captured.
    const v1::CaptureStatus& cap = last.captures(0);
    CHECK(cap.packets() == N);
    CHECK(cap.kernel_drops() == 0);
    CHECK(cap.kernel_if_drops() == 0);
    CHECK(cap.held_seconds() == 0);

    auto read = [&](const std::string& sub, const std::string& prefix) {
        std::vector<pushcap::testing::Packet> all;
        for (const std::string& f : filesInOrder(out.path + "/" + sub, prefix)) {
            std::vector<pushcap::testing::Packet> p = pushcap::testing::readWithLibpcap(f);
            all.insert(all.end(), std::make_move_iterator(p.begin()),
                       std::make_move_iterator(p.end()));
        }
        return all;
    };
    // B: every packet, in order.
    const std::vector<pushcap::testing::Packet> b = read("b", "b_");
    CHECK(b.size() == N);
    std::size_t same = 0;
    while (same < std::min(b.size(), want.size()) && b[same].bytes == want[same].bytes &&
           b[same].wireLen == want[same].wireLen) {
        ++same;
    }
    INFO("B: " << b.size() << " packets, the first " << same << " as injected");
    CHECK(same == N);

    // A: a subsequence of what was injected, in order; with what it lost, every packet.
    const v1::TargetStatus* a = target(last, "A");
    REQUIRE(a != nullptr);
    CHECK(a->delivery() == "best-effort");
    const std::vector<pushcap::testing::Packet> got = read("a", "a_");
    std::size_t matched = 0;
    for (std::size_t i = 0; matched < got.size() && i < want.size(); ++i) {
        if (got[matched].bytes == want[i].bytes)
            ++matched;
    }
    INFO("A: " << got.size() << " packets in its files (" << matched
               << " matched in order), packets_lost " << a->packets_lost() << ", injected " << N);
    CHECK(matched == got.size());
    CHECK(a->packets_lost() > 0);  // it was lapped: the case under test happened
    CHECK(got.size() + a->packets_lost() == N);
    if (haveCapinfos()) {
        CHECK(capinfosCount(filesInOrder(out.path + "/a", "a_"), dir.path) ==
              std::optional<std::uint64_t>(got.size()));
        CHECK(capinfosCount(filesInOrder(out.path + "/b", "b_"), dir.path) ==
              std::optional<std::uint64_t>(N));
    }
    CHECK(pendingFiles({out.path + "/a", out.path + "/b"}).empty());
}
