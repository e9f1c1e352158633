// Issue 4 tests 1, 2 and 4: stored files -> pushcap-capture -> ring -> a test consumer.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>

#include "capture_test_support.hpp"

using namespace pushcap::testing;
namespace router = pushcap::router;

namespace {

constexpr int DEADLINE_MS = 90'000;

struct PushResult {
    int exitCode = -1;
    bool endOfStream = false;
    std::vector<Packet> packets;
    std::string log;
};

std::string gen() {
    return binDir() + "/pushcap-gen";
}
std::string capture() {
    return binDir() + "/pushcap-capture";
}

std::uint64_t scaled(std::uint64_t n) {
    return std::max<std::uint64_t>(200, std::uint64_t(double(n) * testScale()));
}

void generate(const std::string& path, std::vector<std::string> extra) {
    std::vector<std::string> argv = {gen(), "--out", path, "--quiet"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    REQUIRE(runCommand(argv) == 0);
}

router::RingConfig ringConfig(const std::string& source) {
    router::RingConfig cfg;
    cfg.instance = uniqueInstance("capt");
    cfg.source = source;
    cfg.dataCapacity = 1 << 20;  // small: the producer must wait for the consumer and wrap
    cfg.maxBatchBytes = 64 << 10;
    cfg.mode = router::RingMode::Lossless;
    return cfg;
}

PushResult push(const std::string& dir, const std::vector<std::string>& files) {
    router::RingJanitor janitor(ringConfig("files"));
    janitor.addConsumer("test");
    PushResult r;
    {
        RingConsumer consumer(janitor.name(), "test");
        std::vector<std::string> argv = {capture(), "--ring", janitor.name()};
        for (const auto& f : files) {
            argv.push_back("--file");
            argv.push_back(f);
        }
        const std::string log = dir + "/capture.log";
        ::unlink(log.c_str());
        const pid_t pid = spawn(argv, log);
        for (int waited = 0; waited < DEADLINE_MS; waited += 100) {
            if (consumer.poll(r.packets, 100)) {
                r.endOfStream = true;
                break;
            }
            int status = 0;
            if (exited(pid, status)) {
                r.exitCode = status;
                r.endOfStream = consumer.poll(r.packets, 300);  // everything is published by now
                break;
            }
        }
        if (r.exitCode == -1)
            r.exitCode = waitExit(pid, 20'000);
        r.log = readText(log);
    }
    janitor.remove();
    return r;
}

void requireSame(const std::vector<Packet>& got, const std::vector<Packet>& want) {
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
        INFO("packet " << i);
        REQUIRE(got[i].sourceId == want[i].sourceId);
        REQUIRE(got[i].linkType == want[i].linkType);
        REQUIRE(got[i].sec == want[i].sec);
        REQUIRE(got[i].nsec == want[i].nsec);
        REQUIRE(got[i].wireLen == want[i].wireLen);
        REQUIRE(got[i].bytes == want[i].bytes);
    }
}

struct TempDir {
    std::string path = makeTempDir();
    ~TempDir() { removeTree(path); }
};

}  // namespace

TEST_CASE("pcap files arrive whole: us and ns, both byte orders", "[e2e][capture]") {
    TempDir dir;
    const std::string count = std::to_string(scaled(20000));
    struct Variant {
        const char* name;
        std::vector<std::string> args;
    };
    const std::vector<Variant> variants = {{"ns-le", {}},
                                           {"us-le", {"--usec"}},
                                           {"ns-be", {"--big-endian"}},
                                           {"us-be", {"--usec", "--big-endian", "--size", "1500"}}};
    for (const auto& v : variants) {
        SECTION(v.name) {
            const std::string path = dir.path + "/" + v.name + ".pcap";
            std::vector<std::string> args = {"--count", count, "--seed", "11"};
            args.insert(args.end(), v.args.begin(), v.args.end());
            generate(path, args);
            const auto want = readWithLibpcap(path);
            REQUIRE(want.size() == std::stoull(count));
            const PushResult r = push(dir.path, {path});
            INFO(r.log);
            CHECK(r.exitCode == 0);
            CHECK(r.endOfStream);
            requireSame(r.packets, want);
        }
    }
}

TEST_CASE("pcapng with two interfaces of different link types, then a pcap, in order",
          "[e2e][capture]") {
    TempDir dir;
    const std::string ng = dir.path + "/two.pcapng", ngBe = dir.path + "/two-be.pcapng",
                      pcap = dir.path + "/one.pcap";
    const std::string count = std::to_string(scaled(3000));
    generate(ng, {"--format", "pcapng", "--interfaces", "2", "--count", count, "--seed", "5"});
    generate(ngBe, {"--format", "pcapng", "--interfaces", "2", "--count", count, "--seed", "6",
                    "--usec", "--big-endian", "--start", "1700000100"});
    generate(pcap, {"--count", count, "--seed", "7", "--start", "1700000200"});
    auto want = readWithTshark(ng, {1, 101});
    const auto wantBe = readWithTshark(ngBe, {1, 101});
    const auto wantPcap = readWithLibpcap(pcap);
    std::size_t raw = 0;
    for (const auto& p : want)
        raw += p.linkType == 101;
    REQUIRE(raw > 0);
    REQUIRE(raw < want.size());
    want.insert(want.end(), wantBe.begin(), wantBe.end());
    want.insert(want.end(), wantPcap.begin(), wantPcap.end());

    const PushResult r = push(dir.path, {ng, ngBe, pcap});
    INFO(r.log);
    CHECK(r.exitCode == 0);
    CHECK(r.endOfStream);
    requireSame(r.packets, want);
}

namespace {

// Offsets of the records of a pcap file written by pushcap-gen (24-byte header, 16 + caplen).
std::vector<std::uint64_t> pcapOffsets(const std::vector<Packet>& packets) {
    std::vector<std::uint64_t> offsets;
    std::uint64_t at = 24;
    for (const auto& p : packets) {
        offsets.push_back(at);
        at += 16 + p.bytes.size();
    }
    offsets.push_back(at);
    return offsets;
}

void truncateTo(const std::string& path, std::uint64_t size) {
    REQUIRE(::truncate(path.c_str(), off_t(size)) == 0);
}

void pokeU32(const std::string& path, std::uint64_t offset, std::uint32_t value) {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(std::streamoff(offset));
    f.write(reinterpret_cast<const char*>(&value), 4);
}

void requireDamage(const PushResult& r, const std::vector<Packet>& want, std::size_t good,
                   const std::string& file, std::uint64_t offset) {
    INFO(r.log);
    CHECK(r.exitCode == 65);  // EXIT_INPUT_DAMAGED
    CHECK_FALSE(r.endOfStream);
    const std::vector<Packet> prefix(want.begin(), want.begin() + std::ptrdiff_t(good));
    requireSame(r.packets, prefix);
    CHECK(r.log.find(file) != std::string::npos);
    CHECK(r.log.find("byte offset " + std::to_string(offset)) != std::string::npos);
}

}  // namespace

TEST_CASE("truncated and corrupt files: good packets first, then a clear error", "[e2e][capture]") {
    TempDir dir;
    const std::string count = std::to_string(scaled(5000));
    const std::string base = dir.path + "/base.pcap";
    generate(base, {"--count", count, "--seed", "21"});
    const auto want = readWithLibpcap(base);
    const auto offsets = pcapOffsets(want);
    const std::size_t mid = want.size() / 2;

    SECTION("pcap cut inside a packet") {
        truncateTo(base, offsets[mid] + 16 + 3);
        requireDamage(push(dir.path, {base}), want, mid, base, offsets[mid]);
    }
    SECTION("pcap cut inside a record header") {
        truncateTo(base, offsets[mid] + 7);
        requireDamage(push(dir.path, {base}), want, mid, base, offsets[mid]);
    }
    SECTION("pcap with an impossible record length") {
        pokeU32(base, offsets[mid] + 8, 0x7ffffff0);
        requireDamage(push(dir.path, {base}), want, mid, base, offsets[mid]);
    }
    SECTION("damage in the second file of a list") {
        const std::string second = dir.path + "/second.pcap";
        generate(second, {"--count", count, "--seed", "22"});
        const auto want2 = readWithLibpcap(second);
        const auto offsets2 = pcapOffsets(want2);
        truncateTo(second, offsets2[mid] + 20);
        std::vector<Packet> all = want;
        all.insert(all.end(), want2.begin(), want2.end());
        requireDamage(push(dir.path, {base, second}), all, want.size() + mid, second,
                      offsets2[mid]);
    }
    SECTION("pcapng cut inside a block and with a bad trailer") {
        const std::string ng = dir.path + "/one.pcapng";
        generate(ng, {"--format", "pcapng", "--count", count, "--seed", "23"});
        const auto wantNg = readWithLibpcap(ng);
        std::vector<std::uint64_t> blocks;  // SHB 28 + IDB 32, then EPBs of 32 + padded caplen
        std::uint64_t at = 60;
        for (const auto& p : wantNg) {
            blocks.push_back(at);
            at += 32 + ((p.bytes.size() + 3) & ~std::size_t(3));
        }
        blocks.push_back(at);
        const std::string copy = dir.path + "/trailer.pcapng";
        REQUIRE(runCommand({"cp", ng, copy}) == 0);
        truncateTo(ng, blocks[mid] + 40);
        requireDamage(push(dir.path, {ng}), wantNg, mid, ng, blocks[mid]);
        pokeU32(copy, blocks[mid + 1] - 4, 12345);
        requireDamage(push(dir.path, {copy}), wantNg, mid, copy, blocks[mid]);
    }
    SECTION("not a capture file at all: refused at start with exit 78") {
        const std::string junk = dir.path + "/junk.pcap";
        std::ofstream(junk) << "this is not a pcap file\n";
        const PushResult r = push(dir.path, {junk});
        INFO(r.log);
        CHECK(r.exitCode == 78);
        CHECK(r.packets.empty());
        CHECK(r.log.find(junk) != std::string::npos);
    }
}

namespace {

// A nanosecond pcap written here, with what the ring must hold for each record.
struct CraftedPcap {
    std::string bytes;
    std::vector<Packet> want;
    std::vector<std::uint64_t> offsets;  // of each record, then of the end
};

void appendU32(std::string& s, std::uint32_t v) {
    s.append(reinterpret_cast<const char*>(&v), 4);
}

}  // namespace

TEST_CASE("pcap records the in-place walk cannot take are delivered as before", "[e2e][capture]") {
    // The ring of push(): 64 KiB batches, so a record can be larger than a whole batch.
    const std::uint32_t maxCaptured = (64u << 10) - std::uint32_t(sizeof(router::BatchHeader)) - 16;
    CraftedPcap f;
    f.bytes = std::string("\x4d\x3c\xb2\xa1\x02\x00\x04\x00", 8) + std::string(8, '\0');
    appendU32(f.bytes, 262144);
    appendU32(f.bytes, 1);
    std::uint32_t rng = 12345;
    auto next = [&]() { return rng = rng * 1103515245u + 12345u; };
    std::size_t oversized = 0;
    // Over 4 MiB, so the walk reads past what the reader buffered while opening the file.
    for (std::uint32_t i = 0; f.bytes.size() < (6u << 20); ++i) {
        std::uint32_t caplen = 60 + next() % 1400;
        std::uint32_t sec = 1700000000 + i, frac = next() % 1'000'000'000u;
        if (i % 997 == 5) {
            caplen = 100'000 + next() % 100'000;  // larger than a batch: cut to what fits
            ++oversized;
        }
        if (i % 13 == 7)
            frac = 1'000'000'000u + next() % 2'000'000'000u;  // written unnormalised
        f.offsets.push_back(f.bytes.size());
        appendU32(f.bytes, sec);
        appendU32(f.bytes, frac);
        appendU32(f.bytes, caplen);
        appendU32(f.bytes, caplen + 4);
        Packet p;
        p.linkType = 1;
        const std::uint64_t ts = std::uint64_t(sec) * 1'000'000'000ULL + frac;
        p.sec = std::uint32_t(ts / 1'000'000'000ULL);
        p.nsec = std::uint32_t(ts % 1'000'000'000ULL);
        p.wireLen = caplen + 4;
        for (std::uint32_t b = 0; b < caplen; ++b)
            p.bytes.push_back(std::uint8_t(next() >> 24));
        f.bytes.append(reinterpret_cast<const char*>(p.bytes.data()), p.bytes.size());
        p.bytes.resize(std::min(caplen, maxCaptured));
        f.want.push_back(std::move(p));
    }
    f.offsets.push_back(f.bytes.size());
    REQUIRE(f.want.size() > 5000);

    TempDir dir;
    const std::string path = dir.path + "/crafted.pcap";
    std::ofstream(path, std::ios::binary) << f.bytes;
    {
        const PushResult r = push(dir.path, {path});
        INFO(r.log);
        CHECK(r.exitCode == 0);
        CHECK(r.endOfStream);
        requireSame(r.packets, f.want);
        CHECK(r.log.find("truncated " + std::to_string(oversized)) != std::string::npos);
    }
    // Cut past the first 4 MiB: inside a record's data, then inside a header.
    const std::size_t late = f.want.size() * 5 / 6;
    REQUIRE(f.offsets[late] > (4u << 20));
    truncateTo(path, f.offsets[late] + 16 + 1);
    requireDamage(push(dir.path, {path}), f.want, late, path, f.offsets[late]);
    truncateTo(path, f.offsets[late] + 9);
    requireDamage(push(dir.path, {path}), f.want, late, path, f.offsets[late]);
}

TEST_CASE("SIGKILL during a push, restart with the same arguments: nothing lost or repeated",
          "[multiproc][capture]") {
    TempDir dir;
    const std::string a = dir.path + "/a.pcap", b = dir.path + "/b.pcapng",
                      c = dir.path + "/c.pcap";
    // At least 15 ring-fulls of data, so every kill point finds the producer mid-push.
    const std::string count = std::to_string(std::max<std::uint64_t>(scaled(30000), 15000));
    generate(a, {"--count", count, "--seed", "31"});
    generate(b, {"--format", "pcapng", "--interfaces", "2", "--count", count, "--seed", "32",
                 "--start", "1700000050"});
    generate(c,
             {"--count", count, "--seed", "33", "--usec", "--big-endian", "--start", "1700000090"});
    const std::vector<std::string> files = {a, b, c};
    // The uninterrupted push is the reference (test 1 checks it against the oracles).
    const PushResult reference = push(dir.path, files);
    REQUIRE(reference.exitCode == 0);
    REQUIRE(reference.packets.size() == 3 * std::stoull(count));

    router::RingJanitor janitor(ringConfig("killed"));
    janitor.addConsumer("test");
    std::vector<Packet> got;
    int kills = 0, exitCode = -1;
    bool eos = false;
    {
        RingConsumer consumer(janitor.name(), "test");
        std::vector<std::string> argv = {capture(), "--ring", janitor.name()};
        for (const auto& f : files) {
            argv.push_back("--file");
            argv.push_back(f);
        }
        const std::string log = dir.path + "/killed.log";
        const std::size_t total = reference.packets.size();
        // Kill points spread over all three files, including the pcapng in the middle.
        const std::vector<std::size_t> killAt = {total / 7, total / 3, total / 2, total * 3 / 5,
                                                 total * 5 / 6};
        pid_t pid = spawn(argv, log);
        for (int waited = 0; waited < DEADLINE_MS * 2 && !eos; waited += 20) {
            eos = consumer.poll(got, 20, 200);
            int status = 0;
            if (kills < int(killAt.size()) && got.size() >= killAt[std::size_t(kills)]) {
                ::kill(pid, SIGKILL);
                REQUIRE(waitExit(pid, 10'000) == -SIGKILL);
                ++kills;
                pid = spawn(argv, log);
            } else if (!eos && exited(pid, status)) {
                exitCode = status;
                eos = consumer.poll(got, 500);
                break;
            }
        }
        if (exitCode == -1)
            exitCode = waitExit(pid, 20'000);
        INFO(readText(log));
        CHECK(exitCode == 0);
    }
    janitor.remove();
    CHECK(kills >= 3);
    CHECK(eos);
    requireSame(got, reference.packets);
}

TEST_CASE("--realtime paces a file push; --user drops root once the inputs are open",
          "[capture][e2e]") {
    if (::geteuid() != 0) {
        WARN("skipped: dropping privileges needs root");
        return;
    }
    const std::string dir = makeTempDir();
    ::chmod(dir.c_str(), 0755);  // the unprivileged capture must still reach its (open) input
    const std::string in = dir + "/paced.pcap";
    REQUIRE(runCommand({binDir() + "/pushcap-gen", "--quiet", "--out", in, "--count", "400",
                        "--duration", "2", "--seed", "21"}) == 0);
    const std::vector<Packet> want = readWithLibpcap(in);
    REQUIRE(want.size() == 400);
    const double span = (want.back().sec - want.front().sec) +
                        (double(want.back().nsec) - double(want.front().nsec)) / 1e9;

    router::RingJanitor janitor(ringConfig("paced"));
    janitor.addConsumer("test");
    std::vector<Packet> got;
    bool endOfStream = false;
    std::string uidLine;
    double elapsed = 0;
    {
        RingConsumer consumer(janitor.name(), "test");
        const pid_t pid = spawn(
            {capture(), "--ring", janitor.name(), "--file", in, "--realtime=4", "--user", "nobody"},
            dir + "/capture.log");
        // The first packet is out: privileges are dropped by now.
        for (int waited = 0; got.empty() && waited < DEADLINE_MS; waited += 100)
            consumer.poll(got, 100, 1);
        const auto start = std::chrono::steady_clock::now();
        const std::string status = readText("/proc/" + std::to_string(pid) + "/status");
        const std::size_t at = status.find("\nUid:");
        if (at != std::string::npos)
            uidLine = status.substr(at + 1, status.find('\n', at + 1) - at - 1);
        for (int waited = 0; !endOfStream && waited < DEADLINE_MS; waited += 100)
            endOfStream = consumer.poll(got, 100);
        elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        CHECK(waitExit(pid, 20'000) == 0);
    }
    janitor.remove();
    INFO(readText(dir + "/capture.log"));
    CHECK(endOfStream);
    CHECK(got == want);
    // nobody is uid 65534 on Debian: real, effective, saved and filesystem uid alike.
    CHECK(uidLine == "Uid:\t65534\t65534\t65534\t65534");
    // Paced at 4x: the 2 s of traffic takes about 0.5 s, never much less.
    CHECK(elapsed >= span / 4 * 0.8);
    removeTree(dir);
}
