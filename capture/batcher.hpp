// Packs PCAP records into ring batches for the capture process (the ring's single producer).
//
// A batch holds one source id, one link type and one snaplen (router/ring_layout.hpp), so a
// record for another (source, link type) publishes the open batch first. Records are written
// straight into the ring's reserved space: reserve() -> fill 16-byte header + data -> commit(), or
// many at once: space() -> fill -> commitRecords(). The per-packet calls never allocate, log or
// throw.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "router/ring_writer.hpp"

namespace pushcap::capture {

// Whoever can say where a restarted producer should resume (the file source does). Asked once per
// published batch, after the batch's last commit().
class CursorProvider {
  public:
    virtual ~CursorProvider() = default;
    // Writes the cursor to `out` and returns its length (<= router::PRODUCER_CURSOR_BYTES).
    virtual std::size_t writeCursor(std::span<std::uint8_t> out) const = 0;
};

struct BatcherStats {
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;  // captured bytes
    std::uint64_t batches = 0;
    std::uint64_t ringFull = 0;   // records dropped for want of room (OnFull::Drop)
    std::uint64_t held = 0;       // times a reserve found no room and the caller held on
    std::uint64_t truncated = 0;  // records cut to fit the largest batch
};

// What reserve()/space() do when the ring has no room for a new batch.
enum class OnFull {
    WaitUntilStop,  // stored files: wait (in slices of waitNs) until there is room or a stop
    Hold,           // sockets: wait at most waitNs once, then return nothing; the caller keeps
                    // the packet and stops reading, so TCP slows the sender (nothing is dropped)
    Drop,           // an interface: never wait; the record is dropped and counted (ringFull)
};

class Batcher {
  public:
    Batcher(router::RingWriter& writer, OnFull onFull, std::uint64_t waitNs,
            const std::atomic<bool>& stop);

    void setCursorProvider(const CursorProvider* provider) { m_cursor = provider; }

    // Space for one record of `captured` bytes (plus its 16-byte header). Returns nullptr if the
    // ring had no space (see OnFull); `captured` may be lowered to what fits in an empty batch.
    std::byte* reserve(const router::BatchMeta& meta, std::uint32_t& captured) noexcept;
    void commit(std::uint32_t captured) noexcept {
        m_used += static_cast<std::uint32_t>(sizeof(router::PcapRecordHeader)) + captured;
        ++m_packets;
        m_stats.bytes += captured;
    }
    // Bulk filling, for a source whose records arrive already framed (a pcap file): the free part
    // of the open batch for records of `meta`, opening one if needed (publishing the open one
    // first if its meta differs). Empty if the ring had no space before a stop was requested or
    // the wait expired. Records written there are taken with commitRecords().
    std::span<std::byte> space(const router::BatchMeta& meta) noexcept;
    // Takes `bytes` at the start of space(): `packets` whole records with `captured` data bytes.
    void commitRecords(std::uint32_t bytes, std::uint32_t packets,
                       std::uint64_t captured) noexcept {
        m_used += bytes;
        m_packets += packets;
        m_stats.bytes += captured;
    }
    // Publishes the open batch, if it has records.
    void flush();
    // Publishes the open batch, then an empty batch carrying `meta` (e.g. a session end). False
    // if the ring had no space (Drop: the marker is lost, workers fall back to idle close;
    // Hold: the caller tries again later).
    bool mark(const router::BatchMeta& meta);
    bool pending() const { return m_packets != 0; }
    // CLOCK_MONOTONIC ns when the open batch got its first record (0 if none).
    std::uint64_t openedAtNs() const { return m_packets ? m_openedAt : 0; }
    std::uint32_t maxCaptured() const { return m_maxPayload - sizeof(router::PcapRecordHeader); }
    const BatcherStats& stats() const { return m_stats; }
    router::RingWriter& writer() { return m_writer; }
    OnFull onFull() const { return m_onFull; }

  private:
    bool open() noexcept;
    void noRoom() noexcept;

    router::RingWriter& m_writer;
    std::uint64_t m_waitNs;
    OnFull m_onFull;
    const std::atomic<bool>& m_stop;
    const CursorProvider* m_cursor = nullptr;
    std::span<std::byte> m_space;
    router::BatchMeta m_meta;
    std::uint32_t m_maxPayload;
    std::uint32_t m_used = 0;
    std::uint32_t m_packets = 0;
    std::uint64_t m_openedAt = 0;
    BatcherStats m_stats;
    std::array<std::uint8_t, router::PRODUCER_CURSOR_BYTES> m_cursorBytes{};
};

std::uint64_t monotonicNowNs() noexcept;

}  // namespace pushcap::capture
