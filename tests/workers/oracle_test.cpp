// Issue 3 test 1 (oracle: each target's files, concatenated, hold exactly the packets of
// `tcpdump -r IN -w - FILTER`, byte for byte, in order) and file names/boundaries end to end.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <memory>

#include "router/ring_janitor.hpp"
#include "worker_test_support.hpp"

using namespace pushcap::workers::test;
using namespace std::chrono_literals;
using pushcap::router::RingConfig;
using pushcap::router::RingJanitor;
using pushcap::router::RingMode;

namespace {

struct TestRing {
    TestRing(std::uint64_t capacity, RingMode mode) {
        RingConfig c;
        c.instance = uniqueName("wk");
        c.source = "src";
        c.dataCapacity = capacity;
        c.mode = mode;
        janitor = std::make_unique<RingJanitor>(c);
    }
    ~TestRing() { janitor->remove(); }
    std::string name() const { return janitor->name(); }
    std::unique_ptr<RingJanitor> janitor;
};

}  // namespace

TEST_CASE("each target's files hold exactly tcpdump's packets for its filter", "[e2e][multiproc]") {
    TempDir tmp;
    TempDir shm;  // CompletedPath on another filesystem for one target
    const std::string shmDir = "/dev/shm/" + uniqueName("pushcap-wt-done");
    const auto count = static_cast<long>(std::lround(60000 * testScale()));
    const std::string in =
        makeInput(tmp.path, "--count " + std::to_string(count) + " --duration 10 --seed 7");

    const std::vector<std::string> filters = {
        "",
        "net 192.168.1.0/24 and tcp",
        "vlan",
        "ip6",
        "port 443",
        "not tcp",
        "udp port 53",
        "icmp or icmp6",
        "arp",
        "vlan and tcp",
        "tcp[tcpflags] & tcp-push != 0",
        "greater 1000",
    };
    TestRing ring(16 << 20, RingMode::Lossless);
    std::vector<std::unique_ptr<Child>> workers;
    for (std::size_t i = 0; i < filters.size(); ++i) {
        const std::string name = "t" + std::to_string(i);
        ring.janitor->addConsumer(name);
        std::vector<std::string> extra = {"--filter", filters[i], "--log-dir", tmp.path + "/log"};
        if (i % 2 == 0) {
            extra.insert(extra.end(), {"--split-time", "1e9", "--filename-epoch-sec-startend"});
        } else {
            extra.insert(extra.end(), {"--split-byte", "1e6", "--filename-epoch-nsec"});
        }
        if (i == 1)
            extra.insert(extra.end(), {"--completed-path", shmDir});
        workers.push_back(std::make_unique<Child>(
            workerCommand(ring.name(), name, tmp.path + "/" + name + "/out", extra),
            tmp.path + "/" + name + ".log", true));
    }
    for (auto& w : workers)
        REQUIRE(w->waitReady(20s));
    Child feeder(feederCommand(ring.name(), in), tmp.path + "/feeder.log");
    REQUIRE(feeder.exitCode(60s) == 0);
    for (std::size_t i = 0; i < filters.size(); ++i) {
        INFO("filter \"" << filters[i] << "\", log " << readFile(workers[i]->logFile()));
        REQUIRE(workers[i]->exitCode(60s) == 0);
        const std::string dir = i == 1 ? shmDir : tmp.path + "/t" + std::to_string(i);
        const PcapFile expected = oracle(in, filters[i], tmp.path);
        std::vector<std::string> names;
        const std::string got = concatenatedRecords(dir, ".pcap", &names);
        CHECK(expected.packets > 0);
        CHECK(got.size() == expected.records.size());
        CHECK(got == expected.records);
        for (const std::string& n : listFiles(dir)) {
            CHECK(n.find(".pending") == std::string::npos);
            const PcapFile f = readPcap(dir + "/" + n);
            CHECK(f.wellFormed);
            CHECK(f.magic == 0xa1b23c4d);
            CHECK(f.linkType == expected.linkType);
            CHECK(f.snaplen == expected.snaplen);
            if (i % 2 == 1)
                CHECK(f.records.size() + 24 <= 1'000'000);
        }
        if (i == 1)
            CHECK(listFiles(tmp.path + "/t1").empty());
    }
    // FMADIO's per-target log file with progress and completion lines.
    const auto logs = listFiles(tmp.path + "/log");
    REQUIRE(logs.size() == filters.size());
    const std::string log = readFile(tmp.path + "/log/" + logs[0]);
    CHECK(logs[0].rfind("push_t0_", 0) == 0);
    CHECK(log.find(" H][") != std::string::npos);
    CHECK(log.find(": Total Bytes ") != std::string::npos);
    CHECK(log.find("Completed Bytes") != std::string::npos);
    runShell("rm -rf " + quote(shmDir));
}

