// Issue 3 test 2 (names and boundaries for every naming mode and split rule, several TZ values,
// DST changes) and the small parsers.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <cstring>
#include <ctime>

#include "workers/config_error.hpp"
#include "workers/file_naming.hpp"
#include "workers/localtime_rotation.hpp"
#include "workers/number_parse.hpp"
#include "workers/packet_filter.hpp"
#include "workers/resume_state.hpp"
#include "workers/split_policy.hpp"
#include "workers/worker_config.hpp"

using namespace pushcap::workers;

namespace {

constexpr std::uint64_t NS = 1'000'000'000ULL;

struct ScopedTz {
    explicit ScopedTz(const char* tz) {
        const char* old = std::getenv("TZ");
        if (old)
            m_old = old;
        m_had = old != nullptr;
        ::setenv("TZ", tz, 1);
        ::tzset();
    }
    ~ScopedTz() {
        if (m_had)
            ::setenv("TZ", m_old.c_str(), 1);
        else
            ::unsetenv("TZ");
        ::tzset();
    }
    std::string m_old;
    bool m_had = false;
};

std::string nameOf(NameMode mode, const char* tz, std::uint64_t startNs, std::uint64_t endNs,
                   const std::string& fmt = "") {
    ScopedTz scoped(tz);
    NamingConfig c;
    c.mode = mode;
    c.strftimeFormat = fmt;
    c.osmoSource = "probe1";
    c.path = "/data/push/all";
    const std::string stem = FileNamer(c).stem(startNs, endNs);
    return stem.substr(std::string("/data/push/all_").size());
}

Period localPeriod(const char* tz, const char* rule, std::uint64_t sec) {
    ScopedTz scoped(tz);
    return LocaltimeRotation::parse(rule).periodFor(sec * NS + 123);
}

}  // namespace

TEST_CASE("every FileName mode, in UTC", "[unit]") {
    const std::uint64_t t = 1700000000ULL * NS + 123456789ULL;
    const std::uint64_t e = 1700000060ULL * NS;
    const char* tz = "UTC";
    CHECK(nameOf(NameMode::EpochSecStartEnd, tz, 1700000000ULL * NS, e) == "1700000000-1700000060");
    CHECK(nameOf(NameMode::EpochSec, tz, t, e) == "1700000000");
    CHECK(nameOf(NameMode::EpochMsec, tz, t, e) == "1700000000123");
    CHECK(nameOf(NameMode::EpochUsec, tz, t, e) == "1700000000123456");
    CHECK(nameOf(NameMode::EpochNsec, tz, t, e) == "1700000000123456789");
    CHECK(nameOf(NameMode::TstrHHMM, tz, t, e) == "20231114_2213");
    CHECK(nameOf(NameMode::TstrHHMMSS, tz, t, e) == "20231114_221320");
    CHECK(nameOf(NameMode::TstrHHMMSS_TZ, tz, t, e) == "2023-11-14_22:13:20+00:00");
    CHECK(nameOf(NameMode::TstrHHMMSS_NS, tz, t, e) == "20231114_221320.123.456.789");
    CHECK(nameOf(NameMode::TstrHHMMSS_SUB, tz, t, e) == "20231114_22-13-20.123456789");
    CHECK(nameOf(NameMode::Strftime, tz, t, e, "%H%M") == "2213");
    CHECK(nameOf(NameMode::Osmo, tz, t, e) == "trace-probe1-20231114_221320");
}

