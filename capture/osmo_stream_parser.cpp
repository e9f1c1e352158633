#include "capture/osmo_stream_parser.hpp"

#include <cstring>

namespace pushcap::capture {
namespace {

constexpr std::uint8_t TYPE_LINK_HEADER = 0;
constexpr std::uint8_t TYPE_DATA = 1;
constexpr std::uint32_t PCAP_MAGIC_US = 0xa1b2c3d4;
constexpr std::uint32_t PCAP_MAGIC_NS = 0xa1b23c4d;
constexpr std::uint32_t NG_SHB = 0x0A0D0D0A;
constexpr std::uint32_t NG_IDB = 0x00000001;
constexpr std::uint32_t NG_EPB = 0x00000006;
constexpr std::uint32_t NG_BYTE_ORDER = 0x1A2B3C4D;
constexpr std::uint16_t OPT_END = 0;
constexpr std::uint16_t OPT_IF_TSRESOL = 9;
constexpr std::uint32_t PCAP_RECORD_HEADER = 16;
constexpr std::uint32_t EPB_FIXED =
    32;  // type, length, interface, ts hi, ts lo, caplen, wirelen, trailer

std::uint32_t raw32(const std::byte* p) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

}  // namespace

const char* osmoErrorName(OsmoError e) {
    switch (e) {
        case OsmoError::None:
            return "none";
        case OsmoError::UnknownType:
            return "unknown_type";
        case OsmoError::DataBeforeLinkHeader:
            return "data_before_link_header";
        case OsmoError::BadLinkHeader:
            return "bad_link_header";
        case OsmoError::SnaplenTooLarge:
            return "snaplen_too_large";
        case OsmoError::LengthMismatch:
            return "length_mismatch";
        case OsmoError::CaplenOverSnaplen:
            return "caplen_over_snaplen";
        case OsmoError::BadBlock:
            return "bad_block";
        case OsmoError::UnknownInterface:
            return "unknown_interface";
        case OsmoError::Count:
            break;
    }
    return "unknown";
}

bool OsmoStreamParser::hostIsBig() {
    const std::uint16_t one = 1;
    std::uint8_t first;
    std::memcpy(&first, &one, 1);
    return first == 0;
}

std::uint32_t OsmoStreamParser::u32(const std::byte* p) const {
    const std::uint32_t v = raw32(p);
    return m_swap ? __builtin_bswap32(v) : v;
}

std::uint16_t OsmoStreamParser::u16(const std::byte* p) const {
    std::uint16_t v;
    std::memcpy(&v, p, 2);
    return m_swap ? __builtin_bswap16(v) : v;
}

std::uint32_t OsmoStreamParser::linkType(std::uint32_t interface) const {
    return interface < m_interfaceCount ? m_interfaces[interface].linkType : 0;
}

std::uint32_t OsmoStreamParser::snaplen(std::uint32_t interface) const {
    return interface < m_interfaceCount ? m_interfaces[interface].snaplen : 0;
}

OsmoError OsmoStreamParser::fail(OsmoError e, std::string detail) {
    m_detail = std::move(detail);
    return e;
}

OsmoError OsmoStreamParser::linkHeader(const std::byte* p, std::uint32_t len) {
    if (len >= 4 && raw32(p) == NG_SHB)
        return pcapngLinkHeader(p, len);
    if (len != 24)
        return fail(OsmoError::BadLinkHeader,
                    "pcap link header of " + std::to_string(len) + " bytes, not 24");
    const std::uint32_t magic = raw32(p);
    bool swap, nanos;
    if (magic == PCAP_MAGIC_US || magic == PCAP_MAGIC_NS) {
        swap = false;
        nanos = magic == PCAP_MAGIC_NS;
    } else if (magic == __builtin_bswap32(PCAP_MAGIC_US) ||
               magic == __builtin_bswap32(PCAP_MAGIC_NS)) {
        swap = true;
        nanos = magic == __builtin_bswap32(PCAP_MAGIC_NS);
    } else {
        return fail(OsmoError::BadLinkHeader, "link header is neither pcap nor pcapng");
    }
    m_swap = swap;
    if (u16(p + 4) != 2)
        return fail(OsmoError::BadLinkHeader,
                    "pcap version " + std::to_string(u16(p + 4)) + ", not 2");
    const std::uint32_t snap = u32(p + 16);
    if (snap == 0 || snap > m_maxSnaplen) {
        return fail(
            OsmoError::SnaplenTooLarge,
            "snaplen " + std::to_string(snap) + " > max-snaplen " + std::to_string(m_maxSnaplen));
    }
    m_nanoseconds = nanos;
    m_interfaces[0] = Interface{u32(p + 20), snap, nanos ? 1'000'000'000ULL : 1'000'000ULL};
    m_interfaceCount = 1;
    m_format = OsmoFormat::Pcap;
    return OsmoError::None;
}

OsmoError OsmoStreamParser::pcapngLinkHeader(const std::byte* p, std::uint32_t len) {
    if (len < 28)
        return fail(OsmoError::BadLinkHeader, "pcapng section header too short");
    const std::uint32_t order = raw32(p + 8);
    if (order == NG_BYTE_ORDER)
        m_swap = false;
    else if (order == __builtin_bswap32(NG_BYTE_ORDER))
        m_swap = true;
    else
        return fail(OsmoError::BadLinkHeader, "pcapng byte-order magic missing");
    std::uint32_t count = 0;
    Interface found[MAX_INTERFACES];
    std::uint32_t off = 0;
    bool first = true;
    while (off < len) {
        if (len - off < 12)
            return fail(OsmoError::BadLinkHeader, "pcapng block cut short");
        const std::uint32_t type = u32(p + off);
        const std::uint32_t blockLen = u32(p + off + 4);
        if (blockLen < 12 || blockLen % 4 != 0 || blockLen > len - off ||
            u32(p + off + blockLen - 4) != blockLen) {
            return fail(OsmoError::BadLinkHeader,
                        "pcapng block length " + std::to_string(blockLen) + " is inconsistent");
        }
        if (first != (type == NG_SHB)) {
            return fail(OsmoError::BadLinkHeader,
                        "pcapng link header must be one SHB followed by IDBs");
        }
        if (type == NG_IDB) {
            if (blockLen < 20)
                return fail(OsmoError::BadLinkHeader, "pcapng IDB too short");
            if (count == MAX_INTERFACES)
                return fail(OsmoError::BadLinkHeader, "more than 64 interfaces");
            Interface iface;
            iface.linkType = u16(p + off + 8);
            iface.snaplen = u32(p + off + 12);
            if (iface.snaplen > m_maxSnaplen) {
                return fail(OsmoError::SnaplenTooLarge,
                            "interface " + std::to_string(count) + " snaplen " +
                                std::to_string(iface.snaplen) + " > max-snaplen " +
                                std::to_string(m_maxSnaplen));
            }
            if (iface.snaplen == 0)
                iface.snaplen = m_maxSnaplen;  // pcapng: 0 means "no limit"
            // Options: walk them with bounds checks, keep if_tsresol.
            std::uint32_t opt = off + 16;
            const std::uint32_t optEnd = off + blockLen - 4;
            while (opt + 4 <= optEnd) {
                const std::uint16_t code = u16(p + opt);
                const std::uint16_t optLen = u16(p + opt + 2);
                if (code == OPT_END)
                    break;
                const std::uint32_t padded = (optLen + 3u) & ~3u;
                if (opt + 4 + padded > optEnd)
                    return fail(OsmoError::BadLinkHeader, "pcapng IDB option overruns its block");
                if (code == OPT_IF_TSRESOL && optLen >= 1) {
                    const auto r = static_cast<std::uint8_t>(p[opt + 4]);
                    const std::uint32_t exp = r & 0x7f;
                    if ((r & 0x80) ? exp > 63 : exp > 19)
                        return fail(OsmoError::BadLinkHeader, "unsupported if_tsresol");
                    std::uint64_t units = 1;
                    for (std::uint32_t i = 0; i < exp; ++i)
                        units *= (r & 0x80) ? 2 : 10;
                    iface.unitsPerSecond = units;
                }
                opt += 4 + padded;
            }
            found[count++] = iface;
        } else if (type != NG_SHB) {
            return fail(OsmoError::BadLinkHeader,
                        "unexpected pcapng block type " + std::to_string(type) + " in link header");
        }
        first = false;
        off += blockLen;
    }
    if (count == 0)
        return fail(OsmoError::BadLinkHeader, "pcapng link header without an interface");
    std::memcpy(m_interfaces, found, sizeof(Interface) * count);
    m_interfaceCount = count;
    m_format = OsmoFormat::Pcapng;
    return OsmoError::None;
}

OsmoError OsmoStreamParser::packetMessage(const std::byte* p, std::uint32_t len, OsmoPacket& out) {
    if (m_format == OsmoFormat::Pcap) {
        if (len < PCAP_RECORD_HEADER)
            return fail(OsmoError::LengthMismatch, "data message shorter than a record header");
        const std::uint32_t caplen = u32(p + 8);
        if (caplen != len - PCAP_RECORD_HEADER) {
            return fail(OsmoError::LengthMismatch, "caplen " + std::to_string(caplen) + " but " +
                                                       std::to_string(len - PCAP_RECORD_HEADER) +
                                                       " bytes follow");
        }
        const Interface& i = m_interfaces[0];
        if (caplen > i.snaplen) {
            return fail(
                OsmoError::CaplenOverSnaplen,
                "caplen " + std::to_string(caplen) + " > snaplen " + std::to_string(i.snaplen));
        }
        const std::uint64_t sub = u32(p + 4);
        if (sub >= i.unitsPerSecond)
            return fail(OsmoError::LengthMismatch, "sub-second timestamp out of range");
        out.tsNs =
            std::uint64_t(u32(p)) * 1'000'000'000ULL + sub * (1'000'000'000ULL / i.unitsPerSecond);
        out.caplen = caplen;
        out.wirelen = u32(p + 12);
        out.linkType = i.linkType;
        out.snaplen = i.snaplen;
        out.interface = 0;
        out.data = p + PCAP_RECORD_HEADER;
        return OsmoError::None;
    }
    // pcapng: exactly one EPB filling the message.
    if (len < EPB_FIXED || u32(p) != NG_EPB || u32(p + 4) != len || u32(p + len - 4) != len ||
        len % 4 != 0) {
        return fail(OsmoError::BadBlock, "data message is not exactly one well-formed EPB");
    }
    const std::uint32_t iface = u32(p + 8);
    if (iface >= m_interfaceCount) {
        return fail(OsmoError::UnknownInterface, "EPB for interface " + std::to_string(iface) +
                                                     " of " + std::to_string(m_interfaceCount));
    }
    const std::uint32_t caplen = u32(p + 20);
    if (caplen > len - EPB_FIXED)
        return fail(OsmoError::LengthMismatch, "EPB caplen overruns its block");
    const Interface& i = m_interfaces[iface];
    if (caplen > i.snaplen) {
        return fail(OsmoError::CaplenOverSnaplen,
                    "caplen " + std::to_string(caplen) + " > snaplen " + std::to_string(i.snaplen));
    }
    const std::uint64_t units = (std::uint64_t(u32(p + 12)) << 32) | u32(p + 16);
    const std::uint64_t secs = units / i.unitsPerSecond;
    const std::uint64_t rest = units % i.unitsPerSecond;
    out.tsNs = secs * 1'000'000'000ULL + (i.unitsPerSecond <= 1'000'000'000ULL
                                              ? rest * (1'000'000'000ULL / i.unitsPerSecond)
                                              : rest / (i.unitsPerSecond / 1'000'000'000ULL));
    out.caplen = caplen;
    out.wirelen = u32(p + 24);
    out.linkType = i.linkType;
    out.snaplen = i.snaplen;
    out.interface = iface;
    out.data = p + 28;
    return OsmoError::None;
}

OsmoStreamParser::Result OsmoStreamParser::parse(const std::byte* data, std::size_t size,
                                                 OsmoPacketSink& sink) {
    Result r;
    while (size - r.consumed >= 4) {
        const std::byte* m = data + r.consumed;
        const auto type = static_cast<std::uint8_t>(m[0]);
        const std::uint32_t len =
            (std::uint32_t(static_cast<std::uint8_t>(m[2])) << 8) | static_cast<std::uint8_t>(m[3]);
        if (type != TYPE_LINK_HEADER && type != TYPE_DATA) {
            r.error = fail(OsmoError::UnknownType, "message type " + std::to_string(type));
            return r;
        }
        if (size - r.consumed - 4 < len)
            break;  // wait for the rest
        const std::byte* payload = m + 4;
        if (type == TYPE_LINK_HEADER) {
            if ((r.error = linkHeader(payload, len)) != OsmoError::None)
                return r;
        } else {
            if (m_format == OsmoFormat::Unknown) {
                r.error = fail(OsmoError::DataBeforeLinkHeader, "packet before any link header");
                return r;
            }
            OsmoPacket packet;
            if ((r.error = packetMessage(payload, len, packet)) != OsmoError::None)
                return r;
            if (!sink.packet(packet)) {
                r.stopped = true;
                return r;
            }
            ++m_packets;
        }
        r.consumed += 4 + len;
    }
    return r;
}

}  // namespace pushcap::capture
