// The segment is untrusted input: a damaged header, a wrong version, a truncated file or absurd
// lengths in the data area must give a clear RingError (attach) or be counted as corrupt (read),
// never a crash or an out-of-bounds read. Run under ASan+UBSan too.
#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstddef>
#include <cstring>
#include <functional>
#include <random>

#include "ring_test_support.hpp"
#include "router/atomic_field.hpp"
#include "router/batch_records.hpp"
#include "router/ring_error.hpp"
#include "router/ring_janitor.hpp"
#include "router/ring_reader.hpp"
#include "router/ring_writer.hpp"

using namespace pushcap::router;
namespace rt = pushcap::ringtest;
using Catch::Matchers::Contains;

namespace {

constexpr std::uint64_t CAPACITY = 64 << 10;

RingConfig config(const std::string& tag) {
    RingConfig c;
    c.instance = rt::uniqueInstance(tag);
    c.source = "src";
    c.dataCapacity = CAPACITY;
    c.maxBatchBytes = 8 << 10;
    c.mode = RingMode::Live;
    return c;
}

// Publishes packets [first, first + count) as one batch.
void publishPackets(RingWriter& writer, std::uint64_t first, std::uint32_t count) {
    std::span<std::byte> space = writer.beginBatch(0);
    REQUIRE(!space.empty());
    std::size_t used = 0;
    for (std::uint32_t i = 0; i < count; ++i) {
        REQUIRE(used + 16 + rt::packetCaplen(first + i) <= space.size());
        used += rt::writePacketRecord(first + i, space.data() + used);
    }
    writer.publish(static_cast<std::uint32_t>(used), count,
                   BatchMeta{rt::TEST_LINK_TYPE, MAX_CAPLEN, rt::TEST_SOURCE_ID});
}

BatchHeader& batchAt(const RingSegment& seg, std::uint64_t position) {
    return *reinterpret_cast<BatchHeader*>(seg.data() + (position & seg.mask()));
}

// Reads until the reader has nothing more; every batch it hands out must lie inside the data
// area, and its records are walked and hashed (so ASan sees every byte that would be read).
struct Drained {
    std::uint64_t batches = 0;
    std::uint64_t malformed = 0;
    std::uint64_t packetsOk = 0;
    std::uint64_t packetsBad = 0;
};

Drained drain(RingReader& reader) {
    Drained d;
    const RingSegment& seg = reader.segment();
    BatchView view;
    for (int guard = 0; guard < 100000; ++guard) {
        if (reader.next(view, 0) != NextStatus::Batch)
            return d;
        ++d.batches;
        REQUIRE(view.payload >= seg.data());
        REQUIRE(view.payload + view.payloadBytes <= seg.data() + seg.capacity());
        RecordCursor records(view);
        PacketRef p;
        std::uint64_t seq = view.firstPacketSeq;
        std::uint64_t sink = 0;
        while (records.next(p)) {
            REQUIRE(p.data + p.header.caplen <= view.payload + view.payloadBytes);
            sink ^= rt::hashBytes(p.data, p.header.caplen);
            if (rt::packetMatches(seq++, p.header, p.data)) {
                ++d.packetsOk;
            } else {
                ++d.packetsBad;
            }
        }
        if (records.malformed())
            ++d.malformed;
        reader.finish(view);
        reader.commit();
        (void)sink;
    }
    FAIL("reader did not run dry");
    return d;
}

}  // namespace

TEST_CASE("opening a missing segment is a clear error", "[ring]") {
    const std::string name = segmentName(rt::uniqueInstance("missing"), "src");
    CHECK_THROWS_WITH(RingSegment::open(name), Contains(name) && Contains("cannot open"));
    CHECK_THROWS_AS(RingReader(name, "c"), RingError);
    CHECK_THROWS_AS(RingWriter(name), RingError);
}

