// The collector (issue 6): an independent Python client (tests/capture/osmo_client.py) speaks
// the osmo-pcap protocol from several loopback addresses: pcap and pcapng, both byte orders,
// IPv4 and IPv6, every malformed case and an unknown address. Each good client's packets arrive
// in the ring under its own source id, intact and in order; each bad stream closes only its
// connection, with its reason counted in the log; the good client is still served afterwards.
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <map>
#include <regex>
#include <sstream>

#include "capture_test_support.hpp"

using namespace pushcap::testing;
namespace router = pushcap::router;

namespace {

std::uint64_t fnv1a(const std::vector<std::uint8_t>& bytes) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (std::uint8_t b : bytes) {
        h ^= b;
        h *= 0x100000001b3ULL;
    }
    return h;
}

}  // namespace

TEST_CASE("the collector stores good clients, survives every malformed stream, refuses strangers",
          "[e2e][capture][collector]") {
    const std::string dir = makeTempDir();
    router::RingConfig cfg;
    cfg.instance = uniqueInstance("coll");
    cfg.source = "remote";
    cfg.dataCapacity = 4 << 20;
    cfg.maxBatchBytes = 64 << 10;
    cfg.mode = router::RingMode::Live;
    router::RingJanitor janitor(cfg);
    janitor.addConsumer("test");
    const std::vector<std::string> names = {"good", "be", "ng", "v6", "bad"};
    std::map<std::string, std::vector<std::string>> got;
    std::string log;
    {
        RingConsumer consumer(janitor.name(), "test");
        const std::string logFile = dir + "/capture.log";
        const pid_t pid = spawn(
            {binDir() + "/pushcap-capture", "--ring", janitor.name(), "--listen", "127.0.0.1:0",
             "--listen", "[::1]:0", "--client", "good=127.0.0.1", "--client", "be=127.0.0.2",
             "--client", "ng=127.0.0.3", "--client", "v6=::1", "--client", "bad=127.0.0.4/32"},
            logFile);
        std::smatch m4, m6;
        const std::regex v4(R"(listening on 127\.0\.0\.1:(\d+))"),
            v6(R"(listening on \[::1\]:(\d+))");
        for (int waited = 0; waited < 20'000; waited += 50) {
            log = readText(logFile);
            if (std::regex_search(log, m4, v4) && std::regex_search(log, m6, v6))
                break;
            int status;
            REQUIRE_FALSE(exited(pid, status));
            std::vector<Packet> none;
            consumer.poll(none, 50);
        }
        REQUIRE(m4.size() == 2);
        REQUIRE(m6.size() == 2);

        const std::string expectedFile = dir + "/expected.txt";
        REQUIRE(runCommand({"/usr/bin/python3",
                            std::string(std::getenv("PUSHCAP_SOURCE_DIR")) +
                                "/tests/capture/osmo_client.py",
                            "127.0.0.1", m4[1].str(), "::1", m6[1].str()},
                           expectedFile) == 0);
        std::map<std::string, std::vector<std::string>> want;
        std::size_t total = 0;
        {
            std::istringstream in(readText(expectedFile));
            for (std::string line; std::getline(in, line); ++total) {
                want[line.substr(0, line.find(' '))].push_back(line);
            }
        }
        REQUIRE(total == 800);

        std::vector<Packet> packets;
        for (int waited = 0; packets.size() < total && waited < 30'000; waited += 100)
            consumer.poll(packets, 100);
        ::kill(pid, SIGTERM);
        CHECK(waitExit(pid, 20'000) == 0);
        log = readText(logFile);
        INFO(log);
        REQUIRE(packets.size() == total);
        for (const Packet& p : packets) {
            REQUIRE(p.sourceId < names.size());
            const std::uint64_t ts = std::uint64_t(p.sec) * 1'000'000'000ULL + p.nsec;
            std::ostringstream line;
            line << names[p.sourceId] << ' ' << ts << ' ' << p.bytes.size() << ' ' << p.wireLen
                 << ' ' << fnv1a(p.bytes);
            got[names[p.sourceId]].push_back(line.str());
        }
        CHECK(got == want);
    }
    janitor.remove();
    // Every malformed stream closed its own connection, for its own reason.
    for (const char* reason : {"unknown_type", "data_before_link_header", "snaplen_too_large",
                               "length_mismatch", "bad_link_header", "bad_block"}) {
        INFO(reason);
        CHECK(log.find(std::string("client bad (127.0.0.4:")) != std::string::npos);
        CHECK(log.find(std::string(reason) + ":") != std::string::npos);
    }
    CHECK(log.find("127.0.0.9") != std::string::npos);
    CHECK(log.find("is not an allowed client") != std::string::npos);
    removeTree(dir);
}

namespace {

// Starts a collector with the given extra arguments and returns its pid and IPv4 port.
std::pair<pid_t, std::string> startCollector(const std::string& ring, const std::string& logFile,
                                             const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {binDir() + "/pushcap-capture", "--ring", ring, "--listen",
                                     "127.0.0.1:0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const pid_t pid = spawn(argv, logFile);
    const std::regex v4(R"(listening on 127\.0\.0\.1:(\d+))");
    for (int waited = 0; waited < 20'000; waited += 20) {
        std::smatch m;
        const std::string log = readText(logFile);
        if (std::regex_search(log, m, v4))
            return {pid, m[1].str()};
        int status;
        if (exited(pid, status))
            break;
        ::usleep(20'000);  // polling the log for the bound port
    }
    FAIL("the collector did not start: " << readText(logFile));
    return {pid, ""};
}

std::vector<std::string> expectedLines(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        lines.push_back(line);
    return lines;
}

}  // namespace

TEST_CASE(
    "TLS clients: verified certificates are stored; none, a stranger's or a revoked one are "
    "refused",
    "[e2e][capture][collector][tls]") {
    const std::string dir = makeTempDir();
    const std::string src = std::getenv("PUSHCAP_SOURCE_DIR");
    if (runCommand({"sh", "-c", "command -v certtool > /dev/null"}) != 0) {
        WARN("skipped: certtool (Debian gnutls-bin) is not installed");
        return;
    }
    REQUIRE(runCommand({src + "/tests/capture/make_test_pki.sh", dir}) == 0);
    const std::string client = src + "/tests/capture/osmo_tls_client.py";
    auto run = [&](const std::string& port, const std::string& source, const std::string& cert,
                   const std::string& name, bool plain = false) {
        const std::string out = dir + "/" + name + ".expected";
        std::vector<std::string> argv = {"/usr/bin/python3",
                                         client,
                                         "127.0.0.1",
                                         port,
                                         source,
                                         dir + "/ca.pem",
                                         cert == "-" ? "-" : dir + "/" + cert + ".pem",
                                         cert == "-" ? "-" : dir + "/" + cert + ".key",
                                         name,
                                         "50"};
        if (plain)
            argv.push_back("--plain");
        REQUIRE(runCommand(argv, out) == 0);
        return expectedLines(readText(out));
    };
    const std::vector<std::string> names = {"good", "nocert", "stranger", "revoked", "plain"};
    auto collect = [&](RingConsumer& consumer, std::size_t want) {
        std::vector<Packet> packets;
        for (int waited = 0; packets.size() < want && waited < 30'000; waited += 100)
            consumer.poll(packets, 100);
        // A short grace for anything that should not have come.
        consumer.poll(packets, 300);
        std::map<std::string, std::vector<std::string>> got;
        for (const Packet& p : packets) {
            std::ostringstream line;
            line << names.at(p.sourceId) << ' ' << std::uint64_t(p.sec) * 1'000'000'000ULL + p.nsec
                 << ' ' << p.bytes.size() << ' ' << p.wireLen << ' ' << fnv1a(p.bytes);
            got[names.at(p.sourceId)].push_back(line.str());
        }
        return got;
    };

    SECTION("x509: a client certificate from the CA is required") {
        router::RingConfig cfg;
        cfg.instance = uniqueInstance("tls");
        cfg.source = "remote";
        cfg.mode = router::RingMode::Live;
        router::RingJanitor janitor(cfg);
        janitor.addConsumer("test");
        std::string log;
        {
            RingConsumer consumer(janitor.name(), "test");
            const std::string logFile = dir + "/x509.log";
            auto [pid, port] = startCollector(
                janitor.name(), logFile,
                {"--client", "good=127.0.0.5:tls", "--client", "nocert=127.0.0.6:tls", "--client",
                 "stranger=127.0.0.7:tls", "--client", "revoked=127.0.0.8:tls", "--client",
                 "plain=127.0.0.10:tls", "--tls-cert", dir + "/server.pem", "--tls-key",
                 dir + "/server.key", "--tls-ca", dir + "/ca.pem", "--tls-crl", dir + "/crl.pem"});
            const auto good = run(port, "127.0.0.5", "client", "good");
            run(port, "127.0.0.6", "-", "nocert");
            run(port, "127.0.0.7", "stranger", "stranger");
            run(port, "127.0.0.8", "revoked", "revoked");
            run(port, "127.0.0.10", "client", "plain", /*plain=*/true);
            const auto got = collect(consumer, good.size());
            ::kill(pid, SIGTERM);
            CHECK(waitExit(pid, 20'000) == 0);
            log = readText(logFile);
            INFO(log);
            CHECK(got.size() == 1);
            CHECK(got.count("good") == 1);
            if (got.count("good"))
                CHECK(got.at("good") == good);
        }
        janitor.remove();
        std::size_t refused = 0;
        for (std::size_t at = log.find("tls_refused"); at != std::string::npos;
             at = log.find("tls_refused", at + 1))
            ++refused;
        CHECK(refused == 4);  // no certificate, a stranger's, a revoked one, and plain TCP
        CHECK(log.find("client good (127.0.0.5:") != std::string::npos);
        CHECK(log.find("TLS established") != std::string::npos);
    }

    SECTION("anonymous: osmo-pcap clients without a certificate are accepted") {
        router::RingConfig cfg;
        cfg.instance = uniqueInstance("anon");
        cfg.source = "remote";
        cfg.mode = router::RingMode::Live;
        router::RingJanitor janitor(cfg);
        janitor.addConsumer("test");
        {
            RingConsumer consumer(janitor.name(), "test");
            const std::string logFile = dir + "/anon.log";
            auto [pid, port] = startCollector(
                janitor.name(), logFile,
                {"--client", "good=127.0.0.5:tls", "--client", "nocert=127.0.0.6:tls", "--tls-cert",
                 dir + "/server.pem", "--tls-key", dir + "/server.key", "--tls-ca", dir + "/ca.pem",
                 "--tls-client-auth", "anonymous"});
            const auto nocert = run(port, "127.0.0.6", "-", "nocert");
            const auto got = collect(consumer, nocert.size());
            ::kill(pid, SIGTERM);
            CHECK(waitExit(pid, 20'000) == 0);
            INFO(readText(logFile));
            REQUIRE(got.count("nocert") == 1);
            CHECK(got.at("nocert") == nocert);
        }
        janitor.remove();
    }
    removeTree(dir);
}
