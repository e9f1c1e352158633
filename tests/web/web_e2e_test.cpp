// pushcap-web end to end: real pushcapd runs, a real Prometheus scraping /metrics, a headless
// Chromium rendering the dashboard (driven through chromedriver's WebDriver HTTP API).
#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <sstream>

#include "web_test_support.hpp"

using namespace pushcap::workers::test;
using namespace pushcap::web::test;
using namespace std::chrono_literals;

namespace {

std::string target(const std::string& dir, const std::string& name, const std::string& filter,
                   const std::string& extra = "") {
    return "table.insert(Config.Target, { Desc = '" + name + "', Mode = 'File', Path = '" + dir +
           "/" + name + "/" + name + "', FilterBPF = '" + filter + "'" + extra + " })\n";
}

std::string writeConfig(const std::string& dir, const std::string& targets) {
    const std::string path = dir + "/push.lua";
    std::ofstream(path) << "local Config = {}\nConfig.Target = {}\nConfig.StatusInterval = 0.25\n"
                        << targets << "return Config\n";
    return path;
}

struct FilesOnDisk {
    std::uint64_t packets = 0;
    std::uint64_t files = 0;
};
FilesOnDisk filesIn(const std::string& dir) {
    FilesOnDisk f;
    for (const std::string& name : listFiles(dir)) {
        if (name.size() < 5 || name.compare(name.size() - 5, 5, ".pcap") != 0)
            continue;
        const PcapFile p = readPcap(dir + "/" + name);
        f.packets += p.packets;
        ++f.files;
    }
    return f;
}

// Prometheus' instant query: the one sample's value, or nullopt.
std::optional<double> promValue(int port, const std::string& query) {
    const HttpResult r = httpGet(port, "/api/v1/query?query=" + urlEncode(query));
    const auto json = parseJson(r.body);
    if (r.status != 200 || !json)
        return std::nullopt;
    const auto* v = at(*json, {"data", "result", "0", "value", "1"});
    if (v == nullptr || !v->has_string_value())
        return std::nullopt;
    return std::stod(v->string_value());
}

// Every value Prometheus stored for `selector` over the last `range`.
std::vector<double> promRange(int port, const std::string& selector, const std::string& range) {
    std::vector<double> out;
    const HttpResult r =
        httpGet(port, "/api/v1/query?query=" + urlEncode(selector + "[" + range + "]"));
    const auto json = parseJson(r.body);
    if (r.status != 200 || !json)
        return out;
    const auto* values = at(*json, {"data", "result", "0", "values"});
    if (values == nullptr || !values->has_list_value())
        return out;
    for (const auto& pair : values->list_value().values()) {
        if (pair.list_value().values_size() == 2)
            out.push_back(std::stod(pair.list_value().values(1).string_value()));
    }
    return out;
}

int lint(const std::string& promtool, const std::string& dir, const std::string& body) {
    std::ofstream(dir + "/metrics.txt") << body;
    return runShell(quote(promtool) + " check metrics < " + quote(dir + "/metrics.txt") + " > " +
                    quote(dir + "/lint.txt") + " 2>&1");
}

}  // namespace

