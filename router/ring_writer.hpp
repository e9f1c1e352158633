// The producer side of a ring. Only the capture process (the ring's single producer) uses it.
//
// Usage per batch: `beginBatch()` hands out space for up to `maxPayload()` bytes of PCAP records
// (record header + data, back to back); the caller fills a prefix of it and calls `publish()`.
// Nothing is visible to consumers before publish(), so a producer killed mid-batch leaves no torn
// batch: a restarted producer re-attaches and continues after the last published one, and
// `resumeCursor()` returns the cursor it published with it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "router/ring_segment.hpp"

namespace pushcap::router {

struct BatchMeta {
    std::uint32_t linkType = 1;  // DLT_EN10MB
    std::uint32_t snaplen = MAX_CAPLEN;
    std::uint16_t sourceId = 0;
    std::uint16_t session = 0;  // BatchHeader::source_session
    std::uint32_t flags = 0;    // BATCH_FLAG_*
};

class RingWriter {
  public:
    // Throws RingError if the segment is invalid or another live producer is attached.
    explicit RingWriter(const std::string& segmentName);
    ~RingWriter();  // detaches: consumers then see no producer (not "finished")
    RingWriter(const RingWriter&) = delete;
    RingWriter& operator=(const RingWriter&) = delete;

    RingMode mode() const { return m_segment.mode(); }
    std::uint32_t maxPayload() const { return m_maxPayload; }
    // The cursor published with the last batch (empty for a fresh ring).
    std::vector<std::uint8_t> resumeCursor() const;
    std::uint64_t packetsPublished() const { return m_packetSeq; }

    // Space for the next batch. In a ring whose producer may wait (Lossless, Backpressured) waits
    // for the slowest live lossless consumer, at most `timeoutNs`; returns an empty span on
    // timeout so the caller can check for shutdown (or, a collector, serve its sockets). Never
    // waits for a best-effort consumer (it is lapped) nor in a live ring.
    std::span<std::byte> beginBatch(std::uint64_t timeoutNs);
    // Publishes the first `payloadBytes` bytes (`packets` records) of the last beginBatch() span,
    // with `cursor` (<= PRODUCER_CURSOR_BYTES) as the producer's resume point.
    void publish(std::uint32_t payloadBytes, std::uint32_t packets, const BatchMeta& meta,
                 std::span<const std::uint8_t> cursor = {});
    // Marks the end of the stream: consumers that have read everything then see end-of-stream.
    void finish();
    // Keeps the heartbeat fresh while idle (publish() does it too).
    void heartbeat();
    // Kernel/source drop counters, shown with the ring's counters in status.
    void reportSourceDrops(std::uint64_t drops, std::uint64_t ifDrops);

    const RingSegment& segment() const { return m_segment; }

  private:
    bool waitForSpace(std::uint64_t needEnd, std::uint64_t timeoutNs);
    std::uint64_t slowestConsumer(std::uint64_t needEnd, std::uint64_t nowNs);
    void advanceTail(std::uint64_t newTailFloor);
    void accountHeld(std::uint64_t nowNs, bool stillBlocked);

    RingSegment m_segment;
    std::uint32_t m_maxPayload = 0;
    std::uint64_t m_writePos = 0;
    std::uint64_t m_packetSeq = 0;
    std::uint64_t m_byteSeq = 0;
    std::uint64_t m_batchSeq = 0;
    std::uint64_t m_generation = 0;
    std::uint64_t m_reservedAt = 0;  // batch start of the open beginBatch(), ~0 if none
    std::uint64_t m_cachedMinCommitted = 0;
    std::uint64_t m_orphanSince[CONSUMER_SLOTS] = {};  // when a slot was first seen ownerless
    bool m_orphanSkipped[CONSUMER_SLOTS] = {};
    std::uint64_t m_blockers = 0;     // slots below the floor at the last look (bit per slot)
    std::uint64_t m_heldBy = 0;       // the blockers being charged since m_heldSinceNs
    std::uint64_t m_heldSinceNs = 0;  // 0: not blocked
    static_assert(CONSUMER_SLOTS <= 64, "one bit per slot");
};

}  // namespace pushcap::router
