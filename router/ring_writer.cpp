#include "router/ring_writer.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "router/atomic_field.hpp"
#include "router/futex.hpp"
#include "router/process_identity.hpp"
#include "router/ring_error.hpp"

namespace pushcap::router {
namespace {

constexpr std::uint64_t NO_RESERVATION = ~0ULL;
constexpr std::uint64_t WAIT_SLICE_NS = 50'000'000;  // re-check consumer liveness this often

void wakeConsumers(RingHeader& h) {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (loadRelaxed(h.data_waiters) != 0) {
        fetchAdd(h.data_seq, 1u);
        futexWakeAll(&h.data_seq);
    }
}

}  // namespace

RingWriter::RingWriter(const std::string& segmentName) : m_segment(RingSegment::open(segmentName)) {
    RingHeader& h = m_segment.header();
    const ProcessIdentity self = selfIdentity();
    std::uint32_t current = loadAcquire(h.producer_pid);
    ProcessIdentity holder{current, loadAcquire(h.producer_start)};
    if (current != 0 && current != self.pid && isAlive(holder)) {
        throw RingError("ring " + segmentName + ": already has a running producer (pid " +
                        std::to_string(current) + ")");
    }
    if (!atomicRef(h.producer_pid).compare_exchange_strong(current, self.pid)) {
        throw RingError("ring " + segmentName + ": another producer attached at the same moment");
    }
    storeRelease(h.producer_start, self.start);
    m_generation = fetchAdd(h.producer_generation, 1ULL) + 1;
    addRelaxed(h.producer_attaches, 1ULL);

    // The commit record is authoritative: write_pos is stored after it, so it can only lag.
    const ProducerCommit last = readProducerCommit(h);
    m_writePos = last.write_pos;
    m_packetSeq = last.packet_seq;
    m_byteSeq = last.byte_seq;
    m_batchSeq = last.batch_seq;
    if (last.last_source != 0) {
        // The table entry of the last batch's source is stored after its commit: repair it in
        // case the previous producer died between the two.
        SourceSeq& s = m_segment.sourceSeq(static_cast<std::uint16_t>(last.last_source - 1));
        storeRelease(s.packet_seq, last.last_source_packet_seq);
        storeRelease(s.byte_seq, last.last_source_byte_seq);
    }
    if (loadAcquire(h.write_pos) != m_writePos)
        storeRelease(h.write_pos, m_writePos);
    if (m_writePos % BATCH_ALIGN != 0 || loadAcquire(h.tail_pos) > m_writePos) {
        throw RingError("ring " + segmentName + ": producer commit record is inconsistent");
    }
    m_maxPayload = h.max_batch_bytes - static_cast<std::uint32_t>(sizeof(BatchHeader));
    m_reservedAt = NO_RESERVATION;
    storeRelease(h.producer_state, static_cast<std::uint32_t>(ProducerState::Running));
    heartbeat();
}

RingWriter::~RingWriter() {
    RingHeader& h = m_segment.header();
    std::uint32_t self = selfIdentity().pid;
    atomicRef(h.producer_pid).compare_exchange_strong(self, 0u);
    wakeConsumers(h);
}

std::vector<std::uint8_t> RingWriter::resumeCursor() const {
    const ProducerCommit last = readProducerCommit(m_segment.header());
    std::uint32_t len = std::min<std::uint32_t>(last.cursor_len, PRODUCER_CURSOR_BYTES);
    return std::vector<std::uint8_t>(last.cursor, last.cursor + len);
}

void RingWriter::heartbeat() {
    storeRelaxed(m_segment.header().producer_heartbeat_ns, monotonicNs());
}

void RingWriter::reportSourceDrops(std::uint64_t drops, std::uint64_t ifDrops) {
    storeRelaxed(m_segment.header().source_drops, drops);
    storeRelaxed(m_segment.header().source_if_drops, ifDrops);
}

std::uint64_t RingWriter::slowestConsumer(std::uint64_t floor, std::uint64_t nowNs) {
    RingHeader& h = m_segment.header();
    std::uint64_t slowest = ~0ULL;
    m_blockers = 0;
    for (std::uint32_t i = 0; i < CONSUMER_SLOTS; ++i) {
        ConsumerSlot& s = m_segment.slot(i);
        if (loadAcquire(s.state) != static_cast<std::uint32_t>(SlotState::Active) ||
            loadAcquire(s.delivery) == static_cast<std::uint32_t>(Delivery::BestEffort)) {
            m_orphanSince[i] = 0;
            m_orphanSkipped[i] = false;
            continue;
        }
        const std::uint64_t committed = loadAcquire(s.committed_pos);
        if (committed >= floor) {
            slowest = std::min(slowest, committed);
            continue;
        }
        ProcessIdentity owner{loadAcquire(s.owner_pid), loadAcquire(s.owner_start)};
        if (isAlive(owner)) {
            m_orphanSince[i] = 0;
            m_orphanSkipped[i] = false;
            slowest = std::min(slowest, committed);
            m_blockers |= 1ULL << i;
            continue;
        }
        // No live owner: wait for a restart up to the grace, then stop waiting (and say so).
        if (m_orphanSince[i] == 0)
            m_orphanSince[i] = nowNs;
        if (nowNs - m_orphanSince[i] >= h.dead_consumer_grace_ns) {
            if (!m_orphanSkipped[i]) {
                m_orphanSkipped[i] = true;
                addRelaxed(s.skipped_by_producer, 1ULL);
                addRelaxed(h.dead_consumer_skips, 1ULL);
            }
            continue;
        }
        slowest = std::min(slowest, committed);
        m_blockers |= 1ULL << i;
    }
    return slowest;
}

void RingWriter::accountHeld(std::uint64_t nowNs, bool stillBlocked) {
    // Time with no room is charged to the consumers that were holding the producer back, from
    // one look at the slots to the next, across beginBatch() calls (a collector comes back to
    // retry between its socket work, and that time is held too).
    RingHeader& h = m_segment.header();
    if (m_heldSinceNs != 0 && nowNs > m_heldSinceNs) {
        const std::uint64_t delta = nowNs - m_heldSinceNs;
        addRelaxed(h.producer_wait_ns, delta);
        for (std::uint64_t mask = m_heldBy; mask != 0; mask &= mask - 1)
            addRelaxed(
                m_segment.slot(static_cast<std::uint32_t>(__builtin_ctzll(mask))).held_source_ns,
                delta);
    }
    m_heldSinceNs = stillBlocked ? nowNs : 0;
    m_heldBy = stillBlocked ? m_blockers : 0;
}

bool RingWriter::waitForSpace(std::uint64_t needEnd, std::uint64_t timeoutNs) {
    const std::uint64_t floor = needEnd - m_segment.capacity();
    if (m_cachedMinCommitted >= floor)
        return true;
    RingHeader& h = m_segment.header();
    const std::uint64_t start = monotonicNs();
    bool counted = false;
    for (;;) {
        std::uint64_t now = monotonicNs();
        std::uint64_t slowest = slowestConsumer(floor, now);
        accountHeld(now, slowest < floor);
        if (slowest >= floor) {
            // With no consumer at all, `slowest` is infinite: cap it so a consumer that attaches
            // later is waited for again.
            m_cachedMinCommitted = std::min(slowest, m_writePos);
            return true;
        }
        if (now - start >= timeoutNs)
            return false;
        if (!counted) {
            addRelaxed(h.producer_waits, 1ULL);
            counted = true;
        }
        heartbeat();
        fetchAdd(h.space_waiters, 1u);
        std::atomic_thread_fence(std::memory_order_seq_cst);
        std::uint32_t seq = loadAcquire(h.space_seq);
        // Re-check after announcing ourselves, so a commit in between is not missed.
        if (slowestConsumer(floor, now) < floor) {
            futexWait(&h.space_seq, seq, std::min(WAIT_SLICE_NS, timeoutNs - (now - start)));
        }
        fetchAdd(h.space_waiters, ~0u);  // -1
    }
}

void RingWriter::advanceTail(std::uint64_t floor) {
    RingHeader& h = m_segment.header();
    std::uint64_t tail = loadRelaxed(h.tail_pos);
    if (tail >= floor)
        return;
    const std::uint64_t cap = m_segment.capacity();
    while (tail < floor) {
        const auto* b =
            reinterpret_cast<const BatchHeader*>(m_segment.data() + (tail & m_segment.mask()));
        const bool sane = (b->magic == BATCH_MAGIC || b->magic == PAD_MAGIC) &&
                          b->length >= BATCH_ALIGN && b->length % BATCH_ALIGN == 0 &&
                          (tail & m_segment.mask()) + b->length <= cap;
        if (!sane || tail + b->length > m_writePos) {
            tail = m_writePos;  // cannot walk our own batches: drop everything published so far
            break;
        }
        tail += b->length;
    }
    storeRelease(h.tail_pos, tail);
    // Readers check tail_pos after reading; the data stores below must not pass the store above.
    std::atomic_thread_fence(std::memory_order_seq_cst);
}

std::span<std::byte> RingWriter::beginBatch(std::uint64_t timeoutNs) {
    const std::uint64_t cap = m_segment.capacity();
    const std::uint64_t need = m_segment.header().max_batch_bytes;
    const std::uint64_t offset = m_writePos & m_segment.mask();
    const std::uint64_t pad = offset + need > cap ? cap - offset : 0;
    const std::uint64_t start = m_writePos + pad;
    const std::uint64_t end = start + need;
    if (m_reservedAt == NO_RESERVATION) {
        if (end > cap) {
            if (producerMayWait(mode()) && !waitForSpace(end, timeoutNs))
                return {};
            advanceTail(end - cap);
        }
        if (pad != 0) {
            auto* p = reinterpret_cast<BatchHeader*>(m_segment.data() + offset);
            std::memset(p, 0, sizeof *p);
            p->magic = PAD_MAGIC;
            p->length = static_cast<std::uint32_t>(pad);
            p->producer_generation = m_generation;
        }
        m_reservedAt = m_writePos;
    }
    return {m_segment.data() + (start & m_segment.mask()) + sizeof(BatchHeader), m_maxPayload};
}

void RingWriter::publish(std::uint32_t payloadBytes, std::uint32_t packets, const BatchMeta& meta,
                         std::span<const std::uint8_t> cursor) {
    if (m_reservedAt == NO_RESERVATION || payloadBytes > m_maxPayload ||
        cursor.size() > PRODUCER_CURSOR_BYTES ||
        std::uint64_t(packets) * sizeof(PcapRecordHeader) > payloadBytes) {
        throw RingError("ring " + m_segment.name() +
                        ": publish() without beginBatch() or out of bounds");
    }
    RingHeader& h = m_segment.header();
    const std::uint64_t cap = m_segment.capacity();
    const std::uint64_t offset = m_writePos & m_segment.mask();
    const std::uint64_t pad = offset + h.max_batch_bytes > cap ? cap - offset : 0;
    const std::uint64_t start = m_writePos + pad;
    const std::uint32_t length =
        static_cast<std::uint32_t>(roundUp(sizeof(BatchHeader) + payloadBytes, BATCH_ALIGN));
    const std::uint64_t captured = payloadBytes - std::uint64_t(packets) * sizeof(PcapRecordHeader);

    auto* b = reinterpret_cast<BatchHeader*>(m_segment.data() + (start & m_segment.mask()));
    b->magic = BATCH_MAGIC;
    b->length = length;
    b->payload_bytes = payloadBytes;
    b->packet_count = packets;
    b->link_type = meta.linkType;
    b->snaplen = meta.snaplen;
    b->source_id = meta.sourceId;
    b->source_session = meta.session;
    b->flags = meta.flags;
    b->first_packet_seq = m_packetSeq;
    b->first_byte_seq = m_byteSeq;
    b->producer_generation = m_generation;
    b->reserved2 = 0;
    SourceSeq& src = m_segment.sourceSeq(meta.sourceId);
    const std::uint64_t srcPackets = loadRelaxed(src.packet_seq);
    const std::uint64_t srcBytes = loadRelaxed(src.byte_seq);
    b->first_source_packet_seq = srcPackets;
    b->first_source_byte_seq = srcBytes;
    std::memset(b->reserved3, 0, sizeof b->reserved3);

    m_writePos = start + length;
    m_packetSeq += packets;
    m_byteSeq += captured;
    ++m_batchSeq;
    m_reservedAt = NO_RESERVATION;

    const std::uint64_t gen = loadRelaxed(h.producer_commit_generation);
    ProducerCommit& rec = h.producer_commit[(gen + 1) & 1];
    rec.write_pos = m_writePos;
    rec.packet_seq = m_packetSeq;
    rec.byte_seq = m_byteSeq;
    rec.batch_seq = m_batchSeq;
    rec.cursor_len = static_cast<std::uint32_t>(cursor.size());
    if (!cursor.empty())
        std::memcpy(rec.cursor, cursor.data(), cursor.size());
    rec.last_source = std::uint32_t(meta.sourceId) + 1;
    rec.last_source_packet_seq = srcPackets + packets;
    rec.last_source_byte_seq = srcBytes + captured;
    storeRelease(h.producer_commit_generation, gen + 1);
    storeRelease(src.packet_seq, rec.last_source_packet_seq);
    storeRelease(src.byte_seq, rec.last_source_byte_seq);
    storeRelease(h.write_pos, m_writePos);

    addRelaxed(h.published_packets, std::uint64_t(packets));
    addRelaxed(h.published_bytes, captured);
    addRelaxed(h.published_batches, 1ULL);
    heartbeat();
    wakeConsumers(h);
}

void RingWriter::finish() {
    RingHeader& h = m_segment.header();
    storeRelease(h.producer_state, static_cast<std::uint32_t>(ProducerState::Finished));
    fetchAdd(h.data_seq, 1u);
    futexWakeAll(&h.data_seq);
}

}  // namespace pushcap::router
