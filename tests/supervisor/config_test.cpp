#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "supervisor/child_commands.hpp"
#include "supervisor/config.hpp"
#include "supervisor/config_error.hpp"

using namespace pushcap::supervisor;
namespace fs = std::filesystem;

namespace {

struct TempConfig {
    fs::path path;
    explicit TempConfig(const std::string& text) {
        static int counter = 0;
        path = fs::temp_directory_path() / ("pushcap-config-" + std::to_string(::getpid()) + "-" +
                                            std::to_string(counter++) + ".lua");
        std::ofstream(path) << text;
    }
    ~TempConfig() { fs::remove(path); }
};

std::string errorOf(const std::string& text) {
    TempConfig file(text);
    try {
        loadConfig(file.path.string());
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "no error";
}

std::string target(const std::string& body) {
    return "local Config = {}\nConfig.Target = {}\ntable.insert(Config.Target, {\n" + body +
           "\n})\nreturn Config\n";
}

}  // namespace

TEST_CASE("FMADIO's example push_realtime.lua loads unchanged", "[unit][config]") {
    const char* src = std::getenv("PUSHCAP_SOURCE_DIR");
    REQUIRE(src != nullptr);
    PushConfig cfg = loadConfig(std::string(src) + "/examples/push_realtime.lua");
    REQUIRE(cfg.targets.size() == 2);
    CHECK(cfg.targets[0].desc == "pcap-all");
    CHECK(cfg.targets[0].path == "/mnt/remote0/push/all");
    CHECK(cfg.targets[0].splitTimeNs == 60'000'000'000ULL);
    CHECK(cfg.targets[0].fileNameFlag == "--filename-epoch-sec-startend");
    CHECK(cfg.targets[0].filter.empty());
    CHECK(cfg.targets[1].desc == "pcap-tcp");
    CHECK(cfg.targets[1].filter == "net 192.168.1.0/24 and tcp");
    CHECK(cfg.targets[0].fingerprint() != cfg.targets[1].fingerprint());
}

TEST_CASE("real configs may compute with os.date, string.format and Lua's float printing",
          "[unit][config]") {
    TempConfig file(target(R"(Desc = string.format("day-%s", os.date("!%Y%m%d", 0)),
        Mode = "FILE", Path = "/tmp/x/" .. os.date("!%Y", 0) .. "/all",
        Split = "--split-time " .. 60*1e9, FileName = "--filename-strftime %H%M",
        MaxFileSize = 1e9, RotateLocaltime = "minute mod 20", Source = {"a", "b"})"));
    PushConfig cfg = loadConfig(file.path.string());
    REQUIRE(cfg.targets.size() == 1);
    CHECK(cfg.targets[0].desc == "day-19700101");
    CHECK(cfg.targets[0].path == "/tmp/x/1970/all");
    CHECK(cfg.targets[0].splitTimeNs == 60'000'000'000ULL);  // "60000000000.0"
    CHECK(cfg.targets[0].fileNameFlag == "--filename-strftime");
    CHECK(cfg.targets[0].fileNameFormat == "%H%M");
    CHECK(cfg.targets[0].maxFileSize == 1'000'000'000ULL);
    CHECK(cfg.targets[0].sources == std::vector<std::string>{"a", "b"});
}

TEST_CASE("errors name the target and key", "[unit][config]") {
    CHECK_THAT(
        errorOf(target(R"(Desc = "pcap-tcp", Path = "/tmp/p", Split = "--split-tim 60e9")")),
        Catch::Contains(
            R"(Target[1] "pcap-tcp": Split: expected "--split-time NS" or "--split-byte N", got "--split-tim 60e9")"));
    CHECK_THAT(errorOf(target(R"(Desc = "t", Path = "/tmp/p", FilterBPF = "tcp and and")")),
               Catch::Contains(R"(Target[1] "t": FilterBPF: "tcp and and": )"));
    CHECK_THAT(errorOf(target(R"(Desc = "t", Path = "/tmp/p", FileNmae = "--filename-epoch-sec")")),
               Catch::Contains(R"(unknown key "FileNmae" (did you mean "FileName"?))"));
    CHECK_THAT(
        errorOf(target(R"(Desc = "t", Path = "/tmp/p", FileName = "--filename-epoch-secs")")),
        Catch::Contains(R"(did you mean "--filename-epoch-sec")"));
    CHECK_THAT(errorOf(target(R"(Desc = "t")")),
               Catch::Contains(R"(Target[1] "t": Path: missing)"));
    CHECK_THAT(errorOf(target(R"(Desc = "t", Path = "/tmp/p", Mode = "SCP")")),
               Catch::Contains("Mode: expected"));
    CHECK_THAT(errorOf(target(R"(Desc = "t", Path = "/tmp/p", RotateLocaltime = "week")")),
               Catch::Contains("RotateLocaltime: expected"));
    CHECK_THAT(errorOf(target(R"(Desc = "a b", Path = "/tmp/p")")),
               Catch::Contains("Desc: \"a b\" must be"));
    CHECK_THAT(errorOf("return { Target = {}, RingMdoe = 'live' }"),
               Catch::Contains(R"(unknown key "RingMdoe" (did you mean "RingMode"?))"));
}

TEST_CASE("two targets whose Paths overlap are refused", "[unit][config]") {
    auto two = [](const std::string& a, const std::string& b) {
        return "local Config = {}\nConfig.Target = {}\n"
               "table.insert(Config.Target, { Desc = 'one', Path = '" +
               a +
               "' })\n"
               "table.insert(Config.Target, { Desc = 'two', Path = '" +
               b + "' })\nreturn Config\n";
    };
    CHECK_THAT(errorOf(two("/tmp/p/all", "/tmp/p/all")),
               Catch::Contains(R"(Target[2] "two": Path "/tmp/p/all" overlaps Target[1] "one")"));
    // "x_" is the start of every "x_y_" name; an empty prefix matches everything.
    CHECK_THAT(errorOf(two("/tmp/p/x", "/tmp/p/x_y")), Catch::Contains("overlaps"));
    CHECK_THAT(errorOf(two("/tmp/p/", "/tmp/p/tcp")), Catch::Contains("overlaps"));
    CHECK_THAT(errorOf(two("/tmp/p//", "/tmp/p/tcp")), Catch::Contains("overlaps"));
    CHECK(errorOf(two("/tmp/p/all", "/tmp/p/tcp")) == "no error");
    CHECK(errorOf(two("/tmp/p/all", "/tmp/q/all")) == "no error");
}

TEST_CASE("Lua errors name the file and line", "[unit][config]") {
    TempConfig file(
        "local Config = {}\nConfig.Target = {\n  { Desc = 'x' \n  Path = 'y' }\n}\nreturn "
        "Config\n");
    try {
        loadConfig(file.path.string());
        FAIL("a syntax error was accepted");
    } catch (const ConfigError& e) {
        CHECK_THAT(e.what(), Catch::Contains(file.path.string() + ":4:"));
    }
    CHECK_THAT(errorOf("error('boom')"), Catch::Contains(":1: boom"));
}

TEST_CASE("the sandbox keeps the config away from the system", "[unit][config]") {
    CHECK_THAT(errorOf("io.open('/etc/passwd')"), Catch::Contains("io"));
    CHECK_THAT(errorOf("os.execute('true')"), Catch::Contains("execute"));
    CHECK_THAT(errorOf("require('os')"), Catch::Contains("require"));
    CHECK_THAT(errorOf("load('return 1')"), Catch::Contains("load"));
    CHECK_THAT(errorOf("while true do end"), Catch::Contains("instruction limit"));
    CHECK_THAT(errorOf("local t = {} for i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end"),
               Catch::Contains("memory"));
    // Precompiled bytecode is refused.
    TempConfig binary(std::string("\x1bLua\x54\x00", 6) + "junk");
    try {
        loadConfig(binary.path.string());
        FAIL("bytecode was accepted");
    } catch (const ConfigError& e) {
        CHECK_THAT(e.what(), Catch::Contains("binary"));
    }
}

TEST_CASE("all problems are reported at once", "[unit][config]") {
    std::string msg = errorOf(R"(return { Target = {
        { Desc = "a", Path = "/tmp/a", Split = "--split-time x" },
        { Desc = "a", Path = "/tmp/b", MaxFileSize = -1 } } })");
    CHECK_THAT(msg, Catch::Contains("3 error(s)"));
    CHECK_THAT(msg, Catch::Contains("names must be unique"));
}

TEST_CASE("Split and numbers parse the ways Lua prints them", "[unit][config]") {
    TargetConfig t;
    parseSplit("", "--split-time 60e9 --split-byte 1e9", t);
    CHECK(t.splitTimeNs == 60'000'000'000ULL);
    CHECK(t.splitBytes == 1'000'000'000ULL);
    std::uint64_t v = 0;
    CHECK(parseCount("60000000000.0", v));
    CHECK(v == 60'000'000'000ULL);
    CHECK_FALSE(parseCount("1.5", v));
    CHECK_FALSE(parseCount("-3", v));
    CHECK_FALSE(parseCount("12abc", v));
}

TEST_CASE("Remote targets: Path is HOST:PORT, TLS needs a CA, keys belong to their mode",
          "[unit][config]") {
    TempConfig good(target(R"(Desc = "fwd", Mode = "Remote", Path = "collector.example:54321",
        RemoteFormat = "pcapng", RemoteTLS = true, RemoteCA = "/etc/ca.pem")"));
    PushConfig cfg = loadConfig(good.path.string());
    REQUIRE(cfg.targets.size() == 1);
    CHECK(cfg.targets[0].mode == TargetMode::Remote);
    CHECK(cfg.targets[0].remoteFormat == "pcapng");
    CHECK(cfg.targets[0].remoteTls);
    CHECK_THAT(errorOf(target(R"(Desc = "fwd", Mode = "Remote", Path = "/tmp/x")")),
               Catch::Contains(R"(Path: a Remote target's Path is the collector's "HOST:PORT")"));
    CHECK_THAT(errorOf(target(R"(Desc = "fwd", Mode = "Remote", Path = "h:1", RemoteTLS = true)")),
               Catch::Contains("RemoteCA: needed"));
    CHECK_THAT(
        errorOf(target(R"(Desc = "fwd", Mode = "Remote", Path = "h:1", RemoteFormat = "pcapx")")),
        Catch::Contains(R"(RemoteFormat: expected "pcap" or "pcapng")"));
    CHECK_THAT(errorOf(target(R"(Desc = "f", Path = "/tmp/f", RemoteTLS = true)")),
               Catch::Contains(R"(RemoteTLS: only used with Mode = "Remote")"));
}

TEST_CASE("Delivery: lossless or best-effort per target, a restart on reload when it changes",
          "[unit][config]") {
    TempConfig file(target(R"(Desc = "a", Path = "/tmp/d/a", Delivery = "best-effort"})
table.insert(Config.Target, {Desc = "b", Path = "/tmp/d/b", Delivery = "lossless"})
table.insert(Config.Target, {Desc = "c", Path = "/tmp/d/c")"));
    const PushConfig cfg = loadConfig(file.path.string());
    REQUIRE(cfg.targets.size() == 3);
    CHECK(cfg.targets[0].delivery == DeliveryChoice::BestEffort);
    CHECK(cfg.targets[1].delivery == DeliveryChoice::Lossless);
    CHECK(cfg.targets[2].delivery == DeliveryChoice::Default);

    TargetConfig t = cfg.targets[2];
    const std::string defaulted = t.fingerprint();
    t.delivery = DeliveryChoice::Lossless;  // the default written down: nothing changes
    CHECK(t.fingerprint() == defaulted);
    t.delivery = DeliveryChoice::BestEffort;
    CHECK(t.fingerprint() != defaulted);

    CHECK_THAT(
        errorOf(target(R"(Desc = "x", Path = "/tmp/p", Delivery = "lossles")")),
        Catch::Contains(
            R"(Target[1] "x": Delivery: expected "lossless" or "best-effort", got "lossles")"));
    CHECK_THAT(errorOf(target(R"(Desc = "x", Path = "/tmp/p", Delivery = true)")),
               Catch::Contains(R"(Target[1] "x": Delivery: )"));
    CHECK_THAT(errorOf(target(R"(Desc = "x", Path = "/tmp/p", Delivry = "lossless")")),
               Catch::Contains(R"(unknown key "Delivry" (did you mean "Delivery"?))"));
}

TEST_CASE("Fsync: on unless turned off, passed to the worker, a restart on reload when it changes",
          "[unit][config]") {
    TempConfig file(target(R"(Desc = "a", Path = "/tmp/d/a"})
table.insert(Config.Target, {Desc = "b", Path = "/tmp/d/b", Fsync = false})
table.insert(Config.Target, {Desc = "c", Path = "/tmp/d/c", Fsync = true)"));
    const PushConfig cfg = loadConfig(file.path.string());
    REQUIRE(cfg.targets.size() == 3);
    CHECK(cfg.targets[0].fsync);
    CHECK_FALSE(cfg.targets[1].fsync);
    CHECK(cfg.targets[2].fsync);

    auto args = [](const TargetConfig& t) { return workerArguments(t, "/r", "", {}); };
    auto hasNoFsync = [](const std::vector<std::string>& a) {
        return std::find(a.begin(), a.end(), "--no-fsync") != a.end();
    };
    CHECK_FALSE(hasNoFsync(args(cfg.targets[0])));
    CHECK(hasNoFsync(args(cfg.targets[1])));

    TargetConfig t = cfg.targets[0];
    const std::string synced = t.fingerprint();
    t.fsync = false;
    CHECK(t.fingerprint() != synced);

    CHECK_THAT(errorOf(target(R"(Desc = "x", Path = "/tmp/p", Fsync = "no")")),
               Catch::Contains(R"(Target[1] "x": Fsync: )"));
    CHECK_THAT(errorOf(target(R"(Desc = "x", Mode = "Remote", Path = "h:1", Fsync = false)")),
               Catch::Contains(R"(Fsync: has no meaning with Mode "Remote")"));
}
