// The shared-memory ring segment: plain fixed-width structs at fixed offsets.
//
// Who may touch what:
//   - the creator (supervisor, ring_janitor) writes the identity fields once, then `state`;
//   - the single producer (capture, ring_writer) owns the producer block, write/tail positions and
//     the data area;
//   - each consumer (worker, ring_reader) owns its slot's cursor, commit records and heartbeat.
// Every multi-process field is accessed through atomic_field.hpp (std::atomic_ref), so the structs
// stay trivially copyable and standard layout and their offsets can be pinned by a golden test.
// The segment holds offsets and 64-bit positions, never pointers. Positions only grow; the data
// index is `position % data_capacity` (a power of two).
//
// Segment:  [RingHeader | ConsumerSlot x CONSUMER_SLOTS | SourceSeq x RING_SOURCES |
//            data area (data_capacity bytes)]
// Data area: batches, each a BatchHeader followed by a payload of nanosecond-PCAP records
// (16-byte record header + captured bytes, back to back), padded to BATCH_ALIGN. A batch never
// wraps: when it would, the producer writes a PAD batch that fills the rest of the lap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace pushcap::router {

inline constexpr std::uint64_t RING_MAGIC = 0x5250414348535550ULL;  // "PUSHCAPR" little-endian
// 2: per-slot delivery, held time; 3: per-source sequence numbers (exact loss per Source)
inline constexpr std::uint32_t RING_LAYOUT_VERSION = 3;
inline constexpr std::uint32_t CONSUMER_SLOTS = 64;
inline constexpr std::size_t CACHE_LINE = 64;
inline constexpr std::size_t PAGE = 4096;
inline constexpr std::size_t NAME_BYTES = 64;  // NUL-terminated, so names are at most 63 chars
inline constexpr std::size_t PRODUCER_CURSOR_BYTES = 256;
inline constexpr std::size_t CONSUMER_BLOB_BYTES = 1536;
inline constexpr std::size_t CONSUMER_COUNTERS = 16;
inline constexpr std::uint32_t BATCH_ALIGN = 64;
inline constexpr std::uint32_t MAX_CAPLEN = 262144;  // largest snaplen libpcap accepts
inline constexpr std::uint64_t UNKNOWN_SEQ = ~0ULL;
// BatchHeader::source_id is 16 bits: the ring keeps a published count for each possible id.
inline constexpr std::uint32_t RING_SOURCES = 65536;
// A consumer that reads only some sources tracks at most this many (its Source list).
inline constexpr std::uint32_t TRACKED_SOURCES = 32;

// What the source can do, so what the producer may do when a consumer has no room:
//   Lossless       stored files: the producer waits for every lossless consumer (replayed data);
//   Live           an interface: the producer never waits, every consumer may be lapped;
//   Backpressured  live data from a source that can be slowed (collector sockets: TCP holds the
//                  clients back): the producer waits for lossless consumers, as for files.
enum class RingMode : std::uint32_t { Lossless = 1, Live = 2, Backpressured = 3 };
inline constexpr bool producerMayWait(RingMode m) {
    return m != RingMode::Live;
}
// Packet times follow the wall clock (so idle files close on time), unlike a replayed file.
inline constexpr bool liveData(RingMode m) {
    return m != RingMode::Lossless;
}
// Per consumer: may the producer wait for it (in a ring whose producer may wait at all)?
// A best-effort consumer is lapped instead and counts exactly what it lost.
enum class Delivery : std::uint32_t { Lossless = 1, BestEffort = 2 };
enum class SegmentState : std::uint32_t { Initialising = 0, Ready = 1 };
enum class ProducerState : std::uint32_t { Absent = 0, Running = 1, Finished = 2 };
enum class SlotState : std::uint32_t { Free = 0, Claiming = 1, Active = 2 };

// Counters the ring itself keeps in ConsumerCommit::counters; the rest belong to the consumer's
// application (a worker keeps its matched/written/files counters there so they survive restarts).
enum ConsumerCounter : std::uint32_t {
    COUNTER_PACKETS_READ = 0,
    COUNTER_BYTES_READ = 1,  // captured bytes (record payloads)
    COUNTER_PACKETS_LOST = 2,
    COUNTER_BYTES_LOST = 3,
    COUNTER_LAPS = 4,  // times this consumer was overrun (live) or skipped (lossless)
    COUNTER_CORRUPT_BATCHES = 5,
    COUNTER_FIRST_APP = 8,
};