TEST_CASE("time-string names follow TZ, with the offset in force at T", "[unit]") {
    const std::uint64_t t = 1700000000ULL * NS + 5;
    CHECK(nameOf(NameMode::TstrHHMMSS, "America/New_York", t, 0) == "20231114_171320");
    CHECK(nameOf(NameMode::TstrHHMMSS_TZ, "America/New_York", t, 0) == "2023-11-14_17:13:20-05:00");
    CHECK(nameOf(NameMode::TstrHHMM, "Asia/Kolkata", t, 0) == "20231115_0343");
    CHECK(nameOf(NameMode::TstrHHMMSS_TZ, "Asia/Kolkata", t, 0) == "2023-11-15_03:43:20+05:30");
    CHECK(nameOf(NameMode::TstrHHMMSS_SUB, "Asia/Kolkata", t, 0) == "20231115_03-43-20.000000005");
    CHECK(nameOf(NameMode::Osmo, "Asia/Kolkata", t, 0) == "trace-probe1-20231115_034320");
    // Summer time in New York: -04:00 at T, whatever the offset is today.
    CHECK(nameOf(NameMode::TstrHHMMSS_TZ, "America/New_York", 1690000000ULL * NS, 0) ==
          "2023-07-22_00:26:40-04:00");
    // Across the fall-back hour, the same wall time appears with both offsets.
    CHECK(nameOf(NameMode::TstrHHMMSS_TZ, "America/New_York", 1699162200ULL * NS, 0) ==
          "2023-11-05_01:30:00-04:00");
    CHECK(nameOf(NameMode::TstrHHMMSS_TZ, "America/New_York", 1699165800ULL * NS, 0) ==
          "2023-11-05_01:30:00-05:00");
    // Epoch names never depend on TZ.
    CHECK(nameOf(NameMode::EpochSec, "Asia/Kolkata", t, 0) == "1700000000");
}

TEST_CASE("Path joins prefix and name with '_' unless it ends in '/'", "[unit]") {
    ScopedTz scoped("UTC");
    NamingConfig c;
    c.mode = NameMode::EpochSec;
    c.path = "/mnt/remote0/push/all";
    FileNamer a(c);
    CHECK(a.stem(1700000000ULL * NS, 0) == "/mnt/remote0/push/all_1700000000");
    CHECK(a.directory() == "/mnt/remote0/push");
    CHECK(a.filePrefix() == "all_");
    CHECK(a.suffix() == ".pcap");
    c.path = "/mnt/remote0/push/";
    FileNamer b(c);
    CHECK(b.stem(1700000000ULL * NS, 0) == "/mnt/remote0/push/1700000000");
    CHECK(b.filePrefix().empty());
}

TEST_CASE("split-time periods are aligned to the UTC epoch", "[unit]") {
    SplitConfig c;
    c.splitTimeNs = 60 * NS;
    SplitPolicy p(c);
    // FMADIO's example: a 60 s split started at 09:51:04 UTC (18:51:04 on their box) gives
    // 1621849860-1621849920.
    const Period period = p.periodFor(1621849864ULL * NS + 557);
    CHECK(period.startNs == 1621849860ULL * NS);
    CHECK(period.endNs == 1621849920ULL * NS);
    CHECK_FALSE(p.needsNewFile(1000, 5, period, 1621849919ULL * NS + 999999999, 100));
    CHECK(p.needsNewFile(1000, 5, period, 1621849920ULL * NS, 100));
    // Backwards by less than a period stays; by more than a period starts a new file.
    CHECK_FALSE(p.needsNewFile(1000, 5, period, 1621849801ULL * NS, 100));
    CHECK(p.needsNewFile(1000, 5, period, 1621849799ULL * NS, 100));
    // An empty file takes any packet.
    CHECK_FALSE(p.needsNewFile(24, 0, period, 1621849999ULL * NS, 100));
}

TEST_CASE("split-byte and max-file-size: new file before a packet that would pass the limit",
          "[unit]") {
    SplitConfig c;
    c.splitBytes = 1000;
    c.maxFileBytes = 800;  // the smaller one wins
    SplitPolicy p(c);
    const Period none{};
    CHECK_FALSE(p.needsNewFile(700, 3, none, 0, 100));
    CHECK(p.needsNewFile(701, 3, none, 0, 100));
    CHECK_FALSE(p.needsNewFile(24, 0, none, 0, 5000));  // a lone big packet still gets a file
    CHECK(p.periodFor(5 * NS).endNs == 0);
}

