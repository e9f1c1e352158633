// A mapped, validated ring segment. Only router/ maps segments; the writer, reader and janitor
// are built on this class. Creating is the supervisor's job (ring_janitor); everyone else opens.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "router/ring_layout.hpp"

namespace pushcap::router {

struct RingConfig {
    std::string instance;                      // [A-Za-z0-9_.-], 1..63 chars
    std::string source;                        // same alphabet
    std::uint64_t dataCapacity = 64ULL << 20;  // bytes, a power of two >= 64 KiB
    RingMode mode = RingMode::Live;
    std::uint32_t maxBatchBytes = 256 << 10;  // whole batch incl. header; <= dataCapacity / 4
    std::uint64_t deadConsumerGraceNs = 10'000'000'000ULL;
    unsigned permissions = 0600;
};

// "/pushcap.<instance>.<source>"; throws RingError naming the bad part.
std::string segmentName(const std::string& instance, const std::string& source);

class RingSegment {
  public:
    // Creates, sizes, pre-faults and initialises a new segment. An existing segment whose creator
    // is gone is replaced; one whose creator still runs is an error.
    static RingSegment create(const RingConfig& config);
    // Maps an existing segment and validates every identity field; RingError on any mismatch.
    static RingSegment open(const std::string& name);
    // Removes the name; processes that have it mapped keep their mapping. False if absent.
    static bool remove(const std::string& name);

    RingSegment(RingSegment&&) noexcept;
    RingSegment& operator=(RingSegment&&) noexcept;
    ~RingSegment();

    const std::string& name() const { return m_name; }
    RingHeader& header() const { return *m_header; }
    ConsumerSlot& slot(std::uint32_t index) const { return m_slots[index]; }
    std::byte* data() const { return m_data; }
    // What each source id has published (RING_SOURCES entries; the producer writes them).
    SourceSeq& sourceSeq(std::uint16_t sourceId) const { return m_sources[sourceId]; }
    std::uint64_t capacity() const { return m_capacity; }
    std::uint64_t mask() const { return m_capacity - 1; }
    RingMode mode() const { return static_cast<RingMode>(m_header->mode); }

    // Index of the Active slot called `consumer`, or -1.
    int findSlot(const std::string& consumer) const;
    // Finds or claims (Free -> Active) the slot called `consumer`. A new slot starts at
    // `startPos` with no owner and `delivery`; an existing slot keeps its own. Throws RingError
    // when all slots are taken.
    std::uint32_t claimSlot(const std::string& consumer, std::uint64_t startPos,
                            Delivery delivery = Delivery::Lossless) const;

  private:
    struct Mapping;
    RingSegment(std::string name, std::unique_ptr<Mapping> mapping);

    std::string m_name;
    std::unique_ptr<Mapping> m_mapping;
    RingHeader* m_header = nullptr;
    ConsumerSlot* m_slots = nullptr;
    SourceSeq* m_sources = nullptr;
    std::byte* m_data = nullptr;
    std::uint64_t m_capacity = 0;
};

// Validates a consumer or instance name; throws RingError("<what> ...").
void validateName(const std::string& what, const std::string& value);

// Copies a NUL-terminated name out of a fixed field without trusting its terminator.
std::string fixedName(const char (&field)[NAME_BYTES]);

// Copy of the active commit record that is guaranteed whole (see ring_layout.hpp). Used by
// observers and by a consumer resuming its slot.
ConsumerCommit readCommit(const ConsumerSlot& slot);
ProducerCommit readProducerCommit(const RingHeader& header);

}  // namespace pushcap::router
