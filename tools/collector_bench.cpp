#include "tools/collector_bench.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "router/ring_janitor.hpp"
#include "tools/bench_process.hpp"
#include "tools/collector_osmo_run.hpp"
#include "tools/osmo_senders.hpp"
#include "workers/slot_counters.hpp"

namespace fs = std::filesystem;

namespace pushcap::tools {
namespace {

std::uint64_t cpuTicks(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), {});
    std::size_t p = stat.rfind(')');
    if (p == std::string::npos)
        return 0;
    std::vector<std::string> f;
    std::string cur;
    for (char c : stat.substr(p + 2)) {
        if (c == ' ') {
            f.push_back(cur);
            cur.clear();
        } else {
            cur += c;
        }
    }
    return f.size() > 12 ? std::stoull(f[11]) + std::stoull(f[12]) : 0;  // utime + stime
}

// The floor: accept N connections, read 16 MiB at a time, append to a file; no parsing.
double floorRun(int n, const Stream& s, double seconds, const std::string& dir, SendResult& sent,
                std::uint64_t& received) {
    const int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(0x7f000001u);
    ::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(l, 64);
    socklen_t len = sizeof a;
    ::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len);
    std::atomic<std::uint64_t> got{0};
    std::vector<std::thread> readers;
    std::thread acceptor([&] {
        for (int i = 0; i < n; ++i) {
            const int c = ::accept(l, nullptr, nullptr);
            readers.emplace_back([&, c, i] {
                const int out = ::open((dir + "/floor" + std::to_string(i)).c_str(),
                                       O_WRONLY | O_CREAT | O_TRUNC, 0644);
                std::vector<char> buf(16u << 20);
                for (ssize_t k; (k = ::read(c, buf.data(), buf.size())) > 0;) {
                    if (::write(out, buf.data(), std::size_t(k)) != k)
                        break;
                    got += std::uint64_t(k);
                }
                ::close(out);
                ::close(c);
            });
        }
    });
    const auto start = BenchClock::now();
    sent = runSenders(n, ntohs(a.sin_port), s, seconds);
    acceptor.join();
    for (auto& t : readers)
        t.join();
    const double elapsed = secondsSince(start);
    ::close(l);
    received = got.load();
    return elapsed;
}

}  // namespace

