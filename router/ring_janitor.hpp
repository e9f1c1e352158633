// The supervisor's view of a ring: creates and removes segments, registers consumers before
// their workers start (so a lossless producer waits for them from the first packet), releases
// the slots of targets that are gone, and reads everything for status. Only pushcapd uses it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "router/ring_segment.hpp"

namespace pushcap::router {

struct ConsumerSnapshot {
    std::string name;
    std::uint32_t ownerPid = 0;
    bool ownerAlive = false;
    std::uint64_t readPos = 0;
    std::uint64_t committedPos = 0;
    std::uint64_t heartbeatNs = 0;  // CLOCK_MONOTONIC of the last heartbeat
    std::uint64_t attaches = 0;
    std::uint64_t skippedByProducer = 0;
    Delivery delivery = Delivery::Lossless;
    std::uint64_t heldSourceNs = 0;  // time the producer waited for this consumer's room
    std::uint64_t counters[CONSUMER_COUNTERS] = {};  // as last committed
};

struct RingSnapshot {
    std::string name;
    RingMode mode = RingMode::Live;
    std::uint64_t capacity = 0;
    std::uint64_t writePos = 0;
    std::uint64_t tailPos = 0;
    std::uint32_t producerPid = 0;
    bool producerAlive = false;
    ProducerState producerState = ProducerState::Absent;
    std::uint64_t producerGeneration = 0;
    std::uint64_t producerHeartbeatNs = 0;
    std::uint64_t publishedPackets = 0;
    std::uint64_t publishedBytes = 0;
    std::uint64_t publishedBatches = 0;
    std::uint64_t producerWaits = 0;
    std::uint64_t deadConsumerSkips = 0;
    std::uint64_t producerWaitNs = 0;
    std::uint64_t sourceDrops = 0;
    std::uint64_t sourceIfDrops = 0;
    std::vector<ConsumerSnapshot> consumers;
};

class RingJanitor {
  public:
    // Creates the segment (see RingSegment::create).
    explicit RingJanitor(const RingConfig& config);
    // Adopts an existing segment (e.g. for a status tool).
    explicit RingJanitor(const std::string& segmentName);

    const std::string& name() const { return m_segment.name(); }
    // Registers `consumer` at the oldest data (or the newest); if it exists, only its delivery
    // is set (a reload may change it).
    void addConsumer(const std::string& consumer, bool fromOldest = true,
                     Delivery delivery = Delivery::Lossless);
    // Frees the slot of a consumer that will not come back. False if there was none.
    bool releaseConsumer(const std::string& consumer);
    RingSnapshot snapshot() const;
    // Marks the stream finished when no live producer will do it (shutdown while the capture is
    // down, or the capture gave up on a damaged input), so consumers drain and see end-of-stream.
    void markFinished();
    void remove() { RingSegment::remove(m_segment.name()); }

  private:
    RingSegment m_segment;
};

}  // namespace pushcap::router
