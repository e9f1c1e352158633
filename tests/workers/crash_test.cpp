// Issue 3 test 3: SIGKILL the workers 20 times at random moments of a lossless run; the files
// must be identical to an undisturbed run's (same names, same bytes), match the tcpdump oracle,
// and no .pending may be left.
#include <catch2/catch.hpp>

#include <signal.h>

#include <memory>
#include <optional>
#include <random>
#include <thread>

#include "router/ring_janitor.hpp"
#include "worker_test_support.hpp"

using namespace pushcap::workers::test;
using namespace std::chrono_literals;
using pushcap::router::RingConfig;
using pushcap::router::RingJanitor;
using pushcap::router::RingMode;

namespace {

struct Target {
    std::string name;
    std::vector<std::string> args;
    std::string outDir;  // where complete files end up
};

std::unique_ptr<RingJanitor> makeRing(std::uint64_t capacity, std::uint32_t maxBatch) {
    RingConfig c;
    c.instance = uniqueName("wc");
    c.source = "src";
    c.dataCapacity = capacity;
    c.maxBatchBytes = maxBatch;
    c.mode = RingMode::Lossless;
    return std::make_unique<RingJanitor>(c);
}

std::uint64_t committed(RingJanitor& ring, const std::string& consumer) {
    for (const auto& c : ring.snapshot().consumers) {
        if (c.name == consumer)
            return c.committedPos;
    }
    return 0;
}

}  // namespace

TEST_CASE("SIGKILL at random moments loses and duplicates nothing", "[e2e][multiproc]") {
    TempDir tmp;
    const double scale = testScale();
    const auto count = static_cast<long>(80000 * scale);
    const std::string in =
        makeInput(tmp.path, "--count " + std::to_string(count) + " --duration 10 --seed 11");
    auto targets = [&](const std::string& root) {
        return std::vector<Target>{
            {"all", {"--split-byte", "1e6", "--filename-epoch-nsec"}, root + "/all"},
            {"tcp",
             {"--filter", "tcp or vlan", "--split-time", "1e9", "--filename-epoch-sec-startend",
              "--completed-path", root + "/tcp-done"},
             root + "/tcp-done"},
        };
    };

    // Reference: the same targets, undisturbed.
    {
        auto ring = makeRing(8 << 20, 256 << 10);
        std::vector<std::unique_ptr<Child>> workers;
        for (const Target& t : targets(tmp.path + "/ref")) {
            ring->addConsumer(t.name);
            workers.push_back(std::make_unique<Child>(
                workerCommand(ring->name(), t.name, tmp.path + "/ref/" + t.name + "/out", t.args),
                tmp.path + "/ref-" + t.name + ".log", true));
            REQUIRE(workers.back()->waitReady(20s));
        }
        Child feeder(feederCommand(ring->name(), in), tmp.path + "/ref-feeder.log");
        REQUIRE(feeder.exitCode(60s) == 0);
        for (auto& w : workers)
            REQUIRE(w->exitCode(60s) == 0);
        ring->remove();
    }

    // The same run with a small ring, a paced producer and SIGKILLs.
    auto ring = makeRing(256 << 10, 64 << 10);
    const std::vector<Target> run = targets(tmp.path + "/run");
    std::vector<std::unique_ptr<Child>> workers(run.size());
    auto start = [&](std::size_t i) {
        workers[i] = std::make_unique<Child>(
            workerCommand(ring->name(), run[i].name, tmp.path + "/run/" + run[i].name + "/out",
                          run[i].args),
            tmp.path + "/run-" + run[i].name + ".log", true);
        REQUIRE(workers[i]->waitReady(20s));
    };
    for (std::size_t i = 0; i < run.size(); ++i) {
        ring->addConsumer(run[i].name);
        start(i);
    }
    const unsigned delayUs = static_cast<unsigned>(400 / scale);
    Child feeder(
        feederCommand(ring->name(), in,
                      {"--batch-packets", "32", "--batch-delay-us", std::to_string(delayUs)}),
        tmp.path + "/run-feeder.log");

    const auto seed = std::random_device{}();
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    int kills = 0;
    for (int round = 0; round < 20; ++round) {
        const std::size_t i = rng() % run.size();
        if (!workers[i]->running()) {
            if (!workers[1 - i]->running())
                break;
            continue;
        }
        // Kill once the worker made progress since its (re)start, after a random extra delay.
        const std::uint64_t before = committed(*ring, run[i].name);
        waitFor([&] { return committed(*ring, run[i].name) != before || !workers[i]->running(); },
                10s);
        std::this_thread::sleep_for(std::chrono::microseconds(rng() % 40000));
        if (!workers[i]->running())
            continue;
        workers[i]->kill(SIGKILL);
        const std::optional<int> code = workers[i]->exitCode(10s);
        // The worker may have drained the last batch and exited 0 just before the signal came.
        if (code == 0)
            continue;
        REQUIRE(code == 128 + SIGKILL);
        ++kills;
        start(i);
    }
    WARN("SIGKILLed workers " << kills << " times");
    CHECK(kills >= (scale < 1 ? 3 : 15));
    REQUIRE(feeder.exitCode(120s) == 0);
    for (std::size_t i = 0; i < run.size(); ++i) {
        INFO(readFile(workers[i]->logFile()));
        REQUIRE(workers[i]->exitCode(60s) == 0);
    }

    const std::vector<Target> ref = targets(tmp.path + "/ref");
    const std::vector<std::string> filters = {"", "tcp or vlan"};
    for (std::size_t i = 0; i < run.size(); ++i) {
        const auto refFiles = listFiles(ref[i].outDir);
        const auto runFiles = listFiles(run[i].outDir);
        CHECK(refFiles.size() >= 3);
        CHECK(runFiles == refFiles);
        for (const std::string& n : runFiles) {
            INFO(n);
            CHECK(n.find(".pending") == std::string::npos);
            CHECK(readFile(run[i].outDir + "/" + n) == readFile(ref[i].outDir + "/" + n));
        }
        CHECK(concatenatedRecords(run[i].outDir, ".pcap") ==
              oracle(in, filters[i], tmp.path).records);
    }
    // Nothing pending anywhere, including the Path directory of the CompletedPath target.
    for (const std::string& d : {tmp.path + "/run/all", tmp.path + "/run/tcp"}) {
        for (const std::string& n : listFiles(d))
            CHECK(n.find(".pending") == std::string::npos);
    }
    ring->remove();
}

