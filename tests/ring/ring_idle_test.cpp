// A consumer waiting on an empty ring sleeps (no busy spin) and still wakes when a batch comes.
#include <catch2/catch.hpp>
#include <thread>

#include "ring_multiproc.hpp"
#include "router/ring_writer.hpp"

using namespace pushcap::router;
using namespace pushcap::ringtest;

TEST_CASE("an idle consumer uses ~0 CPU and wakes when a batch is published", "[ring][multiproc]") {
    RingConfig c;
    c.instance = uniqueInstance("idle");
    c.source = "src";
    c.dataCapacity = 1 << 20;
    c.maxBatchBytes = 64 << 10;
    c.mode = RingMode::Live;
    SegmentGuard guard(segmentName(c.instance, c.source));
    RingJanitor janitor(c);
    janitor.addConsumer("idle");
    RingWriter writer(janitor.name());
    const RingSegment seg = RingSegment::open(janitor.name());
    const ConsumerSlot& slot = slotOf(seg, "idle");

    TempDir dir;
    // A long wait per next(), so only the producer's wake-up can deliver the batch in time.
    auto consumer = startConsumer(janitor.name(), "idle", dir, {"wait_ms=60000"});
    REQUIRE(waitUntil([&] {
        return loadAcquire(slot.owner_pid) == static_cast<std::uint32_t>(consumer->pid()) ||
               consumer->poll();
    }));
    REQUIRE(consumer->running());

    SECTION("a second process cannot attach under the same name") {
        Peer twin({"consume", "segment=" + janitor.name(), "name=idle"}, dir.file("twin.out"));
        REQUIRE(twin.wait() != -1);
        CHECK(WIFEXITED(twin.status()));
        CHECK(WEXITSTATUS(twin.status()) == 1);
        CHECK(loadAcquire(slot.owner_pid) == static_cast<std::uint32_t>(consumer->pid()));
    }

    // Settle into the wait (the kernel shows it sleeping), then measure over about a second.
    REQUIRE(waitUntil([&] { return processState(consumer->pid()) == 'S'; }));
    const std::uint64_t cpuBefore = processCpuMs(consumer->pid());
    // A measurement window, not a wait for an event.
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const std::uint64_t cpuUsed = processCpuMs(consumer->pid()) - cpuBefore;
    INFO("idle consumer used " << cpuUsed << " ms of CPU in 1 s");
    CHECK(cpuUsed < 100);
    CHECK(processState(consumer->pid()) == 'S');

    std::span<std::byte> space = writer.beginBatch(0);
    REQUIRE(!space.empty());
    std::size_t used = 0;
    for (std::uint64_t s = 0; s < 3; ++s)
        used += writePacketRecord(s, space.data() + used);
    writer.publish(static_cast<std::uint32_t>(used), 3,
                   BatchMeta{TEST_LINK_TYPE, MAX_CAPLEN, TEST_SOURCE_ID});
    const std::uint64_t end = loadAcquire(seg.header().write_pos);
    // Far below the consumer's own 60 s timeout: only a wake-up gets it there.
    REQUIRE(waitUntil([&] { return loadAcquire(slot.read_pos) == end; }, std::chrono::seconds(30)));

    writer.finish();
    requireCleanExit(*consumer, "idle consumer");
    const auto r = consumer->result();
    CHECK(r.at("packets") == 3);
    CHECK(r.at("errors") == 0);
    CHECK(r.at("lost_packets") == 0);
}
