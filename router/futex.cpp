#include "router/futex.hpp"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <climits>

namespace pushcap::router {

void futexWait(std::uint32_t* word, std::uint32_t expected, std::uint64_t timeoutNs) {
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(timeoutNs / 1000000000ULL);
    ts.tv_nsec = static_cast<long>(timeoutNs % 1000000000ULL);
    // Not FUTEX_PRIVATE: the word lives in memory shared between processes.
    ::syscall(SYS_futex, word, FUTEX_WAIT, expected, &ts, nullptr, 0);
}

void futexWakeAll(std::uint32_t* word) {
    ::syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

}  // namespace pushcap::router
