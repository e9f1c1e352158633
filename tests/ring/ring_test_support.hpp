// Shared by the ring tests and their helper program (ring_peer): a deterministic packet stream,
// process spawning, and condition polling with deadlines.
//
// Packet `seq` is a pure function of seq: its size, its record header and every byte of its data
// (first 8 bytes = seq, the rest from a PRNG seeded by seq). So any process can check any packet on
// its own, and a stream checksum computed by a consumer can be compared with the producer's.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "router/ring_layout.hpp"
#include "router/ring_segment.hpp"

namespace pushcap::ringtest {

using router::PcapRecordHeader;

inline constexpr std::uint32_t TEST_LINK_TYPE = 1;  // DLT_EN10MB
inline constexpr std::uint16_t TEST_SOURCE_ID = 7;

// 60..1514 bytes, mostly small (like real traffic), with both extremes present.
std::uint32_t packetCaplen(std::uint64_t seq);
PcapRecordHeader packetHeader(std::uint64_t seq);
// Writes the record header and data of packet `seq` at `out`; returns the record size.
std::uint32_t writePacketRecord(std::uint64_t seq, std::byte* out);
// Hash of one packet's captured bytes, as read (not as expected), so a checksum over a stream
// reflects what actually travelled.
std::uint64_t hashBytes(const std::byte* data, std::uint32_t length);
// Order-sensitive combination of packet hashes.
inline std::uint64_t chainChecksum(std::uint64_t sum, std::uint64_t packetHash) {
    return (sum ^ packetHash) * 0x100000001B3ULL + 1;
}
// True if `header` and `data` are exactly packet `seq`.
bool packetMatches(std::uint64_t seq, const PcapRecordHeader& header, const std::byte* data);
// Captured bytes of packets [0, count).
std::uint64_t streamBytes(std::uint64_t count);
// The checksum a consumer that saw exactly packets [0, count) in order reports.
std::uint64_t streamChecksum(std::uint64_t count);

// PUSHCAP_TEST_SCALE (1 normally, 0.1 under sanitizers).
double testScale();
// `count` times the scale, at least `floor`.
std::uint64_t scaled(std::uint64_t count, std::uint64_t floor);

// "t<pid><tag>": unique per test process, so parallel tests never share a segment.
std::string uniqueInstance(const std::string& tag);

// Removes the segment when the test ends, however it ends.
class SegmentGuard {
  public:
    explicit SegmentGuard(std::string name) : m_name(std::move(name)) {}
    ~SegmentGuard();
    SegmentGuard(const SegmentGuard&) = delete;
    SegmentGuard& operator=(const SegmentGuard&) = delete;
    const std::string& name() const { return m_name; }

  private:
    std::string m_name;
};

// A fresh directory under $TMPDIR (or /tmp), removed with its files at the end.
class TempDir {
  public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    std::string file(const std::string& name) const { return m_path + "/" + name; }

  private:
    std::string m_path;
};

// Polls `condition` (with a short backoff, never busy) until it holds or `timeout` passes.
bool waitUntil(const std::function<bool()>& condition,
               std::chrono::milliseconds timeout = std::chrono::seconds(120));

// A ring_peer child process. Its stdout goes to `stdoutPath`, its stderr is inherited. It dies
// with the test (PR_SET_PDEATHSIG), and the destructor SIGKILLs and reaps it if still running.
class Peer {
  public:
    Peer(const std::vector<std::string>& args, std::string stdoutPath);
    ~Peer();
    Peer(const Peer&) = delete;
    Peer& operator=(const Peer&) = delete;

    pid_t pid() const { return m_pid; }
    bool running() const { return m_pid > 0 && !m_reaped; }
    // Non-blocking reap: true once the child has exited (status then holds its wait status).
    bool poll();
    // Waits up to `timeout` for exit; returns the wait status, or -1 on timeout.
    int wait(std::chrono::milliseconds timeout = std::chrono::seconds(120));
    void signal(int sig) const;
    // SIGKILL and reap.
    void kill();
    int status() const { return m_status; }
    bool exitedCleanly() const;
    // key=value pairs from the last line the child printed.
    std::map<std::string, std::uint64_t> result() const;

  private:
    pid_t m_pid = -1;
    bool m_reaped = false;
    int m_status = 0;
    std::string m_stdoutPath;
};

std::string peerProgram();
// CPU time (user + system) a process has used so far, in ms, from /proc/PID/stat.
std::uint64_t processCpuMs(pid_t pid);
// One-letter state from /proc/PID/stat ('T' when stopped), '?' if gone.
char processState(pid_t pid);

// Plain-integer options for ring_peer: "key=value" arguments.
std::map<std::string, std::string> parseOptions(int argc, char** argv, int first);

}  // namespace pushcap::ringtest