TEST_CASE("damaged identity fields are refused with a message", "[ring]") {
    const RingConfig c = config("hdr");
    rt::SegmentGuard guard(segmentName(c.instance, c.source));
    RingJanitor janitor(c);
    const RingSegment seg = RingSegment::open(janitor.name());
    RingHeader& h = seg.header();
    RingHeader saved;
    std::memcpy(&saved, &h, sizeof h);

    struct Case {
        const char* what;
        std::function<void(RingHeader&)> damage;
        const char* message;
    };
    const std::vector<Case> cases = {
        {"bad magic", [](RingHeader& x) { x.magic = 0x1122334455667788ULL; }, "bad magic"},
        {"zero magic", [](RingHeader& x) { x.magic = 0; }, "bad magic"},
        {"newer version", [](RingHeader& x) { x.layout_version = 99; }, "layout version 99"},
        {"old version", [](RingHeader& x) { x.layout_version = 0; }, "layout version 0"},
        {"never ready", [](RingHeader& x) { x.state = 0; }, "not initialised"},
        {"header size", [](RingHeader& x) { x.header_bytes += 64; }, "sizes"},
        {"slot size", [](RingHeader& x) { x.slot_bytes = 1; }, "sizes"},
        {"slot count", [](RingHeader& x) { x.slot_count = 1u << 30; }, "sizes"},
        {"slots offset", [](RingHeader& x) { x.slots_offset = 1ULL << 40; }, "offsets"},
        {"data offset", [](RingHeader& x) { x.data_offset = ~0ULL; }, "offsets"},
        {"capacity not a power of two", [](RingHeader& x) { x.data_capacity = 3 * CAPACITY; },
         "capacity"},
        {"capacity zero", [](RingHeader& x) { x.data_capacity = 0; }, "capacity"},
        {"capacity larger than the file", [](RingHeader& x) { x.data_capacity = CAPACITY * 2; },
         "truncated or corrupt"},
        {"capacity huge", [](RingHeader& x) { x.data_capacity = 1ULL << 62; }, "corrupt"},
        {"total bytes", [](RingHeader& x) { x.total_bytes += 4096; }, "corrupt"},
        {"mode", [](RingHeader& x) { x.mode = 77; }, "unknown mode"},
        {"batch zero", [](RingHeader& x) { x.max_batch_bytes = 0; }, "max batch"},
        {"batch unaligned", [](RingHeader& x) { x.max_batch_bytes = 1000; }, "max batch"},
        {"batch huge", [](RingHeader& x) { x.max_batch_bytes = 0xFFFFFFC0u; }, "max batch"},
        {"tail past write", [](RingHeader& x) { x.tail_pos = 128; }, "inconsistent positions"},
        {"write unaligned", [](RingHeader& x) { x.write_pos = 13; }, "inconsistent positions"},
    };
    for (const Case& k : cases) {
        DYNAMIC_SECTION(k.what) {
            k.damage(h);
            CHECK_THROWS_WITH(RingSegment::open(janitor.name()),
                              Contains(janitor.name()) && Contains(k.message));
            CHECK_THROWS_AS(RingReader(janitor.name(), "reader"), RingError);
            CHECK_THROWS_AS(RingWriter(janitor.name()), RingError);
            CHECK_THROWS_AS(RingJanitor(janitor.name()), RingError);
            std::memcpy(&h, &saved, sizeof h);
            CHECK_NOTHROW(RingSegment::open(janitor.name()));
        }
    }
}

TEST_CASE("a truncated or resized segment is refused", "[ring]") {
    const RingConfig c = config("trunc");
    const std::string name = segmentName(c.instance, c.source);
    rt::SegmentGuard guard(name);
    const std::uint64_t total = DATA_OFFSET + CAPACITY;
    const auto size =
        GENERATE(values<std::uint64_t>({0, 100, DATA_OFFSET - 1, DATA_OFFSET,
                                        DATA_OFFSET + CAPACITY / 2, total - 1, total + 4096}));
    {
        // Not kept mapped: touching pages past a shrunk end would SIGBUS this test.
        RingJanitor janitor(c);
    }
    const int fd = ::open(("/dev/shm" + name).c_str(), O_RDWR);
    REQUIRE(fd >= 0);
    REQUIRE(::ftruncate(fd, static_cast<off_t>(size)) == 0);
    ::close(fd);
    const std::string expected = size < DATA_OFFSET ? "smaller than its header" : "truncated";
    CHECK_THROWS_WITH(RingSegment::open(name), Contains(name) && Contains(expected));
    CHECK_THROWS_AS(RingReader(name, "reader"), RingError);
    CHECK_THROWS_AS(RingWriter(name), RingError);
}

