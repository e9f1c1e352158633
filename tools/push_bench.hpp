// `pushcap-bench push`: an offline push of a ~1 GiB IMIX capture through pushcapd with 4 targets,
// beside what users do today (4 parallel `tcpdump -r IN -w OUT FILTER`) and the copy floor
// (`cat IN > OUT`), in the same run, several rounds, medians; pushcapd runs twice a round, with
// its default Fsync and with Fsync = false, so the cost of syncing shows as a ratio. Prints a
// table, then one JSON line.
#pragma once

#include <cstdint>
#include <string>

namespace pushcap::tools {

struct PushBenchOptions {
    std::string input;  // empty: generate one with pushcap-gen
    std::uint64_t inputBytes = 1ULL << 30;
    std::string dir = "/dev/shm/pushcap-bench-push";  // outputs (tmpfs)
    int rounds = 3;
};

int runPushBench(const PushBenchOptions& options);

}  // namespace pushcap::tools
