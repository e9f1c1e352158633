#include "tools/capture_bench.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <vector>

#include "router/ring_janitor.hpp"
#include "router/ring_reader.hpp"
#include "tools/bench_process.hpp"
#include "tools/gen_traffic.hpp"

namespace pushcap::tools {
namespace {

using Clock = BenchClock;

double timeCat(const std::string& file) {
    const auto t = Clock::now();
    if (runProgram({"cat", file}) != 0)
        throw std::runtime_error("cat " + file + " failed");
    return secondsSince(t);
}

struct PushFigures {
    double seconds = 0;
    std::uint64_t packets = 0;
};

PushFigures timePush(const std::string& capture, const std::string& file,
                     const std::string& instance, const std::string& source) {
    router::RingConfig cfg;
    cfg.instance = instance;
    cfg.source = source;
    cfg.dataCapacity = 64ULL << 20;
    cfg.mode = router::RingMode::Lossless;
    router::RingJanitor janitor(cfg);
    janitor.addConsumer("bench");
    std::atomic<std::uint64_t> packets{0};
    // A consumer that commits every batch without touching it: the capture is what is measured.
    std::thread consumer([&] {
        router::RingReader reader(janitor.name(), "bench");
        router::BatchView view;
        for (;;) {
            const auto st = reader.next(view, 1'000'000'000);
            if (st == router::NextStatus::EndOfStream)
                break;
            if (st != router::NextStatus::Batch)
                continue;
            reader.finish(view);
            reader.commit();
        }
        packets = reader.counters().packetsRead;
    });
    const auto t = Clock::now();
    const int rc = runProgram({capture, "--ring", janitor.name(), "--file", file});
    consumer.join();
    PushFigures f{secondsSince(t), packets.load()};
    janitor.remove();
    if (rc != 0)
        throw std::runtime_error("pushcap-capture exited with " + std::to_string(rc));
    return f;
}

struct Netns {
    std::string name;
    bool ok = false;
    explicit Netns(std::string n) : name(std::move(n)) {
        ok = runProgram({"ip", "netns", "add", name}) == 0 &&
             runProgram({"ip", "-n", name, "link", "add", "vinj", "type", "veth", "peer", "name",
                         "vcap"}) == 0 &&
             runProgram({"ip", "netns", "exec", name, "sysctl", "-qw",
                         "net.ipv6.conf.all.disable_ipv6=1"}) == 0 &&
             runProgram({"ip", "netns", "exec", name, "sysctl", "-qw",
                         "net.ipv6.conf.default.disable_ipv6=1"}) == 0 &&
             runProgram({"ip", "-n", name, "link", "set", "vinj", "up"}) == 0 &&
             runProgram({"ip", "-n", name, "link", "set", "vcap", "up"}) == 0;
    }
    ~Netns() { runProgram({"ip", "netns", "del", name}); }
};

struct InjectStep {
    std::uint64_t targetPps = 0;
    double achievedPps = 0;
    std::uint64_t sent = 0, captured = 0, drops = 0;
};

std::vector<InjectStep> injectSweep(const std::string& bin, const std::string& instance,
                                    double seconds, const std::string& dir) {
    std::vector<InjectStep> steps;
    Netns ns(instance + "ns");
    if (!ns.ok)
        throw std::runtime_error("cannot create a network namespace with a veth pair");
    router::RingConfig cfg;
    cfg.instance = instance;
    cfg.source = "live";
    cfg.dataCapacity = 256ULL << 20;
    cfg.mode = router::RingMode::Live;
    router::RingJanitor janitor(cfg);
    janitor.addConsumer("bench");
    std::atomic<bool> done{false};
    std::thread consumer([&] {
        router::RingReader reader(janitor.name(), "bench");
        router::BatchView view;
        while (!done.load()) {
            if (reader.next(view, 100'000'000) != router::NextStatus::Batch)
                continue;
            reader.finish(view);
            reader.commit();
        }
    });
    int ready[2];
    if (::pipe2(ready, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe failed");
    const pid_t cap = spawnProgram(
        {"ip", "netns", "exec", ns.name, bin + "/pushcap-capture", "--ring", janitor.name(), "-i",
         "vcap", "--ready-fd", "3", "--buffer-bytes", "268435456"},
        "/dev/null", ready[1]);
    ::close(ready[1]);
    pollfd p{ready[0], POLLIN, 0};
    const bool up = ::poll(&p, 1, 20'000) == 1;
    ::close(ready[0]);
    if (up) {
        for (std::uint64_t pps = 100'000; pps <= 6'400'000; pps *= 2) {
            const auto before = janitor.snapshot();
            InjectStep s;
            s.targetPps = pps;
            const std::uint64_t count = static_cast<std::uint64_t>(double(pps) * seconds);
            const std::string out = dir + "/inject.json";
            if (runProgram(
                    {"ip", "netns", "exec", ns.name, bin + "/pushcap-gen", "--inject", "vinj",
                     "--pps", std::to_string(pps), "--count", std::to_string(count), "--quiet"},
                    out) != 0) {
                break;
            }
            std::ifstream in(out);
            std::string json((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
            double secs = 0;
            const auto at = json.find("\"seconds\":");
            if (at != std::string::npos)
                secs = std::atof(json.c_str() + at + 10);
            s.sent = count;
            s.achievedPps = secs > 0 ? double(count) / secs : 0;
            // Wait until the capture has published what it will (drop counters are read every 250
            // ms).
            std::uint64_t last = ~0ULL;
            for (int i = 0; i < 100; ++i) {
                ::poll(nullptr, 0, 300);
                const auto now = janitor.snapshot();
                if (now.publishedPackets == last &&
                    now.publishedPackets - before.publishedPackets >= count)
                    break;
                last = now.publishedPackets;
            }
            const auto after = janitor.snapshot();
            s.captured = after.publishedPackets - before.publishedPackets;
            s.drops = after.sourceDrops - before.sourceDrops;
            steps.push_back(s);
            std::printf(
                "  inject %9llu pps target, %10.0f pps achieved: captured %llu of %llu, drops "
                "%llu\n",
                static_cast<unsigned long long>(pps), s.achievedPps,
                static_cast<unsigned long long>(s.captured),
                static_cast<unsigned long long>(s.sent), static_cast<unsigned long long>(s.drops));
            std::fflush(stdout);
            if (s.drops != 0 || s.captured < s.sent)
                break;
            if (s.achievedPps < 0.7 * double(pps)) {
                std::printf(
                    "  (the injector is saturated: its rate, not the capture's, is the limit)\n");
                break;
            }
        }
    }
    ::kill(cap, SIGTERM);
    waitProgram(cap);
    done = true;
    consumer.join();
    janitor.remove();
    if (!up)
        throw std::runtime_error("the live capture did not start");
    return steps;
}

}  // namespace

int runCaptureBench(const CaptureBenchOptions& o) {
    const std::string bin = selfDir();
    const std::string capture = bin + "/pushcap-capture";
    if (::access(capture.c_str(), X_OK) != 0)
        throw std::runtime_error(capture + " not found (build pushcap-capture)");
    std::string dir = o.dir;
    if (dir.empty())
        dir = std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp";
    dir += "/pushcap-bench-capture-" + std::to_string(::getpid());
    std::filesystem::create_directories(dir);
    const std::string instance = "cbench" + std::to_string(::getpid());

    std::printf(
        "pushcap-bench capture: file -> ring (lossless, 64 MiB ring, 1 committing consumer), input "
        "%.0f MiB\n\n",
        double(o.fileBytes) / (1 << 20));
    std::printf("%-6s %12s %10s %10s %10s %12s %10s\n", "size", "packets", "cat GB/s", "push GB/s",
                "push Mpps", "push s", "x cat");
    std::string json = "{";
    bool first = true;
    for (const bool imix : {true, false}) {
        TrafficFileOptions f;
        f.traffic.imix = imix;
        f.traffic.fixedSize = 64;
        const double perRecord = imix ? 16 + 355.0 : 16 + 64.0;
        f.count = static_cast<std::uint64_t>(double(o.fileBytes) / perRecord);
        const std::string path = dir + (imix ? "/imix.pcap" : "/64.pcap");
        const std::uint64_t bytes = writeTrafficFile(path, f);
        timeCat(path);  // warm the page cache, so both sides read from memory
        const double cat = timeCat(path);
        const PushFigures push = timePush(capture, path, instance, imix ? "imix" : "b64");
        const double catGBps = double(bytes) / cat / 1e9;
        const double gbps = double(bytes) / push.seconds / 1e9;
        const double mpps = double(push.packets) / push.seconds / 1e6;
        const char* name = imix ? "imix" : "64";
        std::printf("%-6s %12llu %10.2f %10.2f %10.2f %12.3f %10.2f\n", name,
                    static_cast<unsigned long long>(push.packets), catGBps, gbps, mpps,
                    push.seconds, cat / push.seconds);
        std::fflush(stdout);
        if (push.packets != f.count)
            std::printf("  WARNING: %llu packets read, %llu written\n",
                        static_cast<unsigned long long>(push.packets),
                        static_cast<unsigned long long>(f.count));
        char buf[256];
        std::snprintf(
            buf, sizeof buf,
            "%s\"cat_gbytes_per_s_%s\":%.3f,\"push_gbytes_per_s_%s\":%.3f,\"push_mpps_%s\":%.3f",
            first ? "" : ",", name, catGBps, name, gbps, name, mpps);
        json += buf;
        first = false;
        std::filesystem::remove(path);
    }

    std::printf(
        "\nlive: pushcap-gen --inject (IMIX) into a veth pair, pushcap-capture on its peer\n");
    if (::geteuid() != 0) {
        std::printf("  skipped: needs root for a network namespace and a veth pair\n");
        json += ",\"inject_max_pps_zero_drops\":null";
    } else {
        try {
            const auto steps = injectSweep(bin, instance, o.injectSeconds, dir);
            double best = 0;
            std::uint64_t bestTarget = 0;
            for (const auto& s : steps) {
                if (s.drops == 0 && s.captured >= s.sent && s.achievedPps > best) {
                    best = s.achievedPps;
                    bestTarget = s.targetPps;
                }
            }
            std::printf("  highest rate with 0 capture drops: %.0f pps (target %llu)\n", best,
                        static_cast<unsigned long long>(bestTarget));
            char buf[128];
            std::snprintf(buf, sizeof buf, ",\"inject_max_pps_zero_drops\":%.0f", best);
            json += buf;
        } catch (const std::exception& e) {
            std::printf("  skipped: %s\n", e.what());
            json += ",\"inject_max_pps_zero_drops\":null";
        }
    }
    std::filesystem::remove_all(dir);
    std::printf("\n%s}\n", json.c_str());
    return 0;
}

}  // namespace pushcap::tools