TEST_CASE("a consumer slot with a damaged commit restarts at the oldest data", "[ring]") {
    const RingConfig c = config("slot");
    rt::SegmentGuard guard(segmentName(c.instance, c.source));
    RingJanitor janitor(c);
    janitor.addConsumer("reader");
    RingWriter writer(janitor.name());
    publishPackets(writer, 0, 4);
    const RingSegment seg = RingSegment::open(janitor.name());
    ConsumerSlot& slot = seg.slot(static_cast<std::uint32_t>(seg.findSlot("reader")));
    const auto position = GENERATE(values<std::uint64_t>({13, 1ULL << 50, ~0ULL - 63}));
    for (ConsumerCommit& rec : slot.commit)
        rec.position = position;
    for (ConsumerCommit& rec : slot.commit)
        rec.blob_len = 0xFFFFFFFF;  // longer than the blob

    RingReader reader(janitor.name(), "reader");
    CHECK(reader.counters().corruptBatches == 1);
    CHECK(reader.position() == 0);
    CHECK(reader.resumeBlob().size() == CONSUMER_BLOB_BYTES);
    const Drained d = drain(reader);
    CHECK(d.batches == 1);
    CHECK(d.packetsOk == 4);
    CHECK(d.packetsBad == 0);
}

TEST_CASE("absurd batch headers in the data area are counted, not trusted", "[ring]") {
    const RingConfig c = config("batch");
    rt::SegmentGuard guard(segmentName(c.instance, c.source));
    RingJanitor janitor(c);
    janitor.addConsumer("reader");
    RingWriter writer(janitor.name());
    RingReader reader(janitor.name(), "reader");
    const RingSegment& seg = writer.segment();

    publishPackets(writer, 0, 10);
    REQUIRE(drain(reader).batches == 1);  // packets 0..9 are fine
    const std::uint64_t badAt = loadAcquire(seg.header().write_pos);
    publishPackets(writer, 10, 10);
    publishPackets(writer, 20, 10);
    BatchHeader& bad = batchAt(seg, badAt);
    REQUIRE(bad.magic == BATCH_MAGIC);
    REQUIRE(bad.first_packet_seq == 10);

    struct Case {
        const char* what;
        std::function<void(BatchHeader&)> damage;
    };
    const std::vector<Case> cases = {
        {"zero length", [](BatchHeader& b) { b.length = 0; }},
        {"huge length", [](BatchHeader& b) { b.length = 0xFFFFFFC0u; }},
        {"unaligned length", [](BatchHeader& b) { b.length += 1; }},
        {"length past the data area", [](BatchHeader& b) { b.length = CAPACITY; }},
        {"length longer than the payload", [](BatchHeader& b) { b.length += 64; }},
        {"payload longer than the batch", [](BatchHeader& b) { b.payload_bytes = b.length; }},
        {"payload huge", [](BatchHeader& b) { b.payload_bytes = 0xFFFFFFFFu; }},
        {"packet count huge", [](BatchHeader& b) { b.packet_count = 0xFFFFFFFFu; }},
        {"wrong magic", [](BatchHeader& b) { b.magic = 0; }},
        {"pad with a wrong length", [](BatchHeader& b) { b.magic = PAD_MAGIC; }},
    };
    for (const Case& k : cases) {
        DYNAMIC_SECTION(k.what) {
            k.damage(bad);
            const Drained d = drain(reader);
            CHECK(d.batches == 0);
            CHECK(reader.counters().corruptBatches == 1);
            // The stream goes on after the damage, and what was skipped is counted as lost.
            publishPackets(writer, 30, 5);
            const Drained after = drain(reader);
            CHECK(after.batches == 1);
            CHECK(after.packetsOk == 5);
            CHECK(after.packetsBad == 0);
            CHECK(reader.counters().packetsRead == 15);
            CHECK(reader.counters().packetsLost == 20);
        }
    }
}

TEST_CASE("absurd record lengths end the walk and mark the batch malformed", "[ring]") {
    const RingConfig c = config("record");
    rt::SegmentGuard guard(segmentName(c.instance, c.source));
    RingJanitor janitor(c);
    janitor.addConsumer("reader");
    RingWriter writer(janitor.name());
    RingReader reader(janitor.name(), "reader");
    const RingSegment& seg = writer.segment();
    publishPackets(writer, 0, 3);
    BatchHeader& batch = batchAt(seg, 0);
    // Records are packed back to back, so their headers are not aligned: go through memcpy.
    std::byte* second = reinterpret_cast<std::byte*>(&batch) + sizeof(BatchHeader) + 16 +
                        rt::packetCaplen(0) + offsetof(PcapRecordHeader, caplen);
    auto setCaplen = [&](std::uint32_t v) { std::memcpy(second, &v, sizeof v); };
    std::uint32_t original = 0;
    std::memcpy(&original, second, sizeof original);
    REQUIRE(original == rt::packetCaplen(1));
    const std::uint32_t remaining = batch.payload_bytes - 16 - rt::packetCaplen(0) - 16;

    std::uint32_t walked = 0;
    bool malformed = false;
    auto walk = [&] {
        BatchView view;
        REQUIRE(reader.next(view, 0) == NextStatus::Batch);
        RecordCursor records(view);
        PacketRef p;
        walked = 0;
        while (records.next(p)) {
            REQUIRE(p.data + p.header.caplen <= view.payload + view.payloadBytes);
            ++walked;
        }
        malformed = records.malformed();
    };
    SECTION("caplen all ones") {
        setCaplen(0xFFFFFFFFu);
        walk();
        CHECK(walked == 1);
        CHECK(malformed);
    }
    SECTION("caplen above the largest snaplen") {
        setCaplen(MAX_CAPLEN + 1);
        walk();
        CHECK(walked == 1);
        CHECK(malformed);
    }
    SECTION("caplen one past the payload") {
        setCaplen(remaining + 1);
        walk();
        CHECK(walked == 1);
        CHECK(malformed);
    }
    SECTION("more packets than records") {
        batch.packet_count = 4;
        walk();
        CHECK(walked == 3);
        CHECK(malformed);
    }
    SECTION("intact") {
        walk();
        CHECK(walked == 3);
        CHECK_FALSE(malformed);
    }
}

