// Who owns a slot or the producer block: a pid plus the process start time (clock ticks since
// boot, /proc/PID/stat field 22), so a recycled pid is never mistaken for the original owner.
#pragma once

#include <cstdint>

namespace pushcap::router {

struct ProcessIdentity {
    std::uint32_t pid = 0;
    std::uint64_t start = 0;
};

// This process; computed once.
ProcessIdentity selfIdentity();

// Start time of `pid`, or 0 if it does not exist (or cannot be read).
std::uint64_t processStartTime(std::uint32_t pid);

// True while the process that had this identity still runs. A zombie counts as gone.
// Costs a syscall or two: call it on slow paths only (waits, attach), never per batch.
bool isAlive(const ProcessIdentity& who);

// CLOCK_MONOTONIC in ns (vDSO, no syscall); heartbeats and deadlines use it.
std::uint64_t monotonicNs();

}  // namespace pushcap::router