TEST_CASE("rotate-localtime periods in several zones", "[unit]") {
    // UTC minute mod 20 at 22:13:20 -> [22:00, 22:20).
    Period p = localPeriod("UTC", "minute mod 20", 1700000000);
    CHECK(p.startNs == 1699999200ULL * NS);
    CHECK(p.endNs == 1700000400ULL * NS);
    // Kolkata (+05:30): hour at 03:43:20 local.
    p = localPeriod("Asia/Kolkata", "hour", 1700000000);
    CHECK(p.startNs == 1699997400ULL * NS);
    CHECK(p.endNs == 1700001000ULL * NS);
    // hour mod 6 rotates at 00, 06, 12, 18 (UTC 22:13 -> [18:00, 24:00)).
    p = localPeriod("UTC", "hour mod 6", 1700000000);
    CHECK(p.startNs == (1700000000ULL - 22 * 3600 - 13 * 60 - 20 + 18 * 3600) * NS);
    CHECK(p.endNs == (1700000000ULL - 22 * 3600 - 13 * 60 - 20 + 24 * 3600) * NS);
    // day mod 7 ends early when the month changes: Jan 29 -> [Jan 28, Feb 1).
    p = localPeriod("UTC", "day mod 7", 1706529600);
    CHECK(p.startNs == 1706400000ULL * NS);
    CHECK(p.endNs == 1706745600ULL * NS);
    p = localPeriod("UTC", "second", 1700000000);
    CHECK(p.endNs - p.startNs == NS);
}

TEST_CASE("rotate-localtime across DST changes", "[unit]") {
    // Spring forward (New York, 2023-03-12): 01:30 EST is in [01:00 EST, 03:00 EDT), one hour.
    Period p = localPeriod("America/New_York", "hour", 1678602600);
    CHECK(p.startNs == 1678600800ULL * NS);
    CHECK(p.endNs == 1678604400ULL * NS);
    // That day has 23 hours.
    p = localPeriod("America/New_York", "day", 1678602600);
    CHECK(p.startNs == 1678597200ULL * NS);
    CHECK(p.endNs == 1678680000ULL * NS);
    // Fall back (2023-11-05): hour 1 happens twice; osmo's rule (same value, same day) keeps one
    // period over both, from 01:00 EDT to 02:00 EST.
    p = localPeriod("America/New_York", "hour", 1699162200);  // 01:30 EDT
    CHECK(p.startNs == 1699160400ULL * NS);
    CHECK(p.endNs == 1699167600ULL * NS);
    p = localPeriod("America/New_York", "hour", 1699165800);  // 01:30 EST
    CHECK(p.startNs == 1699160400ULL * NS);
    CHECK(p.endNs == 1699167600ULL * NS);
}

TEST_CASE("split-time combined with rotate-localtime ends at the first boundary", "[unit]") {
    ScopedTz scoped("Asia/Kolkata");
    SplitConfig c;
    c.splitTimeNs = 3600 * NS;  // UTC hours: a boundary at :00 UTC = :30 IST
    c.localtime = LocaltimeRotation::parse("hour");
    SplitPolicy p(c);
    const Period period = p.periodFor(1700000000ULL * NS);  // 22:13:20 UTC, 03:43:20 IST
    CHECK(period.startNs == 1699999200ULL * NS);            // 22:00 UTC
    CHECK(period.endNs == 1700001000ULL * NS);              // 04:00 IST = 22:30 UTC
}