TEST_CASE("random damage to the header never crashes an attach", "[ring]") {
    const RingConfig c = config("fuzzhdr");
    rt::SegmentGuard guard(segmentName(c.instance, c.source));
    RingJanitor janitor(c);
    janitor.addConsumer("reader");
    {
        RingWriter writer(janitor.name());
        for (std::uint64_t i = 0; i < 40; ++i)
            publishPackets(writer, i * 4, 4);
    }
    const RingSegment seg = RingSegment::open(janitor.name());
    RingHeader& h = seg.header();
    RingHeader saved;
    std::memcpy(&saved, &h, sizeof h);
    std::mt19937_64 rng(12345);
    const std::uint64_t rounds = rt::scaled(3000, 300);
    std::uint64_t refused = 0, accepted = 0;
    for (std::uint64_t i = 0; i < rounds; ++i) {
        std::memcpy(&h, &saved, sizeof h);
        auto* bytes = reinterpret_cast<std::uint8_t*>(&h);
        const int flips = 1 + static_cast<int>(rng() % 4);
        for (int f = 0; f < flips; ++f)
            bytes[rng() % sizeof h] ^= static_cast<std::uint8_t>(1 + rng() % 255);
        try {
            RingReader reader(janitor.name(), "reader");
            drain(reader);
            ++accepted;
        } catch (const RingError& e) {
            CHECK(std::string(e.what()).find(janitor.name()) != std::string::npos);
            ++refused;
        }
    }
    std::memcpy(&h, &saved, sizeof h);
    CHECK(refused > 0);
    CHECK(accepted > 0);
}

TEST_CASE("random damage to the data area is counted, never read out of bounds", "[ring]") {
    const RingConfig c = config("fuzzdata");
    rt::SegmentGuard guard(segmentName(c.instance, c.source));
    RingJanitor janitor(c);
    janitor.addConsumer("reader");
    RingWriter writer(janitor.name());
    RingReader reader(janitor.name(), "reader");
    const RingSegment& seg = writer.segment();
    std::mt19937_64 rng(777);
    const std::uint64_t rounds = rt::scaled(2000, 200);
    std::uint64_t seq = 0, corruptSeen = 0;
    for (std::uint64_t i = 0; i < rounds; ++i) {
        const std::uint64_t from = loadAcquire(seg.header().write_pos);
        const int batches = 1 + static_cast<int>(rng() % 4);
        for (int b = 0; b < batches; ++b) {
            const auto n = static_cast<std::uint32_t>(1 + rng() % 8);
            publishPackets(writer, seq, n);
            seq += n;
        }
        const std::uint64_t to = loadAcquire(seg.header().write_pos);
        // Flip bytes anywhere in what was just published: headers, records, padding.
        const int flips = static_cast<int>(rng() % 6);
        for (int f = 0; f < flips; ++f) {
            const std::uint64_t at = from + rng() % (to - from);
            seg.data()[at & seg.mask()] ^= static_cast<std::byte>(1 + rng() % 255);
        }
        const std::uint64_t before = reader.counters().corruptBatches;
        drain(reader);
        corruptSeen += reader.counters().corruptBatches - before;
    }
    CHECK(corruptSeen > 0);
    // The writer is still usable and a clean batch after all that damage reads back intact.
    publishPackets(writer, seq, 3);
    const Drained last = drain(reader);
    CHECK(last.packetsOk == 3);
}