TEST_CASE(
    "a real Prometheus scrapes pushcap-web during an offline push; its counters equal the files",
    "[e2e][multiproc][web]") {
    const std::string prometheus = findProgram("prometheus"), promtool = findProgram("promtool");
    if (prometheus.empty() || promtool.empty()) {
        WARN("skipped: prometheus/promtool not installed (Debian package prometheus)");
        return;
    }
    TempDir dir;
    // Paced at 4x the recorded speed: about 8 s of rising counters, whatever the machine.
    const std::string input = makeInput(dir.path, "--count 40000 --duration 32 --seed 21");
    const std::string bin = wrapperBinDir(dir.path, "--realtime=4", "");
    const std::string config =
        writeConfig(dir.path, target(dir.path, "all", "", ", Split = '--split-time 5e9'") +
                                  target(dir.path, "tcp", "net 192.168.1.0/24 and tcp"));
    WebProcess web(dir.path, "ipc://" + dir.path + "/status.sock");

    const int promPort = freeLoopbackPort();
    std::ofstream(dir.path + "/prometheus.yml")
        << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        << "scrape_configs:\n  - job_name: pushcap\n"
        // pushcap's own `instance` label names the pushcapd; keep it over Prometheus' default.
        << "    honor_labels: true\n"
        << "    static_configs:\n      - targets: ['127.0.0.1:" << web.port() << "']\n";
    Child prom({prometheus, "--config.file=" + dir.path + "/prometheus.yml",
                "--storage.tsdb.path=" + dir.path + "/tsdb",
                "--web.listen-address=127.0.0.1:" + std::to_string(promPort), "--log.level=warn"},
               dir.path + "/prometheus.log");
    INFO(readFile(dir.path + "/prometheus.log"));
    REQUIRE(waitFor([&] { return httpGet(promPort, "/-/ready").status == 200 || !prom.running(); },
                    60s));
    REQUIRE(prom.running());

    const std::string instance = uniqueName("webprom");
    Child d(pushcapdCommand(config, dir.path, {"--offline", input}, instance, bin + "/pushcapd"),
            dir.path + "/pushcapd.log");
    const std::string sel =
        "pushcap_target_packets_written_total{instance=\"" + instance + "\",target=\"all\"}";
    // Prometheus sees the counter rising while the push still runs.
    std::optional<double> during;
    REQUIRE(waitFor(
        [&] {
            during = promValue(promPort, sel);
            return (during && *during > 0) || !d.running();
        },
        60s));
    CHECK(d.running());
    {
        // The exposition lints clean with targets present.
        const HttpResult m = httpGet(web.port(), "/metrics");
        REQUIRE(m.status == 200);
        CHECK_THAT(m.body, Catch::Contains("target=\"tcp\""));
        const int rc = lint(promtool, dir.path, m.body);
        INFO(readFile(dir.path + "/lint.txt"));
        CHECK(rc == 0);
    }

    const auto code = d.exitCode(120s);
    INFO(readFile(dir.path + "/pushcapd.log"));
    REQUIRE(code == 0);
    const FilesOnDisk all = filesIn(dir.path + "/all"), tcp = filesIn(dir.path + "/tcp");
    REQUIRE(all.packets == 40000);
    REQUIRE(all.files >= 5);
    REQUIRE(tcp.packets > 0);
    CHECK(during.value_or(0) < double(all.packets));

    // The final snapshot reaches Prometheus: its counters equal what the files hold.
    CHECK(waitFor([&] { return promValue(promPort, sel) == double(all.packets); }, 30s));
    CHECK(waitFor(
        [&] {
            return promValue(promPort, "pushcap_target_packets_written_total{instance=\"" +
                                           instance + "\",target=\"tcp\"}") == double(tcp.packets);
        },
        30s));
    CHECK(waitFor(
        [&] {
            return promValue(promPort, "pushcap_target_files_completed_total{instance=\"" +
                                           instance + "\",target=\"all\"}") == double(all.files);
        },
        30s));
    CHECK(promValue(promPort, "pushcap_target_state{instance=\"" + instance +
                                  "\",target=\"all\",state=\"STOPPED\"}") == 1.0);
    CHECK(promValue(promPort, "pushcap_capture_packets_total{instance=\"" + instance + "\"}") ==
          40000.0);
    CHECK(promValue(promPort, "pushcap_build_info{instance=\"" + instance + "\"}") == 1.0);

    // Several scrapes saw the counter grow: never back, at least three distinct values.
    const std::vector<double> series = promRange(promPort, sel, "5m");
    INFO("samples: " << series.size());
    CHECK(std::is_sorted(series.begin(), series.end()));
    std::vector<double> distinct = series;
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
    CHECK(distinct.size() >= 3);
    REQUIRE(!series.empty());
    CHECK(series.back() == double(all.packets));
}

