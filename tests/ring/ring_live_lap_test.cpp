// Live mode: one consumer is SIGSTOPped while the producer laps it many times. The producer never
// waits for it (it finishes while the consumer is still stopped); after SIGCONT the consumer
// counts exactly what it lost, and the other consumers see everything.
#include <signal.h>

#include <catch2/catch.hpp>

#include "ring_multiproc.hpp"

using namespace pushcap::router;
using namespace pushcap::ringtest;

TEST_CASE("a stopped consumer is lapped, never waited for, and counts exactly what it lost",
          "[ring][multiproc]") {
    const std::uint64_t packets = scaled(1'000'000, 50'000);
    RingConfig c;
    c.instance = uniqueInstance("live");
    c.source = "src";
    c.dataCapacity = 1 << 20;
    c.maxBatchBytes = 64 << 10;
    c.mode = RingMode::Live;
    SegmentGuard guard(segmentName(c.instance, c.source));
    RingJanitor janitor(c);
    const std::vector<std::string> others = {"a", "b", "c"};
    for (const std::string& n : others)
        janitor.addConsumer(n);
    janitor.addConsumer("sleeper");
    const RingSegment seg = RingSegment::open(janitor.name());
    const ConsumerSlot& sleeperSlot = slotOf(seg, "sleeper");

    TempDir dir;
    std::vector<std::unique_ptr<Peer>> consumers;
    for (const std::string& n : others)
        consumers.push_back(startConsumer(janitor.name(), n, dir));
    auto sleeper = startConsumer(janitor.name(), "sleeper", dir);
    // The producer keeps a, b and c within half a ring (they share two cores with it), so only
    // the stopped consumer can be lapped.
    auto producer = startProducer(janitor.name(), packets, dir, {"batch_packets=64", "pace=a,b,c"});

    // Let the sleeper read something first, so it knows where it was when it is woken.
    REQUIRE(waitUntil([&] { return loadAcquire(sleeperSlot.read_pos) > 0 || sleeper->poll(); }));
    REQUIRE(sleeper->running());
    sleeper->signal(SIGSTOP);
    REQUIRE(waitUntil([&] { return processState(sleeper->pid()) == 'T'; }));
    const std::uint64_t stoppedAt = loadAcquire(sleeperSlot.read_pos);

    requireCleanExit(*producer, "producer (must finish while a consumer is stopped)");
    CHECK(processState(sleeper->pid()) == 'T');
    const std::uint64_t end = loadAcquire(seg.header().write_pos);
    INFO("sleeper stopped at " << stoppedAt << ", producer ended at " << end);
    CHECK(end - stoppedAt >= 3 * c.dataCapacity);  // lapped several times

    sleeper->signal(SIGCONT);
    requireCleanExit(*sleeper, "sleeper");
    const auto produced = producer->result();
    REQUIRE(produced.at("packets") == packets);
    const std::uint64_t bytes = produced.at("bytes");

    const auto s = sleeper->result();
    CHECK(s.at("lost_packets") > 0);
    CHECK(s.at("laps") >= 1);
    CHECK(s.at("packets") + s.at("lost_packets") == packets);
    CHECK(s.at("bytes") + s.at("lost_bytes") == bytes);
    CHECK(s.at("gaps") == s.at("lost_packets"));  // the consumer's own count agrees
    CHECK(s.at("next_seq") == packets);           // it caught up with the end
    CHECK(s.at("errors") == 0);
    CHECK(s.at("repeats") == 0);

    for (std::size_t i = 0; i < consumers.size(); ++i) {
        requireCleanExit(*consumers[i], others[i].c_str());
        const auto r = consumers[i]->result();
        INFO("consumer " << others[i]);
        CHECK(r.at("packets") == packets);
        CHECK(r.at("bytes") == bytes);
        CHECK(r.at("lost_packets") == 0);
        CHECK(r.at("laps") == 0);
        CHECK(r.at("errors") == 0);
        CHECK(r.at("gaps") == 0);
        CHECK(r.at("checksum") == produced.at("checksum"));
    }
    CHECK(janitor.snapshot().producerWaits == 0);
}
