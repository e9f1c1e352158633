// pushcapd --osmo-config end to end: an osmo-pcap-server configuration file runs as pushcap's
// collector with osmo-pcap-server's per-client trace files; independent Python clients stream
// into it; the files hold exactly what was sent (compared through tcpdump).
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <regex>

#include "../workers/worker_test_support.hpp"
#include "tools/loopback_port.hpp"

using namespace pushcap::workers::test;
using namespace std::chrono_literals;
using pushcap::tools::freeLoopbackPort;

namespace {

std::string sourceDir() {
    return std::getenv("PUSHCAP_SOURCE_DIR");
}

// An osmo-pcap-server 0.8.0 file as its VTY saves it, pointed at `base` and `port`.
std::string osmoConfig(const std::string& base, int port) {
    return "!\n! OsmoPCAPServer (0.8.0) configuration saved from vty\n!\n"
           "log stderr\n logging filter all 1\n logging color 1\n logging level all notice\n!\n"
           "line vty\n no login\n bind 127.0.0.1\n!\n"
           "server\n"
           " base-path " +
           base +
           "\n"
           " file-permission-mask 0440\n"
           " file-write-queue-max-length 1024\n"
           " server ip 127.0.0.1\n"
           " server port " +
           std::to_string(port) +
           "\n"
           " no rotate-localtime\n"
           " no max-file-size\n"
           " max-snaplen 9000\n"
           " client alpha 127.0.0.1 store\n"
           " client beta 127.0.0.2 store\n"
           " client gamma 127.0.0.3 no-store\n";
}

std::pair<int, std::string> run(const std::string& command, const std::string& dir) {
    const std::string out = dir + "/" + uniqueName("out");
    const int code = runShell(command + " > " + quote(out) + " 2>&1");
    return {code, readFile(out)};
}

// Complete trace files of `name` in `dir` (nothing .pending).
std::vector<std::string> traceFiles(const std::string& dir, const std::string& name,
                                    const std::string& suffix) {
    std::vector<std::string> out;
    const std::regex form("trace-" + name + R"(-\d{8}_\d{6})" + suffix);
    for (const std::string& f : listFiles(dir)) {
        if (std::regex_match(f, form))
            out.push_back(f);
    }
    return out;
}

void send(const std::string& dir, int port, const std::string& source, const std::string& mode,
          int count, const std::string& expected) {
    const std::string cmd = "/usr/bin/python3 " +
                            quote(sourceDir() + "/tests/supervisor/osmo_sender.py") +
                            " 127.0.0.1 " + std::to_string(port) + " " + source + " " + mode + " " +
                            std::to_string(count) + " 1700000000 " + quote(expected);
    const auto [code, out] = run(cmd, dir);
    INFO(out);
    REQUIRE(code == 0);
}

}  // namespace

