// Issue 4 test 3: live capture on a veth pair inside a network namespace, fed by
// `pushcap-gen --inject`. Needs root (CAP_NET_ADMIN/CAP_NET_RAW); skipped with a message otherwise.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "capture_test_support.hpp"

using namespace pushcap::testing;
namespace router = pushcap::router;

namespace {

bool waitReadable(int fd, int timeoutMs) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, timeoutMs) == 1;
}

}  // namespace

TEST_CASE("live capture on a veth pair delivers every injected packet", "[e2e][capture][live]") {
    if (::geteuid() != 0) {
        WARN("skipped: live capture needs root to create a network namespace and a veth pair");
        return;
    }
    const std::string dir = makeTempDir();
    VethNamespace ns(uniqueInstance("pcapt"));
    if (!ns.ok) {
        WARN("skipped: cannot create a network namespace with a veth pair here");
        removeTree(dir);
        return;
    }
    const std::uint64_t count = std::max<std::uint64_t>(500, std::uint64_t(5000 * testScale()));
    const std::string expected = dir + "/expected.pcap";
    REQUIRE(runCommand({binDir() + "/pushcap-gen", "--out", expected, "--count",
                        std::to_string(count), "--seed", "41", "--quiet"}) == 0);
    const auto want = readWithLibpcap(expected);
    REQUIRE(want.size() == count);

    router::RingConfig cfg;
    cfg.instance = uniqueInstance("capl");
    cfg.source = "live";
    cfg.dataCapacity = 16 << 20;
    cfg.mode = router::RingMode::Live;
    router::RingJanitor janitor(cfg);
    janitor.addConsumer("test");
    std::vector<Packet> got;
    {
        RingConsumer consumer(janitor.name(), "test");
        int ready[2];
        REQUIRE(::pipe2(ready, O_CLOEXEC) == 0);
        const std::string log = dir + "/capture.log";
        const pid_t pid =
            spawn({"/usr/bin/ip", "netns", "exec", ns.name, binDir() + "/pushcap-capture", "--ring",
                   janitor.name(), "-i", "vcap", "--ready-fd", "3", "--stats-ms", "500"},
                  log, ready[1]);
        ::close(ready[1]);
        REQUIRE(waitReadable(ready[0], 20'000));
        ::close(ready[0]);

        const std::string injectLog = dir + "/inject.json";
        REQUIRE(runCommand(
                    {"ip", "netns", "exec", ns.name, binDir() + "/pushcap-gen", "--inject", "vinj",
                     "--pps", "20000", "--count", std::to_string(count), "--seed", "41", "--quiet"},
                    injectLog) == 0);

        // Everything injected must show up, in order; other frames (none expected) are ignored.
        std::size_t matched = 0;
        std::size_t scanned = 0;
        for (int waited = 0; waited < 30'000 && matched < want.size(); waited += 50) {
            consumer.poll(got, 50);
            for (; scanned < got.size() && matched < want.size(); ++scanned) {
                if (got[scanned].bytes == want[matched].bytes)
                    ++matched;
            }
        }
        ::kill(pid, SIGTERM);
        const int exitCode = waitExit(pid, 20'000);
        const bool eos = consumer.poll(got, 2'000);
        INFO(readText(log));
        CHECK(matched == want.size());
        CHECK(exitCode == 0);
        CHECK(eos);
        for (const auto& p : got) {
            CHECK(p.linkType == 1);
            CHECK(p.sourceId == 0);
            CHECK(p.wireLen == p.bytes.size());
        }
        const auto snap = janitor.snapshot();
        CHECK(snap.sourceDrops == 0);  // read through pcap_stats and published with the ring
        CHECK(snap.publishedPackets >= want.size());
    }
    janitor.remove();
    removeTree(dir);
}
