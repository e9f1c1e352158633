// The output format: nanosecond PCAP (magic 0xa1b23c4d, version 2.4), with the packets' real link
// type and snaplen. Records are copied unchanged from the ring (router::PcapRecordHeader + data).
#pragma once

#include <cstdint>

namespace pushcap::workers {

inline constexpr std::uint32_t PCAP_MAGIC_NS = 0xa1b23c4d;
inline constexpr std::uint32_t PCAP_MAGIC_US = 0xa1b2c3d4;

struct PcapFileHeader {
    std::uint32_t magic = PCAP_MAGIC_NS;
    std::uint16_t versionMajor = 2;
    std::uint16_t versionMinor = 4;
    std::int32_t thiszone = 0;
    std::uint32_t sigfigs = 0;
    std::uint32_t snaplen = 0;
    std::uint32_t linkType = 0;
};
static_assert(sizeof(PcapFileHeader) == 24);

inline constexpr std::uint64_t PCAP_FILE_HEADER_BYTES = sizeof(PcapFileHeader);

}  // namespace pushcap::workers
