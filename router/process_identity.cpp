#include "router/process_identity.hpp"

#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace pushcap::router {
namespace {

// Reads /proc/PID/stat and returns the fields after the command name, which may itself hold
// spaces and parentheses (hence the search for the last ')').
bool readStatTail(std::uint32_t pid, char* buf, std::size_t size, const char** tail) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%u/stat", pid);
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = ::read(fd, buf, size - 1);
    ::close(fd);
    if (n <= 0)
        return false;
    buf[n] = '\0';
    const char* close = std::strrchr(buf, ')');
    if (close == nullptr || close[1] == '\0')
        return false;
    *tail = close + 2;  // points at field 3 (state)
    return true;
}

}  // namespace

std::uint64_t processStartTime(std::uint32_t pid) {
    if (pid == 0)
        return 0;
    char buf[1024];
    const char* p = nullptr;
    if (!readStatTail(pid, buf, sizeof buf, &p))
        return 0;
    if (*p == 'Z' || *p == 'X')
        return 0;  // exited, not yet reaped
    // Field 3 is at p; field 22 (starttime) is 19 fields further.
    for (int field = 3; field < 22; ++field) {
        p = std::strchr(p, ' ');
        if (p == nullptr)
            return 0;
        ++p;
    }
    return std::strtoull(p, nullptr, 10);
}

ProcessIdentity selfIdentity() {
    static const ProcessIdentity self = [] {
        auto pid = static_cast<std::uint32_t>(::getpid());
        return ProcessIdentity{pid, processStartTime(pid)};
    }();
    // After fork() the child must not reuse its parent's identity.
    if (self.pid != static_cast<std::uint32_t>(::getpid())) {
        auto pid = static_cast<std::uint32_t>(::getpid());
        return ProcessIdentity{pid, processStartTime(pid)};
    }
    return self;
}

bool isAlive(const ProcessIdentity& who) {
    if (who.pid == 0)
        return false;
    std::uint64_t start = processStartTime(who.pid);
    if (start == 0)
        return false;
    // An owner that was seen while still writing its start time (0) is taken as alive.
    return who.start == 0 || who.start == start;
}

std::uint64_t monotonicNs() {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ULL +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

}  // namespace pushcap::router
