// The pcapng output format, for targets that keep a pcapng client's format (osmo-pcap-server
// stores pcapng clients as .pcapng): one Section Header Block, one Interface Description Block
// with if_tsresol = 9 (nanoseconds, as in the ring), then one Enhanced Packet Block per packet.
// Blocks are written in host byte order; readers detect it from the byte-order magic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace pushcap::workers {

inline constexpr std::uint32_t PCAPNG_SHB_TYPE = 0x0A0D0D0A;
inline constexpr std::uint32_t PCAPNG_IDB_TYPE = 1;
inline constexpr std::uint32_t PCAPNG_EPB_TYPE = 6;
inline constexpr std::uint32_t PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D;

inline constexpr std::size_t PCAPNG_SHB_BYTES = 28;
// IDB: 16 bytes of fixed fields, if_tsresol (4 + 1 value + 3 pad), opt_endofopt (4), length (4).
inline constexpr std::size_t PCAPNG_IDB_BYTES = 32;
inline constexpr std::size_t PCAPNG_FILE_HEADER_BYTES = PCAPNG_SHB_BYTES + PCAPNG_IDB_BYTES;
// EPB before the packet data: type, length, interface, timestamp high/low, caplen, wire length.
inline constexpr std::size_t PCAPNG_EPB_HEAD_BYTES = 28;

namespace pcapng_detail {
template <typename T>
inline void put(std::byte*& p, T v) {
    std::memcpy(p, &v, sizeof v);
    p += sizeof v;
}
}  // namespace pcapng_detail

// Writes an SHB of unknown section length at `p`; returns the position after it.
inline std::byte* writePcapngSectionHeader(std::byte* p) {
    using pcapng_detail::put;
    put<std::uint32_t>(p, PCAPNG_SHB_TYPE);
    put<std::uint32_t>(p, PCAPNG_SHB_BYTES);
    put<std::uint32_t>(p, PCAPNG_BYTE_ORDER_MAGIC);
    put<std::uint16_t>(p, 1);
    put<std::uint16_t>(p, 0);
    put<std::int64_t>(p, -1);
    put<std::uint32_t>(p, PCAPNG_SHB_BYTES);
    return p;
}

// Writes SHB + nanosecond IDB (PCAPNG_FILE_HEADER_BYTES) at `p`.
inline void writePcapngFileHeader(std::byte* p, std::uint32_t linkType, std::uint32_t snaplen) {
    using pcapng_detail::put;
    p = writePcapngSectionHeader(p);
    put<std::uint32_t>(p, PCAPNG_IDB_TYPE);
    put<std::uint32_t>(p, PCAPNG_IDB_BYTES);
    put<std::uint16_t>(p, static_cast<std::uint16_t>(linkType));
    put<std::uint16_t>(p, 0);
    put<std::uint32_t>(p, snaplen);
    put<std::uint16_t>(p, 9);  // if_tsresol
    put<std::uint16_t>(p, 1);
    put<std::uint8_t>(p, 9);  // 10^-9 s
    put<std::uint8_t>(p, 0);
    put<std::uint16_t>(p, 0);
    put<std::uint32_t>(p, 0);  // opt_endofopt
    put<std::uint32_t>(p, PCAPNG_IDB_BYTES);
}

// Bytes of the EPB holding `caplen` captured bytes.
inline constexpr std::uint32_t pcapngPacketBytes(std::uint32_t caplen) {
    return static_cast<std::uint32_t>(PCAPNG_EPB_HEAD_BYTES) + ((caplen + 3u) & ~3u) + 4u;
}

// Writes the EPB fields that precede the packet data; `ts` counts units of the interface's time
// stamp resolution (nanoseconds in pushcap's files, microseconds on the osmo-pcap wire).
inline void writePcapngPacketHead(std::byte* p, std::uint64_t ts, std::uint32_t caplen,
                                  std::uint32_t wirelen) {
    using pcapng_detail::put;
    put<std::uint32_t>(p, PCAPNG_EPB_TYPE);
    put<std::uint32_t>(p, pcapngPacketBytes(caplen));
    put<std::uint32_t>(p, 0);
    put<std::uint32_t>(p, static_cast<std::uint32_t>(ts >> 32));
    put<std::uint32_t>(p, static_cast<std::uint32_t>(ts));
    put<std::uint32_t>(p, caplen);
    put<std::uint32_t>(p, wirelen);
}

// Bytes writePcapngPacketTail() writes: the data's padding to 4 bytes, then the closing length.
inline constexpr std::uint32_t pcapngPacketTailBytes(std::uint32_t caplen) {
    return ((caplen + 3u) & ~3u) - caplen + 4u;
}

// Writes what follows `caplen` bytes of packet data in an EPB (zero padding, the block length).
inline void writePcapngPacketTail(std::byte* p, std::uint32_t caplen) {
    const std::uint32_t pad = pcapngPacketTailBytes(caplen) - 4u;
    std::memset(p, 0, pad);
    p += pad;
    pcapng_detail::put<std::uint32_t>(p, pcapngPacketBytes(caplen));
}

}  // namespace pushcap::workers