// Double-buffered commit records (producer and consumers alike): the writer fills the inactive
// record, then release-stores generation + 1. A process killed mid-write leaves the active record
// intact, and an observer that copied record g % 2 knows its copy is whole if the generation is
// still <= g + 1 afterwards.
struct ProducerCommit {
    std::uint64_t write_pos;   // end of the last published batch
    std::uint64_t packet_seq;  // packets published before write_pos, over the ring's life
    std::uint64_t byte_seq;    // captured bytes published before write_pos
    std::uint64_t batch_seq;
    std::uint32_t cursor_len;
    // The source of the last batch, whose SourceSeq entry this record holds too: the shared table
    // is updated after the commit, so a producer killed in between repairs it from here.
    std::uint32_t last_source;
    std::uint8_t cursor[PRODUCER_CURSOR_BYTES];  // producer's own resume state (e.g. file offset)
    std::uint64_t last_source_packet_seq;        // that source's packets published before write_pos
    std::uint64_t last_source_byte_seq;
};

// What one source has published over the ring's life (written by the producer only), so a
// consumer of some sources can tell exactly how many of *their* packets it lost when lapped.
struct SourceSeq {
    std::uint64_t packet_seq;
    std::uint64_t byte_seq;
};

struct RingHeader {
    // Identity: written once by the creator before `state` becomes Ready.
    std::uint64_t magic;
    std::uint32_t layout_version;
    std::uint32_t header_bytes;
    std::uint32_t slot_bytes;
    std::uint32_t slot_count;
    std::uint64_t slots_offset;
    std::uint64_t data_offset;
    std::uint64_t data_capacity;
    std::uint64_t total_bytes;
    std::uint32_t mode;  // RingMode
    std::uint32_t max_batch_bytes;
    std::uint64_t dead_consumer_grace_ns;
    std::uint32_t creator_pid;
    std::uint32_t reserved0;
    std::uint64_t creator_start;
    std::uint64_t created_unix_ns;
    char instance[NAME_BYTES];
    char source[NAME_BYTES];
    std::uint64_t sources_offset;             // SourceSeq x RING_SOURCES
    alignas(CACHE_LINE) std::uint32_t state;  // SegmentState, release-stored last

    // Producer block: one writer (the attached producer).
    alignas(CACHE_LINE) std::uint32_t producer_pid;
    std::uint32_t producer_state;  // ProducerState
    std::uint64_t producer_start;
    std::uint64_t producer_generation;
    std::uint64_t producer_heartbeat_ns;       // CLOCK_MONOTONIC
    std::uint64_t producer_commit_generation;  // active record: producer_commit[generation % 2]
    ProducerCommit producer_commit[2];

    // Hot positions, each on its own line.
    alignas(CACHE_LINE) std::uint64_t write_pos;  // consumers may read [tail_pos, write_pos)
    alignas(CACHE_LINE) std::uint64_t tail_pos;   // oldest batch not yet overwritten
    alignas(
        CACHE_LINE) std::uint32_t data_seq;  // futex: bumped when consumers sleep and data comes
    std::uint32_t data_waiters;
    alignas(
        CACHE_LINE) std::uint32_t space_seq;  // futex: bumped when the producer sleeps for space
    std::uint32_t space_waiters;

    // Producer counters (status only).
    alignas(CACHE_LINE) std::uint64_t published_packets;
    std::uint64_t published_bytes;
    std::uint64_t published_batches;
    std::uint64_t producer_waits;       // times the producer slept for space (lossless)
    std::uint64_t dead_consumer_skips;  // times a dead consumer was skipped after the grace
    std::uint64_t producer_attaches;
    std::uint64_t source_drops;  // e.g. kernel drops reported by the capture (status only)
    std::uint64_t source_if_drops;
    std::uint64_t producer_wait_ns;  // time the producer spent with no room for its next batch
};

// Where a consumer of some sources is in one of them (its per-source sequence numbers).
struct SourceCursor {
    std::uint32_t source_id;
    std::uint32_t reserved;
    std::uint64_t next_packet_seq;  // UNKNOWN_SEQ until the first batch of the source
    std::uint64_t next_byte_seq;
};

struct ConsumerCommit {
    std::uint64_t position;         // everything before this is durably handled
    std::uint64_t next_packet_seq;  // UNKNOWN_SEQ until the first batch
    std::uint64_t next_byte_seq;
    std::uint64_t counters[CONSUMER_COUNTERS];
    std::uint32_t blob_len;
    std::uint32_t source_count;  // entries of `sources` in use (0: the consumer reads every source)
    std::uint8_t blob[CONSUMER_BLOB_BYTES];  // the consumer's own resume state (e.g. file, offset)
    SourceCursor sources[TRACKED_SOURCES];
};