int runCollectorBench(const CollectorBenchOptions& o) {
    const std::string bin = selfDir();
    fs::remove_all(o.dir);
    fs::create_directories(o.dir);
    const Stream stream = encodeStream();

    SendResult floorSent;
    std::uint64_t floorBytes = 0;
    const double floorSeconds =
        floorRun(o.senders, stream, o.seconds, o.dir, floorSent, floorBytes);
    const double floorGbps = double(floorBytes) * 8 / floorSeconds / 1e9;
    fs::remove_all(o.dir);
    fs::create_directories(o.dir);

    // pushcapd as an osmo-pcap-server collector, the floor beside it: the product's own path,
    // with a slow paced client (the defaults) beside the floods.
    const OsmoRunResult osmo = runOsmoCollector(
        {.senders = o.senders, .seconds = o.seconds, .basePath = o.dir + "/osmo"}, stream);
    printOsmoRun(osmo, floorGbps);

    router::RingConfig rc;
    rc.instance = "cbench" + std::to_string(::getpid());
    rc.source = "remote";
    rc.mode = router::RingMode::Live;
    rc.dataCapacity = 64u << 20;
    router::RingJanitor ring(rc);
    ring.addConsumer("store");
    const pid_t worker = spawnProgram({bin + "/pushcap-worker", "--ring", ring.name(), "--name",
                                       "store", "--path", o.dir + "/out/c", "--split-byte", "1e9"},
                                      "/dev/null", -1, o.dir + "/worker.log");
    std::vector<std::string> argv = {bin + "/pushcap-capture", "--ring", ring.name(), "--listen",
                                     "127.0.0.1:0"};
    for (int i = 0; i < o.senders; ++i) {
        argv.push_back("--client");
        argv.push_back("c" + std::to_string(i) + "=127.0.0." + std::to_string(1 + i));
    }
    const std::string captureLog = o.dir + "/capture.log";
    const pid_t capture = spawnProgram(argv, "/dev/null", -1, captureLog);
    std::uint16_t port = 0;
    const std::regex bound(R"(listening on 127\.0\.0\.1:(\d+))");
    for (auto start = BenchClock::now(); port == 0 && secondsSince(start) < 20;) {
        std::ifstream in(captureLog);
        const std::string log((std::istreambuf_iterator<char>(in)), {});
        std::smatch m;
        if (std::regex_search(log, m, bound))
            port = static_cast<std::uint16_t>(std::stoi(m[1].str()));
        else
            ::usleep(20'000);  // polling the log for the bound port
    }
    if (port == 0)
        throw std::runtime_error("pushcap-capture did not start; see " + captureLog);
    auto written = [&] {
        for (const auto& c : ring.snapshot().consumers) {
            if (c.name == "store")
                return c.counters[workers::WORKER_PACKETS_WRITTEN];
        }
        return std::uint64_t(0);
    };
    for (auto start = BenchClock::now();
         ring.snapshot().consumers.empty() || !ring.snapshot().consumers[0].ownerAlive;) {
        if (secondsSince(start) > 20)
            throw std::runtime_error("pushcap-worker did not attach");
        ::usleep(10'000);
    }
    const std::uint64_t cpuBefore = cpuTicks(capture);
    const auto start = BenchClock::now();
    const SendResult sent = runSenders(o.senders, port, stream, o.seconds);
    // Stored when the worker has committed every packet (or stopped making progress).
    std::uint64_t last = 0;
    for (auto idle = BenchClock::now(); written() < sent.packets && secondsSince(idle) < 2;) {
        if (written() != last) {
            last = written();
            idle = BenchClock::now();
        }
        ::usleep(5'000);
    }
    const double elapsed = secondsSince(start);
    const std::uint64_t cpu = cpuTicks(capture) - cpuBefore;
    const std::uint64_t stored = written();
    const router::RingSnapshot snap = ring.snapshot();
    std::uint64_t storedBytes = 0;
    for (const auto& c : snap.consumers)
        storedBytes = c.counters[workers::WORKER_BYTES_WRITTEN];

    // The paced sweep: the highest offered rate at which every packet is stored. Doubling until
    // a step loses packets, then halving the gap.
    struct Step {
        double target = 0, offeredGbps = 0, mpps = 0, cpuPerGbit = 0;
        std::uint64_t sent = 0, lost = 0;
    };
    auto paced = [&](double gbps) {
        const std::uint64_t before = written();
        const std::uint64_t cpu0 = cpuTicks(capture) + cpuTicks(worker);
        const auto t0 = BenchClock::now();
        const SendResult r = runSenders(o.senders, port, stream, o.stepSeconds, gbps);
        const double sendSeconds = secondsSince(t0);
        std::uint64_t seen = written() - before;
        for (auto idle = BenchClock::now(); seen < r.packets && secondsSince(idle) < 1;) {
            ::usleep(5'000);  // the worker finishing what the ring holds
            if (written() - before != seen) {
                seen = written() - before;
                idle = BenchClock::now();
            }
        }
        const double cpuS =
            double(cpuTicks(capture) + cpuTicks(worker) - cpu0) / double(::sysconf(_SC_CLK_TCK));
        Step s;
        s.target = gbps;
        s.sent = r.packets;
        s.lost = r.packets - std::min(r.packets, seen);
        s.offeredGbps = double(r.bytes) * 8 / sendSeconds / 1e9;
        s.mpps = double(r.packets) / sendSeconds / 1e6;
        s.cpuPerGbit = cpuS / (double(r.bytes) * 8 / 1e9);
        return s;
    };
    std::vector<Step> steps;
    Step best;
    double low = 0, high = 0, rate = o.startGbps;
    while (steps.size() < 14) {
        const Step s = paced(rate);
        steps.push_back(s);
        std::printf("  paced %.2f Gbit/s: offered %.2f, %llu of %llu packets lost\n", rate,
                    s.offeredGbps, (unsigned long long)s.lost, (unsigned long long)s.sent);
        std::fflush(stdout);
        const bool senderLimited = s.offeredGbps < 0.9 * rate;
        if (s.lost == 0) {
            low = rate;
            best = s;
            if (senderLimited)
                break;  // the senders' own ceiling: the collector kept up with all of it
        } else {
            high = rate;
        }
        if (high == 0)
            rate *= 2;
        else if (high / std::max(low, 1e-9) <= 1.1)
            break;
        else
            rate = low == 0 ? high / 2 : (low + high) / 2;
    }
    std::printf("\n");
    ::kill(capture, SIGTERM);
    waitProgram(capture);
    waitProgram(worker);
    ring.remove();

    const double gbps = double(sent.bytes) * 8 / elapsed / 1e9;
    const double cpuSeconds = double(cpu) / double(::sysconf(_SC_CLK_TCK));
    const double storedGbps = double(storedBytes) * 8 / elapsed / 1e9;
    const std::uint64_t lost = sent.packets - std::min(sent.packets, stored);
    const double cpuPerGbit = cpuSeconds / (double(sent.bytes) * 8 / 1e9);
    std::printf(
        "pushcap-bench collector: %d senders on loopback, IMIX osmo-pcap (pcap mode), "
        "unpaced, %.0f s\n\n",
        o.senders, o.seconds);
    std::printf("%-46s %10s %10s %12s %14s\n", "", "Gbit/s", "Mpps", "lost pkts", "CPU s / Gbit");
    std::printf("%-46s %10.2f %10s %12s %14s\n", "floor: read 16 MiB, append to tmpfs", floorGbps,
                "-", "-", "-");
    std::printf("%-46s %10.2f %10.2f %12s %14.3f\n", "collector: taken off the sockets (offered)",
                gbps, double(sent.packets) / elapsed / 1e6, "-", cpuPerGbit);
    std::printf("%-46s %10.2f %10.2f %12llu %14s\n", "stored by the worker (PCAP bytes on tmpfs)",
                storedGbps, double(stored) / elapsed / 1e6, (unsigned long long)lost, "-");
    std::printf("%-46s %10.2f %10.2f %12llu %14.3f\n", "highest paced rate stored without loss",
                best.offeredGbps, best.mpps, (unsigned long long)best.lost, best.cpuPerGbit);
    std::printf(
        "\nUnpaced, the live ring drops what the worker cannot store in time (counted above).\n"
        "The paced sweep (%.0f s steps) finds the highest offered rate with every packet\n"
        "stored. CPU s / Gbit: pushcap-capture alone unpaced; capture + worker when paced.\n",
        o.stepSeconds);
    std::printf(
        "{\"floor_gbps\":%.3f,\"collector_offered_gbps\":%.3f,\"collector_stored_gbps\":%.3f,"
        "\"collector_stored_mpps\":%.3f,\"collector_lost_packets\":%llu,"
        "\"collector_cpu_s_per_gbit\":%.4f,\"lossless_gbps\":%.3f,\"lossless_mpps\":%.3f,"
        "\"lossless_cpu_s_per_gbit\":%.4f,\"sweep_steps\":%zu%s}\n",
        floorGbps, gbps, storedGbps, double(stored) / elapsed / 1e6, (unsigned long long)lost,
        cpuPerGbit, best.offeredGbps, best.mpps, best.cpuPerGbit, steps.size(),
        osmoRunJson(osmo, floorGbps).c_str());
    fs::remove_all(o.dir);
    return 0;
}

}  // namespace pushcap::tools
