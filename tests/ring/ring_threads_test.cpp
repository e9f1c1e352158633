// One producer and three consumers as threads of one process, so ThreadSanitizer can check the
// ring's memory ordering (it cannot see across processes). Lossless with many wraps of a small
// ring, and live with a ring large enough that nobody is lapped (overwriting data a reader is
// still copying is a deliberate, detected race that TSan would rightly report).
#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <thread>
#include <vector>

#include "ring_test_support.hpp"
#include "router/batch_records.hpp"
#include "router/ring_janitor.hpp"
#include "router/ring_reader.hpp"
#include "router/ring_writer.hpp"

using namespace pushcap::router;
using namespace pushcap::ringtest;

namespace {

struct ThreadResult {
    std::uint64_t packets = 0;
    std::uint64_t bad = 0;
    std::uint64_t outOfOrder = 0;
    std::uint64_t checksum = 0;
    std::uint64_t finishFailed = 0;
    ReaderCounters counters;
    std::string error;
};

void produce(const std::string& segment, std::uint64_t packets, std::string& error) {
    try {
        RingWriter writer(segment);
        std::uint64_t seq = 0;
        const BatchMeta meta{TEST_LINK_TYPE, MAX_CAPLEN, TEST_SOURCE_ID};
        while (seq < packets) {
            std::span<std::byte> space = writer.beginBatch(100'000'000);
            if (space.empty())
                continue;
            const std::uint64_t limit = 1 + seq % 37;
            std::size_t used = 0;
            std::uint32_t count = 0;
            while (count < limit && seq < packets &&
                   used + sizeof(PcapRecordHeader) + packetCaplen(seq) <= space.size()) {
                used += writePacketRecord(seq++, space.data() + used);
                ++count;
            }
            std::uint8_t cursor[8];
            std::memcpy(cursor, &seq, 8);
            writer.publish(static_cast<std::uint32_t>(used), count, meta, cursor);
        }
        writer.finish();
    } catch (const std::exception& e) {
        error = e.what();
    }
}

void consume(const std::string& segment, const std::string& name, ThreadResult& out) {
    try {
        RingReader reader(segment, name);
        BatchView view;
        std::uint64_t next = 0, batches = 0;
        for (;;) {
            const NextStatus st = reader.next(view, 100'000'000);
            if (st == NextStatus::EndOfStream)
                break;
            if (st != NextStatus::Batch)
                continue;
            RecordCursor records(view);
            PacketRef p;
            std::uint64_t seq = view.firstPacketSeq, bad = 0, sum = out.checksum;
            while (records.next(p)) {
                if (!packetMatches(seq++, p.header, p.data))
                    ++bad;
                sum = chainChecksum(sum, hashBytes(p.data, p.header.caplen));
            }
            if (records.malformed())
                ++bad;
            if (!reader.finish(view)) {
                ++out.finishFailed;
                continue;
            }
            if (view.firstPacketSeq != next)
                ++out.outOfOrder;
            next = view.firstPacketSeq + view.packets;
            out.packets += view.packets;
            out.bad += bad;
            out.checksum = sum;
            if (++batches % 3 == 0)
                reader.commit();
        }
        reader.commit();
        out.counters = reader.counters();
    } catch (const std::exception& e) {
        out.error = e.what();
    }
}

void runThreads(RingMode mode, std::uint64_t capacity, std::uint64_t packets) {
    RingConfig c;
    c.instance = uniqueInstance(mode == RingMode::Live ? "thlive" : "thlossless");
    c.source = "src";
    c.dataCapacity = capacity;
    c.maxBatchBytes = 16 << 10;
    c.mode = mode;
    SegmentGuard guard(segmentName(c.instance, c.source));
    RingJanitor janitor(c);
    const std::vector<std::string> names = {"r0", "r1", "r2"};
    for (const std::string& n : names)
        janitor.addConsumer(n);

    std::vector<ThreadResult> results(names.size());
    std::string producerError;
    {
        std::vector<std::thread> threads;
        for (std::size_t i = 0; i < names.size(); ++i) {
            threads.emplace_back(consume, janitor.name(), names[i], std::ref(results[i]));
        }
        threads.emplace_back(produce, janitor.name(), packets, std::ref(producerError));
        for (std::thread& t : threads)
            t.join();
    }
    REQUIRE(producerError.empty());
    const std::uint64_t checksum = streamChecksum(packets);
    const std::uint64_t bytes = streamBytes(packets);
    for (std::size_t i = 0; i < names.size(); ++i) {
        const ThreadResult& r = results[i];
        INFO("consumer " << names[i] << " " << r.error);
        CHECK(r.error.empty());
        CHECK(r.packets == packets);
        CHECK(r.bad == 0);
        CHECK(r.outOfOrder == 0);
        CHECK(r.finishFailed == 0);
        CHECK(r.checksum == checksum);
        CHECK(r.counters.packetsRead == packets);
        CHECK(r.counters.bytesRead == bytes);
        CHECK(r.counters.packetsLost == 0);
        CHECK(r.counters.laps == 0);
        CHECK(r.counters.corruptBatches == 0);
    }
}

std::uint64_t nextPowerOfTwo(std::uint64_t v) {
    std::uint64_t p = 64 << 10;
    while (p < v)
        p <<= 1;
    return p;
}

}  // namespace

TEST_CASE("threads: lossless ring, producer waits and wraps many times", "[ring][tsan]") {
    const std::uint64_t packets = scaled(400'000, 30'000);
    runThreads(RingMode::Lossless, 256 << 10, packets);
}

TEST_CASE("threads: live ring that holds the whole stream, nobody lapped", "[ring][tsan]") {
    const std::uint64_t packets = scaled(200'000, 20'000);
    const std::uint64_t recordBytes = streamBytes(packets) + packets * sizeof(PcapRecordHeader);
    // Room for every batch with its header and padding, plus the producer's reservation.
    runThreads(RingMode::Live, nextPowerOfTwo(2 * recordBytes + (1 << 20)), packets);
}