TEST_CASE("pushcapd --osmo-config --check shows the collector and the clients' outputs",
          "[e2e][supervisor][collector]") {
    TempDir dir;
    const std::string cfg = dir.path + "/osmo-pcap-server.cfg";
    std::ofstream(cfg) << osmoConfig(dir.path + "/trace", 54321);
    const std::string pushcapd = quote(binDir() + "/pushcapd");
    auto [code, out] = run(pushcapd + " --osmo-config " + quote(cfg) + " --check --log-dir " +
                               quote(dir.path + "/log"),
                           dir.path);
    INFO(out);
    CHECK(code == 0);
    CHECK_THAT(out, Catch::Contains("collector: listening on 127.0.0.1:54321"));
    CHECK_THAT(out, Catch::Contains("--client alpha=127.0.0.1 --client beta=127.0.0.2 --client "
                                    "gamma=127.0.0.3:no-store --max-snaplen 9000"));
    CHECK_THAT(out, Catch::Contains("client \"alpha\" output: "));
    CHECK_THAT(out, Catch::Contains("--name beta --path " + dir.path +
                                    "/trace/ --filename-osmo --format auto --file-per-connection"));
    CHECK_THAT(out, Catch::Contains("--sources 1"));
    CHECK_THAT(out, Catch::Contains("--file-mode 0440"));
    CHECK(out.find("client \"gamma\" output") == std::string::npos);
    CHECK_THAT(out, Catch::Contains("note: " + cfg + ":9: `line vty` block ignored"));
    CHECK_THAT(out, Catch::Contains("OK: 2 target(s) would run"));

    // A mistake names the file and line; nothing runs.
    std::string text = osmoConfig(dir.path + "/trace", 54321);
    text = std::regex_replace(text, std::regex(" no max-file-size\n"), " max-file-sise 10\n");
    const std::string broken = dir.path + "/broken.cfg";
    std::ofstream(broken) << text;
    std::tie(code, out) = run(pushcapd + " --osmo-config " + quote(broken) + " --check", dir.path);
    CHECK(code == 78);
    CHECK_THAT(out, Catch::Contains(broken + ":20: unknown server command \"max-file-sise\" (did "
                                             "you mean \"max-file-size\"?)"));
    std::tie(code, out) = run(pushcapd + " --osmo-config " + quote(broken), dir.path);
    CHECK(code == 78);
    CHECK_THAT(out, Catch::Contains(broken + ":20:"));

    // Options that make no sense with it are refused.
    std::tie(code, out) =
        run(pushcapd + " --osmo-config " + quote(cfg) + " --offline /dev/null", dir.path);
    CHECK(code == 2);
    CHECK_THAT(out, Catch::Contains("--osmo-config runs a collector (live)"));
}

TEST_CASE(
    "pushcapd --osmo-config stores each client's stream in trace-<name>-<time> files, exactly",
    "[e2e][multiproc][supervisor][collector]") {
    TempDir dir;
    const std::string base = dir.path + "/trace";
    const int port = freeLoopbackPort();
    const int statusPort = freeLoopbackPort();
    const std::string cfg = dir.path + "/osmo-pcap-server.cfg";
    std::ofstream(cfg) << osmoConfig(base, port);
    const std::string status = "tcp://127.0.0.1:" + std::to_string(statusPort);
    Child d({binDir() + "/pushcapd", "--osmo-config", cfg, "--instance", uniqueName("osmo"),
             "--status", status, "--log-dir", dir.path + "/log"},
            dir.path + "/pushcapd.log");
    const std::string log = dir.path + "/pushcapd.log";
    REQUIRE(waitFor(
        [&] {
            const std::string text = readFile(log);
            return (text.find("collector: listening on 127.0.0.1:" + std::to_string(port)) !=
                        std::string::npos &&
                    text.find("alpha: ready") != std::string::npos &&
                    text.find("beta: ready") != std::string::npos) ||
                   !d.running();
        },
        30s));
    INFO(readFile(log));
    REQUIRE(d.running());

    // alpha streams pcap (little-endian), beta pcapng (big-endian), gamma is not stored.
    send(dir.path, port, "127.0.0.1", "pcap", 3000, dir.path + "/alpha.expected");
    send(dir.path, port, "127.0.0.2", "pcapng", 2000, dir.path + "/beta.expected");
    send(dir.path, port, "127.0.0.3", "pcap", 100, dir.path + "/gamma.expected");

    // Each connection's end completes its file.
    CHECK(waitFor(
        [&] {
            return traceFiles(base, "alpha", R"(\.pcap)").size() == 1 &&
                   traceFiles(base, "beta", R"(\.pcapng)").size() == 1;
        },
        60s));

    // The status stream names the outputs after their clients.
    const std::string json = dir.path + "/status.json";
    CHECK(runShell(quote(binDir() + "/pushcap-status") + " --endpoint " + quote(status) +
                   " --once --json --timeout 10 > " + quote(json) + " 2>&1") == 0);
    CHECK_THAT(readFile(json), Catch::Contains("\"desc\":\"alpha\""));
    CHECK_THAT(readFile(json), Catch::Contains("\"desc\":\"beta\""));
    // The collector's own counters, per client: gamma's packets too (no-store feeds the ring).
    const std::regex clientsDone(
        R"("name":"alpha".*"packets":"3000".*"name":"beta".*"packets":"2000".*"name":"gamma".*"packets":"100")");
    CHECK(waitFor(
        [&] {
            runShell(quote(binDir() + "/pushcap-status") + " --endpoint " + quote(status) +
                     " --once --json --timeout 10 > " + quote(json) + " 2>&1");
            return std::regex_search(readFile(json), clientsDone);
        },
        30s));
    INFO(readFile(json));
    CHECK_THAT(readFile(json), Catch::Contains("\"connections\":\"1\""));

    d.kill(SIGTERM);
    const auto code = d.exitCode(60s);
    INFO(readFile(log));
    REQUIRE(code == 0);

    const std::vector<std::string> files = listFiles(base);
    INFO("files: " << files.size());
    for (const std::string& f : files)
        CHECK(f.find(".pending") == std::string::npos);
    CHECK(traceFiles(base, "gamma", ".*").empty());
    const std::vector<std::string> alpha = traceFiles(base, "alpha", R"(\.pcap)");
    const std::vector<std::string> beta = traceFiles(base, "beta", R"(\.pcapng)");
    REQUIRE(alpha.size() == 1);
    REQUIRE(beta.size() == 1);
    CHECK(files.size() == 2);
    for (const auto& [file, expected] :
         {std::pair{base + "/" + alpha[0], dir.path + "/alpha.expected"},
          std::pair{base + "/" + beta[0], dir.path + "/beta.expected"}}) {
        INFO(file);
        const PcapFile want = readPcap(expected);
        const PcapFile got = oracle(file, "", dir.path);
        CHECK(want.packets > 0);
        CHECK(got.packets == want.packets);
        CHECK(got.records == want.records);
        struct stat st {};
        REQUIRE(::stat(file.c_str(), &st) == 0);
        CHECK((st.st_mode & 07777) == 0440);  // file-permission-mask
    }
}

