// Lossless mode: a consumer that appends what it handles to a file and commits (ring position +
// file offset) after writing is SIGKILLed at random moments 20 times and restarted. At the end
// the file holds every packet exactly once, in order.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include "ring_multiproc.hpp"
#include "router/atomic_field.hpp"

using namespace pushcap::router;
using namespace pushcap::ringtest;

namespace {

std::uint64_t fileSize(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

}  // namespace

TEST_CASE("a consumer SIGKILLed 20 times loses and duplicates nothing", "[ring][multiproc]") {
    constexpr int KILLS = 20;
    const std::uint64_t packets = scaled(1'000'000, 40'000);
    RingConfig c;
    c.instance = uniqueInstance("ckill");
    c.source = "src";
    // A small ring, so the producer really waits for the victim while it is dead or restarting.
    c.dataCapacity = 1 << 20;
    c.maxBatchBytes = 64 << 10;
    c.mode = RingMode::Lossless;
    c.deadConsumerGraceNs = 600'000'000'000ULL;  // never give up on the victim in this test
    SegmentGuard guard(segmentName(c.instance, c.source));
    RingJanitor janitor(c);
    janitor.addConsumer("victim");
    const RingSegment seg = RingSegment::open(janitor.name());
    const ConsumerSlot& slot = slotOf(seg, "victim");

    TempDir dir;
    const std::string out = dir.file("victim.pcapdata");
    const std::vector<std::string> consumerArgs = {"out=" + out, "commit_every=1"};
    auto victim = startConsumer(janitor.name(), "victim", dir, consumerArgs);
    auto producer = startProducer(janitor.name(), packets, dir, {"batch_packets=48"});

    std::mt19937_64 rng(Catch::rngSeed() + static_cast<std::uint64_t>(::getpid()));
    int dirtyKills = 0;  // kills that left written-but-uncommitted bytes behind
    for (int k = 1; k <= KILLS; ++k) {
        const std::uint64_t target =
            k * packets / (KILLS + 6) + rng() % (packets / (2 * (KILLS + 6)));
        auto committed = [&] { return readCommit(slot).counters[COUNTER_PACKETS_READ]; };
        INFO("kill " << k << " at " << target << " packets");
        REQUIRE(waitUntil([&] { return committed() >= target || victim->poll(); }));
        REQUIRE(victim->running());  // it must not have finished before the last kill
        // A random extra moment, so kills land anywhere in the read/write/commit cycle.
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 400));
        victim->kill();
        std::uint64_t offset = 0;
        const ConsumerCommit rec = readCommit(slot);
        std::memcpy(&offset, rec.blob, sizeof offset);
        if (fileSize(out) > offset)
            ++dirtyKills;
        victim = startConsumer(janitor.name(), "victim", dir, consumerArgs);
        // Kill only consumers that have attached: a kill before that exercises nothing.
        REQUIRE(waitUntil([&] {
            return loadAcquire(slot.owner_pid) == static_cast<std::uint32_t>(victim->pid()) ||
                   victim->poll();
        }));
    }
    requireCleanExit(*producer, "producer");
    requireCleanExit(*victim, "victim");
    std::printf("consumer kill test: %d kills, %d with uncommitted bytes in the file\n", KILLS,
                dirtyKills);

    const auto r = victim->result();
    CHECK(r.at("packets") == packets);  // counters survive restarts through the commit
    CHECK(r.at("errors") == 0);
    CHECK(r.at("gaps") == 0);
    CHECK(r.at("repeats") == 0);
    CHECK(r.at("lost_packets") == 0);
    CHECK(r.at("checksum") == streamChecksum(packets));

    // The oracle: the file itself, record by record.
    std::ifstream in(out, std::ios::binary);
    REQUIRE(in);
    std::vector<std::byte> data(MAX_CAPLEN);
    std::uint64_t seq = 0, bad = 0;
    PcapRecordHeader h;
    while (in.read(reinterpret_cast<char*>(&h), sizeof h)) {
        if (h.caplen > 1514 || !in.read(reinterpret_cast<char*>(data.data()), h.caplen)) {
            FAIL("record " << seq << " in the file is cut or has caplen " << h.caplen);
        }
        if (!packetMatches(seq, h, data.data())) {
            if (bad++ == 0)
                FAIL_CHECK("first bad record in the file: expected seq " << seq);
        }
        ++seq;
    }
    CHECK(in.gcount() == 0);  // no partial record at the end
    CHECK(seq == packets);
    CHECK(bad == 0);
    CHECK(fileSize(out) == streamBytes(packets) + packets * sizeof(PcapRecordHeader));

    const RingSnapshot snap = janitor.snapshot();
    REQUIRE(snap.consumers.size() == 1);
    CHECK(snap.consumers[0].attaches == KILLS + 1);
    CHECK(snap.consumers[0].skippedByProducer == 0);
    CHECK(snap.deadConsumerSkips == 0);
}
