// `pushcap-bench ring`: one producer and K consumer processes over a real ring segment, beside a
// single-core memcpy measured in the same run. Prints a table, then one JSON line.
#pragma once

#include <cstdint>
#include <string>

namespace pushcap::tools {

struct RingBenchOptions {
    std::uint64_t bytesPerRun = 2ULL << 30;  // packet bytes each (size, K) run pushes through
    std::uint64_t ringBytes = 64ULL << 20;
    std::uint32_t batchBytes = 256 << 10;
    std::string instance;  // default: bench<pid>
};

int runRingBench(const RingBenchOptions& options);

// Best single-core memcpy bandwidth in Gbit/s over a buffer far larger than the caches.
double measureMemcpyGbps();

}  // namespace pushcap::tools