TEST_CASE("SIGHUP reads the osmo-pcap-server file again: outputs follow, a bad file is rejected",
          "[e2e][multiproc][supervisor][collector]") {
    TempDir dir;
    const int port = freeLoopbackPort();
    const std::string cfg = dir.path + "/osmo-pcap-server.cfg";
    const std::string text = osmoConfig(dir.path + "/trace", port);
    std::ofstream(cfg) << text;
    Child d({binDir() + "/pushcapd", "--osmo-config", cfg, "--instance", uniqueName("osmo"),
             "--status", "ipc://" + dir.path + "/status.sock", "--log-dir", dir.path + "/log"},
            dir.path + "/pushcapd.log");
    const std::string log = dir.path + "/pushcapd.log";
    auto logged = [&](const std::string& what) {
        const bool ok =
            waitFor([&] { return readFile(log).find(what) != std::string::npos || !d.running(); },
                    30s) &&
            d.running();
        if (!ok)
            UNSCOPED_INFO(readFile(log));
        return ok;
    };
    REQUIRE(logged("beta: ready"));
    REQUIRE(logged("alpha: ready"));

    // The same file again: osmo-pcap-server's SIGHUP, a new file for every client output
    // (the workers' side is tested in collector_files_test).
    d.kill(SIGHUP);
    CHECK(logged("reloaded " + cfg + ": 0 started, 0 restarted, 0 stopped, 2 starting new files"));

    // An output setting changes: both outputs restart with it.
    std::ofstream(cfg) << std::regex_replace(text, std::regex(" no max-file-size\n"),
                                             " max-file-size 1000000\n");
    d.kill(SIGHUP);
    CHECK(logged("reloaded " + cfg + ": 0 started, 2 restarted, 0 stopped, 0 starting new files"));

    // A new client needs a new capture: logged, applied at the next start.
    std::ofstream(cfg) << text + " client delta 127.0.0.4\n";
    d.kill(SIGHUP);
    CHECK(
        logged("collector changes (listen addresses, clients, TLS, max-snaplen) take effect at "
               "the next start"));

    std::ofstream(cfg) << text + " zeromq-publisher * 6666\n";
    d.kill(SIGHUP);
    CHECK(logged("reload rejected, the running configuration stays"));
    CHECK(logged(cfg + ":25: zeromq-publisher: pushcap has no osmo-pcap ZeroMQ publisher"));

    d.kill(SIGTERM);
    CHECK(d.exitCode(60s) == 0);
}