TEST_CASE("numbers in FMADIO's notations", "[unit]") {
    CHECK(parseCount("x", "60e9") == 60'000'000'000ULL);
    CHECK(parseCount("x", "60000000000.0") == 60'000'000'000ULL);
    CHECK(parseCount("x", "1e9") == 1'000'000'000ULL);
    CHECK(parseCount("x", "18446744073709551615") == 18446744073709551615ULL);
    CHECK_THROWS_AS(parseCount("x", "1.5"), ConfigError);
    CHECK_THROWS_AS(parseCount("x", "-1"), ConfigError);
    CHECK_THROWS_AS(parseCount("x", "ten"), ConfigError);
    CHECK_THROWS_AS(LocaltimeRotation::parse("fortnight"), ConfigError);
    CHECK_THROWS_AS(LocaltimeRotation::parse("minute mod"), ConfigError);
    CHECK(LocaltimeRotation::parse("minute mod 20").modulo() == 20);
}

TEST_CASE("command line as the supervisor passes it", "[unit]") {
    const WorkerConfig c = parseWorkerArgs(
        {"--ring", "/pushcap.a.b", "--name", "pcap-tcp", "--path", "/mnt/push/tcp", "--mode",
         "FILE", "--split-time", "60000000000.0", "--filename-epoch-sec-startend", "--filter",
         "net 192.168.1.0/24 and tcp", "--sources", "1,3", "--idle-grace-ms", "250"});
    CHECK(c.split.splitTimeNs == 60 * NS);
    CHECK(c.naming.mode == NameMode::EpochSecStartEnd);
    CHECK(c.filter == "net 192.168.1.0/24 and tcp");
    CHECK(c.sources == std::vector<std::uint16_t>{1, 3});
    CHECK(c.idleGraceNs == 250'000'000ULL);
    CHECK_THROWS_AS(parseWorkerArgs({"--name", "x", "--ring", "r", "--path", "p", "--bogus"}),
                    UsageError);
    CHECK_THROWS_AS(parseWorkerArgs({"--name", "x", "--ring", "r", "--path", "p", "--mode", "ftp"}),
                    ConfigError);
    CHECK_THROWS_AS(
        parseWorkerArgs({"--name", "x", "--ring", "r", "--path", "p", "--split-byte", "1e"}),
        ConfigError);
}

TEST_CASE("an invalid filter names the target and carries libpcap's text", "[unit]") {
    PacketFilter f("pcap-bad", "tcp and and port");
    try {
        f.validate(1);
        FAIL("no error");
    } catch (const ConfigError& e) {
        const std::string m = e.what();
        CHECK(m.find("pcap-bad") != std::string::npos);
        CHECK(m.find("syntax error") != std::string::npos);
    }
    PacketFilter ok("t", "vlan and tcp");
    CHECK_NOTHROW(ok.validate(1));
    CHECK(ok.programFor(1) != nullptr);
    PacketFilter none("t", "");
    CHECK(none.programFor(1) == nullptr);
}

TEST_CASE("resume state round-trips and refuses damage", "[unit]") {
    ResumeState s;
    s.skipPosition = 4096;
    s.skipPackets = 7;
    s.file.open = true;
    s.file.completing = true;
    s.file.name = "/data/x_1700000000.pcap";
    s.file.format = FileFormat{101, 65535, true};
    s.file.session = 4242;
    s.file.bytes = 12345;
    s.file.packets = 9;
    s.file.firstTsNs = 1;
    s.file.lastTsNs = 2;
    s.file.period = Period{3, 4};
    const auto blob = encodeResumeState(s);
    const auto back = decodeResumeState(blob);
    REQUIRE(back);
    CHECK(back->skipPackets == 7);
    CHECK(back->file.completing);
    CHECK(back->file.name == s.file.name);
    CHECK(back->file.format.linkType == 101);
    CHECK(back->file.format.pcapng);
    CHECK(back->file.session == 4242);
    CHECK(back->file.bytes == 12345);
    CHECK(back->file.period.endNs == 4);
    CHECK_FALSE(decodeResumeState({}));
    std::vector<std::uint8_t> cut(blob.begin(), blob.begin() + 20);
    CHECK_THROWS(decodeResumeState(cut));
}

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "workers/file_sink.hpp"

namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

bool present(const std::string& path) {
    return ::access(path.c_str(), F_OK) == 0;
}

}  // namespace

TEST_CASE("FileSink never overwrites and completes across filesystems", "[unit]") {
    char tmpl[] = "/tmp/pushcap-sink-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    const std::string dir = std::string(tmpl) + "/a/b";
    const std::string done = "/dev/shm/" + std::string(tmpl + 5) + "-done";
    FileSinkConfig c;
    c.directory = dir;
    c.filePrefix = "x_";
    c.completedDir = done;
    c.bufferBytes = 4096;
    FileSink sink(c);
    // A file already there under the final name, in Path and in CompletedPath.
    REQUIRE(::system(("mkdir -p " + dir + " " + done + " && echo keep > " + dir +
                      "/x_1.pcap && echo keep > " + done + "/x_1_1.pcap")
                         .c_str()) == 0);
    std::string chosen;
    REQUIRE(sink.open(dir + "/x_1", ".pcap", FileFormat{1, 65535}, chosen) == IoStatus::Ok);
    CHECK(chosen == dir + "/x_1_2.pcap");
    CHECK(present(chosen + ".pending"));
    const std::byte record[20] = {};
    std::byte big[10000] = {};
    CHECK(sink.append(record, sizeof record) == IoStatus::Ok);
    CHECK(sink.append(big, sizeof big) ==
          IoStatus::Ok);  // larger than the buffer: written directly
    CHECK(sink.bytes() == 24 + 20 + 10000);
    CompletedFile result;
    REQUIRE(sink.complete(result) == IoStatus::Ok);
    CHECK(result.location == done + "/x_1_2.pcap");
    CHECK(result.bytes == 24 + 20 + 10000);
    CHECK(slurp(result.location).size() == 24 + 20 + 10000);
    CHECK_FALSE(present(chosen + ".pending"));
    CHECK_FALSE(present(done + "/x_1_2.pcap.pending"));
    CHECK(slurp(dir + "/x_1.pcap") == "keep\n");
    CHECK(slurp(done + "/x_1_1.pcap") == "keep\n");
    ::system(("rm -rf " + std::string(tmpl) + " " + done).c_str());
}

#include "workers/file_completion.hpp"
#include "workers/pcapng_format.hpp"

TEST_CASE("pcapng files: the header the sink writes, and repair cuts to the last whole block",
          "[unit]") {
    char tmpl[] = "/tmp/pushcap-sink-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    const std::string dir = tmpl;
    FileSinkConfig c;
    c.directory = dir;
    c.filePrefix = "t_";
    c.pcapngSuffix = ".pcapng";
    c.fileMode = 0640;
    FileSink sink(c);
    std::string chosen;
    REQUIRE(sink.open(dir + "/t_1", ".pcapng", FileFormat{1, 9000, true}, chosen) == IoStatus::Ok);
    CHECK(sink.bytes() == PCAPNG_FILE_HEADER_BYTES);
    // Three packets of 1, 4 and 5 bytes as the worker encodes them, then half a fourth.
    for (std::uint32_t caplen : {1u, 4u, 5u}) {
        std::byte block[64] = {};
        writePcapngPacketHead(block, 1'700'000'000'123'456'789ULL, caplen, caplen);
        const std::uint32_t total = pcapngPacketBytes(caplen);
        std::memcpy(block + total - 4, &total, 4);
        REQUIRE(sink.append(block, total) == IoStatus::Ok);
    }
    std::byte half[PCAPNG_EPB_HEAD_BYTES] = {};
    writePcapngPacketHead(half, 1, 100, 100);
    REQUIRE(sink.append(half, 20) == IoStatus::Ok);
    REQUIRE(sink.flush() == IoStatus::Ok);
    const std::string pending = chosen + ".pending";
    const std::uint64_t whole = PCAPNG_FILE_HEADER_BYTES + 36 + 36 + 40;
    std::vector<std::byte> scratch(4096);
    RepairResult r;
    REQUIRE(repairPcap(pending, scratch.data(), scratch.size(), r) == 0);
    CHECK(r.validHeader);
    CHECK(r.packets == 3);
    CHECK(r.bytes == whole);
    // What an independent reader makes of it: three packets, nanosecond time stamps.
    const std::string text = dir + "/tshark.txt";
    REQUIRE(
        ::system(("tshark -r " + pending + " -T fields -e frame.time_epoch -e frame.len > " + text)
                     .c_str()) == 0);
    CHECK(slurp(text) ==
          "1700000000.123456789\t1\n1700000000.123456789\t4\n1700000000.123456789\t5\n");
    // A leftover of a crashed run is found by its pcapng suffix and completed with the mode.
    FileSink later(c);
    const auto done = later.recoverLeftovers("");
    REQUIRE(done.size() == 1);
    CHECK(done[0].location == dir + "/t_1.pcapng");
    CHECK(done[0].packets == 3);
    struct stat st;
    REQUIRE(::stat(done[0].location.c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0640);
    ::system(("rm -rf " + dir).c_str());
}