TEST_CASE("SIGTERM completes files and commits; a restart goes on without loss",
          "[e2e][multiproc]") {
    TempDir tmp;
    const double scale = testScale();
    const auto count = static_cast<long>(20000 * scale);
    const std::string in =
        makeInput(tmp.path, "--count " + std::to_string(count) + " --duration 10 --seed 21");
    auto ring = makeRing(256 << 10, 64 << 10);
    ring->addConsumer("term");
    auto command =
        workerCommand(ring->name(), "term", tmp.path + "/term/out",
                      {"--filter", "not arp", "--split-time", "1e9", "--filename-epoch-sec"});
    auto worker = std::make_unique<Child>(command, tmp.path + "/term.log", true);
    REQUIRE(worker->waitReady(20s));
    const unsigned delayUs = static_cast<unsigned>(400 / scale);
    Child feeder(
        feederCommand(ring->name(), in,
                      {"--batch-packets", "32", "--batch-delay-us", std::to_string(delayUs)}),
        tmp.path + "/feeder.log");
    for (int round = 0; round < 3; ++round) {
        const std::uint64_t before = committed(*ring, "term");
        REQUIRE(waitFor([&] { return committed(*ring, "term") != before; }, 10s));
        if (!worker->running())
            break;
        worker->kill(SIGTERM);
        REQUIRE(worker->exitCode(20s) == 0);
        // Stopped cleanly: every file is complete.
        for (const std::string& n : listFiles(tmp.path + "/term"))
            CHECK(n.find(".pending") == std::string::npos);
        worker = std::make_unique<Child>(command, tmp.path + "/term.log", true);
        REQUIRE(worker->waitReady(20s));
    }
    REQUIRE(feeder.exitCode(60s) == 0);
    REQUIRE(worker->exitCode(60s) == 0);
    CHECK(concatenatedRecords(tmp.path + "/term", ".pcap") ==
          oracle(in, "not arp", tmp.path).records);
    ring->remove();
}
