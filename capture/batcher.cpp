#include "capture/batcher.hpp"

#include <time.h>

#include <algorithm>

namespace pushcap::capture {

std::uint64_t monotonicNowNs() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::uint64_t(ts.tv_sec) * 1'000'000'000ULL + std::uint64_t(ts.tv_nsec);
}

Batcher::Batcher(router::RingWriter& writer, OnFull onFull, std::uint64_t waitNs,
                 const std::atomic<bool>& stop)
    : m_writer(writer),
      m_waitNs(onFull == OnFull::Drop ? 0 : waitNs),
      m_onFull(onFull),
      m_stop(stop),
      m_maxPayload(writer.maxPayload()) {}

bool Batcher::open() noexcept {
    for (;;) {
        // beginBatch only throws on misuse (publish without reservation), never here.
        m_space = m_writer.beginBatch(m_waitNs);
        if (!m_space.empty())
            return true;
        if (m_onFull != OnFull::WaitUntilStop || m_stop.load(std::memory_order_relaxed))
            return false;
    }
}

void Batcher::noRoom() noexcept {
    if (m_onFull == OnFull::Hold)
        ++m_stats.held;
    else
        ++m_stats.ringFull;
}

std::byte* Batcher::reserve(const router::BatchMeta& meta, std::uint32_t& captured) noexcept {
    const std::uint32_t limit = maxCaptured();
    if (captured > limit) {
        captured = limit;
        ++m_stats.truncated;
    }
    const std::uint32_t need =
        static_cast<std::uint32_t>(sizeof(router::PcapRecordHeader)) + captured;
    if (m_packets != 0 && (meta.sourceId != m_meta.sourceId || meta.linkType != m_meta.linkType ||
                           meta.snaplen != m_meta.snaplen || meta.session != m_meta.session ||
                           meta.flags != m_meta.flags || m_used + need > m_maxPayload)) {
        flush();
    }
    if (m_packets == 0) {
        if (m_space.empty() && !open()) {
            noRoom();
            return nullptr;
        }
        m_meta = meta;
        m_openedAt = monotonicNowNs();
    }
    return m_space.data() + m_used;
}

std::span<std::byte> Batcher::space(const router::BatchMeta& meta) noexcept {
    // A batch without room for another record header is published first, so the span returned
    // is empty only when no batch could be had.
    if (m_packets != 0 && (meta.sourceId != m_meta.sourceId || meta.linkType != m_meta.linkType ||
                           meta.snaplen != m_meta.snaplen ||
                           m_used + sizeof(router::PcapRecordHeader) > m_maxPayload)) {
        flush();
    }
    if (m_packets == 0) {
        if (m_space.empty() && !open()) {
            noRoom();
            return {};
        }
        m_meta = meta;
        m_openedAt = monotonicNowNs();
    }
    return m_space.subspan(m_used, m_maxPayload - m_used);
}

void Batcher::flush() {
    if (m_packets == 0)
        return;
    std::size_t cursorLen = 0;
    if (m_cursor != nullptr)
        cursorLen = m_cursor->writeCursor(m_cursorBytes);
    m_writer.publish(m_used, m_packets, m_meta,
                     std::span<const std::uint8_t>(m_cursorBytes.data(), cursorLen));
    m_stats.packets += m_packets;
    ++m_stats.batches;
    m_space = {};
    m_used = 0;
    m_packets = 0;
}

bool Batcher::mark(const router::BatchMeta& meta) {
    flush();
    if (m_space.empty() && !open())
        return false;
    std::size_t cursorLen = 0;
    if (m_cursor != nullptr)
        cursorLen = m_cursor->writeCursor(m_cursorBytes);
    m_writer.publish(0, 0, meta, std::span<const std::uint8_t>(m_cursorBytes.data(), cursorLen));
    ++m_stats.batches;
    m_space = {};
    return true;
}

}  // namespace pushcap::capture
