// One producer process, four consumer processes, millions of packets of mixed sizes: every
// consumer sees every packet exactly once, in order, with its bytes intact.
#include <catch2/catch.hpp>

#include "ring_multiproc.hpp"

using namespace pushcap::router;
using namespace pushcap::ringtest;

TEST_CASE("four consumer processes each see every packet once, in order, intact",
          "[ring][multiproc]") {
    const std::uint64_t packets = scaled(10'000'000, 20'000);
    RingConfig c;
    c.instance = uniqueInstance("bcast");
    c.source = "src";
    c.dataCapacity = 16 << 20;
    c.maxBatchBytes = 256 << 10;
    // Lossless, so four consumers sharing two cores with the producer are never lapped.
    c.mode = RingMode::Lossless;
    SegmentGuard guard(segmentName(c.instance, c.source));
    RingJanitor janitor(c);
    const std::vector<std::string> names = {"c0", "c1", "c2", "c3"};
    for (const std::string& n : names)
        janitor.addConsumer(n);

    TempDir dir;
    std::vector<std::unique_ptr<Peer>> consumers;
    for (const std::string& n : names)
        consumers.push_back(startConsumer(janitor.name(), n, dir));
    auto producer = startProducer(janitor.name(), packets, dir, {"batch_packets=512"});

    requireCleanExit(*producer, "producer");
    const auto produced = producer->result();
    REQUIRE(produced.at("packets") == packets);
    REQUIRE(produced.at("start") == 0);
    const std::uint64_t bytes = produced.at("bytes");
    CHECK(bytes == streamBytes(packets));

    for (std::size_t i = 0; i < consumers.size(); ++i) {
        requireCleanExit(*consumers[i], names[i].c_str());
        const auto r = consumers[i]->result();
        INFO("consumer " << names[i]);
        CHECK(r.at("packets") == packets);
        CHECK(r.at("bytes") == bytes);
        CHECK(r.at("next_seq") == packets);
        CHECK(r.at("errors") == 0);
        CHECK(r.at("gaps") == 0);
        CHECK(r.at("repeats") == 0);
        CHECK(r.at("lost_packets") == 0);
        CHECK(r.at("corrupt") == 0);
        CHECK(r.at("checksum") == produced.at("checksum"));
    }
    const RingSnapshot snap = janitor.snapshot();
    CHECK(snap.publishedPackets == packets);
    CHECK(snap.publishedBytes == bytes);
    CHECK(snap.producerState == ProducerState::Finished);
    CHECK(snap.deadConsumerSkips == 0);
    for (const ConsumerSnapshot& cs : snap.consumers) {
        CHECK(cs.committedPos == snap.writePos);
        CHECK(cs.counters[COUNTER_PACKETS_READ] == packets);
    }
}
