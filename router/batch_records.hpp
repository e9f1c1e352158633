// Walks the PCAP records of a batch payload in place. The payload comes from shared memory, so
// every length is checked against what is left; a record that does not fit ends the walk and
// marks the batch malformed instead of reading out of bounds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "router/ring_layout.hpp"
#include "router/ring_reader.hpp"

namespace pushcap::router {

struct PacketRef {
    const std::byte* record = nullptr;  // start of the 16-byte record header
    const std::byte* data = nullptr;    // captured bytes
    PcapRecordHeader header{};
    std::uint32_t recordBytes = 0;  // header + captured bytes
};

class RecordCursor {
  public:
    explicit RecordCursor(const BatchView& view)
        : m_next(view.payload), m_end(view.payload + view.payloadBytes), m_left(view.packets) {}

    bool next(PacketRef& packet) {
        if (m_left == 0)
            return false;
        const std::size_t remaining = static_cast<std::size_t>(m_end - m_next);
        if (remaining < sizeof(PcapRecordHeader))
            return fail();
        std::memcpy(&packet.header, m_next, sizeof packet.header);
        const std::uint32_t caplen = packet.header.caplen;
        if (caplen > MAX_CAPLEN || caplen > remaining - sizeof(PcapRecordHeader))
            return fail();
        packet.record = m_next;
        packet.data = m_next + sizeof(PcapRecordHeader);
        packet.recordBytes = static_cast<std::uint32_t>(sizeof(PcapRecordHeader)) + caplen;
        m_next += packet.recordBytes;
        --m_left;
        return true;
    }
    bool malformed() const { return m_malformed; }

  private:
    bool fail() {
        m_malformed = true;
        m_left = 0;
        return false;
    }

    const std::byte* m_next;
    const std::byte* m_end;
    std::uint32_t m_left;
    bool m_malformed = false;
};

}  // namespace pushcap::router
