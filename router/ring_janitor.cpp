#include "router/ring_janitor.hpp"

#include "router/atomic_field.hpp"
#include "router/futex.hpp"
#include "router/process_identity.hpp"

namespace pushcap::router {

RingJanitor::RingJanitor(const RingConfig& config) : m_segment(RingSegment::create(config)) {}

RingJanitor::RingJanitor(const std::string& segmentName)
    : m_segment(RingSegment::open(segmentName)) {}

void RingJanitor::addConsumer(const std::string& consumer, bool fromOldest, Delivery delivery) {
    RingHeader& h = m_segment.header();
    const std::uint32_t index = m_segment.claimSlot(
        consumer, fromOldest ? loadAcquire(h.tail_pos) : loadAcquire(h.write_pos), delivery);
    ConsumerSlot& s = m_segment.slot(index);
    if (loadAcquire(s.delivery) != static_cast<std::uint32_t>(delivery)) {
        storeRelease(s.delivery, static_cast<std::uint32_t>(delivery));
        // A producer waiting for this consumer's room may not have to any more.
        fetchAdd(h.space_seq, 1u);
        futexWakeAll(&h.space_seq);
    }
}

bool RingJanitor::releaseConsumer(const std::string& consumer) {
    int index = m_segment.findSlot(consumer);
    if (index < 0)
        return false;
    ConsumerSlot& s = m_segment.slot(static_cast<std::uint32_t>(index));
    storeRelease(s.state, static_cast<std::uint32_t>(SlotState::Free));
    // A producer sleeping for this consumer's space must look again.
    RingHeader& h = m_segment.header();
    fetchAdd(h.space_seq, 1u);
    futexWakeAll(&h.space_seq);
    return true;
}

void RingJanitor::markFinished() {
    RingHeader& h = m_segment.header();
    storeRelease(h.producer_state, static_cast<std::uint32_t>(ProducerState::Finished));
    fetchAdd(h.data_seq, 1u);
    futexWakeAll(&h.data_seq);
}

RingSnapshot RingJanitor::snapshot() const {
    const RingHeader& h = m_segment.header();
    RingSnapshot s;
    s.name = m_segment.name();
    s.mode = m_segment.mode();
    s.capacity = m_segment.capacity();
    s.writePos = loadAcquire(h.write_pos);
    s.tailPos = loadAcquire(h.tail_pos);
    s.producerPid = loadAcquire(h.producer_pid);
    s.producerAlive = isAlive(ProcessIdentity{s.producerPid, loadAcquire(h.producer_start)});
    std::uint32_t state = loadAcquire(h.producer_state);
    s.producerState = state <= 2 ? static_cast<ProducerState>(state) : ProducerState::Absent;
    s.producerGeneration = loadAcquire(h.producer_generation);
    s.producerHeartbeatNs = loadAcquire(h.producer_heartbeat_ns);
    s.publishedPackets = loadRelaxed(h.published_packets);
    s.publishedBytes = loadRelaxed(h.published_bytes);
    s.publishedBatches = loadRelaxed(h.published_batches);
    s.producerWaits = loadRelaxed(h.producer_waits);
    s.deadConsumerSkips = loadRelaxed(h.dead_consumer_skips);
    s.producerWaitNs = loadRelaxed(h.producer_wait_ns);
    s.sourceDrops = loadRelaxed(h.source_drops);
    s.sourceIfDrops = loadRelaxed(h.source_if_drops);
    for (std::uint32_t i = 0; i < CONSUMER_SLOTS; ++i) {
        const ConsumerSlot& slot = m_segment.slot(i);
        if (loadAcquire(slot.state) != static_cast<std::uint32_t>(SlotState::Active))
            continue;
        ConsumerSnapshot c;
        c.name = fixedName(slot.name);
        c.ownerPid = loadAcquire(slot.owner_pid);
        c.ownerAlive = isAlive(ProcessIdentity{c.ownerPid, loadAcquire(slot.owner_start)});
        c.readPos = loadAcquire(slot.read_pos);
        c.committedPos = loadAcquire(slot.committed_pos);
        c.heartbeatNs = loadAcquire(slot.heartbeat_ns);
        c.attaches = loadRelaxed(slot.attaches);
        c.skippedByProducer = loadRelaxed(slot.skipped_by_producer);
        c.delivery = loadAcquire(slot.delivery) == static_cast<std::uint32_t>(Delivery::BestEffort)
                         ? Delivery::BestEffort
                         : Delivery::Lossless;
        c.heldSourceNs = loadRelaxed(slot.held_source_ns);
        const ConsumerCommit rec = readCommit(slot);
        std::copy(std::begin(rec.counters), std::end(rec.counters), c.counters);
        s.consumers.push_back(std::move(c));
    }
    return s;
}

}  // namespace pushcap::router
