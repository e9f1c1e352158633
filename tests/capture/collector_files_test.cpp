// Collected traffic in files, the way osmo-pcap-server stores it (issue 6, test 4): the real
// collector (pushcap-capture --listen) feeds the ring and one real pushcap-worker per client
// writes `trace-<name>-YYYYMMDD_HHMMSS.pcap` (.pcapng for pcapng clients) with
// --file-per-connection. Checked: one complete file per connection (completed when the client
// disconnects or is replaced, not at shutdown); max-file-size never exceeded; files opened in the
// same second get distinct names; `rotate-localtime second mod 5` windows; idle close while the
// client stays connected; completed-path on another filesystem (a tmpfs, root only). Every
// file's packets are read back with libpcap or tshark and compared with what was sent.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <dirent.h>
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <ctime>
#include <functional>
#include <regex>

#include "../workers/worker_test_support.hpp"
#include "capture_test_support.hpp"

using namespace pushcap::testing;
namespace router = pushcap::router;

namespace {

using pushcap::workers::test::listFiles;

std::vector<std::string> completeFiles(const std::string& dir, const std::string& prefix) {
    std::vector<std::string> out;
    for (const std::string& n : listFiles(dir)) {
        if (n.rfind(prefix, 0) == 0 && n.find(".pending") == std::string::npos)
            out.push_back(n);
    }
    return out;
}

std::uint64_t fileSize(const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

// An osmo-pcap client written for this test: one TCP connection from `from` (a loopback
// address), microsecond timestamps, host byte order, as osmo-pcap-client sends.
class OsmoSender {
  public:
    OsmoSender(const std::string& port, const std::string& from, bool pcapng) : m_pcapng(pcapng) {
        m_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(m_fd >= 0);
        sockaddr_in src{};
        src.sin_family = AF_INET;
        ::inet_pton(AF_INET, from.c_str(), &src.sin_addr);
        REQUIRE(::bind(m_fd, reinterpret_cast<sockaddr*>(&src), sizeof src) == 0);
        sockaddr_in dst{};
        dst.sin_family = AF_INET;
        dst.sin_port = htons(static_cast<std::uint16_t>(std::stoi(port)));
        ::inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
        REQUIRE(::connect(m_fd, reinterpret_cast<sockaddr*>(&dst), sizeof dst) == 0);
        std::vector<std::uint8_t> header;
        if (!pcapng) {
            put32(header, 0xa1b2c3d4);
            put16(header, 2);
            put16(header, 4);
            put32(header, 0);
            put32(header, 0);
            put32(header, 9000);
            put32(header, 1);
        } else {
            put32(header, 0x0A0D0D0A);
            put32(header, 28);
            put32(header, 0x1A2B3C4D);
            put16(header, 1);
            put16(header, 0);
            put32(header, 0xffffffff);
            put32(header, 0xffffffff);
            put32(header, 28);
            put32(header, 1);
            put32(header, 20);
            put16(header, 1);
            put16(header, 0);
            put32(header, 9000);
            put32(header, 20);
        }
        message(0, header);
    }
    ~OsmoSender() { close(); }
    void close() {
        if (m_fd >= 0)
            ::close(m_fd);
        m_fd = -1;
    }

    // Sends one packet of `size` bytes stamped `tsUs` and returns it as the files must hold it.
    Packet packet(std::uint64_t tsUs, std::uint32_t size, std::uint32_t seed) {
        Packet p;
        p.linkType = 1;
        p.sec = static_cast<std::uint32_t>(tsUs / 1'000'000);
        p.nsec = static_cast<std::uint32_t>(tsUs % 1'000'000) * 1000;
        for (std::uint32_t b = 0; b < size; ++b)
            p.bytes.push_back(static_cast<std::uint8_t>(seed * 31 + b * 7));
        p.wireLen = size + 4;
        std::vector<std::uint8_t> m;
        if (!m_pcapng) {
            put32(m, p.sec);
            put32(m, p.nsec / 1000);
            put32(m, size);
            put32(m, p.wireLen);
            m.insert(m.end(), p.bytes.begin(), p.bytes.end());
        } else {
            const std::uint32_t padded = (size + 3) & ~3u;
            put32(m, 6);
            put32(m, 32 + padded);
            put32(m, 0);
            put32(m, static_cast<std::uint32_t>(tsUs >> 32));
            put32(m, static_cast<std::uint32_t>(tsUs));
            put32(m, size);
            put32(m, p.wireLen);
            m.insert(m.end(), p.bytes.begin(), p.bytes.end());
            m.resize(m.size() + padded - size);
            put32(m, 32 + padded);
        }
        message(1, m);
        return p;
    }

  private:
    static void put32(std::vector<std::uint8_t>& v, std::uint32_t x) {
        const auto* p = reinterpret_cast<const std::uint8_t*>(&x);
        v.insert(v.end(), p, p + 4);
    }
    static void put16(std::vector<std::uint8_t>& v, std::uint16_t x) {
        const auto* p = reinterpret_cast<const std::uint8_t*>(&x);
        v.insert(v.end(), p, p + 2);
    }
    void message(std::uint8_t type, const std::vector<std::uint8_t>& payload) {
        std::vector<std::uint8_t> m = {type, 0, static_cast<std::uint8_t>(payload.size() >> 8),
                                       static_cast<std::uint8_t>(payload.size() & 0xff)};
        m.insert(m.end(), payload.begin(), payload.end());
        std::size_t sent = 0;
        while (sent < m.size()) {
            const ssize_t n = ::send(m_fd, m.data() + sent, m.size() - sent, MSG_NOSIGNAL);
            REQUIRE(n > 0);
            sent += static_cast<std::size_t>(n);
        }
    }

    int m_fd = -1;
    bool m_pcapng = false;
};

// A collector and one worker per client, as pushcapd runs them for collected traffic.
class CollectorRig {
  public:
    struct ClientSpec {
        std::string name, address;
        std::vector<std::string> workerFlags;
    };

    CollectorRig(const std::string& dir, const std::vector<ClientSpec>& clients) : m_dir(dir) {
        router::RingConfig cfg;
        cfg.instance = uniqueInstance("collfiles");
        cfg.source = "remote";
        cfg.dataCapacity = 8 << 20;
        cfg.maxBatchBytes = 64 << 10;
        cfg.mode = router::RingMode::Live;
        m_janitor = std::make_unique<router::RingJanitor>(cfg);
        for (const ClientSpec& c : clients)
            m_janitor->addConsumer(c.name);
        std::vector<std::string> argv = {binDir() + "/pushcap-capture", "--ring", m_janitor->name(),
                                         "--listen", "127.0.0.1:0"};
        for (const ClientSpec& c : clients) {
            argv.push_back("--client");
            argv.push_back(c.name + "=" + c.address);
        }
        const std::string captureLog = dir + "/capture.log";
        m_capture = spawn(argv, captureLog);
        const std::regex bound(R"(listening on 127\.0\.0\.1:(\d+))");
        REQUIRE(pushcap::workers::test::waitFor(
            [&] {
                std::smatch m;
                const std::string log = readText(captureLog);
                if (std::regex_search(log, m, bound))
                    port = m[1].str();
                return !port.empty();
            },
            std::chrono::seconds(20)));
        for (std::size_t i = 0; i < clients.size(); ++i) {
            const ClientSpec& c = clients[i];
            std::vector<std::string> w = {binDir() + "/pushcap-worker",
                                          "--ring",
                                          m_janitor->name(),
                                          "--name",
                                          c.name,
                                          "--filename-osmo",
                                          "--format",
                                          "auto",
                                          "--file-per-connection",
                                          "--sources",
                                          std::to_string(i)};
            w.insert(w.end(), c.workerFlags.begin(), c.workerFlags.end());
            m_workers.push_back(spawn(w, dir + "/worker-" + c.name + ".log"));
            m_workerArgs.push_back(w);
        }
    }
    void signalWorker(std::size_t index, int signal) { ::kill(m_workers[index], signal); }
    // SIGKILL and start again worker `index`, as pushcapd's restart would.
    void restartWorker(std::size_t index, const std::string& logName) {
        ::kill(m_workers[index], SIGKILL);
        waitExit(m_workers[index], 20'000);
        m_workers[index] = spawn(m_workerArgs[index], m_dir + "/" + logName);
    }
    ~CollectorRig() {
        stop();
        m_janitor->remove();
    }
    // SIGTERM to everything; true if every process exited 0.
    bool stop() {
        bool ok = true;
        if (m_capture > 0) {
            ::kill(m_capture, SIGTERM);
            ok = waitExit(m_capture, 20'000) == 0 && ok;
            m_capture = -1;
        }
        for (pid_t& w : m_workers) {
            if (w > 0) {
                ::kill(w, SIGTERM);
                ok = waitExit(w, 20'000) == 0 && ok;
                w = -1;
            }
        }
        return ok;
    }
    // waitFor, with every process's log in the report when it times out.
    bool waitFor(const std::function<bool()>& condition, int timeoutMs) const {
        if (pushcap::workers::test::waitFor(condition, std::chrono::milliseconds(timeoutMs)))
            return true;
        UNSCOPED_INFO(logs());
        return false;
    }
    std::string logs() const {
        std::string all = readText(m_dir + "/capture.log");
        for (const std::string& n : listFiles(m_dir)) {
            if (n.rfind("worker-", 0) == 0)
                all += "--- " + n + "\n" + readText(m_dir + "/" + n);
        }
        return all;
    }

    std::string port;

  private:
    std::string m_dir;
    std::unique_ptr<router::RingJanitor> m_janitor;
    pid_t m_capture = -1;
    std::vector<pid_t> m_workers;
    std::vector<std::vector<std::string>> m_workerArgs;
};

std::vector<Packet> readAny(const std::string& path) {
    if (path.size() > 7 && path.compare(path.size() - 7, 7, ".pcapng") == 0)
        return readWithTshark(path, {1});
    return readWithLibpcap(path);
}

std::uint64_t nowUs() {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return std::uint64_t(ts.tv_sec) * 1'000'000 + std::uint64_t(ts.tv_nsec) / 1000;
}

// A packet time `secondsAgo` seconds back, 0.1 s into its second, so a few microseconds later
// is still the same second (file names have one-second resolution).
std::uint64_t secondStartUs(std::uint64_t secondsAgo) {
    return (nowUs() / 1'000'000 - secondsAgo) * 1'000'000 + 100'000;
}

std::string stamp(std::uint32_t sec) {
    const std::time_t t = sec;
    std::tm tm{};
    ::localtime_r(&t, &tm);
    char text[32];
    std::strftime(text, sizeof text, "%Y%m%d_%H%M%S", &tm);
    return text;
}

}  // namespace

TEST_CASE("collected traffic: a file per connection, named like osmo-pcap-server, pcapng kept",
          "[e2e][capture][collector]") {
    const std::string dir = makeTempDir();
    const std::string out = dir + "/out";
    {
        CollectorRig rig(dir, {{"alpha", "127.0.0.1", {"--path", out + "/"}},
                               {"beta", "127.0.0.2", {"--path", out + "/"}}});
        std::vector<Packet> sent[3];
        const std::uint64_t t0 = secondStartUs(60);
        {
            OsmoSender a(rig.port, "127.0.0.1", false);
            OsmoSender b(rig.port, "127.0.0.2", true);
            for (std::uint32_t i = 0; i < 200; ++i) {
                sent[0].push_back(a.packet(t0 + i * 1000, 60 + i % 300, i));
                sent[1].push_back(b.packet(t0 + i * 1000 + 1, 61 + i % 700, i + 1000));
            }
        }
        // Both connections ended: their files complete now, while everything keeps running.
        REQUIRE(rig.waitFor(
            [&] {
                return completeFiles(out, "trace-alpha-").size() == 1 &&
                       completeFiles(out, "trace-beta-").size() == 1;
            },
            20'000));
        // The same client again, in the same second of packet time: a second file, never the
        // first one overwritten.
        {
            OsmoSender again(rig.port, "127.0.0.1", false);
            for (std::uint32_t i = 0; i < 50; ++i)
                sent[2].push_back(again.packet(t0 + i * 1000 + 7, 100, i + 5000));
        }
        REQUIRE(
            rig.waitFor([&] { return completeFiles(out, "trace-alpha-").size() == 2; }, 20'000));
        INFO(rig.logs());
        CHECK(rig.stop());

        const std::vector<std::string> alpha = completeFiles(out, "trace-alpha-");
        const std::vector<std::string> beta = completeFiles(out, "trace-beta-");
        const std::string second = stamp(static_cast<std::uint32_t>(t0 / 1'000'000));
        REQUIRE(alpha == std::vector<std::string>{"trace-alpha-" + second + ".pcap",
                                                  "trace-alpha-" + second + "_1.pcap"});
        REQUIRE(beta == std::vector<std::string>{"trace-beta-" + second + ".pcapng"});
        CHECK(readAny(out + "/" + alpha[0]) == sent[0]);
        CHECK(readAny(out + "/" + alpha[1]) == sent[2]);
        CHECK(readAny(out + "/" + beta[0]) == sent[1]);
        CHECK(listFiles(out).size() == 3);  // nothing .pending left
    }
    removeTree(dir);
}

TEST_CASE("collected traffic: a replaced connection's file is completed at once",
          "[e2e][capture][collector]") {
    const std::string dir = makeTempDir();
    const std::string out = dir + "/out";
    {
        CollectorRig rig(dir, {{"gamma", "127.0.0.1", {"--path", out + "/"}}});
        const std::uint64_t t0 = secondStartUs(30);
        std::vector<Packet> first, second;
        OsmoSender old(rig.port, "127.0.0.1", false);
        for (std::uint32_t i = 0; i < 40; ++i)
            first.push_back(old.packet(t0 + i, 200, i));
        // Every packet of the first connection is in its file before the client reconnects
        // (osmo-pcap drops what the replaced connection had not delivered).
        REQUIRE(rig.waitFor(
            [&] {
                for (const std::string& n : listFiles(out)) {
                    if (n.find(".pending") != std::string::npos &&
                        fileSize(out + "/" + n) >= 24 + 40 * (16 + 200))
                        return true;
                }
                return false;
            },
            20'000));
        OsmoSender replacement(rig.port, "127.0.0.1", false);
        for (std::uint32_t i = 0; i < 30; ++i)
            second.push_back(replacement.packet(t0 + 2'000'000 + i, 300, i + 100));
        // The old connection's file completes when the new one arrives; the new one stays open.
        REQUIRE(
            rig.waitFor([&] { return completeFiles(out, "trace-gamma-").size() == 1; }, 20'000));
        CHECK(readAny(out + "/" + completeFiles(out, "trace-gamma-")[0]) == first);
        replacement.close();
        REQUIRE(
            rig.waitFor([&] { return completeFiles(out, "trace-gamma-").size() == 2; }, 20'000));
        INFO(rig.logs());
        CHECK(rig.stop());
        const std::vector<std::string> files = completeFiles(out, "trace-gamma-");
        CHECK(readAny(out + "/" + files[1]) == second);
        CHECK(files[1] ==
              "trace-gamma-" + stamp(static_cast<std::uint32_t>(t0 / 1'000'000 + 2)) + ".pcap");
    }
    removeTree(dir);
}

TEST_CASE("collected traffic: a restarted worker leaves another client's open file alone",
          "[e2e][capture][collector]") {
    const std::string dir = makeTempDir();
    const std::string out = dir + "/out";
    {
        // Both clients' files in one directory, as Collector.Output puts them.
        CollectorRig rig(dir, {{"eta", "127.0.0.1", {"--path", out + "/"}},
                               {"theta", "127.0.0.2", {"--path", out + "/"}}});
        const std::uint64_t t0 = secondStartUs(20);
        std::vector<Packet> sent;
        OsmoSender s(rig.port, "127.0.0.1", false);
        for (std::uint32_t i = 0; i < 30; ++i)
            sent.push_back(s.packet(t0 + i, 150, i));
        const std::string pending = out + "/trace-eta-" +
                                    stamp(static_cast<std::uint32_t>(t0 / 1'000'000)) +
                                    ".pcap.pending";
        REQUIRE(rig.waitFor([&] { return fileSize(pending) >= 24 + 30 * (16 + 150); }, 20'000));
        // theta's worker starts again and looks for its own leftovers in the shared directory.
        rig.restartWorker(1, "worker-theta-2.log");
        REQUIRE(rig.waitFor(
            [&] {
                return readText(dir + "/worker-theta-2.log").find("attached") != std::string::npos;
            },
            20'000));
        CHECK(fileSize(pending) >= 24 + 30 * (16 + 150));
        for (std::uint32_t i = 30; i < 60; ++i)
            sent.push_back(s.packet(t0 + i, 150, i));
        s.close();
        REQUIRE(rig.waitFor([&] { return completeFiles(out, "trace-eta-").size() == 1; }, 20'000));
        INFO(rig.logs());
        CHECK(rig.stop());
        CHECK(readAny(out + "/" + completeFiles(out, "trace-eta-")[0]) == sent);
        CHECK(completeFiles(out, "trace-theta-").empty());
    }
    removeTree(dir);
}

TEST_CASE("collected traffic: SIGUSR1 starts a new file without losing a packet",
          "[e2e][capture][collector]") {
    const std::string dir = makeTempDir();
    const std::string out = dir + "/out";
    {
        CollectorRig rig(dir, {{"iota", "127.0.0.1", {"--path", out + "/"}}});
        const std::uint64_t t0 = secondStartUs(40);
        std::vector<Packet> sent;
        OsmoSender s(rig.port, "127.0.0.1", false);
        for (std::uint32_t i = 0; i < 25; ++i)
            sent.push_back(s.packet(t0 + i, 120, i));
        const std::string pending = out + "/trace-iota-" +
                                    stamp(static_cast<std::uint32_t>(t0 / 1'000'000)) +
                                    ".pcap.pending";
        REQUIRE(rig.waitFor([&] { return fileSize(pending) >= 24 + 25 * (16 + 120); }, 20'000));
        // What pushcapd sends each client output on SIGHUP in --osmo-config mode.
        rig.signalWorker(0, SIGUSR1);
        REQUIRE(rig.waitFor([&] { return completeFiles(out, "trace-iota-").size() == 1; }, 20'000));
        // The connection goes on; its next packets open the next file.
        for (std::uint32_t i = 25; i < 60; ++i)
            sent.push_back(s.packet(t0 + 1'000'000 + i, 120, i));
        s.close();
        REQUIRE(rig.waitFor([&] { return completeFiles(out, "trace-iota-").size() == 2; }, 20'000));
        INFO(rig.logs());
        CHECK(rig.stop());
        std::vector<Packet> got;
        for (const std::string& name : completeFiles(out, "trace-iota-")) {
            const std::vector<Packet> part = readAny(out + "/" + name);
            got.insert(got.end(), part.begin(), part.end());
        }
        CHECK(readAny(out + "/" + completeFiles(out, "trace-iota-")[0]).size() == 25);
        CHECK(got == sent);
    }
    removeTree(dir);
}

TEST_CASE("collected traffic: max-file-size is never exceeded, same-second files all kept",
          "[e2e][capture][collector]") {
    const std::string dir = makeTempDir();
    const std::string out = dir + "/out";
    {
        const std::uint64_t limit = 20'000;
        CollectorRig rig(dir, {{"delta",
                                "127.0.0.1",
                                {"--path", out + "/", "--max-file-size", std::to_string(limit)}}});
        const std::uint64_t t0 = secondStartUs(10);
        std::vector<Packet> sent;
        {
            OsmoSender s(rig.port, "127.0.0.1", false);
            for (std::uint32_t i = 0; i < 300; ++i)
                sent.push_back(s.packet(t0 + i * 10, 500 + (i * 37) % 1000, i));
        }
        std::uint64_t total = 0;
        for (const Packet& p : sent)
            total += 16 + p.bytes.size();
        REQUIRE(rig.waitFor(
            [&] {
                std::uint64_t bytes = 0;
                for (const std::string& n : completeFiles(out, "trace-delta-"))
                    bytes += fileSize(out + "/" + n) - 24;
                return bytes == total && listFiles(out).size() == completeFiles(out, "").size();
            },
            20'000));
        INFO(rig.logs());
        CHECK(rig.stop());
        std::vector<std::string> files = completeFiles(out, "trace-delta-");
        REQUIRE(files.size() >= total / limit);
        // All opened within one second of packet time: trace-delta-S.pcap, then _1, _2, ...
        const std::string stem = "trace-delta-" + stamp(static_cast<std::uint32_t>(t0 / 1'000'000));
        std::vector<Packet> got;
        for (std::size_t i = 0; i < files.size(); ++i) {
            const std::string name =
                stem + (i == 0 ? std::string() : "_" + std::to_string(i)) + ".pcap";
            REQUIRE(std::find(files.begin(), files.end(), name) != files.end());
            CHECK(fileSize(out + "/" + name) <= limit);
            const std::vector<Packet> part = readAny(out + "/" + name);
            got.insert(got.end(), part.begin(), part.end());
        }
        CHECK(got == sent);
    }
    removeTree(dir);
}

TEST_CASE("collected traffic: rotate-localtime second mod 5, and idle close while connected",
          "[e2e][capture][collector]") {
    const std::string dir = makeTempDir();
    const std::string out = dir + "/out";
    {
        CollectorRig rig(dir, {{"eps",
                                "127.0.0.1",
                                {"--path", out + "/", "--rotate-localtime", "second mod 5",
                                 "--idle-grace-ms", "300"}}});
        // 16 seconds of packets, 4 a second, ending just before now: four or five windows.
        const std::uint64_t start = nowUs() - 17'000'000;
        std::vector<Packet> sent;
        OsmoSender s(rig.port, "127.0.0.1", false);
        for (std::uint32_t i = 0; i < 64; ++i)
            sent.push_back(s.packet(start + i * 250'000, 80, i));
        const std::uint32_t firstSec = sent.front().sec, lastSec = sent.back().sec;
        const std::size_t windows = lastSec / 5 - firstSec / 5 + 1;
        // The last window's file completes on the wall clock, the client still connected.
        REQUIRE(rig.waitFor([&] { return completeFiles(out, "trace-eps-").size() == windows; },
                            30'000));
        CHECK(listFiles(out).size() == windows);
        std::vector<Packet> got;
        for (const std::string& name : completeFiles(out, "trace-eps-")) {
            const std::vector<Packet> part = readAny(out + "/" + name);
            REQUIRE_FALSE(part.empty());
            INFO(name);
            // One window per file, named after its first packet.
            CHECK(part.front().sec / 5 == part.back().sec / 5);
            CHECK(name == "trace-eps-" + stamp(part.front().sec) + ".pcap");
            if (!got.empty())
                CHECK(got.back().sec / 5 < part.front().sec / 5);
            got.insert(got.end(), part.begin(), part.end());
        }
        CHECK(got == sent);
        s.close();
        INFO(rig.logs());
        CHECK(rig.stop());
    }
    removeTree(dir);
}

TEST_CASE("collected traffic: completed-path on another filesystem (tmpfs)",
          "[e2e][capture][collector][root]") {
    if (::geteuid() != 0) {
        WARN("skipped: mounting a tmpfs needs root (CI runs as root)");
        return;
    }
    const std::string dir = makeTempDir();
    const std::string out = dir + "/out", done = dir + "/done";
    ::mkdir(done.c_str(), 0755);
    REQUIRE(::mount("tmpfs", done.c_str(), "tmpfs", 0, "size=16m") == 0);
    {
        CollectorRig rig(
            dir, {{"zeta",
                   "127.0.0.1",
                   {"--path", out + "/", "--completed-path", done, "--file-mode", "0440"}}});
        const std::uint64_t t0 = secondStartUs(5);
        std::vector<Packet> sent[2];
        for (int c = 0; c < 2; ++c) {
            OsmoSender s(rig.port, "127.0.0.1", false);
            for (std::uint32_t i = 0; i < 100; ++i)
                sent[c].push_back(s.packet(t0 + std::uint64_t(c) * 3'000'000 + i, 400, i));
            s.close();
            REQUIRE(rig.waitFor([&] { return completeFiles(done, "trace-zeta-").size() == c + 1u; },
                                20'000));
        }
        INFO(rig.logs());
        CHECK(rig.stop());
        const std::vector<std::string> files = completeFiles(done, "trace-zeta-");
        REQUIRE(files.size() == 2);
        CHECK(listFiles(done).size() == 2);  // no copy left half-done
        CHECK(completeFiles(out, "").empty());
        CHECK(listFiles(out).empty());
        for (int c = 0; c < 2; ++c) {
            CHECK(readAny(done + "/" + files[c]) == sent[c]);
            struct stat st;
            REQUIRE(::stat((done + "/" + files[c]).c_str(), &st) == 0);
            CHECK((st.st_mode & 07777) == 0440);
        }
    }
    ::umount(done.c_str());
    removeTree(dir);
}
