// The osmo-pcap client -> server stream (../shared/reference/osmo-pcap-protocol.md), parsed in
// place from whatever a socket read returned. Messages are [type u8][spare u8][len u16 BE][len
// bytes]: type 0 carries the link header (a pcap global header, or a pcapng SHB + IDBs), type 1
// one packet (a pcap record, or one pcapng EPB). Everything is checked before it is used: the
// bytes come from the network, and a bad stream ends that connection only, with a reason that can
// be counted. No allocation, no syscall and no logging per packet.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace pushcap::capture {

enum class OsmoError : std::uint8_t {
    None = 0,
    UnknownType,           // a message type other than 0 and 1
    DataBeforeLinkHeader,  // a packet before any link header
    BadLinkHeader,         // wrong length, magic, version or pcapng structure in a link header
    SnaplenTooLarge,       // the link header's snaplen is over max-snaplen
    LengthMismatch,        // a packet's lengths contradict the message length
    CaplenOverSnaplen,     // a packet larger than the snaplen its link header announced
    BadBlock,              // a pcapng data message that is not one well-formed EPB
    UnknownInterface,      // a pcapng EPB for an interface the link header did not describe
    Count
};

// Short stable names for counters and logs ("unknown_type", ...).
const char* osmoErrorName(OsmoError e);

struct OsmoPacket {
    std::uint64_t tsNs = 0;
    std::uint32_t caplen = 0;
    std::uint32_t wirelen = 0;
    std::uint32_t linkType = 0;
    std::uint32_t snaplen = 0;
    std::uint32_t interface = 0;  // pcapng interface id (0 in pcap mode)
    const std::byte* data = nullptr;
};

class OsmoPacketSink {
  public:
    virtual ~OsmoPacketSink() = default;
    // False: no room now (e.g. the ring is full); the message is left unconsumed for later.
    virtual bool packet(const OsmoPacket& p) = 0;
};

enum class OsmoFormat : std::uint8_t { Unknown, Pcap, Pcapng };

class OsmoStreamParser {
  public:
    static constexpr std::uint32_t MAX_INTERFACES = 64;

    explicit OsmoStreamParser(std::uint32_t maxSnaplen = 9000) : m_maxSnaplen(maxSnaplen) {}

    struct Result {
        std::size_t consumed = 0;  // whole messages handled; keep the rest for the next read
        bool stopped = false;      // the sink said no room
        OsmoError error = OsmoError::None;
    };
    // Parses every complete message in [data, data + size).
    Result parse(const std::byte* data, std::size_t size, OsmoPacketSink& sink);

    OsmoFormat format() const { return m_format; }
    bool hasLinkHeader() const { return m_format != OsmoFormat::Unknown; }
    std::uint32_t linkType(std::uint32_t interface = 0) const;
    std::uint32_t snaplen(std::uint32_t interface = 0) const;
    std::uint32_t interfaces() const { return m_interfaceCount; }
    bool bigEndian() const { return m_swap != hostIsBig(); }
    // What the last error was about, for the log line (e.g. "snaplen 70000 > max-snaplen 9000").
    const std::string& detail() const { return m_detail; }
    std::uint64_t packets() const { return m_packets; }

  private:
    struct Interface {
        std::uint32_t linkType = 0;
        std::uint32_t snaplen = 0;
        std::uint64_t unitsPerSecond = 1'000'000;  // if_tsresol; osmo-pcap sends none (us)
    };

    static bool hostIsBig();
    OsmoError linkHeader(const std::byte* p, std::uint32_t len);
    OsmoError pcapngLinkHeader(const std::byte* p, std::uint32_t len);
    OsmoError packetMessage(const std::byte* p, std::uint32_t len, OsmoPacket& out);
    OsmoError fail(OsmoError e, std::string detail);
    std::uint32_t u32(const std::byte* p) const;
    std::uint16_t u16(const std::byte* p) const;

    std::uint32_t m_maxSnaplen;
    OsmoFormat m_format = OsmoFormat::Unknown;
    bool m_swap = false;         // the client's byte order differs from ours
    bool m_nanoseconds = false;  // pcap mode with the nanosecond magic
    Interface m_interfaces[MAX_INTERFACES];
    std::uint32_t m_interfaceCount = 0;
    std::uint64_t m_packets = 0;
    std::string m_detail;
};

}  // namespace pushcap::capture
