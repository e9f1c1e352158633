// Golden layout test and segment lifecycle (name validation, create, permissions, replacement of
// a dead creator's segment).
//
// The golden numbers are written down on purpose: if one of these fails, the shared-memory layout
// changed, and RING_LAYOUT_VERSION must be bumped (then update the numbers here), otherwise a
// process built before the change would read a segment built after it.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstddef>
#include <fstream>

#include "ring_test_support.hpp"
#include "router/atomic_field.hpp"
#include "router/ring_error.hpp"
#include "router/ring_janitor.hpp"
#include "router/ring_layout.hpp"
#include "router/ring_reader.hpp"
#include "router/ring_writer.hpp"

using namespace pushcap::router;
using pushcap::ringtest::Peer;
using pushcap::ringtest::SegmentGuard;
using pushcap::ringtest::TempDir;
using pushcap::ringtest::uniqueInstance;

TEST_CASE("ring layout is pinned to its version", "[unit][layout][ring]") {
    REQUIRE(RING_LAYOUT_VERSION == 3);
    CHECK(RING_MAGIC == 0x5250414348535550ULL);
    CHECK(CONSUMER_SLOTS == 64);
    CHECK(NAME_BYTES == 64);
    CHECK(PRODUCER_CURSOR_BYTES == 256);
    CHECK(CONSUMER_BLOB_BYTES == 1536);
    CHECK(CONSUMER_COUNTERS == 16);
    CHECK(BATCH_ALIGN == 64);
    CHECK(MAX_CAPLEN == 262144);
    CHECK(RING_SOURCES == 65536);
    CHECK(TRACKED_SOURCES == 32);
    CHECK(BATCH_MAGIC == 0x48544142);
    CHECK(PAD_MAGIC == 0x44444150);
    CHECK(static_cast<std::uint32_t>(RingMode::Lossless) == 1);
    CHECK(static_cast<std::uint32_t>(RingMode::Live) == 2);
    CHECK(static_cast<std::uint32_t>(RingMode::Backpressured) == 3);
    CHECK(static_cast<std::uint32_t>(Delivery::Lossless) == 1);
    CHECK(static_cast<std::uint32_t>(Delivery::BestEffort) == 2);
    CHECK(static_cast<std::uint32_t>(SegmentState::Ready) == 1);
    CHECK(static_cast<std::uint32_t>(ProducerState::Finished) == 2);
    CHECK(static_cast<std::uint32_t>(SlotState::Active) == 2);
    CHECK(COUNTER_PACKETS_READ == 0);
    CHECK(COUNTER_BYTES_READ == 1);
    CHECK(COUNTER_PACKETS_LOST == 2);
    CHECK(COUNTER_BYTES_LOST == 3);
    CHECK(COUNTER_LAPS == 4);
    CHECK(COUNTER_CORRUPT_BATCHES == 5);
    CHECK(COUNTER_FIRST_APP == 8);

    CHECK(HEADER_REGION == 4096);
    CHECK(SLOT_REGION == 331776);
    CHECK(SOURCE_REGION == 1048576);
    CHECK(SOURCES_OFFSET == 335872);
    CHECK(DATA_OFFSET == 1384448);
    CHECK(alignof(RingHeader) == 64);
    CHECK(alignof(ConsumerSlot) == 64);
    CHECK(sizeof(ProducerCommit) == 312);
    CHECK(offsetof(ProducerCommit, write_pos) == 0);
    CHECK(offsetof(ProducerCommit, packet_seq) == 8);
    CHECK(offsetof(ProducerCommit, byte_seq) == 16);
    CHECK(offsetof(ProducerCommit, batch_seq) == 24);
    CHECK(offsetof(ProducerCommit, cursor_len) == 32);
    CHECK(offsetof(ProducerCommit, last_source) == 36);
    CHECK(offsetof(ProducerCommit, cursor) == 40);
    CHECK(offsetof(ProducerCommit, last_source_packet_seq) == 296);
    CHECK(offsetof(ProducerCommit, last_source_byte_seq) == 304);
    CHECK(sizeof(RingHeader) == 1408);
    CHECK(offsetof(RingHeader, magic) == 0);
    CHECK(offsetof(RingHeader, layout_version) == 8);
    CHECK(offsetof(RingHeader, header_bytes) == 12);
    CHECK(offsetof(RingHeader, slot_bytes) == 16);
    CHECK(offsetof(RingHeader, slot_count) == 20);
    CHECK(offsetof(RingHeader, slots_offset) == 24);
    CHECK(offsetof(RingHeader, data_offset) == 32);
    CHECK(offsetof(RingHeader, data_capacity) == 40);
    CHECK(offsetof(RingHeader, total_bytes) == 48);
    CHECK(offsetof(RingHeader, mode) == 56);
    CHECK(offsetof(RingHeader, max_batch_bytes) == 60);
    CHECK(offsetof(RingHeader, dead_consumer_grace_ns) == 64);
    CHECK(offsetof(RingHeader, creator_pid) == 72);
    CHECK(offsetof(RingHeader, reserved0) == 76);
    CHECK(offsetof(RingHeader, creator_start) == 80);
    CHECK(offsetof(RingHeader, created_unix_ns) == 88);
    CHECK(offsetof(RingHeader, instance) == 96);
    CHECK(offsetof(RingHeader, source) == 160);
    CHECK(offsetof(RingHeader, sources_offset) == 224);
    CHECK(offsetof(RingHeader, state) == 256);
    CHECK(offsetof(RingHeader, producer_pid) == 320);
    CHECK(offsetof(RingHeader, producer_state) == 324);
    CHECK(offsetof(RingHeader, producer_start) == 328);
    CHECK(offsetof(RingHeader, producer_generation) == 336);
    CHECK(offsetof(RingHeader, producer_heartbeat_ns) == 344);
    CHECK(offsetof(RingHeader, producer_commit_generation) == 352);
    CHECK(offsetof(RingHeader, producer_commit) == 360);
    CHECK(offsetof(RingHeader, write_pos) == 1024);
    CHECK(offsetof(RingHeader, tail_pos) == 1088);
    CHECK(offsetof(RingHeader, data_seq) == 1152);
    CHECK(offsetof(RingHeader, data_waiters) == 1156);
    CHECK(offsetof(RingHeader, space_seq) == 1216);
    CHECK(offsetof(RingHeader, space_waiters) == 1220);
    CHECK(offsetof(RingHeader, published_packets) == 1280);
    CHECK(offsetof(RingHeader, published_bytes) == 1288);
    CHECK(offsetof(RingHeader, published_batches) == 1296);
    CHECK(offsetof(RingHeader, producer_waits) == 1304);
    CHECK(offsetof(RingHeader, dead_consumer_skips) == 1312);
    CHECK(offsetof(RingHeader, producer_attaches) == 1320);
    CHECK(offsetof(RingHeader, source_drops) == 1328);
    CHECK(offsetof(RingHeader, source_if_drops) == 1336);
    CHECK(offsetof(RingHeader, producer_wait_ns) == 1344);
    CHECK(sizeof(SourceSeq) == 16);
    CHECK(offsetof(SourceSeq, packet_seq) == 0);
    CHECK(offsetof(SourceSeq, byte_seq) == 8);
    CHECK(sizeof(SourceCursor) == 24);
    CHECK(offsetof(SourceCursor, source_id) == 0);
    CHECK(offsetof(SourceCursor, next_packet_seq) == 8);
    CHECK(offsetof(SourceCursor, next_byte_seq) == 16);
    CHECK(sizeof(ConsumerCommit) == 2464);
    CHECK(offsetof(ConsumerCommit, position) == 0);
    CHECK(offsetof(ConsumerCommit, next_packet_seq) == 8);
    CHECK(offsetof(ConsumerCommit, next_byte_seq) == 16);
    CHECK(offsetof(ConsumerCommit, counters) == 24);
    CHECK(offsetof(ConsumerCommit, blob_len) == 152);
    CHECK(offsetof(ConsumerCommit, source_count) == 156);
    CHECK(offsetof(ConsumerCommit, blob) == 160);
    CHECK(offsetof(ConsumerCommit, sources) == 1696);
    CHECK(sizeof(ConsumerSlot) == 5184);
    CHECK(offsetof(ConsumerSlot, state) == 0);
    CHECK(offsetof(ConsumerSlot, owner_pid) == 4);
    CHECK(offsetof(ConsumerSlot, owner_start) == 8);
    CHECK(offsetof(ConsumerSlot, heartbeat_ns) == 16);
    CHECK(offsetof(ConsumerSlot, attaches) == 24);
    CHECK(offsetof(ConsumerSlot, skipped_by_producer) == 32);
    CHECK(offsetof(ConsumerSlot, delivery) == 40);
    CHECK(offsetof(ConsumerSlot, reserved) == 44);
    CHECK(offsetof(ConsumerSlot, held_source_ns) == 48);
    CHECK(offsetof(ConsumerSlot, name) == 56);
    CHECK(offsetof(ConsumerSlot, read_pos) == 128);
    CHECK(offsetof(ConsumerSlot, committed_pos) == 192);
    CHECK(offsetof(ConsumerSlot, commit_generation) == 200);
    CHECK(offsetof(ConsumerSlot, commit) == 208);
    CHECK(sizeof(BatchHeader) == 128);
    CHECK(offsetof(BatchHeader, magic) == 0);
    CHECK(offsetof(BatchHeader, length) == 4);
    CHECK(offsetof(BatchHeader, payload_bytes) == 8);
    CHECK(offsetof(BatchHeader, packet_count) == 12);
    CHECK(offsetof(BatchHeader, link_type) == 16);
    CHECK(offsetof(BatchHeader, snaplen) == 20);
    CHECK(offsetof(BatchHeader, source_id) == 24);
    CHECK(offsetof(BatchHeader, source_session) == 26);
    CHECK(offsetof(BatchHeader, flags) == 28);
    CHECK(offsetof(BatchHeader, first_packet_seq) == 32);
    CHECK(offsetof(BatchHeader, first_byte_seq) == 40);
    CHECK(offsetof(BatchHeader, producer_generation) == 48);
    CHECK(offsetof(BatchHeader, reserved2) == 56);
    CHECK(offsetof(BatchHeader, first_source_packet_seq) == 64);
    CHECK(offsetof(BatchHeader, first_source_byte_seq) == 72);
    CHECK(offsetof(BatchHeader, reserved3) == 80);
    CHECK(sizeof(PcapRecordHeader) == 16);
    CHECK(offsetof(PcapRecordHeader, ts_sec) == 0);
    CHECK(offsetof(PcapRecordHeader, ts_nsec) == 4);
    CHECK(offsetof(PcapRecordHeader, caplen) == 8);
    CHECK(offsetof(PcapRecordHeader, wirelen) == 12);
}

