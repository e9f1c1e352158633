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
                       StartAt start, Delivery delivery)
    : m_segment(RingSegment::open(segmentName)) {
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
    if (m_cursor % BATCH_ALIGN != 0 || m_cursor > loadAcquire(h.write_pos)) {
        // A slot from another ring generation or a damaged one: start over at the oldest data.
        ++m_counters[COUNTER_CORRUPT_BATCHES];
        m_cursor = loadAcquire(h.tail_pos);
        m_nextPacketSeq = m_nextByteSeq = UNKNOWN_SEQ;
    }
    storeRelease(m_slot->read_pos, m_cursor);
    heartbeat();
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

NextStatus RingReader::next(BatchView& view, std::uint64_t timeoutNs) {
    const RingHeader& h = m_segment.header();
    const std::uint64_t cap = m_segment.capacity();
    bool waited = false;
    for (;;) {
        const std::uint64_t w = loadAcquire(h.write_pos);
        if (m_cursor == w) {
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
        return NextStatus::Batch;
    }
}

void RingReader::account(const BatchView& view, std::uint32_t packets, std::uint64_t captured) {
    if (m_nextPacketSeq != UNKNOWN_SEQ && view.firstPacketSeq > m_nextPacketSeq) {
        m_counters[COUNTER_PACKETS_LOST] += view.firstPacketSeq - m_nextPacketSeq;
        if (view.firstByteSeq > m_nextByteSeq)
            m_counters[COUNTER_BYTES_LOST] += view.firstByteSeq - m_nextByteSeq;
    }
    m_nextPacketSeq = view.firstPacketSeq + packets;
    m_nextByteSeq = view.firstByteSeq + captured;
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