TEST_CASE("split-time files are aligned and named by their interval", "[e2e][multiproc]") {
    TempDir tmp;
    // FMADIO's example: traffic from 09:51:04 UTC over 130 s, 60 s split.
    const std::string in =
        makeInput(tmp.path, "--count 3000 --start 1621849864 --duration 130 --seed 3");
    TestRing ring(4 << 20, RingMode::Lossless);
    ring.janitor->addConsumer("all");
    ring.janitor->addConsumer("osmo");
    ring.janitor->addConsumer("ist");
    Child a(workerCommand(ring.name(), "all", tmp.path + "/push/all",
                          {"--split-time", "60e9", "--filename-epoch-sec-startend"}),
            tmp.path + "/all.log", true);
    Child b(workerCommand(ring.name(), "osmo", tmp.path + "/osmo/",
                          {"--rotate-localtime", "minute mod 1", "--filename-osmo",
                           "--max-file-size", "1e7"}),
            tmp.path + "/osmo.log", true, {"TZ=America/New_York"});
    Child c(
        workerCommand(ring.name(), "ist", tmp.path + "/ist/x",
                      {"--split-time", "60e9", "--filename-tstr-HHMMSS_TZ", "--suffix", ".cap"}),
        tmp.path + "/ist.log", true, {"TZ=Asia/Kolkata"});
    REQUIRE(a.waitReady(20s));
    REQUIRE(b.waitReady(20s));
    REQUIRE(c.waitReady(20s));
    Child feeder(feederCommand(ring.name(), in), tmp.path + "/feeder.log");
    REQUIRE(feeder.exitCode(30s) == 0);
    REQUIRE(a.exitCode(30s) == 0);
    REQUIRE(b.exitCode(30s) == 0);
    REQUIRE(c.exitCode(30s) == 0);
    CHECK(listFiles(tmp.path + "/push") ==
          std::vector<std::string>{"all_1621849860-1621849920.pcap",
                                   "all_1621849920-1621849980.pcap",
                                   "all_1621849980-1621850040.pcap"});
    // osmo: named by the first packet's local time (New York, EDT in May), one per minute.
    const auto osmo = listFiles(tmp.path + "/osmo");
    REQUIRE(osmo.size() == 3);
    CHECK(osmo[0].rfind("trace-osmo-20210524_0551", 0) == 0);
    CHECK(osmo[1].rfind("trace-osmo-20210524_0552", 0) == 0);
    CHECK(osmo[2].rfind("trace-osmo-20210524_0553", 0) == 0);
    CHECK(listFiles(tmp.path + "/ist") ==
          std::vector<std::string>{"x_2021-05-24_15:21:00+05:30.cap",
                                   "x_2021-05-24_15:22:00+05:30.cap",
                                   "x_2021-05-24_15:23:00+05:30.cap"});
    const PcapFile all = oracle(in, "", tmp.path);
    CHECK(concatenatedRecords(tmp.path + "/push", ".pcap") == all.records);
    CHECK(concatenatedRecords(tmp.path + "/osmo", ".pcap") == all.records);
    CHECK(concatenatedRecords(tmp.path + "/ist", ".cap") == all.records);
}

// Not run by CTest ("[.]"): prints the push speed against the copy floor on the same files.
//   PUSHCAP_BENCH_INPUT=big.pcap workers_oracle_test "[bench]"
TEST_CASE("bench: one worker pushing a file, against cat", "[.][bench]") {
    const char* input = std::getenv("PUSHCAP_BENCH_INPUT");
    if (input == nullptr)
        return;
    TempDir tmp;
    auto seconds = [](auto since) {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
    };
    auto t0 = std::chrono::steady_clock::now();
    runShell("cat " + quote(input) + " > " + quote(tmp.path + "/copy") + " && sync -f " +
             quote(tmp.path));
    const double floor = seconds(t0);
    runShell("rm -f " + quote(tmp.path + "/copy"));
    WARN("copy floor (cat IN > OUT): " << floor << " s");
    for (const std::string filter : {"", "tcp", "net 192.168.1.0/24 and tcp"}) {
        TestRing ring(64 << 20, RingMode::Lossless);
        ring.janitor->addConsumer("b");
        const std::string dir = tmp.path + "/" + uniqueName("b");
        Child w(workerCommand(ring.name(), "b", dir + "/out",
                              {"--filter", filter, "--split-byte", "1e9"}),
                tmp.path + "/b.log", true);
        REQUIRE(w.waitReady(20s));
        t0 = std::chrono::steady_clock::now();
        Child feeder(feederCommand(ring.name(), input), tmp.path + "/feeder.log");
        REQUIRE(feeder.exitCode(300s) == 0);
        const double feedOnly = seconds(t0);
        REQUIRE(w.exitCode(300s) == 0);
        const double total = seconds(t0);
        runShell("sync -f " + quote(tmp.path));
        const double synced = seconds(t0);
        WARN("filter \"" << filter << "\": feeder done " << feedOnly << " s, worker done " << total
                         << " s, after sync " << synced << " s (" << synced / floor << " x floor)");
        runShell("rm -rf " + quote(dir));
    }
}
