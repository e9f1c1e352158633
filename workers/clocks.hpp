// The two clocks a worker reads: steady for intervals and deadlines, wall for what users see
// (file times, idle close of live time periods). Both via the vDSO: no syscall.
#pragma once

#include <chrono>
#include <cstdint>

namespace pushcap::workers {

inline std::uint64_t steadyNs() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

inline std::uint64_t wallNs() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

}  // namespace pushcap::workers