TEST_CASE("segment names are validated", "[unit][ring]") {
    CHECK(segmentName("prod", "eth0") == "/pushcap.prod.eth0");
    CHECK(segmentName("a-b_c.1", "X") == "/pushcap.a-b_c.1.X");
    CHECK(segmentName(std::string(63, 'i'), std::string(63, 's')).size() == 9 + 63 + 1 + 63);

    using Catch::Matchers::Contains;
    CHECK_THROWS_WITH(segmentName("", "eth0"), Contains("instance name") && Contains("1 to 63"));
    CHECK_THROWS_WITH(segmentName("prod", ""), Contains("source name"));
    CHECK_THROWS_WITH(segmentName(std::string(64, 'i'), "eth0"), Contains("1 to 63"));
    CHECK_THROWS_WITH(segmentName("prod", std::string(64, 's')), Contains("source name"));
    CHECK_THROWS_WITH(segmentName("a/b", "eth0"), Contains("letters, digits"));
    CHECK_THROWS_WITH(segmentName("prod", "eth 0"), Contains("letters, digits"));
    CHECK_THROWS_AS(segmentName("prod", std::string("e\0th", 4)), RingError);
    CHECK_THROWS_WITH(segmentName("pr\xc3\xa9", "eth0"), Contains("letters, digits"));
    CHECK_THROWS_AS(segmentName("prod", "eth0/../x"), RingError);
    CHECK_THROWS_AS(validateName("consumer name", "has space"), RingError);
    CHECK_NOTHROW(validateName("consumer name", "pcap-all"));
}

