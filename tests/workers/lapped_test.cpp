// A worker that the producer may lap (a live ring, or a best-effort slot in a ring whose producer
// waits for the others) writes batches straight from the ring and cuts back a batch that was
// overwritten meanwhile. What must hold however often that happens: every file is whole, its
// records are the producer's records in order (none torn, none twice), and what the files hold
// plus what the worker counts as lost is exactly what was published.
#include <catch2/catch.hpp>

#include <signal.h>

#include <cstring>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

#include "router/ring_janitor.hpp"
#include "worker_test_support.hpp"

using namespace pushcap::workers::test;
using namespace std::chrono_literals;
using pushcap::router::Delivery;
using pushcap::router::RingConfig;
using pushcap::router::RingJanitor;
using pushcap::router::RingMode;

namespace {

std::vector<std::string_view> splitRecords(const std::string& records) {
    std::vector<std::string_view> out;
    std::size_t at = 0;
    while (at + 16 <= records.size()) {
        std::uint32_t caplen = 0;
        std::memcpy(&caplen, records.data() + at + 8, 4);
        out.emplace_back(records.data() + at, 16 + caplen);
        at += 16 + caplen;
    }
    return out;
}

// True if every record of `got` is a record of `want`, in `want`'s order.
bool isSubsequence(const std::vector<std::string_view>& got,
                   const std::vector<std::string_view>& want) {
    std::size_t w = 0;
    for (const std::string_view r : got) {
        while (w < want.size() && want[w] != r)
            ++w;
        if (w == want.size())
            return false;
        ++w;
    }
    return true;
}

}  // namespace

TEST_CASE("a lapped worker keeps only intact records and counts the rest exactly",
          "[e2e][multiproc]") {
    const bool liveRing = GENERATE(true, false);
    INFO((liveRing ? "live ring" : "best-effort slot in a lossless ring"));
    TempDir tmp;
    const auto count = static_cast<long>(60000 * std::max(testScale(), 0.5));
    const std::string in =
        makeInput(tmp.path, "--count " + std::to_string(count) + " --duration 20 --seed 5");
    RingConfig c;
    c.instance = uniqueName("wlap");
    c.source = "src";
    c.dataCapacity = 256 << 10;  // a few batches: laps come often, many of them mid-batch
    c.maxBatchBytes = 32 << 10;
    c.mode = liveRing ? RingMode::Live : RingMode::Lossless;
    RingJanitor ring(c);
    ring.addConsumer("be", true, Delivery::BestEffort);
    const std::string dir = tmp.path + "/be";
    // Small files: rolls (which commit) happen inside batches that are then lapped.
    Child w(workerCommand(ring.name(), "be", dir + "/", {"--split-byte", "20000"}),
            tmp.path + "/be.log", true);
    REQUIRE(w.waitReady(20s));
    Child feeder(feederCommand(ring.name(), in), tmp.path + "/feeder.log");
    // The producer never waits for "be": stopping the worker now and then makes sure it is
    // lapped, also in the middle of a batch.
    for (int i = 0; i < 40 && feeder.running(); ++i) {
        w.kill(SIGSTOP);
        std::this_thread::sleep_for(3ms);
        w.kill(SIGCONT);
        std::this_thread::sleep_for(2ms);
    }
    REQUIRE(feeder.exitCode(60s) == 0);
    REQUIRE(w.exitCode(60s) == 0);

    const std::string want = oracle(in, "", tmp.path).records;
    const std::vector<std::string_view> wanted = splitRecords(want);
    REQUIRE(wanted.size() == static_cast<std::size_t>(count));
    std::uint64_t written = 0;
    for (const std::string& name : listFiles(dir)) {
        INFO(name);
        CHECK(name.find(".pending") == std::string::npos);
        const PcapFile f = readPcap(dir + "/" + name);
        CHECK(f.wellFormed);
        written += f.packets;
    }
    const std::string got = concatenatedRecords(dir, ".pcap");
    CHECK(isSubsequence(splitRecords(got), wanted));
    std::uint64_t lost = 0;
    for (const auto& s : ring.snapshot().consumers) {
        if (s.name == "be")
            lost = s.counters[pushcap::router::COUNTER_PACKETS_LOST];
    }
    INFO("written " << written << " lost " << lost);
    CHECK(written + lost == static_cast<std::uint64_t>(count));
    CHECK(lost > 0);  // the stops above lapped it; otherwise this test proved nothing
    ring.remove();
}