TEST_CASE("pushcap-web survives pushcapd restarting and says since when it has no data",
          "[e2e][multiproc][web]") {
    TempDir dir;
    const std::string endpoint = "ipc://" + dir.path + "/status.sock";
    // pushcap-web first: nothing publishes yet.
    WebProcess web(dir.path, endpoint);
    auto status = [&] { return parseJson(httpGet(web.port(), "/api/status").body); };
    {
        const auto s = status();
        REQUIRE(s);
        CHECK(at(*s, {"stale"})->bool_value());
        CHECK(at(*s, {"snapshot"})->has_null_value());
        CHECK_THAT(httpGet(web.port(), "/metrics").body, Catch::Contains("pushcap_status_up 0\n"));
    }
    // Paced to last about 2 s: a push over before the subscription is up would publish nothing
    // that a late subscriber can see.
    const std::string input = makeInput(dir.path, "--count 5000 --duration 10 --seed 4");
    const std::string config = writeConfig(dir.path, target(dir.path, "all", ""));
    const std::string bin = wrapperBinDir(dir.path, "--realtime=5", "");
    for (int run = 0; run < 2; ++run) {
        const std::string instance = uniqueName("webrestart");
        Child d(
            pushcapdCommand(config, dir.path, {"--offline", input}, instance, bin + "/pushcapd"),
            dir.path + "/pushcapd.log");
        REQUIRE(d.exitCode(60s) == 0);
        // The last snapshot of this run arrives, then the stream goes quiet and turns stale.
        INFO("run " << run);
        CHECK(waitFor(
            [&] {
                const auto s = status();
                const auto* inst = s ? at(*s, {"snapshot", "instance"}) : nullptr;
                return inst != nullptr && inst->string_value() == instance;
            },
            30s));
        CHECK(waitFor(
            [&] {
                const auto s = status();
                return s && at(*s, {"stale"})->bool_value();
            },
            30s));
        CHECK_THAT(httpGet(web.port(), "/metrics").body,
                   Catch::Contains("pushcap_status_up{instance=\"" + instance + "\"} 0\n"));
    }
    CHECK_THAT(httpGet(web.port(), "/metrics").body,
               Catch::Contains("pushcap_status_publisher_restarts_total 1\n"));
    CHECK(web.child().running());
}

TEST_CASE(
    "pushcap-web started before a short unpaced push recovers every message: every file, none "
    "missed",
    "[e2e][multiproc][web][status]") {
    TempDir dir;
    const std::string endpoint = "ipc://" + dir.path + "/status.sock";
    WebProcess web(dir.path, endpoint);
    // Unpaced and short: over before a plain subscriber's reconnect would have joined; what it
    // published before pushcap-web's subscription arrived comes from the replay.
    const std::string input = makeInput(dir.path, "--count 3000 --duration 130 --seed 6");
    const std::string config =
        writeConfig(dir.path, target(dir.path, "all", "", ", Split = '--split-time 60e9'"));
    Child d(pushcapdCommand(config, dir.path, {"--offline", input}, uniqueName("webjoin")),
            dir.path + "/pushcapd.log");
    REQUIRE(d.exitCode(60s) == 0);
    const std::string log = readFile(dir.path + "/pushcapd.log");
    INFO(log);
    // pushcap-web said it holds everything, so pushcapd did not wait out its bound.
    CHECK(log.find("not caught up") == std::string::npos);
    const FilesOnDisk disk = filesIn(dir.path + "/all");
    REQUIRE(disk.files == 3);
    std::string body;
    CHECK(waitFor(
        [&] {
            body = httpGet(web.port(), "/api/status").body;
            const auto s = parseJson(body);
            const auto* files = s ? at(*s, {"recent_files"}) : nullptr;
            return files != nullptr && files->list_value().values_size() == 3;
        },
        30s));
    INFO(body);
    const std::string metrics = httpGet(web.port(), "/metrics").body;
    INFO(metrics);
    CHECK_THAT(metrics, Catch::Contains("pushcap_status_messages_missed_total 0\n"));
    const auto s = parseJson(body);
    REQUIRE(s);
    const auto* final = at(*s, {"snapshot", "final"});
    REQUIRE(final != nullptr);
    CHECK(final->bool_value());
}

