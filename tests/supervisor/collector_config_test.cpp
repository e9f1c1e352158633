// Config.Collector in the Lua configuration: what it becomes, and a clear error for every bad
// value; and the command lines the capture and the clients' outputs get from it.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "supervisor/child_commands.hpp"
#include "supervisor/collector_outputs.hpp"
#include "supervisor/config.hpp"
#include "supervisor/config_check.hpp"
#include "supervisor/config_error.hpp"

using namespace pushcap::supervisor;
namespace fs = std::filesystem;

namespace {

struct TempLua {
    fs::path path;
    explicit TempLua(const std::string& text) {
        static int counter = 0;
        path = fs::temp_directory_path() / ("pushcap-collector-" + std::to_string(::getpid()) +
                                            "-" + std::to_string(counter++) + ".lua");
        std::ofstream(path) << text;
    }
    ~TempLua() { fs::remove(path); }
};

// A configuration with Config.Collector = { <body> } and the given targets.
std::string withCollector(const std::string& body, const std::string& targets = "") {
    return "local Config = {}\nConfig.Target = {" + targets + "}\nConfig.Collector = {\n" + body +
           "\n}\nreturn Config\n";
}

const std::string CLIENTS = R"(Clients = { { Name = "foo", Address = "192.168.100.1" } })";

PushConfig load(const std::string& text) {
    TempLua file(text);
    return loadConfig(file.path.string());
}

std::string errorOf(const std::string& text) {
    TempLua file(text);
    try {
        loadConfig(file.path.string());
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "no error";
}

std::string collectorError(const std::string& body) {
    return errorOf(withCollector(body));
}

bool has(const std::vector<std::string>& args, const std::vector<std::string>& run) {
    return std::search(args.begin(), args.end(), run.begin(), run.end()) != args.end();
}

}  // namespace

TEST_CASE("Config.Collector: a full table becomes the collector and the clients' outputs",
          "[unit][config][collector]") {
    const PushConfig cfg = load(withCollector(R"(
        Listen = { "0.0.0.0:54321", "[::]:54321" },
        MaxSnaplen = 16000,
        TLS = { Cert = "/etc/s.crt", Key = "/etc/s.key", CA = "/etc/ca.pem", CRL = "/etc/ca.crl",
                Priority = "SECURE", ClientAuth = "x509" },
        Clients = {
            { Name = "foo", Address = "192.168.100.1" },
            { Name = "bar", Address = "192.168.200.0/24", TLS = true },
            { Name = "quiet", Address = "2001:db8::/32", Store = false },
        },
        Output = { BasePath = "/var/lib/pushcap/trace/", CompletedPath = "/var/lib/pushcap/done",
                   MaxFileSize = 100e6, RotateLocaltime = "minute mod 20", FileMode = "0440",
                   IdleGrace = 2 })"));
    const CollectorConfig& c = cfg.collector;
    REQUIRE(c.enabled);
    CHECK(c.listen == std::vector<std::string>{"0.0.0.0:54321", "[::]:54321"});
    CHECK(c.maxSnaplen == 16000);
    CHECK(c.tls.cert.path == "/etc/s.crt");
    CHECK(c.tls.ca.key == "Config.Collector.TLS.CA");
    CHECK(c.tls.clientAuth == "x509");
    REQUIRE(c.clients.size() == 3);
    CHECK(c.clients[1].tls);
    CHECK_FALSE(c.clients[2].store);
    CHECK(cfg.targets.empty());  // no Config.Target needed when the clients have outputs

    const std::vector<TargetConfig> all = allTargets(cfg);
    REQUIRE(all.size() == 2);  // "quiet" does not store
    CHECK(all[0].desc == "foo");
    CHECK(all[0].path == "/var/lib/pushcap/trace/");
    CHECK(all[0].label() == "Collector client \"foo\" output");
    CHECK(all[1].desc == "bar");

    const std::vector<std::string> capture = captureArguments(cfg, "/ring", {}, {"eth0"});
    CHECK(has(capture, {"-i", "eth0"}));
    CHECK(has(capture, {"--listen", "0.0.0.0:54321", "--listen", "[::]:54321"}));
    CHECK(has(capture, {"--client", "foo=192.168.100.1", "--client", "bar=192.168.200.0/24:tls",
                        "--client", "quiet=2001:db8::/32:no-store"}));
    CHECK(has(capture, {"--max-snaplen", "16000"}));
    CHECK(has(capture, {"--tls-cert", "/etc/s.crt", "--tls-key", "/etc/s.key", "--tls-ca",
                        "/etc/ca.pem", "--tls-crl", "/etc/ca.crl"}));
    CHECK(has(capture, {"--tls-priority", "SECURE", "--tls-client-auth", "x509"}));

    // Interfaces first, then the clients in order.
    const std::vector<std::string> sources = sourceNames({"eth0"}, cfg.collector);
    CHECK(sources == std::vector<std::string>{"eth0", "foo", "bar", "quiet"});
    const std::vector<std::string> worker =
        workerArguments(all[1], "/ring", "/log", sourceIdsFor(all[1], sources));
    CHECK(has(worker, {"--mode", "file", "--name", "bar", "--path", "/var/lib/pushcap/trace/",
                       "--filename-osmo", "--format", "auto", "--file-per-connection"}));
    CHECK(has(worker, {"--sources", "2"}));
    CHECK(has(worker, {"--max-file-size", "100000000"}));
    CHECK(has(worker, {"--rotate-localtime", "minute mod 20"}));
    CHECK(has(worker, {"--completed-path", "/var/lib/pushcap/done"}));
    CHECK(has(worker, {"--file-mode", "0440"}));
    CHECK(has(worker, {"--idle-grace-ms", "2000"}));
    CHECK(all[0].fingerprint() != all[1].fingerprint());
}

TEST_CASE("Config.Collector: defaults, and a collector alone is a capture source",
          "[unit][config][collector]") {
    const PushConfig cfg = load(withCollector(CLIENTS + R"(, Output = { BasePath = "/t" })"));
    CHECK(cfg.collector.listen == std::vector<std::string>{"0.0.0.0:54321"});
    CHECK(cfg.collector.maxSnaplen == 9000);
    const std::vector<TargetConfig> all = allTargets(cfg);
    REQUIRE(all.size() == 1);
    CHECK(all[0].path == "/t/");
    CHECK(captureSourceProblems(cfg, {}, {}).empty());
    CHECK_THAT(captureSourceProblems(cfg, {"in.pcap"}, {}).at(0),
               Catch::Contains("Config.Collector: a collector receives live traffic and cannot "
                               "run with --offline"));
    CHECK_THAT(captureSourceProblems(cfg, {}, {"foo"}).at(0),
               Catch::Contains("client \"foo\" has the name of a captured interface"));
    // The worker's default suffix and mode: nothing passed.
    const std::vector<std::string> worker = workerArguments(all[0], "/r", "", {1});
    CHECK(std::find(worker.begin(), worker.end(), "--file-mode") == worker.end());
    CHECK(std::find(worker.begin(), worker.end(), "--max-file-size") == worker.end());
    // osmo-pcap-server has no Fsync setting: its outputs keep the safe default.
    CHECK(all[0].fsync);
    CHECK(std::find(worker.begin(), worker.end(), "--no-fsync") == worker.end());
}

TEST_CASE("Config.Collector: every bad value is named with its key", "[unit][config][collector]") {
    CHECK_THAT(collectorError(CLIENTS + R"(, Listen = "0.0.0.0")"),
               Catch::Contains(R"(Config.Collector: Listen: "0.0.0.0" is not ADDR:PORT)"));
    CHECK_THAT(collectorError(CLIENTS + R"(, Listen = { "::1:54321" })"),
               Catch::Contains(R"(Listen: "::1:54321" is not ADDR:PORT with an IP address)"));
    CHECK_THAT(collectorError(CLIENTS + R"(, Listen = "1.2.3.4:70000")"),
               Catch::Contains(R"(Listen: "1.2.3.4:70000" has a bad port)"));
    CHECK_THAT(collectorError(CLIENTS + R"(, Listen = "example.com:1")"),
               Catch::Contains("is not ADDR:PORT with an IP address"));
    CHECK_THAT(collectorError(CLIENTS + R"(, Listen = {})"),
               Catch::Contains("Listen: an empty list"));
    CHECK_THAT(collectorError(CLIENTS + ", MaxSnaplen = 0"),
               Catch::Contains("Config.Collector: MaxSnaplen: must be 1..262144, got 0"));
    CHECK_THAT(collectorError(CLIENTS + ", MaxSnaplen = 262145"),
               Catch::Contains("MaxSnaplen: must be 1..262144, got 262145"));
    CHECK_THAT(collectorError(CLIENTS + ", MaxSnaplen = 'big'"),
               Catch::Contains(R"(MaxSnaplen: expected a non-negative number, got "big")"));
    CHECK_THAT(
        collectorError(CLIENTS + ", Lisen = '1.2.3.4:1'"),
        Catch::Contains(R"(Config.Collector: unknown key "Lisen" (did you mean "Listen"?))"));
    CHECK_THAT(errorOf("return { Collector = 5 }"),
               Catch::Contains("Collector: expected a table, got 5"));
}

TEST_CASE("Config.Collector.TLS: pairs, modes and what needs a CA", "[unit][config][collector]") {
    CHECK_THAT(collectorError(CLIENTS + R"(, TLS = { Cert = "/c" })"),
               Catch::Contains("Config.Collector.TLS: Cert and Key: give both"));
    CHECK_THAT(collectorError(CLIENTS + R"(, TLS = { Cert = "/c", Key = "/k", CRL = "/r" })"),
               Catch::Contains("Config.Collector.TLS: CRL: needs CA"));
    CHECK_THAT(
        collectorError(CLIENTS + R"(, TLS = { Cert = "/c", Key = "/k", ClientAuth = "x509" })"),
        Catch::Contains(R"(ClientAuth: "x509" needs CA)"));
    CHECK_THAT(collectorError(CLIENTS + R"(, TLS = { ClientAuth = "none" })"),
               Catch::Contains(R"(ClientAuth: expected "x509" or "anonymous", got "none")"));
    CHECK_THAT(
        collectorError(CLIENTS + R"(, TLS = { Crt = "/c" })"),
        Catch::Contains(R"(Config.Collector.TLS: unknown key "Crt" (did you mean "Cert"?))"));
    CHECK_THAT(collectorError(CLIENTS + R"(, TLS = { Cert = 5, Key = "/k" })"),
               Catch::Contains("Config.Collector.TLS: Cert: expected a string, got 5"));
    CHECK_THAT(collectorError(CLIENTS + R"(, TLS = "yes")"),
               Catch::Contains(R"(Config.Collector: TLS: expected a table, got "yes")"));
    CHECK_THAT(
        collectorError(R"(Clients = { { Name = "bar", Address = "10.0.0.1", TLS = true } })"),
        Catch::Contains(R"(Config.Collector.Clients[1] "bar": TLS: true needs )"
                        "Collector.TLS.Cert and Collector.TLS.Key"));
}

TEST_CASE("Config.Collector.Clients: names, addresses, flags", "[unit][config][collector]") {
    CHECK_THAT(collectorError(""), Catch::Contains("Config.Collector: Clients: none"));
    CHECK_THAT(collectorError("Clients = {}"), Catch::Contains("Clients: none"));
    CHECK_THAT(collectorError(R"(Clients = { { Address = "1.2.3.4" } })"),
               Catch::Contains("Config.Collector.Clients[1]: Name: missing"));
    CHECK_THAT(collectorError(R"(Clients = { { Name = "a/b", Address = "1.2.3.4" } })"),
               Catch::Contains(R"(Clients[1] "a/b": Name: "a/b" must be 1-63 letters)"));
    CHECK_THAT(collectorError(R"(Clients = { { Name = "capture", Address = "1.2.3.4" } })"),
               Catch::Contains("is reserved"));
    CHECK_THAT(collectorError(R"(Clients = { { Name = "a" } })"),
               Catch::Contains(R"(Clients[1] "a": Address: missing)"));
    CHECK_THAT(
        collectorError(R"(Clients = { { Name = "a", Address = "1.2.3" } })"),
        Catch::Contains(R"(Clients[1] "a": Address: "1.2.3" is not an IPv4 or IPv6 address)"));
    CHECK_THAT(collectorError(R"(Clients = { { Name = "a", Address = "1.2.3.0/33" } })"),
               Catch::Contains(R"(Address: "1.2.3.0/33" has a bad prefix length)"));
    CHECK_THAT(collectorError(R"(Clients = { { Name = "a", Address = "::1/129" } })"),
               Catch::Contains("has a bad prefix length (/0../128)"));
    CHECK_THAT(collectorError(R"(Clients = { { Name = "a", Address = "1.2.3.4", Store = "no" } })"),
               Catch::Contains(R"(Clients[1] "a": Store: expected true or false, got "no")"));
    CHECK_THAT(collectorError(R"(Clients = { { Name = "a", Adress = "1.2.3.4" } })"),
               Catch::Contains(R"(unknown key "Adress" (did you mean "Address"?))"));
    CHECK_THAT(collectorError(R"(Clients = { { Name = "a", Address = "1.2.3.4" },
                                             { Name = "a", Address = "1.2.3.5" } })"),
               Catch::Contains(R"(Clients[2] "a": Name: the same as Clients[1])"));
    CHECK_THAT(collectorError(R"(Clients = { "a" })"),
               Catch::Contains(R"(Config.Collector.Clients[1]: expected a table, got "a")"));
}

TEST_CASE("Config.Collector.Output: keys, octal modes, and names shared with targets",
          "[unit][config][collector]") {
    CHECK_THAT(collectorError(CLIENTS + R"(, Output = { CompletedPath = "/d" })"),
               Catch::Contains("Config.Collector.Output: BasePath: missing"));
    CHECK_THAT(
        collectorError(CLIENTS + R"(, Output = { BasePath = "/t", FileMode = 0440 })"),
        Catch::Contains(R"(FileMode: write the octal mode as a string, e.g. "0440", got 440)"));
    CHECK_THAT(collectorError(CLIENTS + R"(, Output = { BasePath = "/t", FileMode = "0948" })"),
               Catch::Contains(R"(FileMode: "0948" is not an octal file mode)"));
    CHECK_THAT(
        collectorError(CLIENTS + R"(, Output = { BasePath = "/t", RotateLocaltime = "week" })"),
        Catch::Contains(R"(Config.Collector.Output: RotateLocaltime: expected "UNIT")"));
    CHECK_THAT(collectorError(CLIENTS + R"(, Output = { BasePath = "/t", MaxFileSize = 0 })"),
               Catch::Contains("MaxFileSize: must be more than 0"));
    CHECK_THAT(collectorError(CLIENTS + R"(, Output = { BasPath = "/t" })"),
               Catch::Contains(R"(unknown key "BasPath" (did you mean "BasePath"?))"));
    // A target named like a storing client would take its output's name (and ring slot).
    CHECK_THAT(errorOf(withCollector(CLIENTS + R"(, Output = { BasePath = "/t" })",
                                     R"({ Desc = "foo", Path = "/tmp/x", Source = "foo" })")),
               Catch::Contains(R"(Target[1] "foo": Desc: "foo" is also Collector client "foo")"));
    // Also without a default output: adding one later must not break the file.
    CHECK_THAT(errorOf(withCollector(CLIENTS, R"({ Desc = "foo", Path = "/tmp/x" })")),
               Catch::Contains("client names are the names of their default outputs"));
    // A collector without outputs still needs a target.
    CHECK_THAT(collectorError(CLIENTS), Catch::Contains("Target: no targets"));
}

TEST_CASE("Config.Collector.Output: Delivery is carried into every client's output",
          "[unit][config][collector]") {
    const std::string clients =
        R"(Clients = { { Name = "foo", Address = "10.0.0.1" }, { Name = "bar", Address = "10.0.0.2" } })";
    PushConfig cfg = load(withCollector(clients + R"(, Output = { BasePath = "/t" })"));
    CHECK(cfg.collector.output.delivery == DeliveryChoice::Default);
    const std::string defaulted = allTargets(cfg)[0].fingerprint();

    cfg = load(
        withCollector(clients + R"(, Output = { BasePath = "/t", Delivery = "best-effort" })"));
    CHECK(cfg.collector.output.delivery == DeliveryChoice::BestEffort);
    const std::vector<TargetConfig> all = allTargets(cfg);
    REQUIRE(all.size() == 2);
    CHECK(all[0].delivery == DeliveryChoice::BestEffort);
    CHECK(all[1].delivery == DeliveryChoice::BestEffort);
    CHECK(all[0].fingerprint() != defaulted);  // a reload restarts the outputs

    CHECK_THAT(
        collectorError(CLIENTS + R"(, Output = { BasePath = "/t", Delivery = "bestefort" })"),
        Catch::Contains(R"(Config.Collector.Output: Delivery: expected "lossless" or )"
                        R"("best-effort", got "bestefort")"));
}

TEST_CASE("Source names map to ring ids: interfaces, then clients; unknown names are explained",
          "[unit][config][collector]") {
    const PushConfig cfg = load(withCollector(
        R"(Clients = { { Name = "foo", Address = "10.0.0.1" }, { Name = "bar", Address = "10.0.0.2" } })",
        R"({ Desc = "t", Path = "/tmp/t/x", Source = { "bar", "eth1", "foo", "7" } })"));
    const std::vector<std::string> sources = sourceNames({"eth0", "eth1"}, cfg.collector);
    CHECK(sourceIdsFor(cfg.targets[0], sources) == std::vector<int>{3, 1, 2, 7});
    std::string many;
    for (int i = 0; i < 33; ++i)
        many += (i ? ", \"" : "\"") + std::to_string(i) + "\"";
    CHECK_THAT(errorOf(withCollector(
                   CLIENTS, R"({ Desc = "t", Path = "/tmp/t/x", Source = { )" + many + " } }")),
               Catch::Contains(R"(Target[1] "t": Source: names 33 sources; a target reads at )"
                               R"(most 32 (leave Source out for every source))"));
    TargetConfig bad = cfg.targets[0];
    bad.sources = {"fooo"};
    try {
        sourceIdsFor(bad, sources);
        FAIL("an unknown source was accepted");
    } catch (const ConfigError& e) {
        CHECK_THAT(e.what(),
                   Catch::Contains(R"(Target[1] "t": Source: "fooo" is not a captured )"
                                   R"(interface, a collector client or a source number )"
                                   R"((did you mean "foo"?); sources: eth0, eth1, foo, bar)"));
    }
}

TEST_CASE("collector files are checked: missing, and a CA directory", "[unit][config][collector]") {
    CollectorConfig c;
    c.enabled = true;
    c.tls.cert = NamedPath{"/nonexistent/s.crt", "Config.Collector.TLS.Cert"};
    c.tls.ca = NamedPath{fs::temp_directory_path().string(), "f.cfg:7: tls capath"};
    const std::vector<std::string> p = collectorFileProblems(c);
    REQUIRE(p.size() == 2);
    CHECK_THAT(p[0], Catch::StartsWith("Config.Collector.TLS.Cert: /nonexistent/s.crt: "));
    CHECK_THAT(p[1], Catch::Contains("f.cfg:7: tls capath: "));
    CHECK_THAT(p[1], Catch::Contains("is a directory; pushcap needs one PEM file"));
}
