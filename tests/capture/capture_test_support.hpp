// Helpers for the capture tests: run the real binaries, consume a ring like a worker, and read
// capture files through independent oracles (libpcap, tshark).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "router/ring_janitor.hpp"

namespace pushcap::testing {

struct Packet {
    std::uint16_t sourceId = 0;
    std::uint32_t linkType = 0;
    std::uint32_t sec = 0, nsec = 0;
    std::uint32_t wireLen = 0;
    std::vector<std::uint8_t> bytes;
    bool operator==(const Packet&) const = default;
};

std::string binDir();
double testScale();
std::string uniqueInstance(const std::string& prefix);
// A fresh temp directory (removed by the caller through removeTree).
std::string makeTempDir();
void removeTree(const std::string& dir);
// Runs a command to completion; returns its exit status (or -signal).
int runCommand(const std::vector<std::string>& argv, const std::string& stdoutPath = "");
std::string readText(const std::string& path);

// Starts a program with stderr to `stderrPath`; `readyFd`, if >= 0, is inherited as fd 3.
pid_t spawn(const std::vector<std::string>& argv, const std::string& stderrPath, int readyFd = -1);
// Waits for `pid` up to `timeoutMs`; returns exit status, -signal, or -1000 on timeout.
int waitExit(pid_t pid, int timeoutMs);
bool exited(pid_t pid, int& status);

// A network namespace `name` holding a veth pair "vinj" <-> "vcap", both up, IPv6 off (so the
// kernel sends nothing of its own on them); deleted when destroyed. `ok` is false when it could
// not be made (no root, no veth support): the caller skips.
struct VethNamespace {
    explicit VethNamespace(const std::string& name);
    ~VethNamespace();
    VethNamespace(const VethNamespace&) = delete;
    VethNamespace& operator=(const VethNamespace&) = delete;
    std::string name;
    bool ok = false;
};

// libpcap oracle (pcap only; nanosecond precision). Stops at the first error.
std::vector<Packet> readWithLibpcap(const std::string& path, std::uint16_t sourceId = 0);
// tshark oracle for pcapng with several link types; link types by interface id in `linkTypes`.
std::vector<Packet> readWithTshark(const std::string& path,
                                   const std::vector<std::uint32_t>& linkTypes);

// Consumes a ring as worker "name" would; appends what it reads to `out`.
class RingConsumer {
  public:
    RingConsumer(const std::string& segment, const std::string& name);
    ~RingConsumer();
    // Reads for up to `timeoutMs`, or until at least `maxPackets` arrived; true at end of stream.
    bool poll(std::vector<Packet>& out, int timeoutMs, std::size_t maxPackets = SIZE_MAX);

  private:
    struct Impl;
    Impl* m_impl;
};

}  // namespace pushcap::testing