TEST_CASE("pushcap-web: --help, and clear errors for a port in use and a bad endpoint",
          "[e2e][web]") {
    TempDir dir;
    const std::string web = quote(binDir() + "/pushcap-web");
    const std::string out = dir.path + "/out.txt";
    CHECK(runShell(web + " --help > " + quote(out) + " 2>&1") == 0);
    CHECK_THAT(readFile(out), Catch::Contains("--endpoint ENDPOINT"));
    CHECK_THAT(readFile(out), Catch::Contains("/metrics"));

    WebProcess first(dir.path, "ipc://" + dir.path + "/none.sock");
    CHECK(runShell(web + " --listen 127.0.0.1:" + std::to_string(first.port()) + " > " +
                   quote(out) + " 2>&1") == 1);
    CHECK_THAT(readFile(out), Catch::Contains("already in use"));

    CHECK(runShell(web + " --endpoint bogus://x --listen 127.0.0.1:0 > " + quote(out) + " 2>&1") ==
          2);
    CHECK_THAT(readFile(out), Catch::Contains("cannot subscribe to 'bogus://x'"));
    CHECK(runShell(web + " --listen nowhere > " + quote(out) + " 2>&1") == 2);
    CHECK_THAT(readFile(out), Catch::Contains("expected HOST:PORT"));
}

namespace {

// Just enough WebDriver (https://www.w3.org/TR/webdriver2/) for one page.
class Browser {
  public:
    Browser(const std::string& driver, const std::string& dir) : m_port(freeLoopbackPort()) {
        m_driver = std::make_unique<Child>(
            std::vector<std::string>{driver, "--port=" + std::to_string(m_port)},
            dir + "/chromedriver.log");
        if (!waitFor([&] { return httpGet(m_port, "/status").status == 200; }, 30s))
            throw std::runtime_error("chromedriver did not start");
        const std::string args =
            R"("--headless","--no-sandbox","--disable-gpu","--disable-quic","--no-first-run",)"
            R"("--disable-background-networking","--disable-component-update","--disable-sync",)"
            R"("--no-proxy-server","--window-size=1440,900","--user-data-dir=)" +
            dir + R"(/chromium-profile")";
        const HttpResult r = httpPost(
            m_port, "/session",
            R"({"capabilities":{"alwaysMatch":{"goog:chromeOptions":{"binary":"/usr/bin/chromium","args":[)" +
                args + "]}}}}");
        const auto json = parseJson(r.body);
        const auto* id = json ? at(*json, {"value", "sessionId"}) : nullptr;
        if (id == nullptr)
            throw std::runtime_error("chromedriver: no session: " + r.body);
        m_session = "/session/" + id->string_value();
    }
    ~Browser() {
        if (!m_session.empty())
            httpDelete(m_port, m_session);
    }

    void open(const std::string& url) {
        httpPost(m_port, m_session + "/url", R"({"url":")" + url + R"("})");
    }
    // Runs `script` (which returns a string) in the page.
    std::string run(const std::string& script) {
        std::string escaped;
        for (char c : script) {
            if (c == '"' || c == '\\')
                escaped += '\\';
            escaped += c == '\n' ? ' ' : c;
        }
        const HttpResult r = httpPost(m_port, m_session + "/execute/sync",
                                      R"({"script":")" + escaped + R"(","args":[]})");
        const auto json = parseJson(r.body);
        const auto* v = json ? at(*json, {"value"}) : nullptr;
        return v != nullptr && v->has_string_value() ? v->string_value() : "";
    }
    bool screenshot(const std::string& path) {
        const HttpResult r = httpGet(m_port, m_session + "/screenshot");
        const auto json = parseJson(r.body);
        const auto* v = json ? at(*json, {"value"}) : nullptr;
        if (v == nullptr || !v->has_string_value())
            return false;
        std::ofstream(path + ".b64") << v->string_value();
        const bool ok = runShell("base64 -d " + quote(path + ".b64") + " > " + quote(path)) == 0;
        std::remove((path + ".b64").c_str());
        return ok;
    }

  private:
    int m_port;
    std::unique_ptr<Child> m_driver;
    std::string m_session;
};

// One line per target row as the page shows it: "name|STATE|written|classes".
const char* const ROWS_SCRIPT = R"(
  return [...document.querySelectorAll('#targets tr.target')].map(r =>
    r.dataset.target + '|' + r.querySelector('[data-field=state]').dataset.value + '|' +
    r.querySelector('[data-field=packets_written]').dataset.value + '|' + r.className).join('\n');
)";

