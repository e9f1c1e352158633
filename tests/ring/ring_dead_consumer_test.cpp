// Lossless mode: a consumer that dies and is not restarted holds the producer only for the
// configured grace; then it is skipped, and that is counted. When it comes back at last, it
// counts exactly what it missed.
#include <catch2/catch.hpp>

#include "ring_multiproc.hpp"

using namespace pushcap::router;
using namespace pushcap::ringtest;

TEST_CASE("a dead consumer is skipped after the grace, counted, and counts its loss when back",
          "[ring][multiproc]") {
    const std::uint64_t packets = scaled(200'000, 50'000);
    RingConfig c;
    c.instance = uniqueInstance("dead");
    c.source = "src";
    c.dataCapacity = 1 << 20;
    c.maxBatchBytes = 64 << 10;
    c.mode = RingMode::Lossless;
    c.deadConsumerGraceNs = 300'000'000;  // 0.3 s
    SegmentGuard guard(segmentName(c.instance, c.source));
    RingJanitor janitor(c);
    janitor.addConsumer("alive");
    janitor.addConsumer("dead");
    const RingSegment seg = RingSegment::open(janitor.name());
    const ConsumerSlot& deadSlot = slotOf(seg, "dead");

    TempDir dir;
    auto alive = startConsumer(janitor.name(), "alive", dir);
    auto dead = startConsumer(janitor.name(), "dead", dir, {"commit_every=1"});
    auto producer = startProducer(janitor.name(), packets, dir, {"batch_packets=64"});
    // Kill it once it has committed something, and do not restart it.
    REQUIRE(waitUntil([&] { return loadAcquire(deadSlot.committed_pos) > 0 || dead->poll(); }));
    REQUIRE(dead->running());
    dead->kill();

    // The producer gets past it (after the grace) and finishes; the live consumer sees it all.
    requireCleanExit(*producer, "producer (must not wait for a dead consumer forever)");
    requireCleanExit(*alive, "alive");
    CHECK(alive->result().at("packets") == packets);
    RingSnapshot snap = janitor.snapshot();
    CHECK(snap.deadConsumerSkips == 1);
    for (const ConsumerSnapshot& s : snap.consumers) {
        CHECK(s.skippedByProducer == (s.name == "dead" ? 1u : 0u));
    }

    // Back at last: it resumes at its commit, finds its data overwritten, and counts the gap.
    auto back = startConsumer(janitor.name(), "dead", dir, {"commit_every=1"});
    requireCleanExit(*back, "the dead consumer, restarted");
    const auto r = back->result();
    CHECK(r.at("lost_packets") > 0);
    CHECK(r.at("packets") + r.at("lost_packets") == packets);
    CHECK(r.at("errors") == 0);
}