namespace {

RingConfig smallConfig(const std::string& tag, RingMode mode = RingMode::Live) {
    RingConfig c;
    c.instance = uniqueInstance(tag);
    c.source = "src0";
    c.dataCapacity = 64 << 10;
    c.maxBatchBytes = 16 << 10;
    c.mode = mode;
    return c;
}

std::string shmPath(const RingConfig& c) {
    return "/dev/shm" + segmentName(c.instance, c.source);
}

}  // namespace

TEST_CASE("create makes a 0600 segment in /dev/shm, whatever the umask", "[unit][ring]") {
    RingConfig c = smallConfig("perm");
    SegmentGuard guard(segmentName(c.instance, c.source));
    const mode_t old = ::umask(0);  // a permissive umask must not widen the mode
    RingJanitor janitor(c);
    ::umask(old);

    struct stat st {};
    REQUIRE(::stat(shmPath(c).c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    CHECK(static_cast<std::uint64_t>(st.st_size) == DATA_OFFSET + c.dataCapacity);
    CHECK(st.st_uid == ::geteuid());

    const RingSnapshot snap = janitor.snapshot();
    CHECK(snap.capacity == c.dataCapacity);
    CHECK(snap.mode == RingMode::Live);
    CHECK(snap.writePos == 0);
    CHECK(snap.producerState == ProducerState::Absent);
    CHECK(snap.consumers.empty());

    const RingSegment seg = RingSegment::open(janitor.name());
    CHECK(seg.header().creator_pid == static_cast<std::uint32_t>(::getpid()));
    CHECK(fixedName(seg.header().instance) == c.instance);
    CHECK(fixedName(seg.header().source) == c.source);

    janitor.remove();
    CHECK(::access(shmPath(c).c_str(), F_OK) != 0);
    CHECK_THROWS_AS(RingSegment::open(janitor.name()), RingError);
    CHECK_FALSE(RingSegment::remove(janitor.name()));
}

TEST_CASE("create honours a 0660 request", "[unit][ring]") {
    RingConfig c = smallConfig("perm660");
    c.permissions = 0660;
    SegmentGuard guard(segmentName(c.instance, c.source));
    const mode_t old = ::umask(077);  // a strict umask must not narrow it either
    RingJanitor janitor(c);
    ::umask(old);
    struct stat st {};
    REQUIRE(::stat(shmPath(c).c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0660);
}

TEST_CASE("create rejects absurd capacities and batch sizes", "[unit][ring]") {
    RingConfig c = smallConfig("absurd");
    SegmentGuard guard(segmentName(c.instance, c.source));
    using Catch::Matchers::Contains;

    auto tryCreate = [&](std::uint64_t capacity, std::uint32_t batch) {
        RingConfig x = c;
        x.dataCapacity = capacity;
        x.maxBatchBytes = batch;
        RingJanitor j(x);
        j.remove();
    };
    CHECK_THROWS_WITH(tryCreate(0, 1024), Contains("power of two"));
    CHECK_THROWS_WITH(tryCreate(32 << 10, 1024), Contains("power of two of at least 64 KiB"));
    CHECK_THROWS_WITH(tryCreate(3 << 20, 1024), Contains("power of two"));
    CHECK_THROWS_WITH(tryCreate((1ULL << 20) + 64, 1024), Contains("power of two"));
    CHECK_THROWS_WITH(tryCreate(1 << 20, 0), Contains("max batch"));
    CHECK_THROWS_WITH(tryCreate(1 << 20, 64), Contains("max batch"));
    CHECK_THROWS_WITH(tryCreate(1 << 20, 1000), Contains("multiple of 64"));
    CHECK_THROWS_WITH(tryCreate(1 << 20, (1 << 18) + 64), Contains("quarter of the capacity"));
    CHECK_THROWS_WITH(tryCreate(1 << 20, 0xFFFFFFC0u), Contains("max batch"));
    // Far more than /dev/shm holds: refused at creation with a message, not a SIGBUS later.
    CHECK_THROWS_WITH(tryCreate(1ULL << 50, 64 << 10), Contains("/dev/shm") || Contains("cannot"));
    {
        RingConfig x = c;
        x.mode = static_cast<RingMode>(9);
        CHECK_THROWS_WITH(RingJanitor(x), Contains("mode"));
    }
    // None of the refusals may leave a segment behind.
    CHECK(::access(shmPath(c).c_str(), F_OK) != 0);
    CHECK_NOTHROW(tryCreate(64 << 10, 128));
    CHECK_NOTHROW(tryCreate(64 << 10, 16 << 10));
}

TEST_CASE("a live creator's segment is never replaced", "[unit][ring]") {
    RingConfig c = smallConfig("livecreator");
    SegmentGuard guard(segmentName(c.instance, c.source));
    RingJanitor first(c);
    RingWriter writer(first.name());
    std::span<std::byte> space = writer.beginBatch(0);
    REQUIRE(!space.empty());
    writer.publish(0, 0, BatchMeta{});
    CHECK_THROWS_WITH(RingJanitor(c), Catch::Matchers::Contains("in use by a running process"));
    // The refused attempt did not touch the existing segment.
    CHECK(first.snapshot().publishedBatches == 1);
    CHECK(RingSegment::open(first.name()).header().creator_pid ==
          static_cast<std::uint32_t>(::getpid()));
}

TEST_CASE("a dead creator's segment is replaced", "[unit][ring][multiproc]") {
    RingConfig c = smallConfig("deadcreator");
    const std::string name = segmentName(c.instance, c.source);
    SegmentGuard guard(name);
    TempDir dir;
    {
        Peer creator({"create", "instance=" + c.instance, "source=" + c.source, "capacity=131072"},
                     dir.file("create.out"));
        REQUIRE(creator.wait() != -1);
        REQUIRE(creator.exitedCleanly());
    }
    const std::uint32_t deadPid = RingSegment::open(name).header().creator_pid;
    CHECK(deadPid != static_cast<std::uint32_t>(::getpid()));
    CHECK(RingSegment::open(name).capacity() == 131072);

    RingJanitor replacement(c);
    const RingSegment seg = RingSegment::open(name);
    CHECK(seg.header().creator_pid == static_cast<std::uint32_t>(::getpid()));
    CHECK(seg.capacity() == c.dataCapacity);
}

TEST_CASE("an unreadable leftover under the name is replaced", "[unit][ring]") {
    RingConfig c = smallConfig("junk");
    SegmentGuard guard(segmentName(c.instance, c.source));
    {
        std::ofstream junk(shmPath(c), std::ios::binary);
        junk << "this is not a ring";
    }
    RingJanitor janitor(c);
    CHECK(RingSegment::open(janitor.name()).capacity() == c.dataCapacity);
}

TEST_CASE("consumer slots: named, 64 of them, released on request", "[unit][ring]") {
    RingConfig c = smallConfig("slots");
    SegmentGuard guard(segmentName(c.instance, c.source));
    RingJanitor janitor(c);
    for (int i = 0; i < static_cast<int>(CONSUMER_SLOTS); ++i)
        janitor.addConsumer("c" + std::to_string(i));
    janitor.addConsumer("c5");  // an existing name is not a new slot
    CHECK(janitor.snapshot().consumers.size() == CONSUMER_SLOTS);
    CHECK_THROWS_WITH(janitor.addConsumer("one-too-many"),
                      Catch::Matchers::Contains("slots are taken"));
    CHECK_THROWS_AS(janitor.addConsumer("bad name"), RingError);
    CHECK(janitor.releaseConsumer("c5"));
    CHECK_FALSE(janitor.releaseConsumer("c5"));
    CHECK_NOTHROW(janitor.addConsumer("newcomer"));
    CHECK(RingSegment::open(janitor.name()).findSlot("newcomer") >= 0);
    CHECK(RingSegment::open(janitor.name()).findSlot("c5") < 0);
}

TEST_CASE("a registered consumer lapped before its first read counts every lost packet",
          "[unit][ring]") {
    RingConfig c = smallConfig("lapfirst");
    SegmentGuard guard(segmentName(c.instance, c.source));
    RingJanitor janitor(c);
    janitor.addConsumer("late");  // registered by the supervisor, its worker not started yet
    RingWriter writer(janitor.name());
    std::uint64_t seq = 0, bytes = 0;
    // About five laps of a 64 KiB ring before the consumer reads anything.
    while (loadAcquire(writer.segment().header().write_pos) < 5 * c.dataCapacity) {
        std::span<std::byte> space = writer.beginBatch(0);
        std::size_t used = 0;
        for (int i = 0; i < 8; ++i) {
            bytes += pushcap::ringtest::packetCaplen(seq);
            used += pushcap::ringtest::writePacketRecord(seq++, space.data() + used);
        }
        writer.publish(static_cast<std::uint32_t>(used), 8, BatchMeta{});
    }
    writer.finish();
    RingReader reader(janitor.name(), "late");
    BatchView view;
    while (reader.next(view, 0) == NextStatus::Batch)
        reader.finish(view);
    const ReaderCounters counters = reader.counters();
    CHECK(counters.packetsLost > 0);
    CHECK(counters.packetsRead + counters.packetsLost == seq);
    CHECK(counters.bytesRead + counters.bytesLost == bytes);
}

namespace {

// Publishes `count` batches of 8 packets, alternating between sources 0 and 1; returns what each
// source published (packets, captured bytes).
struct Published {
    std::uint64_t packets[2] = {};
    std::uint64_t bytes[2] = {};
};

// Batches of 8 packets, from sources 0 and 1 in turn (or all from `onlySource`).
Published publishAlternating(RingWriter& writer, int count, std::uint64_t& seq,
                             int onlySource = -1) {
    Published out;
    for (int b = 0; b < count; ++b) {
        const std::uint16_t source =
            static_cast<std::uint16_t>(onlySource >= 0 ? onlySource : b % 2);
        std::span<std::byte> space = writer.beginBatch(0);
        std::size_t used = 0;
        for (int i = 0; i < 8; ++i) {
            out.bytes[source] += pushcap::ringtest::packetCaplen(seq);
            used += pushcap::ringtest::writePacketRecord(seq++, space.data() + used);
        }
        out.packets[source] += 8;
        BatchMeta meta;
        meta.sourceId = source;
        writer.publish(static_cast<std::uint32_t>(used), 8, meta);
    }
    return out;
}

// A ring with two named consumers, "one" (to read source 1 only) and "all", and its producer.
struct TwoConsumerRing {
    explicit TwoConsumerRing(const std::string& tag)
        : config(smallConfig(tag)),
          guard(segmentName(config.instance, config.source)),
          janitor(config),
          writer(janitor.name()) {
        janitor.addConsumer("one");
        janitor.addConsumer("all");
    }
    const std::string& name() const { return janitor.name(); }
    RingConfig config;
    SegmentGuard guard;
    RingJanitor janitor;
    RingWriter writer;
    std::uint64_t seq = 0;
};

const std::uint16_t SOURCE_ONE[] = {1};

}  // namespace

TEST_CASE("a consumer of one source counts only that source's packets, read and lost",
          "[unit][ring]") {
    TwoConsumerRing ring("persource");
    RingWriter& writer = ring.writer;
    std::uint64_t& seq = ring.seq;
    const auto& janitor = ring.janitor;
    const auto& wanted = SOURCE_ONE;
    Published total;
    {
        RingReader one(janitor.name(), "one", RingReader::StartAt::Oldest, Delivery::Lossless,
                       wanted);
        CHECK(one.wants(1));
        CHECK_FALSE(one.wants(0));
        // Lapped twice over, with a read and a commit in between, then read to the end.
        for (int round = 0; round < 3; ++round) {
            const Published p = publishAlternating(writer, 60, seq);
            for (int s = 0; s < 2; ++s) {
                total.packets[s] += p.packets[s];
                total.bytes[s] += p.bytes[s];
            }
            BatchView view;
            for (int i = 0; i < 3 && one.next(view, 0) == NextStatus::Batch; ++i)
                one.finish(view);
            one.commit();
        }
    }
    writer.finish();
    // A restarted consumer resumes its per-source numbers from the commit.
    RingReader one(janitor.name(), "one", RingReader::StartAt::Oldest, Delivery::Lossless, wanted);
    RingReader all(janitor.name(), "all");
    BatchView view;
    while (one.next(view, 0) == NextStatus::Batch)
        one.finish(view);
    while (all.next(view, 0) == NextStatus::Batch)
        all.finish(view);
    const ReaderCounters o = one.counters();
    CHECK(o.packetsLost > 0);
    CHECK(o.packetsRead + o.packetsLost == total.packets[1]);
    CHECK(o.bytesRead + o.bytesLost == total.bytes[1]);
    const ReaderCounters a = all.counters();
    CHECK(a.packetsRead + a.packetsLost == seq);
    CHECK(a.bytesRead + a.bytesLost == total.bytes[0] + total.bytes[1]);
}

TEST_CASE("a consumer lapped at the end of the stream counts every packet it never saw as lost",
          "[unit][ring]") {
    TwoConsumerRing ring("endlap");
    RingWriter& writer = ring.writer;
    std::uint64_t& seq = ring.seq;
    const auto& janitor = ring.janitor;
    const auto& wanted = SOURCE_ONE;
    RingReader one(janitor.name(), "one", RingReader::StartAt::Oldest, Delivery::Lossless, wanted);
    RingReader all(janitor.name(), "all");
    BatchView view;
    // "one" reads some of source 1, then everything after is lapped, and what is left in the
    // ring is source 0's only: no batch of source 1 comes to tell "one" what it lost.
    Published p = publishAlternating(writer, 4, seq);
    for (int i = 0; i < 2 && one.next(view, 0) == NextStatus::Batch; ++i)
        one.finish(view);
    const Published more = publishAlternating(writer, 40, seq);
    const Published last = publishAlternating(writer, 40, seq, 0);
    for (int s = 0; s < 2; ++s) {
        p.packets[s] += more.packets[s] + last.packets[s];
        p.bytes[s] += more.bytes[s] + last.bytes[s];
    }
    SECTION("once the producer has finished") {
        writer.finish();
        while (one.next(view, 0) == NextStatus::Batch)
            one.finish(view);
        while (all.next(view, 0) == NextStatus::Batch)
            all.finish(view);
    }
    SECTION("while the producer is idle") {
        while (one.next(view, 0) == NextStatus::Batch)
            one.finish(view);
        while (all.next(view, 0) == NextStatus::Batch)
            all.finish(view);
    }
    const ReaderCounters o = one.counters();
    CHECK(o.packetsRead == 8);
    CHECK(o.packetsRead + o.packetsLost == p.packets[1]);
    CHECK(o.bytesRead + o.bytesLost == p.bytes[1]);
    const ReaderCounters a = all.counters();
    CHECK(a.packetsLost > 0);
    CHECK(a.packetsRead + a.packetsLost == seq);
    CHECK(a.bytesRead + a.bytesLost == p.bytes[0] + p.bytes[1]);
    // Nothing is counted twice when the stream goes on.
    if (loadAcquire(writer.segment().header().producer_state) !=
        static_cast<std::uint32_t>(ProducerState::Finished)) {
        const Published after = publishAlternating(writer, 2, seq);
        while (one.next(view, 0) == NextStatus::Batch)
            one.finish(view);
        CHECK(one.counters().packetsRead == 8 + after.packets[1]);
        CHECK(one.counters().packetsLost == o.packetsLost);
    }
}

TEST_CASE("a producer killed between its commit and the source table leaves it repaired",
          "[unit][ring]") {
    RingConfig c = smallConfig("sourcerepair");
    SegmentGuard guard(segmentName(c.instance, c.source));
    RingJanitor janitor(c);
    std::uint64_t seq = 0;
    Published p;
    {
        RingWriter writer(janitor.name());
        p = publishAlternating(writer, 3, seq);  // the last batch is source 0's
        // As if the process died after the commit record but before the table store.
        SourceSeq& s0 = writer.segment().sourceSeq(0);
        storeRelease(s0.packet_seq, s0.packet_seq - 8);
        storeRelease(s0.byte_seq, std::uint64_t(0));
    }
    RingWriter again(janitor.name());
    const SourceSeq& s0 = again.segment().sourceSeq(0);
    CHECK(loadAcquire(s0.packet_seq) == p.packets[0]);
    CHECK(loadAcquire(s0.byte_seq) == p.bytes[0]);
    CHECK(loadAcquire(again.segment().sourceSeq(1).packet_seq) == p.packets[1]);
}
