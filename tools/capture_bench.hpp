// `pushcap-bench capture`: file -> ring throughput of pushcap-capture (IMIX and 64 B) beside
// `cat FILE > /dev/null` of the same file in the same run, and the highest `pushcap-gen --inject`
// rate into a veth pair that the live capture takes with 0 drops (root only). Prints a table,
// then one JSON object on the last line.
#pragma once

#include <cstdint>
#include <string>

namespace pushcap::tools {

struct CaptureBenchOptions {
    std::uint64_t fileBytes = 1ULL << 30;  // size of each generated input file
    std::string dir;                       // where the inputs go (default: $TMPDIR or /tmp)
    double injectSeconds = 1.0;            // length of each injection step
};

int runCaptureBench(const CaptureBenchOptions& options);

}  // namespace pushcap::tools
