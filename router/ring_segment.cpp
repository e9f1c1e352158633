#include "router/ring_segment.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <atomic>
#include <boost/interprocess/mapped_region.hpp>
#include <boost/interprocess/shared_memory_object.hpp>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "router/atomic_field.hpp"
#include "router/process_identity.hpp"
#include "router/ring_error.hpp"

namespace bip = boost::interprocess;

namespace pushcap::router {

struct RingSegment::Mapping {
    bip::shared_memory_object shm;
    bip::mapped_region region;
};

namespace {

bool nameCharOk(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
}

std::string mib(std::uint64_t bytes) {
    return std::to_string(bytes >> 20) + " MiB";
}

std::uint64_t unixNs() {
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ULL +
           static_cast<std::uint64_t>(ts.tv_nsec);
}

void copyName(char (&field)[NAME_BYTES], const std::string& value) {
    std::memset(field, 0, NAME_BYTES);
    std::memcpy(field, value.data(), std::min(value.size(), NAME_BYTES - 1));
}

void checkConfig(const RingConfig& c, const std::string& name) {
    if (c.dataCapacity < (64u << 10) || (c.dataCapacity & (c.dataCapacity - 1)) != 0) {
        throw RingError("ring " + name + ": capacity " + std::to_string(c.dataCapacity) +
                        " must be a power of two of at least 64 KiB");
    }
    if (c.maxBatchBytes < 2 * BATCH_ALIGN || c.maxBatchBytes % BATCH_ALIGN != 0 ||
        c.maxBatchBytes > c.dataCapacity / 4) {
        throw RingError(
            "ring " + name + ": max batch " + std::to_string(c.maxBatchBytes) +
            " bytes must be a multiple of 64 between 128 and a quarter of the capacity (" +
            std::to_string(c.dataCapacity / 4) + ")");
    }
    if (c.mode != RingMode::Lossless && c.mode != RingMode::Live &&
        c.mode != RingMode::Backpressured) {
        throw RingError("ring " + name + ": unknown mode");
    }
}

void prefault(bip::shared_memory_object& shm, const std::string& name, std::uint64_t total) {
    // posix_fallocate makes tmpfs reserve every page now, so a small /dev/shm fails here with a
    // message instead of a SIGBUS in the middle of a capture.
    int fd = shm.get_mapping_handle().handle;
    int rc = ::posix_fallocate(fd, 0, static_cast<off_t>(total));
    if (rc != 0) {
        struct statvfs vfs {};
        std::string avail = "unknown";
        if (::statvfs("/dev/shm", &vfs) == 0)
            avail = mib(std::uint64_t(vfs.f_bavail) * vfs.f_frsize);
        throw RingError("ring " + name + ": cannot reserve " + mib(total) + " in /dev/shm (" +
                        std::strerror(rc) + "; " + avail +
                        " available): lower the ring size or enlarge /dev/shm");
    }
}

}  // namespace

void validateName(const std::string& what, const std::string& value) {
    if (value.empty() || value.size() >= NAME_BYTES) {
        throw RingError(what + " '" + value + "' must be 1 to " + std::to_string(NAME_BYTES - 1) +
                        " characters");
    }
    for (char c : value) {
        if (!nameCharOk(c)) {
            throw RingError(what + " '" + value +
                            "' may only hold letters, digits, '_', '-' and '.'");
        }
    }
}

std::string fixedName(const char (&field)[NAME_BYTES]) {
    return std::string(field, strnlen(field, NAME_BYTES));
}

std::string segmentName(const std::string& instance, const std::string& source) {
    validateName("instance name", instance);
    validateName("source name", source);
    return "/pushcap." + instance + "." + source;
}

RingSegment::RingSegment(std::string name, std::unique_ptr<Mapping> mapping)
    : m_name(std::move(name)), m_mapping(std::move(mapping)) {
    auto* base = static_cast<std::byte*>(m_mapping->region.get_address());
    m_header = reinterpret_cast<RingHeader*>(base);
    m_slots = reinterpret_cast<ConsumerSlot*>(base + m_header->slots_offset);
    m_sources = reinterpret_cast<SourceSeq*>(base + m_header->sources_offset);
    m_data = base + m_header->data_offset;
    m_capacity = m_header->data_capacity;
}

RingSegment::RingSegment(RingSegment&&) noexcept = default;
RingSegment& RingSegment::operator=(RingSegment&&) noexcept = default;
RingSegment::~RingSegment() = default;

RingSegment RingSegment::create(const RingConfig& config) {
    const std::string name = segmentName(config.instance, config.source);
    checkConfig(config, name);
    const std::uint64_t total = DATA_OFFSET + config.dataCapacity;

    auto mapping = std::make_unique<Mapping>();
    try {
        mapping->shm = bip::shared_memory_object(bip::create_only, name.c_str(), bip::read_write,
                                                 bip::permissions(config.permissions));
    } catch (const bip::interprocess_exception&) {
        // A leftover from a creator that died is replaced; a live one is never touched.
        std::uint32_t owner = 0;
        try {
            RingSegment old = open(name);
            ProcessIdentity creator{old.header().creator_pid, old.header().creator_start};
            if (isAlive(creator))
                owner = creator.pid;
        } catch (const RingError&) {
            // unreadable leftover: replace it
        }
        if (owner != 0) {
            throw RingError(
                "ring " + name + " is in use by a running process (pid " + std::to_string(owner) +
                "): is another pushcapd running with instance '" + config.instance + "'?");
        }
        bip::shared_memory_object::remove(name.c_str());
        try {
            mapping->shm =
                bip::shared_memory_object(bip::create_only, name.c_str(), bip::read_write,
                                          bip::permissions(config.permissions));
        } catch (const bip::interprocess_exception& e) {
            throw RingError("ring " + name + ": cannot create: " + e.what());
        }
    }
    int fd = mapping->shm.get_mapping_handle().handle;
    ::fchmod(fd, config.permissions);  // the umask must not widen or narrow what was asked
    try {
        mapping->shm.truncate(static_cast<bip::offset_t>(total));
        prefault(mapping->shm, name, total);
        mapping->region = bip::mapped_region(mapping->shm, bip::read_write, 0, total);
    } catch (const bip::interprocess_exception& e) {
        bip::shared_memory_object::remove(name.c_str());
        throw RingError("ring " + name + ": cannot size or map " + mib(total) + ": " + e.what());
    } catch (...) {
        bip::shared_memory_object::remove(name.c_str());
        throw;
    }
    // Touch every page so the first lap does not pay the page faults.
    auto* base = static_cast<volatile std::byte*>(mapping->region.get_address());
    for (std::uint64_t off = 0; off < total; off += PAGE)
        base[off] = std::byte{0};

    auto* h = static_cast<RingHeader*>(mapping->region.get_address());
    h->magic = RING_MAGIC;
    h->layout_version = RING_LAYOUT_VERSION;
    h->header_bytes = sizeof(RingHeader);
    h->slot_bytes = sizeof(ConsumerSlot);
    h->slot_count = CONSUMER_SLOTS;
    h->slots_offset = HEADER_REGION;
    h->data_offset = DATA_OFFSET;
    h->sources_offset = SOURCES_OFFSET;
    h->data_capacity = config.dataCapacity;
    h->total_bytes = total;
    h->mode = static_cast<std::uint32_t>(config.mode);
    h->max_batch_bytes = config.maxBatchBytes;
    h->dead_consumer_grace_ns = config.deadConsumerGraceNs;
    ProcessIdentity self = selfIdentity();
    h->creator_pid = self.pid;
    h->creator_start = self.start;
    h->created_unix_ns = unixNs();
    copyName(h->instance, config.instance);
    copyName(h->source, config.source);
    storeRelease(h->state, static_cast<std::uint32_t>(SegmentState::Ready));
    return RingSegment(name, std::move(mapping));
}

RingSegment RingSegment::open(const std::string& name) {
    auto mapping = std::make_unique<Mapping>();
    bip::offset_t size = 0;
    try {
        mapping->shm = bip::shared_memory_object(bip::open_only, name.c_str(), bip::read_write);
        if (!mapping->shm.get_size(size))
            size = 0;
    } catch (const bip::interprocess_exception& e) {
        throw RingError("ring " + name + ": cannot open: " + e.what() +
                        " (is pushcapd running with this instance and source?)");
    }
    if (size < static_cast<bip::offset_t>(DATA_OFFSET)) {
        throw RingError("ring " + name + ": segment is " + std::to_string(size) +
                        " bytes, smaller than its header (" + std::to_string(DATA_OFFSET) +
                        "): truncated or not a pushcap ring");
    }
    try {
        mapping->region =
            bip::mapped_region(mapping->shm, bip::read_write, 0, static_cast<std::size_t>(size));
    } catch (const bip::interprocess_exception& e) {
        throw RingError("ring " + name + ": cannot map: " + e.what());
    }
    const auto* h = static_cast<const RingHeader*>(mapping->region.get_address());
    auto fail = [&](const std::string& what) { throw RingError("ring " + name + ": " + what); };
    if (h->magic != RING_MAGIC)
        fail("bad magic: not a pushcap ring");
    if (h->layout_version != RING_LAYOUT_VERSION) {
        fail("layout version " + std::to_string(h->layout_version) + ", this build reads version " +
             std::to_string(RING_LAYOUT_VERSION) + ": restart pushcapd with matching binaries");
    }
    if (loadAcquire(h->state) != static_cast<std::uint32_t>(SegmentState::Ready)) {
        fail("not initialised (its creator died while creating it)");
    }
    if (h->header_bytes != sizeof(RingHeader) || h->slot_bytes != sizeof(ConsumerSlot) ||
        h->slot_count != CONSUMER_SLOTS) {
        fail("header/slot sizes do not match this build's layout");
    }
    if (h->slots_offset != HEADER_REGION || h->data_offset != DATA_OFFSET ||
        h->sources_offset != SOURCES_OFFSET)
        fail("bad region offsets");
    const std::uint64_t cap = h->data_capacity;
    if (cap < (64u << 10) || (cap & (cap - 1)) != 0)
        fail("bad data capacity " + std::to_string(cap));
    if (h->total_bytes != DATA_OFFSET + cap || static_cast<std::uint64_t>(size) != h->total_bytes) {
        fail("segment is " + std::to_string(size) + " bytes but its header says " +
             std::to_string(h->total_bytes) + ": truncated or corrupt");
    }
    if (h->mode != static_cast<std::uint32_t>(RingMode::Lossless) &&
        h->mode != static_cast<std::uint32_t>(RingMode::Live) &&
        h->mode != static_cast<std::uint32_t>(RingMode::Backpressured)) {
        fail("unknown mode " + std::to_string(h->mode));
    }
    if (h->max_batch_bytes < 2 * BATCH_ALIGN || h->max_batch_bytes % BATCH_ALIGN != 0 ||
        h->max_batch_bytes > cap / 4) {
        fail("bad max batch size " + std::to_string(h->max_batch_bytes));
    }
    std::uint64_t w = loadAcquire(h->write_pos);
    std::uint64_t t = loadAcquire(h->tail_pos);
    if (t > w || w % BATCH_ALIGN != 0 || t % BATCH_ALIGN != 0)
        fail("inconsistent positions");
    return RingSegment(name, std::move(mapping));
}

bool RingSegment::remove(const std::string& name) {
    return bip::shared_memory_object::remove(name.c_str());
}

int RingSegment::findSlot(const std::string& consumer) const {
    for (std::uint32_t i = 0; i < CONSUMER_SLOTS; ++i) {
        const ConsumerSlot& s = m_slots[i];
        if (loadAcquire(s.state) == static_cast<std::uint32_t>(SlotState::Active) &&
            fixedName(s.name) == consumer) {
            return static_cast<int>(i);
        }
    }
    return -1;
}

std::uint32_t RingSegment::claimSlot(const std::string& consumer, std::uint64_t startPos,
                                     Delivery delivery) const {
    validateName("consumer name", consumer);
    if (int found = findSlot(consumer); found >= 0)
        return static_cast<std::uint32_t>(found);
    for (std::uint32_t i = 0; i < CONSUMER_SLOTS; ++i) {
        ConsumerSlot& s = m_slots[i];
        std::uint32_t expected = static_cast<std::uint32_t>(SlotState::Free);
        if (!atomicRef(s.state).compare_exchange_strong(
                expected, static_cast<std::uint32_t>(SlotState::Claiming),
                std::memory_order_acq_rel)) {
            continue;
        }
        // A reused slot still holds its previous consumer's state: start clean.
        static_assert(offsetof(ConsumerSlot, state) == 0);
        std::memset(reinterpret_cast<char*>(&s) + sizeof s.state, 0, sizeof s - sizeof s.state);
        copyName(s.name, consumer);
        s.delivery = static_cast<std::uint32_t>(delivery);
        // A slot that starts where the last published batch ends knows the sequence numbers
        // there, so packets it loses before its first read (lapped before it ever ran, e.g. a
        // consumer registered by the supervisor on a fresh ring) are counted too.
        const ProducerCommit last = readProducerCommit(*m_header);
        const bool known = last.write_pos == startPos;
        for (ConsumerCommit& c : s.commit) {
            c.position = startPos;
            c.next_packet_seq = known ? last.packet_seq : UNKNOWN_SEQ;
            c.next_byte_seq = known ? last.byte_seq : UNKNOWN_SEQ;
        }
        storeRelease(s.read_pos, startPos);
        storeRelease(s.committed_pos, startPos);
        storeRelease(s.state, static_cast<std::uint32_t>(SlotState::Active));
        // Two processes claiming the same new name at once: the lower slot wins.
        int winner = findSlot(consumer);
        if (winner >= 0 && static_cast<std::uint32_t>(winner) != i) {
            storeRelease(s.state, static_cast<std::uint32_t>(SlotState::Free));
            return static_cast<std::uint32_t>(winner);
        }
        return i;
    }
    throw RingError("ring " + m_name + ": all " + std::to_string(CONSUMER_SLOTS) +
                    " consumer slots are taken; cannot add consumer '" + consumer + "'");
}

template <typename Record>
static Record readDoubleBuffered(const std::uint64_t& generation, const Record (&records)[2]) {
    for (;;) {
        std::uint64_t g1 = loadAcquire(generation);
        Record copy;
        std::memcpy(&copy, &records[g1 & 1], sizeof copy);
        std::atomic_thread_fence(std::memory_order_acquire);
        std::uint64_t g2 = loadAcquire(generation);
        if (g2 <= g1 + 1)
            return copy;
    }
}

ConsumerCommit readCommit(const ConsumerSlot& slot) {
    return readDoubleBuffered(slot.commit_generation, slot.commit);
}

ProducerCommit readProducerCommit(const RingHeader& header) {
    return readDoubleBuffered(header.producer_commit_generation, header.producer_commit);
}

}  // namespace pushcap::router