struct ConsumerSlot {
    std::uint32_t state;      // SlotState
    std::uint32_t owner_pid;  // 0: no process attached
    std::uint64_t owner_start;
    std::uint64_t heartbeat_ns;  // CLOCK_MONOTONIC, updated by the owner while it runs
    std::uint64_t attaches;
    std::uint64_t skipped_by_producer;  // written by the producer only (lossless grace expired)
    std::uint32_t delivery;             // Delivery, set when the slot is claimed or registered
    std::uint32_t reserved;
    std::uint64_t held_source_ns;  // written by the producer only: time it waited for this slot
    char name[NAME_BYTES];
    alignas(CACHE_LINE) std::uint64_t read_pos;       // owner's cursor (status: lag)
    alignas(CACHE_LINE) std::uint64_t committed_pos;  // copy of the active commit's position
    std::uint64_t commit_generation;                  // active record: commit[generation % 2]
    ConsumerCommit commit[2];
};

// One batch: packets from a single source with a single link type, so a payload is byte for byte
// a run of nanosecond-PCAP records that a worker can write without touching it.
struct BatchHeader {
    std::uint32_t magic;   // BATCH_MAGIC or PAD_MAGIC
    std::uint32_t length;  // whole batch incl. this header, a multiple of BATCH_ALIGN
    std::uint32_t payload_bytes;
    std::uint32_t packet_count;
    std::uint32_t link_type;  // DLT_*
    std::uint32_t snaplen;
    std::uint16_t source_id;
    // Which connection of a connection-based source (a collector client) the packets came from:
    // a new value means a new connection; 0 for files and interfaces.
    std::uint16_t source_session;
    std::uint32_t flags;  // BATCH_FLAG_*
    std::uint64_t first_packet_seq;
    std::uint64_t first_byte_seq;
    std::uint64_t producer_generation;
    std::uint64_t reserved2;
    // The same for this batch's source alone (its SourceSeq before this batch).
    std::uint64_t first_source_packet_seq;
    std::uint64_t first_source_byte_seq;
    std::uint64_t reserved3[6];
};

inline constexpr std::uint32_t BATCH_MAGIC = 0x48544142;  // "BATH"
inline constexpr std::uint32_t PAD_MAGIC = 0x44444150;    // "PADD"

// The source streams pcapng (an osmo-pcap client in pcapng mode): workers asked to follow the
// source's format write pcapng for it.
inline constexpr std::uint32_t BATCH_FLAG_PCAPNG_SOURCE = 1u << 0;
// A batch with no packets: connection `source_session` of the source has ended, so files kept
// per connection can be completed now rather than at idle close.
inline constexpr std::uint32_t BATCH_FLAG_SESSION_END = 1u << 1;

// A nanosecond PCAP record header, as it sits in the payload and in the output files.
struct PcapRecordHeader {
    std::uint32_t ts_sec;
    std::uint32_t ts_nsec;
    std::uint32_t caplen;
    std::uint32_t wirelen;
};

template <typename T>
inline constexpr bool SHARED_SAFE = std::is_trivially_copyable_v<T>&& std::is_standard_layout_v<T>;
static_assert(SHARED_SAFE<RingHeader> && SHARED_SAFE<ConsumerSlot> && SHARED_SAFE<BatchHeader>);
static_assert(SHARED_SAFE<ProducerCommit> && SHARED_SAFE<ConsumerCommit> && SHARED_SAFE<SourceSeq>);
static_assert(sizeof(BatchHeader) == 2 * BATCH_ALIGN);
static_assert(sizeof(PcapRecordHeader) == 16);

constexpr std::uint64_t roundUp(std::uint64_t value, std::uint64_t align) {
    return (value + align - 1) / align * align;
}

inline constexpr std::uint64_t HEADER_REGION = roundUp(sizeof(RingHeader), PAGE);
inline constexpr std::uint64_t SLOT_REGION = roundUp(sizeof(ConsumerSlot) * CONSUMER_SLOTS, PAGE);
inline constexpr std::uint64_t SOURCE_REGION = roundUp(sizeof(SourceSeq) * RING_SOURCES, PAGE);
inline constexpr std::uint64_t SOURCES_OFFSET = HEADER_REGION + SLOT_REGION;
inline constexpr std::uint64_t DATA_OFFSET = SOURCES_OFFSET + SOURCE_REGION;

}  // namespace pushcap::router
