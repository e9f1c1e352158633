#include "router/ring_reader.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "router/atomic_field.hpp"
#include "router/futex.hpp"
#include "router/process_identity.hpp"
#include "router/ring_error.hpp"

namespace pushcap::router {
namespace {

constexpr int SPIN_ROUNDS =
    100;  // a moment before sleeping; more steals the CPU the producer needs

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

bool producerFinished(const RingHeader& h) {
    return loadAcquire(h.producer_state) == static_cast<std::uint32_t>(ProducerState::Finished);
}

}  // namespace

RingReader::RingReader(const std::string& segmentName, const std::string& consumerName,
                       StartAt start, Delivery delivery, std::span<const std::uint16_t> sources)
    : m_segment(RingSegment::open(segmentName)) {
    if (sources.size() > TRACKED_SOURCES) {
        throw RingError("ring " + segmentName + ": consumer '" + consumerName + "' names " +
                        std::to_string(sources.size()) + " sources; at most " +
                        std::to_string(TRACKED_SOURCES) + " (or none: every source)");
    }
    RingHeader& h = m_segment.header();
    const std::uint64_t startPos =
        start == StartAt::Oldest ? loadAcquire(h.tail_pos) : loadAcquire(h.write_pos);
    m_slot = &m_segment.slot(m_segment.claimSlot(consumerName, startPos, delivery));

    const ProcessIdentity self = selfIdentity();
    std::uint32_t current = loadAcquire(m_slot->owner_pid);
    ProcessIdentity owner{current, loadAcquire(m_slot->owner_start)};
    if (current != 0 && current != self.pid && isAlive(owner)) {
        throw RingError("ring " + segmentName + ": consumer '" + consumerName +
                        "' is already attached by running pid " + std::to_string(current));
    }
    if (!atomicRef(m_slot->owner_pid).compare_exchange_strong(current, self.pid)) {
        throw RingError("ring " + segmentName + ": consumer '" + consumerName +
                        "' was taken over by another process at the same moment");
    }
    storeRelease(m_slot->owner_start, self.start);
    addRelaxed(m_slot->attaches, 1ULL);

    const ConsumerCommit rec = readCommit(*m_slot);
    m_cursor = m_committed = rec.position;
    m_nextPacketSeq = rec.next_packet_seq;
    m_nextByteSeq = rec.next_byte_seq;
    std::copy(std::begin(rec.counters), std::end(rec.counters), m_counters);
    const std::uint32_t blobLen = std::min<std::uint32_t>(rec.blob_len, CONSUMER_BLOB_BYTES);
    m_resumeBlob.assign(rec.blob, rec.blob + blobLen);
    resumeSources(rec, sources);
    if (m_cursor % BATCH_ALIGN != 0 || m_cursor > loadAcquire(h.write_pos)) {
        // A slot from another ring generation or a damaged one: start over at the oldest data.
        ++m_counters[COUNTER_CORRUPT_BATCHES];
        m_cursor = loadAcquire(h.tail_pos);
        m_nextPacketSeq = m_nextByteSeq = UNKNOWN_SEQ;
        for (std::uint32_t i = 0; i < m_sourceCount; ++i)
            m_sources[i].next_packet_seq = m_sources[i].next_byte_seq = UNKNOWN_SEQ;
    }
    storeRelease(m_slot->read_pos, m_cursor);
    heartbeat();
}

void RingReader::resumeSources(const ConsumerCommit& rec, std::span<const std::uint16_t> sources) {
    // Position 0 is the start of the ring's life, where every source's sequence numbers are 0: a
    // consumer starting there counts what is overwritten before its first read as lost. (The
    // ring-wide numbers are set when the slot is claimed, see RingSegment::claimSlot.)
    const bool fromStart = rec.position == 0;
    const std::uint32_t kept = std::min(rec.source_count, TRACKED_SOURCES);
    for (std::uint16_t id : sources) {
        if (sourceCursor(id) != nullptr)
            continue;  // named twice
        SourceCursor& c = m_sources[m_sourceCount++];
        c = SourceCursor{id, 0, fromStart ? 0 : UNKNOWN_SEQ, fromStart ? 0 : UNKNOWN_SEQ};
        for (std::uint32_t i = 0; i < kept; ++i) {
            if (rec.sources[i].source_id == id) {
                c.next_packet_seq = rec.sources[i].next_packet_seq;
                c.next_byte_seq = rec.sources[i].next_byte_seq;
            }
        }
    }
}

SourceCursor* RingReader::sourceCursor(std::uint16_t sourceId) {
    for (std::uint32_t i = 0; i < m_sourceCount; ++i) {
        if (m_sources[i].source_id == sourceId)
            return &m_sources[i];
    }
    return nullptr;
}

bool RingReader::wants(std::uint16_t sourceId) const {
    if (m_sourceCount == 0)
        return true;
    for (std::uint32_t i = 0; i < m_sourceCount; ++i) {
        if (m_sources[i].source_id == sourceId)
            return true;
    }
    return false;
}

RingReader::~RingReader() {
    std::uint32_t self = selfIdentity().pid;
    atomicRef(m_slot->owner_pid).compare_exchange_strong(self, 0u);
}

std::vector<std::uint8_t> RingReader::resumeBlob() const {
    return m_resumeBlob;
}

std::uint64_t RingReader::resumeCounter(std::uint32_t index) const {
    return index < CONSUMER_COUNTERS ? m_counters[index] : 0;
}

void RingReader::heartbeat() {
    m_lastHeartbeatNs = monotonicNs();
    storeRelaxed(m_slot->heartbeat_ns, m_lastHeartbeatNs);
}

Delivery RingReader::delivery() const {
    return loadAcquire(m_slot->delivery) == static_cast<std::uint32_t>(Delivery::BestEffort)
               ? Delivery::BestEffort
               : Delivery::Lossless;
}

bool RingReader::producerAlive() const {
    const RingHeader& h = m_segment.header();
    return isAlive(ProcessIdentity{loadAcquire(h.producer_pid), loadAcquire(h.producer_start)});
}

bool RingReader::waitForData(std::uint64_t timeoutNs) {
    RingHeader& h = m_segment.header();
    for (int i = 0; i < SPIN_ROUNDS; ++i) {
        if (loadAcquire(h.write_pos) != m_cursor || producerFinished(h))
            return true;
        cpuRelax();
    }
    fetchAdd(h.data_waiters, 1u);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const std::uint32_t seq = loadAcquire(h.data_seq);
    if (loadAcquire(h.write_pos) == m_cursor && !producerFinished(h)) {
        futexWait(&h.data_seq, seq, timeoutNs);
    }
    fetchAdd(h.data_waiters, ~0u);  // -1
    heartbeat();
    return loadAcquire(h.write_pos) != m_cursor || producerFinished(h);
}

void RingReader::skipTo(std::uint64_t position) {
    // The sequence numbers of the next good batch tell exactly what was skipped.
    m_cursor = position;
}

void RingReader::catchUpLoss() {
    const RingHeader& h = m_segment.header();
    const std::uint64_t g1 = loadAcquire(h.producer_commit_generation);
    ProducerCommit rec;
    std::memcpy(&rec, &h.producer_commit[g1 & 1], sizeof rec);
    SourceSeq published[TRACKED_SOURCES];
    for (std::uint32_t i = 0; i < m_sourceCount; ++i) {
        const std::uint16_t id = static_cast<std::uint16_t>(m_sources[i].source_id);
        if (rec.last_source == std::uint32_t(id) + 1) {
            // The table entry of the last batch's source may lag the commit (see ProducerCommit).
            published[i] = SourceSeq{rec.last_source_packet_seq, rec.last_source_byte_seq};
        } else {
            const SourceSeq& s = m_segment.sourceSeq(id);
            published[i] = SourceSeq{loadAcquire(s.packet_seq), loadAcquire(s.byte_seq)};
        }
    }
    std::atomic_thread_fence(std::memory_order_acquire);
    if (loadAcquire(h.producer_commit_generation) != g1 || rec.write_pos != m_cursor)
        return;  // the producer moved on: its next batch's sequence numbers will tell
    if (m_sourceCount == 0)
        addLoss(rec.packet_seq, m_nextPacketSeq, rec.byte_seq, m_nextByteSeq);
    m_nextPacketSeq = rec.packet_seq;
    m_nextByteSeq = rec.byte_seq;
    for (std::uint32_t i = 0; i < m_sourceCount; ++i) {
        SourceCursor& c = m_sources[i];
        addLoss(published[i].packet_seq, c.next_packet_seq, published[i].byte_seq, c.next_byte_seq);
        c.next_packet_seq = published[i].packet_seq;
        c.next_byte_seq = published[i].byte_seq;
    }
}

NextStatus RingReader::next(BatchView& view, std::uint64_t timeoutNs) {
    const RingHeader& h = m_segment.header();
    const std::uint64_t cap = m_segment.capacity();
    bool waited = false;
    for (;;) {
        const std::uint64_t w = loadAcquire(h.write_pos);
        if (m_cursor == w) {
            catchUpLoss();
            if (producerFinished(h) && loadAcquire(h.write_pos) == m_cursor)
                return NextStatus::EndOfStream;
            if (waited)
                return NextStatus::Timeout;
            waited = true;
            if (!waitForData(timeoutNs))
                return NextStatus::Timeout;
            continue;
        }
        const std::uint64_t tail = loadAcquire(h.tail_pos);
        if (m_cursor < tail || m_cursor > w) {
            ++m_counters[COUNTER_LAPS];
            skipTo(tail);
            continue;
        }
        const std::uint64_t offset = m_cursor & m_segment.mask();
        BatchHeader b;
        std::memcpy(&b, m_segment.data() + offset, sizeof b);
        std::atomic_thread_fence(std::memory_order_acquire);
        if (m_cursor < loadAcquire(h.tail_pos))
            continue;  // overwritten while we read it

        if (b.magic == PAD_MAGIC && b.length == cap - offset && m_cursor + b.length <= w) {
            m_cursor += b.length;
            continue;
        }
        const bool sane =
            b.magic == BATCH_MAGIC && b.length >= BATCH_ALIGN && b.length % BATCH_ALIGN == 0 &&
            offset + b.length <= cap && m_cursor + b.length <= w &&
            b.payload_bytes <= b.length - sizeof(BatchHeader) &&
            b.length == roundUp(sizeof(BatchHeader) + b.payload_bytes, BATCH_ALIGN) &&
            std::uint64_t(b.packet_count) * sizeof(PcapRecordHeader) <= b.payload_bytes;
        if (!sane) {
            ++m_counters[COUNTER_CORRUPT_BATCHES];
            skipTo(w);
            continue;
        }
        view.payload = m_segment.data() + offset + sizeof(BatchHeader);
        view.payloadBytes = b.payload_bytes;
        view.packets = b.packet_count;
        view.linkType = b.link_type;
        view.snaplen = b.snaplen;
        view.sourceId = b.source_id;
        view.session = b.source_session;
        view.flags = b.flags;
        view.position = m_cursor;
        view.end = m_cursor + b.length;
        view.firstPacketSeq = b.first_packet_seq;
        view.firstByteSeq = b.first_byte_seq;
        view.firstSourcePacketSeq = b.first_source_packet_seq;
        view.firstSourceByteSeq = b.first_source_byte_seq;
        return NextStatus::Batch;
    }
}

void RingReader::addLoss(std::uint64_t firstPacket, std::uint64_t nextPacket,
                         std::uint64_t firstByte, std::uint64_t nextByte) {
    if (nextPacket != UNKNOWN_SEQ && firstPacket > nextPacket) {
        m_counters[COUNTER_PACKETS_LOST] += firstPacket - nextPacket;
        if (firstByte > nextByte)
            m_counters[COUNTER_BYTES_LOST] += firstByte - nextByte;
    }
}

void RingReader::account(const BatchView& view, std::uint32_t packets, std::uint64_t captured) {
    if (m_sourceCount == 0)
        addLoss(view.firstPacketSeq, m_nextPacketSeq, view.firstByteSeq, m_nextByteSeq);
    m_nextPacketSeq = view.firstPacketSeq + packets;
    m_nextByteSeq = view.firstByteSeq + captured;
    if (m_sourceCount != 0) {
        SourceCursor* c = sourceCursor(view.sourceId);
        if (c == nullptr)
            return;  // not this consumer's source: neither read nor lost
        addLoss(view.firstSourcePacketSeq, c->next_packet_seq, view.firstSourceByteSeq,
                c->next_byte_seq);
        c->next_packet_seq = view.firstSourcePacketSeq + packets;
        c->next_byte_seq = view.firstSourceByteSeq + captured;
    }
    m_counters[COUNTER_PACKETS_READ] += packets;
    m_counters[COUNTER_BYTES_READ] += captured;
}

bool RingReader::finish(const BatchView& view) {
    std::atomic_thread_fence(std::memory_order_acquire);
    const std::uint64_t tail = loadAcquire(m_segment.header().tail_pos);
    if (view.position < tail) {
        ++m_counters[COUNTER_LAPS];
        skipTo(tail);
        return false;
    }
    account(view, view.packets,
            view.payloadBytes - std::uint64_t(view.packets) * sizeof(PcapRecordHeader));
    m_cursor = view.end;
    storeRelaxed(m_slot->read_pos, m_cursor);
    return true;
}

void RingReader::keptBeforeLap(const BatchView& view, std::uint32_t packets,
                               std::uint64_t capturedBytes) {
    if (packets != 0 && packets <= view.packets)
        account(view, packets, capturedBytes);
}

void RingReader::commit(std::span<const std::uint8_t> blob,
                        std::span<const std::uint64_t> appCounters) {
    if (blob.size() > CONSUMER_BLOB_BYTES ||
        appCounters.size() > CONSUMER_COUNTERS - COUNTER_FIRST_APP) {
        throw RingError("ring " + m_segment.name() + ": commit blob or counters too large");
    }
    for (std::size_t i = 0; i < appCounters.size(); ++i)
        m_counters[COUNTER_FIRST_APP + i] = appCounters[i];
    const std::uint64_t gen = loadRelaxed(m_slot->commit_generation);
    ConsumerCommit& rec = m_slot->commit[(gen + 1) & 1];
    rec.position = m_cursor;
    rec.next_packet_seq = m_nextPacketSeq;
    rec.next_byte_seq = m_nextByteSeq;
    std::memcpy(rec.counters, m_counters, sizeof rec.counters);
    rec.source_count = m_sourceCount;
    std::memcpy(rec.sources, m_sources, sizeof(SourceCursor) * m_sourceCount);
    rec.blob_len = static_cast<std::uint32_t>(blob.size());
    if (!blob.empty())
        std::memcpy(rec.blob, blob.data(), blob.size());
    storeRelease(m_slot->commit_generation, gen + 1);
    storeRelease(m_slot->committed_pos, m_cursor);
    m_committed = m_cursor;

    RingHeader& h = m_segment.header();
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (loadRelaxed(h.space_waiters) != 0) {
        fetchAdd(h.space_seq, 1u);
        futexWakeAll(&h.space_seq);
    }
    if (monotonicNs() - m_lastHeartbeatNs > 100'000'000)
        heartbeat();
}

ReaderCounters RingReader::counters() const {
    return ReaderCounters{m_counters[COUNTER_PACKETS_READ], m_counters[COUNTER_BYTES_READ],
                          m_counters[COUNTER_PACKETS_LOST], m_counters[COUNTER_BYTES_LOST],
                          m_counters[COUNTER_LAPS],         m_counters[COUNTER_CORRUPT_BATCHES]};
}

}  // namespace pushcap::router