TEST_CASE(
    "pushcapd --osmo-config with `tls allow-auth x509`: only clients with a verifying, unrevoked "
    "certificate are stored",
    "[e2e][multiproc][supervisor][collector][tls]") {
    if (runShell("command -v certtool > /dev/null") != 0) {
        WARN("skipped: certtool (gnutls-bin) is not installed");
        return;
    }
    TempDir dir;
    const std::string pki = dir.path + "/pki";
    REQUIRE(runShell("mkdir -p " + quote(pki) + " && " +
                     quote(sourceDir() + "/tests/capture/make_test_pki.sh") + " " + quote(pki)) ==
            0);
    const std::string base = dir.path + "/trace";
    const int port = freeLoopbackPort();
    const std::string cfg = dir.path + "/osmo-pcap-server-tls.cfg";
    std::ofstream(cfg) << "server\n base-path " << base << "\n server ip 127.0.0.1\n server port "
                       << port << "\n enable tls\n tls allow-auth x509\n tls capath " << pki
                       << "/ca.pem\n tls crlfile " << pki << "/crl.pem\n tls server-cert " << pki
                       << "/server.pem\n tls server-key " << pki
                       << "/server.key\n tls dh generate\n"
                       << " client good 127.0.0.1 store tls\n"
                       << " client nocert 127.0.0.2 store tls\n"
                       << " client revoked 127.0.0.3 store tls\n"
                       << " client plain 127.0.0.4 store tls\n";
    Child d({binDir() + "/pushcapd", "--osmo-config", cfg, "--instance", uniqueName("osmotls"),
             "--status", "ipc://" + dir.path + "/status.sock", "--log-dir", dir.path + "/log"},
            dir.path + "/pushcapd.log");
    const std::string log = dir.path + "/pushcapd.log";
    REQUIRE(waitFor(
        [&] {
            const std::string text = readFile(log);
            return (text.find("collector: listening on") != std::string::npos &&
                    text.find("plain: ready") != std::string::npos) ||
                   !d.running();
        },
        30s));
    INFO(readFile(log));
    REQUIRE(d.running());

    const std::string client = "/usr/bin/python3 " +
                               quote(sourceDir() + "/tests/capture/osmo_tls_client.py") +
                               " 127.0.0.1 " + std::to_string(port) + " ";
    auto sendAs = [&](const std::string& source, const std::string& cert, const std::string& name,
                      const std::string& extra) {
        const std::string certs =
            cert == "-" ? "- -"
                        : quote(pki + "/" + cert + ".pem") + " " + quote(pki + "/" + cert + ".key");
        return runShell(client + source + " " + quote(pki + "/ca.pem") + " " + certs + " " + name +
                        " 500 " + extra + " > /dev/null 2>&1");
    };
    CHECK(sendAs("127.0.0.1", "client", "good", "") == 0);
    CHECK(sendAs("127.0.0.2", "-", "nocert", "") == 0);
    CHECK(sendAs("127.0.0.3", "revoked", "revoked", "") == 0);
    CHECK(sendAs("127.0.0.4", "-", "plain", "--plain") == 0);
    CHECK(waitFor([&] { return traceFiles(base, "good", R"(\.pcap)").size() == 1; }, 60s));

    d.kill(SIGTERM);
    const auto code = d.exitCode(60s);
    INFO(readFile(log));
    REQUIRE(code == 0);
    const std::vector<std::string> good = traceFiles(base, "good", R"(\.pcap)");
    REQUIRE(good.size() == 1);
    CHECK(readPcap(base + "/" + good[0]).packets == 500);
    for (const char* refused : {"nocert", "revoked", "plain"}) {
        INFO(refused);
        CHECK(traceFiles(base, refused, ".*").empty());
    }
    CHECK(listFiles(base).size() == 1);
}
