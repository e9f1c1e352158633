#include "tools/ring_bench.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <random>
#include <stdexcept>
#include <vector>

#include "router/ring_janitor.hpp"
#include "router/ring_reader.hpp"
#include "router/ring_writer.hpp"

namespace pushcap::tools {
namespace {

using Clock = std::chrono::steady_clock;
using router::PcapRecordHeader;

enum class SizeMix { Small64, Large1500, Imix };

const char* mixName(SizeMix m) {
    switch (m) {
        case SizeMix::Small64:
            return "64";
        case SizeMix::Large1500:
            return "1500";
        case SizeMix::Imix:
            return "imix";
    }
    return "?";
}

// Simple IMIX: 7 x 64 B, 4 x 576 B, 1 x 1500 B.
std::vector<std::uint32_t> sizePattern(SizeMix m) {
    switch (m) {
        case SizeMix::Small64:
            return {64};
        case SizeMix::Large1500:
            return {1500};
        case SizeMix::Imix:
            return {64, 576, 64, 64, 1500, 64, 576, 64, 576, 64, 576, 64};
    }
    return {64};
}

struct ConsumerResult {
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;
    std::uint64_t sum = 0;
    std::uint64_t lost = 0;
};

// Reads every byte of every batch (a running sum), like a worker that must look at all data.
[[noreturn]] void consumerProcess(const std::string& segment, const std::string& name, int readyFd,
                                  int resultFd) {
    ConsumerResult result;
    try {
        router::RingReader reader(segment, name);
        char ready = 'r';
        if (::write(readyFd, &ready, 1) != 1)
            _exit(3);
        router::BatchView view;
        std::uint64_t batches = 0;
        for (;;) {
            router::NextStatus st = reader.next(view, 1'000'000'000);
            if (st == router::NextStatus::EndOfStream)
                break;
            if (st != router::NextStatus::Batch)
                continue;
            const std::byte* p = view.payload;
            std::uint64_t words = view.payloadBytes / 8, sum = 0;
            for (std::uint64_t i = 0; i < words; ++i) {
                std::uint64_t w;
                std::memcpy(&w, p + i * 8, 8);
                sum += w;
            }
            for (std::uint64_t i = words * 8; i < view.payloadBytes; ++i)
                sum += std::uint64_t(p[i]);
            if (reader.finish(view))
                result.sum += sum;
            if (++batches % 4 == 0)
                reader.commit();
        }
        reader.commit();
        router::ReaderCounters c = reader.counters();
        result.packets = c.packetsRead;
        result.bytes = c.bytesRead;
        result.lost = c.packetsLost;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "consumer %s: %s\n", name.c_str(), e.what());
        _exit(2);
    }
    if (::write(resultFd, &result, sizeof result) != sizeof result)
        _exit(3);
    _exit(0);
}

struct RunResult {
    double seconds = 0;
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;  // packet bytes per consumer
};

RunResult runOnce(const RingBenchOptions& o, SizeMix mix, int consumers,
                  const std::string& instance) {
    router::RingConfig cfg;
    cfg.instance = instance;
    cfg.source = std::string("bench") + mixName(mix) + "k" + std::to_string(consumers);
    cfg.dataCapacity = o.ringBytes;
    cfg.maxBatchBytes = o.batchBytes;
    cfg.mode = router::RingMode::Lossless;
    router::RingJanitor janitor(cfg);
    for (int k = 0; k < consumers; ++k)
        janitor.addConsumer("c" + std::to_string(k));

    int ready[2], results[2];
    if (::pipe(ready) != 0 || ::pipe(results) != 0)
        throw std::runtime_error("pipe failed");
    std::vector<pid_t> pids;
    for (int k = 0; k < consumers; ++k) {
        pid_t pid = ::fork();
        if (pid == 0)
            consumerProcess(janitor.name(), "c" + std::to_string(k), ready[1], results[1]);
        pids.push_back(pid);
    }
    for (int k = 0; k < consumers; ++k) {
        char c;
        if (::read(ready[0], &c, 1) != 1)
            throw std::runtime_error("a consumer failed to start");
    }

    // Packet bytes come from a random pool, at varying offsets, so nothing is trivially cached.
    std::vector<std::byte> pool(1 << 20);
    std::mt19937_64 rng(42);
    for (auto& b : pool)
        b = std::byte(rng() & 0xff);
    const std::vector<std::uint32_t> sizes = sizePattern(mix);

    router::RingWriter writer(janitor.name());
    RunResult r;
    const auto start = Clock::now();
    std::size_t sizeIndex = 0, poolOffset = 0;
    std::uint64_t ts = 1'700'000'000ULL * 1'000'000'000ULL;
    while (r.bytes < o.bytesPerRun) {
        std::span<std::byte> space = writer.beginBatch(1'000'000'000);
        if (space.empty())
            continue;
        std::byte* out = space.data();
        std::size_t used = 0;
        std::uint32_t packets = 0;
        for (;;) {
            std::uint32_t len = sizes[sizeIndex];
            if (used + sizeof(PcapRecordHeader) + len > space.size() || r.bytes >= o.bytesPerRun)
                break;
            PcapRecordHeader h{std::uint32_t(ts / 1'000'000'000), std::uint32_t(ts % 1'000'000'000),
                               len, len};
            std::memcpy(out + used, &h, sizeof h);
            std::memcpy(out + used + sizeof h, pool.data() + poolOffset, len);
            used += sizeof h + len;
            poolOffset = (poolOffset + 4099) & (pool.size() / 2 - 1);
            sizeIndex = sizeIndex + 1 == sizes.size() ? 0 : sizeIndex + 1;
            ts += 1000;
            ++packets;
            r.bytes += len;
        }
        r.packets += packets;
        writer.publish(std::uint32_t(used), packets, router::BatchMeta{});
    }
    writer.finish();
    for (int k = 0; k < consumers; ++k) {
        ConsumerResult cr;
        if (::read(results[0], &cr, sizeof cr) != sizeof cr)
            throw std::runtime_error("a consumer died");
        if (cr.packets != r.packets || cr.lost != 0) {
            throw std::runtime_error("a consumer saw " + std::to_string(cr.packets) + " of " +
                                     std::to_string(r.packets) + " packets");
        }
    }
    r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    for (pid_t pid : pids)
        ::waitpid(pid, nullptr, 0);
    for (int fd : {ready[0], ready[1], results[0], results[1]})
        ::close(fd);
    janitor.remove();
    return r;
}

}  // namespace

double measureMemcpyGbps() {
    const std::size_t size = 256 << 20;
    std::vector<std::byte> a(size, std::byte{1}), b(size, std::byte{2});
    double best = 0;
    for (int round = 0; round < 5; ++round) {
        auto t0 = Clock::now();
        std::memcpy(round % 2 ? a.data() : b.data(), round % 2 ? b.data() : a.data(), size);
        double s = std::chrono::duration<double>(Clock::now() - t0).count();
        best = std::max(best, size * 8.0 / s / 1e9);
    }
    // Keep the copies observable so the compiler cannot drop them.
    volatile std::byte sink = a[size / 2];
    (void)sink;
    return best;
}

int runRingBench(const RingBenchOptions& o) {
    const std::string instance =
        o.instance.empty() ? "bench" + std::to_string(::getpid()) : o.instance;
    const double memcpyGbps = measureMemcpyGbps();
    std::printf(
        "pushcap-bench ring: producer + K consumer processes, lossless, ring %llu MiB, batch %u "
        "KiB,\n"
        "%llu MiB of packets per run; every consumer reads every byte.\n\n",
        (unsigned long long)(o.ringBytes >> 20), o.batchBytes >> 10,
        (unsigned long long)(o.bytesPerRun >> 20));
    std::printf("single-core memcpy: %.1f Gbit/s\n\n", memcpyGbps);
    std::printf("%-6s %3s %10s %12s %14s %14s\n", "size", "K", "Mpps", "Gbit/s", "total Gbit/s",
                "x memcpy");
    std::string json = "{\"memcpy_gbps\":" + std::to_string(memcpyGbps);
    for (SizeMix mix : {SizeMix::Small64, SizeMix::Large1500, SizeMix::Imix}) {
        for (int k : {1, 4}) {
            RunResult r = runOnce(o, mix, k, instance);
            double mpps = r.packets / r.seconds / 1e6;
            double gbps = r.bytes * 8.0 / r.seconds / 1e9;
            std::printf("%-6s %3d %10.2f %12.2f %14.2f %14.2f\n", mixName(mix), k, mpps, gbps,
                        gbps * k, gbps / memcpyGbps);
            std::fflush(stdout);
            std::string key = std::string(mixName(mix)) + "_k" + std::to_string(k);
            json += ",\"ring_gbps_" + key + "\":" + std::to_string(gbps);
            json += ",\"ring_mpps_" + key + "\":" + std::to_string(mpps);
            json += ",\"ring_gbps_" + key + "_total\":" + std::to_string(gbps * k);
        }
    }
    std::printf("\n%s}\n", json.c_str());
    return 0;
}

}  // namespace pushcap::tools
