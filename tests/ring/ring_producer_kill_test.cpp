// The producer is SIGKILLed mid-stream several times and restarted; it resumes from its published
// cursor. No consumer sees a torn, missing or repeated batch or packet.
#include <catch2/catch.hpp>
#include <random>
#include <thread>

#include "ring_multiproc.hpp"

using namespace pushcap::router;
using namespace pushcap::ringtest;

TEST_CASE("a producer SIGKILLed mid-stream resumes without tearing or repeating",
          "[ring][multiproc]") {
    constexpr int KILLS = 8;
    const std::uint64_t packets = scaled(2'000'000, 50'000);
    RingConfig c;
    c.instance = uniqueInstance("pkill");
    c.source = "src";
    c.dataCapacity = 4 << 20;
    c.maxBatchBytes = 64 << 10;
    c.mode = RingMode::Lossless;
    SegmentGuard guard(segmentName(c.instance, c.source));
    RingJanitor janitor(c);
    const std::vector<std::string> names = {"c0", "c1"};
    for (const std::string& n : names)
        janitor.addConsumer(n);
    const RingSegment seg = RingSegment::open(janitor.name());

    TempDir dir;
    std::vector<std::unique_ptr<Peer>> consumers;
    for (const std::string& n : names)
        consumers.push_back(startConsumer(janitor.name(), n, dir));
    auto producer = startProducer(janitor.name(), packets, dir, {"batch_packets=40"});

    std::mt19937_64 rng(Catch::rngSeed() + static_cast<std::uint64_t>(::getpid()));
    for (int k = 1; k <= KILLS; ++k) {
        const std::uint64_t target =
            k * packets / (KILLS + 6) + rng() % (packets / (2 * (KILLS + 6)));
        INFO("kill " << k << " at " << target << " packets");
        REQUIRE(waitUntil([&] {
            return loadAcquire(seg.header().published_packets) >= target || producer->poll();
        }));
        REQUIRE(producer->running());
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 400));
        producer->kill();
        producer = startProducer(janitor.name(), packets, dir, {"batch_packets=40"});
    }
    requireCleanExit(*producer, "producer");
    const auto last = producer->result();
    CHECK(last.at("start") + last.at("packets") == packets);
    CHECK(last.at("start") > 0);

    const std::uint64_t checksum = streamChecksum(packets);
    for (std::size_t i = 0; i < consumers.size(); ++i) {
        requireCleanExit(*consumers[i], names[i].c_str());
        const auto r = consumers[i]->result();
        INFO("consumer " << names[i]);
        CHECK(r.at("packets") == packets);
        CHECK(r.at("bytes") == streamBytes(packets));
        CHECK(r.at("next_seq") == packets);
        CHECK(r.at("errors") == 0);
        CHECK(r.at("gaps") == 0);
        CHECK(r.at("repeats") == 0);
        CHECK(r.at("lost_packets") == 0);
        CHECK(r.at("corrupt") == 0);
        CHECK(r.at("checksum") == checksum);
    }
    const RingSnapshot snap = janitor.snapshot();
    CHECK(snap.publishedPackets == packets);
    CHECK(snap.producerGeneration == KILLS + 1);
    CHECK(snap.producerState == ProducerState::Finished);
}
