// The consumer side of a ring. Only worker processes (and tests/benchmarks) use it.
//
// A reader owns one named slot. Attaching with the name of a consumer whose process is gone takes
// its slot over and resumes at its committed position with its counters; attaching with a new
// name claims a free slot at `StartAt`.
//
// Per batch:  next() -> process view.payload in place -> finish(view) -> (now or later) commit().
// When the producer may lap this consumer (mayBeLapped()) it may overwrite a batch while it is
// being processed; finish() says so
// (returns false) and the caller must discard whatever it derived from that batch. Lost packets
// and bytes are counted exactly from the producer's sequence numbers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "router/ring_segment.hpp"

namespace pushcap::router {

struct BatchView {
    const std::byte* payload = nullptr;  // PCAP records, back to back; validated bounds only
    std::uint32_t payloadBytes = 0;
    std::uint32_t packets = 0;
    std::uint32_t linkType = 0;
    std::uint32_t snaplen = 0;
    std::uint16_t sourceId = 0;
    std::uint16_t session = 0;   // BatchHeader::source_session
    std::uint32_t flags = 0;     // BATCH_FLAG_*
    std::uint64_t position = 0;  // ring position of the batch
    std::uint64_t end = 0;       // position after it
    std::uint64_t firstPacketSeq = 0;
    std::uint64_t firstByteSeq = 0;
    std::uint64_t firstSourcePacketSeq = 0;  // the same, counting only this batch's source
    std::uint64_t firstSourceByteSeq = 0;
};

enum class NextStatus { Batch, Timeout, EndOfStream };

struct ReaderCounters {
    std::uint64_t packetsRead = 0;
    std::uint64_t bytesRead = 0;
    std::uint64_t packetsLost = 0;
    std::uint64_t bytesLost = 0;
    std::uint64_t laps = 0;
    std::uint64_t corruptBatches = 0;
};

class RingReader {
  public:
    enum class StartAt { Oldest, Newest };

    // Throws RingError if the segment is invalid, the name is bad, or a live process already owns
    // the slot.
    // `delivery` applies to a slot this claims; a slot the supervisor registered keeps its own.
    // `sources` (at most TRACKED_SOURCES ids; empty: every source) are the sources this consumer
    // keeps: only their packets count as read or lost, so a consumer of one client of many
    // counts exactly what it lost of that client.
    RingReader(const std::string& segmentName, const std::string& consumerName,
               StartAt start = StartAt::Oldest, Delivery delivery = Delivery::Lossless,
               std::span<const std::uint16_t> sources = {});
    ~RingReader();  // releases ownership; the slot and its commit stay for a successor
    RingReader(const RingReader&) = delete;
    RingReader& operator=(const RingReader&) = delete;

    // The blob and app counters committed last (empty/zero for a new slot): a restarted worker's
    // resume state.
    std::vector<std::uint8_t> resumeBlob() const;
    std::uint64_t resumeCounter(std::uint32_t index) const;
    std::uint64_t resumePosition() const { return m_committed; }

    // Waits up to `timeoutNs` for the next batch. EndOfStream once the producer has finished and
    // everything before its last batch has been read.
    NextStatus next(BatchView& view, std::uint64_t timeoutNs);
    // True if the batch stayed intact while it was processed; it is then counted as read.
    // False: it was overwritten (live mode), nothing of it may be kept; the loss is counted.
    bool finish(const BatchView& view);
    // After finish(view) returned false: the first `packets` records of `view` (`capturedBytes`
    // of packet data) were handled before the batch was overwritten, so only the rest counts as
    // lost.
    void keptBeforeLap(const BatchView& view, std::uint32_t packets, std::uint64_t capturedBytes);
    // Records that everything finished so far is durably handled, with the caller's resume blob
    // (<= CONSUMER_BLOB_BYTES) and app counters (indices >= COUNTER_FIRST_APP). In lossless mode
    // this is what lets the producer reuse the space.
    void commit(std::span<const std::uint8_t> blob = {},
                std::span<const std::uint64_t> appCounters = {});

    ReaderCounters counters() const;
    std::uint64_t position() const { return m_cursor; }
    bool producerAlive() const;
    RingMode mode() const { return m_segment.mode(); }
    Delivery delivery() const;
    // True if the producer may overwrite a batch while this consumer reads it: a live ring, or a
    // best-effort slot. Then whatever is derived from a batch is valid only if finish() says so.
    bool mayBeLapped() const {
        return !producerMayWait(mode()) || delivery() == Delivery::BestEffort;
    }
    const RingSegment& segment() const { return m_segment; }
    // Whether batches of `sourceId` are this consumer's (see the constructor's `sources`). Other
    // batches are still finish()ed, to move on, but count neither as read nor as lost.
    bool wants(std::uint16_t sourceId) const;

  private:
    void heartbeat();
    bool waitForData(std::uint64_t timeoutNs);
    void skipTo(std::uint64_t position);
    // At the ring's write position, counts as lost what was published before it and neither
    // read nor counted yet: a consumer lapped at the end of the stream sees no later batch whose
    // sequence numbers would tell.
    void catchUpLoss();
    // Counts `packets` records of `view` as read, and the gap before it as lost.
    void account(const BatchView& view, std::uint32_t packets, std::uint64_t captured);
    void addLoss(std::uint64_t firstPacket, std::uint64_t nextPacket, std::uint64_t firstByte,
                 std::uint64_t nextByte);
    SourceCursor* sourceCursor(std::uint16_t sourceId);
    void resumeSources(const ConsumerCommit& rec, std::span<const std::uint16_t> sources);

    RingSegment m_segment;
    ConsumerSlot* m_slot = nullptr;
    std::uint64_t m_cursor = 0;
    std::uint64_t m_committed = 0;
    std::uint64_t m_nextPacketSeq = UNKNOWN_SEQ;
    std::uint64_t m_nextByteSeq = UNKNOWN_SEQ;
    std::uint64_t m_counters[CONSUMER_COUNTERS] = {};
    SourceCursor m_sources[TRACKED_SOURCES] = {};
    std::uint32_t m_sourceCount = 0;  // 0: every source
    std::vector<std::uint8_t> m_resumeBlob;
    std::uint64_t m_lastHeartbeatNs = 0;
};

}  // namespace pushcap::router
