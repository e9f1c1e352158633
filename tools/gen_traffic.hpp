// Synthetic traffic for tests and benchmarks (pushcap-gen, pushcap-bench capture).
//
// Frames are a pure function of the seed: the same seed gives the same frames, whatever the
// output (pcap, pcapng, injection), because timestamps and pcapng interface choices draw from
// their own random streams.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace pushcap::tools {

struct TrafficOptions {
    std::uint64_t seed = 1;
    bool imix = true;             // 7 x 64, 4 x 576, 1 x 1500 B frames; else fixedSize
    std::uint32_t fixedSize = 0;  // frame bytes (without FCS); raised to the headers' minimum
    unsigned vlanPercent = 15;    // share of 802.1Q-tagged flows
};

// Builds Ethernet frames with correct IPv4/IPv6/TCP/UDP/ICMP/ARP headers and checksums.
class TrafficGenerator {
  public:
    static constexpr std::uint32_t MAX_FRAME = 9216;

    explicit TrafficGenerator(const TrafficOptions& options);
    // Writes the next frame to `out` (room for MAX_FRAME bytes) and returns its length.
    std::uint32_t next(std::byte* out);
    // Whether the last frame was ARP (it has no IP header, so it cannot go to a raw-IP interface).
    bool lastWasArp() const { return m_lastArp; }
    // Ethernet + 802.1Q header bytes of the last frame.
    std::uint32_t lastL2Bytes() const { return m_lastL2; }

  private:
    struct Flow {
        std::uint8_t proto;  // 6, 17, 1 (58 on IPv6)
        bool ipv6;
        std::uint16_t vlan;  // 0: untagged
        std::uint8_t srcMac[6], dstMac[6];
        std::uint8_t srcIp[16], dstIp[16];
        std::uint16_t srcPort, dstPort;
        std::uint32_t seqA, seqB;
        std::uint16_t ipId;
        std::uint16_t icmpSeq;
    };

    std::uint64_t random();
    std::uint32_t pickSize();
    std::uint32_t buildArp(std::byte* out, std::uint32_t size);
    std::uint32_t buildIp(std::byte* out, Flow& flow, std::uint32_t size);

    std::uint64_t m_state;
    TrafficOptions m_options;
    std::vector<Flow> m_flows;
    std::vector<std::byte> m_pool;  // random payload bytes, copied at random offsets
    bool m_lastArp = false;
    std::uint32_t m_lastL2 = 14;
};

enum class TrafficFormat { Pcap, Pcapng };

struct TrafficFileOptions {
    TrafficOptions traffic;
    TrafficFormat format = TrafficFormat::Pcap;
    std::uint64_t count = 10000;
    double durationSec = 10;
    std::uint64_t startSec = 1700000000;
    bool microseconds = false;  // pcap: microsecond magic; pcapng: if_tsresol 6
    bool bigEndian = false;     // write the file in big-endian byte order
    // pcapng only: 1..3 interfaces: 0 Ethernet, 1 raw IP (LINKTYPE_RAW), 2 Linux cooked (SLL).
    unsigned interfaces = 1;
};

// Writes the file in large chunks; throws std::runtime_error naming the path on failure.
// Returns the bytes written.
std::uint64_t writeTrafficFile(const std::string& path, const TrafficFileOptions& options);

struct InjectOptions {
    TrafficOptions traffic;
    std::string interface;
    std::uint64_t pps = 10000;
    std::uint64_t count = 10000;
    unsigned batch = 0;  // frames per sendmmsg; 0: chosen from pps
};

struct InjectResult {
    std::uint64_t sent = 0;
    double seconds = 0;
    std::uint64_t retries = 0;  // sendmmsg calls that hit a full queue and were retried
};

// Sends `count` frames on `interface` through AF_PACKET + sendmmsg at `pps`; throws on errors.
InjectResult injectTraffic(const InjectOptions& options);

// Ones' complement sum of `len` bytes, unfolded and in memory byte order (RFC 1071).
std::uint64_t checksumAdd(std::uint64_t sum, const std::byte* data, std::size_t len);
std::uint16_t checksumFold(std::uint64_t sum);

}  // namespace pushcap::tools