struct Row {
    std::string state;
    std::uint64_t written = 0;
    std::string classes;
};
std::map<std::string, Row> rows(Browser& b) {
    std::map<std::string, Row> out;
    std::stringstream text(b.run(ROWS_SCRIPT));
    std::string line;
    while (std::getline(text, line)) {
        std::stringstream fields(line);
        std::string name, state, written, classes;
        std::getline(fields, name, '|');
        std::getline(fields, state, '|');
        std::getline(fields, written, '|');
        std::getline(fields, classes, '|');
        out[name] = Row{state, std::strtoull(written.c_str(), nullptr, 10), classes};
    }
    return out;
}

}  // namespace

TEST_CASE("headless Chromium renders the live dashboard: target rows, rising counters, FAILED",
          "[e2e][multiproc][web][root]") {
    if (::geteuid() != 0) {
        WARN("skipped: live capture on lo needs root");
        return;
    }
    const std::string driver = findProgram("chromedriver");
    if (driver.empty() || ::access("/usr/bin/chromium", X_OK) != 0) {
        WARN("skipped: chromium/chromedriver not installed (Debian chromium, chromium-driver)");
        return;
    }
    TempDir dir;
    const std::string endpoint = "ipc://" + dir.path + "/status.sock";
    // A worker that crashes on every start goes FAILED: the page must make it stand out.
    const std::string bin = wrapperBinDir(dir.path, "", "broken");
    const std::string config = writeConfig(
        dir.path, target(dir.path, "all", "net 192.168.1.0/24", ", Split = '--split-byte 500000'") +
                      target(dir.path, "tcp", "net 192.168.1.0/24 and tcp",
                             ", Split = '--split-byte 500000'") +
                      target(dir.path, "broken", "udp"));
    WebProcess web(dir.path, endpoint);
    Child d(pushcapdCommand(config, dir.path, {"-i", "lo"}, uniqueName("webui"), bin + "/pushcapd"),
            dir.path + "/pushcapd.log");
    Child gen({binDir() + "/pushcap-gen", "--inject", "lo", "--pps", "3000", "--count", "100000000",
               "--seed", "17", "--quiet"},
              dir.path + "/gen.log");
    INFO(readFile(dir.path + "/pushcapd.log"));

    Browser browser(driver, dir.path);
    browser.open("http://127.0.0.1:" + std::to_string(web.port()) + "/");
    std::map<std::string, Row> seen;
    REQUIRE(waitFor(
        [&] {
            seen = rows(browser);
            UNSCOPED_INFO("rows: " << browser.run(ROWS_SCRIPT));
            return seen.count("all") && seen["all"].written > 0 && seen.count("tcp") &&
                   seen["tcp"].state == "RUNNING" && seen.count("broken") &&
                   seen["broken"].state == "FAILED";
        },
        60s));
    CHECK_THAT(seen["broken"].classes, Catch::Contains("failed"));
    CHECK_THAT(seen["all"].classes, !Catch::Contains("failed"));
    const std::uint64_t first = seen["all"].written;
    CHECK(waitFor([&] { return rows(browser)["all"].written > first; }, 30s));
    CHECK(browser.run("return document.querySelector('#link').dataset.link;") == "live");
    CHECK(browser.run("return document.querySelector('[data-source=capture] "
                      "[data-field=packets]').dataset.value;") != "");
    // A full picture for the screenshot: completed files listed, sparklines with some history.
    CHECK(waitFor(
        [&] {
            return std::atoi(browser
                                 .run("return String(document.querySelectorAll('#files "
                                      "tbody tr').length);")
                                 .c_str()) >= 3;
        },
        30s));
    const std::uint64_t before = rows(browser)["all"].written;
    waitFor([&] { return rows(browser)["all"].written > before + 20000; }, 20s);
    const std::string shot = artifactDir() + "/dashboard.png";
    CHECK(browser.screenshot(shot));
    CHECK(readFile(shot).rfind("\x89PNG", 0) == 0);

    // pushcapd goes away: the page says since when it has no data.
    // (It exits 1: the FAILED target is a failure of the run.)
    d.kill(SIGTERM);
    REQUIRE(d.exitCode(60s).has_value());
    CHECK(waitFor(
        [&] {
            return browser.run("return document.querySelector('#link').dataset.link;") == "stale";
        },
        30s));
    CHECK_THAT(browser.run("return document.querySelector('#link').textContent;"),
               Catch::Contains("no data since"));
    browser.screenshot(artifactDir() + "/dashboard-stale.png");
}
